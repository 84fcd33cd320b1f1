"""Shape ops: reading shapes, reordering and broadcasting dimensions.

``DimShuffle`` is a view: it permutes dimensions, drops broadcastable ones and
inserts new broadcastable ones ('x').
"""
import numpy as np

from arignote.errors import ArignoteTypeError, ArignoteValueError, describe
from arignote.graph.basic import Apply
from arignote.graph.op import Op
from arignote.graph.type import TensorType
from arignote.tensor.basic import as_tensor_variable, constant


def _T():
    import arignote.tensor as T
    return T


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
                    f"{x.type.shape}): only dimensions of static size 1 can be dropped")
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
            gz = _T().sum(gz, axis=summed, keepdims=True)
        order = ["x" if a in self.drop else self.new_order.index(a) for a in range(self.input_ndim)]
        return [DimShuffle(len(self.new_order), order)(gz)]

    def infer_shape(self, node, input_shapes):
        (shape,) = input_shapes
        one = constant(np.int64(1))
        return [tuple(one if o == "x" else shape[o] for o in self.new_order)]


def dimshuffle(x, *pattern):
    """Theano's ``x.dimshuffle(1, 'x', 0)``: permute axes, 'x' inserts a size-1 axis."""
    x = as_tensor_variable(x)
    if len(pattern) == 1 and isinstance(pattern[0], (list, tuple)):
        pattern = pattern[0]
    return DimShuffle(x.ndim, pattern)(x)


class Shape(Op):
    """The shape of a tensor as an int64 vector."""

    fusion_kind = "opaque"

    def make_node(self, x):
        x = as_tensor_variable(x)
        return Apply(self, [x], [TensorType("int64", (x.ndim,))])

    def perform(self, node, inputs):
        return [np.asarray(inputs[0].shape, dtype="int64")]

    def L_op(self, inputs, outputs, output_grads):
        return [None]

    def infer_shape(self, node, input_shapes):
        return [(constant(np.int64(node.inputs[0].ndim)),)]


def shape(x):
    """The symbolic shape of ``x`` (an int64 vector); ``x.shape[0]`` is a scalar."""
    return Shape()(as_tensor_variable(x))


__all__ = ["DimShuffle", "dimshuffle", "Shape", "shape"]
