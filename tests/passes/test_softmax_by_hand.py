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
