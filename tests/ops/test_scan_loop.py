"""How a scan runs: the forward loop keeps what its gradient reads and runs once, a
final state is a ring of rows, buffers are reused, and the steps inside a loop show
in ``profile`` and ``arignote dump``."""
import io

import numpy as np
import pytest

import arignote as ag
import arignote.tensor as T
from arignote.cli import _print_kernels
from arignote.ops.scan import Scan
from tests.util import assert_close


def _scans(f):
    return [n for n in f.fgraph.toposort() if isinstance(n.op, Scan)]


def _lstm(X, h0, W, U, b, H):
    def step(x_t, h, c):
        z = T.dot(x_t, W) + T.dot(h, U) + b
        i, f, o = (T.nnet.sigmoid(z[:, k * H:(k + 1) * H]) for k in range(3))
        c = f * c + i * T.tanh(z[:, 3 * H:])
        return o * T.tanh(c), c
    (hs, _), _ = ag.scan(step, sequences=X, outputs_info=[h0, T.zeros_like(h0)], name="lstm")
    return hs


@pytest.mark.parametrize("steps", [0, 1, 4])
def test_lstm_gradient_runs_one_forward_loop_and_matches_no_rewrites(steps):
    rng = np.random.RandomState(0)
    B, I, H = 2, 3, 4
    W = ag.shared(rng.randn(I, 4 * H) * 0.5, name="W")
    U = ag.shared(rng.randn(H, 4 * H) * 0.5, name="U")
    b = ag.shared(rng.randn(4 * H) * 0.1, name="b")
    X, h0 = T.tensor3("X"), T.dmatrix("h0")
    hs = _lstm(X, h0, W, U, b, H)
    cost = (hs ** 2).sum() + (hs[-1] if steps else h0).sum()
    grads = ag.grad(cost, [W, U, b, X, h0])
    f = ag.function([X, h0], grads)
    scans = _scans(f)
    names = sorted(n.op.name for n in scans)
    assert names == ["grad_of_lstm", "lstm"]  # the residuals' loop replaced the user's
    forward = next(n for n in scans if n.op.name == "lstm")
    assert forward.op.layout.n_mapped >= 3  # it stacks what the gradient reads
    reverse = next(n for n in scans if n.op.name == "grad_of_lstm")
    inner_ops = {type(n.op).__name__ for n in reverse.op.nodes}
    assert "MatMul" in inner_ops and not any("sigmoid" in str(n.op) for n in reverse.op.nodes)
    xv, hv = rng.randn(steps, B, I), rng.randn(B, H)
    ref = ag.function([X, h0], grads, mode="fast_compile", backend="numpy")(xv, hv)
    for got, want in zip(f(xv, hv), ref):
        assert_close(got, want)


def test_final_state_is_a_ring_of_rows():
    x = T.dmatrix("x")
    hs, _ = ag.scan(lambda xt, h: T.tanh(h + xt), sequences=x, outputs_info=T.zeros((3,)))
    f = ag.function([x], hs[-1])
    (node,) = _scans(f)
    assert node.op.layout.rec_keep == (2,)
    want = np.zeros(3)
    for _ in range(5):
        want = np.tanh(want + 1)
    assert_close(f(np.ones((5, 3))), want)
    with pytest.raises(ag.ArignoteValueError, match="out of bounds"):
        f(np.ones((0, 3)))  # as NumPy: the last of no rows
    g = ag.function([x], [hs[-1], hs])  # every row read: no ring
    assert _scans(g)[0].op.layout.rec_keep == ()


@pytest.mark.parametrize("n", [0, 1, 2, 7])
def test_ring_of_several_taps(n):
    steps = T.lscalar("n")
    ys, _ = ag.scan(lambda a, b: a + b, n_steps=steps, outputs_info=dict(
        initial=T.constant(np.array([0.0, 1.0])), taps=[-2, -1]))
    f = ag.function([steps], [ys[-1]] if n else ys.shape)
    if n:
        assert _scans(f)[0].op.layout.rec_keep == (3,)
        fib = [0.0, 1.0]
        for _ in range(n):
            fib.append(fib[-1] + fib[-2])
        assert_close(f(n)[0], fib[-1])
    else:
        assert tuple(f(0)) == (0,)


def test_profile_attributes_time_to_the_steps_inside_the_loop():
    x = T.dmatrix("x")
    w = ag.shared(np.eye(3), name="w")
    hs, _ = ag.scan(lambda xt, h: T.tanh(T.dot(h, w) + xt), sequences=x,
                    outputs_info=T.zeros((3,)), name="rnn")
    f = ag.function([x], hs.sum())
    p = ag.profile(f, np.ones((6, 3)), repeat=2)
    inside = [s for s in p.steps if s.within]
    assert inside and all(s.within == "Scan{rnn}" for s in inside)
    assert all(s.runs == 6 for s in inside)
    assert "[x6 in Scan{rnn}]" in str(p)


def test_dump_kernels_lists_the_loop_step():
    x = T.dmatrix("x")
    hs, _ = ag.scan(lambda xt, h: T.tanh(h * 2 + xt), sequences=x, outputs_info=T.zeros((3,)),
                    name="rnn")
    f = ag.function([x], hs.sum(), backend="cpu")
    out = io.StringIO()
    _print_kernels(f, "f", out)
    text = out.getvalue()
    assert "inner graph of Scan{rnn}" in text and "tanh" in text


def test_loop_buffers_are_reused_between_calls():
    x = T.dmatrix("x")
    hs, _ = ag.scan(lambda xt, h: h + xt, sequences=x, outputs_info=T.zeros((512,)))
    f = ag.function([x], hs.sum(), backend="cpu")
    v = np.ones((16, 512))
    assert_close(f(v), f(v))  # (a reused buffer must not leak the previous call's rows)
    assert_close(f(v * 2), 2 * 16 * 17 / 2 * 512)


def test_gradient_through_a_step_that_advances_an_integer_state():
    """A value drawn from a state the step advances (a random stream's, tomorrow) is a
    residual: the reverse loop reads the drawn values and never needs the state."""
    state = ag.shared(np.int64(3), name="state")
    state.default_update = state + 1
    x = T.dvector("x")

    def step(xt, h):
        m = T.cast(T.eq(state % 2, 0), "float64") + 1.0  # 2 at even states, 1 at odd ones
        return h + xt * xt * m

    hs, updates = ag.scan(step, sequences=x, outputs_info=T.constant(0.0))
    assert list(updates) == [state]
    cost = hs.sum()
    f = ag.function([x], [cost, ag.grad(cost, x)], updates=updates)
    v = np.arange(1.0, 5.0)
    m = np.array([1.0, 2.0, 1.0, 2.0])  # states 3, 4, 5, 6
    got_cost, got_grad = f(v)
    n = len(v)
    assert_close(got_cost, sum((n - t) * v[t] ** 2 * m[t] for t in range(n)))
    assert_close(got_grad, np.array([2 * v[t] * m[t] * (n - t) for t in range(n)]))
    assert int(state.get_value()) == 3 + n


def test_dropout_inside_a_step_same_numbers_everywhere_and_its_gradient():
    """A draw in the step: its state comes back in scan's updates, every backend draws
    the same masks, and BPTT reads the masks the forward loop drew (residuals)."""
    from arignote.tensor.random import RandomStreams
    srng = RandomStreams(seed=7)
    x = T.dmatrix("x")
    W = ag.shared(np.eye(3) * 0.5, name="W")

    def step(xt, h):
        mask = srng.binomial(size=h.shape, p=0.5, dtype="float64")
        return T.tanh(T.dot(h * mask, W) + xt)

    hs, updates = ag.scan(step, sequences=x, outputs_info=T.zeros((3,)))
    assert len(updates) == 1
    cost = hs.sum()
    g = ag.grad(cost, W)
    v = np.ones((4, 3))
    results = []
    for backend in ("numpy", "cpu", "interp"):
        srng.seed(7)
        f = ag.function([x], [cost, g], updates=updates, backend=backend)
        results.append(f(v) + f(v))  # (two calls: the second draws new masks)
    for r in results[1:]:
        for got, want in zip(r, results[0]):
            assert_close(got, want)
    assert not np.allclose(results[0][0], results[0][2])
    f = ag.function([x], cost, updates=updates)
    w0, eps, num = W.get_value(), 1e-6, np.zeros((3, 3))
    for i in range(3):
        for j in range(3):
            for sign in (1, -1):
                w = w0.copy()
                w[i, j] += sign * eps
                W.set_value(w)
                srng.seed(7)
                num[i, j] += sign * f(v) / (2 * eps)
    W.set_value(w0)
    assert_close(results[0][1], num, rtol=1e-5)
