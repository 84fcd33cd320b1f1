"""The disk cache of compiled kernels: hits, misses, corrupt and foreign entries
rebuilt, atomic concurrent writes, and the trust model: object code is only
read from a directory and an entry nobody else can write."""
import multiprocessing as mp
import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import arignote.tensor as T
from arignote.compiler import cache, jit
from arignote.compiler.launch import Launcher
from arignote.compiler.llvm import render
from arignote.compiler.lower import lower
from arignote.errors import CacheWarning
from arignote.ops.fused import Fused


def _kernel(scale=2.0):
    x = T.vector("x")
    return lower(Fused([x], [x * scale + 1]))


def _compile(kernel, directory):
    jit.clear_memory_cache()
    return jit.compile_kernel(kernel, directory=directory)


def _works(ck, kernel, scale):
    out = Launcher(kernel, ck)(np.arange(4.0))[0]
    np.testing.assert_allclose(out, np.arange(4.0) * scale + 1)


def test_cache_dir_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("ARIGNOTE_CACHE_DIR", str(tmp_path / "a"))
    assert cache.cache_dir() == tmp_path / "a"
    monkeypatch.delenv("ARIGNOTE_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.cache_dir() == tmp_path / "xdg" / "arignote"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache.cache_dir() == Path.home() / ".cache" / "arignote"


def test_miss_then_hit(tmp_path):
    k = _kernel(3.0)
    first = _compile(k, tmp_path)
    assert not first.cache_hit
    assert len(list(tmp_path.rglob("*.obj"))) == 1
    second = _compile(k, tmp_path)
    assert second.cache_hit
    _works(second, k, 3.0)
    assert jit.compile_kernel(k, directory=tmp_path) is jit.compile_kernel(k, directory=tmp_path)


def test_key_depends_on_ir_and_target():
    ir1, ir2 = render(_kernel(2.0)), render(_kernel(5.0))
    assert jit.cache_key(ir1) != jit.cache_key(ir2)
    assert cache.make_key("a", "bc") != cache.make_key("ab", "c")
    assert cache.make_key(ir1, "x86_64", "znver4") != cache.make_key(ir1, "x86_64", "skylake")


def test_corrupt_entry_is_rebuilt(tmp_path):
    k = _kernel(4.0)
    _compile(k, tmp_path)
    (path,) = tmp_path.rglob("*.obj")
    blob = bytearray(path.read_bytes())
    blob[-20] ^= 0xFF  # flip a byte of the object code
    path.write_bytes(bytes(blob))
    ck = _compile(k, tmp_path)
    assert not ck.cache_hit
    _works(ck, k, 4.0)
    assert _compile(k, tmp_path).cache_hit  # the rebuilt entry is good
    path.write_bytes(path.read_bytes()[:100])  # truncated
    assert not _compile(k, tmp_path).cache_hit
    path.write_bytes(b"garbage")
    assert not _compile(k, tmp_path).cache_hit


def test_foreign_entry_is_rebuilt(tmp_path):
    k1, k2 = _kernel(6.0), _kernel(7.0)
    _compile(k1, tmp_path)
    _compile(k2, tmp_path)
    key1, key2 = jit.cache_key(render(k1), jit.KERNEL_LEVEL), jit.cache_key(render(k2), jit.KERNEL_LEVEL)
    cache.entry_path(key2, tmp_path).write_bytes(cache.entry_path(key1, tmp_path).read_bytes())
    assert cache.load(key2, tmp_path) is None
    ck = _compile(k2, tmp_path)
    assert not ck.cache_hit
    _works(ck, k2, 7.0)


def test_unwritable_directory_only_costs_the_cache(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    k = _kernel(8.0)
    ck = _compile(k, blocker / "sub")
    _works(ck, k, 8.0)
    assert not cache.store("ab" * 32, b"x", blocker / "sub")


def _child(directory, scale, queue):
    k = _kernel(scale)
    ck = jit.compile_kernel(k, directory=directory)
    out = Launcher(k, ck)(np.arange(3.0))[0]
    queue.put(out.tolist())


def test_two_processes_compile_at_once(tmp_path):
    ctx = mp.get_context("spawn")  # (a fork of this threaded process may deadlock: 3.12 warns)
    queue = ctx.Queue()
    procs = [ctx.Process(target=_child, args=(str(tmp_path), 9.0, queue)) for _ in range(2)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert results == [[1.0, 10.0, 19.0]] * 2
    (path,) = tmp_path.rglob("*.obj")
    assert not list(tmp_path.rglob(".tmp-*"))
    assert _compile(_kernel(9.0), tmp_path).cache_hit


# ------------------------------------------------------------ trust

def _mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def _plant(directory, real=2.0, planted=100.0):
    """Store under ``_kernel(real)``'s key the object code of ``_kernel(planted)``,
    with a valid header: what an attacker able to write the cache would do."""
    key = jit.cache_key(render(_kernel(real)), jit.KERNEL_LEVEL)
    assert cache.store(key, jit.compile_object(render(_kernel(planted))), directory)
    return cache.entry_path(key, directory)


def test_directories_are_created_private(monkeypatch, tmp_path):
    monkeypatch.setenv("ARIGNOTE_CACHE_DIR", str(tmp_path / "a" / "b"))
    k = _kernel(2.5)
    _works(_compile(k, None), k, 2.5)
    (entry,) = (tmp_path / "a").rglob("*.obj")
    for d in (tmp_path / "a", tmp_path / "a" / "b", entry.parent):
        assert _mode(d) == 0o700, d
    assert _mode(entry) == 0o600


@pytest.mark.parametrize("mode", [0o777, 0o775, 0o757])
def test_a_directory_others_can_write_is_not_used(tmp_path, mode):
    shared = tmp_path / "shared"
    planted = _plant(shared)  # a valid entry of another kernel under the real key
    shared.chmod(mode)
    before = {p: p.read_bytes() for p in shared.rglob("*") if p.is_file()}
    k = _kernel(2.0)
    with pytest.warns(CacheWarning, match=f"{shared}.* is writable by .*{mode:04o}"):
        ck = _compile(k, shared)
    _works(ck, k, 2.0)  # the planted code never ran
    assert {p: p.read_bytes() for p in shared.rglob("*") if p.is_file()} == before  # nothing written
    planted_code = jit.compile_object(render(_kernel(100.0)))
    assert cache.load(jit.cache_key(render(k), jit.KERNEL_LEVEL), shared) != planted_code  # (the fallback's)
    fallback = cache.usable_dir(shared)
    assert fallback != shared and _mode(fallback) == 0o700 and fallback.stat().st_uid == os.geteuid()
    assert planted.exists()


def test_a_directory_of_another_user_is_not_used(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root to give a directory away")
    theirs = tmp_path / "theirs"
    _plant(theirs)
    os.chown(theirs, 65534, 65534)  # nobody
    k = _kernel(2.0)
    with pytest.warns(CacheWarning, match="is owned by uid 65534, not by this user"):
        _works(_compile(k, theirs), k, 2.0)


@pytest.mark.parametrize("how", ["another user's", "group-writable"])
def test_an_entry_others_could_write_is_refused_and_replaced(tmp_path, how):
    if how == "another user's" and os.geteuid() != 0:
        pytest.skip("needs root to give a file away")
    entry = _plant(tmp_path)
    if how == "another user's":
        os.chown(entry, 65534, 65534)
        match = "is owned by uid 65534"
    else:
        entry.chmod(0o664)
        match = "is writable by its group"
    k = _kernel(2.0)
    with pytest.warns(CacheWarning, match=f"entry {entry} {match}"):
        ck = _compile(k, tmp_path)
    assert not ck.cache_hit
    _works(ck, k, 2.0)
    st = os.lstat(entry)  # rebuilt and replaced by this user's own
    assert st.st_uid == os.geteuid() and _mode(entry) == 0o600
    assert _compile(k, tmp_path).cache_hit


def test_a_symlinked_entry_is_refused_and_replaced(tmp_path):
    entry = _plant(tmp_path / "elsewhere")  # a valid private entry of this user's ...
    k = _kernel(2.0)
    link = cache.entry_path(jit.cache_key(render(k), jit.KERNEL_LEVEL), tmp_path / "cache")
    link.parent.mkdir(parents=True, mode=0o700)
    link.symlink_to(entry)  # ... that the cache reaches through a symbolic link
    with pytest.warns(CacheWarning, match=f"entry {link} is a symbolic link"):
        ck = _compile(k, tmp_path / "cache")
    assert not ck.cache_hit
    _works(ck, k, 2.0)
    assert not link.is_symlink() and _compile(k, tmp_path / "cache").cache_hit


def test_writes_are_atomic(tmp_path, monkeypatch):
    renames = []
    replace = os.replace

    def recording(src, dst):
        renames.append((Path(src), Path(dst)))
        replace(src, dst)

    monkeypatch.setattr(cache.os, "replace", recording)
    key = "cd" * 32
    assert cache.store(key, b"payload", tmp_path)
    ((src, dst),) = renames
    assert dst == cache.entry_path(key, tmp_path) and src.parent == dst.parent
    assert src.name.startswith(".tmp-")

    def failing(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(cache.os, "replace", failing)
    assert not cache.store("ef" * 32, b"payload", tmp_path)
    assert not cache.entry_path("ef" * 32, tmp_path).exists()
    assert [p.name for p in dst.parent.iterdir()] == [dst.name]  # no temporary file left
    assert cache.load(key, tmp_path) == b"payload"


def test_the_fallback_cache_is_removed_at_exit(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)
    code = ("import warnings; warnings.simplefilter('ignore')\n"
            "from arignote.compiler import cache\n"
            f"assert cache.store('ab' * 32, b'x', {str(shared)!r})\n"
            f"print(cache.usable_dir({str(shared)!r}))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    fallback = Path(done.stdout.strip())
    assert fallback != shared and not fallback.exists() and not list(shared.iterdir())
