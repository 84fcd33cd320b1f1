"""The content-addressed disk cache of compiled object code (invariant 6).

An entry's key is a hash of everything that decides the machine code: the
rendered IR text, the target triple, the CPU name and features and the
compiler's version. Entries are plain bytes with a verified header (magic,
key, payload length, SHA-256 of the payload): a corrupt, truncated or
foreign entry is a miss and gets rebuilt, never trusted, and nothing is ever
unpickled. Writes go to a temporary file in the same directory and are
renamed into place (``os.replace`` is atomic), so two processes compiling the
same kernel at once both succeed and readers never see half an entry.

The header catches damage, not planting: whoever can write an entry can
write a valid header, and the object code is linked into the process and
run. So entries are read only from a place nobody else can write. The
directory (and any parent this module creates) is made with mode 0700; a
directory that is not this user's own, or that its group or others may
write, is not used: the process caches into a private temporary directory
instead (removed at exit) and says so with a :class:`CacheWarning`. An entry
is opened without following a symbolic link and used only if it is a
regular file of this user's that no one else may write; else it is a miss
(warned), rebuilt and replaced. docs/design.md has the whole trust model.

The directory is ``$ARIGNOTE_CACHE_DIR``, else ``$XDG_CACHE_HOME/arignote``,
else ``~/.cache/arignote``.
"""
import atexit
import errno
import hashlib
import os
import shutil
import stat
import tempfile
import threading
import warnings
from pathlib import Path

from arignote.errors import CacheWarning

MAGIC = b"ARIGNOTE-OBJ-1\n"
_SUFFIX = ".obj"
_OPEN = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0) | \
    getattr(os, "O_NONBLOCK", 0)  # (a planted FIFO must not block the read)
_lock = threading.Lock()
_fallback = {}  # pid -> this process's private temporary cache
_warned = set()


def cache_dir():
    """Where compiled kernels are kept (read from the environment on each call)."""
    env = os.environ.get("ARIGNOTE_CACHE_DIR")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "arignote"


def make_key(*parts):
    """A hex SHA-256 of the parts (strings), unambiguously separated."""
    h = hashlib.sha256()
    for p in parts:
        data = str(p).encode()
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()


def _header(key, payload):
    return MAGIC + key.encode() + b"\n" + f"{len(payload)}\n".encode() + \
        hashlib.sha256(payload).hexdigest().encode() + b"\n"


def entry_path(key, directory=None):
    return Path(directory or cache_dir()) / key[:2] / (key + _SUFFIX)


def usable_dir(directory=None):
    """Where entries for ``directory`` (default :func:`cache_dir`) are read and
    written: the directory itself, made private if missing; this process's
    private temporary cache if others could write there (warned); None if it
    cannot be made (then nothing is cached, and compiling still works)."""
    path = Path(directory or cache_dir())
    try:
        _make_private(path)
        reason = _untrusted(os.stat(path))
    except OSError:
        return None
    if reason is None:
        return path
    fallback = _private_fallback()
    _warn(f"compile cache directory {path} {reason}: object code from it would run in this "
          f"process, so it is not used; this process caches kernels in {fallback} instead "
          f"(make the directory private to you, mode 0700, or set ARIGNOTE_CACHE_DIR)")
    return fallback


def _make_private(path):
    """Create ``path`` and its missing parents with mode 0700 (existing ones are left alone)."""
    missing = []
    while True:
        try:
            os.stat(path)
            break
        except FileNotFoundError:
            missing.append(path)
            if path.parent == path:
                break
            path = path.parent
    for p in reversed(missing):
        try:
            os.mkdir(p, 0o700)
        except FileExistsError:  # another process made it meanwhile: checked like any other
            pass


def _untrusted(st):
    """Why a file or directory with status ``st`` could hold code not written by
    this user, or None: it must be this user's own and writable by no one else."""
    uid = os.geteuid() if hasattr(os, "geteuid") else None
    if uid is not None and st.st_uid != uid:
        return f"is owned by uid {st.st_uid}, not by this user (uid {uid})"
    writers = [who for who, bit in (("its group", stat.S_IWGRP), ("others", stat.S_IWOTH))
               if st.st_mode & bit]
    if writers:
        return f"is writable by {' and '.join(writers)} (mode {stat.S_IMODE(st.st_mode):04o})"
    return None


def _private_fallback():
    """This process's private temporary cache (mkdtemp: mode 0700), removed at exit."""
    pid = os.getpid()
    with _lock:
        path = _fallback.get(pid)
        if path is None or not path.is_dir():
            path = _fallback[pid] = Path(tempfile.mkdtemp(prefix="arignote-cache-"))
            atexit.register(_remove_fallback, path, pid)
    return path


def _remove_fallback(path, pid):
    if os.getpid() == pid:  # (a forked child inherits the handler, not the directory)
        shutil.rmtree(path, ignore_errors=True)


def _warn(message):
    with _lock:
        if message in _warned:
            return
        _warned.add(message)
    warnings.warn(message, CacheWarning, stacklevel=3)


def _read_entry(path):
    """The bytes of the entry at ``path``, or None: absent, or refused (warned)
    because a symbolic link, not a regular file, or writable by others."""
    try:
        fd = os.open(path, _OPEN)
    except OSError as e:
        if e.errno in (errno.ELOOP, errno.EMLINK):  # O_NOFOLLOW met a symbolic link
            _warn(f"compile cache entry {path} is a symbolic link: not used (rebuilt)")
        return None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())  # the file opened, not whatever the path names now
        reason = "is not a regular file" if not stat.S_ISREG(st.st_mode) else _untrusted(st)
        if reason is not None:
            _warn(f"compile cache entry {path} {reason}: not used (rebuilt)")
            return None
        try:
            return f.read()
        except OSError:
            return None


def load(key, directory=None):
    """The payload stored under ``key``, or None when absent or not trustworthy."""
    where = usable_dir(directory)
    if where is None:
        return None
    blob = _read_entry(entry_path(key, where))
    if blob is None:
        return None
    lines = blob.split(b"\n", 4)
    if len(lines) != 5 or lines[0] + b"\n" != MAGIC or lines[1] != key.encode():
        return None
    try:
        size = int(lines[2])
    except ValueError:
        return None
    payload = lines[4]
    if size != len(payload) or hashlib.sha256(payload).hexdigest().encode() != lines[3]:
        return None
    return payload


def store(key, payload, directory=None):
    """Write ``payload`` under ``key`` atomically (a private temporary file in the
    same directory, renamed over the entry); a failing disk only costs the cache."""
    where = usable_dir(directory)
    if where is None:
        return False
    path = entry_path(key, where)
    tmp = None
    try:
        _make_private(path.parent)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)  # (mode 0600)
        with os.fdopen(fd, "wb") as f:
            f.write(_header(key, payload) + payload)
        os.replace(tmp, path)  # (replaces a refused entry, a symbolic link included, itself)
        tmp = None
        return True
    except OSError:
        return False
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def get_or_build(key, build, directory=None):
    """(payload, hit): the cached payload, or ``build()``'s, stored for next time."""
    payload = load(key, directory)
    if payload is not None:
        return payload, True
    payload = build()
    store(key, payload, directory)
    return payload, False
