"""The memory plan: pooled kernel outputs, borrowed outputs, shared-variable
updates computed in place -- and that none of it is ever visible to the user."""
import numpy as np
import pytest

import arignote as ag
import arignote.tensor as T
from arignote.compiler import unsafe
from arignote.errors import ShapeError
from arignote.runtime.kernels import MIN_INPLACE_SIZE
from arignote.runtime.function import Out
from arignote.runtime.memory import MIN_POOLED_SIZE, BufferPool, overlaps
from tests.util import assert_close

N = 2 * MIN_POOLED_SIZE  # pooled
BACKENDS = ["numpy", "cpu"]


@pytest.mark.skipif(not unsafe.REUSE, reason="ARIGNOTE_SAFE_CALLS=1: the pool reuses nothing")
def test_pool_reuses_only_unreferenced_arrays():
    pool = BufferPool(cap=2)
    a = pool.take((N,), np.dtype("float64"))
    b = pool.take((N,), np.dtype("float64"))
    assert a is not b
    a_id = id(a)
    del a
    assert id(pool.take((N,), np.dtype("float64"))) == a_id  # dropped: handed out again
    view = b[1:]
    c = pool.take((N,), np.dtype("float64"))
    assert c is not b and c is not view.base  # a live view keeps its base out of reach
    d = pool.take((N,), np.dtype("float64"))  # cap reached: allocated, not kept
    assert d is not c and len(pool.held[((N,), np.dtype("float64"))]) == 2
    assert pool.take((N,), np.dtype("float32")).dtype == np.float32
    small = pool.take((3,), np.dtype("float64"))
    assert small.shape == (3,) and not any(small is x for held in pool.held.values() for x in held)
    assert pool.nbytes == 2 * N * 8 + N * 4
    pool.clear()
    assert pool.nbytes == 0


def test_overlaps():
    a = np.zeros(10)
    assert overlaps(a, [a]) and overlaps(a, [a[2:]]) and overlaps(a[:5], [a[3:]])
    assert not overlaps(a, [np.zeros(10), None]) and not overlaps(a[:5], [a[5:]])


@pytest.mark.skipif(not unsafe.REUSE, reason="ARIGNOTE_SAFE_CALLS=1: the pool reuses nothing")
def test_outputs_the_user_dropped_are_reused_by_the_next_call():
    b, c = T.dvectors("b", "c")
    f = ag.function([b, c], b + 3.0 * c, backend="cpu")
    x, y = np.arange(N, dtype=float), np.ones(N)
    first = f(x, y)
    address = first.__array_interface__["data"][0]
    kept = f(x, y)  # `first` is still held: a new array
    assert kept.__array_interface__["data"][0] != address
    assert_close(first, x + 3)
    del first
    assert f(x, y).__array_interface__["data"][0] == address
    assert_close(kept, x + 3)


@pytest.mark.parametrize("backend", BACKENDS)
def test_borrowed_output_storage_is_reused(backend):
    b = T.dvector("b")
    f = ag.function([b], Out(b * 2.0, borrow=True), backend=backend)
    first = f(np.ones(N))
    second = f(np.full(N, 2.0))
    assert_close(second, np.full(N, 4.0))
    assert_close(first, np.full(N, 2.0))  # written into the other array of the two
    third = f(np.full(N, 3.0))
    assert_close(third, np.full(N, 6.0))
    if backend == "cpu":  # two arrays take turns: the older one is overwritten, as Theano allows
        assert third is first and second is not first
    assert f(np.ones(5)).shape == (5,)  # another shape: new storage


@pytest.mark.parametrize("backend", BACKENDS)
def test_borrowed_output_passed_back_in_is_not_overwritten(backend):
    x = T.dmatrix("x")
    f = ag.function([x], Out(x.T * 2.0 + 1.0, borrow=True), backend=backend)
    y = f(np.arange(96.0 * 96).reshape(96, 96))  # square: the next output fits the same storage
    before = y.copy()
    y2 = f(y)  # the borrowed array itself as the input
    assert_close(y2, before.T * 2 + 1)
    before = y2.copy()
    y3 = f(y2[:, :])  # a view of it
    assert_close(y3, before.T * 2 + 1)


def _sgd(backend, momentum):
    rng = np.random.default_rng(0)
    x = T.dmatrix("x")
    W = ag.shared(rng.standard_normal((5, 3)), "W")
    v = ag.shared(np.zeros((5, 3)), "v")
    cost = T.sum(T.tanh(T.dot(x, W)) ** 2)
    g = ag.grad(cost, W)
    if momentum:
        v_new = 0.9 * v - 0.1 * g
        updates = [(v, v_new), (W, W + v_new)]
    else:
        updates = [(W, W - 0.1 * g)]
    f = ag.function([x], cost, updates=updates, backend=backend, fusion=True)
    xs = rng.standard_normal((4, 5))
    costs = [f(xs) for _ in range(3)]
    return f, W, v, costs


@pytest.mark.parametrize("momentum", [False, True])
def test_updates_are_computed_in_place_and_match_the_reference(momentum):
    f, W, v, costs = _sgd("cpu", momentum)
    _, W_ref, v_ref, costs_ref = _sgd("numpy", momentum)
    assert f.program.inplace_updates == (2 if momentum else 1)
    assert_close(np.array(costs), np.array(costs_ref))
    assert_close(W.get_value(), W_ref.get_value())
    assert_close(v.get_value(), v_ref.get_value())


@pytest.mark.parametrize("size", [10, MIN_INPLACE_SIZE])
def test_large_updates_write_over_the_old_value_small_ones_replace_it(size):
    w = ag.shared(np.ones(size), "w")
    x = T.dvector("x")
    f = ag.function([x], [], updates=[(w, w * 2.0 + x)], backend="cpu", fusion=True)
    before = w.get_value(borrow=True)
    f(np.ones(size))
    assert_close(w.get_value(), np.full(size, 3.0))
    assert (w.get_value(borrow=True) is before) == (size >= MIN_INPLACE_SIZE)
    assert_close(before, np.full(size, 3.0 if size >= MIN_INPLACE_SIZE else 1.0))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("n", [N, MIN_INPLACE_SIZE])  # a private copy / two phases
def test_failing_call_changes_nothing(backend, n):
    x, y, z = T.dvector("x"), T.dvector("y"), T.dvector("z")
    w = ag.shared(np.zeros(n), "w")
    u = ag.shared(np.zeros(3), "u")
    v = ag.shared(np.zeros(n), "v")
    f = ag.function([x, y, z], [], updates=[(w, w + x), (u, u + y), (v, v + z)], backend=backend)
    f(np.ones(n), np.ones(3), np.ones(n))
    with pytest.raises(ShapeError):
        f(np.ones(n), np.ones(3), np.ones(n + 1))  # the last update fails after the others passed
    with pytest.raises(ShapeError):
        f(np.ones(n), np.ones(4), np.ones(n))
    for sv, size in [(w, n), (u, 3), (v, n)]:
        assert_close(sv.get_value(), np.ones(size))


@pytest.mark.parametrize("backend", BACKENDS)
def test_results_never_see_an_in_place_write(backend):
    w = ag.shared(np.arange(6.0).reshape(2, 3), "w")
    u = ag.shared(np.zeros((3, 2)), "u")
    f = ag.function([], [w.T, w * 1.0], updates=[(w, w * 2.0), (u, w.T)], backend=backend)
    old = w.get_value()
    wt, same = f()
    assert_close(wt, old.T)  # an output viewing the old value
    assert_close(same, old)
    assert_close(u.get_value(), old.T)  # an update viewing the old value
    assert_close(w.get_value(), old * 2)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("n", [N, MIN_INPLACE_SIZE])
def test_aliased_shared_values_and_inputs(backend, n):
    data = np.arange(n, dtype=float)
    a = ag.shared(data, "a", borrow=True)
    b = ag.shared(data, "b", borrow=True)  # the same memory as a
    x = T.dvector("x")
    f = ag.function([x], [], updates=[(a, a + x), (b, b * 2.0)], backend=backend)
    orig = data.copy()
    f(a.get_value(borrow=True))  # the input is a's memory too
    assert_close(a.get_value(), orig + orig)
    assert_close(b.get_value(), orig * 2)


@pytest.mark.parametrize("backend", BACKENDS)
def test_update_reading_its_variable_transposed(backend):
    w = ag.shared(np.arange(9.0).reshape(3, 3), "w")
    f = ag.function([], [], updates=[(w, w + w.T)], backend=backend, fusion=True)
    old = w.get_value()
    f()
    assert_close(w.get_value(), old + old.T)
    if backend == "cpu":
        assert f.program.inplace_updates == 0  # another index map: not in place


def test_copied_function_updates_its_own_copy_in_place():
    f, W, _, _ = _sgd("cpu", False)
    g = f.copy()
    before = W.get_value()
    g(np.ones((4, 5)))
    assert_close(W.get_value(), before)
    assert g.program.inplace_updates == 1
