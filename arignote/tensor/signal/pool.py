"""``arignote.tensor.signal.pool``: Theano's ``pool_2d`` and ``max_pool_2d_same_size``."""
import warnings

from arignote.errors import ArignoteTypeError
from arignote.ops.basic import as_tensor_variable
from arignote.ops.pool import AveragePoolGrad, MaxPoolGrad, Pool

_OLD = (("ds", "ws"), ("st", "stride"), ("padding", "pad"))


def _renamed(new_values, old_values):
    """The new arguments, each taken from its old spelling if given (one DeprecationWarning)."""
    out, used = [], []
    for (old, new), value, old_value in zip(_OLD, new_values, old_values):
        if old_value is not None:
            if value is not None:
                raise ArignoteTypeError(f"pool_2d: give {new!r} or its old name {old!r}, not both")
            used.append(f"{old!r} (now {new!r})")
            value = old_value
        out.append(value)
    if used:
        warnings.warn(f"pool_2d: {', '.join(used)} are Theano's deprecated names", DeprecationWarning,
                      stacklevel=3)
    return out


def pool_2d(input, ws=None, ignore_border=True, stride=None, pad=(0, 0), mode="max", ds=None,
            st=None, padding=None):
    """Pool the last two axes of ``input`` over windows ``ws`` moved by ``stride`` (default:
    ``ws``) after ``pad`` zeros on each side. ``mode``: 'max', 'sum', 'average_inc_pad' or
    'average_exc_pad' ('average' is taken as Theano's 'average_inc_pad')."""
    ws, stride, pad = _renamed((ws, stride, None if padding is not None and pad == (0, 0) else pad),
                               (ds, st, padding))
    if ws is None:
        raise ArignoteTypeError("pool_2d: the window size ws is required")
    if mode == "average":
        mode = "average_inc_pad"
    return Pool(tuple(ws), ignore_border, None if stride is None else tuple(stride),
                tuple(pad if pad is not None else (0, 0)), mode)(input)


def max_pool_2d_same_size(input, patch_size):
    """``input`` where each element is the maximum of its (non-overlapping) patch, 0 elsewhere."""
    x = as_tensor_variable(input)
    op = Pool(tuple(patch_size), True)
    out = op(x)
    return MaxPoolGrad(**op._kw())(x, out, out)


__all__ = ["pool_2d", "max_pool_2d_same_size", "Pool", "MaxPoolGrad", "AveragePoolGrad"]
