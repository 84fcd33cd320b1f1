"""The fast paths that rely on CPython, NumPy and llvmlite internals, in one place.

Three shortcuts save microseconds per call on small arrays or let threads
compile at once, each checked against the official way when this module loads
and each with that official way as its fallback:

* **Object layouts at fixed offsets.** A NumPy array's data pointer is read from
  the ``PyArrayObject`` (``data`` follows the object header) instead of through
  ``ndarray.ctypes``; a Python float's double is read in place (``ob_fval``), so a
  kernel takes a float as a 0-d float64 input without making an array. A scalar
  function's native entry (:mod:`arignote.runtime.native_entry`) reads an object's
  type and an array's rank and dtype the same way.
* **Buffer reuse by reference count.** The memory pool hands an array out again
  once ``sys.getrefcount`` says only the pool holds it.
* **llvmlite's private ``_cfn``.** The raw ctypes functions behind
  ``llvmlite.binding.ffi.lib`` run the heavy LLVM calls without llvmlite's global
  lock.

``ARIGNOTE_SAFE_CALLS=1`` in the environment (read once, when this module
loads) turns all of them off: pointers come from ``ndarray.ctypes.data``, floats
are converted to arrays, the pool allocates every array afresh, and LLVM is
called through llvmlite's public, locked functions. Slower, never wrong on an
interpreter or library whose internals moved; :func:`active` says which
shortcuts are on.
"""
import ctypes
import os
import sys

import numpy as np

#: the fast paths are off (``ARIGNOTE_SAFE_CALLS=1``)
SAFE = os.environ.get("ARIGNOTE_SAFE_CALLS", "").strip() == "1"

def _samples():
    """Arrays whose data pointers a layout reader must get right: owners, views with
    offsets, negative strides, 0-d and empty arrays."""
    base = np.arange(24.0).reshape(4, 6)
    return [base, base[1:, 2:], base.T[::-1], np.asarray(1.5), np.empty(0), base[2, 3:4]]


def _memory_reader():
    """``mem`` such that ``mem[id(a) >> 3]`` is the address of ``a``'s data: an int64
    array spanning the address space from the PyArrayObject's ``data`` field on
    (objects are 8-aligned), a third of the cost of ``from_address``; None unless
    it agrees with ``ndarray.ctypes``."""
    offset = object.__basicsize__  # where ``data`` follows the object header
    if offset % 8:  # pragma: no cover - exotic interpreters
        return None
    try:
        mem = (ctypes.c_int64 * (1 << 58)).from_address(offset)  # mem[i]: the word at 8 * i + offset
        if all(id(a) % 8 == 0 and mem[id(a) >> 3] == a.ctypes.data for a in _samples()):
            return mem
    except Exception:  # pragma: no cover - exotic interpreters
        pass
    return None  # pragma: no cover


def _float_value_offset():
    """Where a Python float keeps its double (``ob_fval``, after the object header);
    None unless reading there gives the float's value."""
    offset = float.__basicsize__ - 8
    try:
        values = [1.5, -0.0, 2.0 ** -1074, float("inf"), 1e300]
        if all(ctypes.c_double.from_address(id(v) + offset).value == v for v in values):
            return offset
    except Exception:  # pragma: no cover - exotic interpreters
        pass
    return None  # pragma: no cover


def _object_layout():
    """``{field: offset from id(x)}`` of what a native entry reads: an object's type
    (``ob_type``) and an array's ``data``, ``nd`` and ``descr`` (NumPy's
    ``PyArrayObject_fields`` order); None unless every sample reads back right."""
    word, offset = ctypes.sizeof(ctypes.c_void_p), object.__basicsize__
    layout = {"type": offset - word, "data": offset, "nd": offset + word, "descr": offset + 5 * word}

    def read(x, field, kind=ctypes.c_void_p):
        return kind.from_address(id(x) + layout[field]).value
    try:
        samples = _samples() + [np.zeros((2, 1, 3), np.float32), np.asarray(np.int8(3))]
        if all(read(a, "type") == id(np.ndarray) and read(a, "data") == a.ctypes.data and
               read(a, "nd", ctypes.c_int) == a.ndim and read(a, "descr") == id(a.dtype)
               for a in samples) and read(1.5, "type") == id(float):
            return layout
    except Exception:  # pragma: no cover - exotic interpreters
        pass
    return None  # pragma: no cover


#: ``MEMORY[id(a) >> 3]`` is ``a``'s data pointer; None when safe (or the layout differs)
MEMORY = None if SAFE else _memory_reader()
#: offset of a Python float's double from ``id(x)``; None when safe (or unknown)
FLOAT_VALUE = None if SAFE else _float_value_offset()
#: offsets of an object's type and an array's data, rank and dtype from ``id(x)`` (what
#: :mod:`arignote.runtime.native_entry` reads); None when safe (or the layout differs)
LAYOUT = None if SAFE else _object_layout()
#: :data:`data_pointer` spelled as an expression of an array named ``{}``, for
#: generated code (``.format(name)``); its namespace needs ``mem`` = :data:`MEMORY`
POINTER_EXPR = "{}.ctypes.data" if MEMORY is None else "mem[id({}) >> 3]"


def _ctypes_data_pointer(a):
    return a.ctypes.data


if MEMORY is not None:
    def data_pointer(a, _mem=MEMORY):
        """The address of array ``a``'s data (read from the object)."""
        return _mem[id(a) >> 3]
else:
    data_pointer = _ctypes_data_pointer


# -- buffer reuse by reference count

def _refcount(a):
    """``sys.getrefcount`` one call deep, as :func:`unreferenced` sees it."""
    return sys.getrefcount(a)


def _idle_refcount():
    """What :func:`unreferenced` sees for an array only its caller's list holds
    (measured the way :meth:`~arignote.runtime.memory.BufferPool.take` calls it)."""
    held = [np.empty(1)]
    for a in held:
        return _refcount(a)


_IDLE = _idle_refcount()


def _refcount_tracks_views():
    """True when a view raises its base's reference count (what reuse relies on)."""
    held = [np.empty(4)]
    view = held[0][1:]  # noqa: F841 - alive during the check
    for a in held:
        return _refcount(a) == _IDLE + 1


#: arrays may be reused once unreferenced; False when safe (then every array is fresh)
REUSE = not SAFE and _refcount_tracks_views()


def unreferenced(a):
    """Whether nothing but the caller's container (iterated with ``for a in held``)
    refers to ``a``; always False when :data:`REUSE` is off."""
    return REUSE and sys.getrefcount(a) == _IDLE


# -- llvmlite without its lock

def unlocked(fn):
    """llvmlite's ``ffi.lib`` function ``fn`` without llvmlite's global lock (its raw
    ctypes function ``_cfn``); ``fn`` itself (locked) when safe or when llvmlite's
    internals change."""
    return fn if SAFE else getattr(fn, "_cfn", fn)


def active():
    """Which fast paths are on: ``{name: bool}``."""
    from llvmlite.binding import ffi
    probe = ffi.lib.LLVMPY_GetBufferStart
    return {"data_pointer": MEMORY is not None, "python_floats": FLOAT_VALUE is not None,
            "object_layout": LAYOUT is not None,
            "refcount_reuse": REUSE, "llvm_unlocked": unlocked(probe) is not probe}
