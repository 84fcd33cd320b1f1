"""Shared test helpers: random data per dtype, dtype-aware comparison, and
one call that compiles a symbolic expression and checks it against NumPy."""
import contextlib
import importlib
import os
import sys

import numpy as np

import arignote as ag
import arignote.tensor as T

FLOAT_DTYPES = ("float32", "float64")
INT_DTYPES = ("int32", "int64")
DTYPES = FLOAT_DTYPES + INT_DTYPES
#: shapes every op should survive: empty, size 1, ordinary
SHAPES = [(0,), (1,), (5,), (0, 3), (1, 1), (3, 4), (2, 1, 3)]
RTOL = {"float16": 1e-2, "float32": 1e-5, "float64": 1e-12}


def rand(shape, dtype="float64", rng=None, low=-2.0, high=2.0):
    """Random data of ``dtype``: uniform floats, or ints in [low, high]."""
    rng = rng if rng is not None else np.random.default_rng(0)
    if np.dtype(dtype).kind == "f":
        return rng.uniform(low, high, shape).astype(dtype)
    if np.dtype(dtype).kind == "b":
        return rng.integers(0, 2, shape).astype(bool)
    return rng.integers(int(low), int(high) + 1, shape).astype(dtype)


def symbolic_like(value, name=None):
    """A symbolic input whose type fits ``value`` (size-1 dims broadcastable)."""
    value = np.asarray(value)
    return T.tensor(value.dtype, tuple(1 if s == 1 else None for s in value.shape), name=name)


def assert_close(actual, expected, dtype=None, rtol=None):
    """Equal dtype, shape and values within the dtype's tolerance (or ``rtol``, relative and
    absolute)."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.dtype == expected.dtype, f"dtype {actual.dtype} != expected {expected.dtype}"
    assert actual.shape == expected.shape, f"shape {actual.shape} != expected {expected.shape}"
    if rtol is None:
        rtol = RTOL.get((dtype or actual.dtype.name), 0)
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol, equal_nan=True)


def reduction_rtol(dtype, n):
    """The tolerance between a float sum or mean over ``n`` elements and NumPy's, relative to
    the sum (mean) of the magnitudes: the dtype's usual one, or ``(n - 1) eps`` where larger.

    Why it grows with ``n``: the two add in different orders (docs/design.md, "Summation
    order"). NumPy adds a contiguous axis pairwise but any other axis one element after the
    other (the column sum of a C-ordered matrix); Arignote adds in vector lanes, column tiles
    and per-chunk partials. Each order is within ``(n - 1) u`` of the exact sum (``u = eps /
    2``, relative to the sum of magnitudes), so two orders are within ``(n - 1) eps`` of each
    other. A float32 column of 10**6 values 0.1 shows it: NumPy's mean is 0.10096,
    Arignote's (per-chunk partials) 0.10006."""
    return max(RTOL[np.dtype(dtype).name], (n - 1) * float(np.finfo(dtype).eps))


def check_against_numpy(sym_fn, np_fn, *values, mode=None):
    """Compile ``sym_fn`` over inputs shaped like ``values`` and compare with ``np_fn``."""
    inputs = [symbolic_like(v, f"in{k}") for k, v in enumerate(values)]
    f = ag.function(inputs, sym_fn(*inputs), mode=mode, on_unused_input="ignore")
    with np.errstate(all="ignore"):
        expected = np_fn(*values)
    got = f(*values)
    assert_close(got, expected)
    return got


BENCHMARKS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks")


@contextlib.contextmanager
def benchmark_module(name):
    """The module ``benchmarks/<name>.py``, imported as ``bench.py`` sees it (and forgotten after)."""
    sys.path.insert(0, BENCHMARKS)
    try:
        yield importlib.import_module(name)
    finally:
        sys.path.remove(BENCHMARKS)
        sys.modules.pop(name, None)
