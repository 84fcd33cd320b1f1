"""Building blocks of the tensor API: constants, conversion, constructors.

The constructor family (``scalar vector row col matrix tensor3 tensor4``, their
Theano dtype prefixes and plural forms) is generated from two small tables.
"""
import numpy as np

from arignote.config import config
from arignote.errors import ArignoteTypeError
from arignote.graph.basic import Variable, user_trace
from arignote.graph.type import TensorType
from arignote.tensor.variable import TensorConstant

# rank name -> static shape (1 = broadcastable)
RANKS = {"scalar": (), "vector": (None,), "row": (1, None), "col": (None, 1),
         "matrix": (None, None), "tensor3": (None,) * 3, "tensor4": (None,) * 4,
         "tensor5": (None,) * 5}
PLURALS = {"scalar": "scalars", "vector": "vectors", "row": "rows", "col": "cols",
           "matrix": "matrices", "tensor3": "tensor3s", "tensor4": "tensor4s",
           "tensor5": "tensor5s"}
# Theano's dtype prefixes; '' means config.floatX.
PREFIXES = {"": None, "b": "int8", "w": "int16", "i": "int32", "l": "int64",
            "f": "float32", "d": "float64", "c": "complex64", "z": "complex128"}


def tensor(dtype=None, shape=None, name=None, broadcastable=None):
    """A symbolic input of the given dtype and static shape.

    ``shape`` holds ints (static sizes) or None; Theano's ``broadcastable``
    (a tuple of bools) is accepted too. ``tensor('float32', (None, 3), 'x')``.
    """
    if isinstance(dtype, str) and dtype not in np.sctypeDict and shape is None and name is None:
        dtype, name = None, dtype  # tensor('x') reads as a name
    if shape is not None and broadcastable is not None:
        raise ArignoteTypeError("tensor(): give shape or broadcastable, not both")
    if broadcastable is not None:
        shape = tuple(1 if b else None for b in broadcastable)
    if shape is None:
        raise ArignoteTypeError("tensor(): a shape (or broadcastable pattern) is required, "
                                "e.g. tensor('float32', shape=(None, None))")
    var = TensorType(dtype or config.floatX, shape).make_variable(name)
    var._trace = user_trace()
    return var


def _make_constructor(rank, dtype):
    shape = RANKS[rank]

    def constructor(name=None, dtype=dtype, shape=shape):
        return tensor(dtype or config.floatX, shape, name)

    constructor.__name__ = (("" if dtype is None else _prefix_of(dtype)) + rank)
    constructor.__doc__ = (f"A symbolic {rank} of {dtype or 'config.floatX'} "
                           f"(static shape {shape}).")
    return constructor


def _make_plural(single):
    def plural(*names, **kwargs):
        if len(names) == 1 and isinstance(names[0], int):
            names = [None] * names[0]
        elif len(names) == 1 and isinstance(names[0], str) and "," in names[0]:
            names = [n.strip() for n in names[0].split(",")]
        return [single(n, **kwargs) for n in names]

    plural.__name__ = single.__name__ + "s"
    plural.__doc__ = f"Several {single.__name__}s: ``{single.__name__}s('a', 'b')``."
    return plural


def _prefix_of(dtype):
    return next(p for p, d in PREFIXES.items() if d == dtype)


CONSTRUCTORS = {}
for _prefix, _dtype in PREFIXES.items():
    for _rank, _plural in PLURALS.items():
        _single = _make_constructor(_rank, _dtype)
        CONSTRUCTORS[_prefix + _rank] = _single
        CONSTRUCTORS[_prefix + _plural] = _make_plural(_single)
globals().update(CONSTRUCTORS)


def constant(value, name=None, dtype=None):
    """A constant tensor; its static shape is the value's shape."""
    data = np.asarray(value, dtype=dtype)
    if data.dtype == object or data.dtype.kind not in "biufc":
        raise ArignoteTypeError(f"cannot make a tensor constant of {type(value).__name__} {value!r}")
    # a private read-only copy: the user's array stays writable and later changes to it
    # do not leak into the graph (np.ascontiguousarray would also turn 0-d into 1-d)
    data = np.array(data, order="C", copy=True)
    data.setflags(write=False)
    return TensorConstant(TensorType(data.dtype, data.shape), data, name=name)


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
        var = TensorConstant(TensorType(data.dtype, ()), data, name=name, weak=True)
    elif isinstance(x, (list, tuple)) and any(isinstance(e, Variable) for e in _flatten(x)):
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
        from arignote.ops.elemwise import cast
        var = cast(var, dtype)
    if ndim is not None and var.ndim != ndim:
        raise ArignoteTypeError(f"expected a {ndim}-d tensor, got {var} with {var.ndim} dimensions")
    return var


def _flatten(x):
    for e in x:
        if isinstance(e, (list, tuple)):
            yield from _flatten(e)
        else:
            yield e


__all__ = ["tensor", "constant", "as_tensor_variable", *CONSTRUCTORS]
