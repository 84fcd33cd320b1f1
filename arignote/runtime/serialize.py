"""Saving and loading functions (and graphs) with pickle, and when loading compiles.

A pickled :class:`~arignote.runtime.function.Function` holds its optimized
graph, never machine code (invariant 6). Unpickling one rebuilds its Program
right away, which runs the compiler or links object code from the disk cache
(:mod:`arignote.compiler.cache`): loading a Function loads native code into
the process. ``load(source, compile=False)`` leaves that to the Function's
first call (or to the first look at its ``program``), so a pickle can be
loaded to inspect, print or re-save its graph without compiling or linking
anything.

Neither makes an untrusted pickle safe: pickle itself runs whatever code the
data names. Load only what you would run.
"""
import os
import pickle
import threading

_local = threading.local()
_build_lock = threading.RLock()


def save(obj, file):
    """Pickle ``obj`` (a Function, variables, a graph, shared variables...) into
    ``file``: a path or a binary file object. Machine code is never saved."""
    if isinstance(file, (str, os.PathLike)):
        with open(file, "wb") as f:
            pickle.dump(obj, f, pickle.HIGHEST_PROTOCOL)
    else:
        pickle.dump(obj, file, pickle.HIGHEST_PROTOCOL)


def load(source, compile=True):
    """Unpickle ``source`` (bytes, a path or a binary file object).

    With ``compile=True`` each Function in it compiles (or links from the disk
    cache) now, as ``pickle.load`` does; with ``compile=False`` on its first
    call. Only load data you trust: pickle runs the code the data names."""
    previous = getattr(_local, "compile", True)
    _local.compile = bool(compile)
    try:
        if isinstance(source, (bytes, bytearray, memoryview)):
            return pickle.loads(source)
        if isinstance(source, (str, os.PathLike)):
            with open(source, "rb") as f:
                return pickle.load(f)
        return pickle.load(source)
    finally:
        _local.compile = previous


def compiles_on_load():
    """Whether a Function being unpickled on this thread builds its Program now."""
    return getattr(_local, "compile", True)


def build_program(fn):
    """Build the Program of ``fn``, loaded with ``compile=False``, once: threads
    making the first call at the same time wait for one build."""
    from arignote.runtime.backends import get
    with _build_lock:
        if fn.__dict__.pop("_deferred", False):
            try:
                fn.program = fn._make_program(get(fn.backend))
            except BaseException:
                fn._deferred = True  # (a failed build is tried again on the next call)
                raise
