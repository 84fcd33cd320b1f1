"""The transcendentals through the C emitter (compiler/c_math.py), compiled with the
system C compiler: bitwise the LLVM emitter's results (NaN as NaN), hence within the
documented ulps of the exact values (docs/transcendentals.md)."""
import ctypes
import re
import shutil
import subprocess

import numpy as np
import pytest

from arignote.compiler import c_math
from arignote.compiler import llvm_math_fit as fit
from arignote.compiler.mathlib import MATH_FUNCTIONS, function_name
from tests.compiler.test_llvm_math import MAX_ULP, TRIG, TRIG_RANGE, _inputs, _ref, ulp_error

CC = shutil.which("cc")
pytestmark = pytest.mark.skipif(CC is None, reason="no C compiler (cc)")
OPS = sorted(MATH_FUNCTIONS)
DTYPES = ("float32", "float64")
PAIRS = [(op, dt) for op in OPS for dt in DTYPES]


def _apply(op, dtype):
    ty, fn = ("float" if dtype == "float32" else "double"), function_name(op, dtype)
    return (f"void apply_{fn}(const {ty} *in, {ty} *out, long n) {{\n"
            f"  for (long i = 0; i < n; i++) out[i] = {fn}(in[i]);\n}}\n")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """{(op, dtype): f(array) -> array} of the C functions, and the LLVM ones."""
    src = c_math.PRELUDE + c_math.math_c(PAIRS) + "".join(_apply(*p) for p in PAIRS)
    where = tmp_path_factory.mktemp("c_math")
    (where / "math.c").write_text(src)
    lib = where / "libmath.so"
    flags = ["-O2", "-std=c11", "-ffp-contract=off", "-fno-fast-math", "-fPIC", "-shared", "-Wall",
             "-Wno-unused-variable", "-Werror"]
    subprocess.run([CC, *flags, "-o", str(lib), str(where / "math.c"), "-lm"], check=True)
    dll = ctypes.CDLL(str(lib))
    c_fns = {}
    for op, dt in PAIRS:
        cfn = getattr(dll, f"apply_{function_name(op, dt)}")
        cfn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_long]

        def run(x, cfn=cfn, dt=dt):
            x = np.ascontiguousarray(x, dt)
            out = np.empty_like(x)
            cfn(x.ctypes.data, out.ctypes.data, x.size)
            return out
        c_fns[op, dt] = run
    engine, _, llvm_fns = fit.jit_apply(PAIRS)
    yield c_fns, llvm_fns
    del engine


def _values(op, dtype):
    """A few thousand of test_llvm_math's inputs (every region), and the edge cases."""
    x = _inputs(op, dtype)[::5]
    fi = np.finfo(dtype)
    edges = [0.0, -0.0, np.inf, -np.inf, np.nan, fi.max, -fi.max, fi.tiny, -fi.tiny,
             fi.smallest_subnormal, -fi.smallest_subnormal, 1.0, -1.0, 0.5, -0.5, 2.0 ** 31, -2.0 ** 63]
    return np.concatenate([x, np.array(edges, dtype)])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", OPS)
def test_c_gives_the_llvm_bits(built, op, dtype):
    c_fns, llvm_fns = built
    x = _values(op, dtype)
    got, want = c_fns[op, dtype](x), llvm_fns[op, dtype](x)
    ints = f"int{8 * np.dtype(dtype).itemsize}"
    same = (got.view(ints) == want.view(ints)) | (np.isnan(got) & np.isnan(want))
    bad = np.flatnonzero(~same)
    assert not bad.size, f"{op} {dtype}: {bad.size} of {x.size} differ, first x={x[bad[0]]!r}: " \
                         f"C {got[bad[0]]!r}, LLVM {want[bad[0]]!r}"
    accurate = np.isfinite(x) & (np.abs(x) < TRIG_RANGE[dtype] if op in TRIG else True)
    ref = _ref(op, x[accurate])
    with np.errstate(over="ignore"):
        finite = np.isfinite(ref.astype(dtype))
    err = ulp_error(got[accurate][finite], ref[finite], dtype)
    assert float(np.max(err, initial=0)) <= MAX_ULP, f"{op} {dtype}: {float(np.max(err))} ulp"


def test_the_c_source_calls_no_libm_transcendental():
    text = c_math.math_c(PAIRS)
    called = set(re.findall(r"\b([a-z_][a-z0-9_]*)\(", text))
    allowed = {"fma", "fmaf", "fabs", "fabsf", "sqrt", "sqrtf", "rint", "rintf", "floor", "floorf",
               "copysign", "copysignf", "ag_f32_bits", "ag_bits_f32", "ag_f64_bits", "ag_bits_f64"}
    ours = {function_name(op, dt) for op, dt in PAIRS}
    assert called - allowed <= ours | {"const"}, called - allowed - ours
    defined = re.findall(r"static inline \w+ (ag_\w+)\(", text)
    assert sorted(defined) == sorted(ours)  # each once
    # callees before callers: arccos calls arctan
    assert text.index("ag_arctan_f32(float x)") < text.index("ag_arccos_f32(float x)")
