"""The content-addressed disk cache of compiled object code (invariant 6).

An entry's key is a hash of everything that decides the machine code: the
rendered IR text, the target triple, the CPU name and features and the
compiler's version. Entries are plain bytes with a verified header (magic,
key, payload length, SHA-256 of the payload): a corrupt, truncated or
foreign entry is a miss and gets rebuilt, never trusted, and nothing is ever
unpickled. Writes go to a temporary file in the same directory and are
renamed into place (``os.replace`` is atomic), so two processes compiling the
same kernel at once both succeed and readers never see half an entry.

The directory is ``$ARIGNOTE_CACHE_DIR``, else ``$XDG_CACHE_HOME/arignote``,
else ``~/.cache/arignote``.
"""
import hashlib
import os
import tempfile
from pathlib import Path

MAGIC = b"ARIGNOTE-OBJ-1\n"
_SUFFIX = ".obj"


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


def load(key, directory=None):
    """The payload stored under ``key``, or None when absent or not trustworthy."""
    path = entry_path(key, directory)
    try:
        blob = path.read_bytes()
    except OSError:
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
    """Write ``payload`` under ``key`` atomically; a failing disk only costs the cache."""
    path = entry_path(key, directory)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            f.write(_header(key, payload) + payload)
        os.replace(tmp, path)
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
