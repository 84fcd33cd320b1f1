"""The fast call path (positional exact arrays, Python floats, cached kernel
argument buffers) must behave exactly like the general one."""
import threading

import numpy as np
import pytest

import arignote as ag
import arignote.tensor as T
from arignote.compiler import launch as L
from arignote.compiler import unsafe
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
        g(0.1)  # a Python float float32 does not hold exactly goes through filter
    assert g(np.float32(1.5)) == np.float32(2.5)
    static = T.tensor("float64", (3,), name="v")
    h = ag.function([static], static + 1, backend=backend)
    with pytest.raises(ShapeError, match="static shape"):
        h(np.zeros(4))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", ["float16", "float32"])
def test_python_floats_the_dtype_holds_exactly(backend, dtype):
    """Issue 9: a Python float (even 0.5) was refused for an fscalar input. One the input's
    dtype holds exactly is taken, by position (the fast path), by keyword and in lists; the
    rest is refused with the usual message."""
    s, v = T.scalar("s", dtype=dtype), T.vector("v", dtype=dtype)
    f = ag.function([s, v], [s * 2, v + s], backend=backend)
    for x in (0.5, -2.75, 0.0, -0.0, 1.0, 3, float("inf"), float("nan")):
        for got in (f(x, [x, 1.5]), f(s=x, v=[x, 1.5])):
            expected = [np.asarray(x, dtype) * 2, np.array([x, 1.5], dtype) + np.asarray(x, dtype)]
            for g, e in zip(got, expected):
                assert g.dtype == dtype
                np.testing.assert_array_equal(g, e)
                assert np.array_equal(np.signbit(g), np.signbit(e))
    too_big = 1e5 if dtype == "float16" else 1e300
    for bad in ((0.1, [1.0]), (0.5, [0.1]), (too_big, [1.0]), (np.float64(0.5), [1.0])):
        with pytest.raises(ArignoteTypeError, match="allow_input_downcast"):
            f(*bad)
    g = ag.function([s], s * 2, backend=backend, allow_input_downcast=True)
    assert g(0.1) == np.asarray(0.1, dtype) * 2


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
        assert unsafe.data_pointer(v) == v.ctypes.data


# ---------------------------------------------------------------- the specialized launch
# Launcher.fast_runner must do exactly what the general launch does: the same outputs,
# or (through the general path it hands over to) the same error.

def _fast(inputs, outputs, **options):
    """(launcher, fast runner, list of the calls it handed to the general path)."""
    from arignote.compiler.lower import lower
    from arignote.ops.fused import Fused
    launcher = L.Launcher(lower(Fused(inputs, outputs)))
    handed = []

    def slow(args):
        handed.append(len(handed))
        return launcher(*args)
    return launcher, launcher.fast_runner(slow, **options), handed


def _agree(launcher, run, args):
    try:
        want = launcher(*args)
    except ArignoteError as e:
        with pytest.raises(type(e)) as got:
            run(args)
        assert str(got.value) == str(e)
        return
    got = run(list(args))
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert isinstance(g, np.ndarray) and g.dtype == w.dtype and g.shape == w.shape
        np.testing.assert_array_equal(g, w)


def _unaligned(a):
    raw = np.zeros(a.nbytes + 1, np.uint8)[1:].view(a.dtype).reshape(a.shape)
    raw[...] = a
    assert not raw.flags.aligned
    return raw


def test_fast_launch_broadcasting_layouts_and_errors():
    x, r, c = T.dmatrix("x"), T.drow("r"), T.dcol("c")
    launcher, run, handed = _fast([x, r, c], [x * r - c, T.exp(x)])
    rng = np.random.default_rng(0)
    base = rng.normal(size=(6, 8))
    fast_cases = [(base[:3, :4], base[:1, :4], base[:3, :1]),
                  (base[::-2, ::2], base[2:3, ::-2], base[::2, 3:4]),  # negative and odd strides
                  (base.T[:5, :2], base[:1, :2], base[:5, :1]),
                  (base[:0, :4], base[:1, :4], base[:0, :1]),  # empty
                  (base[:1, :1], base[:1, :1], base[:1, :1])]
    for args in fast_cases:
        _agree(launcher, run, args)
    assert handed == []
    general = [(_unaligned(base[:3, :4]), base[:1, :4], base[:3, :1]),
               (base[:3, :4].astype("float32"), base[:1, :4], base[:3, :1]),  # wrong dtype
               (base[:3, :4].astype(">f8"), base[:1, :4], base[:3, :1]),  # equal bytes, not native
               (base[:3], base[:1, :4], base[:3, :1]),  # shapes disagree
               (base[:3, :4], base[:2, :4], base[:3, :1]),  # a broadcast dimension is not 1
               (base[0, :4], base[:1, :4], base[:3, :1]),  # wrong rank
               (base[:3, :4].tolist(), base[:1, :4], base[:3, :1]),  # not an array
               (base[:3, :4],  base[:1, :4])]  # too few
    for args in general:
        _agree(launcher, run, args)
    assert len(handed) == len(general)


def test_fast_launch_scalars_python_floats_and_constants():
    a, b = T.dscalars("a", "b")
    launcher, run, handed = _fast([a, b], [a * b + T.constant(np.arange(3.0))])
    assert run.floats == (not unsafe.SAFE)  # (ARIGNOTE_SAFE_CALLS=1: floats go to the general path)
    for args in [(np.asarray(1.5), np.asarray(-2.0)), (1.5, np.asarray(2.0)), (0.1, 1e300),
                 (float("nan"), float("-inf"))]:
        (got,) = run(list(args))
        np.testing.assert_array_equal(got, np.asarray(args[0]) * np.asarray(args[1]) + np.arange(3.0))
    assert len(handed) == (0 if run.floats else 3)
    for args in [(_unaligned(np.asarray(1.5)), 2.0), (np.float64(1.5), 2.0), (1, 2.0),
                 (np.asarray(1.5, "float32"), 2.0), (np.ones(1), 2.0)]:
        handed.clear()
        _agree(launcher, run, list(args))
        assert handed == [0]
    s = T.fscalar("s")
    _, run32, _ = _fast([s], [s + 1])
    assert not run32.floats  # only float64 inputs read Python floats


def test_fast_launch_reductions_and_large_work():
    x = T.dmatrix("x")
    launcher, run, handed = _fast([x], [T.max(x, axis=1), T.sum(T.exp(x), axis=1)], max_work=64)
    rng = np.random.default_rng(1)
    for shape in [(3, 4), (1, 200), (3, 0), (0, 3)]:  # (3, 0): a max over nothing
        _agree(launcher, run, [rng.normal(size=shape)])
    assert len(handed) == 1
    _agree(launcher, run, [rng.normal(size=(40, 5))])  # a runner would split it
    assert len(handed) == 2


def test_fast_launch_uses_the_allocators():
    x = T.dvector("x")
    made = []

    def take(shape, dtype):
        made.append((shape, dtype))
        return np.empty(shape, dtype)
    launcher, run, _ = _fast([x], [x + 1, x * 2], allocs=[take, None])
    out = run([np.arange(3.0)])
    assert made == [((3,), np.dtype("float64"))]
    np.testing.assert_array_equal(out[1], np.arange(3.0) * 2)


def test_fast_launch_static_views():
    x = T.dmatrix("x")
    launcher, run, handed = _fast([x], [x[:, 1:] * 2 + x[:, :-1], x[:, ::-1][:, 1:] - 1])
    assert any(p.view is not None for p in launcher.kernel.params)
    base = np.random.default_rng(2).normal(size=(5, 6))
    for a in (base[:4], base[::-1, ::-1], base.T[:1], base[:0], base[:1, :1]):
        _agree(launcher, run, [a])
    assert handed == []


def test_kernels_the_fast_path_does_not_cover():
    x, i = T.dvector("x"), T.lscalar("i")
    launcher = L.Launcher(_lowered([x, i], [x[i:] + 1]))
    assert any(p.view is not None for p in launcher.kernel.params)
    assert launcher.fast_runner(lambda args: None) is None  # a view by a run-time index
    launcher = L.Launcher(_lowered([x, i], [x ** i]))
    if launcher.compiled.error_flag is not None:  # an error flag: the general path
        assert launcher.fast_runner(lambda args: None) is None


def _lowered(inputs, outputs):
    from arignote.compiler.lower import lower
    from arignote.ops.fused import Fused
    return lower(Fused(inputs, outputs))


def test_trampoline_and_memory_reads():
    from arignote.compiler.helper_ir import TRAMPOLINE, trampoline
    assert f"@{TRAMPOLINE}(ptr" in trampoline()
    assert L._trampoline() is not None
    if unsafe.SAFE:
        return
    assert unsafe.FLOAT_VALUE is not None
    import ctypes
    for v in (2.5, -1e-310, float("inf")):
        assert ctypes.c_double.from_address(id(v) + unsafe.FLOAT_VALUE).value == v


def test_one_kernel_functions_run_direct_and_keep_every_behaviour():
    a, b = T.dscalars("a", "b")
    f = ag.function([a, b], a + b, backend="cpu")
    assert f.program._direct is not None and f.program.takes_floats
    step = f.program.steps[0][1]
    assert step.call == step._first_call  # the specialized launch is made by the first call
    f._call_any(1.0, 2.0)  # (the call in Python: f(...) itself is native, test_native_entry)
    assert step.call.source
    for call in (f, f._call_any):
        for args in [(1.5, 2.5), (np.asarray(1.5), 2.5), (np.float64(1.5), 2.5), (2, 2.0)]:
            out = call(*args)
            assert isinstance(out, np.ndarray) and out.dtype == np.float64 and out.ndim == 0
            assert out == 4.0
    prof = ag.profile(f, 1.5, 2.5, repeat=3)  # its steps are timed even though it runs direct
    assert prof.steps and prof.steps[0].seconds > 0 and prof.steps[0].runner == "kernel"
    x, y = T.dvectors("x", "y")
    g = ag.function([x, y], x * y, backend="cpu")
    assert g.program._direct is not None
    with pytest.raises(ShapeError, match=r"(?s)\(3,\).*\(4,\).*test_call_overhead\.py"):
        g(np.ones(3), np.ones(4))  # the user's line is named
    xv = np.arange(3.0)
    assert not np.may_share_memory(g(xv, xv), xv)
    h = ag.function([x], [Out(x * 2, borrow=True)], backend="cpu")  # a lent output is not fresh
    assert h.program.fresh_outputs == (False,) and h._must_settle


def test_python_floats_into_kernels_without_a_fast_path():
    a, v = T.dscalar("a"), T.dvector("v")
    f = ag.function([a, v], a * v[1:], backend="cpu")  # fused: a view param, the general launch
    np.testing.assert_array_equal(f(2.0, np.arange(3.0)), [2.0, 4.0])
    np.testing.assert_array_equal(f(np.asarray(2.0), np.arange(3.0)), [2.0, 4.0])
    with pytest.raises(ArignoteTypeError):
        f(2.0, np.ones((2, 2)))
    prof = ag.profile(f, 2.0, np.arange(3.0), repeat=2)  # not direct: floats become arrays
    assert any(s.runner == "kernel" for s in prof.steps)


def test_two_step_programs_and_outputs_that_are_inputs():
    x = T.dvector("x")
    f = ag.function([x], [x, T.exp(x).sum() + x], backend="cpu")
    xv = np.arange(3.0)
    o0, o1 = f(xv)
    assert o0 is not xv and not np.may_share_memory(o0, xv)
    np.testing.assert_allclose(o1, np.exp(xv).sum() + xv)
    s = T.dscalar("s")
    g = ag.function([s], s, backend="cpu")  # no step: the root itself, copied
    out = g(1.5)
    assert isinstance(out, np.ndarray) and out == 1.5
