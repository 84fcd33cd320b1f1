"""maximum, minimum, clip and the max/min reductions between +0.0 and -0.0, and with NaN,
bit for bit on every backend (docs/design.md, "Signed zeros in max and min").

NumPy's maximum/minimum keep the second of two equal values for float32/64
(``maximum(0.0, -0.0)`` is -0.0) and the first for float16, and a max/min reduction is
their fold in C order (:func:`fold`), except where NumPy reduces a contiguous run with SIMD
lanes and picks some lane's zero. Arignote's reductions are always the fold: the shapes in
:data:`NUMPY_FOLDS` are ones where NumPy folds too, on every backend; the longer ones
(:data:`LONG`), where NumPy uses lanes, are checked against the fold on compiling backends.
"""
import functools

import numpy as np
import pytest

import arignote as ag
import arignote.tensor as T

FLOATS = ("float16", "float32", "float64")
SPECIAL = [0.0, -0.0, np.nan, 1.0, -1.0, np.inf, -np.inf]


def assert_same_bits(got, expected):
    """Equal dtype, shape, values, NaNs and signs of zeros."""
    got, expected = np.asarray(got), np.asarray(expected)
    assert got.dtype == expected.dtype and got.shape == expected.shape
    assert np.array_equal(np.isnan(got), np.isnan(expected))
    ok = np.isnan(expected) | ((got == expected) & (np.signbit(got) == np.signbit(expected)))
    assert ok.all(), f"at {np.argwhere(~ok)[:5].tolist()}: got {got[~ok][:5]}, NumPy {expected[~ok][:5]}"


def signed_zeros(shape, dtype, rng, others=()):
    """+0.0 and -0.0 at random, with a few of ``others`` mixed in."""
    x = np.where(rng.random(shape) < 0.5, -0.0, 0.0)
    for v in others:
        x[rng.random(shape) < 0.05] = v
    return x.astype(dtype)


@pytest.mark.parametrize("dtype", FLOATS)
def test_elementwise_maximum_minimum(dtype):
    """Every ordered pair of special values, both functions, as arrays of 16k elements."""
    pairs = np.array([(a, b) for a in SPECIAL for b in SPECIAL] * 16, dtype)
    x, y = T.vector("x", dtype=dtype), T.vector("y", dtype=dtype)
    f = ag.function([x, y], [T.maximum(x, y), T.minimum(x, y), T.maximum(y, x) * 1])
    a, b = pairs[:, 0].copy(), pairs[:, 1].copy()
    got = f(a, b)
    for g, e in zip(got, [np.maximum(a, b), np.minimum(a, b), np.maximum(b, a)]):
        assert_same_bits(g, e)


@pytest.mark.parametrize("dtype", FLOATS)
def test_clip_between_zero_bounds(dtype):
    """``np.clip`` with scalar bounds keeps x when it equals a bound, whatever the signs;
    NaN anywhere gives NaN."""
    x = T.vector("x", dtype=dtype)
    lo, hi = T.scalar("lo", dtype=dtype), T.scalar("hi", dtype=dtype)
    f = ag.function([x, lo, hi], T.clip(x, lo, hi))
    xs = np.array([0.0, -0.0, np.nan, 0.5, -0.5, 2.0] * 4, dtype)
    for b in [(0.0, 0.0), (0.0, -0.0), (-0.0, 0.0), (-0.0, -0.0), (np.nan, 1.0), (0.0, np.nan),
              (-1.0, 0.0), (-0.0, 1.0)]:
        lov, hiv = (np.asarray(v, dtype) for v in b)
        assert_same_bits(f(xs, lov, hiv), np.clip(xs, lov, hiv))


def test_constants_of_either_sign_are_different_kernels():
    """0.0 and -0.0 are equal numbers: two kernels that differ only there, or two reductions
    that differ only in the sign of ``initial``, must not be taken for one another."""
    x = T.dvector("x")
    v = np.array([0.0, -0.0, -1.0])
    for a, b in [(0.0, -0.0), (-0.0, 0.0)]:
        f = ag.function([x], T.maximum(x, a) * 2)
        g = ag.function([x], T.maximum(x, b) * 2)
        assert_same_bits(f(v), np.maximum(v, a) * 2)
        assert_same_bits(g(v), np.maximum(v, b) * 2)
    f = ag.function([x], [T.max(x, initial=0.0), T.max(x, initial=-0.0)])
    got = f(v[2:])
    assert_same_bits(got[0], np.asarray(0.0))
    assert_same_bits(got[1], np.asarray(-0.0))


def test_issue_example():
    x = T.dvector("x")
    f = ag.function([x], [T.max(x), T.min(x)])
    for v in ([0.0, -0.0], [-0.0, 0.0], [-1.0, 0.0, -0.0], [np.nan, -0.0, 0.0]):
        v = np.array(v)
        got = f(v)
        assert_same_bits(got[0], np.max(v))
        assert_same_bits(got[1], np.min(v))


def fold(v, axis, op):
    """``op`` (np.maximum or np.minimum) folded over the reduced axes of ``v``, in C order."""
    axes = tuple(range(v.ndim)) if axis is None else (axis,) if isinstance(axis, int) else axis
    axes = tuple(a % v.ndim for a in axes)
    moved = np.moveaxis(v, axes, tuple(range(v.ndim - len(axes), v.ndim)))
    flat = moved.reshape(moved.shape[:v.ndim - len(axes)] + (-1,))
    return functools.reduce(op, [flat[..., i] for i in range(flat.shape[-1])])


#: (shape, axis) where NumPy's own reduction is the fold: contiguous runs of at most 4 (below
#: any SIMD width), reductions across rows (NumPy's binary loop, column tiles on cpu), and
#: non-contiguous axes
NUMPY_FOLDS = [((4,), None), ((2, 2), None), ((6, 4), 1), ((6, 3), -1), ((30, 6), 0),
               ((40, 4099), 0), ((3, 2, 2), (1, 2)), ((4, 3, 5), (0, 2)), ((4, 3, 5), 1)]
#: long contiguous runs: vector lanes on cpu, SIMD lanes in NumPy
LONG = [((100,), None), ((6, 37), 1), ((3, 40, 50), (1, 2)), ((5, 4, 300), -1)]
compiling = pytest.mark.skipif(ag.config.backend == "numpy",
                               reason="NumPy reduces long contiguous runs with SIMD lanes")


def check_reductions(dtype, shape, axis, rng):
    """Zeros of both signs; some with a negative value beside (so the max is a zero) or a
    positive one, or NaN; some with the zeros first and negatives after (the last zero is
    then in a vector lane, not a loop's remainder)."""
    x = T.tensor(dtype, (None,) * len(shape), name="x")
    f = ag.function([x], [T.max(x, axis=axis), T.min(x, axis=axis),
                          T.max(x, axis=axis, keepdims=True) * 1])
    cases = [signed_zeros(shape, dtype, rng, others)
             for others in [(), (-1.0,), (1.0,), (-1.0, 1.0), (np.nan,)] for _ in range(3)]
    for _ in range(4):
        v = signed_zeros(shape, dtype, rng)
        v[rng.random(shape) < rng.random()] = -1.0
        cases += [v, -v]
    for v in cases:
        got = f(v)
        assert_same_bits(got[0], fold(v, axis, np.maximum))
        assert_same_bits(got[1], fold(v, axis, np.minimum))
        assert_same_bits(got[2], np.expand_dims(fold(v, axis, np.maximum),
                                                tuple(range(v.ndim)) if axis is None else axis))


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape,axis", NUMPY_FOLDS)
def test_reductions_where_numpy_folds(dtype, shape, axis, rng):
    v = signed_zeros(shape, dtype, rng, (-1.0,))
    assert_same_bits(np.max(v, axis=axis), fold(v, axis, np.maximum))  # the premise
    check_reductions(dtype, shape, axis, rng)


@compiling
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape,axis", LONG)
def test_long_reductions_fold(dtype, shape, axis, rng):
    check_reductions(dtype, shape, axis, rng)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("initial", [0.0, -0.0])
def test_initial_zero_comes_first(dtype, initial):
    """``initial`` is the first of the values compared."""
    x = T.vector("x", dtype=dtype)
    f = ag.function([x], [T.max(x, initial=initial), T.min(x, initial=initial)])
    for v in ([-0.0], [0.0], [-1.0], [1.0], [-1.0, 0.0, -2.0], [-0.0, 0.0, 3.0]):
        v = np.array(v, dtype)
        got = f(v)
        assert_same_bits(got[0], np.max(v, initial=initial))
        assert_same_bits(got[1], np.min(v, initial=initial))


@pytest.mark.parametrize("n", [4, pytest.param(37, marks=compiling)])
def test_max_in_a_later_pass_of_a_row_kernel(n, rng):
    """A max over values scaled by a row sum: one kernel, the max in its second pass (cpu)."""
    x = T.dmatrix("x")
    y = x * (T.sum(T.abs(x), axis=1, keepdims=True) + 1.0)
    f = ag.function([x], [T.max(y, axis=1), T.min(y, axis=1)])
    for others in [(), (-1.0,), (1.0,)]:
        v = signed_zeros((5, n), "float64", rng, others)
        yv = v * (np.abs(v).sum(1, keepdims=True) + 1.0)
        got = f(v)
        assert_same_bits(got[0], fold(yv, 1, np.maximum))
        assert_same_bits(got[1], fold(yv, 1, np.minimum))


@compiling
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_large_full_reduction(dtype, rng):
    """Large enough to be split into per-chunk partials on cpu: the last zero of all wins."""
    n = (1 << 21) + 1003
    x = T.vector("x", dtype=dtype)
    f = ag.function([x], [T.max(x), T.min(x)])
    for last in (0.0, -0.0):
        v = signed_zeros(n, dtype, rng, (-1.0,))
        v[-1000:] = -1.0
        v[-1001] = last
        got = f(v)
        assert got[0] == 0 and np.signbit(got[0]) == np.signbit(last)
        got = f(-v)
        assert got[1] == 0 and np.signbit(got[1]) != np.signbit(last)
