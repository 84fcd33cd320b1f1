"""The disk cache of compiled kernels: hits, misses, corrupt and foreign entries
rebuilt, atomic concurrent writes."""
import multiprocessing as mp
from pathlib import Path

import numpy as np

import arignote.tensor as T
from arignote.compiler import cache, jit
from arignote.compiler.launch import Launcher
from arignote.compiler.llvm import render
from arignote.compiler.lower import lower
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
    key1, key2 = jit.cache_key(render(k1)), jit.cache_key(render(k2))
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
    ctx = mp.get_context("fork")
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
