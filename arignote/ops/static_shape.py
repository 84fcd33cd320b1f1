"""Reading shapes: the ops ``x.shape`` and ``x.shape[i]`` build, and what is known
about small int tensors (shapes, sizes) when a graph is built.

Shape arguments are graphs too (``(x.shape[0], -1)``); these helpers see
through the ops that only move numbers around to find the sizes that are
known, or known to equal ``x.shape[j]``, so static shapes can be inferred.
The views and joins that take shape arguments live in :mod:`arignote.ops.shape`.
"""
import math

import numpy as np

from arignote.errors import ArignoteTypeError, ArignoteValueError, describe
from arignote.graph.basic import Apply, Constant, Variable
from arignote.graph.op import Op
from arignote.graph.type import TensorType
from arignote.ops.basic import as_tensor_variable, constant


def _is_int(v):
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _i64(value):
    return constant(np.int64(value))


def _norm_axis(axis, ndim, fn, x):
    if not _is_int(axis):
        raise ArignoteTypeError(f"{fn}: axis must be an int, got {axis!r}")
    if not -ndim <= axis < ndim:
        raise ArignoteValueError(f"{fn}: axis {axis} is out of range for {describe(x)} ({x.type}); "
                                 f"valid axes are {-ndim}..{ndim - 1}")
    return int(axis) % ndim


# ------------------------------------------------------------ reading shapes

class Shape(Op):
    """The shape of a tensor as an int64 vector."""

    def make_node(self, x):
        x = as_tensor_variable(x)
        return Apply(self, [x], [TensorType("int64", (x.ndim,))])

    def perform(self, node, inputs):
        return [np.asarray(inputs[0].shape, dtype="int64")]

    def L_op(self, inputs, outputs, output_grads):
        return [None]

    def infer_shape(self, node, input_shapes):
        return [(_i64(node.inputs[0].ndim),)]


class Shape_i(Op):
    """``x.shape[i]`` as an int64 scalar (what shape arguments are built from)."""

    __props__ = ("i",)

    def __init__(self, i):
        self.i = int(i)

    def make_node(self, x):
        x = as_tensor_variable(x)
        if not 0 <= self.i < x.ndim:
            raise ArignoteValueError(f"{self}: {describe(x)} has {x.ndim} dimension(s)")
        return Apply(self, [x], [TensorType("int64", ())])

    def perform(self, node, inputs):
        return [np.asarray(inputs[0].shape[self.i], dtype="int64")]

    def L_op(self, inputs, outputs, output_grads):
        return [None]

    def infer_shape(self, node, input_shapes):
        return [()]


def shape(x):
    """The symbolic shape of ``x`` (an int64 vector); ``x.shape[0]`` is a scalar."""
    return Shape()(as_tensor_variable(x))


def shape_i(x, i):
    """``x.shape[i]`` as an int64 scalar: a constant when the size is static."""
    x = as_tensor_variable(x)
    i = _norm_axis(i, x.ndim, "shape_i", x)
    return _i64(x.type.shape[i]) if x.type.shape[i] is not None else Shape_i(i)(x)


# ------------------------------------------------------------ what is known


_MAX_ENTRIES = 64
_SENTINEL = -(2 ** 30)  # stands for unknown entries when evaluating ops that only move elements


def _obj(flat, shape):
    arr = np.empty(len(flat), dtype=object)
    for k, e in enumerate(flat):
        arr[k] = e
    return arr.reshape(shape)


def _known(e):
    return isinstance(e, (int, float, bool))


def _dim_entry(x, j):
    s = x.type.shape[j]
    return s if s is not None else ("dim", x, j)


def static_entries(v, _memo=None):
    """What is known of each entry of the small numeric tensor ``v`` when the graph is built.

    An object array of ``v``'s shape holding numbers (known), ``('dim', x, j)``
    (the unknown size ``x.shape[j]``) or None (unknown); None when ``v`` has no
    static shape or is large. Ops with every input known are evaluated; ops
    that only move elements (views, ``Join``, ``Alloc``...) are evaluated on
    placeholders, so ``stack([x.shape[0], 3])[0]`` is still ``x.shape[0]``.
    """
    memo = {} if _memo is None else _memo
    if v not in memo:
        memo[v] = None if len(memo) > 200 else _static_entries(v, memo)
    return memo[v]


def _static_entries(v, memo):
    t = v.type
    if isinstance(v, Constant):
        ok = v.data.dtype.kind in "biuf" and v.data.size <= _MAX_ENTRIES
        return _obj(v.data.ravel().tolist(), v.data.shape) if ok else None
    if None in t.shape or math.prod(t.shape) > _MAX_ENTRIES or not t.is_integer:
        return None
    unknown = np.full(t.shape, None, dtype=object)
    node = v.owner
    if node is None:
        return unknown
    if isinstance(node.op, Shape):
        x = node.inputs[0]
        return _obj([_dim_entry(x, j) for j in range(x.ndim)], t.shape)
    if isinstance(node.op, Shape_i):
        return _obj([_dim_entry(node.inputs[0], node.op.i)], ())
    movers = getattr(node.op, "element_inputs", (0,) if node.op.fusion_kind == "view" else None)
    if movers is None and node.op.fusion_kind not in ("elemwise", "reduce"):
        return unknown  # only ops known to be pure are evaluated (not random ones)
    movers = range(len(node.inputs)) if movers == "all" else movers or ()
    tokens, values = {}, []  # tokens: placeholder value -> what it stands for
    for k, inp in enumerate(node.inputs):
        e = static_entries(inp, memo)
        if e is not None and all(_known(x) for x in e.flat):
            values.append(e.astype(inp.dtype))
        elif e is not None and k in movers and inp.dtype in ("int32", "int64"):
            flat = []
            for x in e.flat:
                if not _known(x):
                    x = _SENTINEL - len(tokens)
                    tokens[x] = e.flat[len(flat)]
                elif x <= _SENTINEL:
                    return unknown
                flat.append(x)
            values.append(np.array(flat, dtype=inp.dtype).reshape(e.shape))
        else:
            return unknown
    try:
        with np.errstate(all="ignore"):
            out = np.asarray(node.op.perform(node, values)[v.index])
    except Exception:  # an op that cannot run on placeholders: nothing is known
        return unknown
    flat = out.ravel().tolist()
    if out.shape != t.shape or any(_is_int(x) and x <= _SENTINEL and x not in tokens for x in flat):
        return unknown
    return _obj([tokens[x] if _is_int(x) and x <= _SENTINEL else x for x in flat], t.shape)


def static_int(v):
    """The value of the int scalar ``v`` if known when the graph is built, else None."""
    if _is_int(v):
        return int(v)
    e = static_entries(v) if isinstance(v, Variable) and v.ndim == 0 else None
    return e[()] if e is not None and _is_int(e[()]) else None


