"""W8's hand-written NumPy LSTM (benchmarks/lstm_w8.py) computes what Arignote's does:
the same cost and gradients, so the benchmark compares the same arithmetic."""

import numpy as np
import pytest

import arignote as ag
from tests.util import assert_close, benchmark_module


@pytest.fixture(scope="module")
def lstm_w8():
    with benchmark_module("lstm_w8") as module:
        yield module


def test_numpy_bptt_matches_arignote_gradients(lstm_w8):
    xs, ys, params = lstm_w8.problem(steps=5, batch=3, n_in=4, n_hidden=6, n_classes=3,
                                     dtype="float64", seed=1)
    params[2] += np.random.default_rng(2).standard_normal(params[2].shape)  # gates off their midpoint
    cost, grads = lstm_w8.numpy_grads(params, xs, ys)
    inputs, cost_v, grads_v, _ = lstm_w8.graph(params)
    got = ag.function(inputs, [cost_v] + grads_v)(xs, ys)
    assert_close(got[0], cost)
    for g, want in zip(got[1:], grads):
        assert_close(g, want)


def test_numpy_step_matches_arignote_updates(lstm_w8):
    xs, ys, params = lstm_w8.problem(steps=4, batch=2, n_in=3, n_hidden=5, n_classes=4, seed=3)
    inputs, cost, _, updates = lstm_w8.graph(params, learning_rate=0.5)
    ag.function(inputs, cost, updates=updates)(xs, ys)
    for (p, _), want in zip(updates, lstm_w8.numpy_step(params, xs, ys, learning_rate=0.5)):
        assert_close(p.get_value(), want, rtol=1e-4)
