"""2-d convolution (``T.nnet.conv2d``) and its two gradients, with Theano's meaning.

Three ops, each opaque to the fuser (a backend runs them as library calls,
the cpu backend as im2col + BLAS: :mod:`arignote.runtime.cpu_conv`):

* :class:`Conv2d`: ``input`` (N, C, H, W) and ``filters`` (F, C / groups,
  kh, kw) give (N, F, Ho, Wo). ``filter_flip=True`` is a true convolution
  (the filters are flipped), False a cross-correlation.
* :class:`Conv2dGradInputs` (``conv2d_grad_wrt_inputs``): the input's
  gradient from the filters and the output's gradient; the input's spatial
  size is an argument, since with strides the output does not determine it.
* :class:`Conv2dGradWeights` (``conv2d_grad_wrt_weights``): the filters'
  gradient from the input and the output's gradient, the filter size given.

Each is linear in each of its tensor inputs, so the gradient of each is one
of the three: grad of grad comes for free. ``perform`` is the oracle, an
im2col (``sliding_window_view``) contracted with ``tensordot``, group by group.

Padding (``border_mode``): ``'valid'`` none, ``'full'`` ``dk - 1``, ``'half'``
``dk // 2`` where ``dk = (k - 1) * dilation + 1`` is the dilated filter's
extent, or explicit ints; then ``Ho = (H + 2 pad - dk) // stride + 1``.
"""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from arignote.errors import ArignoteTypeError, ArignoteValueError, ShapeError, built_at, describe
from arignote.graph.basic import Apply
from arignote.graph.op import Op
from arignote.graph.type import TensorType, _fmt_shape
from arignote.ops.basic import as_tensor_variable, constant
from arignote.ops.shape import specify_shape
from arignote.ops.static_shape import shape_i, static_int

_MODES = ("valid", "full", "half")


# ------------------------------------------------------------ parameters

def _pair(value, what, least):
    """``value`` (an int or a pair of ints) as a pair of ints >= ``least``."""
    pair = (value, value) if isinstance(value, (int, np.integer)) else value
    try:
        a, b = pair
        ok = all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= least
                 for v in (a, b))
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ArignoteValueError(f"conv2d: {what} must be an int >= {least} or a pair of them, "
                                 f"got {value!r}")
    return int(a), int(b)


def normalize_border_mode(border_mode):
    """'valid' | 'full' | 'half' | int | (int, int) as 'full', 'half' or a pair of paddings."""
    if isinstance(border_mode, str):
        if border_mode not in _MODES:
            raise ArignoteValueError(f"conv2d: border_mode must be one of {_MODES}, an int or a "
                                     f"pair of ints, got {border_mode!r}")
        return (0, 0) if border_mode == "valid" else border_mode
    try:
        return _pair(border_mode, "border_mode (a padding)", 0)
    except ArignoteValueError:
        raise ArignoteValueError(f"conv2d: border_mode must be one of {_MODES}, an int >= 0 or a "
                                 f"pair of them, got {border_mode!r}") from None


def dilated(k, d):
    """The extent of a filter of size ``k`` dilated by ``d``."""
    return (k - 1) * d + 1


def paddings(border_mode, kshape, dilation):
    """The (top/bottom, left/right) padding for filters of spatial shape ``kshape``."""
    if border_mode == "full":
        return tuple(dilated(k, d) - 1 for k, d in zip(kshape, dilation))
    if border_mode == "half":
        return tuple(dilated(k, d) // 2 for k, d in zip(kshape, dilation))
    return border_mode


def out_size(size, k, pad, stride, dilation):
    """Output size along one axis (negative: the filter does not fit)."""
    return (size + 2 * pad - dilated(k, dilation)) // stride + 1


class _ConvBase(Op):
    __props__ = ("border_mode", "subsample", "filter_flip", "filter_dilation", "num_groups")
    fusion_kind = "opaque"
    _name = "conv2d"

    def __init__(self, border_mode="valid", subsample=(1, 1), filter_flip=True,
                 filter_dilation=(1, 1), num_groups=1):
        self.border_mode = normalize_border_mode(border_mode)
        self.subsample = _pair(subsample, "subsample", 1)
        self.filter_flip = bool(filter_flip)
        self.filter_dilation = _pair(filter_dilation, "filter_dilation", 1)
        if not isinstance(num_groups, (int, np.integer)) or isinstance(num_groups, bool) \
                or num_groups < 1:
            raise ArignoteValueError(f"conv2d: num_groups must be an int >= 1, got {num_groups!r}")
        self.num_groups = int(num_groups)

    def _params(self):
        return dict(border_mode=self.border_mode, subsample=self.subsample,
                    filter_flip=self.filter_flip, filter_dilation=self.filter_dilation,
                    num_groups=self.num_groups)

    # -------------------------------------------------- shared checks

    def _tensor4(self, v, role):
        v = as_tensor_variable(v)
        if v.ndim != 4 or not v.type.is_float:
            raise ArignoteTypeError(f"{self._name}: the {role} must be a 4-d float tensor, got "
                                    f"{describe(v)} of type {v.type}{built_at(v)}")
        return v

    def _out_spatial(self, hw, khw):
        """Static output sizes from static input sizes ``hw`` and filter sizes ``khw``."""
        if None in khw:
            return (None, None)
        pads = paddings(self.border_mode, khw, self.filter_dilation)
        return tuple(None if s is None else out_size(s, k, p, st, d) for s, k, p, st, d in
                     zip(hw, khw, pads, self.subsample, self.filter_dilation))

    def _check(self, names, xshape, wshape, at=""):
        """ShapeError unless an input of shape ``xshape`` and filters of ``wshape`` fit
        (None entries unknown); returns the static output size. ``names``: how to call
        the input and the filters in a message."""
        g = self.num_groups
        n_f, c_per, kh, kw = wshape
        c = xshape[1]
        what = (f"{self._name}: input {names[0]} (shape {_fmt_shape(xshape)}) and filters "
                f"{names[1]} (shape {_fmt_shape(wshape)})")
        if c is not None and c_per is not None and c != c_per * g:
            raise ShapeError(f"{what}: the input has {c} channels, the filters expect "
                             f"{c_per * g} ({c_per} per group x {g} group(s)){at}")
        if n_f is not None and n_f % g:
            raise ShapeError(f"{what}: {n_f} filters do not split into {g} groups{at}")
        if c is not None and c % g:
            raise ShapeError(f"{what}: {c} input channels do not split into {g} groups{at}")
        out = self._out_spatial(xshape[2:], (kh, kw))
        for axis, (o, s, k) in enumerate(zip(out, xshape[2:], (kh, kw))):
            if o is not None and o < 1 and s is not None:
                pads = paddings(self.border_mode, (kh, kw), self.filter_dilation)
                raise ShapeError(
                    f"{what}: the filter (size {k}, dilated to "
                    f"{dilated(k, self.filter_dilation[axis])}) is larger than the input "
                    f"(size {s} + 2 x padding {pads[axis]}) along axis {axis + 2} in border "
                    f"mode {self.border_mode!r}{at}")
        return out



def _size_scalar(v, what):
    v = as_tensor_variable(np.int64(v) if isinstance(v, (int, np.integer)) else v)
    if v.ndim != 0 or not v.type.is_integer:
        raise ArignoteTypeError(f"conv2d: {what} must be an int scalar, got {describe(v)} ({v.type})")
    return v


# ------------------------------------------------------------ NumPy implementation

def _padded(x, pads):
    if pads == (0, 0):
        return x
    return np.pad(x, ((0, 0), (0, 0), (pads[0], pads[0]), (pads[1], pads[1])))


def windows(xp, kshape, out_hw, stride, dilation):
    """im2col as a view: (N, C, Ho, Wo, kh, kw), the input under each output position."""
    ext = tuple(dilated(k, d) for k, d in zip(kshape, dilation))
    win = sliding_window_view(xp, ext, axis=(2, 3))
    return win[:, :, 0:out_hw[0] * stride[0]:stride[0], 0:out_hw[1] * stride[1]:stride[1],
               ::dilation[0], ::dilation[1]]


def _flipped(w, flip):
    return w[:, :, ::-1, ::-1] if flip else w


def conv_forward(op, x, w, dtype):
    """The output of ``op`` (a Conv2d) for input ``x`` and filters ``w``."""
    g, kshape = op.num_groups, w.shape[2:]
    pads = paddings(op.border_mode, kshape, op.filter_dilation)
    out_hw = tuple(out_size(s, k, p, st, d) for s, k, p, st, d in
                   zip(x.shape[2:], kshape, pads, op.subsample, op.filter_dilation))
    out = np.zeros((x.shape[0], w.shape[0], *out_hw), dtype)
    if out.size == 0 or w.shape[1] == 0:
        return out
    win = windows(_padded(x, pads), kshape, out_hw, op.subsample, op.filter_dilation)
    w = _flipped(w, op.filter_flip)
    cg, fg = x.shape[1] // g, w.shape[0] // g
    for k in range(g):
        part = np.tensordot(win[:, k * cg:(k + 1) * cg], w[k * fg:(k + 1) * fg], ([1, 4, 5], [1, 2, 3]))
        out[:, k * fg:(k + 1) * fg] = part.transpose(0, 3, 1, 2)
    return out


def conv_grad_inputs(op, w, gz, hw, dtype):
    """The gradient of the input (spatial size ``hw``) from filters ``w`` and output gradient ``gz``."""
    g, kshape, (s0, s1), (d0, d1) = op.num_groups, w.shape[2:], op.subsample, op.filter_dilation
    pads = paddings(op.border_mode, kshape, op.filter_dilation)
    n, c = gz.shape[0], w.shape[1] * g
    gxp = np.zeros((n, c, hw[0] + 2 * pads[0], hw[1] + 2 * pads[1]), dtype)
    ho, wo = gz.shape[2:]
    if gz.size and c:
        w = _flipped(w, op.filter_flip)
        cg, fg = w.shape[1], w.shape[0] // g
        for k in range(g):
            # cols[n, i, j, c, u, v]: what output (i, j) sends back to input (i s + u d, j s + v d)
            cols = np.tensordot(gz[:, k * fg:(k + 1) * fg], w[k * fg:(k + 1) * fg], ([1], [0]))
            for u in range(kshape[0]):
                for v in range(kshape[1]):
                    gxp[:, k * cg:(k + 1) * cg, u * d0:u * d0 + ho * s0:s0, v * d1:v * d1 + wo * s1:s1] \
                        += cols[..., u, v].transpose(0, 3, 1, 2)
    return gxp[:, :, pads[0]:pads[0] + hw[0], pads[1]:pads[1] + hw[1]].copy()


def conv_grad_weights(op, x, gz, kshape, dtype):
    """The gradient of the filters (spatial shape ``kshape``) from input ``x`` and ``gz``."""
    g = op.num_groups
    pads = paddings(op.border_mode, kshape, op.filter_dilation)
    cg, fg = x.shape[1] // g, gz.shape[1] // g
    gw = np.zeros((gz.shape[1], cg, *kshape), dtype)
    if gz.size == 0 or gw.size == 0:
        return gw
    win = windows(_padded(x, pads), kshape, gz.shape[2:], op.subsample, op.filter_dilation)
    for k in range(g):
        gw[k * fg:(k + 1) * fg] = np.tensordot(gz[:, k * fg:(k + 1) * fg], win[:, k * cg:(k + 1) * cg],
                                               ([0, 2, 3], [0, 2, 3]))
    return np.ascontiguousarray(_flipped(gw, op.filter_flip))


# ------------------------------------------------------------ ops

class Conv2d(_ConvBase):
    """``conv2d(input, filters)``: (N, C, H, W) x (F, C / groups, kh, kw) -> (N, F, Ho, Wo)."""

    _name = "conv2d"

    def make_node(self, x, w):
        x, w = self._tensor4(x, "input"), self._tensor4(w, "filters")
        names = (describe(x), describe(w))
        out = self._check(names, x.type.shape, w.type.shape, built_at(x) or built_at(w))
        dtype = np.result_type(x.dtype, w.dtype).name
        return Apply(self, [x, w], [TensorType(dtype, (x.type.shape[0], w.type.shape[0], *out))])

    def perform(self, node, inputs):
        x, w = inputs
        self._check(tuple(map(describe, node.inputs)), x.shape, w.shape, built_at(node))
        dtype = node.outputs[0].dtype
        return [conv_forward(self, x.astype(dtype, copy=False), w.astype(dtype, copy=False), dtype)]

    def L_op(self, inputs, outputs, output_grads):
        x, w = inputs
        (gz,) = output_grads
        p = self._params()
        gx = Conv2dGradInputs(**p)(w, gz, shape_i(x, 2), shape_i(x, 3))
        gw = Conv2dGradWeights(**p)(x, gz, shape_i(w, 2), shape_i(w, 3))
        return [_cast_like(gx, x), _cast_like(gw, w)]

    def infer_shape(self, node, input_shapes):
        sx, sw = input_shapes
        hw = [_out_expr(self, sx[2 + a], sw[2 + a], a) for a in range(2)]
        return [_known(node, (sx[0], sw[0], *hw))]


class Conv2dGradInputs(_ConvBase):
    """The input's gradient: ``(filters, output_grad, height, width) -> input_grad``."""

    _name = "conv2d_grad_wrt_inputs"

    def make_node(self, w, gz, h, wd):
        w, gz = self._tensor4(w, "filters"), self._tensor4(gz, "output gradient")
        h, wd = _size_scalar(h, "the input height"), _size_scalar(wd, "the input width")
        c = None if w.type.shape[1] is None else w.type.shape[1] * self.num_groups
        xshape = (gz.type.shape[0], c, static_int(h), static_int(wd))
        self._check_grad(("of the given size", describe(w)), gz, xshape, w.type.shape,
                         gz.type.shape, built_at(gz))
        dtype = np.result_type(w.dtype, gz.dtype).name
        return Apply(self, [w, gz, h, wd], [TensorType(dtype, xshape)])

    def _check_grad(self, names, gz, xshape, wshape, zshape, at=""):
        out = self._check(names, xshape, wshape, at)
        if zshape[1] is not None and wshape[0] is not None and zshape[1] != wshape[0]:
            raise ShapeError(f"{self._name}: the output gradient {describe(gz)} has {zshape[1]} "
                             f"channels for {wshape[0]} filters{at}")
        for a in range(2):
            if out[a] is not None and zshape[2 + a] is not None and out[a] != zshape[2 + a]:
                raise ShapeError(f"{self._name}: an input of shape {_fmt_shape(xshape)} with filters "
                                 f"of shape {_fmt_shape(wshape)} gives outputs of size {out[a]} along "
                                 f"axis {a + 2}, but the output gradient {describe(gz)} has shape "
                                 f"{_fmt_shape(zshape)}{at}")

    def perform(self, node, inputs):
        w, gz, h, wd = inputs
        hw = (int(h), int(wd))
        xshape = (gz.shape[0], w.shape[1] * self.num_groups, *hw)
        self._check_grad(("of the given size", describe(node.inputs[0])), node.inputs[1], xshape,
                         w.shape, gz.shape, built_at(node))
        dtype = node.outputs[0].dtype
        return [conv_grad_inputs(self, w.astype(dtype, copy=False), gz.astype(dtype, copy=False),
                                 hw, dtype)]

    def L_op(self, inputs, outputs, output_grads):
        w, gz, _, _ = inputs
        (ggx,) = output_grads
        p = self._params()
        gw = Conv2dGradWeights(**p)(ggx, gz, shape_i(w, 2), shape_i(w, 3))
        ggz = Conv2d(**p)(ggx, w)
        return [_cast_like(gw, w), _cast_like(ggz, gz), None, None]

    def infer_shape(self, node, input_shapes):
        sw, sz = input_shapes[:2]
        return [_known(node, (sz[0], sw[1] * self.num_groups, *node.inputs[2:]))]


class Conv2dGradWeights(Conv2dGradInputs):
    """The filters' gradient: ``(input, output_grad, kh, kw) -> filters_grad``."""

    _name = "conv2d_grad_wrt_weights"

    def make_node(self, x, gz, kh, kw):
        x, gz = self._tensor4(x, "input"), self._tensor4(gz, "output gradient")
        kh, kw = _size_scalar(kh, "the filter height"), _size_scalar(kw, "the filter width")
        c = x.type.shape[1]
        wshape = (gz.type.shape[1], None if c is None else c // self.num_groups,
                  static_int(kh), static_int(kw))
        self._check_grad((describe(x), "of the given size"), gz, x.type.shape, wshape,
                         gz.type.shape, built_at(gz))
        dtype = np.result_type(x.dtype, gz.dtype).name
        return Apply(self, [x, gz, kh, kw], [TensorType(dtype, wshape)])

    def perform(self, node, inputs):
        x, gz, kh, kw = inputs
        kshape = (int(kh), int(kw))
        wshape = (gz.shape[1], x.shape[1] // self.num_groups, *kshape)
        self._check_grad((describe(node.inputs[0]), "of the given size"), node.inputs[1], x.shape,
                         wshape, gz.shape, built_at(node))
        dtype = node.outputs[0].dtype
        return [conv_grad_weights(self, x.astype(dtype, copy=False), gz.astype(dtype, copy=False),
                                  kshape, dtype)]

    def L_op(self, inputs, outputs, output_grads):
        x, gz, _, _ = inputs
        (ggw,) = output_grads
        p = self._params()
        gx = Conv2dGradInputs(**p)(ggw, gz, shape_i(x, 2), shape_i(x, 3))
        ggz = Conv2d(**p)(x, ggw)
        return [_cast_like(gx, x), _cast_like(ggz, gz), None, None]

    def infer_shape(self, node, input_shapes):
        sx, sz = input_shapes[:2]
        return [_known(node, (sz[1], sx[1] // self.num_groups, *node.inputs[2:]))]


def _known(node, dims):
    """``dims`` (symbolic scalars) with the output's static sizes as constants."""
    return tuple(constant(np.int64(s)) if s is not None else d
                 for s, d in zip(node.outputs[0].type.shape, dims))


def _out_expr(op, size, k, axis):
    """The output size along spatial ``axis`` as a graph of the sizes ``size`` and ``k``."""
    d, s = op.filter_dilation[axis], op.subsample[axis]
    ext = (k - 1) * d + 1
    pad = (op.border_mode[axis] if isinstance(op.border_mode, tuple)
           else ext - 1 if op.border_mode == "full" else ext // 2)
    return (size + 2 * pad - ext) // s + 1


def _cast_like(g, x):
    return g if g.dtype == x.dtype else g.astype(x.dtype)


# ------------------------------------------------------------ public functions

def _hinted(v, hint, what):
    """``v`` with the static sizes of ``hint`` (Theano's input_shape / filter_shape) asserted."""
    if hint is None:
        return v
    hint = tuple(hint)
    if len(hint) != 4 or not all(s is None or isinstance(s, (int, np.integer)) for s in hint):
        raise ArignoteValueError(f"conv2d: {what} must be 4 ints (or None), got {hint!r}")
    for d, (s, t) in enumerate(zip(hint, v.type.shape)):
        if s is not None and t is not None and s != t:
            raise ShapeError(f"conv2d: {what} {hint} contradicts the static shape "
                             f"{_fmt_shape(v.type.shape)} of {describe(v)} (dimension {d}){built_at(v)}")
    return specify_shape(v, [None if t is not None else s for s, t in zip(hint, v.type.shape)])


def conv2d(input, filters, input_shape=None, filter_shape=None, border_mode="valid",
           subsample=(1, 1), filter_flip=True, filter_dilation=(1, 1), num_groups=1):
    """Theano's ``T.nnet.conv2d``: a batch of images (N, C, H, W) convolved with
    filters (F, C / num_groups, kh, kw). ``input_shape`` / ``filter_shape`` are
    static-shape hints (4 ints or None each), checked at run time."""
    op = Conv2d(border_mode, subsample, filter_flip, filter_dilation, num_groups)
    x = op._tensor4(input, "input")
    w = op._tensor4(filters, "filters")
    return op(_hinted(x, input_shape, "input_shape"), _hinted(w, filter_shape, "filter_shape"))


def _grad_op(cls, border_mode, subsample, filter_flip, filter_dilation, num_groups):
    return cls(border_mode, subsample, filter_flip, filter_dilation, num_groups)


def _spatial_args(shape, what):
    shape = tuple(shape) if not hasattr(shape, "ndim") else shape
    if hasattr(shape, "ndim"):
        return shape[-2], shape[-1]
    if len(shape) not in (2, 4):
        raise ArignoteValueError(f"conv2d: {what} must have 4 entries (or the 2 spatial ones), got "
                                 f"{shape!r}")
    return shape[-2], shape[-1]


def conv2d_grad_wrt_inputs(output_grad, filters, input_shape, filter_shape=None,
                           border_mode="valid", subsample=(1, 1), filter_flip=True,
                           filter_dilation=(1, 1), num_groups=1):
    """Theano's ``conv2d_grad_wrt_inputs``: the gradient of ``conv2d``'s input (of shape
    ``input_shape``, whose last two entries are needed) given its output's gradient."""
    op = _grad_op(Conv2dGradInputs, border_mode, subsample, filter_flip, filter_dilation, num_groups)
    w = _hinted(op._tensor4(filters, "filters"), filter_shape, "filter_shape")
    return op(w, output_grad, *_spatial_args(input_shape, "input_shape"))


def conv2d_grad_wrt_weights(input, output_grad, filter_shape, input_shape=None,
                            border_mode="valid", subsample=(1, 1), filter_flip=True,
                            filter_dilation=(1, 1), num_groups=1):
    """Theano's ``conv2d_grad_wrt_weights``: the gradient of ``conv2d``'s filters (of shape
    ``filter_shape``, whose last two entries are needed) given its output's gradient."""
    op = _grad_op(Conv2dGradWeights, border_mode, subsample, filter_flip, filter_dilation, num_groups)
    x = _hinted(op._tensor4(input, "input"), input_shape, "input_shape")
    return op(x, output_grad, *_spatial_args(filter_shape, "filter_shape"))


__all__ = ["Conv2d", "Conv2dGradInputs", "Conv2dGradWeights", "conv2d", "conv2d_grad_wrt_inputs",
           "conv2d_grad_wrt_weights"]
