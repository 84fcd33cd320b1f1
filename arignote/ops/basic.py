"""Conversion of user values to tensor variables: ``constant`` and ``as_tensor_variable``.

Every op's ``make_node`` starts here, so this module sits below every op
family. It builds constants through ``TensorType.constant_class``: the class
(with its operators) is defined at the top of this layer, in
:mod:`arignote.ops.variable`, because its methods need every op family.
"""
import numpy as np

from arignote.errors import ArignoteTypeError
from arignote.graph.basic import Variable
from arignote.graph.type import TensorType


def _tensor_constant(data, name=None, weak=False):
    return TensorType.constant_class(TensorType(data.dtype, data.shape), data, name=name, weak=weak)


def constant(value, name=None, dtype=None):
    """A constant tensor; its static shape is the value's shape."""
    data = np.asarray(value, dtype=dtype)
    if data.dtype == object or data.dtype.kind not in "biufc":
        raise ArignoteTypeError(f"cannot make a tensor constant of {type(value).__name__} {value!r}")
    # a private read-only copy: the user's array stays writable and later changes to it
    # do not leak into the graph (np.ascontiguousarray would also turn 0-d into 1-d)
    data = np.array(data, order="C", copy=True)
    data.setflags(write=False)
    return _tensor_constant(data, name=name)


def as_tensor_variable(x, name=None, ndim=None, dtype=None):
    """Turn ``x`` (a variable, a Python number, a list, an array) into a tensor variable.

    Python scalars become *weak* constants: like NumPy 2, ``float32_x * 0.5``
    stays float32. Lists that hold variables are stacked.
    """
    if isinstance(x, Variable):
        if not isinstance(x.type, TensorType):
            raise ArignoteTypeError(f"expected a tensor variable, got {x} of type {x.type}")
        var = x
    elif isinstance(x, (bool, int, float, complex)) and not isinstance(x, np.generic) and dtype is None:
        data = np.asarray(x)
        data.setflags(write=False)
        var = _tensor_constant(data, name=name, weak=True)
    elif isinstance(x, (list, tuple)) and any(isinstance(e, Variable) for e in _flatten(x)):
        # The one import of a higher op module inside the ops layer: stacking is a Join of
        # DimShuffles, ops whose make_node converts its inputs with this very function.
        from arignote.ops.shape import stack
        var = stack([as_tensor_variable(e) for e in x])
    elif isinstance(x, (np.ndarray, np.generic, list, tuple, bool, int, float, complex)):
        try:
            var = constant(x, name=name, dtype=dtype)
        except (TypeError, ValueError) as e:
            raise ArignoteTypeError(f"cannot convert {type(x).__name__} to a tensor: {e}") from None
    else:
        raise ArignoteTypeError(
            f"cannot convert {type(x).__name__} {x!r} to a tensor variable; expected a "
            f"variable, a number, a list or a NumPy array")
    if dtype is not None and var.dtype != np.dtype(dtype).name:
        var = var.astype(dtype)  # (elemwise.cast, through the variable's method)
    if ndim is not None and var.ndim != ndim:
        raise ArignoteTypeError(f"expected a {ndim}-d tensor, got {var} with {var.ndim} dimensions")
    return var


def _flatten(x):
    for e in x:
        if isinstance(e, (list, tuple)):
            yield from _flatten(e)
        else:
            yield e


__all__ = ["constant", "as_tensor_variable"]
