"""2-d pooling over the last two axes (``pool_2d``) and its gradients, with Theano's meaning.

* :class:`Pool`: max, sum, average including or excluding the padding, over
  windows ``ws`` moved by ``stride``, after ``pad`` on each side. With
  ``ignore_border=False`` a partial window at the bottom/right edge makes an
  output too (then no padding is allowed, as in Theano).
* :class:`MaxPoolGrad`: ``(x, maxout, gz) -> gx``. As Theano's: *every*
  position of a window that equals the window's maximum receives that
  output's gradient (ties are not split), and overlapping windows add up.
* :class:`AveragePoolGrad`: ``(x, gz) -> gx`` for the sum and average modes
  (``x`` gives the shape): each output's gradient spread over its window,
  divided by the window's count in the average modes.
* :class:`MaxPoolGradGrad`: the gradient of MaxPoolGrad w.r.t. ``gz``, so
  grad of grad works.

Theano's windows: output ``j`` covers rows ``[j s, min(j s + ws, H + 2 pad))``
of the padded input; except for ``average_inc_pad``, the window is then
clipped to the real rows ``[pad, H + pad)`` (max and sum never see padding,
``average_exc_pad`` divides by the real rows only).

The NumPy implementation visits the ``ws[0] * ws[1]`` offsets of a window,
each a strided view of a padded copy of the input (``-inf`` for max, 0
otherwise) holding every output's element at that offset: a handful of
whole-array operations instead of a loop over outputs. The cpu backend runs
the same functions into the memory plan's storage (:mod:`arignote.runtime.cpu_conv`).
"""
import numpy as np

from arignote.errors import ArignoteTypeError, ArignoteValueError, built_at, describe
from arignote.graph.basic import Apply
from arignote.graph.op import Op
from arignote.graph.type import TensorType
from arignote.ops.basic import as_tensor_variable, constant
from arignote.ops.elemwise import maximum, switch, zeros_like

MODES = ("max", "sum", "average_inc_pad", "average_exc_pad")


# ------------------------------------------------------------ geometry

def out_size(size, ws, stride, pad, ignore_border):
    """Theano's number of windows along one axis of ``size`` elements."""
    if size is None:
        return None
    padded = size + 2 * pad
    if ignore_border:
        return max((padded - ws) // stride + 1, 0)
    if size == 0:
        return 0
    if stride >= ws:
        return (padded - 1) // stride + 1
    return max(0, (padded - 1 - ws + stride) // stride) + 1


def _regions(n_out, size, ws, stride, pad, inc_pad):
    """Per output: (start, end) of its window in padded coordinates, as Theano clips it."""
    padded = size + 2 * pad
    starts = np.arange(n_out) * stride
    ends = np.minimum(starts + ws, padded)
    if not inc_pad:
        starts, ends = np.maximum(starts, pad), np.minimum(ends, padded - pad)
    return starts, ends


def counts(op, shape):
    """The number of elements each output averages over, shaped to broadcast (Ho, Wo)."""
    inc = op.mode == "average_inc_pad"
    per_axis = []
    for a in range(2):
        n = out_size(shape[-2 + a], op.ws[a], op.stride[a], op.pad[a], op.ignore_border)
        s, e = _regions(n, shape[-2 + a], op.ws[a], op.stride[a], op.pad[a], inc)
        per_axis.append(e - s)
    return np.multiply.outer(per_axis[0], per_axis[1])


class _Geometry:
    """The padded frame of one call: where x sits in it, and each offset's view."""

    def __init__(self, op, shape):
        self.op = op
        self.out = tuple(out_size(shape[-2 + a], op.ws[a], op.stride[a], op.pad[a], op.ignore_border)
                         for a in range(2))
        # rows the windows reach (at least the padded input, so x fits)
        self.frame = tuple(max((self.out[a] - 1) * op.stride[a] + op.ws[a] if self.out[a] else 0,
                               shape[-2 + a] + 2 * op.pad[a]) for a in range(2))
        self.inner = tuple(slice(op.pad[a], op.pad[a] + shape[-2 + a]) for a in range(2))
        self.lead = tuple(shape[:-2])

    def padded(self, x, fill):
        """``x`` inside a frame filled with ``fill`` (``x`` itself when it is the frame)."""
        if self.frame == x.shape[-2:]:
            return x
        xp = np.full(self.lead + self.frame, fill, x.dtype)
        xp[..., self.inner[0], self.inner[1]] = x
        return xp

    def offsets(self):
        op = self.op
        for u in range(op.ws[0]):
            for v in range(op.ws[1]):
                yield (..., slice(u, u + self.out[0] * op.stride[0], op.stride[0]),
                       slice(v, v + self.out[1] * op.stride[1], op.stride[1]))

    def crop(self, gp):
        return gp[..., self.inner[0], self.inner[1]]


def output_shape(op, shape):
    """The shape ``op`` (any pooling op) pools an input of ``shape`` to."""
    return (*shape[:-2], *_Geometry(op, shape).out)


def _lowest(dtype):
    return -np.inf if dtype.kind == "f" else np.iinfo(dtype).min


def pool_forward(op, x, out=None):
    """``op``'s output for ``x`` (into ``out`` when given)."""
    geo = _Geometry(op, x.shape)
    if out is None:
        out = np.empty(geo.lead + geo.out, x.dtype)
    if out.size == 0:
        return out
    if op.mode == "max":
        xp = geo.padded(x, _lowest(x.dtype))
        views = geo.offsets()
        np.copyto(out, xp[next(views)])
        for idx in views:
            np.maximum(out, xp[idx], out=out)
        return out
    xp = geo.padded(x, 0)
    views = geo.offsets()
    np.copyto(out, xp[next(views)])
    for idx in views:
        np.add(out, xp[idx], out=out)
    if op.mode != "sum":
        np.divide(out, counts(op, x.shape).astype(out.dtype), out=out)
    return out


def _grad_frame(geo, shape, dtype, out):
    """Zeroed storage for a gradient over the padded frame: ``out`` itself when the
    frame is the input's own shape (nothing to crop)."""
    if out is not None and geo.frame == tuple(shape[-2:]):
        out[...] = 0
        return out
    return np.zeros(geo.lead + geo.frame, dtype)


def _done(geo, gp, out):
    return gp if gp is out else _into(geo.crop(gp), out)


def max_pool_grad(op, x, maxout, gz, out=None):
    """Theano's MaxPoolGrad: ``gz`` to every window position equal to the window's max."""
    geo = _Geometry(op, x.shape)
    xp = geo.padded(x, _lowest(x.dtype))
    gp = _grad_frame(geo, x.shape, gz.dtype, out)
    if gz.size:
        hit = np.empty(maxout.shape, bool)
        disjoint = all(s >= w for s, w in zip(op.stride, op.ws))  # each position in one window
        for idx in geo.offsets():
            np.equal(xp[idx], maxout, out=hit)
            if disjoint:
                np.copyto(gp[idx], gz, where=hit)
            else:
                np.add(gp[idx], gz, out=gp[idx], where=hit)
    return _done(geo, gp, out)


def average_pool_grad(op, x_shape, gz, out=None):
    """The gradient of the sum and average modes: ``gz`` (over the counts) to each window."""
    geo = _Geometry(op, x_shape)
    gp = _grad_frame(geo, x_shape, gz.dtype, out)
    if gz.size:
        share = gz if op.mode == "sum" else gz / counts(op, x_shape).astype(gz.dtype)
        for idx in geo.offsets():
            gp[idx] += share
    return _done(geo, gp, out)


def max_pool_grad_grad(op, x, maxout, ggx, out=None):
    """Per output, the sum of ``ggx`` over its window's positions equal to the max."""
    geo = _Geometry(op, x.shape)
    xp, gp = geo.padded(x, _lowest(x.dtype)), geo.padded(ggx, 0)
    res = np.zeros(maxout.shape, ggx.dtype) if out is None else out
    res[...] = 0
    for idx in geo.offsets():
        res += np.where(xp[idx] == maxout, gp[idx], 0)
    return res


def _into(value, out):
    if out is None:
        return np.ascontiguousarray(value)
    np.copyto(out, value)
    return out


# ------------------------------------------------------------ ops

def _pair(value, what, least):
    try:
        a, b = value
        ok = all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= least
                 for v in (a, b))
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ArignoteValueError(f"pool_2d: {what} must be a pair of ints >= {least}, got {value!r}")
    return int(a), int(b)


class _PoolBase(Op):
    __props__ = ("ws", "ignore_border", "stride", "pad", "mode")
    fusion_kind = "opaque"

    def __init__(self, ws, ignore_border=True, stride=None, pad=(0, 0), mode="max"):
        self.ws = _pair(ws, "ws (the window)", 1)
        self.stride = self.ws if stride is None else _pair(stride, "stride", 1)
        self.pad = _pair(pad, "pad", 0)
        self.ignore_border = bool(ignore_border)
        if mode not in MODES:
            raise ArignoteValueError(f"pool_2d: mode must be one of {MODES}, got {mode!r}")
        self.mode = mode
        if self.pad != (0, 0) and not self.ignore_border:
            raise ArignoteValueError(f"pool_2d: padding {self.pad} needs ignore_border=True "
                                     f"(as in Theano)")
        if any(p >= w for p, w in zip(self.pad, self.ws)):
            raise ArignoteValueError(f"pool_2d: the padding {self.pad} must be smaller than the "
                                     f"window {self.ws} along each axis")

    def _input(self, x, role="input"):
        x = as_tensor_variable(x)
        if x.ndim < 2 or x.dtype == "bool" or x.dtype.startswith("complex") \
                or (self.mode.startswith("average") and not x.type.is_float):
            want = "a float" if self.mode.startswith("average") else "a real"
            raise ArignoteTypeError(f"pool_2d: the {role} must be {want} tensor of at least 2 "
                                    f"dimensions (the last two are pooled), got {describe(x)} of "
                                    f"type {x.type}{built_at(x)}")
        return x

    def _out_type(self, x):
        s = x.type.shape
        out = [out_size(s[-2 + a], self.ws[a], self.stride[a], self.pad[a], self.ignore_border)
               for a in range(2)]
        return TensorType(x.dtype, (*s[:-2], *out))

    def _kw(self):
        return {p: getattr(self, p) for p in self.__props__}

    def _check_value(self, node, k, value, expected):
        if value.shape != tuple(expected):
            raise ArignoteValueError(f"{self}: {describe(node.inputs[k])} has shape {value.shape}, "
                                     f"expected {tuple(expected)}{built_at(node)}")


class Pool(_PoolBase):
    """``pool_2d``: the last two axes of ``x`` pooled over windows."""

    def make_node(self, x):
        x = self._input(x)
        return Apply(self, [x], [self._out_type(x)])

    def perform(self, node, inputs):
        return [pool_forward(self, inputs[0])]

    def L_op(self, inputs, outputs, output_grads):
        (x,), (out,), (gz,) = inputs, outputs, output_grads
        if not x.type.is_float:
            return [None]
        if self.mode == "max":
            return [MaxPoolGrad(**self._kw())(x, out, gz)]
        return [AveragePoolGrad(**self._kw())(x, gz)]

    def infer_shape(self, node, input_shapes):
        (sx,) = input_shapes
        return [tuple(constant(np.int64(s)) if s is not None else _out_expr(self, sx[d], d - len(sx))
                      for d, s in enumerate(node.outputs[0].type.shape))]


def _out_expr(op, size, axis):
    """The symbolic size of output axis ``axis`` (negative) from the input's ``size``."""
    if axis < -2:
        return size
    a = axis + 2
    ws, st, pad = op.ws[a], op.stride[a], op.pad[a]
    if op.ignore_border:
        return maximum((size + (2 * pad - ws)) // st + 1, 0)
    if st >= ws:
        return (size - 1) // st + 1
    return switch(size > 0, maximum((size - 1 - ws + st) // st, 0) + 1, 0)


class MaxPoolGrad(_PoolBase):
    """Theano's MaxPoolGrad: ``(x, maxout, gz) -> gx``; ties all receive the gradient."""

    def make_node(self, x, maxout, gz):
        x = self._input(x)
        maxout, gz = as_tensor_variable(maxout), as_tensor_variable(gz)
        for v, role in ((maxout, "pooled output"), (gz, "output gradient")):
            if v.ndim != x.ndim:
                raise ArignoteTypeError(f"{self}: the {role} {describe(v)} ({v.type}) must have "
                                        f"the rank of the input {describe(x)} ({x.type})")
        return Apply(self, [x, maxout, gz], [TensorType(gz.dtype, x.type.shape)])

    def perform(self, node, inputs):
        x, maxout, gz = inputs
        expected = output_shape(self, x.shape)
        self._check_value(node, 1, maxout, expected)
        self._check_value(node, 2, gz, expected)
        return [max_pool_grad(self, x, maxout, gz)]

    def L_op(self, inputs, outputs, output_grads):
        x, maxout, gz = inputs
        (ggx,) = output_grads
        return [zeros_like(x), zeros_like(maxout), MaxPoolGradGrad(**self._kw())(x, maxout, ggx)]

    def infer_shape(self, node, input_shapes):
        return [tuple(input_shapes[0])]


class MaxPoolGradGrad(_PoolBase):
    """``(x, maxout, ggx) -> ggz``: per output, ``ggx`` summed over its maxima."""

    def make_node(self, x, maxout, ggx):
        x = self._input(x)
        maxout, ggx = as_tensor_variable(maxout), as_tensor_variable(ggx)
        return Apply(self, [x, maxout, ggx], [TensorType(ggx.dtype, maxout.type.shape)])

    def perform(self, node, inputs):
        x, maxout, ggx = inputs
        self._check_value(node, 1, maxout, output_shape(self, x.shape))
        self._check_value(node, 2, ggx, x.shape)
        return [max_pool_grad_grad(self, x, maxout, ggx)]

    def L_op(self, inputs, outputs, output_grads):
        x, maxout, ggx = inputs
        (g,) = output_grads
        return [zeros_like(x), zeros_like(maxout), MaxPoolGrad(**self._kw())(x, maxout, g)]

    def infer_shape(self, node, input_shapes):
        return [tuple(input_shapes[1])]


class AveragePoolGrad(_PoolBase):
    """``(x, gz) -> gx`` for the sum and average modes (``x`` only gives the shape)."""

    def make_node(self, x, gz):
        x = self._input(x)
        gz = as_tensor_variable(gz)
        if gz.ndim != x.ndim:
            raise ArignoteTypeError(f"{self}: the output gradient {describe(gz)} ({gz.type}) must "
                                    f"have the rank of the input {describe(x)} ({x.type})")
        return Apply(self, [x, gz], [TensorType(gz.dtype, x.type.shape)])

    def perform(self, node, inputs):
        x, gz = inputs
        self._check_value(node, 1, gz, output_shape(self, x.shape))
        return [average_pool_grad(self, x.shape, gz)]

    def L_op(self, inputs, outputs, output_grads):
        x, gz = inputs
        (ggx,) = output_grads
        return [zeros_like(x), Pool(**self._kw())(ggx)]

    def infer_shape(self, node, input_shapes):
        return [tuple(input_shapes[0])]


__all__ = ["Pool", "MaxPoolGrad", "MaxPoolGradGrad", "AveragePoolGrad", "MODES", "out_size",
           "output_shape"]
