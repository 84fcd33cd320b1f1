"""The fast call path (positional exact arrays, Python floats, cached kernel
argument buffers) must behave exactly like the general one."""
import threading

import numpy as np
import pytest

import arignote as ag
import arignote.tensor as T
from arignote.compiler import launch as L
from arignote.errors import ArignoteError, ArignoteTypeError, ShapeError
from arignote.runtime.function import Out

BACKENDS = ["numpy", "cpu"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_scalars_floats_ints_and_arrays_agree(backend):
    a, b = T.dscalars("a", "b")
    f = ag.function([a, b], a * b + 1, backend=backend)
    assert f(1.5, 2.5) == 1.5 * 2.5 + 1
    assert f(np.float64(1.5), 2) == 4.0  # NumPy scalar and Python int: the general path
    assert f(a=1.5, b=2.5) == f(np.asarray(1.5), np.asarray(2.5))
    out = f(1.5, 2.5)
    assert isinstance(out, np.ndarray) and out.dtype == np.float64 and out.ndim == 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_fast_path_keeps_the_checks(backend):
    x = T.fvector("x")
    f = ag.function([x], x * 2, backend=backend)
    with pytest.raises(ArignoteTypeError, match="expects a 1-d array"):
        f(np.zeros((2, 2), "float32"))
    with pytest.raises(ArignoteTypeError, match="lose precision"):
        f(np.zeros(3))
    s = T.fscalar("s")
    g = ag.function([s], s + 1, backend=backend)
    with pytest.raises(ArignoteTypeError, match="lose information"):
        g(1.5)  # a Python float into a float32 input goes through filter
    assert g(np.float32(1.5)) == np.float32(2.5)
    static = T.tensor("float64", (3,), name="v")
    h = ag.function([static], static + 1, backend=backend)
    with pytest.raises(ShapeError, match="static shape"):
        h(np.zeros(4))


@pytest.mark.parametrize("backend", BACKENDS)
def test_outputs_never_alias_inputs_shared_or_each_other(backend):
    x = T.vector("x")
    w = ag.shared(np.arange(3.0), name="w")
    f = ag.function([x], [x, x, w, x + 1, x + 1], backend=backend)
    xv = np.arange(3.0)
    outs = f(xv)
    arrays = [xv, w.get_value(borrow=True)] + outs
    for i in range(len(arrays)):
        for j in range(i + 1, len(arrays)):
            assert not np.may_share_memory(arrays[i], arrays[j]), (i, j)
    view = xv[::-1]  # a view input: its output still must not alias it
    (o,) = ag.function([x], [x], backend=backend)(view)[:1]
    assert not np.may_share_memory(o, xv)


@pytest.mark.parametrize("backend", BACKENDS)
def test_borrowed_outputs_may_share_with_each_other_only(backend):
    x = T.vector("x")
    f = ag.function([x], [Out(x, borrow=True), Out(x, borrow=True)], backend=backend)
    xv = np.ones(3)
    a, b = f(xv)
    assert not np.may_share_memory(a, xv) and not np.may_share_memory(b, xv)


@pytest.mark.parametrize("backend", BACKENDS)
def test_failing_call_leaves_shared_unchanged(backend):
    x = T.vector("x")
    w = ag.shared(np.zeros(2), name="w")
    f = ag.function([x], w.sum(), updates=[(w, w + x)], backend=backend)
    f(np.ones(2))
    with pytest.raises(ArignoteError):
        f(np.ones(3))
    np.testing.assert_array_equal(w.get_value(), np.ones(2))
    f(np.ones(2))
    np.testing.assert_array_equal(w.get_value(), 2 * np.ones(2))


def test_kernel_buffers_rewritten_for_every_layout():
    rng = np.random.default_rng(0)
    x, y = T.dmatrix("x"), T.dvector("y")
    f = ag.function([x, y], T.exp(x) * y + 1, backend="cpu")
    base = rng.normal(size=(5, 6))
    yb = rng.normal(size=8)
    for xv, yv in [(base, yb[:6]), (base.T[:4], yb[:5]), (base[::-1, ::2], yb[::-1][:3]),
                   (base[:0], yb[:6]), (base[1:2], yb[2:8])]:
        np.testing.assert_allclose(f(xv, yv), np.exp(xv) * yv + 1)


def test_prepared_calls_keep_their_own_buffers():
    x = T.dvector("x")
    f = ag.function([x], x * 3, backend="cpu")
    launcher = f.program.steps[0][1].launcher
    a, b = np.arange(4.0), np.arange(7.0)
    ca, cb = launcher.prepare([a]), launcher.prepare([b])
    cb.run()
    ca.run()
    np.testing.assert_array_equal(ca.outputs[0], a * 3)
    np.testing.assert_array_equal(cb.outputs[0], b * 3)


def test_concurrent_calls_from_threads():
    x = T.dvector("x")
    f = ag.function([x], T.sqrt(x) + 1, backend="cpu")
    errors = []

    def work(n):
        v = np.arange(float(n))
        for _ in range(200):
            if not np.allclose(f(v), np.sqrt(v) + 1):
                errors.append(n)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(1, 9)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_data_pointer_matches_ctypes():
    a = np.arange(12.0).reshape(3, 4)
    for v in (a, a[1:, ::2], a.T, np.asarray(2.0), np.empty((0, 3)), np.frombuffer(b"12345678", "u1")):
        assert L._data_pointer(v) == v.ctypes.data
