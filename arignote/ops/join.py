"""Joining and splitting: ``Join`` (NumPy's concatenate) and its inverse ``Split``,
and ``stack``. A symbolic shape vector is a stack of int scalars, so the
functions that build one from a user's shape argument and read its entries
back live here too (:func:`_shape_scalars`, :func:`_int_vector`)."""
import numpy as np

from arignote.errors import ArignoteTypeError, ArignoteValueError, ShapeError, describe
from arignote.graph.basic import Apply, Constant, Variable
from arignote.graph.op import Op
from arignote.graph.type import INT_DTYPES, TensorType, _fmt_shape
from arignote.ops.basic import as_tensor_variable, constant
from arignote.ops.dimshuffle import DimShuffle, expand_dims
from arignote.ops.elemwise import add
from arignote.ops.shape_entries import _fmt, _int_scalar, _shape_entry, _static_shape
from arignote.ops.static_shape import Shape, _i64, _norm_axis, shape_i, static_int


def stacked(vec):
    """The 0-d values the vector ``vec`` stacks (``stack([a, b])``: a Join of ``a[None]``,
    ``b[None]``, or ``a[None]`` alone), or None if it is not built that way."""
    node = vec.owner
    if node is not None and node.op == DimShuffle(0, ("x",)):
        return [node.inputs[0]]
    if node is not None and isinstance(node.op, Join) and node.op.axis == 0 and all(
            i.owner is not None and i.owner.op == DimShuffle(0, ("x",)) for i in node.inputs):
        return [i.owner.inputs[0] for i in node.inputs]
    return None


def _vector_entries(vec, fn):
    """The entries of the int vector ``vec`` as int64 scalars, without indexing when possible."""
    node = vec.owner
    if isinstance(vec, Constant):
        return [_i64(e) for e in vec.data.tolist()]
    if node is not None and isinstance(node.op, Shape):
        return [shape_i(node.inputs[0], j) for j in range(node.inputs[0].ndim)]
    entries = stacked(vec)
    if entries is not None:
        return [_int_scalar(e, fn, "a shape entry") for e in entries]
    if vec.type.shape[0] is None:
        raise ArignoteValueError(f"{fn}: the length of the shape vector {describe(vec)} is not known "
                                 f"when the graph is built; pass a tuple of scalars")
    return [_int_scalar(vec[j], fn, "a shape entry") for j in range(vec.type.shape[0])]


def _shape_scalars(shape, fn):
    """A user's shape (int, sequence of ints / int scalars, int vector) as int64 scalars."""
    shape = shape.tolist() if isinstance(shape, np.ndarray) else shape
    if isinstance(shape, Variable) and shape.ndim == 1:
        if shape.dtype not in INT_DTYPES:
            raise ArignoteTypeError(f"{fn}: a shape vector holds ints, got {describe(shape)} ({shape.type})")
        return _vector_entries(shape, fn)
    if not isinstance(shape, (list, tuple)):
        shape = (shape,)
    return [_int_scalar(s, fn, f"shape entry {k}") for k, s in enumerate(shape)]


def _int_vector(scalars):
    """int64 scalars as one vector: a constant when they all are."""
    if all(isinstance(s, Constant) for s in scalars):
        return constant(np.array([s.data for s in scalars], dtype="int64"))
    return stack(scalars)


def _same_rank(tensors, fn):
    """The rank of ``tensors``, which must all have it (what ``fn`` joins)."""
    ndim = tensors[0].ndim
    for k, t in enumerate(tensors):
        if t.ndim != ndim:
            raise ShapeError(f"{fn}: all inputs must have the same rank: input 0 "
                             f"({describe(tensors[0])}) is {ndim}-d, input {k} ({describe(t)}) "
                             f"is {t.ndim}-d")
    return ndim


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
        ndim = _same_rank(tensors, "join")
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
            out[self.axis] = add(out[self.axis], s[self.axis])
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
        tensors, axis = [t.flatten() for t in tensors], 0  # (the method: reshape sits above)
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
    ndim = _same_rank(tensors, "stack")
    axis = _norm_axis(axis, ndim + 1, "stack", tensors[0])
    return Join(axis)(*[expand_dims(t, axis) for t in tensors])
