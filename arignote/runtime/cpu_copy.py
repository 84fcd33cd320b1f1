"""The cpu backend's data-moving library steps: joins, writes through an index and
fills, done by NumPy's copy loops into the memory plan's storage.

They are no arithmetic a kernel would do better, but left to ``perform`` each
would allocate fresh pages on every call (and have its outputs checked): as
steps they take pooled storage and are trusted, like the matrix products.
Anything unusual (mixed dtypes, a value that needs NumPy's complaint) runs
``perform``, whose error names the op and the user's line.
"""
from functools import partial

import numpy as np

from arignote.ops.construct import Alloc
from arignote.ops.indexing import IncSubtensor
from arignote.ops.shape import Join


def _library(run):
    run.trusted = True
    run.call = run
    return run


def join_step(backend, node, allocs=None, inplace=None):
    """``concatenate(inputs, axis, out=...)``."""
    dtype, axis = node.outputs[0].type.numpy_dtype, node.op.axis
    if not allocs or any(v.type.numpy_dtype != dtype for v in node.inputs):
        return partial(node.op.perform, node)
    (take,) = allocs

    def run(args):
        first = args[0].shape
        if any(a.shape[:axis] != first[:axis] or a.shape[axis + 1:] != first[axis + 1:] for a in args):
            return node.op.perform(node, args)  # (its error names the input and dimension)
        shape = first[:axis] + (sum(a.shape[axis] for a in args),) + first[axis + 1:]
        return [np.concatenate(args, axis=axis, out=take(shape, dtype))]

    return _library(run)


def inc_subtensor_step(backend, node, allocs=None, inplace=None):
    """A copy of ``x`` into pooled storage, then the op's own write of ``y`` through the index."""
    op, x_var = node.op, node.inputs[0]
    if not allocs or node.inputs[1].type.numpy_dtype != x_var.type.numpy_dtype:
        return partial(op.perform, node)
    (take,) = allocs

    def run(args):
        x, y, *index = args
        out = take(x.shape, x.dtype)
        np.copyto(out, x)
        try:
            return [op._update(node, x, y, op._numpy_index(x_var, x, index), out=out)]
        except (IndexError, ValueError):
            return op.perform(node, args)  # (raises the named error)

    return _library(run)


def alloc_step(backend, node, allocs=None, inplace=None):
    """``value`` broadcast into pooled storage of the requested shape."""
    dtype = node.outputs[0].type.numpy_dtype
    if not allocs or node.inputs[0].type.numpy_dtype != dtype:
        return partial(node.op.perform, node)
    (take,) = allocs
    static = node.inputs[0].type.shape

    def run(args):
        value, shape = args[0], tuple(int(d) for d in args[1:])
        lead = len(shape) - value.ndim
        if any(s < 0 for s in shape) or any(static[d] != 1 and value.shape[d] != shape[lead + d]
                                            for d in range(value.ndim)):
            return node.op.perform(node, args)  # (raises the named error)
        out = take(shape, dtype)
        out[...] = value
        return [out]

    return _library(run)


STEPS = {Join: join_step, IncSubtensor: inc_subtensor_step, Alloc: alloc_step}


def register_steps(backend_class):
    """Give ``backend_class`` these steps."""
    for op_class, maker in STEPS.items():
        backend_class.step_for(op_class)(maker)


__all__ = ["STEPS", "register_steps", "join_step", "inc_subtensor_step", "alloc_step"]
