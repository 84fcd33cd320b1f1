"""Fixtures of the compiler tests: a per-session kernel cache and a helper that
compiles a fused group and checks it against the group's own ``perform``."""
import numpy as np
import pytest

from arignote.compiler.launch import Launcher
from arignote.compiler.lower import lower
from arignote.errors import ArignoteTypeError
from arignote.ops.elemwise import SCALAR_OPS, Elemwise
from arignote.ops.fused import Fused
from tests.util import assert_close


@pytest.fixture(scope="session", autouse=True)
def kernel_cache(tmp_path_factory):
    """Every compiler test compiles into one fresh cache directory."""
    import os
    path = tmp_path_factory.mktemp("arignote-cache")
    old = os.environ.get("ARIGNOTE_CACHE_DIR")
    os.environ["ARIGNOTE_CACHE_DIR"] = str(path)
    yield path
    if old is None:
        os.environ.pop("ARIGNOTE_CACHE_DIR", None)
    else:
        os.environ["ARIGNOTE_CACHE_DIR"] = old


def compile_group(inputs, outputs):
    """(Fused op, Launcher) for the group ``inputs`` -> ``outputs``."""
    fused = Fused(inputs, outputs)
    return fused, Launcher(lower(fused))


def check_launch(fused, launcher, *values, names=None, rtol=None):
    """Run the kernel and the reference on ``values``; compare every output."""
    with np.errstate(all="ignore"):
        expected = fused.perform(None, list(values))
    got = launcher(*values)
    assert len(got) == len(expected)
    for n, (g, e) in enumerate(zip(got, expected)):
        what = names[n] if names else f"output {n}"
        try:
            if rtol is None:
                assert_close(g, e)
            else:
                assert g.dtype == e.dtype and g.shape == e.shape
                np.testing.assert_allclose(g, e, rtol=rtol, atol=rtol, equal_nan=True)
            if e.dtype.kind == "f":  # the sign of zero too (assert_allclose has 0.0 == -0.0)
                zero = e == 0
                np.testing.assert_array_equal(np.signbit(g[zero]), np.signbit(e[zero]),
                                              err_msg=f"the sign of zero at {np.flatnonzero(zero)}")
        except AssertionError as err:
            raise AssertionError(f"{what}: {err}") from None
    return got


@pytest.fixture
def run_group():
    """Compile inputs -> outputs and check them on the given values."""
    def run(inputs, outputs, *values, **kw):
        fused, launcher = compile_group(inputs, outputs)
        return check_launch(fused, launcher, *values, **kw)
    return run


#: every scalar op but the casts (tested on their own)
OPS = {n: op for n, op in SCALAR_OPS.items() if not n.startswith("cast_")}
#: integer ops whose last argument needs values of its own (no negative powers, no zeros)
SPECIAL_INPUT = {"pow": "e", "reciprocal": "nz"}


def every_scalar_op(syms, nin, special):
    """One output per scalar op of arity ``nin`` NumPy defines on ``syms`` (x, y, z and
    the special inputs); ``special``: integer ops read their special input. -> (outputs, names)"""
    outs, names = [], []
    for name, sop in OPS.items():
        if sop.nin != nin:
            continue
        args = [syms[a] for a in "xyz"[:nin]]
        if special and name in SPECIAL_INPUT:
            args[-1] = syms[SPECIAL_INPUT[name]]
        try:
            outs.append(Elemwise(sop)(*args))
        except ArignoteTypeError:
            continue  # NumPy does not define it for this dtype
        names.append(name)
    return outs, names


#: the dtypes cast between in the cast tests
CAST_DTYPES = ("bool", "int8", "int32", "int64", "uint8", "uint64", "float16", "float32", "float64")
#: floats beyond every integer range (NaN, infinities, huge): what NumPy does on the host
OUT_OF_RANGE = (300, -300, 70000, 2.0 ** 63, 1e30, -1e30, np.nan, np.inf, -np.inf)


def cast_values(src, out_of_range=False):
    """Values of dtype ``src`` to cast from: integer extremes, fractional floats and,
    with ``out_of_range``, floats no integer dtype holds."""
    if np.dtype(src).kind == "f":
        floats = (0, -0.0, 1, 2.7, 100.2, 127, -3.7, -1, 0.5) + (OUT_OF_RANGE if out_of_range else ())
        with np.errstate(over="ignore"):
            return np.array(floats, src)
    if src == "bool":
        return np.array([True, False, True])
    info = np.iinfo(src)
    return np.array([0, 1, 127, info.max, info.min, info.max // 3], src)
