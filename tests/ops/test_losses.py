"""Losses built on softmax and sigmoid: stable through indexing (the tutorials'
``log(softmax(x)[arange(n), y])``), Theano's ``crossentropy_softmax_1hot``
family, ``xlogx``/``xlogy0``. (Activations: tests/ops/test_nnet.py.)"""
import numpy as np
import pytest
import scipy.special as sp

import arignote as ag
import arignote.tensor as T
from arignote.verify import verify_grad
from tests.util import assert_close, check_against_numpy, rand

LOGITS = np.array([[1e4, 0, -1e4], [0, 1e4, 3.0], [1, 2, 3], [-1e4, -1e4, -1e4]])
LABELS = np.array([2, 0, 1, 2])


def _ref_nll(x, y):
    return -sp.log_softmax(x.astype("float64"), axis=1)[np.arange(len(y)), y]


def _ref_grad(x, y):
    onehot = np.eye(x.shape[1])[y]
    return (sp.softmax(x.astype("float64"), axis=1) - onehot) / len(y)


FORMS = {
    "library": lambda x, y: T.nnet.categorical_crossentropy(T.nnet.softmax(x), y),
    "log_then_index": lambda x, y: -T.log(T.nnet.softmax(x))[T.arange(x.shape[0]), y],
    "index_then_log": lambda x, y: -T.log(T.nnet.softmax(x)[T.arange(x.shape[0]), y]),
    "1hot": lambda x, y: T.nnet.crossentropy_softmax_1hot(x, y)[0],
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("form", list(FORMS))
def test_crossentropy_of_huge_logits_is_finite(form, dtype):
    x, y = T.matrix("x", dtype=dtype), T.lvector("y")
    nll = FORMS[form](x, y)
    cost = nll.mean()
    f = ag.function([x, y], [nll, ag.grad(cost, x)])
    got, g = f(LOGITS.astype(dtype), LABELS)
    assert np.isfinite(got).all() and np.isfinite(g).all()
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == "float32" else {}
    np.testing.assert_allclose(got, _ref_nll(LOGITS.astype(dtype), LABELS), **tol)
    np.testing.assert_allclose(g, _ref_grad(LOGITS.astype(dtype), LABELS), **tol)


def test_repeated_labels_and_gradient_through_index():
    """A row picked twice (the scatter accumulates): the rewritten gradient stays exact."""
    x, rows, y = T.dmatrix("x"), T.lvector("rows"), T.lvector("y")
    cost = -T.log(T.nnet.softmax(x)[rows, y]).sum()
    xv, rv, yv = rand((3, 4)), np.array([0, 0, 2, 1]), np.array([1, 1, 3, 0])
    g = ag.function([x, rows, y], ag.grad(cost, x))(xv, rv, yv)
    ref = np.zeros_like(xv)
    for r, c in zip(rv, yv):
        ref[r] += sp.softmax(xv[r]) - np.eye(4)[c]
    assert_close(g, ref)
    verify_grad(lambda v: -T.log(T.nnet.softmax(v)[T.constant(rv), T.constant(yv)]).sum(),
                [xv], n_tests=1)


def test_the_rewrites_fire():
    x, y = T.dmatrix("x"), T.lvector("y")
    cost = -T.log(T.nnet.softmax(x)[T.arange(x.shape[0]), y]).mean()
    f = ag.function([x, y], [cost, ag.grad(cost, x)])
    assert f.stats.fired["log_indexed_softmax"] >= 1
    assert f.stats.fired["softmax_grad_through_index"] >= 2  # sm * (G - s) and G * sm in s


def test_label_out_of_range_raises():
    x, y = T.dmatrix("x"), T.lvector("y")
    f = ag.function([x, y], T.nnet.categorical_crossentropy(T.nnet.softmax(x), y))
    with pytest.raises((IndexError, ag.ArignoteError)):
        f(rand((2, 3)), np.array([0, 3]))


@pytest.mark.parametrize("shape", [(4, 3), (0, 3), (1, 1)])
def test_crossentropy_softmax_argmax_1hot_with_bias(shape):
    x, b, y = T.dmatrix("x"), T.dvector("b"), T.lvector("y")
    nll, sm, am = T.nnet.crossentropy_softmax_argmax_1hot_with_bias(x, b, y)
    xv, bv = rand(shape), rand(shape[1:])
    yv = np.arange(shape[0]) % shape[1]
    got = ag.function([x, b, y], [nll, sm, am])(xv, bv, yv)
    z = xv + bv
    assert_close(got[0], _ref_nll(z, yv) if shape[0] else np.zeros(0))
    assert_close(got[1], sp.softmax(z, axis=1) if z.size else z)
    assert (got[2] == z.argmax(axis=1)).all()
    assert len(T.nnet.crossentropy_softmax_1hot_with_bias(x, b, y)) == 2
    if shape[0]:
        verify_grad(lambda v, w: T.nnet.crossentropy_softmax_1hot_with_bias(v, w, T.constant(yv))[0],
                    [xv, bv], n_tests=1)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_binary_crossentropy_of_sigmoid_is_stable(dtype):
    x, t = T.vector("x", dtype=dtype), T.vector("t", dtype=dtype)
    cost = T.nnet.binary_crossentropy(T.nnet.sigmoid(x), t)
    f = ag.function([x, t], [cost, ag.grad(cost.sum(), x)])
    xv = np.array([100, -100, 800, -800, 1, 0], dtype)
    tv = np.array([1, 0, 0, 1, 0.5, 1], dtype)
    c, g = f(xv, tv)
    x64 = xv.astype("float64")
    assert_close(c, (np.logaddexp(0, x64) - tv * x64).astype(dtype))
    assert_close(g, (sp.expit(x64) - tv).astype(dtype))


XLOG = [("xlogx", lambda x: T.xlogx.xlogx(x),
         lambda x: np.where(x == 0, 0, x * np.log(np.where(x == 0, 1, x)))),
        ("xlogy0", lambda x: T.xlogx.xlogy0(x, x + 1), lambda x: x * np.log(x + 1))]


@pytest.mark.parametrize("name,fn,ref", XLOG, ids=[c[0] for c in XLOG])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(0,), (3, 4)])
def test_xlogx_values(name, fn, ref, dtype, shape):
    v = rand(shape, dtype, low=0, high=2)
    if v.size:
        v.flat[0] = 0
    check_against_numpy(fn, ref, v)


def test_xlogx_gradients():
    verify_grad(T.xlogx.xlogx, [rand((3, 4), low=0.1, high=2)], n_tests=1)
    verify_grad(T.xlogx.xlogy0, [rand((3,), low=-1, high=1), rand((3,), low=0.1, high=2)], n_tests=1)
    x, y = T.dvector("x"), T.dvector("y")
    out = T.xlogx.xlogy0(x, y).sum()
    gx, gy = ag.function([x, y], ag.grad(out, [x, y]))(np.array([0.0, 2.0]), np.array([0.0, 4.0]))
    assert np.isfinite(gx).all() and np.isfinite(gy).all()  # x = 0, y = 0: no nan
    assert_close(gy, np.array([0.0, 0.5]))
    assert T.xlogx.xlogx is T.nnet.xlogx


@pytest.mark.parametrize("form,ref", [
    (lambda x: T.log(T.nnet.sigmoid(x)).sum(), lambda v: 1 - sp.expit(v)),
    (lambda x: (T.log(T.nnet.sigmoid(x)) * x).sum(), lambda v: -np.logaddexp(0, -v) + v * (1 - sp.expit(v))),
    (lambda x: T.log(1 - T.nnet.sigmoid(x)).sum(), lambda v: -sp.expit(v)),
])
def test_gradient_of_log_sigmoid_by_hand_is_finite(form, ref):
    """``(g / p) * p`` cancels in the gradient's product tree (p a sigmoid)."""
    x = T.dvector("x")
    f = ag.function([x], ag.grad(form(x), x))
    v = np.array([-800.0, 800.0, 1.0, -3.0])
    assert_close(f(v), ref(v))
    assert f.stats.fired["cancel_probability_division"] >= 1
