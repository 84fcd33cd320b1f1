"""Replays (one native call per function call, arignote.runtime.native_call) must give
what a step-by-step run gives, bit for bit, and leave the same state behind: across
calls whose shapes change, with borrowed outputs, in-place updates, failing calls and
Functions that share variables. Each function runs beside a twin whose replays are off."""
import numpy as np
import pytest

import arignote as ag
import arignote.tensor as T
from arignote.errors import ArignoteError
from arignote.runtime import native_call
from arignote.runtime.function import Out
from arignote.runtime.profile import profile

pytestmark = pytest.mark.skipif(not native_call.ENABLED, reason="ARIGNOTE_NATIVE_CALLS=0")


def _sgd(sizes, seed=0, borrow=False, lr=0.1):
    """An SGD step of a tanh MLP with integer labels (row picks: a host step checking the
    labels), its cost an output; the shared variables and the Function."""
    rng = np.random.default_rng(seed)
    x, y = T.fmatrix("x"), T.ivector("y")
    params, h = [], x
    for k, (a, b) in enumerate(zip(sizes, sizes[1:])):
        W = ag.shared((rng.standard_normal((a, b)) * a ** -0.5).astype("float32"), f"W{k}")
        bias = ag.shared(np.zeros(b, "float32"), f"b{k}")
        params += [W, bias]
        h = T.dot(h, W) + bias
        if k < len(sizes) - 2:
            h = T.tanh(h)
    cost = -T.mean(T.nnet.log_softmax(h)[T.arange(y.shape[0]), y])
    grads = ag.grad(cost, params)
    f = ag.function([x, y], Out(cost, borrow=borrow) if borrow else cost,
                    updates=[(p, p - lr * g) for p, g in zip(params, grads)])
    return params, f


def _twins(sizes, **kwargs):
    """Two copies of the same step: the first replays, the second never does."""
    p1, f1 = _sgd(sizes, **kwargs)
    p2, f2 = _sgd(sizes, **kwargs)
    f2.program._replayer = False
    return (p1, f1), (p2, f2)


def _batch(n, cols, classes, seed):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, cols), dtype=np.float32),
            rng.integers(0, classes, n).astype(np.int32))


def _replays(f):
    replayer = f.program._replayer
    return [] if not replayer else [r for r in replayer.replays.values() if r]


def _native(f):
    """Whether ``f``'s kernels are native code (the cpu backend's), which replays run."""
    return f.program.backend.name == "cpu"


def _same_state(p1, p2):
    for a, b in zip(p1, p2):
        assert np.array_equal(a.get_value(borrow=True), b.get_value(borrow=True)), a.name


@pytest.mark.parametrize("sizes", [[20, 3], [30, 40, 5], [100, 400, 10]])
def test_replays_agree_bitwise_across_changing_shapes(sizes):
    (p1, f1), (p2, f2) = _twins(sizes)
    for step, n in enumerate([16, 16, 16, 16, 7, 7, 7, 16, 16, 1, 1, 1]):
        x, y = _batch(n, sizes[0], sizes[-1], step)
        c1, c2 = f1(x, y), f2(x, y)
        assert c1.dtype == c2.dtype and np.array_equal(c1, c2)
        _same_state(p1, p2)
    if _native(f1):
        assert len(_replays(f1)) == 3  # (one per batch size)


def test_an_update_written_in_place_stays_in_place():
    (p1, f1), (p2, f2) = _twins([100, 400, 10])  # W0: 40000 entries, updated by a gemm
    storage = p1[0].get_value(borrow=True)
    for step in range(4):
        x, y = _batch(8, 100, 10, step)
        f1(x, y), f2(x, y)
    _same_state(p1, p2)
    if _native(f1):
        assert _replays(f1) and p1[0].get_value(borrow=True) is storage


def test_a_failing_call_changes_nothing_and_raises_as_before():
    (p1, f1), (p2, f2) = _twins([30, 40, 5])
    for step in range(3):
        x, y = _batch(8, 30, 5, step)
        f1(x, y), f2(x, y)
    before = [p.get_value() for p in p1]
    x, y = _batch(8, 30, 5, 9)
    y[3] = 7  # out of bounds for 5 classes
    errors = []
    for f in (f1, f2):
        with pytest.raises(ArignoteError) as info:
            f(x, y)
        errors.append(str(info.value))
    assert errors[0] == errors[1] and "out of bounds" in errors[0]
    for p, b in zip(p1, before):
        assert np.array_equal(p.get_value(borrow=True), b)
    _same_state(p1, p2)
    y[3] = 1
    assert np.array_equal(f1(x, y), f2(x, y))  # and the replay goes on
    _same_state(p1, p2)


def test_borrowed_outputs_alternate_and_survive_a_failing_call():
    (p1, f1), (p2, f2) = _twins([30, 40, 5], borrow=True)
    kept = None
    for step in range(5):
        x, y = _batch(8, 30, 5, step)
        c1, c2 = f1(x, y), f2(x, y)
        assert np.array_equal(c1, c2)
        kept, value = c1, c1.copy()
    x, y = _batch(8, 30, 5, 99)
    y[0] = -9
    with pytest.raises(ArignoteError, match="out of bounds"):
        f1(x, y)
    assert np.array_equal(kept, value)  # the borrowed output the user holds is untouched
    _same_state(p1, p2)


def test_functions_sharing_variables_see_each_others_updates():
    def pair():
        params, train = _sgd([20, 3], seed=3)
        x = T.fmatrix("x")
        W, b = params
        score = ag.function([x], T.dot(x, W) + b)
        return params, train, score
    p1, train1, score1 = pair()
    p2, train2, score2 = pair()
    train2.program._replayer = score2.program._replayer = False
    for step in range(6):
        x, y = _batch(16, 20, 3, step)
        assert np.array_equal(train1(x, y), train2(x, y))
        assert np.array_equal(score1(x), score2(x))
        _same_state(p1, p2)


def test_an_input_aliasing_an_updated_variable_runs_normally():
    """An input that is a view of a variable updated in place: the normal run copies
    before writing, so the replay must not run (its commits write in place)."""
    (p1, f1), (p2, f2) = _twins([100, 400, 10])
    W1, W2 = p1[0], p2[0]
    for step in range(3):
        x, y = _batch(8, 100, 10, step)
        f1(x, y), f2(x, y)
    for step in range(3):  # replays recorded for the layout of W0.T, on arrays of their own
        x, y = _batch(400, 100, 10, step)
        x = np.asfortranarray(x)
        assert np.array_equal(f1(x, y), f2(x, y))
    assert len(_replays(f1)) == 2 * _native(f1)
    for step in range(3):
        y = _batch(400, 100, 10, step)[1]
        x1 = W1.get_value(borrow=True).T  # (400, 100): W0 itself
        x2 = W2.get_value(borrow=True).T
        assert np.array_equal(f1(x1, y), f2(x2, y))
        _same_state(p1, p2)


def test_a_large_update_by_a_kernel_writes_in_place():
    def make():
        x = T.dmatrix("x")
        V = ag.shared(np.linspace(-1, 1, 200 * 200).reshape(200, 200), "V")
        return V, ag.function([x], T.sum(V), updates=[(V, V - 0.1 * T.tanh(T.dot(x, V)))])
    (V1, f1), (V2, f2) = make(), make()
    f2.program._replayer = False
    storage = V1.get_value(borrow=True)
    rng = np.random.default_rng(5)
    for _ in range(5):
        x = rng.standard_normal((200, 200)) * 0.1
        assert np.array_equal(f1(x), f2(x))
        _same_state([V1], [V2])
    if _native(f1):
        assert _replays(f1) and _replays(f1)[0].inplace_roots
        assert V1.get_value(borrow=True) is storage


def test_a_minibatch_slice_follows_its_index():
    """Regression: a kernel slicing a shared dataset at an input index views it on the host
    at each call; a replay packing the recorded view read the same rows every call."""
    def make():
        data = ag.shared(np.arange(24.0).reshape(8, 3), "data")
        i, x = T.lscalar("i"), T.dmatrix("x")
        total = ag.shared(np.zeros(3), "total")
        return total, ag.function([i], T.sum(x, axis=1), givens={x: data[i * 2:(i + 1) * 2]},
                                  updates=[(total, total + T.sum(x, axis=0))])
    (t1, f1), (t2, f2) = make(), make()
    f2.program._replayer = False
    for k in [0, 0, 1, 2, 3, 1, 0]:
        got = f1(k)
        assert np.array_equal(got, np.arange(24.0).reshape(8, 3)[2 * k:2 * k + 2].sum(axis=1))
        assert np.array_equal(got, f2(k))
        _same_state([t1], [t2])


def test_profiling_takes_the_normal_path():
    (p1, f1), _ = _twins([20, 3])
    x, y = _batch(8, 20, 3, 0)
    for _ in range(3):
        f1(x, y)
    report = profile(f1, x, y, repeat=2)
    assert len(report.steps) > 3 and all(s.seconds > 0 and s.runs == 1 for s in report.steps)


def test_a_direct_call_agrees_with_the_general_one():
    a, b = T.dscalars("a", "b")
    f = ag.function([a, b], a + b)
    v, w = T.dvectors("v", "w")
    g = ag.function([v, w], v + w)
    assert f(1.5, 2.5) == f(np.asarray(1.5), np.asarray(2.5)) == f(a=1.5, b=2.5) == 4.0
    x = np.arange(3.0)
    assert np.array_equal(g(x, x), x + x)
    with pytest.raises(ArignoteError, match="shape"):  # the kernel's error, named as before
        g(x, np.arange(4.0))
    report = profile(f, 1.5, 2.5, repeat=2)  # (the steps are timed: the general call runs)
    assert report.steps and all(s.runs == 1 and s.seconds > 0 for s in report.steps)
    if f.program.backend.compiles:
        assert f._direct_call is not None and len(report.steps) == 1


def test_shapes_that_follow_an_input_value():
    """A scalar input sizing arrays (alloc, arange): the signature holds the same while
    the shapes change; the host steps rerun and the call runs normally where they differ."""
    def make():
        n, x = T.lscalar("n"), T.dvector("x")
        s = ag.shared(np.zeros(3), "s")
        return s, ag.function([n, x], [T.alloc(np.float64(1.5), n) * 2, T.arange(n) + x.shape[0]],
                              updates=[(s, s + 1)])
    (s1, f1), (s2, f2) = make(), make()
    f2.program._replayer = False
    for k in [3, 3, 3, 5, 5, 2, 3, 3]:
        for a, b in zip(f1(np.int64(k), np.ones(4)), f2(np.int64(k), np.ones(4))):
            assert a.shape == (k,) and np.array_equal(a, b)
        _same_state([s1], [s2])
