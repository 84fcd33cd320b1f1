"""Theano's ``extra_ops``: running sums and products, differences, counting,
one-hot rows and diagonals.

``cumsum``/``cumprod`` and ``bincount`` are ops of their own (a scan along an
axis and a scatter-add: neither is elementwise); ``diff``, ``to_one_hot`` and
``fill_diagonal`` are built from slicing and elementwise ops, so they fuse and
their gradients come from those ops. ``repeat`` and ``squeeze`` are
:mod:`arignote.ops.construct`'s and :mod:`arignote.ops.shape`'s.
"""
import numpy as np

from arignote.config import config
from arignote.errors import ArignoteTypeError, ArignoteValueError, describe
from arignote.graph.basic import Apply
from arignote.graph.op import Op
from arignote.graph.type import INT_DTYPES, TensorType
from arignote.ops.basic import as_tensor_variable
from arignote.ops.construct import arange, repeat
from arignote.ops.elemwise import add, cast, eq, maximum, mul, switch, true_divide
from arignote.ops.indexing import getitem
from arignote.ops.reduce import max as _max
from arignote.ops.shape import _norm_axis, dimshuffle, flatten, shape_i, squeeze


def _along(x, axis, index):
    """``x[..., index, ...]`` with ``index`` (a slice) on ``axis``."""
    return getitem(x, (slice(None),) * axis + (index,))


def _reversed(x, axis):
    return _along(x, axis, slice(None, None, -1))


# ------------------------------------------------------------ running sums and products

class CumOp(Op):
    """NumPy's ``cumsum`` (``mode='add'``) or ``cumprod`` (``'mul'``) along ``axis``;
    the output dtype is NumPy's for the input's."""

    __props__ = ("axis", "mode")
    _numpy = {"add": np.cumsum, "mul": np.cumprod}

    def __init__(self, axis, mode="add"):
        if mode not in self._numpy:
            raise ArignoteValueError(f"CumOp: mode must be 'add' or 'mul', got {mode!r}")
        self.axis, self.mode = int(axis), mode

    def __str__(self):
        return f"{'CumSum' if self.mode == 'add' else 'CumProd'}{{axis={self.axis}}}"

    def make_node(self, x):
        x = as_tensor_variable(x)
        if not 0 <= self.axis < x.ndim:
            raise ArignoteValueError(f"{self}: axis {self.axis} is out of range for {describe(x)} "
                                     f"({x.type})")
        dtype = self._numpy[self.mode](np.zeros(1, dtype=x.dtype)).dtype
        return Apply(self, [x], [TensorType(dtype, x.type.shape)])

    def perform(self, node, inputs):
        return [self._numpy[self.mode](inputs[0], axis=self.axis)]

    def L_op(self, inputs, outputs, output_grads):
        (x,), (out,), (gz,) = inputs, outputs, output_grads
        if self.mode == "add":  # each input reaches every later output: a reversed running sum
            return [_reversed(CumOp(self.axis)(_reversed(gz, self.axis)), self.axis)]
        # Theano's formula: d out_j / d x_i = out_j / x_i for j >= i (not defined where x is 0)
        back = _reversed(CumOp(self.axis)(_reversed(mul(out, gz), self.axis)), self.axis)
        return [true_divide(back, x)]

    def infer_shape(self, node, input_shapes):
        return [input_shapes[0]]


def _cum(x, axis, mode):
    x = as_tensor_variable(x)
    if axis is None:
        x, axis = flatten(x), 0
    return CumOp(_norm_axis(axis, x.ndim, "cumsum" if mode == "add" else "cumprod", x), mode)(x)


def cumsum(x, axis=None):
    """Running sums along ``axis`` (None: over the flattened input), as NumPy's ``cumsum``."""
    return _cum(x, axis, "add")


def cumprod(x, axis=None):
    """Running products along ``axis`` (None: flattened), as NumPy's ``cumprod``. Its
    gradient is Theano's (``out / x``): not defined where ``x`` is 0."""
    return _cum(x, axis, "mul")


def diff(x, n=1, axis=-1):
    """The ``n``-th difference along ``axis``, as NumPy's ``diff``: ``x[1:] - x[:-1]``,
    ``n`` times."""
    x = as_tensor_variable(x)
    axis = _norm_axis(axis, x.ndim, "diff", x)
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 0:
        raise ArignoteValueError(f"diff: n must be an int >= 0, got {n!r}")
    for _ in range(n):
        x = _along(x, axis, slice(1, None)) - _along(x, axis, slice(None, -1))
    return x


# ------------------------------------------------------------ counting

class BinCount(Op):
    """NumPy's ``bincount`` of a vector of non-negative ints, at least ``minlength``
    long: counts (int64) or, given weights, sums of the weights (in their dtype,
    as Theano gave)."""

    __props__ = ("minlength",)

    def __init__(self, minlength=0):
        self.minlength = int(minlength)

    def make_node(self, x, weights=None):
        x = as_tensor_variable(x)
        if x.ndim != 1 or x.dtype not in INT_DTYPES:
            raise ArignoteTypeError(f"bincount: x must be a vector of ints, got {describe(x)} ({x.type})")
        inputs, dtype = [x], "int64"
        if weights is not None:
            weights = as_tensor_variable(weights)
            if weights.ndim != 1:
                raise ArignoteTypeError(f"bincount: weights must be a vector, got {describe(weights)} "
                                        f"({weights.type})")
            inputs.append(weights)
            dtype = weights.dtype
        return Apply(self, inputs, [TensorType(dtype, (None,))])

    def perform(self, node, inputs):
        x, weights = inputs[0], inputs[1] if len(inputs) > 1 else None
        if weights is not None and weights.shape != x.shape:
            raise ArignoteValueError(f"bincount: {len(weights)} weights for {len(x)} values of "
                                     f"{describe(node.inputs[0])}")
        if x.size and x.min() < 0:
            raise ArignoteValueError(f"bincount: {describe(node.inputs[0])} holds a negative value "
                                     f"({x.min()}); only counts of non-negative ints are defined")
        out = np.bincount(x, weights, minlength=self.minlength)
        return [out.astype(node.outputs[0].dtype, copy=False)]

    def L_op(self, inputs, outputs, output_grads):
        (gz,) = output_grads
        if len(inputs) == 1:
            return [None]
        return [None, getitem(gz, inputs[0])]  # each weight went to bin x[i]

    def infer_shape(self, node, input_shapes):
        top = add(_max(node.inputs[0], initial=-1), 1)  # (an empty x: length minlength)
        return [(maximum(cast(top, "int64"), self.minlength),)]


def bincount(x, weights=None, minlength=None, assert_nonneg=False):
    """How often each value of the int vector ``x`` occurs (or the sums of ``weights``
    by value), at least ``minlength`` long. Negative values are always an error
    (``assert_nonneg`` is Theano's switch for that check, accepted for its code)."""
    op = BinCount(minlength or 0)
    return op(x) if weights is None else op(x, weights)


def to_one_hot(y, nb_class, dtype=None):
    """The int vector ``y`` as rows of ``nb_class`` entries, 1 at ``y[i]`` and 0
    elsewhere, of ``dtype`` (default ``config.floatX``)."""
    y = as_tensor_variable(y)
    if y.ndim != 1 or y.dtype not in INT_DTYPES:
        raise ArignoteTypeError(f"to_one_hot: y must be a vector of ints, got {describe(y)} ({y.type})")
    hot = eq(dimshuffle(y, 0, "x"), dimshuffle(arange(nb_class), "x", 0))
    return cast(hot, dtype or config.floatX)


# ------------------------------------------------------------ diagonals

def fill_diagonal_offset(a, val, offset):
    """The matrix ``a`` with ``a[i, i + offset]`` set to the scalar ``val`` (cast to
    ``a``'s dtype)."""
    a = as_tensor_variable(a)
    if a.ndim != 2:
        raise ArignoteValueError(f"fill_diagonal: a must be a matrix, got {describe(a)} ({a.type})")
    val = as_tensor_variable(val)
    if val.ndim != 0:
        raise ArignoteValueError(f"fill_diagonal: val must be a scalar, got {describe(val)} ({val.type})")
    rows = dimshuffle(arange(shape_i(a, 0)), 0, "x")
    cols = dimshuffle(arange(shape_i(a, 1)), "x", 0)
    return switch(eq(cols - rows, offset), cast(val, a.dtype), a)


def fill_diagonal(a, val):
    """The matrix ``a`` with its main diagonal set to the scalar ``val``."""
    return fill_diagonal_offset(a, val, 0)


__all__ = ["CumOp", "cumsum", "cumprod", "diff", "BinCount", "bincount", "to_one_hot", "fill_diagonal",
           "fill_diagonal_offset", "repeat", "squeeze"]
