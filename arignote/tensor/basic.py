"""Building blocks of the tensor API: constructors, and constants and conversion
(defined below every op, in :mod:`arignote.ops.basic`, and re-exported here).

The constructor family (``scalar vector row col matrix tensor3 tensor4``, their
Theano dtype prefixes and plural forms) is generated from two small tables.
"""
import numpy as np

from arignote.config import config
from arignote.errors import ArignoteTypeError
from arignote.graph.basic import user_trace
from arignote.graph.type import TensorType
from arignote.ops.basic import as_tensor_variable, constant

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


__all__ = ["tensor", "constant", "as_tensor_variable", *CONSTRUCTORS]
