"""Casts against NumPy, out-of-range float to integer included: NaN, infinities and
values outside the target's range give NumPy's (x86-64) results on every backend, for
every integer width and every float source (docs/design.md, "Float to integer casts").
"""
import numpy as np
import pytest

import arignote as ag
import arignote.tensor as T
from tests.util import assert_close

INT_DTYPES = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")
TARGETS = INT_DTYPES + ("bool",)
#: NumPy's SIMD cast loops work on blocks of 4; an element in a loop's scalar remainder (or
#: in a strided or 0-d array) goes through C's cast, which differs for uint32 only
#: (docs/design.md). Inputs are a whole number of blocks, and expectations come from an
#: array where every element is inside a block.
BLOCK = 16


def _edges():
    """Every boundary of every integer width, just inside and just outside, both signs."""
    out = [np.nan, -np.nan, np.inf, -np.inf, 0.0, -0.0, 0.5, -0.5, 0.999, -0.999, 1.0, -1.0,
           -1.5, 300.0, -129.7, 1e20, -1e20, 3e9, -3e9, 1e300]
    for b in (7, 8, 15, 16, 31, 32, 63, 64):
        for sign in (1.0, -1.0):
            p = sign * 2.0 ** b
            out += [p, p - 1, p + 1, p - 0.5, p + 0.5, np.nextafter(p, 0), np.nextafter(p, 2 * p)]
    return out


def source_values(dtype):
    """Edges, then random values of every magnitude and random bit patterns; for float16
    every one of its 65536 values. A whole number of blocks."""
    if dtype == "float16":
        values = np.arange(1 << 16, dtype=np.uint16).view(np.float16)
    else:
        rng = np.random.default_rng(0)
        bits = np.dtype(dtype).itemsize * 8
        with np.errstate(all="ignore"):
            edges = np.array(_edges()).astype(dtype)
            # float32 just below/above the boundaries of its own spacing
            edges = np.concatenate([edges, np.nextafter(edges, np.inf).astype(dtype),
                                    np.nextafter(edges, -np.inf).astype(dtype)])
        magnitudes = rng.uniform(-1, 1, 3000) * 10.0 ** rng.uniform(-1, 22, 3000)
        patterns = rng.integers(0, 1 << bits, 3000, dtype=f"uint{bits}").view(dtype)
        values = np.concatenate([edges, magnitudes.astype(dtype), patterns])
    return np.resize(values, -(-len(values) // BLOCK) * BLOCK)


def numpy_cast(values, dtype):
    """NumPy's ``astype`` of each value through its SIMD loops (see :data:`BLOCK`)."""
    with np.errstate(all="ignore"):
        return np.repeat(values, BLOCK).astype(dtype)[::BLOCK]


@pytest.mark.parametrize("src", ["float16", "float32", "float64"])
def test_float_to_every_integer_width_matches_numpy(src):
    """One function per source: a cast to every target, and the same cast of a computed
    value (fused into the kernel that computes it on cpu)."""
    x = T.vector("x", dtype=src)
    scaled = x * np.asarray(1.0, src)  # a fused value, not a load
    f = ag.function([x], [T.cast(x, d) for d in TARGETS] + [T.cast(scaled, d) for d in TARGETS])
    values = source_values(src)
    outs = f(values)
    for k, d in enumerate(TARGETS * 2):
        expected = numpy_cast(values, d)
        bad = np.nonzero(outs[k] != expected)[0]
        assert outs[k].dtype == expected.dtype, d
        assert not len(bad), (f"{src} -> {d}: {len(bad)} differ, e.g. "
                              f"{[(values[i], outs[k][i], expected[i]) for i in bad[:5]]}")


@pytest.mark.parametrize("dst", INT_DTYPES)
def test_issue_examples(dst):
    """The values of the report (issue 9, section 5) for every width, float64 source."""
    values = np.array([np.nan, np.inf, -np.inf, 1e20, 3e9, -1.0, 300.0, -129.7] * 2)
    x = T.dvector("x")
    got = ag.function([x], T.cast(x, dst))(values)
    assert got.tolist() == numpy_cast(values, dst).tolist()


def test_int32_of_nan_is_int_min():
    x = T.dvector("x")
    got = ag.function([x], T.cast(x, "int32"))(np.array([np.nan, np.inf, -np.inf, 1e20]))
    assert got.tolist() == [np.iinfo(np.int32).min] * 4


@pytest.mark.parametrize("src", ["bool", "int8", "int64", "uint8", "uint64", "float32"])
def test_to_bool_and_from_integers(src):
    """Integer and bool sources wrap like NumPy's C casts; any nonzero is True."""
    if src == "bool":
        values = np.array([True, False] * 8)
    elif np.dtype(src).kind == "f":
        values = np.array([np.nan, -0.0, 0.0, 1e-45, -np.inf, 2.0, 0.5, -3.0] * 2, src)
    else:
        info, mask = np.iinfo(src), (1 << np.iinfo(src).bits) - 1
        ints = [0, 1, info.max, info.min, info.max // 3, 127, 128, 255, -1, -128] * 2
        values = np.array([v & mask for v in ints], f"uint{info.bits}").view(src)
    x = T.vector("x", dtype=src)
    targets = [d for d in TARGETS + ("float16", "float32", "float64") if d != src]
    outs = ag.function([x], [T.cast(x, d) for d in targets])(values)
    for d, out in zip(targets, outs):
        assert_close(out, numpy_cast(values, d))


@pytest.mark.parametrize("dtype", ["int8", "int16", "int32", "int64", "uint8", "uint32", "uint64"])
def test_integer_reciprocal_of_zero(dtype):
    """NumPy's integer reciprocal is ``1.0 / x`` cast back: 1 / 0 = inf is a cast out of range."""
    x = T.vector("x", dtype=dtype)
    values = np.array([0, 1, 2, 0] * 4, dtype)
    with np.errstate(all="ignore"):
        expected = np.reciprocal(values)
    assert ag.function([x], T.reciprocal(x))(values).tolist() == expected.tolist()
