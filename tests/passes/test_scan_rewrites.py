"""The loop rewrites of ``passes/scan.py``: each fires where it moves work out of a loop,
stays away where that would change a value, and never changes one. Every case is
checked against the unrewritten graph on the reference backend (``fast_compile``,
``numpy``) and, where it is short to write, against NumPy."""
import numpy as np
import pytest

import arignote as ag
import arignote.tensor as T
from arignote.ops.blas import MatMul
from arignote.ops.scan import Scan, ScanLayout
from arignote.ops.shape import DimShuffle
from arignote.scan_module import until
from tests.util import assert_close

#: (steps, batch, inputs, hidden): zero steps, ones everywhere, an ordinary size
SIZES = [(0, 2, 3, 4), (1, 1, 1, 1), (4, 3, 2, 5)]


def _scans(f):
    return [n for n in f.fgraph.toposort() if isinstance(n.op, Scan)]


def _scan(f, name):
    (node,) = [n for n in _scans(f) if n.op.name == name]
    return node


def _inner(node, op_type):
    return [n for n in node.op.nodes if isinstance(n.op, op_type)]


def _readers(f, v):
    """The nodes reading ``v`` (a variable of ``f``'s graph, or the index of an input)."""
    v = f.fgraph.inputs[v] if isinstance(v, int) else v
    return [n for n in f.fgraph.toposort() if v in n.inputs]


def _fired(f, name):
    return f.stats.fired.get(name, 0)


def _compare(inputs, outputs, values, updates=None, shared=()):
    """The compiled function against the reference (no rewrites); returns it."""
    f = ag.function(inputs, outputs, updates=updates)
    ref = ag.function(inputs, outputs, updates=updates, mode="fast_compile", backend="numpy")
    starts = [s.get_value() for s in shared]
    want = ref(*values)
    want_shared = [s.get_value() for s in shared]
    for s, v in zip(shared, starts):
        s.set_value(v)
    got = f(*values)
    for g, w in zip(got if isinstance(got, list) else [got], want if isinstance(want, list) else [want]):
        assert_close(g, w)
    for s, w in zip(shared, want_shared):
        assert_close(s.get_value(), w)
    return f


def _data(rng, dtype, *shapes):
    return [(rng.standard_normal(s) * 0.5).astype(dtype) for s in shapes]


def _rnn_vars(dtype):
    return (T.tensor(dtype, (None,) * 3, "X"), T.tensor(dtype, (None, None), "h0"),
            T.tensor(dtype, (None, None), "W"), T.tensor(dtype, (None, None), "U"),
            T.tensor(dtype, (None,), "b"))


def _rnn(X, h0, W, U, b, **kw):
    hs, _ = ag.scan(lambda x_t, h: T.tanh(T.dot(x_t, W) + T.dot(h, U) + b), sequences=X,
                    outputs_info=h0, name="rnn", **kw)
    return hs


def _np_rnn(x, h, w, u, b):
    hs = []
    for x_t in x:
        h = np.tanh(x_t @ w + h @ u + b)
        hs.append(h)
    return np.array(hs, dtype=x.dtype).reshape((len(x),) + h.shape)


# ------------------------------------------------------------ scan_pushout_seq_matmul

@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("size", SIZES)
def test_input_projection_is_one_product_before_the_loop(dtype, size):
    n, B, I, H = size
    X, h0, W, U, b = _rnn_vars(dtype)
    hs = _rnn(X, h0, W, U, b)
    values = _data(np.random.default_rng(0), dtype, (n, B, I), (B, H), (I, H), (H, H), (H,))
    f = _compare([X, h0, W, U, b], hs, values)
    assert _fired(f, "scan_pushout_seq_matmul") == 1
    node = _scan(f, "rnn")
    (inside,) = _inner(node, MatMul)  # h @ U only
    assert inside.inputs[0] in node.op.inputs[:2] and node.op.layout.seq_taps == ((0,),)
    assert any(isinstance(r.op, MatMul) for r in _readers(f, 2))  # (W)
    assert_close(f(*values), _np_rnn(*values))


def test_several_taps_read_the_right_rows_with_fewer_steps_than_rows():
    X, W = T.dtensor3("X"), T.dmatrix("W")
    h0 = T.zeros((2, 4))
    out, _ = ag.scan(lambda a, b, h: h + T.dot(a, W) - 2 * T.dot(b, W),
                     sequences=dict(input=X, taps=[-1, 2]), outputs_info=h0, n_steps=3)
    x, w = _data(np.random.default_rng(1), "float64", (7, 2, 3), (3, 4))
    f = _compare([X, W], out, [x, w])
    assert _fired(f, "scan_pushout_seq_matmul") == 1
    assert not _inner(_scans(f)[0], MatMul)
    want = np.cumsum([x[t] @ w - 2 * x[t + 3] @ w for t in range(3)], axis=0)
    assert_close(f(x, w), want)


@pytest.mark.parametrize("kw", [dict(go_backwards=True), dict(truncate_gradient=1)])
def test_input_projection_with_go_backwards_and_truncation(kw):
    X, h0, W, U, b = _rnn_vars("float64")
    hs = _rnn(X, h0, W, U, b, **kw)
    values = _data(np.random.default_rng(2), "float64", (5, 2, 3), (2, 4), (3, 4), (4, 4), (4,))
    f = _compare([X, h0, W, U, b], hs, values)
    assert _fired(f, "scan_pushout_seq_matmul") == 1
    x, *rest = values
    assert_close(f(*values), _np_rnn(x[::-1] if kw.get("go_backwards") else x, *rest))


@pytest.mark.parametrize("n", [0, 1, 6])
def test_input_projection_under_until_computes_the_steps_that_run(n):
    X, W = T.dtensor3("X"), T.dmatrix("W")

    def step(x_t, h):
        h = h + T.dot(x_t, W)
        return h, until(h.sum() > 1.0)
    out, _ = ag.scan(step, sequences=X, outputs_info=T.zeros((2, 3)))
    x, w = _data(np.random.default_rng(3), "float64", (n, 2, 2), (2, 3))
    w = np.abs(w)
    x = np.abs(x)
    f = _compare([X, W], out, [x, w])
    assert _fired(f, "scan_pushout_seq_matmul") == 1


def test_product_by_a_per_step_operand_stays_in_the_loop():
    X, Y, W = T.dtensor3("X"), T.dtensor3("Y"), T.dmatrix("W")
    h0 = T.dmatrix("h0")
    # x_t @ y_t: the right operand changes per step; W @ h: left invariant, right recurrent
    out, _ = ag.scan(lambda x_t, y_t, h: T.tanh(T.dot(x_t, y_t) + T.dot(W, h)),
                     sequences=[X, Y], outputs_info=h0)
    x, y, w, h = _data(np.random.default_rng(4), "float64", (3, 2, 2), (3, 2, 2), (2, 2), (2, 2))
    f = _compare([X, Y, W, h0], out, [x, y, w, h])
    assert _fired(f, "scan_pushout_seq_matmul") == 0
    assert len(_inner(_scans(f)[0], MatMul)) == 2


# ------------------------------------------------------------ scan_prune

def _rnn_grads(dtype, wrt_x, **kw):
    X, h0, W, U, b = _rnn_vars(dtype)
    hs = _rnn(X, h0, W, U, b, **kw)
    cost = (hs ** 2).sum()
    return [X, h0, W, U, b], ag.grad(cost, [W, U, b] + ([X] if wrt_x else []))


def test_reverse_loop_of_weight_gradients_computes_no_sequence_gradient():
    values = _data(np.random.default_rng(5), "float64", (4, 2, 3), (2, 5), (3, 5), (5, 5), (5,))
    found = {}
    for wrt_x in (False, True):
        inputs, grads = _rnn_grads("float64", wrt_x)
        f = _compare(inputs, grads, values)
        assert _fired(f, "scan_prune") >= 1
        reverse = _scan(f, "grad_of_rnn")
        found[wrt_x] = (len(_inner(reverse, MatMul)), reverse.op.layout.n_mapped,
                        reverse.op.layout.n_invariant)
    # dz_t @ U.T (to the previous state) always; dz_t @ W.T (to x_t), its rows and W
    # only where x's gradient is asked for
    assert found == {False: (1, 1, 1), True: (2, 2, 2)}


def test_unused_mapped_output_and_its_inputs_are_dropped():
    X, Y, W = T.dmatrix("X"), T.dmatrix("Y"), T.dmatrix("W")
    (hs, ys), _ = ag.scan(lambda x_t, y_t, h: (h + x_t, T.dot(W, y_t)), sequences=[X, Y],
                          outputs_info=[T.zeros((3,)), None])
    x, y, w = _data(np.random.default_rng(6), "float64", (4, 3), (4, 2), (3, 2))
    f = _compare([X, Y, W], hs, [x, y, w])
    (node,) = _scans(f)
    lay = node.op.layout
    assert (lay.n_mapped, lay.n_seqs, lay.n_invariant) == (0, 1, 0)
    assert_close(f(x, y, w), np.cumsum(x, axis=0))


@pytest.mark.parametrize("taps, used, kept", [((-1, 0, 1), 2, (1,)), ((-1, 0, 1), 0, (-1,)),
                                              ((-2, 0, 3), 1, (0,)), ((0, 2), 0, (0,))])
def test_unused_sequence_taps_are_dropped_and_the_rest_read_the_same_rows(taps, used, kept):
    X = T.dmatrix("X")
    out, _ = ag.scan(lambda *a: a[-1] + a[used] * (used + 1), sequences=dict(input=X, taps=list(taps)),
                     outputs_info=T.zeros((2,)))
    x = _data(np.random.default_rng(7), "float64", (7, 2))[0]
    f = _compare([X], out, [x])
    (node,) = _scans(f)
    assert node.op.layout.seq_taps == (kept,)
    steps = len(x) - (max(taps) - min(taps))
    rows = [x[t + taps[used] - min(taps)] * (used + 1) for t in range(steps)]
    assert_close(f(x), np.cumsum(rows, axis=0))


def test_an_unread_output_fed_back_into_a_read_one_is_kept():
    n = T.lscalar("n")

    def step(a, b):  # a Fibonacci pair; only b is read
        return b, a + b
    (a, b), _ = ag.scan(step, n_steps=n, outputs_info=[T.constant(0.0), T.constant(1.0)])
    f = _compare([n], b, [6])
    assert _scans(f)[0].op.layout.n_rec == 2
    assert_close(f(6), np.array([1.0, 2, 3, 5, 8, 13]))


def test_an_output_read_by_the_until_condition_is_kept():
    n = T.lscalar("n")

    def step(c, s):
        return c + 1, s + c * 2.0, until(c >= 3)
    (c, s), _ = ag.scan(step, n_steps=n, outputs_info=[T.constant(0), T.constant(0.0)])
    f = _compare([n], s, [10])
    assert _scans(f)[0].op.layout.n_rec == 2
    assert_close(f(10), np.array([0.0, 2, 6, 12]))


# ------------------------------------------------------------ scan_hoist_invariants

def test_transpose_of_a_weight_is_hoisted_out_of_the_reverse_loop():
    inputs, grads = _rnn_grads("float64", wrt_x=False)
    values = _data(np.random.default_rng(8), "float64", (3, 2, 3), (2, 4), (3, 4), (4, 4), (4,))
    f = _compare(inputs, grads, values)
    assert _fired(f, "scan_hoist_invariants") >= 1
    reverse = _scan(f, "grad_of_rnn")
    assert not _inner(reverse, DimShuffle)
    transposes = [n for n in _readers(f, 3) if isinstance(n.op, DimShuffle)]
    assert transposes and reverse in _readers(f, transposes[0].outputs[0])


@pytest.mark.parametrize("steps", [0, 1, 3])
def test_a_hoisted_value_may_be_an_output_of_the_step(steps):
    # (a rewrite may leave a step output computed from invariants only; scan() itself
    # computes those outside)
    xi, wi = T.dvector("xi"), T.dmatrix("wi")
    op = Scan([xi, wi], [xi * 2, wi.T * 3], ScanLayout(seq_taps=((0,),), n_mapped=2, n_invariant=1))
    X, W = T.dmatrix("X"), T.dmatrix("W")
    outs = op(X.shape[0], X, W)
    x, w = _data(np.random.default_rng(9), "float64", (steps, 2), (2, 3))
    f = _compare([X, W], outs, [x, w])
    assert _fired(f, "scan_hoist_invariants") == 1
    assert not _scans(f)[0].op.nodes[1:]  # only xi * 2 inside
    assert_close(f(x, w)[1], np.broadcast_to(w.T * 3, (steps, 3, 2)))


def test_hoisting_gives_the_same_loop_at_every_compile():
    inputs, grads = _rnn_grads("float64", wrt_x=True)  # (W.T and U.T hoisted)
    loops = [_scan(ag.function(inputs, grads), "grad_of_rnn") for _ in range(4)]
    assert all(n.op == loops[0].op for n in loops)
    assert all(str(n.op.inputs) == str(loops[0].op.inputs) for n in loops)


# ------------------------------------------------------------ scan_pushout_sums

@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("size", SIZES)
def test_weight_and_bias_gradients_are_summed_after_the_reverse_loop(dtype, size):
    n, B, I, H = size
    inputs, grads = _rnn_grads(dtype, wrt_x=True)
    values = _data(np.random.default_rng(10), dtype, (n, B, I), (B, H), (I, H), (H, H), (H,))
    f = _compare(inputs, grads, values)
    assert _fired(f, "scan_pushout_sums") == 1
    reverse = _scan(f, "grad_of_rnn")
    # what stays carried is the gradient pending for the previous state, nothing summed
    assert reverse.op.layout.n_carried == 1
    readers = [r for o in reverse.outputs for r in _readers(f, o)]
    assert any("Reshape" in str(r.op) for r in readers)  # the stacked rows, for W's and U's products
    assert any("Reduce" in str(r.op) or "sum" in str(r.op).lower() for r in readers)  # b's sum


def _carried_sum(term, extra=None, cond=None, dtype="float64"):
    """A loop over X carrying ``acc + term(x_t, y_t)`` in a shared variable; returns
    (inputs, outputs, updates, acc)."""
    X, Y = T.tensor(dtype, (None,) * 3, "X"), T.tensor(dtype, (None,) * 3, "Y")
    acc = ag.shared(np.zeros((3, 4), dtype), name="acc")

    def step(x_t, y_t):
        out = (x_t * 2).sum() if extra is None else extra(x_t, acc)
        upd = {acc: acc + term(x_t, y_t)}
        return (out, upd) if cond is None else (out, upd, until(cond(x_t)))
    out, updates = ag.scan(step, sequences=[X, Y], name="loop")
    return [X, Y], out, updates, acc


def _values(n, dtype="float64", seed=11):
    return _data(np.random.default_rng(seed), dtype, (n, 2, 3), (n, 2, 4))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("n", [0, 1, 5])
def test_carried_product_of_rows_becomes_one_product_after_the_loop(dtype, n):
    inputs, out, updates, acc = _carried_sum(lambda x, y: T.dot(x.T, y), dtype=dtype)
    x, y = _values(n, dtype)
    f = _compare(inputs, out, [x, y], updates, [acc])
    assert _fired(f, "scan_pushout_sums") == 1
    node = _scan(f, "loop")
    assert node.op.layout.n_carried == 0 and not _inner(node, MatMul)
    acc.set_value(np.ones((3, 4), dtype))
    f(x, y)
    assert_close(acc.get_value(), (1 + np.einsum("tbi,tbo->io", x, y)).astype(dtype))


@pytest.mark.parametrize("keepdims", [False, True])
def test_carried_sum_of_rows_becomes_one_sum_after_the_loop(keepdims):
    X = T.dtensor3("X")
    acc = ag.shared(np.zeros((1, 3) if keepdims else (3,)), name="acc")
    out, updates = ag.scan(lambda x_t: (x_t.sum(), {acc: acc + x_t.sum(axis=0, keepdims=keepdims)}),
                           sequences=X, name="loop")
    x = _data(np.random.default_rng(12), "float64", (4, 2, 3))[0]
    f = _compare([X], out, [x], updates, [acc])
    assert _fired(f, "scan_pushout_sums") == 1
    assert _scan(f, "loop").op.layout.n_carried == 0


def test_terms_that_are_not_products_of_rows_stay_carried():
    inputs, out, updates, acc = _carried_sum(lambda x, y: T.dot(x.T, y) + T.dot(x.T, y) ** 2)
    f = _compare(inputs, out, _values(4), updates, [acc])
    assert _fired(f, "scan_pushout_sums") == 1
    node = _scan(f, "loop")
    assert node.op.layout.n_carried == 1 and len(_inner(node, MatMul)) == 1


def test_a_sum_read_elsewhere_in_the_step_stays_in_the_loop():
    inputs, out, updates, acc = _carried_sum(lambda x, y: T.dot(x.T, y),
                                             extra=lambda x_t, acc: (T.dot(x_t, acc)).sum())
    f = _compare(inputs, out, _values(4), updates, [acc])
    assert _fired(f, "scan_pushout_sums") == 0
    assert _scan(f, "loop").op.layout.n_carried == 1


def test_a_sum_added_twice_stays_in_the_loop():
    X, Y = T.dtensor3("X"), T.dtensor3("Y")
    acc = ag.shared(np.ones((3, 4)), name="acc")
    out, updates = ag.scan(lambda x_t, y_t: (x_t.sum(), {acc: acc + acc + T.dot(x_t.T, y_t)}),
                           sequences=[X, Y], name="loop")
    f = _compare([X, Y], out, _values(3), updates, [acc])
    assert _fired(f, "scan_pushout_sums") == 0


@pytest.mark.parametrize("n", [0, 2, 6])
def test_under_until_only_values_computed_in_the_step_are_summed_after(n):
    # the loop may stop before its last sequence row: a sequence's rows past the stop
    # must not be summed (they were, before)
    for term, pushed in [(lambda x, y: T.dot(x.T, y), 0), (lambda x, y: T.dot((2 * x).T, y * 3), 1)]:
        inputs, out, updates, acc = _carried_sum(term, cond=lambda x_t: x_t.sum() > 0)
        f = _compare(inputs, out, _values(n, seed=13), updates, [acc])
        assert _fired(f, "scan_pushout_sums") == pushed


def test_a_sum_over_a_state_kept_as_a_ring_stays_in_the_loop():
    # h is read as h[-1] only, so the loop keeps a ring of its rows; a sum over its rows
    # must not read that ring as if it held every row (it did, before)
    X, W = T.dtensor3("X"), T.dmatrix("W")
    acc = ag.shared(np.zeros((4, 3)), name="acc")
    hs, updates = ag.scan(lambda x_t, h: (T.tanh(T.dot(x_t, W) + h), {acc: acc + T.dot(h.T, x_t)}),
                          sequences=X, outputs_info=T.zeros((2, 4)), name="loop")
    x, w = _data(np.random.default_rng(14), "float64", (5, 2, 3), (3, 4))
    f = _compare([X, W], hs[-1], [x, w], updates, [acc])
    assert _fired(f, "scan_keep_last_row") == 1


@pytest.mark.parametrize("kw", [dict(go_backwards=True), dict(truncate_gradient=2)])
@pytest.mark.parametrize("n", [0, 1, 5])
def test_gradients_with_go_backwards_and_truncation(kw, n):
    inputs, grads = _rnn_grads("float64", wrt_x=True, **kw)
    values = _data(np.random.default_rng(15), "float64", (n, 2, 3), (2, 4), (3, 4), (4, 4), (4,))
    f = _compare(inputs, grads, values)
    assert _fired(f, "scan_pushout_sums") == 1


def test_gradients_with_several_sequence_and_state_taps():
    X, W, U = T.dtensor3("X"), T.dmatrix("W"), T.dmatrix("U")
    h0 = T.dtensor3("h0")

    def step(a, b, h2, h1):
        return T.tanh(T.dot(a, W) + T.dot(b, W) * 0.5 + T.dot(h2, U) + h1)
    hs, _ = ag.scan(step, sequences=dict(input=X, taps=[-2, 1]),
                    outputs_info=dict(initial=h0, taps=[-2, -1]), name="rnn")
    cost = (hs ** 2).sum()
    grads = ag.grad(cost, [W, U, X, h0])
    values = _data(np.random.default_rng(16), "float64", (6, 2, 3), (3, 4), (4, 4), (2, 2, 4))
    f = _compare([X, W, U, h0], grads, values)
    assert _fired(f, "scan_pushout_sums") >= 1
    assert _fired(f, "scan_pushout_seq_matmul") >= 1
