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

from arignote.errors import ArignoteTypeError, ArignoteValueError, describe
from arignote.graph.basic import Variable
from arignote.graph.generic import GenericType
from arignote.graph.shared import GenericSharedVariable, SharedVariable, copy_default_updates  # noqa: F401
from arignote.graph.type import TensorType
from arignote.ops.variable import TensorVariable
from arignote.runtime.cuda_device import DeviceArray
from arignote.runtime.cuda_gpu import select_device
from arignote.runtime.cuda_steps import metadata


class TensorSharedVariable(SharedVariable, TensorVariable):
    """A shared tensor: operators and methods of a tensor variable."""

    @staticmethod
    def _copy(value):
        return value.copy()


class CudaSharedVariable(TensorSharedVariable):
    """A shared tensor resident on the CUDA device (``shared(value, target='cuda')``): its
    value is a :class:`~arignote.runtime.cuda_device.DeviceArray`, read and updated there
    by functions of backend 'cuda'. ``get_value`` copies it to the host (unless
    ``return_internal_type``, as in Theano); ``set_value`` copies a host value over."""

    target = "cuda"

    @property
    def _value(self):
        return self._device_value

    @_value.setter
    def _value(self, value):
        self._device_value = value if isinstance(value, DeviceArray) else \
            select_device().to_device(value, "boundary")

    @staticmethod
    def _copy(value):
        return value.copy()

    def get_value(self, borrow=False, return_internal_type=False):
        with self.lock:
            value = self._device_value
            if return_internal_type:
                return value if borrow else value.copy()
            return value.get("boundary")

    def set_value(self, value, borrow=False):
        what = f"shared variable {describe(self)}"
        if isinstance(value, DeviceArray):  # (no conversion on the device: the dtype must be it)
            if value.dtype != self.type.numpy_dtype:
                raise ArignoteTypeError(f"{what} holds {self.type.numpy_dtype}, got a {value.dtype} "
                                        f"DeviceArray")
            self.type.filter(metadata(value), what=what)
            value = value if borrow else value.copy()
        else:
            value = self.type.filter(value, what=what)
        with self.lock:
            self._value = value

    def __getstate__(self):
        state = super().__getstate__()
        state["_device_value"] = self._device_value.get("boundary")  # (pickled as a NumPy array)
        return state

    def __setstate__(self, state):
        value = state.pop("_device_value")
        super().__setstate__(state)
        self._value = value


#: where shared() may put a tensor's value
TARGETS = (None, "cpu", "cuda")


def shared(value, name=None, borrow=False, shape=None, broadcastable=None, strict=False, target=None):
    """A shared variable holding ``value`` (copied unless ``borrow``).

    Numbers and arrays make a tensor: ``shape`` (ints or None per dimension) or
    Theano's ``broadcastable`` fixes static sizes, e.g. ``shape=(1, None)`` for
    a bias row. Any other object (a generator state, a dict) makes a shared
    variable of :class:`~arignote.graph.generic.GenericType`, deep-copied unless
    ``borrow``. ``target='cuda'`` keeps a tensor's value on the CUDA device
    (:class:`CudaSharedVariable`, for functions of backend 'cuda'), as Theano spelled it.
    """
    if target not in TARGETS:
        raise ArignoteValueError(f"shared(): target must be one of {TARGETS}, got {target!r}")
    if isinstance(value, Variable):
        raise ArignoteTypeError(f"shared() needs a value (a NumPy array or number), got the "
                                f"symbolic variable {value}")
    if not isinstance(value, (np.ndarray, np.generic, bool, int, float, complex, list, tuple)):
        given = [what for what, v in (("shape", shape), ("broadcastable", broadcastable),
                                      ("target='cuda'", target == "cuda" or None)) if v is not None]
        if given:
            raise ArignoteTypeError(f"shared(): {' and '.join(given)} describe"
                                    f"{'s' if len(given) == 1 else ''} arrays, not a {type(value).__name__}")
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
    if target == "cuda":
        return CudaSharedVariable(ttype, arr, name=name)  # (copied to the device)
    if not borrow:
        arr = np.array(arr, copy=True)
    return TensorSharedVariable(ttype, arr, name=name)
