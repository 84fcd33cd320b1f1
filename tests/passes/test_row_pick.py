"""``m[arange(len(y)), y]`` and its gradient's scatter as row masks: the softmax
cross-entropy and its gradient in one row kernel, with NumPy's values and errors."""
import numpy as np
import pytest

import arignote as ag
import arignote.tensor as T
from arignote.errors import ArignoteError
from arignote.ops.fused import Fused
from arignote.ops.indexing import AdvancedSubtensor, IncSubtensor
from tests.util import assert_close


def _np_log_softmax(x):
    s = x - x.max(axis=1, keepdims=True)
    return s - np.log(np.exp(s).sum(axis=1, keepdims=True))


def _np_loss_and_grad(x, y, w):
    """``sum(w * -log_softmax(x)[arange(n), y])`` and its gradient in ``x``."""
    n = len(y)
    ls = _np_log_softmax(x)
    g = np.exp(ls) * 0
    g[np.arange(n), y] -= w
    g[:n] -= np.exp(ls[:n]) * g[:n].sum(axis=1, keepdims=True)
    return -(w * ls[np.arange(n), y]).sum(), g


def _graph(dtype, weighted):
    x, y = T.matrix("x", dtype=dtype), T.ivector("y")
    picked = T.nnet.log_softmax(x)[T.arange(y.shape[0]), y]
    w = T.vector("w", dtype=dtype)
    loss = -T.sum(picked * w) if weighted else -T.sum(picked)
    return [x, y, w] if weighted else [x, y], loss, x


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("rows, cols, n", [(7, 3, 7), (1, 1, 1), (1, 5, 1), (6, 4, 3), (5, 2, 1),
                                          (0, 4, 0), (4, 3, 0)])
def test_cross_entropy_and_gradient_match_numpy(dtype, weighted, rows, cols, n):
    inputs, loss, x = _graph(dtype, weighted)
    f = ag.function(inputs, [loss, ag.grad(loss, x)])
    rng = np.random.default_rng(rows * 10 + cols)
    xv = rng.normal(size=(rows, cols)).astype(dtype) * 3
    yv = rng.integers(-cols, cols, size=n).astype("int32")  # negatives pick from the end
    wv = rng.uniform(0.5, 2, size=n).astype(dtype) if weighted else np.ones(n, dtype)
    got_loss, got_grad = f(xv, yv, wv) if weighted else f(xv, yv)
    want_loss, want_grad = _np_loss_and_grad(xv.astype("float64"), yv, wv.astype("float64"))
    assert_close(got_loss, want_loss.astype(dtype))
    assert_close(got_grad, want_grad.astype(dtype))


@pytest.mark.parametrize("labels", [[2, 0, -1, 1], [1, 1, 0, 2, 2]])
def test_gradient_checks_numerically(labels):
    y = T.constant(np.array(labels, "int32"))
    ag.verify_grad(lambda x: -T.mean(T.nnet.log_softmax(x * 2)[T.arange(len(labels)), y]),
                   [np.random.default_rng(0).normal(size=(5, 3))])


def test_huge_logits_give_a_finite_loss_and_gradient():
    x, y = T.dmatrix("x"), T.ivector("y")
    cost = -T.mean(T.log(T.nnet.softmax(x)[T.arange(y.shape[0]), y]))  # the tutorials' form
    loss, grad = ag.function([x, y], [cost, ag.grad(cost, x)])(
        np.array([[1e4, 0.0, -1e4], [0.0, 2e4, 5.0]]), np.array([2, 0], "int32"))
    assert_close(loss, 2e4)
    assert np.isfinite(grad).all()
    assert_close(grad, np.array([[0.5, 0, -0.5], [-0.5, 0.5, 0]]))


@pytest.mark.parametrize("labels, rows, match", [
    ([0, 3], 2, "index 3"), ([0, -4], 2, "index -4"), ([0, 1, 2], 2, "index 2")])
def test_bad_labels_raise_like_numpy_indexing(labels, rows, match):
    x, y = T.dmatrix("x"), T.ivector("y")
    cost = -T.sum(T.nnet.log_softmax(x)[T.arange(y.shape[0]), y])
    f = ag.function([x, y], [cost, ag.grad(cost, x)])
    with pytest.raises((ArignoteError, IndexError), match=match):
        f(np.zeros((rows, 3)), np.array(labels, "int32"))


def test_a_picked_negative_zero_keeps_its_sign():
    x, y = T.dmatrix("x"), T.ivector("y")
    f = ag.function([x, y], (-x)[T.arange(y.shape[0]), y])
    got = f(np.array([[0.0, 1.0], [2.0, -0.0]]), np.array([0, 1], "int32"))
    assert np.array_equal(np.signbit(got), [True, False])


def test_loss_and_gradient_are_one_row_kernel_when_fused():
    x, y = T.fmatrix("x"), T.ivector("y")
    cost = -T.mean(T.log(T.nnet.softmax(x))[T.arange(y.shape[0]), y])
    f = ag.function([x, y], [cost, ag.grad(cost, x)], backend="cpu", fusion=True)
    nodes = f.fgraph.toposort()
    assert not [n for n in nodes if isinstance(n.op, (AdvancedSubtensor, IncSubtensor))]
    readers_of_x = [n for n in nodes if isinstance(n.op, Fused) and f.fgraph.inputs[0] in n.inputs]
    assert len(readers_of_x) == 1  # the loss rows and the gradient: one pass set over x
    unfused = ag.function([x, y], [cost, ag.grad(cost, x)], backend="cpu", fusion=False)
    assert [n for n in unfused.fgraph.toposort() if isinstance(n.op, AdvancedSubtensor)]
