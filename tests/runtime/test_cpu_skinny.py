"""Skinny matrix products (runtime/cpu_skinny.py, compiler/skinny_ir.py): which products
they take, their values against float64 NumPy over column counts, dtypes, strides and
the ends of vectors and chunks, the same bits split among threads or not, in a normal
run and in a replay, and functions that use them."""
import numpy as np
import pytest

import arignote as ag
import arignote.tensor as T
from arignote.runtime import cpu_skinny
from arignote.runtime.cpu_skinny import Product, lanes, plan, product

pytestmark = pytest.mark.skipif(not cpu_skinny.ENABLED, reason="ARIGNOTE_SKINNY=0")


def _check(a, b, dtype):
    out = np.full((a.shape[0], b.shape[1]), np.nan, dtype)
    assert product(a, b, out)
    want = a.astype(np.float64) @ b.astype(np.float64)
    scale = np.abs(a).astype(np.float64) @ np.abs(b).astype(np.float64) + 1
    assert np.all(np.abs(out - want) <= scale * (1e-6 if dtype == "float32" else 1e-14))
    return out


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("n", [1, 2, 7, 10, 13, 16])
def test_rows_form_values(dtype, n, rng):
    v = lanes(dtype)
    for m, k in [(1, 2 * v), (5, 2 * v + 1), (256, 784), (33, 3 * v - 1)]:
        a = rng.standard_normal((m, k)).astype(dtype)
        b = rng.standard_normal((k, n)).astype(dtype)
        assert plan(a, b) == "rows"
        _check(a, b, dtype)
        _check(a, np.asfortranarray(b), dtype)  # (B.T contiguous already: no transpose)
        _check(a, b[::-1], dtype)  # (negative strides)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("n", [1, 3, 10, 16])
def test_columns_form_values(dtype, n, rng):
    v = lanes(dtype)
    for k_out, m in [(v, 1), (v + 1, 7), (784, 256), (3 * v - 1, 40)]:
        x = rng.standard_normal((m, k_out)).astype(dtype)
        g = rng.standard_normal((m, n)).astype(dtype)
        assert plan(x.T, g) == "columns"
        _check(x.T, g, dtype)
        _check(x.T, g[:, ::-1], dtype)
        wide = rng.standard_normal((m, 2 * k_out)).astype(dtype)
        assert plan(wide[:, ::2].T, g) is None  # (strided columns: BLAS)


def test_what_stays_with_blas(rng):
    f = np.float32
    assert plan(np.ones((8, 64), f), np.ones((64, 40), f)) is None  # (too many columns)
    assert plan(np.ones((8, 4), f), np.ones((4, 3), f)) is None  # (rows too short for vectors)
    assert plan(np.ones((0, 64), f), np.ones((64, 3), f)) is None
    assert plan(np.ones((8, 64), np.int32), np.ones((64, 3), np.int32)) is None
    assert plan(np.ones((8, 64), f), np.ones((64, 3), np.float64)) is None


def test_split_among_threads_gives_the_same_bits(monkeypatch, rng):
    a = rng.standard_normal((301, 200)).astype(np.float32)
    b = rng.standard_normal((200, 10)).astype(np.float32)
    g = rng.standard_normal((301, 10)).astype(np.float32)
    whole = [_check(a, b, "float32"), _check(a.T, g, "float32")]
    monkeypatch.setattr(cpu_skinny, "MIN_SPLIT_WORK", 1)
    assert Product("rows", a, b, np.empty((301, 10), np.float32)).entries[-1][-1][2] > 1
    split = [_check(a, b, "float32"), _check(a.T, g, "float32")]
    for w, s in zip(whole, split):
        np.testing.assert_array_equal(w, s)


def test_a_training_step_normal_and_replayed(rng):
    """The logistic regression step: the products are skinny ones (X @ W, X.T @ g), the
    replay runs them natively and gives the bits of the normal run."""
    x, y = T.fmatrix("x"), T.ivector("y")
    w0 = (rng.standard_normal((784, 10)) * 0.03).astype(np.float32)
    xs = rng.standard_normal((64, 784)).astype(np.float32)
    ys = rng.integers(0, 10, 64).astype(np.int32)
    results = []
    for replay in (False, True):
        W = ag.shared(w0.copy(), name="W")
        cost = -T.mean(T.nnet.log_softmax(T.dot(x, W))[T.arange(y.shape[0]), y])
        f = ag.function([x, y], cost, updates=[(W, W - 0.1 * ag.grad(cost, W))], backend="cpu")
        if not replay:
            f.program._replayer = False
        results.append([float(f(xs, ys)) for _ in range(4)] + [W.get_value()])
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)
    ref_W = ag.shared(w0.copy(), name="W")
    cost = -T.mean(T.nnet.log_softmax(T.dot(x, ref_W))[T.arange(y.shape[0]), y])
    ref = ag.function([x, y], cost, updates=[(ref_W, ref_W - 0.1 * ag.grad(cost, ref_W))],
                      backend="numpy")
    for _ in range(4):
        ref(xs, ys)
    np.testing.assert_allclose(results[1][-1], ref_W.get_value(), rtol=1e-5, atol=1e-6)


def test_turned_off(monkeypatch):
    monkeypatch.setattr(cpu_skinny, "ENABLED", False)
    a, b = np.ones((8, 64), np.float32), np.ones((64, 3), np.float32)
    assert plan(a, b) is None and not product(a, b, np.empty((8, 3), np.float32))
