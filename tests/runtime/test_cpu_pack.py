"""The compiled window loops of the cpu convolution and pooling steps (runtime/cpu_pack)
give the NumPy code's values to the bit, on every geometry: padding, strides, dilation,
both column layouts the steps use, float32 and float64; and the steps use them."""
import numpy as np
import pytest

from arignote.ops.conv import out_size, windows
from arignote.ops.pool import MaxPoolGrad, Pool, max_pool_grad, pool_forward
from arignote.runtime import cpu_pack

GEOMETRIES = [  # (N, C, H, W), (kh, kw), stride, dilation, padding
    ((3, 2, 9, 8), (3, 2), (1, 1), (1, 1), (0, 0)),
    ((2, 3, 7, 9), (3, 3), (2, 1), (1, 2), (1, 2)),
    ((2, 1, 5, 5), (4, 4), (3, 2), (2, 1), (3, 3)),  # rows and columns wholly in the padding
    ((1, 2, 6, 6), (1, 1), (1, 1), (1, 1), (0, 0)),
]


def _elements(a):
    return tuple(s // a.itemsize for s in a.strides)


def _case(shape, k, st, dl, pd, dtype, seed=0):
    x = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    out_hw = tuple(out_size(s, kk, p, t, d) for s, kk, p, t, d in zip(shape[2:], k, pd, st, dl))
    xp = np.pad(x, ((0, 0), (0, 0), (pd[0], pd[0]), (pd[1], pd[1])))
    return x, out_hw, windows(xp, k, out_hw, st, dl).transpose(0, 1, 4, 5, 2, 3)  # n c u v i j


def _record(x_like, k, out_hw, st, dl, pd, a, b):
    return cpu_pack.geometry(x_like.shape[1:], k, out_hw, st, dl, pd, a, b)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape,k,st,dl,pd", GEOMETRIES)
def test_im2col_both_layouts(shape, k, st, dl, pd, dtype):
    x, out_hw, ref = _case(shape, k, st, dl, pd, dtype)
    n, c = shape[:2]
    per_image = np.full((n, c, *k, *out_hw), 7, dtype)
    rec = _record(x, k, out_hw, st, dl, pd, _elements(x), _elements(per_image))
    cpu_pack.call(cpu_pack.kernel("im2col", x.dtype, rec), (x, per_image), 0, n * c)
    np.testing.assert_array_equal(per_image, ref)
    batch = np.full((c, *k, n, *out_hw), 7, dtype)  # (C, kh, kw, N, Ho, Wo), a part of the planes
    s = _elements(batch)
    rec = _record(x, k, out_hw, st, dl, pd, _elements(x), (s[3], s[0], s[1], s[2], s[4], s[5]))
    cpu_pack.call(cpu_pack.kernel("im2col", x.dtype, rec), (x, batch), c, n * c)
    np.testing.assert_array_equal(batch.transpose(3, 0, 1, 2, 4, 5)[1:], ref[1:])
    assert (batch[:, :, :, 0] == 7).all()  # planes outside [start, end) untouched


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape,k,st,dl,pd", GEOMETRIES)
def test_col2im_adds_offset_by_offset_as_numpy(shape, k, st, dl, pd, dtype):
    x, out_hw, _ = _case(shape, k, st, dl, pd, dtype)
    cols = np.random.default_rng(1).standard_normal((*shape[:2], *k, *out_hw)).astype(dtype)
    frame = np.zeros((*shape[:2], shape[2] + 2 * pd[0], shape[3] + 2 * pd[1]), dtype)
    for u in range(k[0]):
        for v in range(k[1]):
            part = frame[:, :, u * dl[0]:u * dl[0] + out_hw[0] * st[0]:st[0],
                         v * dl[1]:v * dl[1] + out_hw[1] * st[1]:st[1]]
            part += cols[:, :, u, v]
    gx = np.full(shape, 5, dtype)
    rec = _record(x, k, out_hw, st, dl, pd, _elements(gx), _elements(cols))
    cpu_pack.call(cpu_pack.kernel("col2im", gx.dtype, rec), (gx, cols), 0, shape[0] * shape[1])
    np.testing.assert_array_equal(gx, frame[:, :, pd[0]:pd[0] + shape[2], pd[1]:pd[1] + shape[3]])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("ws,stride,pad,ignore_border", [
    ((2, 2), None, (0, 0), True), ((3, 2), (1, 1), (0, 0), True), ((3, 3), (2, 2), (1, 1), True),
    ((2, 3), None, (0, 0), False),
    # windows inside the input: disjoint and covering it, and disjoint with gaps between
    ((1, 2), None, (0, 0), True), ((2, 2), (3, 3), (0, 0), True)])
def test_max_pool_and_its_grad_as_numpy_with_ties_and_nan(ws, stride, pad, ignore_border, dtype):
    rng = np.random.default_rng(2)
    x = rng.integers(-2, 3, (3, 7, 8)).astype(dtype)  # ties in most windows
    x[0, 1, 1] = np.nan
    x[1] = -np.inf  # every window at the lowest value, the padding's too
    pool, grad = Pool(ws, ignore_border, stride, pad), MaxPoolGrad(ws, ignore_border, stride, pad)
    mx = pool_forward(pool, x)
    gz = rng.standard_normal(mx.shape).astype(dtype)
    ref = max_pool_grad(grad, x, mx, gz)
    gx = np.full_like(x, 5)
    xv, mv = x[:, None], mx[:, None]
    disjoint = all(s >= w for s, w in zip(grad.stride, grad.ws))
    rec = cpu_pack.geometry((1, *x.shape[1:]), ws, mx.shape[1:], grad.stride, (1, 1), pad,
                            _elements(xv), _elements(gx[:, None]) + (0, 0), _elements(mv),
                            int(disjoint))
    cpu_pack.call(cpu_pack.kernel("max_pool_grad", x.dtype, rec), (gx, x, mx, gz), 0, x.shape[0])
    np.testing.assert_array_equal(gx, ref)
    pooled = np.full_like(mx, 5)
    rec = cpu_pack.geometry((1, *x.shape[1:]), ws, mx.shape[1:], grad.stride, (1, 1), pad,
                            _elements(xv), _elements(pooled[:, None]) + (0, 0))
    cpu_pack.call(cpu_pack.kernel("max_pool", x.dtype, rec), (pooled, x), 0, x.shape[0])
    np.testing.assert_array_equal(pooled, mx)


def test_the_cpu_steps_use_the_compiled_loops(monkeypatch):
    import arignote as ag
    import arignote.tensor as T
    from arignote.tensor.signal.pool import pool_2d
    used = set()
    real = cpu_pack.call
    monkeypatch.setattr(cpu_pack, "call", lambda fn, arrays, s, e: used.add(len(arrays))
                        or real(fn, arrays, s, e))
    x, w = T.tensor4("x"), T.tensor4("w")
    cost = pool_2d(T.tanh(T.nnet.conv2d(x, w)), (2, 2)).sum()
    f = ag.function([x, w], ag.grad(cost, [x, w]), backend="cpu")
    rng = np.random.default_rng(0)
    f(rng.standard_normal((2, 3, 9, 9)), rng.standard_normal((4, 3, 3, 3)))
    assert used == {2, 4}  # im2col / col2im / max-pool, and the max-pool gradient


def test_other_dtypes_have_no_loop():
    rec = cpu_pack.geometry((1, 4, 4), (2, 2), (3, 3), (1, 1), (1, 1), (0, 0), (16, 16, 4, 1),
                            (36, 36, 18, 9, 3, 1))
    assert cpu_pack.kernel("im2col", np.dtype("float16"), rec) is None
