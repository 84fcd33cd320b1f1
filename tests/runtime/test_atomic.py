"""A failing call changes nothing (ARCHITECTURE invariant 8), and calls from
several threads lose no update.

Every check of every input, output and update comes before the first write
to a shared variable or to a borrowed output the user holds: in-place
commits write only after the updates' static shapes are checked, and a
borrowed output is computed into storage the user does not hold."""
import threading

import numpy as np
import pytest

import arignote as ag
import arignote.tensor as T
from arignote.errors import ArignoteError, ArignoteValueError, ShapeError
from arignote.runtime.kernels import MIN_INPLACE_SIZE
from arignote.runtime.function import Out

#: (backend, fusion): the reference, cpu fused, cpu unfused
CONFIGS = [pytest.param("numpy", True, id="numpy"), pytest.param("cpu", True, id="cpu-fused"),
           pytest.param("cpu", False, id="cpu-unfused")]
LARGE = (200, 200)  # over MIN_INPLACE_SIZE: its update is written in place (two phases)
assert np.prod(LARGE) >= MIN_INPLACE_SIZE


def _unchanged(sv, value):
    np.testing.assert_array_equal(sv.get_value(borrow=True), value)


# ------------------------------------------------ shared variables (issue 9, part 3)

@pytest.mark.parametrize("backend,fusion", CONFIGS)
def test_update_shape_checked_before_a_large_update_is_written(backend, fusion):
    W = ag.shared(np.zeros(LARGE), name="W")
    S = ag.shared(np.zeros(3), name="S", shape=(3,))
    x = T.dvector("x")
    f = ag.function([x], [], updates=[(W, W + 1.0), (S, x)], backend=backend, fusion=fusion)
    if backend == "cpu":
        assert f.program.inplace_updates == 1  # the case at stake: W written in place
    with pytest.raises(ShapeError, match="'S'.*static shape"):
        f(np.ones(5))
    _unchanged(W, 0.0)
    _unchanged(S, 0.0)
    f(np.ones(3))  # and the function still works
    _unchanged(W, 1.0)
    _unchanged(S, 1.0)


@pytest.mark.parametrize("backend,fusion", CONFIGS)
def test_static_shaped_variable_checked_and_still_updated_in_place(backend, fusion):
    W = ag.shared(np.zeros(LARGE), name="W", shape=LARGE)
    x = T.dmatrix("x")
    f = ag.function([x], [], updates=[(W, W + x)], backend=backend, fusion=fusion)
    before = W.get_value(borrow=True)
    f(np.ones(LARGE))
    _unchanged(W, 1.0)
    if backend == "cpu":
        assert W.get_value(borrow=True) is before  # the check read the prepared output
    with pytest.raises(ShapeError):
        f(np.ones((200, 199)))
    _unchanged(W, 1.0)


@pytest.mark.parametrize("backend,fusion", CONFIGS)
@pytest.mark.parametrize("failing", [0, 1, 2])
def test_any_failing_update_check_leaves_every_update_unwritten(backend, fusion, failing):
    W = ag.shared(np.zeros(LARGE), name="W")
    V = ag.shared(np.ones(LARGE), name="V")
    S = ag.shared(np.zeros(3), name="S", shape=(3,))
    x = T.dvector("x")
    updates = [(W, W + 1.0), (V, V * 2.0)]
    updates.insert(failing, (S, x * 2.0))  # its static-shape check fails for len(x) != 3
    f = ag.function([x], [], updates=updates, backend=backend, fusion=fusion)
    with pytest.raises(ShapeError, match="'S'"):
        f(np.ones(5))
    _unchanged(W, 0.0)
    _unchanged(V, 1.0)
    _unchanged(S, 0.0)


@pytest.mark.parametrize("backend,fusion", CONFIGS)
def test_failing_later_step_after_an_update_that_could_be_in_place(backend, fusion):
    W = ag.shared(np.zeros(LARGE), name="W")
    x, i = T.dmatrix("x"), T.lvector("i")
    f = ag.function([x, i], x[i].sum(), updates=[(W, W + x)], backend=backend, fusion=fusion)
    with pytest.raises(ArignoteValueError, match="out of bounds"):
        f(np.ones(LARGE), np.array([500]))
    _unchanged(W, 0.0)


# ------------------------------------------------ borrowed outputs (issue 9, part 4)

@pytest.mark.parametrize("backend,fusion", CONFIGS)
def test_failing_call_leaves_the_borrowed_output_as_it_was(backend, fusion):
    x, i = T.dmatrix("x"), T.lvector("i")
    f = ag.function([x, i], [Out(T.tanh(x) + 1.0, borrow=True), x[i].sum()],
                    backend=backend, fusion=fusion)
    r, _ = f(np.zeros((100, 100)), np.array([0]))
    with pytest.raises(ArignoteValueError, match="out of bounds"):
        f(np.ones((100, 100)), np.array([500]))
    np.testing.assert_array_equal(r, 1.0)
    r2, s = f(np.ones((100, 100)), np.array([0]))  # the next good call
    np.testing.assert_allclose(r2, np.tanh(1.0) + 1.0)
    assert s == 100.0


@pytest.mark.parametrize("backend,fusion", CONFIGS)
def test_failing_update_check_leaves_the_borrowed_output_and_a_large_update(backend, fusion):
    W = ag.shared(np.zeros(LARGE), name="W")
    S = ag.shared(np.zeros(3), name="S", shape=(3,))
    x, v = T.dmatrix("x"), T.dvector("v")
    f = ag.function([x, v], Out(T.tanh(x) + 1.0, borrow=True),
                    updates=[(W, W + x), (S, v * 2.0)], backend=backend, fusion=fusion)
    r = f(np.zeros(LARGE), np.zeros(3))
    with pytest.raises(ShapeError, match="'S'"):
        f(np.ones(LARGE), np.ones(4))
    np.testing.assert_array_equal(r, 1.0)
    _unchanged(W, 0.0)
    _unchanged(S, 0.0)


@pytest.mark.parametrize("backend,fusion", CONFIGS)
def test_failing_update_check_leaves_a_borrowed_output_of_unchanged_shape(backend, fusion):
    S = ag.shared(np.zeros(3), name="S", shape=(3,))
    x = T.dvector("x")
    f = ag.function([x], Out(x[:3] * 2.0, borrow=True), updates=[(S, x + 1.0)],
                    backend=backend, fusion=fusion)
    r = f(np.ones(3))
    with pytest.raises(ShapeError, match="'S'"):
        f(np.full(4, 5.0))  # the output has the shape it had; the update does not fit
    np.testing.assert_array_equal(r, 2.0)
    _unchanged(S, 2.0)


@pytest.mark.parametrize("backend,fusion", CONFIGS)
def test_kernel_error_after_the_run_leaves_the_borrowed_output(backend, fusion):
    """Integer powers raise after the kernel has run (an error flag): into storage
    the user does not hold."""
    x, y = T.lvectors("x", "y")
    f = ag.function([x, y], Out(x ** y + 1, borrow=True), backend=backend, fusion=fusion)
    n = 5000
    if (backend, fusion) == ("cpu", True):
        assert f.program._direct is not None  # one kernel, run directly
    r = f(np.full(n, 2), np.full(n, 3))
    bad = np.full(n, 3)
    bad[-1] = -1
    with pytest.raises(ArignoteError, match="negative"):
        f(np.full(n, 3), bad)
    np.testing.assert_array_equal(r, 9)


@pytest.mark.parametrize("backend,fusion", CONFIGS)
def test_borrowed_output_passed_back_in_then_a_failing_call(backend, fusion):
    x, i = T.dmatrix("x"), T.lvector("i")
    f = ag.function([x, i], [Out(x * 2.0, borrow=True), x[i].sum()], backend=backend, fusion=fusion)
    r, _ = f(np.ones((64, 64)), np.array([0]))
    r2, _ = f(r, np.array([0]))  # its own borrowed output as the input
    np.testing.assert_array_equal(r2, 4.0)
    with pytest.raises(ArignoteValueError):
        f(r2, np.array([99]))
    np.testing.assert_array_equal(r2, 4.0)
    r3, _ = f(r2, np.array([0]))
    np.testing.assert_array_equal(r3, 8.0)


# ------------------------------------------------ calls from several threads

def _in_threads(work, n=4):
    errors = []

    def run(k):
        try:
            work(k)
        except BaseException as e:  # (reported by the test, not lost in the thread)
            errors.append(e)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


@pytest.mark.parametrize("backend,fusion", CONFIGS)
@pytest.mark.parametrize("shape", [(), LARGE], ids=["scalar", "in-place"])
def test_updates_from_threads_are_never_lost(backend, fusion, shape):
    W = ag.shared(np.zeros(shape), name="W")
    f = ag.function([], [], updates=[(W, W + 1.0)], backend=backend, fusion=fusion)
    calls = 300 if shape else 2000

    def work(_):
        for _ in range(calls):
            f()
    _in_threads(work)
    _unchanged(W, 4.0 * calls)


@pytest.mark.parametrize("backend,fusion", CONFIGS)
def test_two_functions_updating_one_shared_variable_from_threads(backend, fusion):
    W = ag.shared(np.zeros(LARGE), name="W")
    V = ag.shared(np.zeros(()), name="V")
    a = T.dscalar("a")
    add = ag.function([a], [], updates=[(W, W + a), (V, V + 1.0)], backend=backend, fusion=fusion)
    sub = ag.function([a], [], updates=[(V, V - 1.0), (W, W - a)], backend=backend, fusion=fusion)
    calls = 200

    def work(k):
        for _ in range(calls):
            (add if k % 2 else sub)(float(k + 1))
    _in_threads(work)
    _unchanged(W, calls * (2 + 4 - 1 - 3))
    _unchanged(V, 0.0)


@pytest.mark.parametrize("backend,fusion", CONFIGS)
def test_readers_never_see_an_update_half_written(backend, fusion):
    W = ag.shared(np.zeros(LARGE), name="W")
    step = ag.function([], [], updates=[(W, W + 1.0)], backend=backend, fusion=fusion)
    spread = ag.function([], W.max() - W.min(), backend=backend, fusion=fusion)
    seen = []

    def work(k):
        for _ in range(200):
            if k == 0:
                step()
            elif k == 1:
                seen.append(float(spread()))
            else:
                value = W.get_value()
                seen.append(float(value.max() - value.min()))
    _in_threads(work, n=3)
    assert set(seen) == {0.0}
    _unchanged(W, 200.0)


@pytest.mark.parametrize("backend,fusion", CONFIGS)
def test_one_function_called_from_threads_on_pooled_outputs(backend, fusion):
    x = T.dvector("x")
    f = ag.function([x], [T.sqrt(x) + 1.0, Out(x * 2.0, borrow=True)], backend=backend, fusion=fusion)
    n = 50000  # pooled and borrowed storage, reused from call to call

    def work(k):
        v = np.full(n, float(k))
        for _ in range(100):  # (the borrowed output is any thread's next call's to write)
            a, _ = f(v)
            assert (a == np.sqrt(k) + 1.0).all()
    _in_threads(work)


def test_functions_with_shared_variables_still_pickle_and_copy():
    import pickle
    W = ag.shared(np.zeros(3), name="W")
    f = ag.function([], W.sum(), updates=[(W, W + 1.0)])
    g = pickle.loads(pickle.dumps(f))
    g()
    _unchanged(W, 0.0)
    assert g() == 3.0
    h = f.copy()
    h()
    _unchanged(W, 0.0)
    f()
    _unchanged(W, 1.0)
