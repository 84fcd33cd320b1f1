"""Shape ops: the views that reshape and re-type a tensor (``Reshape``, ``SpecifyShape``,
``Unbroadcast``), and the one import path of every shape op.

The shape ops live in modules of one job each, all re-exported here:
:mod:`arignote.ops.shape_entries` (a shape's entries: ints or int64 scalars),
:mod:`arignote.ops.dimshuffle` (reordering axes), :mod:`arignote.ops.join`
(``Join``, ``Split``, ``stack``; a symbolic shape vector is a stack of int
scalars, so building and reading one lives there too) and this module. Reading
shapes (``Shape``, ``Shape_i``) lives in :mod:`arignote.ops.static_shape`, the
ops that build new arrays (repeat, alloc, arange) in :mod:`arignote.ops.construct`.
Shape arguments may be Python ints, symbolic int scalars (``x.shape[0]``) or
int vectors. What is known of them when the graph is built (constants, static
sizes, which ``x.shape[j]`` an entry is) comes from :func:`static_entries`, so
static shapes are as precise as possible and impossible shapes fail early.
"""
import math

from arignote.errors import ArignoteTypeError, ArignoteValueError, ShapeError, describe
from arignote.graph.basic import Apply, Variable
from arignote.graph.op import Op
from arignote.graph.type import INT_DTYPES, TensorType, _fmt_shape
from arignote.ops.basic import as_tensor_variable
from arignote.ops.dimshuffle import (DimShuffle, dimshuffle, expand_dims, shape_padaxis,  # noqa: F401
                                     shape_padleft, shape_padright, swapaxes, transpose)
from arignote.ops.elemwise import cast, eq, floor_div, switch
from arignote.ops.join import (Join, Split, _int_vector, _shape_scalars, concatenate, join,  # noqa: F401
                               split, stack)
from arignote.ops.shape_entries import (_fmt, _int_scalar, _norm_axes, _prod, _shape_entry,  # noqa: F401
                                        _static_shape)
from arignote.ops.static_shape import (Shape, Shape_i, _i64, _is_int, _norm_axis, shape,  # noqa: F401
                                       shape_i, static_entries, static_int)  # (re-exported: T.shape...)


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


__all__ = ["Shape", "Shape_i", "shape", "shape_i", "DimShuffle", "dimshuffle", "Reshape", "reshape",
           "flatten", "transpose", "swapaxes", "expand_dims", "shape_padleft", "shape_padright",
           "shape_padaxis", "squeeze", "SpecifyShape", "specify_shape", "Unbroadcast", "addbroadcast",
           "unbroadcast", "patternbroadcast", "static_int", "Join", "join", "concatenate", "stack",
           "Split", "split"]
