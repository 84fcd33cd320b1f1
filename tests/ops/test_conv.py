"""conv2d against a direct loop over output positions: border modes, strides, dilation,
groups, flipping, dtypes, degenerate sizes; static shapes; gradients (verify_grad and the
grad ops against the oracle's own adjoints); errors naming the variables; the cpu step
leaves the bias and activation to ONE fused kernel."""
import numpy as np
import pytest

import arignote as ag
import arignote.tensor as T
from arignote.errors import ArignoteTypeError, ArignoteValueError, ShapeError
from arignote.ops.conv import Conv2d, Conv2dGradInputs, Conv2dGradWeights
from arignote.verify import verify_grad
from tests.util import assert_close


def _pads(mode, k, d):
    ext = [(kk - 1) * dd + 1 for kk, dd in zip(k, d)]
    if mode == "valid":
        return (0, 0)
    if mode == "full":
        return tuple(e - 1 for e in ext)
    if mode == "half":
        return tuple(e // 2 for e in ext)
    return (mode, mode) if isinstance(mode, int) else tuple(mode)


def oracle(x, w, mode="valid", s=(1, 1), flip=True, d=(1, 1), g=1):
    """out[n, f, i, j] = sum over the group's c and (u, v) of
    x_pad[n, c, i s + u d, j s + v d] w[f, c, u, v] (w flipped first when ``flip``)."""
    n, c, h, wd = x.shape
    f, cg, kh, kw = w.shape
    ph, pw = _pads(mode, (kh, kw), d)
    xp = np.zeros((n, c, h + 2 * ph, wd + 2 * pw), np.float64)
    xp[:, :, ph:ph + h, pw:pw + wd] = x
    wk = w[:, :, ::-1, ::-1] if flip else w
    ho = (h + 2 * ph - (kh - 1) * d[0] - 1) // s[0] + 1
    wo = (wd + 2 * pw - (kw - 1) * d[1] - 1) // s[1] + 1
    out = np.zeros((n, f, ho, wo))
    fg = f // g
    for i in range(ho):
        for j in range(wo):
            for q in range(f):
                grp = q // fg
                patch = xp[:, grp * cg:(grp + 1) * cg, i * s[0]:i * s[0] + (kh - 1) * d[0] + 1:d[0],
                           j * s[1]:j * s[1] + (kw - 1) * d[1] + 1:d[1]]
                out[:, q, i, j] = (patch * wk[q]).sum(axis=(1, 2, 3))
    return out


def _run(xv, wv, **kw):
    x, w = T.tensor4("x", dtype=xv.dtype), T.tensor4("w", dtype=wv.dtype)
    return ag.function([x, w], T.nnet.conv2d(x, w, **kw))(xv, wv)


def _data(xs, ws, dtype="float64", seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(-1, 1, xs).astype(dtype), rng.uniform(-1, 1, ws).astype(dtype)


def _check(xs, ws, dtype="float64", **kw):
    xv, wv = _data(xs, ws, dtype)
    got = _run(xv, wv, **kw)
    ref = oracle(xv, wv, kw.get("border_mode", "valid"), kw.get("subsample", (1, 1)),
                 kw.get("filter_flip", True), kw.get("filter_dilation", (1, 1)), kw.get("num_groups", 1))
    assert_close(got, ref.astype(got.dtype), rtol=1e-4 if dtype == "float32" else 1e-12)


# ------------------------------------------------------------ values

@pytest.mark.parametrize("mode", ["valid", "full", "half", 1, (2, 0)])
@pytest.mark.parametrize("sub,dil", [((1, 1), (1, 1)), ((2, 3), (1, 1)), ((1, 1), (2, 1)), ((2, 1), (1, 2))])
@pytest.mark.parametrize("flip", [True, False])
def test_modes_strides_dilation_flip(mode, sub, dil, flip):
    _check((2, 3, 9, 8), (4, 3, 3, 2), border_mode=mode, subsample=sub, filter_dilation=dil,
           filter_flip=flip)


@pytest.mark.parametrize("groups", [2, 3])
@pytest.mark.parametrize("mode", ["valid", "half"])
def test_groups(groups, mode):
    _check((2, 6, 7, 7), (6, 6 // groups, 3, 3), border_mode=mode, num_groups=groups)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dtypes(dtype):
    xv, wv = _data((3, 2, 8, 8), (5, 2, 3, 3), dtype)
    assert _run(xv, wv).dtype == dtype
    _check((3, 2, 8, 8), (5, 2, 3, 3), dtype=dtype, border_mode="full")


@pytest.mark.parametrize("xs,ws,kw", [
    ((2, 1, 1, 1), (3, 1, 1, 1), {}),                      # 1x1 images, 1x1 filters
    ((1, 1, 5, 4), (1, 1, 5, 4), {}),                      # filter as large as the image
    ((0, 2, 5, 5), (3, 2, 3, 3), {}),                      # batch 0
    ((1, 1, 5, 5), (1, 1, 1, 1), {"subsample": (2, 2)}),   # batch 1, channels 1
    ((2, 1, 1, 1), (2, 1, 3, 3), {"border_mode": "full"}),
    ((2, 1, 1, 1), (2, 1, 3, 3), {"border_mode": "half"}),
    ((2, 3, 4, 4), (0, 3, 2, 2), {}),                      # no filters
])
def test_small_and_empty(xs, ws, kw):
    _check(xs, ws, **kw)


def test_float32_and_float64_mix_to_float64():
    xv, wv = _data((1, 2, 4, 4), (1, 2, 2, 2))
    assert _run(xv.astype("float32"), wv).dtype == "float64"


# ------------------------------------------------------------ static shapes

def test_static_shape_inferred():
    x = T.tensor4("x", shape=(8, 3, 28, 28))
    w = T.tensor4("w", shape=(16, 3, 5, 5))
    assert T.nnet.conv2d(x, w).type.shape == (8, 16, 24, 24)
    assert T.nnet.conv2d(x, w, border_mode="full").type.shape == (8, 16, 32, 32)
    assert T.nnet.conv2d(x, w, border_mode="half", subsample=(2, 2)).type.shape == (8, 16, 14, 14)
    assert T.nnet.conv2d(x, w, filter_dilation=(2, 2)).type.shape == (8, 16, 20, 20)


def test_shape_hints_and_symbolic_shape():
    x, w = T.tensor4("x"), T.tensor4("w")
    y = T.nnet.conv2d(x, w, input_shape=(None, 2, 9, 9), filter_shape=(4, 2, 3, 3), subsample=(2, 2))
    assert y.type.shape == (None, 4, 4, 4)
    xv, wv = _data((3, 2, 9, 9), (4, 2, 3, 3))
    assert tuple(ag.function([x, w], y.shape)(xv, wv)) == (3, 4, 4, 4)
    with pytest.raises(ShapeError):  # the hint is checked at run time
        ag.function([x, w], y)(*_data((3, 2, 8, 9), (4, 2, 3, 3)))
    z = T.nnet.conv2d(x, w, border_mode="half", filter_dilation=(2, 1))  # shape of unknown sizes
    xv, wv = _data((2, 2, 7, 6), (3, 2, 3, 2))
    assert tuple(ag.function([x, w], z.shape)(xv, wv)) == _run(xv, wv, border_mode="half",
                                                                  filter_dilation=(2, 1)).shape


def test_ops_are_values():
    assert Conv2d("valid") == Conv2d((0, 0)) and hash(Conv2d("valid")) == hash(Conv2d(0))
    assert Conv2d("full") != Conv2d("half")


# ------------------------------------------------------------ gradients

@pytest.mark.parametrize("kw", [
    {}, {"border_mode": "full", "subsample": (2, 1)}, {"border_mode": "half", "filter_flip": False},
    {"border_mode": (1, 2), "filter_dilation": (2, 1), "subsample": (1, 2)}, {"num_groups": 2}])
def test_verify_grad(kw):
    xv, wv = _data((2, 2, 6, 5), (2, 2 // kw.get("num_groups", 1), 3, 2))
    verify_grad(lambda x, w: T.nnet.conv2d(x, w, **kw), [xv, wv], rng=1)


def test_grad_ops_are_the_adjoints_of_the_oracle():
    """<conv(x, w), gz> is bilinear: its gradients are the two grad ops, checked at the point."""
    xv, wv = _data((2, 3, 7, 6), (4, 3, 3, 3))
    kw = dict(border_mode="half", subsample=(2, 2), filter_dilation=(1, 2))
    gz = np.random.default_rng(3).uniform(-1, 1, oracle(xv, wv, "half", (2, 2), True, (1, 2)).shape)
    x, w, g = T.tensor4("x"), T.tensor4("w"), T.tensor4("gz")
    gx = T.nnet.conv2d_grad_wrt_inputs(g, w, x.shape, border_mode="half", subsample=(2, 2),
                                       filter_dilation=(1, 2))
    gw = T.nnet.conv2d_grad_wrt_weights(x, g, w.shape, border_mode="half", subsample=(2, 2),
                                        filter_dilation=(1, 2))
    gxv, gwv = ag.function([x, w, g], [gx, gw])(xv, wv, gz)
    eps = 1e-6
    for arr, grad in ((xv, gxv), (wv, gwv)):
        for idx in [(0, 1, 2, 3), (1, 2, 0, 0), (0, 0, 1, 2)]:
            if any(i >= s for i, s in zip(idx, arr.shape)):
                continue
            old = arr[idx]
            arr[idx] = old + eps
            up = (oracle(xv, wv, "half", (2, 2), True, (1, 2)) * gz).sum()
            arr[idx] = old - eps
            down = (oracle(xv, wv, "half", (2, 2), True, (1, 2)) * gz).sum()
            arr[idx] = old
            assert abs((up - down) / (2 * eps) - grad[idx]) < 1e-6
    assert gxv.shape == xv.shape and gwv.shape == wv.shape
    del kw


def test_grad_uses_the_grad_ops_and_grad_of_grad_works():
    x, w = T.tensor4("x"), T.tensor4("w")
    gx, gw = ag.grad((T.nnet.conv2d(x, w) ** 2).sum(), [x, w])
    assert isinstance(gx.owner.op, Conv2dGradInputs) and isinstance(gw.owner.op, Conv2dGradWeights)
    xv, wv = _data((1, 2, 5, 5), (2, 2, 3, 3))
    verify_grad(lambda a, b: ag.grad((T.nnet.conv2d(a, b) ** 2).sum(), a), [xv, wv], rng=2)
    verify_grad(lambda a, b: ag.grad((T.nnet.conv2d(a, b, subsample=(2, 1)) ** 2).sum(), b),
                [xv, wv], rng=2)


# ------------------------------------------------------------ errors

def test_channel_mismatch_names_both():
    x = T.tensor4("images", shape=(None, 3, None, None))
    w = T.tensor4("kernels", shape=(4, 2, 3, 3))
    with pytest.raises(ShapeError, match="'images'.*'kernels'.*3 channels"):
        T.nnet.conv2d(x, w)
    x, w = T.tensor4("images"), T.tensor4("kernels")
    f = ag.function([x, w], T.nnet.conv2d(x, w))
    with pytest.raises(ShapeError, match="'images'.*'kernels'.*test_conv.py"):
        f(*_data((1, 3, 5, 5), (4, 2, 3, 3)))


def test_grad_ops_check_the_output_gradient_when_run():
    """Each grad op's step runs the op's own check (cpu: before its products), naming gz."""
    x, w, g = T.tensor4("x"), T.tensor4("w"), T.tensor4("gz")
    gx = T.nnet.conv2d_grad_wrt_inputs(g, w, x.shape)
    gw = T.nnet.conv2d_grad_wrt_weights(x, g, w.shape)
    xv, wv = _data((2, 3, 6, 6), (4, 3, 3, 3))
    bad = np.zeros((2, 4, 5, 5))  # (a 6x6 image and 3x3 filters give 4x4 outputs)
    for out in (gx, gw):
        f = ag.function([x, w, g], out, on_unused_input="ignore")
        with pytest.raises(ShapeError, match="size 4 along axis 2, but the output gradient 'gz'"):
            f(xv, wv, bad)
    f = ag.function([x, w, g], gx, on_unused_input="ignore")
    with pytest.raises(ShapeError, match="output gradient 'gz' has 5 channels for 4 filters"):
        f(xv, wv, np.zeros((2, 5, 4, 4)))


def test_filter_larger_than_input_in_valid_mode():
    x = T.tensor4("images", shape=(None, 1, 4, 10))
    w = T.tensor4("kernels", shape=(2, 1, 5, 3))
    with pytest.raises(ShapeError, match="larger than the input"):
        T.nnet.conv2d(x, w)
    assert T.nnet.conv2d(x, w, border_mode="full").type.shape == (None, 2, 8, 12)
    x, w = T.tensor4("images"), T.tensor4("kernels")
    f = ag.function([x, w], T.nnet.conv2d(x, w))
    with pytest.raises(ShapeError, match="'images'.*larger than the input"):
        f(*_data((1, 1, 4, 10), (2, 1, 5, 3)))


@pytest.mark.parametrize("bad", ["same", -1, (1, 2, 3), 1.5, (1, -2)])
def test_bad_border_mode(bad):
    with pytest.raises(ArignoteValueError, match="border_mode"):
        T.nnet.conv2d(T.tensor4("x"), T.tensor4("w"), border_mode=bad)


@pytest.mark.parametrize("kw", [{"subsample": (0, 1)}, {"filter_dilation": 0}, {"num_groups": 0}])
def test_bad_parameters(kw):
    with pytest.raises(ArignoteValueError):
        T.nnet.conv2d(T.tensor4("x"), T.tensor4("w"), **kw)


def test_non_4d_inputs_named():
    with pytest.raises(ArignoteTypeError, match="input must be a 4-d.*'pics'"):
        T.nnet.conv2d(T.tensor3("pics"), T.tensor4("w"))
    with pytest.raises(ArignoteTypeError, match="filters must be a 4-d.*'kern'"):
        T.nnet.conv2d(T.tensor4("x"), T.matrix("kern"))
    with pytest.raises(ArignoteTypeError, match="float"):
        T.nnet.conv2d(T.tensor4("x"), T.tensor4("w", dtype="int32"))


def test_groups_must_divide():
    with pytest.raises(ShapeError, match="groups"):
        T.nnet.conv2d(T.tensor4("x", shape=(None, 4, 5, 5)), T.tensor4("w", shape=(3, 2, 3, 3)),
                      num_groups=2)


# ------------------------------------------------------------ the cpu step

def test_cpu_bias_and_tanh_fuse_into_one_kernel_after_the_conv():
    x, w, b = T.ftensor4("x"), T.ftensor4("w"), T.fvector("b")
    y = T.tanh(T.nnet.conv2d(x, w) + b.dimshuffle("x", 0, "x", "x"))
    f = ag.function([x, w, b], y, backend="cpu", fusion=True)
    kinds = sorted(type(n.op).__name__ for n in f.fgraph.toposort())
    assert kinds == ["Conv2d", "Fused"], kinds
    xv, wv = _data((4, 2, 9, 9), (3, 2, 3, 3), "float32")
    bv = np.float32([0.1, -0.2, 0.3])
    ref = np.tanh(oracle(xv, wv) + bv[:, None, None])
    assert_close(f(xv, wv, bv), ref.astype("float32"), rtol=1e-5)


@pytest.mark.parametrize("backend", ["cpu", "numpy"])
def test_training_step_backends_agree(backend):
    """A conv layer's SGD step (the gradient steps threaded over a batch large enough to split)."""
    xv, wv = _data((32, 3, 12, 12), (8, 3, 5, 5), "float32")
    x = T.ftensor4("x")
    W = ag.shared(wv.copy(), name="W")
    cost = (T.tanh(T.nnet.conv2d(x, W, border_mode=(1, 2), subsample=(1, 2))) ** 2).mean()
    gx, gw = ag.grad(cost, [x, W])
    f = ag.function([x], [cost, gx, gw], backend=backend)
    ref = ag.function([x], [cost, gx, gw], backend="numpy")
    for a, r in zip(f(xv), ref(xv)):
        assert_close(a, r, rtol=2e-5)
