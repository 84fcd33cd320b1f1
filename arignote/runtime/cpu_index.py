"""The cpu backend's index reductions (``argmax``, ``argmin``): one compiled loop,
as the examples' error rates (``mean(neq(argmax(p, axis=1), y))``) would otherwise
run a reference ``perform`` every call.

The fuser leaves them out of kernels (a kernel's reductions fold values, not
positions), so each runs as a library step: the input viewed as (outer, L,
inner), the reduced axis in the middle (all axes: the flat index, L the size),
and a loop JIT-compiled once per process and dtype (:mod:`.cpu_pack`'s
builder) keeps the best value and its position, in NumPy's meaning: the first
maximum (minimum) wins, and a NaN beats everything, so the first NaN's index is
the answer where there is one. The sizes and strides come at run time (one
int64 array). Empty reductions, 0-d inputs and other dtypes run ``perform``,
whose error names the input.
"""
import ctypes
import threading
from functools import partial

import numpy as np
from llvmlite import ir

from arignote.compiler.jit import compile_ir
from arignote.ops.reduce import COMBINERS, Reduce
from arignote.runtime.cpu_pack import LoopBuilder, element_strides
from arignote.runtime.threads import parallel_for

__all__ = ["index_step", "register_steps"]

_I64 = ir.IntType(64)
#: the LLVM element types: floats (a NaN wins), integers (signed or not) and bool (unsigned)
_FLOATS = {np.dtype("float32"): ir.FloatType(), np.dtype("float64"): ir.DoubleType()}
_INTS = {np.dtype(t): ir.IntType(8 * np.dtype(t).itemsize)
         for t in ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "bool")}
_compiled = {}
_lock = threading.Lock()
# the run-time record: L, inner, and the strides (elements) of x (outer, L, inner), out (outer, inner)
(_L, _INNER, _XO, _XL, _XI, _OO, _OI) = range(7)


def _better(b, which, dtype, v, best):
    """Whether ``v`` replaces ``best``: larger (smaller), or a NaN over a number."""
    if dtype in _FLOATS:
        wins = b.fcmp_ordered(">" if which == "argmax" else "<", v, best)
        nan_over_number = b.and_(b.fcmp_unordered("uno", v, v), b.fcmp_ordered("ord", best, best))
        return b.or_(wins, nan_over_number)
    cmp = b.icmp_signed if dtype.kind == "i" else b.icmp_unsigned
    return cmp(">" if which == "argmax" else "<", v, best)


def _make(name, which, dtype):
    real = _FLOATS.get(dtype) or _INTS[dtype]
    module = ir.Module(name=name)
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [real.as_pointer(), _I64.as_pointer(),
                                                             _I64.as_pointer(), _I64, _I64]), name)
    for arg in fn.args[:3]:
        arg.add_attribute("noalias")
    x, out, rec, start, end = fn.args
    k = LoopBuilder(fn)
    b, zero, one = k.b, ir.Constant(_I64, 0), ir.Constant(_I64, 1)
    P = [b.load(b.gep(rec, [ir.Constant(_I64, i)])) for i in range(7)]
    best_at, place = k.var(), k.var()
    with b.goto_block(k.entry):
        b.position_at_start(k.entry)
        best = b.alloca(real)
    with k.loop(start, end) as o:
        with k.loop(zero, P[_INNER]) as q:
            base = k.at(zero, (o, P[_XO]), (q, P[_XI]))
            b.store(b.load(b.gep(x, [base])), best)
            b.store(zero, best_at)
            with k.loop(one, P[_L]) as step:
                v, old = b.load(b.gep(x, [k.at(base, (step, P[_XL]))])), b.load(best)
                take = _better(b, which, dtype, v, old)
                b.store(b.select(take, v, old), best)
                b.store(b.select(take, step, b.load(best_at)), best_at)
            b.store(k.at(zero, (o, P[_OO]), (q, P[_OI])), place)
            b.store(b.load(best_at), b.gep(out, [b.load(place)]))
    b.ret_void()
    return module


def _kernel(which, dtype):
    """The compiled loop of ``which`` for ``dtype``, or None (none for this dtype)."""
    if dtype not in _FLOATS and dtype not in _INTS:
        return None
    key = (which, dtype)
    with _lock:
        if key not in _compiled:
            name = f"arignote_{which}_{dtype.name}"
            done = compile_ir(str(_make(name, which, dtype)), name)
            _compiled[key] = (ctypes.CFUNCTYPE(None, *([ctypes.c_void_p] * 3), ctypes.c_int64,
                                               ctypes.c_int64)(done.address), done)
        return _compiled[key][0]


def index_step(backend, node, allocs=None, inplace=None):
    """Reduce: argmax / argmin by the compiled loop into the plan's storage; any other
    reduction left outside a kernel, and anything unusual, runs ``perform``."""
    op, (x_var,) = node.op, node.inputs
    fn = None
    if allocs and COMBINERS[op.combiner].index and x_var.ndim:
        fn = _kernel(op.combiner, x_var.type.numpy_dtype)
    if fn is None:
        return partial(op.perform, node)
    (take,) = allocs
    whole = len(op.axis) == x_var.ndim

    def run(args):
        (x,) = args
        if x.size == 0 or x.dtype != x_var.type.numpy_dtype:
            return op.perform(node, args)  # (names the input; NumPy's error for nothing to reduce)
        if whole:
            view, kept = x.reshape(1, x.size, 1), (1,) * x.ndim
        else:
            a = op.axis[0]
            view = x.reshape(int(np.prod(x.shape[:a])), x.shape[a], -1)
            kept = x.shape[:a] + (1,) + x.shape[a + 1:]
        out = take(kept if op.keepdims else tuple(s for d, s in enumerate(kept) if d not in op.axis),
                   np.dtype("int64"))
        flat = out.reshape(view.shape[0], view.shape[2])
        rec = np.array((view.shape[1], view.shape[2], *element_strides(view), *element_strides(flat)),
                       np.int64)
        parallel_for(lambda s, e: fn(view.ctypes.data, flat.ctypes.data, rec.ctypes.data, s, e),
                     view.shape[0], view.shape[1] * view.shape[2])
        return [out]

    run.trusted = True
    run.call = run
    return run


def register_steps(backend_class):
    """Give ``backend_class`` the index reductions' step (other bare Reduce nodes keep
    ``perform``)."""
    backend_class.step_for(Reduce)(index_step)
