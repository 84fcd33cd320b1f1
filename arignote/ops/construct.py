"""Ops that build new arrays from pieces and sizes: join/split (``concatenate``,
``stack``), ``repeat``, ``tile``, ``alloc`` (``zeros``, ``ones``, ``full``) and ``arange``.

Their shape arguments go through the same build-time analysis as the views
of :mod:`arignote.ops.shape` (which re-exports every name here), so
``T.zeros((x.shape[0], 3))`` has static shape ``(None, 3)`` and impossible
sizes fail when the graph is built.
"""
import math

import numpy as np

from arignote.errors import ArignoteTypeError, ArignoteValueError, ShapeError, describe
from arignote.graph.basic import Apply, Constant
from arignote.graph.op import Op
from arignote.graph.type import INT_DTYPES, TensorType, _fmt_shape
from arignote.ops.shape import (DimShuffle, _T, _fmt, _i64, _int_scalar, _int_vector, _is_int,
                                _norm_axis, _prod, _shape_entry, _shape_scalars, _static_shape,
                                expand_dims, flatten, reshape, shape_i, static_entries, static_int)
from arignote.tensor.basic import as_tensor_variable, constant


# ------------------------------------------------------------ joining and splitting

class Join(Op):
    """NumPy's ``concatenate`` along ``axis``; the dtype is promoted like NumPy's."""

    __props__ = ("axis",)
    element_inputs = "all"

    def __init__(self, axis):
        self.axis = int(axis)

    def make_node(self, *tensors):
        if not tensors:
            raise ArignoteValueError("join: need at least one tensor to join")
        tensors = [as_tensor_variable(t) for t in tensors]
        ndim = tensors[0].ndim
        for k, t in enumerate(tensors):
            if t.ndim != ndim:
                raise ShapeError(f"join: all inputs must have the same rank: input 0 "
                                 f"({describe(tensors[0])}) is {ndim}-d, input {k} ({describe(t)}) "
                                 f"is {t.ndim}-d")
        if ndim == 0:
            raise ShapeError("join: 0-d tensors cannot be concatenated; use stack")
        if not 0 <= self.axis < ndim:
            raise ArignoteValueError(f"join: axis {self.axis} is out of range for {ndim}-d inputs")
        shape = []
        for d in range(ndim):
            sizes = [t.type.shape[d] for t in tensors]
            known = {s for s in sizes if s is not None}
            if d == self.axis:
                shape.append(None if None in sizes else sum(sizes))
            elif len(known) > 1:
                raise ShapeError(f"join: input shapes {', '.join(_fmt_shape(t.type.shape) for t in tensors)} "
                                 f"differ in dimension {d} (only the join axis {self.axis} may differ)")
            else:
                shape.append(known.pop() if known else None)
        dtype = np.result_type(*[t.dtype for t in tensors])
        return Apply(self, tensors, [TensorType(dtype, shape)])

    def perform(self, node, inputs):
        for k, x in enumerate(inputs):
            bad = [d for d in range(x.ndim) if d != self.axis and x.shape[d] != inputs[0].shape[d]]
            if bad:
                raise ShapeError(f"join along axis {self.axis}: input {k} ({describe(node.inputs[k])}) "
                                 f"has shape {x.shape}, input 0 has {inputs[0].shape} (dimension "
                                 f"{bad[0]} differs)")
        out = np.concatenate(inputs, axis=self.axis)
        return [out.astype(node.outputs[0].dtype, copy=False)]

    def L_op(self, inputs, outputs, output_grads):
        sizes = [_shape_entry(x, self.axis) for x in inputs]
        parts = Split(len(inputs), self.axis)(output_grads[0], *sizes)
        parts = parts if isinstance(parts, list) else [parts]
        return [g if x.type.is_float or x.dtype.startswith("complex") else None
                for x, g in zip(inputs, parts)]

    def infer_shape(self, node, input_shapes):
        out = list(input_shapes[0])
        for s in input_shapes[1:]:
            out[self.axis] = _T().add(out[self.axis], s[self.axis])
        return [_static_shape(node, out)]


class Split(Op):
    """``x`` cut along ``axis`` into ``n`` consecutive pieces of the given sizes (views)."""

    __props__ = ("n", "axis")
    fusion_kind = "view"

    def __init__(self, n, axis):
        self.n, self.axis = int(n), int(axis)
        self.view_map = {k: [0] for k in range(self.n)}

    def make_node(self, x, *sizes):
        x = as_tensor_variable(x)
        if len(sizes) != self.n or not 0 <= self.axis < x.ndim:
            raise ArignoteValueError(f"{self}: expected {self.n} sizes and an input with more than "
                                     f"{self.axis} dimensions, got {len(sizes)} and {describe(x)} ({x.type})")
        sizes = [_int_scalar(s, "split", "a size") for s in sizes]
        known = [static_int(s) for s in sizes]
        total, given = x.type.shape[self.axis], sum(k for k in known if k is not None)
        if any(k is not None and k < 0 for k in known) or total is not None and (
                given > total or None not in known and given != total):
            raise ShapeError(f"split: sizes {_fmt(known)} do not split dimension {self.axis} of "
                             f"{describe(x)} ({x.type})")
        if known.count(None) == 1 and total is not None:
            known[known.index(None)] = total - given
        return Apply(self, [x, *sizes], [TensorType(x.dtype, x.type.shape[:self.axis] + (k,) +
                                                    x.type.shape[self.axis + 1:]) for k in known])

    def perform(self, node, inputs):
        x, sizes = inputs[0], [int(s) for s in inputs[1:]]
        if any(s < 0 for s in sizes) or sum(sizes) != x.shape[self.axis]:
            raise ShapeError(f"split: sizes {tuple(sizes)} do not add up to dimension {self.axis} of "
                             f"{describe(node.inputs[0])} (shape {x.shape})")
        return np.split(x, np.cumsum(sizes)[:-1], axis=self.axis)

    def L_op(self, inputs, outputs, output_grads):
        return [Join(self.axis)(*output_grads)] + [None] * self.n

    def infer_shape(self, node, input_shapes):
        out = []
        for o, size in zip(node.outputs, node.inputs[1:]):
            s = list(input_shapes[0])
            s[self.axis] = size
            out.append(tuple(v if st is None else _i64(st) for v, st in zip(s, o.type.shape)))
        return out


def split(x, splits_size, n_splits, axis=0):
    """Theano's split: ``x`` cut along ``axis`` into ``n_splits`` pieces of ``splits_size``."""
    x = as_tensor_variable(x)
    sizes = _shape_scalars(splits_size, "split")
    if len(sizes) != n_splits:
        raise ArignoteValueError(f"split: n_splits={n_splits} but {len(sizes)} sizes were given")
    out = Split(n_splits, _norm_axis(axis, x.ndim, "split", x))(x, *sizes)
    return out if isinstance(out, list) else [out]


def join(axis, *tensors):
    """Theano's join: ``tensors`` concatenated along ``axis``."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tensors[0]
    return concatenate(tensors, axis)


def concatenate(tensors, axis=0):
    """NumPy's concatenate (``axis=None`` flattens the inputs first)."""
    tensors = [as_tensor_variable(t) for t in tensors]
    if not tensors:
        raise ArignoteValueError("concatenate: need at least one tensor")
    if axis is None:
        tensors, axis = [flatten(t) for t in tensors], 0
    if tensors[0].ndim == 0:
        raise ShapeError(f"concatenate: 0-d tensors ({describe(tensors[0])}) cannot be "
                         f"concatenated; use stack")
    return Join(_norm_axis(axis, tensors[0].ndim, "concatenate", tensors[0]))(*tensors)


def stack(*tensors, axis=0):
    """NumPy's stack: ``stack([a, b], axis)``; Theano's ``stack(a, b)`` works too."""
    if len(tensors) in (1, 2) and isinstance(tensors[0], (list, tuple)):
        tensors, axis = tensors[0], (tensors[1] if len(tensors) == 2 else axis)
    tensors = [as_tensor_variable(t) for t in tensors]
    if not tensors:
        raise ArignoteValueError("stack: need at least one tensor")
    ndim = tensors[0].ndim
    for k, t in enumerate(tensors):
        if t.ndim != ndim:
            raise ShapeError(f"stack: all inputs must have the same rank: input 0 ({describe(tensors[0])}) "
                             f"is {ndim}-d, input {k} ({describe(t)}) is {t.ndim}-d")
    axis = _norm_axis(axis, ndim + 1, "stack", tensors[0])
    return Join(axis)(*[expand_dims(t, axis) for t in tensors])


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
        r = r if r.dtype == "int64" else _T().cast(r, "int64")
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
            out[self.axis] = _T().mul(out[self.axis], r if r.ndim == 0 else _T().sum(r))
        else:  # one repeat per element, or (unknown length 1) one for all
            total = _T().sum(r)
            out[self.axis] = total if r.type.shape[0] is not None else _T().switch(
                _T().eq(shape_i(r, 0), 1), _T().mul(out[self.axis], total), total)
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
            gz = _T().sum(gz, axis=tuple(axes), keepdims=True)
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
        value = _T().cast(value, dtype)
    return Alloc()(value, *_shape_scalars(shape, "full"))


def zeros(shape, dtype=None):
    """Zeros of ``shape`` (ints, symbolic scalars or an int vector); dtype defaults to floatX."""
    from arignote.config import config
    return full(shape, constant(np.zeros((), dtype or config.floatX)))


def ones(shape, dtype=None):
    """Ones of ``shape``; dtype defaults to config.floatX."""
    from arignote.config import config
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
        (gz,), T = output_grads, _T()
        taken = ARange(self.dtype)(0, shape_i(outputs[0], 0), 1)
        return [T.sum(gz), None, T.sum(gz * taken)]

    def infer_shape(self, node, input_shapes):
        T, (start, stop, step) = _T(), node.inputs
        if any(v.type.is_float for v in node.inputs):
            n = T.cast(T.ceil((T.cast(stop, "float64") - start) / step), "int64")
        else:
            n = -T.floor_div(T.cast(start, "int64") - stop, step)
        return [_static_shape(node, [T.maximum(n, 0)])]


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


__all__ = ["Join", "join", "concatenate", "stack", "Split", "split", "Repeat", "repeat", "tile",
           "Alloc", "alloc", "full", "zeros", "ones", "ARange", "arange"]
