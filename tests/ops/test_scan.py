"""``scan`` against NumPy (issue 11): each test compares a loop with the same loop
written by hand in NumPy, under whichever backend the environment selects
(``make test`` runs this file under numpy, cpu fused, cpu unfused and interp).

Theano's meaning throughout: the step receives the sequence taps, then the
output taps, then the non-sequences; an output's ``outputs_info`` is None (not
fed back), a variable (tap -1) or ``dict(initial=, taps=[...])`` whose initial
value has one row per step reached back; ``updates`` is an ``OrderedUpdates``.
Where Theano's behaviour is unclear, NumPy's is taken (noted where it matters).
Sizes are small: the whole file runs in seconds per configuration.
"""
import numpy as np
import pytest

import arignote as ag
import arignote.tensor as T
from arignote.errors import ArignoteTypeError, ArignoteValueError, ShapeError
from arignote.scan_module import until
from tests.util import assert_close

RNG = np.random.default_rng(7)


def rand(*shape, dtype="float64", scale=1.0):
    return (RNG.standard_normal(shape) * scale).astype(dtype)


def fn(inputs, outputs, **kwargs):
    return ag.function(inputs, outputs, on_unused_input="ignore", **kwargs)


# ================================================================= the arguments the step gets

def test_taps_reach_the_step_in_theano_order():
    """Sequence taps (in the order given), output taps, then non-sequences; a sequence with
    taps [-1, 0, 2] runs len - 3 steps, its first step at t = 1."""
    x, y0, w = T.dmatrix("x"), T.dmatrix("y0"), T.dvector("w")
    u = T.dvector("u")

    def step(x_m1, x_0, x_2, u_t, y_m2, y_m1, w_):
        return 1 * x_m1 + 10 * x_0 + 100 * x_2 + u_t + 0.5 * y_m2 - 0.25 * y_m1 + w_

    out, updates = ag.scan(step, sequences=[dict(input=x, taps=[-1, 0, 2]), u],
                           outputs_info=dict(initial=y0, taps=[-2, -1]), non_sequences=w)
    assert not updates and len(updates) == 0
    xv, y0v, wv, uv = rand(7, 2), rand(2, 2), rand(2), rand(9)
    n = 7 - 3
    y = list(y0v)
    for t in range(n):
        y.append(xv[t] + 10 * xv[t + 1] + 100 * xv[t + 3] + uv[t] + 0.5 * y[-2] - 0.25 * y[-1] + wv)
    assert_close(fn([x, y0, w, u], out)(xv, y0v, wv, uv), np.array(y[2:]))


def test_taps_given_out_of_order_keep_their_order():
    """The step gets the taps in the order the user lists them, not sorted."""
    x = T.dvector("x")
    out, _ = ag.scan(lambda a, b: a - 2 * b, sequences=dict(input=x, taps=[1, -1]))
    xv = rand(6)
    assert_close(fn([x], out)(xv), np.array([xv[t + 2] - 2 * xv[t] for t in range(4)]))


def test_outputs_of_every_kind_together():
    """A mapped output (None), a sit-sot (variable), a mit-sot (dict) and a second mapped one."""
    x, h0, m0 = T.dvector("x"), T.dscalar("h0"), T.dvector("m0")

    def step(x_t, h, m2, m1):
        return x_t * h, h + x_t, m1 + m2 * x_t, -x_t

    outs, _ = ag.scan(step, sequences=x,
                      outputs_info=[None, h0, dict(initial=m0, taps=[-2, -1]), None])
    xv, h0v, m0v = rand(5), 0.5, rand(2)
    a, h, m, z = [], [h0v], list(m0v), []
    for t in range(5):
        a.append(xv[t] * h[-1])
        h.append(h[-1] + xv[t])
        m.append(m[-1] + m[-2] * xv[t])
        z.append(-xv[t])
    got = fn([x, h0, m0], outs)(xv, h0v, m0v)
    for g, w in zip(got, [a, h[1:], m[2:], z]):
        assert_close(g, np.array(w))


def test_mit_sot_with_gaps_between_taps():
    """taps=[-3, -1]: the initial value has three rows, the step reads the first and last."""
    y0 = T.dvector("y0")
    out, _ = ag.scan(lambda a, b: a + 2 * b, outputs_info=dict(initial=y0, taps=[-3, -1]), n_steps=6)
    y = [1.0, 2.0, 3.0]
    for _ in range(6):
        y.append(y[-3] + 2 * y[-1])
    assert_close(fn([y0], out)(np.array([1.0, 2.0, 3.0])), np.array(y[3:]))


def test_initial_value_with_more_rows_than_the_taps_reach():
    """Theano reads the first ``lag`` rows of a longer initial value (here 2 of 4)."""
    y0 = T.dvector("y0")
    out, _ = ag.scan(lambda a, b: a + b, outputs_info=dict(initial=y0, taps=[-2, -1]), n_steps=3)
    assert_close(fn([y0], out)(np.array([1.0, 1.0, 50.0, 60.0])), np.array([2.0, 3.0, 5.0]))


def test_non_sequences_and_values_read_without_being_listed():
    """Shared variables and outer values the step reads are found; non-sequences are passed."""
    W = ag.shared(rand(3, 3, scale=0.5), name="W")
    b = T.dvector("b")
    x = T.dmatrix("x")
    k = T.dscalar("k")

    def step(x_t, h, k_):
        return T.tanh(T.dot(h, W) + x_t + b * 2) * k_

    out, updates = ag.scan(step, sequences=x, outputs_info=T.zeros((3,)), non_sequences=k)
    assert not updates
    xv, bv = rand(4, 3), rand(3)
    h, hs = np.zeros(3), []
    for t in range(4):
        h = np.tanh(h @ W.get_value() + xv[t] + bv * 2) * 0.7
        hs.append(h)
    assert_close(fn([x, b, k], out)(xv, bv, 0.7), np.array(hs))


def test_strict_demands_shared_variables_be_listed():
    W = ag.shared(np.eye(2), name="W_strict")
    x = T.dmatrix("x")
    with pytest.raises(ArignoteValueError, match=r"strict=True.*W_strict.*non_sequences"):
        ag.scan(lambda x_t: T.dot(x_t, W), sequences=x, strict=True)
    out, _ = ag.scan(lambda x_t, w: T.dot(x_t, w.T), sequences=x, non_sequences=W, strict=True)
    xv = rand(3, 2)
    assert_close(fn([x], out)(xv), xv)
    b = T.dvector("b_free")  # any outer value, not only shared ones (Theano: a missing input)
    with pytest.raises(ArignoteValueError, match=r"strict=True.*b_free.*non_sequences"):
        ag.scan(lambda x_t: x_t + b * 2, sequences=x, strict=True)


def test_return_list():
    x = T.dvector("x")
    out, _ = ag.scan(lambda v: v * 2, sequences=x)
    assert not isinstance(out, list)
    outs, _ = ag.scan(lambda v: v * 2, sequences=x, return_list=True)
    assert isinstance(outs, list) and len(outs) == 1
    assert_close(fn([x], outs[0])(np.arange(3.0)), np.arange(3.0) * 2)
    none, updates = ag.scan(lambda: {}, n_steps=2)  # (a step with no outputs)
    assert none is None and not updates


def test_go_backwards():
    """Sequences are walked from their end; the outputs are in the order computed."""
    x, h0 = T.dvector("x"), T.dscalar("h0")
    out, _ = ag.scan(lambda a, b, h: h * 0.5 + a - b, sequences=dict(input=x, taps=[0, 1]),
                     outputs_info=h0, go_backwards=True)
    xv = rand(5)
    rv = xv[::-1]
    h, hs = 0.3, []
    for t in range(4):
        h = h * 0.5 + rv[t] - rv[t + 1]
        hs.append(h)
    assert_close(fn([x, h0], out)(xv, 0.3), np.array(hs))


def test_n_steps_without_sequences_and_with_them():
    y0 = T.dscalar("y0")
    out, _ = ag.scan(lambda y: y * 2 + 1, outputs_info=y0, n_steps=4)
    assert out.type.shape == (4,)
    assert_close(fn([y0], out)(1.0), np.array([3.0, 7.0, 15.0, 31.0]))
    x = T.dvector("x")  # n_steps shorter than the sequence: its first rows
    out, _ = ag.scan(lambda v: v * 3, sequences=x, n_steps=2)
    assert_close(fn([x], out)(np.arange(5.0)), np.array([0.0, 3.0]))


def test_n_steps_zero_gives_empty_outputs_of_the_right_row_shapes():
    x0 = T.dmatrix("x0")
    W = T.dmatrix("W")
    outs, _ = ag.scan(lambda h, w: [T.dot(h, w), (T.dot(h, w) ** 2).sum(axis=0)],
                      outputs_info=[x0, None], non_sequences=W, n_steps=0)
    f = fn([x0, W], outs)
    ys, zs = f(rand(2, 3), rand(3, 3))
    assert ys.shape == (0, 2, 3) and zs.shape == (0, 3)
    assert ys.dtype == zs.dtype == np.float64
    x = T.dmatrix("x")
    m, _ = ag.scan(lambda r: r[1:] * 2, sequences=x)
    assert fn([x], m)(np.zeros((0, 4))).shape == (0, 3)


def test_symbolic_n_steps():
    n = T.iscalar("n")
    y0 = T.dvector("y0")
    outs, _ = ag.scan(lambda y: [y + 1, y.sum()], outputs_info=[y0, None], n_steps=n)
    f = fn([n, y0], outs)
    ys, zs = f(3, np.array([0.0, 1.0]))
    assert_close(ys, np.array([[1.0, 2.0], [2.0, 3.0], [3.0, 4.0]]))
    assert_close(zs, np.array([1.0, 3.0, 5.0]))
    ys, zs = f(0, np.array([0.0, 1.0]))
    assert ys.shape == (0, 2) and zs.shape == (0,)
    x = T.dvector("x")  # with a sequence: n_steps rows of it
    out, _ = ag.scan(lambda v: v * 2, sequences=x, n_steps=n)
    assert_close(fn([x, n], out)(np.arange(5.0), 3), np.array([0.0, 2.0, 4.0]))


def test_sequences_of_different_lengths_are_cut_to_the_shortest():
    a, b = T.dvector("a"), T.dmatrix("b")
    out, _ = ag.scan(lambda u, v: u * v, sequences=[a, b])
    f = fn([a, b], out)
    av, bv = rand(5), rand(3, 2)
    assert_close(f(av, bv), av[:3, None] * bv)
    out2, _ = ag.scan(lambda u, v0, v1: u * (v1 - v0), sequences=[a, dict(input=b, taps=[0, 1])])
    assert_close(fn([a, b], out2)(av, bv), av[:2, None] * (bv[1:] - bv[:-1]))


# ================================================================= until, updates

def test_until_stops_early_and_truncates_outputs():
    x, h0 = T.dvector("x"), T.dscalar("h0")

    def step(v, h):
        s = h + v
        return [s, v * 10], until(s > 3)

    outs, _ = ag.scan(step, sequences=x, outputs_info=[h0, None])
    f = fn([x, h0], outs)
    s, z = f(np.array([1.0, 1.0, 2.0, 5.0, 7.0]), 0.0)
    assert_close(s, np.array([1.0, 2.0, 4.0]))  # stops after the first step where s > 3
    assert_close(z, np.array([10.0, 10.0, 20.0]))
    s, z = f(np.array([1.0, 1.0]), 0.0)  # the condition never holds: every step runs
    assert_close(s, np.array([1.0, 2.0]))
    s, z = f(np.zeros(0), 0.0)
    assert s.shape == z.shape == (0,)


def test_until_outputs_have_a_run_time_length_and_a_gradient():
    """The number of rows after an until is known only at run time: shape() of the outputs
    and their gradient (over the steps that ran) still work."""
    x = T.dmatrix("x")
    m, _ = ag.scan(lambda r, h: (T.tanh(h + r), until((h + r).sum() > 1.5)), sequences=x,
                   outputs_info=T.zeros((2,)))
    xv = np.array([[0.1, 0.2], [0.3, 0.1], [0.5, 0.6], [0.9, 0.9], [0.1, 0.1]])
    assert tuple(fn([x], m.shape)(xv)) == (3, 2)

    def f(x_, h0):
        outs, _ = ag.scan(lambda r, h: ([T.tanh(h + r), r * h], until((h + r).sum() > 1.5)),
                          sequences=x_, outputs_info=[h0, None])
        return outs[0].sum() + outs[1].sum() * 2

    ag.verify_grad(f, [xv, np.zeros(2)], n_tests=1)


def test_until_with_n_steps_as_a_bound():
    """A while loop: n_steps bounds it, until ends it (a float condition means != 0)."""
    y0 = T.dscalar("y0")
    out, _ = ag.scan(lambda y: (y * 2, until(T.cast(y * 2 > 50, "float64"))),
                     outputs_info=y0, n_steps=100)
    assert_close(fn([y0], out)(1.0), np.array([2.0, 4.0, 8.0, 16.0, 32.0, 64.0]))


def test_a_counter_the_step_updates_advances_once_per_step():
    c = ag.shared(np.int64(0), name="count")
    _, updates = ag.scan(lambda: {c: c + 1}, n_steps=5)
    assert list(updates) == [c]
    f = fn([], [], updates=updates)
    f()
    assert c.get_value() == 5
    f()
    assert c.get_value() == 10


def test_step_returning_outputs_and_updates_reads_the_running_value():
    """Inside the loop the step sees the value its previous step wrote."""
    acc = ag.shared(np.float64(1.0), name="acc")
    x = T.dvector("x")

    def step(v):
        return acc * v, {acc: acc + v}

    out, updates = ag.scan(step, sequences=x)
    f = fn([x], out, updates=updates)
    xv = np.array([1.0, 2.0, 3.0])
    a, want = 1.0, []
    for v in xv:
        want.append(a * v)
        a += v
    assert_close(f(xv), np.array(want))
    assert acc.get_value() == a
    # also spelled (updates, outputs), pairs for the updates, and with an until
    acc.set_value(1.0)
    out, updates = ag.scan(lambda v: ([(acc, acc + v)], acc * v), sequences=x)
    assert_close(fn([x], out, updates=updates)(xv), np.array(want))
    acc.set_value(1.0)
    out, updates = ag.scan(lambda v: (acc * v, {acc: acc + v}, until(acc + v > 2.5)), sequences=x)
    assert_close(fn([x], out, updates=updates)(xv), np.array(want[:2]))
    assert acc.get_value() == 4.0


def test_default_updates_inside_the_step_come_out_in_updates():
    c = ag.shared(np.float64(0.0), name="ticks")
    c.default_update = c + 1
    x = T.dvector("x")
    out, updates = ag.scan(lambda v: v * c, sequences=x)
    assert list(updates) == [c]
    f = fn([x], out, updates=updates)
    assert_close(f(np.ones(3)), np.array([0.0, 1.0, 2.0]))
    assert c.get_value() == 3.0


def test_ordered_updates():
    a, b = ag.shared(1.0, name="a"), ag.shared(2.0, name="b")
    _, updates = ag.scan(lambda: {a: a * 2}, n_steps=3)
    assert isinstance(updates, ag.OrderedUpdates) and updates
    updates[b] = b + 1  # mutation
    assert list(updates) == [a, b]
    empty = ag.OrderedUpdates()
    assert not empty and len(empty) == 0
    empty.update([(b, b * 3)])
    assert list(empty) == [b]
    same = updates[a]
    updates.update({a: same})  # the same update again: fine
    with pytest.raises(ArignoteValueError, match="two different updates.*'b'"):
        updates.update({b: b - 1})
    with pytest.raises(ArignoteTypeError, match="shared variables"):
        updates[T.dscalar("x")] = 1.0
    merged = ag.OrderedUpdates({a: same}) + {b: b + 5}
    assert list(merged) == [a, b]
    f = fn([], [], updates=updates)
    f()
    assert (a.get_value(), b.get_value()) == (8.0, 3.0)


# ================================================================= map, reduce, folds

def test_map_reduce_foldl_foldr():
    x, y = T.dvector("x"), T.dvector("y")
    xv, yv = rand(5), rand(5)
    m, _ = ag.map(lambda a, b: a * b, sequences=[x, y])
    assert_close(fn([x, y], m)(xv, yv), xv * yv)
    r, _ = ag.reduce(lambda a, acc: acc * 0.5 + a, sequences=x, outputs_info=T.constant(0.0))
    fl, _ = ag.foldl(lambda a, acc: acc * 0.5 + a, sequences=x, outputs_info=T.constant(0.0))
    fr, _ = ag.foldr(lambda a, acc: acc * 0.5 + a, sequences=x, outputs_info=T.constant(0.0))
    acc_l = acc_r = 0.0
    for v in xv:
        acc_l = acc_l * 0.5 + v
    for v in xv[::-1]:
        acc_r = acc_r * 0.5 + v
    got = fn([x], [r, fl, fr])(xv)
    assert_close(got[0], np.float64(acc_l))
    assert_close(got[1], np.float64(acc_l))
    assert_close(got[2], np.float64(acc_r))


# ================================================================= nesting, grad inside

def test_scan_inside_a_scan_step():
    x = T.dvector("x")

    def outer(v, total):
        powers, _ = ag.scan(lambda p, base: p * base, outputs_info=T.constant(1.0),
                            non_sequences=v, n_steps=3)
        return total + powers.sum()

    out, _ = ag.scan(outer, sequences=x, outputs_info=T.constant(0.0))
    xv = np.array([1.0, 2.0, -0.5])
    want = np.cumsum([v + v ** 2 + v ** 3 for v in xv])
    assert_close(fn([x], out)(xv), want)


def test_grad_inside_the_step_gradient_descent():
    """Gradient descent on a quadratic, one step per scan step."""
    A = T.dmatrix("A")
    x0 = T.dvector("x0")

    def step(x, A_):
        energy = 0.5 * T.dot(x, T.dot(A_, x))
        return x - 0.1 * ag.grad(energy, x)

    out, _ = ag.scan(step, outputs_info=x0, non_sequences=A, n_steps=4)
    Av = np.array([[2.0, 0.5], [0.5, 1.0]])
    x, xs = np.array([1.0, -1.0]), []
    for _ in range(4):
        x = x - 0.1 * (Av + Av.T) / 2 @ x
        xs.append(x)
    assert_close(fn([A, x0], out)(Av, np.array([1.0, -1.0])), np.array(xs))


def test_grad_inside_the_step_leapfrog():
    """A leapfrog integrator of a harmonic oscillator with a quartic term: the force is the
    gradient of the energy, taken inside the step."""
    q0, p0 = T.dvector("q0"), T.dvector("p0")
    eps = 0.05

    def energy(q):
        return 0.5 * (q ** 2).sum() + 0.1 * (q ** 4).sum()

    def step(q, p):
        p_half = p - eps / 2 * ag.grad(energy(q), q)
        q_new = q + eps * p_half
        return q_new, p_half - eps / 2 * ag.grad(energy(q_new), q_new)

    (qs, ps), _ = ag.scan(step, outputs_info=[q0, p0], n_steps=5)

    def force(q):
        return q + 0.4 * q ** 3

    q, p, want_q, want_p = np.array([1.0, 0.5]), np.array([0.0, 1.0]), [], []
    for _ in range(5):
        ph = p - eps / 2 * force(q)
        q = q + eps * ph
        p = ph - eps / 2 * force(q)
        want_q.append(q)
        want_p.append(p)
    got_q, got_p = fn([q0, p0], [qs, ps])(np.array([1.0, 0.5]), np.array([0.0, 1.0]))
    assert_close(got_q, np.array(want_q))
    assert_close(got_p, np.array(want_p))


# ================================================================= dtypes, shapes

@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "int64"])
def test_dtypes_are_kept(dtype):
    x = T.tensor(dtype, (None, None), name="x")
    y0 = T.tensor(dtype, (None,), name="y0")
    outs, _ = ag.scan(lambda r, y: [y + r, r * 2], sequences=x, outputs_info=[y0, None])
    assert outs[0].dtype == outs[1].dtype == dtype
    xv = (rand(4, 3) * 3).astype(dtype)
    y0v = np.ones(3, dtype)
    ys, zs = fn([x, y0], outs)(xv, y0v)
    assert_close(ys, np.cumsum(xv, axis=0, dtype=dtype) + y0v)
    assert_close(zs, xv * np.asarray(2, dtype))


@pytest.mark.parametrize("rows", [(0,), (1,), (3,), (0, 2), (1, 1), (2, 0)])
def test_row_shapes_including_empty_and_size_one(rows):
    x = T.tensor("float64", (None,) + tuple(None for _ in rows), name="x")
    h0 = T.tensor("float64", tuple(None for _ in rows), name="h0")
    outs, _ = ag.scan(lambda r, h: [h * 0.5 + r, (r * h).sum()], sequences=x,
                      outputs_info=[h0, None])
    xv, h0v = rand(3, *rows), rand(*rows)
    h, hs, ss = h0v, [], []
    for t in range(3):
        ss.append((xv[t] * h).sum())
        h = h * 0.5 + xv[t]
        hs.append(h)
    got = fn([x, h0], outs)(xv, h0v)
    assert_close(got[0], np.array(hs).reshape((3,) + rows))
    assert_close(got[1], np.array(ss))


def test_broadcastable_initial_state_with_a_less_broadcastable_step():
    """h0 is a row (static shape (1, n)) and the step returns a matrix (None, n) of one row at
    run time: Theano's most asked-about pitfall ("should have the same type but have type
    row and matrix"). Here the loop's rows take the looser type and it runs."""
    h0 = T.drow("h0")
    x = T.dtensor3("x")
    W = T.dmatrix("W")
    out, _ = ag.scan(lambda x_t, h: T.tanh(x_t + T.dot(h, W)), sequences=x, outputs_info=h0)
    assert out.ndim == 3 and out.dtype == "float64"
    xv, h0v, Wv = rand(3, 1, 4), rand(1, 4), rand(4, 4, scale=0.5)
    h, hs = h0v, []
    for t in range(3):
        h = np.tanh(xv[t] + h @ Wv)
        hs.append(h)
    assert_close(fn([x, h0, W], out)(xv, h0v, Wv), np.array(hs))
    g = fn([x, h0, W], ag.grad(out.sum(), h0))(xv, h0v, Wv)
    assert g.shape == (1, 4)


def test_static_row_shapes_are_kept_where_the_step_keeps_them():
    h0 = T.tensor("float64", (1, 3), name="h0")
    out, _ = ag.scan(lambda h: h * 2, outputs_info=h0, n_steps=4)
    assert out.type.shape == (4, 1, 3)
    x = T.tensor("float64", (None, 2), name="x")
    m, _ = ag.scan(lambda r: r * 2, sequences=x)
    assert m.type.shape[1:] == (2,)


# ================================================================= gradients

def elman(x, h0, W, U, b):
    out, _ = ag.scan(lambda x_t, h, W_, U_, b_: T.tanh(T.dot(x_t, W_) + T.dot(h, U_) + b_),
                     sequences=x, outputs_info=h0, non_sequences=[W, U, b])
    return out


def test_grad_elman_rnn():
    pt = [rand(4, 2, 3), rand(2, 5, scale=0.5), rand(3, 5, scale=0.5), rand(5, 5, scale=0.5),
          rand(5)]
    ag.verify_grad(elman, pt, n_tests=1)


def test_grad_lstm_step():
    def lstm(x, W, U, b):
        n = 3

        def step(x_t, h, c, W_, U_, b_):
            z = T.dot(x_t, W_) + T.dot(h, U_) + b_
            i = 1 / (1 + T.exp(-z[:, :n]))
            f = 1 / (1 + T.exp(-z[:, n:2 * n]))
            o = 1 / (1 + T.exp(-z[:, 2 * n:3 * n]))
            g = T.tanh(z[:, 3 * n:])
            c_new = f * c + i * g
            return o * T.tanh(c_new), c_new

        h0 = T.zeros((x.shape[1], n))
        (hs, cs), _ = ag.scan(step, sequences=x, outputs_info=[h0, h0],
                              non_sequences=[W, U, b])
        return hs[-1] * 2 + cs.sum(axis=0)

    ag.verify_grad(lstm, [rand(3, 2, 2), rand(2, 12, scale=0.5), rand(3, 12, scale=0.5), rand(12)],
                   n_tests=1)


def test_grad_gru_step():
    def gru(x, h0, W, U):
        n = 3

        def step(x_t, h, W_, U_):
            a = T.dot(x_t, W_)
            zr = 1 / (1 + T.exp(-(a[:2 * n] + T.dot(h, U_[:, :2 * n]))))
            z, r = zr[:n], zr[n:]
            cand = T.tanh(a[2 * n:] + T.dot(r * h, U_[:, 2 * n:]))
            return (1 - z) * h + z * cand

        out, _ = ag.scan(step, sequences=x, outputs_info=h0, non_sequences=[W, U])
        return out

    ag.verify_grad(gru, [rand(4, 2), rand(3), rand(2, 9, scale=0.5), rand(3, 9, scale=0.5)],
                   n_tests=1)


def test_grad_multiple_taps_on_sequences_and_outputs():
    def f(x, y0, w):
        out, _ = ag.scan(lambda a, b, c, ym3, ym1, w_: T.tanh(a * b - c + ym3 * w_ + 0.5 * ym1),
                         sequences=dict(input=x, taps=[-2, 0, 1]),
                         outputs_info=dict(initial=y0, taps=[-3, -1]), non_sequences=w)
        return out

    ag.verify_grad(f, [rand(7, 2), rand(3, 2), rand(2)], n_tests=1)


def test_grad_go_backwards_and_mapped_outputs():
    def f(x, h0, w):
        outs, _ = ag.scan(lambda a, b, h, w_: [T.sin(h * w_ + a), h * b],
                          sequences=dict(input=x, taps=[0, 1]), outputs_info=[h0, None],
                          non_sequences=w, go_backwards=True)
        return outs[0] * 2 + outs[1]

    ag.verify_grad(f, [rand(5, 3), rand(3), rand(3)], n_tests=1)


def test_grad_initial_state_and_implicit_values():
    def f(h0, Wv):
        out, _ = ag.scan(lambda h: T.tanh(T.dot(h, Wv) * 2), outputs_info=h0, n_steps=3)
        return out[-1]

    ag.verify_grad(f, [rand(3), rand(3, 3, scale=0.5)], n_tests=1)


def test_grad_scan_inside_a_scan():
    def f(x, w):
        def outer(v, h, w_):
            inner, _ = ag.scan(lambda p, a, b: T.tanh(p * a + b), outputs_info=h,
                               non_sequences=[v, w_], n_steps=2)
            return inner[-1]

        out, _ = ag.scan(outer, sequences=x, outputs_info=T.zeros((2,)), non_sequences=w)
        return out

    ag.verify_grad(f, [rand(3, 2), rand(2)], n_tests=1)


def test_grad_through_a_shared_value_the_step_updates():
    """Theano turns a float shared variable the step updates into a recurrent output, so
    gradients flow through its running value and into its final value."""
    acc = ag.shared(np.float64(0.5), name="acc")
    x = T.dvector("x")
    out, updates = ag.scan(lambda v: (T.sin(acc * v), {acc: acc + v * v}), sequences=x)
    xv = rand(4)
    cost = out.sum() + updates[acc] * 3
    g = fn([x], ag.grad(cost, x))(xv)
    want = np.zeros(4)  # d/dx_t: cos(a_t x_t) (a_t + sum_{s>t} x_s 2 x_t) + 6 x_t
    for t in range(4):
        a_t = 0.5 + (xv[:t] ** 2).sum()
        want[t] = np.cos(a_t * xv[t]) * a_t + 6 * xv[t]
        for s in range(t + 1, 4):
            a_s = 0.5 + (xv[:s] ** 2).sum()
            want[t] += np.cos(a_s * xv[s]) * xv[s] * 2 * xv[t]
    assert_close(g, want)


def numpy_elman_bptt(xv, h0v, Wv, truncate):
    """The gradient of sum(h_t) over W for h_t = tanh(x_t + h_{t-1} W), through the last
    ``truncate`` steps only (Theano's truncate_gradient: nothing flows past them)."""
    hs = [h0v]
    for t in range(len(xv)):
        hs.append(np.tanh(xv[t] + hs[-1] @ Wv))
    n, gW, gh = len(xv), np.zeros_like(Wv), np.zeros_like(h0v)
    gx = np.zeros_like(xv)
    for t in range(n - 1, max(n - truncate, 0) - 1, -1):
        gz = (gh + 1) * (1 - hs[t + 1] ** 2)
        gW += np.outer(hs[t], gz)
        gx[t] = gz
        gh = gz @ Wv.T
    return gW, gx


@pytest.mark.parametrize("truncate", [1, 2, 4, 10])
def test_truncate_gradient_matches_numpy_bptt(truncate):
    x, h0, W = T.dmatrix("x"), T.dvector("h0"), T.dmatrix("W")
    out, _ = ag.scan(lambda x_t, h: T.tanh(x_t + T.dot(h, W)), sequences=x, outputs_info=h0,
                     truncate_gradient=truncate)
    gW, gx, gh0 = ag.grad(out.sum(), [W, x, h0])
    xv, h0v, Wv = rand(4, 3), rand(3), rand(3, 3, scale=0.5)
    got = fn([x, h0, W], [gW, gx, gh0])(xv, h0v, Wv)
    want_W, want_x = numpy_elman_bptt(xv, h0v, Wv, truncate)
    assert_close(got[0], want_W)
    assert_close(got[1], want_x)
    if truncate < 4:  # (nothing flows back to the initial state)
        assert_close(got[2], np.zeros(3))
    else:
        full = fn([x, h0, W], ag.grad(out.sum(), h0))
        assert_close(got[2], full(xv, h0v, Wv))


def test_second_order_hessian_vector_product():
    """grad of grad through a scan: the reverse loop is differentiated in turn."""
    x, h0, v = T.dvector("x"), T.dscalar("h0"), T.dvector("v")
    out, _ = ag.scan(lambda x_t, h: T.tanh(x_t * h + x_t), sequences=x, outputs_info=h0)
    cost = (out ** 2).sum()
    gx = ag.grad(cost, x)
    hvp = ag.grad((gx * v).sum(), x)
    f = fn([x, h0, v], hvp)

    def np_cost(xv, h=0.5):
        s = 0.0
        for t in range(len(xv)):
            h = np.tanh(xv[t] * h + xv[t])
            s += h * h
        return s

    def np_grad(xv, e=1e-6):
        return np.array([(np_cost(xv + d) - np_cost(xv - d)) / (2 * e) for d in np.eye(len(xv)) * e])

    xv, vv = np.array([0.1, -0.4, 0.3]), np.array([1.0, 2.0, -1.0])
    e = 1e-4
    want = (np_grad(xv + e * vv) - np_grad(xv - e * vv)) / (2 * e)
    assert_close(f(xv, 0.5, vv), want, rtol=1e-5)


def test_lop_and_rop_through_scan():
    x, W, u, v = T.dvector("x"), T.dmatrix("W"), T.dmatrix("u"), T.dmatrix("v")
    out, _ = ag.scan(lambda h, W_: T.tanh(T.dot(h, W_)), outputs_info=x, non_sequences=W, n_steps=3)
    xv, Wv = rand(2), rand(2, 2)
    uv, vv = rand(3, 2), rand(2, 2)
    lop = fn([x, W, u], ag.Lop(out, W, u))(xv, Wv, uv)
    rop = fn([x, W, v], ag.Rop(out, W, v))(xv, Wv, vv)

    def np_out(Wm):
        h, hs = xv, []
        for _ in range(3):
            h = np.tanh(h @ Wm)
            hs.append(h)
        return np.array(hs)

    e = 1e-6
    jac = np.array([(np_out(Wv + e * d.reshape(2, 2)) - np_out(Wv - e * d.reshape(2, 2))) / (2 * e)
                    for d in np.eye(4)])  # (4, 3, 2): d out / d W_flat
    assert_close(lop, np.tensordot(jac, uv, axes=([1, 2], [0, 1])).reshape(2, 2), rtol=1e-6)
    assert_close(rop, np.tensordot(vv.reshape(4), jac, axes=(0, 0)), rtol=1e-6)


def test_grad_edge_cases():
    """Outputs that are the step's own inputs or constants, one variable as a sequence and a
    non-sequence (its gradient counted once per use), an int output beside a float one, and
    zero steps."""
    x, h0, w = T.dvector("x"), T.dscalar("h0"), T.dscalar("w")
    outs, _ = ag.scan(lambda a, h, w_: [a, h, w_, T.constant(2.0)], sequences=x,
                      outputs_info=[None, h0, None, None], non_sequences=w)
    g = fn([x, h0, w], ag.grad(outs[0].sum() + outs[1].sum() * 3 + outs[2].sum() + outs[3].sum(),
                               [x, h0, w]))(np.array([1.0, 2.0]), 3.0, 4.0)
    assert_close(g[0], np.ones(2))
    assert_close(g[1], np.float64(6.0))
    assert_close(g[2], np.float64(2.0))

    def twice(v):
        out, _ = ag.scan(lambda a, v_: a * (v_ ** 2).sum(), sequences=v, non_sequences=v)
        return out

    ag.verify_grad(twice, [rand(3)], n_tests=1)

    def mixed(v):
        (k, y), _ = ag.scan(lambda a, k_, h: [k_ + 1, h * a], sequences=v,
                            outputs_info=[T.constant(np.int64(0)), T.constant(1.0)])
        return y * T.cast(k, "float64")

    ag.verify_grad(mixed, [rand(4)], n_tests=1)
    out, _ = ag.scan(lambda a, h: h * a, sequences=x, outputs_info=h0)
    gx, gh = fn([x, h0], ag.grad(out.sum(), [x, h0]))(np.zeros(0), 2.0)
    assert gx.shape == (0,) and gh == 0.0


def test_float32_gradient_and_hessian_and_jacobian():
    def f(x, W):
        out, _ = ag.scan(lambda a, h, W_: T.tanh(T.dot(a, W_) + h), sequences=x,
                         outputs_info=T.zeros((2,), dtype="float32"), non_sequences=W)
        return out

    ag.verify_grad(f, [rand(3, 2, dtype="float32"), rand(2, 2, dtype="float32")], n_tests=1)
    x = T.dvector("x")
    out, _ = ag.scan(lambda v, h: T.tanh(v * h + v), sequences=x, outputs_info=T.constant(0.5))
    xv = np.array([0.1, -0.2, 0.3])

    def np_out(v):
        h, hs = 0.5, []
        for t in range(3):
            h = np.tanh(v[t] * h + v[t])
            hs.append(h)
        return np.array(hs)

    e = 1e-5
    J = np.array([(np_out(xv + d) - np_out(xv - d)) / (2 * e) for d in np.eye(3) * e]).T
    assert_close(fn([x], ag.jacobian(out, x))(xv), J, rtol=1e-6)
    H = np.array([(np_out(xv + d).sum() - 2 * np_out(xv).sum() + np_out(xv - d).sum())
                  for d in np.eye(3) * 1e-4]) / 1e-8
    got = fn([x], ag.hessian(out.sum(), x))(xv)
    assert_close(np.diag(got), H, rtol=1e-4)
    assert_close(got, got.T)


# ================================================================= errors

def step_returning_float32(h):
    return T.cast(h * 2, "float32")


def test_error_step_returns_another_dtype():
    with pytest.raises(ArignoteTypeError) as info:
        ag.scan(step_returning_float32, outputs_info=T.dvector("h0"), n_steps=2)
    msg = str(info.value)
    assert "step_returning_float32" in msg and "test_scan.py:" in msg
    assert "output 0" in msg and "float32" in msg and "float64" in msg and "cast" in msg


def test_error_step_returns_another_rank():
    def to_matrix(h):
        return h.dimshuffle(0, "x") * h

    with pytest.raises(ArignoteTypeError, match=r"to_matrix.*test_scan.py:\d+.*output 0.*rank"):
        ag.scan(to_matrix, outputs_info=T.dvector("h0"), n_steps=2)


def test_error_step_changes_a_static_row_size():
    def doubles(h):
        return T.concatenate([h, h])

    with pytest.raises(ArignoteValueError,
                       match=r"doubles.*test_scan.py:\d+.*output 0.*\(6,\).*\(3,\)"):
        ag.scan(doubles, outputs_info=T.tensor("float64", (3,), name="h0"), n_steps=2)


def test_error_wrong_number_of_step_outputs():
    def two(h):
        return h, h

    with pytest.raises(ArignoteValueError, match=r"two.*test_scan.py:\d+.*2 output.*1"):
        ag.scan(two, outputs_info=[T.dscalar("h0")], n_steps=2)


def test_error_tap_before_the_initial_state():
    """Static: at build time; a length known at run time: at run time."""
    def step(a, b):
        return a + b

    with pytest.raises(ArignoteValueError, match=r"step.*test_scan.py:\d+.*outputs_info\[0\].*3"):
        ag.scan(step, outputs_info=dict(initial=T.tensor("float64", (2,), name="y0"),
                                        taps=[-3, -1]), n_steps=2)
    y0 = T.dvector("y0")
    out, _ = ag.scan(step, outputs_info=dict(initial=y0, taps=[-3, -1]), n_steps=2)
    with pytest.raises(ShapeError, match=r"3 steps back.*needs 3 rows, got 2"):
        fn([y0], out)(np.zeros(2))


def test_error_negative_n_steps():
    with pytest.raises(ArignoteValueError, match=r"n_steps must be >= 0, got -2"):
        ag.scan(lambda y: y, outputs_info=T.dscalar(), n_steps=-2)
    n, y0 = T.lscalar("n"), T.dscalar("y0")
    out, _ = ag.scan(lambda y: y + 1, outputs_info=y0, n_steps=n)
    with pytest.raises(ArignoteValueError, match=r"n_steps is -1"):
        fn([n, y0], out)(-1, 0.0)


def test_error_sequence_not_a_tensor_or_a_scalar():
    with pytest.raises(ArignoteTypeError, match=r"sequences\[0\] must be a tensor.*object"):
        ag.scan(lambda a: a, sequences=[object()])
    with pytest.raises(ArignoteTypeError, match=r"sequences\[1\].*'s'.*is a scalar"):
        ag.scan(lambda a, b: a, sequences=[T.dvector(), T.dscalar("s")])


def test_error_neither_sequences_nor_n_steps():
    with pytest.raises(ArignoteValueError, match=r"give sequences or n_steps"):
        ag.scan(lambda y: y * 2, outputs_info=T.dscalar("y0"))


def test_error_sequence_too_short_for_n_steps():
    x = T.dvector("x")
    out, _ = ag.scan(lambda v: v * 2, sequences=x, n_steps=4)
    with pytest.raises(ShapeError, match=r"3 rows is too short for 4 steps"):
        fn([x], out)(np.zeros(3))
