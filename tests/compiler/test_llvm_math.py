"""The vectorizable transcendental library: accuracy in ulp against a longdouble
reference over each function's whole input range, NumPy's edge cases, the IR it
emits (no libm calls), that a loop calling it vectorizes, and that the fit
module (llvm_math_fit) reproduces its table."""
import math
import re
import zlib

import numpy as np
import pytest

from arignote.compiler import llvm_math as lm
from arignote.compiler import llvm_math_fit as fit
from arignote.compiler import mathlib
from arignote.ops.elemwise import SCALAR_OPS

pytest.importorskip("llvmlite.binding")

L = np.longdouble
DTYPES = ("float32", "float64")
OPS = sorted(lm.MATH_FUNCTIONS)
MAX_ULP = 4.0
#: |x| below which sin/cos/tan are accurate (Cody-Waite reduction; docs/transcendentals.md)
TRIG_RANGE = {"float32": 1e7, "float64": 1e15}
TRIG = ("sin", "cos", "tan")


def _ref(op, x):
    """High-precision reference in longdouble (erf/erfc: the library's longdouble series)."""
    xl = x.astype(L)
    with np.errstate(all="ignore"):
        if op == "sigmoid":
            return 1 / (1 + np.exp(-xl))
        if op == "softplus":
            return np.log1p(np.exp(-np.abs(xl))) + np.maximum(xl, 0)
        if op in ("erf", "erfc"):
            return getattr(fit, f"{op}_ld")(x.astype(np.float64))
        return getattr(np, op)(xl)


def ulp_error(y, ref, dtype):
    """|y - ref| in units of the dtype's spacing at ref (denormal spacing below the normals)."""
    s = lm.SPECS[dtype]
    _, e = np.frexp(np.abs(ref.astype(L)))
    spacing = np.ldexp(L(1), np.maximum(e - 1 - s.mant, 1 - s.bias - s.mant))
    return np.abs(y.astype(L) - ref.astype(L)) / spacing


@pytest.fixture(scope="module")
def compiled():
    engine, ir, fns = fit.jit_apply([(op, dt) for op in OPS for dt in DTYPES])
    yield ir, fns
    del engine


def _inputs(op, dtype):
    """Log-spaced magnitudes of both signs over the whole range plus dense delicate regions."""
    rng = np.random.default_rng(zlib.crc32(f"{op} {dtype}".encode()))  # deterministic per case
    fi = np.finfo(dtype)
    tiny = float(fi.smallest_subnormal)
    mags = np.exp(rng.uniform(math.log(tiny), math.log(float(fi.max)), 6000))
    ln_max, ln_min = math.log(float(fi.max)), math.log(tiny)
    dense = [rng.uniform(-1e-3, 1e-3, 1500), rng.uniform(-1, 1, 1500), rng.uniform(-6, 6, 3000),
             rng.uniform(-40, 40, 1500), rng.uniform(ln_max - 2, ln_max + 1, 500),
             rng.uniform(ln_min - 2, math.log(float(fi.tiny)) + 2, 500), 1 + rng.uniform(-1e-3, 1e-3, 500),
             -1 + rng.uniform(0, 1e-3, 500), rng.uniform(5, 28, 500),
             np.arange(-60, 61) * (math.pi / 2) * (1 + rng.uniform(-4, 4, 121) * float(fi.eps))]
    return np.concatenate([mags, -mags] + dense).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", OPS)
def test_accuracy_within_4_ulp(compiled, op, dtype):
    _, fns = compiled
    x = _inputs(op, dtype)
    if op in TRIG:
        x = x[np.abs(x) < TRIG_RANGE[dtype]]
    y, ref = fns[op, dtype](x), _ref(op, x)
    with np.errstate(all="ignore"):
        expected = ref.astype(dtype)
    finite = np.isfinite(expected)
    err = ulp_error(y[finite], ref[finite], dtype)
    worst = int(np.argmax(err))
    assert err[worst] <= MAX_ULP, (
        f"{op}({x[finite][worst]!r}) = {y[finite][worst]!r}, reference {float(ref[finite][worst])!r}: "
        f"{float(err[worst]):.2f} ulp")
    # where the true value is not finite in the dtype (overflow, poles, outside the domain)
    np.testing.assert_array_equal(y[~finite], expected[~finite])


SPECIALS = [0.0, -0.0, 5e-324, -5e-324, 1e-310, 1e-40, -1e-40, 1.2e-38, 2.2250738585072014e-308,
            np.inf, -np.inf, np.nan, 1.0, -1.0, 0.5, -0.5, 2.0, 1e30, -1e30, 3.4e38, -3.4e38,
            1.7976931348623157e308, -1.7976931348623157e308, 88.72, 88.73, -103.9, -104.0,
            709.78, 709.79, -745.1, -745.2, 27.2, 10.05, -1 + 1e-7, -1 - 1e-7,
            # casts of integer extremes (the renderer computes integer inputs in float64)
            9223372036854775807, -9223372036854775808, 18446744073709551615, 2147483647, -2147483648,
            4294967295, -2147483649, 32767, -32768, 65535, -128, 255]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", OPS)
def test_edge_cases_match_numpy(compiled, op, dtype):
    """Zeros (with their sign), denormals, +-inf, NaN, overflow, underflow, the domain's ends."""
    _, fns = compiled
    with np.errstate(all="ignore"):
        x = np.array(SPECIALS, np.float64).astype(dtype)
        want = np.asarray(SCALAR_OPS[op].impl(x))
    assert want.dtype == x.dtype
    got = fns[op, dtype](x)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=f"NaN where {x}")
    exact = ~np.isfinite(want) | (want == 0)
    np.testing.assert_array_equal(got[exact], want[exact], err_msg=f"{op} at {x[exact]}")
    np.testing.assert_array_equal(np.signbit(got[want == 0]), np.signbit(want[want == 0]),
                                  err_msg=f"sign of zero, {op} at {x[want == 0]}")
    fin = np.isfinite(want) & (want != 0)
    if op in TRIG:
        fin &= np.abs(x) < TRIG_RANGE[dtype]
    assert np.all(ulp_error(got[fin], _ref(op, x[fin]), dtype) <= MAX_ULP)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", TRIG)
def test_trig_past_the_accurate_range_is_sane(compiled, op, dtype):
    _, fns = compiled
    x = np.array([1e8, -3e9, 1e20, -1e30, 3e38], dtype)
    y = fns[op, dtype](x)
    assert np.all(np.isfinite(y))
    if op != "tan":
        assert np.all(np.abs(y) <= 1)


def test_exp_f32_loop_vectorizes(compiled):
    ir, _ = compiled
    body = ir[ir.index("define void @apply_ag_exp_f32"):]
    body = body[:body.index("\n}\n")]
    assert re.search(r"<(4|8|16|32) x float>", body), "the apply loop for exp_f32 did not vectorize"
    assert not re.search(r"call [^@]*@(?!llvm\.)", body), "a call survived in the vectorized loop"


@pytest.mark.parametrize("dtype", DTYPES)
def test_ir_is_pure_arithmetic(dtype):
    """Only intrinsics and our own functions are called; each function is defined once."""
    text = lm.math_ir([(op, dtype) for op in OPS] + [("exp", dtype), ("arctan", np.dtype(dtype))])
    called = set(re.findall(r"call \S+ @([\w.]+)\(", text))
    allowed = ("llvm.fma.", "llvm.fabs.", "llvm.rint.", "llvm.floor.", "llvm.sqrt.", "llvm.copysign.",
               "llvm.smax.", "ag_")
    assert called and all(c.startswith(allowed) for c in called), called
    defined = re.findall(r"define internal \S+ @(\w+)\(", text)
    assert len(defined) == len(set(defined)) == len(OPS)
    assert "fptosi" not in text and "sitofp" not in text  # the shifter trick: no poison on NaN


def test_math_ir_pulls_dependencies_once():
    text = lm.math_ir([("softplus", "float32"), ("arcsin", "float32"), ("arccos", "float32")])
    names = re.findall(r"define internal \S+ @(\w+)\(", text)
    assert sorted(names) == ["ag_arccos_f32", "ag_arcsin_f32", "ag_arctan_f32", "ag_softplus_f32"]
    assert lm.math_ir([]) == ""


def test_function_names_and_errors():
    assert lm.function_name("exp", "float32") == "ag_exp_f32"
    assert lm.function_name("log1p", np.float64) == "ag_log1p_f64"
    with pytest.raises(ValueError, match="no vectorized math function 'relu'"):
        lm.function_name("relu", "float32")
    for bad in ("float16", "int32", "nonsense"):
        with pytest.raises(ValueError, match="float32 and float64 only"):
            lm.function_name("exp", bad)
    # every function is one of the elementwise scalar ops, under the same name
    assert set(lm.MATH_FUNCTIONS) <= set(SCALAR_OPS)
    for op in ("exp", "log", "log1p", "expm1", "tanh", "sigmoid", "softplus", "erf", "sin", "cos"):
        assert op in lm.MATH_FUNCTIONS


def test_erf_reference_agrees_with_math():
    x = np.array([-3.0, -0.7, 0.0, 1e-10, 0.3, 0.5, 0.99, 1.0, 1.7, 2.5, 4.0, 6.0, 10.0, 26.0])
    erf, erfc = fit.erf_ld(x), fit.erfc_ld(x)
    for xi, a, b in zip(x, erf, erfc):
        assert abs(float(a) - math.erf(xi)) <= 2 * np.spacing(abs(math.erf(xi)))
        assert abs(float(b) - math.erfc(xi)) <= 2 * np.spacing(math.erfc(xi))


@pytest.mark.skipif(np.finfo(np.longdouble).nmant < 63, reason="the fit needs x87 long double")
@pytest.mark.parametrize("name", ["em1_f32", "log_f64", "atan_f32"])
def test_coefficient_table_is_reproduced_by_the_fit(name):
    poly, sfx = name.split("_")
    assert fit.fit(poly, sfx) == mathlib._COEFFS[name]


@pytest.mark.parametrize("sfx", ["f32", "f64"])
def test_split_constants_and_atan_sectors_are_reproduced(sfx):
    """Exact rational arithmetic: no long double needed."""
    assert fit.split_constants(sfx) == mathlib._COEFFS[f"consts_{sfx}"]
    assert fit.atan_sectors(sfx) == mathlib._COEFFS[f"atan_sectors_{sfx}"]
    k = fit.exact_constants()
    assert abs(float(k["pi"]) - math.pi) < 1e-15 and abs(float(k["ln10"]) - math.log(10)) < 1e-15
    s = lm.SPECS["float32" if sfx == "f32" else "float64"]
    for name, parts in mathlib._COEFFS[f"consts_{sfx}"].items():
        assert all(float(s.np(p)) == p for p in parts), name  # every part is a dtype value
    hi = mathlib._COEFFS[f"consts_{sfx}"]["ln2"][0]  # k * hi exact for |k| < 2**11
    assert float(s.np(hi * 2047)) == hi * 2047


def test_fit_source_is_the_table():
    """``--fit`` prints source that evaluates to the table (long double: everything matches)."""
    ns = {"math": math}
    if np.finfo(np.longdouble).nmant < 63:
        pytest.skip("the fit needs x87 long double")
    exec(fit.fit_source(), ns)
    assert ns["_COEFFS"] == mathlib._COEFFS
