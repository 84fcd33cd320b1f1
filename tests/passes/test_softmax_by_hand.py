"""A softmax written by hand becomes the softmax op (and its log the log-softmax op)."""
import numpy as np
import pytest

import arignote as ag
import arignote.tensor as T
from arignote.ops.nnet import LogSoftmax, Softmax
from tests.util import assert_close


def _ops(f):
    return [type(n.op) for n in f.fgraph.toposort()]


def _np_softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _by_hand(x, axis, with_max, keepdims):
    a = x - x.max(axis=axis, keepdims=True) if with_max else x
    e = T.exp(a)
    if keepdims:
        return e / e.sum(axis=axis, keepdims=True)
    order = [d for d in range(x.ndim - 1)]
    order.insert(axis % x.ndim, "x")
    return e / e.sum(axis=axis).dimshuffle(*order)


@pytest.mark.parametrize("with_max", [True, False])
@pytest.mark.parametrize("keepdims", [True, False])
@pytest.mark.parametrize("ndim, axis", [(2, 1), (2, 0), (2, -1), (3, 1)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_softmax_by_hand_is_recognized(with_max, keepdims, ndim, axis, dtype):
    x = T.tensor(dtype, (None,) * ndim, name="x")
    f = ag.function([x], _by_hand(x, axis, with_max, keepdims), backend="numpy")
    assert Softmax in _ops(f)
    g = ag.function([x], _by_hand(x, axis, with_max, keepdims))
    for shape in [(2, 3, 4)[:ndim], (1, 1, 1)[:ndim], (0, 3, 2)[:ndim]]:
        v = np.random.default_rng(0).normal(size=shape).astype(dtype)
        if v.shape[axis] == 0:  # (NumPy's max of nothing raises; the softmax of nothing is empty)
            assert g(v).shape == v.shape
            continue
        assert_close(g(v), _np_softmax(v, axis))


def test_log_of_a_hand_written_softmax_is_log_softmax_and_stable():
    z, Y = T.dmatrix("z"), T.dmatrix("Y")
    e = T.exp(z - z.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    cost = -T.mean(T.sum(Y * T.log(p), axis=1))
    assert LogSoftmax in _ops(ag.function([z, Y], cost, backend="numpy"))
    logits = np.array([[1e4, 0.0, -1e4], [0.0, 2e4, 5.0]])
    labels = np.eye(3)[[2, 0]]
    got = ag.function([z, Y], cost)(logits, labels)
    assert np.isfinite(got)
    assert_close(got, np.mean([2e4, 2e4]))


def test_near_misses_are_left_alone():
    x = T.dmatrix("x")
    e = T.exp(x - x.max(axis=0, keepdims=True))
    not_max_axis = e / e.sum(axis=1, keepdims=True)   # max and sum along different axes
    other = T.exp(x) / T.exp(x * 2).sum(axis=1, keepdims=True)  # the sum of another exp
    f = ag.function([x], [not_max_axis, other], backend="numpy")
    v = np.random.default_rng(1).normal(size=(3, 4))
    a, b = f(v)
    ev = np.exp(v - v.max(axis=0, keepdims=True))
    assert_close(a, ev / ev.sum(axis=1, keepdims=True))
    assert_close(b, np.exp(v) / np.exp(2 * v).sum(axis=1, keepdims=True))
    assert Softmax not in _ops(ag.function([x], other, backend="numpy"))


def _cross_entropy_step(with_max=True):
    """The training step users write by hand: softmax by hand, one-hot labels."""
    x, Y = T.dmatrix("x"), T.dmatrix("Y")
    W = ag.shared(np.eye(3), name="W")
    h = T.dot(x, W)
    e = T.exp(h - h.max(axis=1, keepdims=True) if with_max else h)
    p = e / e.sum(axis=1, keepdims=True)
    return x, Y, W, e, p, -T.mean(T.sum(Y * T.log(p), axis=1))


@pytest.mark.parametrize("with_max", [True, False])
def test_gradient_of_a_hand_written_softmax_is_softmax_and_stable(with_max):
    x, Y, W, _, _, cost = _cross_entropy_step(with_max)
    g = ag.grad(cost, W)
    assert LogSoftmax in _ops(ag.function([x, Y], [cost, g], backend="numpy"))
    f = ag.function([x, Y], [cost, g])
    logits, labels = np.array([[1e4, 0.0, -1e4], [0.0, 2e4, 5.0]]), np.eye(3)[[2, 0]]
    p = _np_softmax(logits, 1)
    got_cost, got_g = f(logits, labels)
    assert np.isfinite(got_cost) and np.all(np.isfinite(got_g))
    assert_close(got_g, logits.T @ (p - labels) / 2)
    small = np.random.default_rng(0).normal(size=(4, 3))
    _, g_small = f(small, np.eye(3)[[0, 1, 2, 0]])
    p = _np_softmax(small, 1)
    assert_close(g_small, small.T @ (p - np.eye(3)[[0, 1, 2, 0]]) / 4)


def test_a_piece_held_constant_is_differentiated_piece_by_piece():
    """With the sum held constant the gradient is not softmax's: no shortcut then."""
    x, Y, W, e, p, cost = _cross_entropy_step()
    s = p.owner.inputs[1]
    g = ag.grad(cost, W, consider_constant=[s])
    v = np.array([[0.5, -1.0, 2.0], [0.1, 0.2, 0.3]])
    labels = np.eye(3)[[2, 0]]
    # d/dh of -mean(sum(Y * (h - max(h) - log s))), s fixed: -(Y - onehot(argmax) * sum(Y)) / n
    peak = np.eye(3)[v.argmax(axis=1)]
    want = v.T @ (-(labels - peak * labels.sum(axis=1, keepdims=True)) / 2)
    assert_close(ag.function([x, Y], g)(v, labels), want)
