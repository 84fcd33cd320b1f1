"""Per-chunk partial reductions (split.py, split_launch.py): the split kernels
against the plain kernel and the reference ``perform``, over every combiner,
dtypes, full and few-parallel-points reductions, ragged chunks, empty and size-1
extents, keepdims, broadcasting prologues, views and constants; the same bits
whatever the thread count."""
import numpy as np
import pytest

import arignote as ag
import arignote.tensor as T
from arignote.compiler import kernel as K
from arignote.compiler import split_launch as SL
from arignote.compiler.launch import Launcher
from arignote.compiler.lower import lower
from arignote.compiler.split import NotSplittable, split_reduction
from arignote.errors import ArignoteValueError, ShapeError
from arignote.ops.fused import Fused
from arignote.runtime.cpu import _run_chunks
from tests.compiler.conftest import check_launch
from tests.util import rand

COMBINERS = ("sum", "prod", "max", "min", "all", "any")
DTYPES = ("float32", "float64", "int32", "bool")


@pytest.fixture
def small_chunks(monkeypatch):
    """Split tiny problems into chunks of 2 (so small arrays exercise every path)."""
    monkeypatch.setattr(SL, "SPLIT_MIN_WORK", 1)
    monkeypatch.setattr(SL, "CHUNK_WORK", 2)
    monkeypatch.setattr(SL, "MIN_CHUNK", 2)


def with_threads(monkeypatch, n, fn):
    monkeypatch.setenv("ARIGNOTE_NUM_THREADS", str(n))
    try:
        return fn()
    finally:
        monkeypatch.delenv("ARIGNOTE_NUM_THREADS")


def launchers(inputs, outputs):
    fused = Fused(inputs, outputs)
    kernel = lower(fused)
    return fused, Launcher(kernel), SL.SplitLauncher(kernel)


def check(fused, plain, split, *values, splits=True, rtol=None):
    """split == reference (within tolerance) and == plain for exact combiners; the call
    really splits when ``splits``."""
    call = split.prepare(values)
    assert isinstance(call, SL.SplitCall) == splits
    split.release(call)
    got = check_launch(fused, split, *values, rtol=rtol)
    want = plain(*values)
    for g, w in zip(got, want):
        assert g.dtype == w.dtype and g.shape == w.shape
        if g.dtype.kind != "f":  # integer and bool results are exact (wrapping included)
            np.testing.assert_array_equal(g, w)
    return got


def values(shape, dtype, combiner, rng):
    if combiner == "prod" and dtype.startswith("float"):
        return rand(shape, dtype, rng, 0.5, 1.5)
    return rand(shape, dtype, rng, -3, 3)


@pytest.mark.parametrize("combiner", COMBINERS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_every_combiner_and_dtype(combiner, dtype, small_chunks, rng):
    x = T.matrix("x", dtype=dtype)
    fn = getattr(T, combiner)
    rtol = {"float32": 1e-5, "float64": 1e-12}.get(dtype)
    # (the chunk axis is the outermost reduced one: (1, 5) has one element there, no split)
    for axis, keepdims, shape, splits in [
            (None, False, (7, 3), True), (None, True, (5, 1), True), (0, False, (9, 2), True),
            (0, True, (11, 3), True), (1, False, (2, 9), True), ((0, 1), True, (1, 5), False)]:
        fused, plain, split = launchers([x], [fn(x, axis=axis, keepdims=keepdims)])
        check(fused, plain, split, values(shape, dtype, combiner, rng), splits=splits, rtol=rtol)


def test_int_sums_and_products_wrap_as_in_numpy(small_chunks, rng):
    x = T.matrix("x", dtype="int32")
    fused, plain, split = launchers([x], [T.prod(x), T.sum(x * 1_000_000_000)])
    big = rand((41, 3), "int32", rng, 2, 9)
    got = check(fused, plain, split, big)
    assert got[0] == np.prod(big)  # far past int64: wrapped the same way


def test_epilogue_prologue_broadcasting_and_initial(small_chunks, rng):
    x, b, c = T.matrix("x"), T.vector("b"), T.vector("c")
    # few parallel points: axis 0 kept 3 wide; a mean-like epilogue with a kept-space input
    fused, plain, split = launchers([x, b], [T.sum(x * 2 + b, axis=0) * 0.25 + b,
                                             T.max(T.exp(x), axis=0, keepdims=True)])
    check(fused, plain, split, rand((13, 3), rng=rng), rand((3,), rng=rng))
    check(fused, plain, split, rand((13, 3), rng=rng), rand((1,), rng=rng)[[0, 0, 0]])
    # the chunked input broadcast along the kept axis; an initial value counts once
    fused, plain, split = launchers([x, c], [T.sum(x * c.dimshuffle(0, "x"), axis=0, initial=5.0),
                                             T.max(c.dimshuffle(0, "x") + x, axis=0, initial=1.5)])
    check(fused, plain, split, rand((13, 4), rng=rng), rand((13,), rng=rng))
    # full reduction: several loads of one input under different maps (x + x.T)
    fused, plain, split = launchers([x], [T.sum(x * x.T), T.min(x + x.T)])
    check(fused, plain, split, rand((9, 9), rng=rng), rtol=1e-12)
    # full reduction: an input following the inner reduced axis only (broadcast along chunks)
    fused, plain, split = launchers([x, b], [T.sum(x * b), T.max(x - b, keepdims=True)])
    check(fused, plain, split, rand((9, 4), rng=rng), rand((4,), rng=rng), rtol=1e-12)


def test_views_and_constants(small_chunks, rng):
    x = T.matrix("x")
    weights = np.arange(11.0)
    fused, plain, split = launchers([x], [T.sum(x[1:, ::-1] * 3, axis=0),
                                          T.sum(x[1:, ::-1] * weights[1:, None], axis=0)])
    check(fused, plain, split, rand((11, 3), rng=rng), rtol=1e-12)
    fused, plain, split = launchers([x], [T.max(x[1:, ::-1].T * weights[1:])])
    check(fused, plain, split, rand((11, 5), rng=rng))
    fused, plain, split = launchers([x], [T.sum(x[1:, ::-1] * 3, axis=0)])
    a = rand((12, 6), rng=rng)
    for view in (a[::2], a.T, a[:, ::-1]):  # strided, transposed, negative strides
        check(fused, plain, split, view, rtol=1e-12)


def test_no_split_for_empty_size_one_small_or_wide(small_chunks, rng, monkeypatch):
    x = T.matrix("x")
    fused, plain, split = launchers([x], [T.sum(x, axis=0), T.max(x, axis=0, initial=-1.0)])
    for shape in [(0, 3), (1, 3), (3, 0), (3, 3), (40, 40)]:  # too short / empty / wide parallel
        check(fused, plain, split, rand(shape, rng=rng), splits=False)
    monkeypatch.setattr(SL, "SPLIT_MIN_WORK", 1000)
    fused, plain, split = launchers([x], [T.sum(x, axis=0)])
    check(fused, plain, split, rand((400, 2), rng=rng), splits=False)
    check(fused, plain, split, rand((500, 2), rng=rng))
    fused, plain, split = launchers([x], [T.sum(T.exp(x), axis=0)])  # a transcendental: less
    rows = 1000 // SL.EXPENSIVE_WEIGHT // 2
    check(fused, plain, split, rand((rows - 1, 2), rng=rng), splits=False)
    check(fused, plain, split, rand((rows, 2), rng=rng))


def test_errors_are_the_plain_launchers(small_chunks, rng):
    x, y = T.matrix("x"), T.matrix("y")
    fused, plain, split = launchers([x], [T.max(x)])
    with pytest.raises(ArignoteValueError, match="size 0"):
        split(np.zeros((0, 4)))
    fused, plain, split = launchers([x, y], [T.sum(x * y)])
    with pytest.raises(ShapeError):
        split(np.zeros((8, 4)), np.zeros((7, 4)))
    x = T.vector("x", dtype="int64")
    fused, plain, split = launchers([x], [T.sum(x ** x)])
    assert split.compiled.error_flag is not None
    with pytest.raises(ArignoteValueError, match="negative"):
        split(np.array([2, 3, -1, 2, 2, 2, 2, 2, 2]))
    check(fused, plain, split, np.arange(1, 12))
    for _ in range(3):  # the argument buffers went back after every error
        check(fused, plain, split, np.arange(1, 12))


def test_given_outputs_and_allocs(small_chunks, rng):
    x = T.matrix("x")
    fused, plain, split = launchers([x], [T.sum(x, axis=0)])
    a = rand((10, 2), rng=rng)
    out = np.full(2, np.nan)
    (got,) = split(a, outputs=[out])
    assert got is out
    np.testing.assert_allclose(out, a.sum(0))
    taken = []

    def alloc(shape, dtype):
        taken.append(shape)
        return np.empty(shape, dtype)
    split(a, allocs=[alloc])
    assert taken == [(2,)]


def test_not_splittable():
    x = T.matrix("x")
    for outs in ([x * 2], [x - T.max(x, axis=1, keepdims=True)], [T.sum(x), x * 2]):
        kernel = lower(Fused([x], outs))
        with pytest.raises(NotSplittable):
            split_reduction(kernel)
        assert type(SL.launcher_for(kernel)) is Launcher


def test_split_ir_shape():
    x, b = T.matrix("x"), T.vector("b")
    kernel = lower(Fused([x, b], [T.sum(T.exp(x) + b, axis=0, initial=2.0) * 3]))
    partial, combine = split_reduction(kernel)
    assert partial.ndim == 3 and partial.reduce_axes == (1,)
    (chunks,) = [ins for ins in partial.body if isinstance(ins, K.Load) and 0 in ins.axes]
    assert chunks.axes == (0, 1, 2) and partial.params[chunks.param].ndim == 3
    (red,) = [ins for ins in partial.body if isinstance(ins, K.Reduce)]
    assert red.init == 0  # the identity: the initial value is added once, in the combine
    (red,) = [ins for ins in combine.body if isinstance(ins, K.Reduce)]
    assert red.init == 2.0
    assert [p.role for p in combine.params] == ["in", "in", "in", "out"]
    assert "exp" not in combine.pretty() and "exp" in partial.pretty()


def test_bitwise_across_thread_counts(monkeypatch, rng):
    monkeypatch.setattr(SL, "SPLIT_MIN_WORK", 1 << 16)  # (chunks large enough for several threads)
    monkeypatch.setattr(SL, "CHUNK_WORK", 1 << 15)
    x, v = T.matrix("x", dtype="float32"), T.vector("v", dtype="float32")
    cases = [(launchers([v], [T.sum(v), T.sum(T.exp(v)), T.max(v)]), (rand((300_001,), "float32", rng),)),
             (launchers([x], [T.sum(x, axis=0), T.prod(x * 1e-3 + 1, axis=0)]),
              (rand((100_003, 4), "float32", rng),))]
    for (fused, _, split), vals in cases:
        call = split.prepare(vals)
        assert isinstance(call, SL.SplitCall) and call.tail is not None
        split.release(call)
        runs = [with_threads(monkeypatch, n, lambda: split(*vals, runner=_run_chunks)) for n in (1, 2, 3)]
        for other in runs[1:]:
            for a, b in zip(runs[0], other):
                assert a.tobytes() == b.tobytes()
        check_launch(fused, split, *vals, rtol=1e-4)


def test_function_sum_exp_agrees_across_thread_counts(monkeypatch, rng):
    x = T.fvector("x")
    f = ag.function([x], T.sum(T.exp(x)), backend="cpu")
    steps = [run for _, run, *_ in f.program.steps if hasattr(run, "launcher")]
    assert any(isinstance(s.launcher, SL.SplitLauncher) for s in steps)
    a = rand((1 << 20,), "float32", rng)
    runs = [with_threads(monkeypatch, n, lambda: f(a)) for n in (1, 2, 3)]
    assert len({r.tobytes() for r in runs}) == 1
    np.testing.assert_allclose(runs[0], np.exp(a.astype("float64")).sum(), rtol=1e-6)
    small = a[:1000]  # the fast path (no split), and the split path, agree with NumPy
    np.testing.assert_allclose(f(small), np.exp(small.astype("float64")).sum(), rtol=1e-6)


def test_chunk_views_are_views(rng):
    a = rand((9, 8), rng=rng)
    for arr, d in [(a, 0), (a.T, 1), (a[::-1, ::2], 0), (a[:, ::-1], 1), (np.broadcast_to(a[:1], (9, 8)), 0)]:
        v = SL._chunks(arr, d, 2, 3, 2)
        assert np.shares_memory(v, arr)
        index = (slice(None),) * d
        np.testing.assert_array_equal(np.moveaxis(v, (d, d + 1), (0, 1)).reshape((6,) + arr.shape[:d] +
                                                                               arr.shape[d + 1:]),
                                      np.moveaxis(arr[index + (slice(2, 8),)], d, 0))
