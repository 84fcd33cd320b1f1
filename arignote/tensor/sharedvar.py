"""``shared()``: graph inputs whose value lives between function calls.

A shared variable's type (dtype and rank) is fixed by its first value; its
static shape is unknown unless given, so ``set_value`` may change the shape.
Values are copied in and out unless ``borrow=True`` is asked for. Any
other object makes a shared variable of a generic type (Theano's
GenericSharedVariable). A shared variable may carry a ``default_update``.

The base class, its value, lock and default update are the graph layer's
(:mod:`arignote.graph.shared`: the runtime reads and writes them); here is the
tensor kind, with a tensor variable's operators, and the constructor.
"""
import copy

import numpy as np

from arignote.errors import ArignoteTypeError
from arignote.graph.basic import Variable
from arignote.graph.generic import GenericType
from arignote.graph.shared import GenericSharedVariable, SharedVariable, copy_default_updates  # noqa: F401
from arignote.graph.type import TensorType
from arignote.ops.variable import TensorVariable


class TensorSharedVariable(SharedVariable, TensorVariable):
    """A shared tensor: operators and methods of a tensor variable."""

    @staticmethod
    def _copy(value):
        return value.copy()


def shared(value, name=None, borrow=False, shape=None, broadcastable=None, strict=False):
    """A shared variable holding ``value`` (copied unless ``borrow``).

    Numbers and arrays make a tensor: ``shape`` (ints or None per dimension) or
    Theano's ``broadcastable`` fixes static sizes, e.g. ``shape=(1, None)`` for
    a bias row. Any other object (a generator state, a dict) makes a shared
    variable of :class:`~arignote.graph.generic.GenericType`, deep-copied unless
    ``borrow``.
    """
    if isinstance(value, Variable):
        raise ArignoteTypeError(f"shared() needs a value (a NumPy array or number), got the "
                                f"symbolic variable {value}")
    if not isinstance(value, (np.ndarray, np.generic, bool, int, float, complex, list, tuple)):
        if shape is not None or broadcastable is not None:
            raise ArignoteTypeError(f"shared(): shape and broadcastable describe arrays, not a "
                                    f"{type(value).__name__}")
        return GenericSharedVariable(GenericType(), value if borrow else copy.deepcopy(value),
                                     name=name)
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError) as e:
        raise ArignoteTypeError(f"shared(): cannot use {type(value).__name__} as a value: {e}") from None
    if arr.dtype.kind not in "biufc":
        raise ArignoteTypeError(f"shared(): expected numeric data, got {arr.dtype} ({type(value).__name__})")
    if broadcastable is not None:
        shape = tuple(1 if b else None for b in broadcastable)
    if shape is None:
        shape = (None,) * arr.ndim
    if len(shape) != arr.ndim:
        raise ArignoteTypeError(f"shared(): shape {shape} has {len(shape)} dimensions but the value "
                                f"has {arr.ndim}")
    ttype = TensorType(arr.dtype, shape)
    arr = ttype.filter(arr, what=f"shared variable {name!r}")
    if not borrow:
        arr = np.array(arr, copy=True)
    return TensorSharedVariable(ttype, arr, name=name)
