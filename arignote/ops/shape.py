"""Shape ops: the views that reshape, reorder and re-type a tensor, and join/split.

``DimShuffle``, ``Reshape``, ``SpecifyShape``, ``Unbroadcast`` and ``Split``
re-describe their input's elements (views); ``Join`` is split's inverse and
``stack`` of int scalars is how a symbolic shape vector is built, which is why
they live here, next to the shape arguments that read them. Reading shapes
(``Shape``, ``Shape_i``) lives in :mod:`arignote.ops.static_shape`, the ops
that build new arrays (repeat, alloc, arange) in :mod:`arignote.ops.construct`.
Shape arguments may be Python ints, symbolic int scalars (``x.shape[0]``) or
int vectors. What is known of them when the graph is built (constants, static
sizes, which ``x.shape[j]`` an entry is) comes from :func:`static_entries`, so
static shapes are as precise as possible and impossible shapes fail early.
"""
import math

import numpy as np

from arignote.errors import ArignoteTypeError, ArignoteValueError, ShapeError, describe
from arignote.graph.basic import Apply, Constant, Variable
from arignote.graph.op import Op
from arignote.graph.type import INT_DTYPES, TensorType, _fmt_shape
from arignote.ops.basic import as_tensor_variable, constant
from arignote.ops.elemwise import add, cast, eq, floor_div, mul, switch
from arignote.ops.static_shape import (Shape, Shape_i, _i64, _is_int, _norm_axis, shape,  # noqa: F401
                                       shape_i, static_entries, static_int)  # (re-exported: T.shape...)


def _fmt(entries):
    return _fmt_shape([e if isinstance(e, int) else None for e in entries])


# ------------------------------------------------------------ shape arguments

def _int_scalar(v, fn, what):
    """``v`` (an int or a symbolic int scalar) as an int64 scalar variable."""
    if _is_int(v):
        return _i64(v)
    var = as_tensor_variable(v) if not isinstance(v, (bool, np.bool_)) else None
    if var is None or var.ndim != 0 or var.dtype not in INT_DTYPES:
        got = f"{describe(var)} ({var.type})" if var is not None else repr(v)
        raise ArignoteTypeError(f"{fn}: {what} must be an int or a symbolic int scalar, got {got}")
    if isinstance(var, Constant):
        return _i64(var.data)
    return var if var.dtype == "int64" else cast(var, "int64")


def _vector_entries(vec, fn):
    """The entries of the int vector ``vec`` as int64 scalars, without indexing when possible."""
    node = vec.owner
    if isinstance(vec, Constant):
        return [_i64(e) for e in vec.data.tolist()]
    if node is not None and isinstance(node.op, Shape):
        return [shape_i(node.inputs[0], j) for j in range(node.inputs[0].ndim)]
    if node is not None and isinstance(node.op, Join) and node.op.axis == 0 and all(
            i.owner is not None and i.owner.op == DimShuffle(0, ("x",)) for i in node.inputs):
        return [_int_scalar(i.owner.inputs[0], fn, "a shape entry") for i in node.inputs]
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


def _shape_entry(x, j):
    """x.shape[j]: an int when static, else a symbolic scalar."""
    s = x.type.shape[j]
    return s if s is not None else shape_i(x, j)


def _prod(values):
    ints = math.prod(v for v in values if _is_int(v))
    syms = [v for v in values if not _is_int(v)]
    out = ints if not syms or ints != 1 else syms.pop()
    for s in syms:
        out = mul(out, s)
    return out


def _norm_axes(axis, ndim, fn, x):
    axes = [_norm_axis(a, ndim, fn, x) for a in (axis if isinstance(axis, (list, tuple)) else [axis])]
    if len(set(axes)) != len(axes):
        raise ArignoteValueError(f"{fn}: axis {axis!r} repeats a dimension of {describe(x)}")
    return axes


def _static_shape(node, shape):
    """``shape`` (symbolic scalars) with the output's static sizes as constants."""
    return tuple(s if st is None else _i64(st) for s, st in zip(shape, node.outputs[0].type.shape))


# ------------------------------------------------------------ views

class DimShuffle(Op):
    """Reorder dimensions: ``new_order`` lists input axes and 'x' (new size-1 axes).

    Input axes left out must be broadcastable (static size 1).
    """

    __props__ = ("input_ndim", "new_order")
    fusion_kind = "view"
    view_map = {0: [0]}

    def __init__(self, input_ndim, new_order):
        self.input_ndim = int(input_ndim)
        self.new_order = tuple(o if o == "x" else int(o) for o in new_order)
        axes = [o for o in self.new_order if o != "x"]
        if len(set(axes)) != len(axes) or any(not 0 <= a < self.input_ndim for a in axes):
            raise ArignoteValueError(
                f"dimshuffle{self.new_order}: each input axis (0..{self.input_ndim - 1}) may "
                f"appear at most once; 'x' inserts a new axis")
        self.drop = tuple(a for a in range(self.input_ndim) if a not in axes)

    def __str__(self):
        return f"DimShuffle{{{','.join(map(str, self.new_order))}}}"

    def make_node(self, x):
        x = as_tensor_variable(x)
        if x.ndim != self.input_ndim:
            raise ArignoteTypeError(f"{self} expects a {self.input_ndim}-d input, got {describe(x)} "
                                    f"with {x.ndim} dimensions")
        for a in self.drop:
            if x.type.shape[a] != 1:
                raise ArignoteValueError(
                    f"{self}: cannot drop dimension {a} of {describe(x)} (static shape "
                    f"{_fmt_shape(x.type.shape)}): only dimensions of static size 1 can be dropped")
        shape = tuple(1 if o == "x" else x.type.shape[o] for o in self.new_order)
        return Apply(self, [x], [TensorType(x.dtype, shape)])

    def perform(self, node, inputs):
        (x,) = inputs
        y = np.squeeze(x, axis=self.drop) if self.drop else x
        kept = [o - sum(d < o for d in self.drop) for o in self.new_order if o != "x"]
        y = np.transpose(y, kept)
        new_axes = tuple(i for i, o in enumerate(self.new_order) if o == "x")
        return [np.expand_dims(y, new_axes) if new_axes else y]

    def L_op(self, inputs, outputs, output_grads):
        (gz,) = output_grads
        # sum over inserted axes (unless statically size 1), then drop them
        summed = tuple(i for i, o in enumerate(self.new_order) if o == "x" and gz.type.shape[i] != 1)
        if summed:
            gz = gz.sum(axis=summed, keepdims=True)  # (reduce sits above: the method reaches it)
        order = ["x" if a in self.drop else self.new_order.index(a) for a in range(self.input_ndim)]
        return [DimShuffle(len(self.new_order), order)(gz)]

    def infer_shape(self, node, input_shapes):
        (shape,) = input_shapes
        return [tuple(_i64(1) if o == "x" else shape[o] for o in self.new_order)]


def dimshuffle(x, *pattern):
    """Theano's ``x.dimshuffle(1, 'x', 0)``: permute axes, 'x' inserts a size-1 axis."""
    x = as_tensor_variable(x)
    if len(pattern) == 1 and isinstance(pattern[0], (list, tuple)):
        pattern = pattern[0]
    return DimShuffle(x.ndim, pattern)(x)


class Reshape(Op):
    """``x`` with the ``ndim``-d shape held by an int vector (one entry may be -1: inferred)."""

    __props__ = ("ndim",)
    fusion_kind = "view"
    view_map = {0: [0]}

    def __init__(self, ndim):
        self.ndim = int(ndim)

    def make_node(self, x, shp):
        x, shp = as_tensor_variable(x), as_tensor_variable(shp)
        if shp.ndim != 1 or shp.dtype not in INT_DTYPES or shp.type.shape[0] not in (None, self.ndim):
            raise ArignoteTypeError(f"{self}: the new shape must be an int vector of length {self.ndim}, "
                                    f"got {describe(shp)} ({shp.type})")
        if shp.dtype != "int64":
            shp = cast(shp, "int64")
        entries = static_entries(shp)
        entries = [None] * self.ndim if entries is None else list(entries)
        return Apply(self, [x, shp], [TensorType(x.dtype, _reshape_static(x, entries))])

    def perform(self, node, inputs):
        x, shp = inputs
        shp = tuple(int(s) for s in shp)
        known = [s for s in shp if s != -1]
        size = math.prod(known)
        what = f"reshape: cannot reshape {describe(node.inputs[0])} of shape {x.shape} (size {x.size})"
        if len(shp) != self.ndim:
            raise ShapeError(f"{what} into shape {shp}: expected {self.ndim} entries")
        if any(s < -1 for s in shp) or len(shp) - len(known) > 1:
            raise ShapeError(f"{what} into shape {shp}: entries must be >= 0, with at most one -1")
        if len(known) == len(shp) and size != x.size:
            raise ShapeError(f"{what} into shape {shp} (size {size})")
        if len(known) < len(shp) and (size == 0 or x.size % size):
            raise ShapeError(f"{what} into shape {shp}: the -1 entry cannot be inferred "
                             f"({x.size} is not a multiple of {size})")
        return [x.reshape(shp)]

    def L_op(self, inputs, outputs, output_grads):
        return [reshape(output_grads[0], shape(inputs[0])), None]

    def infer_shape(self, node, input_shapes):
        x, shp = node.inputs
        entries = static_entries(shp)
        entries = [None] * self.ndim if entries is None else list(entries)
        dims = [_i64(e) if _is_int(e) and e >= 0 else shape_i(e[1], e[2]) if isinstance(e, tuple)
                else shp[i] for i, e in enumerate(entries)]
        out = []
        for i, (e, d) in enumerate(zip(entries, dims)):
            if not (_is_int(e) and e >= 0) and not isinstance(e, tuple):  # may be -1
                size, others = _prod(list(input_shapes[0])), _prod(dims[:i] + dims[i + 1:])
                d = switch(eq(d, -1), floor_div(size, others), d)
            out.append(d)
        return [_static_shape(node, out)]


def _reshape_static(x, entries):
    """The static shape of ``x`` reshaped to ``entries``; raises when no size can fit."""
    ints = [e for e in entries if _is_int(e)]
    if any(e < -1 for e in ints) or ints.count(-1) > 1:
        raise ShapeError(f"reshape: the new shape {tuple(entries)} of {describe(x)} must hold "
                         f"sizes >= 0 and at most one -1")
    rest = [("dim", x, j) for j, s in enumerate(x.type.shape) if s is None]
    size = math.prod(s for s in x.type.shape if s is not None)
    known, free, matched = 1, [], False
    for i, e in enumerate(entries):
        if _is_int(e) and e >= 0:
            known *= e
        elif isinstance(e, tuple) and e in rest:  # x.shape[j] cancels out of both sizes
            rest.remove(e)
            matched = True
        else:
            free.append(i)
    shape = [e if _is_int(e) and e >= 0 else None for e in entries]
    desc = f"reshape: cannot reshape {describe(x)} ({x.type}, size {size if not rest else '?'})"
    if not rest and not free and size != known:
        raise ShapeError(f"{desc} into shape {_fmt(entries)} (size {known})")
    if not rest and len(free) == 1 and (entries[free[0]] == -1 or not matched):
        if known == 0 and entries[free[0]] == -1:
            raise ShapeError(f"{desc} into shape {_fmt(entries)}: -1 cannot be inferred when the "
                             f"other sizes multiply to 0")
        if known and size % known:
            raise ShapeError(f"{desc} into shape {_fmt(entries)}: {size} is not a multiple of {known}")
        if known:
            shape[free[0]] = size // known
    return tuple(shape)


def reshape(x, newshape, *more, ndim=None):
    """NumPy's reshape: ``newshape`` holds ints and symbolic int scalars (one may be -1),
    or is a symbolic int vector (give ``ndim`` when its length is not static).
    ``x.reshape(2, 3)`` works like NumPy; ``reshape(x, shp, 2)`` like Theano."""
    x = as_tensor_variable(x)
    if more and (len(more) > 1 or _is_int(newshape) or getattr(newshape, "ndim", 1) == 0):
        newshape = (newshape, *more)
    elif more:
        ndim = more[0]
    if isinstance(newshape, Variable) and newshape.ndim == 1:
        shp = newshape
    else:
        shp = _int_vector(_shape_scalars(newshape, "reshape"))
    length = shp.type.shape[0]
    if ndim is None and length is None:
        raise ArignoteValueError(f"reshape: the length of {describe(shp)} is not known when the graph "
                                 f"is built; pass ndim=")
    if ndim is not None and length is not None and ndim != length:
        raise ArignoteValueError(f"reshape: ndim={ndim} but the new shape {describe(shp)} has "
                                 f"{length} entries")
    return Reshape(length if ndim is None else ndim)(x, shp)


def flatten(x, ndim=1, outdim=None):
    """Theano's flatten: keep the first ``ndim - 1`` dimensions, flatten the rest into one."""
    x = as_tensor_variable(x)
    ndim = ndim if outdim is None else outdim
    if not _is_int(ndim) or ndim < 1 or (ndim > 1 and ndim > x.ndim):
        raise ArignoteValueError(f"flatten: ndim must be in 1..{max(x.ndim, 1)} for {describe(x)} "
                                 f"({x.type}), got {ndim!r}")
    if ndim == 1:
        return reshape(x, (-1,))
    dims = [_shape_entry(x, j) for j in range(x.ndim)]
    return reshape(x, dims[:ndim - 1] + [_prod(dims[ndim - 1:])])


def transpose(x, axes=None, *more):
    """Permute the axes of ``x`` (reversed when ``axes`` is None); ``x.T``."""
    x = as_tensor_variable(x)
    axes = (axes, *more) if more else (axes,) if _is_int(axes) else axes
    if axes is None:
        return DimShuffle(x.ndim, tuple(reversed(range(x.ndim))))(x)
    perm = _norm_axes(axes, x.ndim, "transpose", x) if isinstance(axes, (list, tuple)) else None
    if perm is None or len(perm) != x.ndim:
        raise ArignoteValueError(f"transpose: axes {axes!r} are not a permutation of the "
                                 f"{x.ndim} axes of {describe(x)}")
    return DimShuffle(x.ndim, perm)(x)


def swapaxes(x, axis1, axis2):
    """``x`` with two axes exchanged (a view), as NumPy's ``swapaxes``."""
    x = as_tensor_variable(x)
    a, b = _norm_axis(axis1, x.ndim, "swapaxes", x), _norm_axis(axis2, x.ndim, "swapaxes", x)
    perm = list(range(x.ndim))
    perm[a], perm[b] = b, a
    return DimShuffle(x.ndim, perm)(x)


def expand_dims(x, axis):
    """NumPy's expand_dims: new size-1 axes at ``axis`` (an int or a tuple) of the result."""
    x = as_tensor_variable(x)
    n = len(axis) if isinstance(axis, (list, tuple)) else 1
    axes = _norm_axes(axis, x.ndim + n, "expand_dims", x)
    kept = iter(range(x.ndim))
    return DimShuffle(x.ndim, ["x" if d in axes else next(kept) for d in range(x.ndim + n)])(x)


def shape_padleft(x, n_ones=1):
    """``x`` with ``n_ones`` broadcastable axes added in front."""
    return expand_dims(x, tuple(range(n_ones)))


def shape_padright(x, n_ones=1):
    """``x`` with ``n_ones`` broadcastable axes added at the end."""
    return expand_dims(x, tuple(range(-n_ones, 0)))


def shape_padaxis(x, axis):
    """``x`` with a broadcastable axis inserted at ``axis``."""
    return expand_dims(x, axis)


def squeeze(x, axis=None):
    """Drop size-1 axes: with ``axis`` None the statically size-1 ones (Theano); an
    explicit axis must be size 1 (checked at run time when not static)."""
    x = as_tensor_variable(x)
    if axis is None:
        axes = [d for d, s in enumerate(x.type.shape) if s == 1]
    else:
        axes = _norm_axes(axis, x.ndim, "squeeze", x)
        for d in axes:
            if x.type.shape[d] not in (1, None):
                raise ShapeError(f"squeeze: cannot squeeze axis {d} of {describe(x)} ({x.type}): "
                                 f"its size is {x.type.shape[d]}, not 1")
        if any(x.type.shape[d] is None for d in axes):
            x = specify_shape(x, [1 if d in axes else None for d in range(x.ndim)])
    return DimShuffle(x.ndim, [d for d in range(x.ndim) if d not in axes])(x)


class SpecifyShape(Op):
    """``x`` unchanged, asserting at run time the sizes given for the dims where ``pattern``
    is True; the output's static shape holds the sizes known when the graph is built."""

    __props__ = ("pattern",)
    fusion_kind = "view"
    view_map = {0: [0]}

    def __init__(self, pattern):
        self.pattern = tuple(bool(p) for p in pattern)

    def make_node(self, x, *dims):
        x = as_tensor_variable(x)
        if x.ndim != len(self.pattern) or len(dims) != sum(self.pattern):
            raise ArignoteTypeError(f"{self}: expected a {len(self.pattern)}-d input and "
                                    f"{sum(self.pattern)} sizes, got {describe(x)} ({x.type}), {len(dims)}")
        dims = [_int_scalar(d, "specify_shape", "a size") for d in dims]
        given = iter(static_int(d) for d in dims)
        shape = [next(given) if p else None for p in self.pattern]
        for d, (s, xs) in enumerate(zip(shape, x.type.shape)):
            if s is not None and (s < 0 or xs not in (None, s)):
                raise ShapeError(f"specify_shape: {describe(x)} has static shape {_fmt_shape(x.type.shape)} "
                                 f"but shape {_fmt(shape)} was specified (dimension {d})")
        out = tuple(xs if s is None else s for s, xs in zip(shape, x.type.shape))
        return Apply(self, [x, *dims], [TensorType(x.dtype, out)])

    def perform(self, node, inputs):
        x, dims = inputs[0], iter(int(d) for d in inputs[1:])
        expected = tuple(next(dims) if p else None for p in self.pattern)
        if any(e is not None and e != s for e, s in zip(expected, x.shape)):
            raise ShapeError(f"specify_shape: {describe(node.inputs[0])} has shape {x.shape}, "
                             f"expected {_fmt_shape(expected)}")
        return [x]

    def L_op(self, inputs, outputs, output_grads):
        return [output_grads[0]] + [None] * (len(inputs) - 1)

    def infer_shape(self, node, input_shapes):
        dims = iter(node.inputs[1:])
        return [_static_shape(node, [next(dims) if p else s for p, s in zip(self.pattern, input_shapes[0])])]


def specify_shape(x, shape):
    """Assert ``x``'s shape (ints, symbolic scalars or None for any size) at run time."""
    x = as_tensor_variable(x)
    if isinstance(shape, Variable) and shape.ndim == 1:
        shape = _shape_scalars(shape, "specify_shape")
    shape = list(shape) if isinstance(shape, (list, tuple)) else [shape]
    if len(shape) != x.ndim:
        raise ArignoteValueError(f"specify_shape: {describe(x)} has {x.ndim} dimension(s), got a "
                                 f"shape of length {len(shape)}")
    if all(s is None for s in shape):
        return x
    return SpecifyShape([s is not None for s in shape])(x, *[s for s in shape if s is not None])


class Unbroadcast(Op):
    """``x`` unchanged, with the static size-1 dims in ``axes`` made unknown (not broadcastable)."""

    __props__ = ("axes",)
    fusion_kind = "view"
    view_map = {0: [0]}

    def __init__(self, axes):
        self.axes = tuple(sorted(int(a) for a in axes))

    def make_node(self, x):
        x = as_tensor_variable(x)
        if any(not 0 <= a < x.ndim for a in self.axes):
            raise ArignoteValueError(f"{self}: axes out of range for {describe(x)} ({x.type})")
        shape = tuple(None if d in self.axes and s == 1 else s for d, s in enumerate(x.type.shape))
        return Apply(self, [x], [TensorType(x.dtype, shape)])

    def perform(self, node, inputs):
        return [inputs[0]]

    def L_op(self, inputs, outputs, output_grads):
        return [addbroadcast(output_grads[0], *[a for a in self.axes if inputs[0].type.shape[a] == 1])]

    def infer_shape(self, node, input_shapes):
        return [_static_shape(node, input_shapes[0])]


def addbroadcast(x, *axes):
    """Make ``axes`` of ``x`` broadcastable (static size 1), checked at run time."""
    x = as_tensor_variable(x)
    axes = _norm_axes(list(axes), x.ndim, "addbroadcast", x)
    if all(x.type.shape[a] == 1 for a in axes):
        return x
    return specify_shape(x, [1 if d in axes else None for d in range(x.ndim)])


def unbroadcast(x, *axes):
    """Make ``axes`` of ``x`` not broadcastable (their static size 1 becomes unknown)."""
    x = as_tensor_variable(x)
    axes = [a for a in _norm_axes(list(axes), x.ndim, "unbroadcast", x) if x.type.shape[a] == 1]
    return Unbroadcast(axes)(x) if axes else x


def patternbroadcast(x, broadcastable):
    """Give ``x`` the broadcastable pattern ``broadcastable`` (a tuple of bools)."""
    x = as_tensor_variable(x)
    if len(broadcastable) != x.ndim:
        raise ArignoteValueError(f"patternbroadcast: {describe(x)} has {x.ndim} dimension(s), got "
                                 f"the pattern {tuple(broadcastable)}")
    x = addbroadcast(x, *[d for d, b in enumerate(broadcastable) if b])
    return unbroadcast(x, *[d for d, b in enumerate(broadcastable) if not b])


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


__all__ = ["Shape", "Shape_i", "shape", "shape_i", "DimShuffle", "dimshuffle", "Reshape", "reshape",
           "flatten", "transpose", "swapaxes", "expand_dims", "shape_padleft", "shape_padright",
           "shape_padaxis", "squeeze", "SpecifyShape", "specify_shape", "Unbroadcast", "addbroadcast",
           "unbroadcast", "patternbroadcast", "static_int", "Join", "join", "concatenate", "stack",
           "Split", "split"]
