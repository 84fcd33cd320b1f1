"""Shared variables: graph inputs whose value lives between function calls.

A shared variable's type (dtype and rank) is fixed by its first value; its
static shape is unknown unless given, so ``set_value`` may change the shape.
Values are copied in and out unless ``borrow=True`` is asked for.
"""

import numpy as np

from arignote.errors import ArignoteTypeError, describe
from arignote.graph.basic import user_trace
from arignote.graph.type import TensorType
from arignote.tensor.variable import TensorVariable


class SharedVariable(TensorVariable):
    """A variable with a value held between calls; updated by ``function(updates=...)``."""

    is_shared = True

    def __init__(self, type, value, name=None):
        super().__init__(type, name=name)
        self._value = value
        self._trace = user_trace()

    def get_value(self, borrow=False):
        """The current value (a copy unless ``borrow``)."""
        return self._value if borrow else self._value.copy()

    def set_value(self, value, borrow=False):
        """Replace the value; it must fit the variable's type."""
        value = self.type.filter(value, what=f"shared variable {describe(self)}")
        if not borrow:
            value = np.array(value, copy=True)
        self._value = value

    value = property(lambda self: self.get_value(), set_value)

    def clone(self):
        """Shared variables are state, not structure: clones share the value holder."""
        return self

    def copy_with_value(self):
        """A new shared variable of the same type holding a copy of the value."""
        return SharedVariable(self.type, self._value.copy(), name=self.name)

    def __deepcopy__(self, memo):
        return self.copy_with_value()

    def __repr__(self):
        return self.name or f"<shared {self.type}>"


def shared(value, name=None, borrow=False, shape=None, broadcastable=None, strict=False):
    """A shared variable holding ``value`` (copied unless ``borrow``).

    ``shape`` (ints or None per dimension) or Theano's ``broadcastable``
    fixes static sizes, e.g. ``shape=(1, None)`` for a bias row.
    """
    if isinstance(value, TensorVariable):
        raise ArignoteTypeError(f"shared() needs a value (a NumPy array or number), got the "
                                f"symbolic variable {value}")
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
    return SharedVariable(ttype, arr, name=name)


