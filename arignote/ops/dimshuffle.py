"""``DimShuffle``: the view that reorders a tensor's axes, drops size-1 ones and
inserts new ones, and the functions built on it (``transpose``, ``swapaxes``,
``expand_dims``, ``shape_pad*``)."""
import numpy as np

from arignote.errors import ArignoteTypeError, ArignoteValueError, describe
from arignote.graph.basic import Apply
from arignote.graph.op import Op
from arignote.graph.type import TensorType, _fmt_shape
from arignote.ops.basic import as_tensor_variable
from arignote.ops.shape_entries import _norm_axes
from arignote.ops.static_shape import _i64, _is_int, _norm_axis


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
