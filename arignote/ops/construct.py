"""Ops that build new arrays from sizes: ``repeat``, ``tile``, ``alloc`` (``zeros``,
``ones``, ``full``) and ``arange``. (Join and split live with the views, in
:mod:`arignote.ops.shape`: a shape vector is a stack of scalars.)

Their shape arguments go through the same build-time analysis as the views
of :mod:`arignote.ops.shape`, so
``T.zeros((x.shape[0], 3))`` has static shape ``(None, 3)`` and impossible
sizes fail when the graph is built.
"""
import math

import numpy as np

from arignote.config import config
from arignote.errors import ArignoteTypeError, ArignoteValueError, ShapeError, describe
from arignote.graph.basic import Apply, Constant
from arignote.graph.op import Op
from arignote.graph.type import INT_DTYPES, TensorType
from arignote.ops.basic import as_tensor_variable, constant
from arignote.ops.elemwise import cast, ceil, eq, floor_div, maximum, mul, switch
from arignote.ops.reduce import sum as _sum
from arignote.ops.shape import (DimShuffle, _fmt, _i64, _int_scalar, _int_vector, _is_int, _norm_axis,
                                _prod, _shape_entry, _shape_scalars, _static_shape, flatten, reshape,
                                shape_i, static_entries, static_int)


# ------------------------------------------------------------ repeating and filling

class Repeat(Op):
    """NumPy's ``repeat`` along ``axis``: ``repeats`` is an int64 scalar or one per element.

    With ``adjoint`` it is the gradient instead, summing each run of repeated
    elements: its inputs are (gz, repeats, size of ``axis`` in the input)."""

    __props__ = ("axis", "adjoint")
    element_inputs = (0,)

    def __init__(self, axis, adjoint=False):
        self.axis, self.adjoint = int(axis), bool(adjoint)

    def make_node(self, x, repeats, n=None):
        x = as_tensor_variable(x)
        r = as_tensor_variable(repeats)
        if r.ndim > 1 or r.dtype not in INT_DTYPES:
            raise ArignoteTypeError(f"repeat: repeats must be an int or a vector of ints, got "
                                    f"{describe(r)} ({r.type})")
        r = r if r.dtype == "int64" else cast(r, "int64")
        if not 0 <= self.axis < x.ndim:
            raise ArignoteValueError(f"repeat: axis {self.axis} is out of range for {describe(x)} ({x.type})")
        reps = static_entries(r)
        reps = [None] if reps is None else list(reps.flat)
        if any(_is_int(e) and e < 0 for e in reps):
            raise ArignoteValueError(f"repeat: repeats must be >= 0, got {_fmt(reps)}")
        if self.adjoint:
            n = _int_scalar(n, "repeat", "the size")
            size = static_int(n)
            inputs = [x, r, n]
        else:
            size, inputs = x.type.shape[self.axis], [x, r]
            if r.ndim and r.type.shape[0] not in (None, 1):
                if size not in (None, r.type.shape[0]):
                    raise ShapeError(f"repeat: {r.type.shape[0]} repeats for dimension {self.axis} of "
                                     f"{describe(x)} ({x.type})")
                size = None if None in reps else sum(reps)
            elif reps[0] == 0:
                size = 0
            else:
                size = None if size is None or reps[0] is None else size * reps[0]
        shape = x.type.shape[:self.axis] + (size,) + x.type.shape[self.axis + 1:]
        return Apply(self, inputs, [TensorType(x.dtype, shape)])

    def perform(self, node, inputs):
        x, r = inputs[:2]
        n = int(inputs[2]) if self.adjoint else x.shape[self.axis]
        if r.ndim and len(r) not in (1, n) or (r < 0).any():
            raise ShapeError(f"repeat: repeats {r.tolist()} do not fit dimension {self.axis} "
                             f"(size {n}) of {describe(node.inputs[0])}")
        if not self.adjoint:
            return [np.repeat(x, r, axis=self.axis)]
        index = np.repeat(np.arange(n), np.broadcast_to(r, (n,)))
        out = np.zeros(x.shape[:self.axis] + (n,) + x.shape[self.axis + 1:], dtype=x.dtype)
        np.add.at(np.moveaxis(out, self.axis, 0), index, np.moveaxis(x, self.axis, 0))
        return [out]

    def L_op(self, inputs, outputs, output_grads):
        (gz,), r = output_grads, inputs[1]
        if self.adjoint:
            return [Repeat(self.axis)(gz, r), None, None]
        return [Repeat(self.axis, adjoint=True)(gz, r, shape_i(inputs[0], self.axis)), None]

    def infer_shape(self, node, input_shapes):
        x, r = node.inputs[:2]
        out = list(input_shapes[0])
        if self.adjoint:
            out[self.axis] = node.inputs[2]
        elif r.ndim == 0 or r.type.shape[0] == 1:
            out[self.axis] = mul(out[self.axis], r if r.ndim == 0 else _sum(r))
        else:  # one repeat per element, or (unknown length 1) one for all
            total = _sum(r)
            out[self.axis] = total if r.type.shape[0] is not None else switch(
                eq(shape_i(r, 0), 1), mul(out[self.axis], total), total)
        return [_static_shape(node, out)]


def repeat(x, repeats, axis=None):
    """NumPy's repeat (``axis=None`` repeats the flattened input)."""
    x = as_tensor_variable(x)
    if axis is None:
        x, axis = flatten(x), 0
    if isinstance(repeats, (list, tuple, np.ndarray)):
        repeats = _int_vector(_shape_scalars(repeats, "repeat"))
    elif _is_int(repeats):
        repeats = _i64(repeats)
    return Repeat(_norm_axis(axis, x.ndim, "repeat", x))(x, repeats)


def tile(x, reps, ndim=None):
    """NumPy's tile: ``reps`` (ints or symbolic int scalars) copies of ``x`` along each axis."""
    x = as_tensor_variable(x)
    reps = [static_int(r) if static_int(r) is not None else r for r in _shape_scalars(reps, "tile")]
    if any(_is_int(r) and r < 0 for r in reps):
        raise ArignoteValueError(f"tile: reps must be >= 0, got {_fmt(reps)}")
    d = max(x.ndim, len(reps), ndim or 0)
    reps = [1] * (d - len(reps)) + reps
    x = DimShuffle(x.ndim, ["x"] * (d - x.ndim) + list(range(x.ndim)))(x)
    dims = [_shape_entry(x, j) for j in range(d)]
    spread = DimShuffle(d, [a for j in range(d) for a in ("x", j)])(x)
    tiled = alloc(spread, *[v for j in range(d) for v in (reps[j], dims[j])])
    return reshape(tiled, [_prod([reps[j], dims[j]]) for j in range(d)])


class Alloc(Op):
    """``value`` broadcast to the shape given by int64 scalars, as a new array."""

    element_inputs = (0,)
    constant_foldable = False  # a big zeros() stays a cheap node, not a big constant

    def make_node(self, value, *dims):
        value = as_tensor_variable(value)
        dims = [_int_scalar(d, "alloc", f"dimension {k}") for k, d in enumerate(dims)]
        lead = len(dims) - value.ndim
        if lead < 0:
            raise ShapeError(f"alloc: {describe(value)} has {value.ndim} dimensions, more than the "
                             f"{len(dims)} of the target shape")
        target = [static_int(d) for d in dims]
        shape = []
        for d, s in enumerate(target):
            v = value.type.shape[d - lead] if d >= lead else 1
            if (s is not None and s < 0) or v not in (1, None, s) and s is not None:
                raise ShapeError(f"alloc: cannot broadcast {describe(value)} ({value.type}) to shape "
                                 f"{_fmt(target)} (dimension {d}: {v} vs {s})")
            shape.append(s if v in (1, None) else v)
        return Apply(self, [value, *dims], [TensorType(value.dtype, shape)])

    def perform(self, node, inputs):
        value, shape = inputs[0], tuple(int(d) for d in inputs[1:])
        lead, vtype = len(shape) - value.ndim, node.inputs[0].type
        if any(s < 0 for s in shape) or any(vtype.shape[d] != 1 and value.shape[d] != shape[lead + d]
                                            for d in range(value.ndim)):
            raise ShapeError(f"alloc: cannot broadcast {describe(node.inputs[0])} of shape {value.shape} "
                             f"to shape {shape} (only dimensions of static size 1 broadcast)")
        out = np.empty(shape, dtype=value.dtype)
        out[...] = value
        return [out]

    def L_op(self, inputs, outputs, output_grads):
        value, (gz,) = inputs[0], output_grads
        lead = gz.ndim - value.ndim
        axes = [d for d in range(gz.ndim) if gz.type.shape[d] != 1 and
                (d < lead or value.type.shape[d - lead] == 1)]
        if axes:
            gz = _sum(gz, axis=tuple(axes), keepdims=True)
        return [DimShuffle(gz.ndim, range(lead, gz.ndim))(gz)] + [None] * (len(inputs) - 1)

    def infer_shape(self, node, input_shapes):
        return [_static_shape(node, node.inputs[1:])]


def alloc(value, *shape):
    """``value`` broadcast to ``shape`` (ints or symbolic int scalars, or one sequence/vector)."""
    if len(shape) == 1 and (isinstance(shape[0], (list, tuple)) or getattr(shape[0], "ndim", 0) == 1):
        shape = _shape_scalars(shape[0], "alloc")
    return Alloc()(value, *shape)


def full(shape, fill_value, dtype=None):
    """NumPy's full: ``fill_value`` (maybe symbolic) broadcast to ``shape``."""
    value = as_tensor_variable(fill_value)
    if dtype is not None:
        value = cast(value, dtype)
    return Alloc()(value, *_shape_scalars(shape, "full"))


def zeros(shape, dtype=None):
    """Zeros of ``shape`` (ints, symbolic scalars or an int vector); dtype defaults to floatX."""
    return full(shape, constant(np.zeros((), dtype or config.floatX)))


def ones(shape, dtype=None):
    """Ones of ``shape``; dtype defaults to config.floatX."""
    return full(shape, constant(np.ones((), dtype or config.floatX)))


# ------------------------------------------------------------ ranges

class ARange(Op):
    """NumPy's ``arange(start, stop, step)`` over scalars that may be symbolic."""

    __props__ = ("dtype",)
    element_inputs = ()  # pure: evaluated when its inputs are known

    def __init__(self, dtype):
        self.dtype = np.dtype(dtype).name

    def make_node(self, start, stop, step):
        ins = [as_tensor_variable(v) for v in (start, stop, step)]
        for name, v in zip(("start", "stop", "step"), ins):
            if v.ndim != 0 or v.dtype[0] not in "iuf":
                raise ArignoteTypeError(f"arange: {name} must be a real number or a symbolic real scalar, "
                                        f"got {describe(v)} ({v.type})")
        values = [v.data.item() if isinstance(v, Constant) else static_int(v) for v in ins]
        if values[2] == 0:
            raise ArignoteValueError("arange: step must not be 0")
        length = None if None in values else _arange_length(*values)
        return Apply(self, ins, [TensorType(self.dtype, (length,))])

    def perform(self, node, inputs):
        start, stop, step = (v[()] for v in inputs)
        if step == 0:
            raise ArignoteValueError(f"arange: step {describe(node.inputs[2])} is 0")
        return [np.arange(start, stop, step, dtype=self.dtype)]

    def L_op(self, inputs, outputs, output_grads):
        if not outputs[0].type.is_float:
            return [None, None, None]
        (gz,) = output_grads
        taken = ARange(self.dtype)(0, shape_i(outputs[0], 0), 1)
        return [_sum(gz), None, _sum(gz * taken)]

    def infer_shape(self, node, input_shapes):
        start, stop, step = node.inputs
        if any(v.type.is_float for v in node.inputs):
            n = cast(ceil((cast(stop, "float64") - start) / step), "int64")
        else:
            n = -floor_div(cast(start, "int64") - stop, step)
        return [_static_shape(node, [maximum(n, 0)])]


def _arange_length(start, stop, step):
    if all(_is_int(v) for v in (start, stop, step)):
        return max(0, -((start - stop) // step))
    return max(0, math.ceil((stop - start) / step))


def arange(start, stop=None, step=1, dtype=None):
    """NumPy's arange; bounds may be symbolic scalars (``T.arange(x.shape[0])``).
    The dtype follows NumPy (int64 for ints, float64 for floats) unless given."""
    if stop is None:
        start, stop = 0, start
    ins = [as_tensor_variable(v) for v in (start, stop, step)]
    if dtype is None:
        samples = [type(v.data.item())(k) if getattr(v, "weak", False) else np.dtype(v.dtype).type(k)
                   for v, k in zip(ins, (0, 1, 1))]
        dtype = np.arange(*samples).dtype
    return ARange(dtype)(*ins)


__all__ = ["Repeat", "repeat", "tile", "Alloc", "alloc", "full", "zeros", "ones", "ARange", "arange"]
