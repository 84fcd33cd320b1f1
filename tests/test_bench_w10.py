"""W10's hand-written NumPy LeNet (benchmarks/lenet_w10.py) computes what Arignote's does:
the same cost and gradients, so the benchmark compares the same arithmetic."""

import pytest

import arignote as ag
from tests.util import assert_close, benchmark_module


@pytest.fixture(scope="module")
def lenet_w10():
    with benchmark_module("lenet_w10") as module:
        yield module


SMALL = dict(batch=3, image=14, channels=(2, 3, 4), k=3, hidden=7, classes=5)


def test_numpy_im2col_matches_arignote_gradients(lenet_w10):
    xs, ys, params = lenet_w10.problem(**SMALL, dtype="float64", seed=1)
    cost, grads = lenet_w10.numpy_grads(params, xs, ys)
    inputs, cost_v, grads_v, _ = lenet_w10.graph(params)
    got = ag.function(inputs, [cost_v] + grads_v)(xs, ys)
    assert_close(got[0], cost)
    for g, want in zip(got[1:], grads):
        assert_close(g, want)


def test_numpy_step_matches_arignote_updates(lenet_w10):
    xs, ys, params = lenet_w10.problem(**SMALL, seed=3)
    inputs, cost, _, updates = lenet_w10.graph(params, learning_rate=0.5)
    ag.function(inputs, cost, updates=updates)(xs, ys)
    for (p, _), want in zip(updates, lenet_w10.numpy_step(params, xs, ys, learning_rate=0.5)):
        assert_close(p.get_value(), want, rtol=1e-4)


def test_flops_of_the_w10_step(lenet_w10):
    conv = 2 * 64 * (20 * 25 * 24 * 24 * 2 + 50 * 20 * 25 * 8 * 8 * 3)
    dense = 3 * 2 * 64 * (800 * 500 + 500 * 10)
    assert lenet_w10.flops() == conv + dense
