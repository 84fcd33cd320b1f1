"""The entries of a shape, as every shape op takes and gives them: a Python int or an
int64 scalar variable (``x.shape[j]``). Reading one from a user's argument,
multiplying and formatting them, and the axes they are indexed by; the ops in
:mod:`arignote.ops.dimshuffle`, :mod:`arignote.ops.join` and
:mod:`arignote.ops.shape` share these."""
import math

import numpy as np

from arignote.errors import ArignoteTypeError, ArignoteValueError, describe
from arignote.graph.basic import Constant
from arignote.graph.type import INT_DTYPES, _fmt_shape
from arignote.ops.basic import as_tensor_variable
from arignote.ops.elemwise import cast, mul
from arignote.ops.static_shape import _i64, _is_int, _norm_axis, shape_i


def _fmt(entries):
    return _fmt_shape([e if isinstance(e, int) else None for e in entries])


def _int_scalar(v, fn, what):
    """``v`` (an int or a symbolic int scalar) as an int64 scalar variable."""
    if _is_int(v):
        return _i64(v)
    var = as_tensor_variable(v) if not isinstance(v, (bool, np.bool_)) else None
    if var is None or var.ndim != 0 or var.dtype not in INT_DTYPES:
        got = f"{describe(var)} ({var.type})" if var is not None else repr(v)
        raise ArignoteTypeError(f"{fn}: {what} must be an int or a symbolic int scalar, got {got}")
    if isinstance(var, Constant):
        return _i64(var.data)
    return var if var.dtype == "int64" else cast(var, "int64")


def _shape_entry(x, j):
    """x.shape[j]: an int when static, else a symbolic scalar."""
    s = x.type.shape[j]
    return s if s is not None else shape_i(x, j)


def _prod(values):
    ints = math.prod(v for v in values if _is_int(v))
    syms = [v for v in values if not _is_int(v)]
    out = ints if not syms or ints != 1 else syms.pop()
    for s in syms:
        out = mul(out, s)
    return out


def _norm_axes(axis, ndim, fn, x):
    axes = [_norm_axis(a, ndim, fn, x) for a in (axis if isinstance(axis, (list, tuple)) else [axis])]
    if len(set(axes)) != len(axes):
        raise ArignoteValueError(f"{fn}: axis {axis!r} repeats a dimension of {describe(x)}")
    return axes


def _static_shape(node, shape):
    """``shape`` (symbolic scalars) with the output's static sizes as constants."""
    return tuple(s if st is None else _i64(st) for s, st in zip(shape, node.outputs[0].type.shape))
