"""The native entry of a scalar function: a call that runs no Python.

``f(a, b) = a + b`` on two floats spends more than a microsecond in the
generated Python and the ctypes call around a kernel of a few instructions.
For a function whose program is one direct kernel from 0-d inputs to one 0-d
output, :func:`scalar_entry` makes a builtin function (``METH_FASTCALL``)
whose C body is JITted IR (:func:`~arignote.compiler.helper_ir.scalar_entry`):
it accepts what the direct call accepts (a Python float where the kernel
reads a float64 in place, else an exact aligned 0-d ndarray of the input's
dtype), makes the output with ``np.empty``, writes the data pointers and runs
the kernel. Any other call (another number of arguments, keywords, another
type) goes on to the Function's general call, which checks, converts and
raises as always. The GIL stays held: the kernel is a few instructions.

It reads CPython's and NumPy's object layouts
(:data:`arignote.compiler.unsafe.LAYOUT`): ``ARIGNOTE_SAFE_CALLS=1`` turns it off,
and so does ``ARIGNOTE_NATIVE_ENTRY=0``.
"""
import ctypes
import os
import sys

import numpy as np

from arignote.compiler.helper_ir import (ENTRY_FIELDS, ENTRY_INPUT_FIELDS, SCALAR_ENTRY,
                                         scalar_entry as entry_ir)
from arignote.compiler.jit import CompiledKernel, helper_function
from arignote.compiler.unsafe import FLOAT_VALUE, LAYOUT

#: on unless turned off, the layouts are unknown, or no GIL serializes calls (the context
#: of an entry is written per call)
ENABLED = os.environ.get("ARIGNOTE_NATIVE_ENTRY", "1").strip() != "0" and \
    LAYOUT is not None and FLOAT_VALUE is not None and getattr(sys, "_is_gil_enabled", lambda: True)()
_METH_FASTCALL_KEYWORDS = 0x0080 | 0x0002


class _MethodDef(ctypes.Structure):
    """CPython's ``PyMethodDef``."""
    _fields_ = [("name", ctypes.c_char_p), ("meth", ctypes.c_void_p), ("flags", ctypes.c_int),
                ("doc", ctypes.c_char_p)]


def _address(fn):
    return ctypes.cast(fn, ctypes.c_void_p).value


def _entry_address():
    """The JITted entry's address (once per process), or None."""
    if not hasattr(ctypes.pythonapi, "PyObject_Vectorcall"):  # pragma: no cover - (before 3.9)
        return None
    fn = helper_function(lambda: entry_ir(LAYOUT, FLOAT_VALUE), SCALAR_ENTRY, ctypes.c_void_p,
                         ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_void_p)
    return None if fn is None else _address(fn)


#: CPython's ``PyCFunction_NewEx(def, self, module)``, typed here (``ctypes.pythonapi``'s own
#: function object is shared with everyone: its argtypes are not ours to set)
_new_function = ctypes.PYFUNCTYPE(ctypes.py_object, ctypes.c_void_p, ctypes.py_object, ctypes.c_void_p)(
    ("PyCFunction_NewEx", ctypes.pythonapi))


def scalar_entry(program, fast_inputs, general, name):
    """``(entry, kept)`` for a Function whose ``program`` runs one direct kernel from
    0-d inputs (``fast_inputs``, the Function's) to one fresh 0-d output: ``entry`` its
    builtin call, falling back on ``general(*args, **kwargs)``; ``kept`` what must live
    as long as it. None where it does not apply (the caller keeps its Python call)."""
    direct = program._direct
    if not ENABLED or direct is None or len(fast_inputs) != program.n_roots:
        return None
    _, node, step, order = direct
    la = getattr(step, "launcher", None)
    if la is None or len(node.outputs) != 1 or step.inplace or la.kernel.ndim or la.views or \
            la.kernel.extents or la.n_user != len(fast_inputs) or \
            any(ndim != 0 or not exact for _, ndim, exact, _ in fast_inputs):
        return None
    compiled = getattr(la, "compiled", None)  # (only the LLVM-compiled kernels of the cpu)
    if not isinstance(compiled, CompiledKernel) or compiled.error_flag is not None:
        return None
    address = _entry_address()
    if address is None:
        return None
    n, n_params = len(fast_inputs), len(la.kernel.params)
    floats = program.takes_floats
    context = np.zeros(len(ENTRY_FIELDS) + len(ENTRY_INPUT_FIELDS) * n + n_params, np.int64)
    data_at = len(ENTRY_FIELDS) + len(ENTRY_INPUT_FIELDS) * n
    shape, dtype = (), np.dtype(la._out_specs[0][0])
    vectorcall = _address(ctypes.pythonapi.PyObject_Vectorcall)
    fields = dict(n=n, float_type=id(float), array_type=id(np.ndarray), vectorcall=vectorcall,
                  general=id(general), empty=id(np.empty), shape=id(shape), dtype=id(dtype),
                  kernel=compiled.address, data=context.ctypes.data + 8 * data_at, slot=n_params - 1)
    context[:len(ENTRY_FIELDS)] = [fields[f] for f in ENTRY_FIELDS]
    for j, (want, _, _, _) in enumerate(fast_inputs):
        want = np.dtype(want)
        spec = dict(descr=id(want), floats=int(floats and want == np.float64),
                    misaligned=want.alignment - 1, param=order.index(j))
        at = len(ENTRY_FIELDS) + len(ENTRY_INPUT_FIELDS) * j
        context[at:at + len(ENTRY_INPUT_FIELDS)] = [spec[f] for f in ENTRY_INPUT_FIELDS]
    for j, c in enumerate(la.constants):  # (their pointers never change)
        context[data_at + n + j] = c.ctypes.data
    method = _MethodDef(name.encode(), address, _METH_FASTCALL_KEYWORDS, None)
    entry = _new_function(ctypes.addressof(method), context, None)
    return entry, (method, context, general, shape, dtype, la, compiled)
