"""The LLVM renderer: every scalar op and cast against NumPy, and the shape of
the IR it emits (vector code, fast-math flags, noalias)."""
import re

import numpy as np
import pytest

import arignote.tensor as T
from arignote.compiler import jit
from arignote.compiler import kernel as K
from arignote.compiler.llvm import render
from arignote.compiler.lower import lower
from arignote.errors import ArignoteValueError
from arignote.ops.fused import Fused
from tests.compiler.conftest import CAST_DTYPES, cast_values, check_launch, compile_group, every_scalar_op

DTYPES = ("float32", "float64", "int32", "int64", "bool")
#: NumPy raises for these inputs, or leaves the value undefined: fed separately


def _values(dtype, rng):
    """Edge cases first, then random values."""
    if dtype == "bool":
        return rng.integers(0, 2, 24).astype(bool)
    if np.dtype(dtype).kind == "f":
        edges = [0.0, -0.0, 0.5, -0.5, 1.0, -1.0, 1.5, -2.5, 2.5, 3.0, -7.0, 100.0, 1e-3,
                 np.nan, np.inf, -np.inf, 9.223372036854775807e18, -9.223372036854775808e18,
                 2147483647.0, -2147483648.0, 1e-40, 88.8, -104.0, 710.0]
        return np.array(edges + list(rng.uniform(-3, 3, 8)), dtype)
    info = np.iinfo(dtype)
    edges = [0, 1, -1, 2, -2, 3, 7, -7, 100, -100, info.min, info.max]
    return np.array(edges + list(rng.integers(-50, 50, 12)), dtype)


def _inputs(dtype, rng):
    x = _values(dtype, rng)
    y = np.roll(_values(dtype, np.random.default_rng(5)), 5)
    if dtype.startswith("int"):
        x[-1], y[-1] = np.iinfo(dtype).min, -1  # MIN // -1 and MIN % -1
    z = np.roll(x, 3)
    out = {"x": x, "y": y, "z": z}
    if dtype.startswith("int"):
        out.update(e=(np.abs(y.astype(np.int64)) % 6).astype(dtype), nz=np.where(x == 0, 1, x))
    return out


@pytest.mark.parametrize("nin", [1, 2, 3])
@pytest.mark.parametrize("dtype", DTYPES)
def test_every_scalar_op(dtype, nin, rng):
    """One multi-output kernel per (dtype, arity) holding every op NumPy defines there."""
    values = _inputs(dtype, rng)
    syms = {k: T.vector(k, dtype=dtype) for k in values}
    outs, names = every_scalar_op(syms, nin, special=dtype.startswith("int"))
    assert names
    used = [k for k in values if any(syms[k] in o.owner.inputs for o in outs)]
    fused, launcher = compile_group([syms[k] for k in used], outs)
    check_launch(fused, launcher, *[values[k] for k in used], names=names)




@pytest.mark.parametrize("src", CAST_DTYPES)
def test_casts(src):
    values = cast_values(src)
    x = T.vector("x", dtype=src)
    outs = [T.cast(x, d) for d in CAST_DTYPES if d != src]
    fused, launcher = compile_group([x], outs)
    check_launch(fused, launcher, values, names=[d for d in CAST_DTYPES if d != src])


def test_float_to_int_of_nan_and_inf_does_not_crash():
    x = T.vector("x")
    fused, launcher = compile_group([x], [T.cast(x, d) for d in ("int8", "int64", "uint64", "bool")])
    out = launcher(np.array([np.nan, np.inf, -np.inf, 1e30]))
    assert [o.dtype.name for o in out] == ["int8", "int64", "uint64", "bool"]
    assert out[3].tolist() == [True] * 4


def test_float16_group():
    x, y = T.vector("x", dtype="float16"), T.vector("y", dtype="float16")
    vals = np.array([0.1, 1.5, -2.25, 60000, 3], "float16"), np.array([3, 0.7, 2, 10, -1], "float16")
    fused, launcher = compile_group([x, y], [x * y + x, T.exp(x / 8) - y, T.sqrt(T.abs(x)), x > y])
    check_launch(fused, launcher, *vals)


def test_mixed_signed_unsigned_comparison_is_exact():
    a, b = T.vector("a", dtype="uint64"), T.vector("b", dtype="int64")
    av = np.array([2 ** 63 + 1, 5, 0], "uint64")
    bv = np.array([-1, 5, -(2 ** 63)], "int64")
    fused, launcher = compile_group([a, b], [T.lt(a, b), T.eq(a, b), T.ge(a, b), a + b])
    check_launch(fused, launcher, av, bv)


def test_integer_power_to_a_negative_exponent_raises():
    x, y = T.vector("x", dtype="int32"), T.vector("y", dtype="int32")
    fused, launcher = compile_group([x, y], [T.pow(x, y)])
    with pytest.raises(ValueError):
        fused.perform(None, [np.array([2], "int32"), np.array([-1], "int32")])
    with pytest.raises(ArignoteValueError, match="negative integer powers"):
        launcher(np.array([2, 3], "int32"), np.array([1, -1], "int32"))
    assert launcher(np.array([2, 3], "int32"), np.array([3, 2], "int32"))[0].tolist() == [8, 9]


# ------------------------------------------------------------ the IR itself

def _kernel(*dtypes, fn=lambda x, y: x * y + x):
    syms = [T.vector(f"v{k}", dtype=d) for k, d in enumerate(dtypes)]
    return lower(Fused(syms, [fn(*syms)]))


def test_float32_elementwise_kernel_vectorizes():
    opt = jit.optimized_ir(render(_kernel("float32", "float32")))
    widths = [int(w) for w in re.findall(r"<(\d+) x float>", opt)]
    assert widths and max(widths) >= 8, opt


def test_reduction_kernel_vectorizes():
    x = T.matrix("x", dtype="float32")
    opt = jit.optimized_ir(render(lower(Fused([x], [T.sum(x * x, axis=1)]))))
    assert re.search(r"<(8|16|32) x float>", opt)


def test_ir_flags():
    x = T.matrix("x", dtype="float32")
    ir = render(lower(Fused([x], [T.sum(x * 2.0, axis=1) + 1.0])))
    assert "noalias" in ir and "getelementptr inbounds" in ir
    assert "nnan" not in ir and "ninf" not in ir and " fast " not in ir
    reassoc = [line for line in ir.splitlines() if "reassoc" in line]
    # only the accumulator, in the row-by-row body and in the row tiles' function
    assert len(reassoc) == 2 and all("fadd" in line for line in reassoc)
    assert "contract" not in ir  # a value has one value (docs/design.md)
    assert "define void @kernel(ptr noalias readonly %shape" in ir


def test_loops_carry_their_hints_and_the_parts_are_not_inlined():
    """Compile time: every back edge names its loop's hints, the row tiles' loops are not
    unrolled, the others not runtime-unrolled; the internal functions are ``noinline``."""
    x = T.matrix("x", dtype="float32")
    ir = render(lower(Fused([x], [T.sum(T.exp(x), axis=1)])))
    nodes = dict(re.findall(r"^!(\d+) = (.*)$", ir, re.M))
    hint = {name: next(n for n, text in nodes.items() if text == f'!{{!"llvm.loop.{name}"}}')
            for name in ("unroll.disable", "unroll.runtime.disable")}
    functions = re.split(r"^define ", ir, flags=re.M)[1:]
    parts = {re.match(r"internal void @kernel\.(\w+)\(", f).group(1): f for f in functions
             if f.startswith("internal void @kernel.")}
    assert sorted(parts) == ["body", "rows"]
    for part, text in parts.items():
        assert text.splitlines()[0].endswith(") noinline {")
        back = re.findall(r"^(L\S+)\.latch:\n(?:  .*\n)*?  br label %\1\.head(.*)$", text, re.M)
        assert back and all(meta.startswith(", !llvm.loop !") for _, meta in back), back
        for _, meta in back:
            refs = re.findall(r"!\d+", nodes[meta.split("!")[-1]])[1:]  # (the first: itself)
            assert f"!{hint['unroll.disable' if part == 'rows' else 'unroll.runtime.disable']}" in refs
    assert len(nodes) == len(set(nodes.values()))  # (each property once)


def test_unsupported_dtype_and_op_raise_naming_them():
    k = K.Kernel("k", (K.Param("in0", "complex64", 1, "in"), K.Param("out0", "complex64", 1, "out")),
                 1, (), (K.Load("complex64", 0, (0,)), K.Store("complex64", 1, (0,), 0)))
    with pytest.raises(NotImplementedError, match="complex64"):
        render(k)
    k = K.Kernel("k", (K.Param("in0", "float32", 1, "in"), K.Param("out0", "float32", 1, "out")),
                 1, (), (K.Load("float32", 0, (0,)), K.ScalarOp("float32", "frobnicate", (0,)),
                         K.Store("float32", 1, (0,), 1)))
    with pytest.raises(NotImplementedError, match="frobnicate"):
        render(k)


def test_any_kernel_name_is_a_valid_symbol():
    k = _kernel("float64", "float64")
    odd = K.Kernel('9 "odd" kernel', k.params, k.ndim, k.reduce_axes, k.body)
    ck = jit.compile_kernel(odd)
    assert ck.address


def _w1(a, b, c):
    return T.tanh(a * b + c) * T.sigmoid(a - c) + 0.5 * T.exp(-T.abs(b))


def test_transcendentals_come_from_llvm_math_once_per_module():
    x = T.vector("x", dtype="float32")
    ir = render(lower(Fused([x], [T.tanh(x) + T.tanh(2 * x), T.arcsin(x) * T.arctan(x),
                                  T.softplus(x), T.sigmoid(x)])))
    defined = re.findall(r"define internal float @(ag_\w+)\(", ir)
    assert sorted(defined) == ["ag_arcsin_f32", "ag_arctan_f32", "ag_sigmoid_f32", "ag_softplus_f32",
                               "ag_tanh_f32"]
    calls = re.findall(r"= call (.*?)@(ag_\w+)\(", ir)
    assert {"ag_tanh_f32", "ag_arctan_f32"} <= {name for _, name in calls}
    assert all(flags.split() == ["float"] for flags, _ in calls), calls  # no fast-math flags
    assert not re.search(r"declare .*@(tanhf|asinf|atanf|log1pf|expf)\b", ir)


def test_sin_cos_tan_pow_arctan2_stay_on_libm():
    """NumPy's sin/cos/tan are exact for huge arguments; llvm_math's reduction is not."""
    x, y = T.vector("x"), T.vector("y")
    ir = render(lower(Fused([x, y], [T.sin(x) + T.cos(x) + T.tan(x), T.pow(x, y), T.arctan2(x, y)])))
    for name in ("llvm.sin.f64", "llvm.cos.f64", "tan", "llvm.pow.f64", "atan2"):
        assert f"declare double @{name}(" in ir
    assert "@ag_" not in ir
    values = np.array([9.223372036854775807e18, -2147483648.0, 1e300, 0.5]), np.ones(4)
    fused, launcher = compile_group([x, y], [T.sin(x), T.cos(x), T.tan(x)])
    got = check_launch(fused, launcher, *values)
    assert got[0][0] == np.sin(9.223372036854775807e18)


def test_float16_math_computes_in_float32(run_group):
    x = T.vector("x", dtype="float16")
    ir = render(lower(Fused([x], [T.tanh(x), T.erf(x)])))
    assert "call float @ag_tanh_f32(" in ir and "call float @ag_erf_f32(" in ir
    run_group([x], [T.tanh(x), T.erf(x), T.log1p(x)],
              np.array([0, -0.0, 0.1, -2.5, 60000, -60000, np.inf, np.nan, -1], "float16"))


def test_transcendental_chain_vectorizes_without_calls():
    """The W1 chain: one vector loop, every math function inlined (only intrinsics called)."""
    a, b, c = (T.vector(n, dtype="float32") for n in "abc")
    opt = jit.optimized_ir(render(lower(Fused([a, b, c], [_w1(a, b, c)]))))
    body = opt[opt.index("vector.body:"):]
    body = body[:body.index("middle.block")]
    assert re.search(r"<(8|16) x float>", body)
    assert not re.search(r"call [^@]*@(?!llvm\.)", body), "a call survived in the vector loop"


def test_w1_chain_matches_numpy():
    a, b, c = (T.vector(n, dtype="float32") for n in "abc")
    rng = np.random.default_rng(3)
    vals = [rng.uniform(-5, 5, 1000).astype("float32") for _ in range(3)]
    vals[0][:4] = [np.inf, -np.inf, np.nan, 0.0]
    fused, launcher = compile_group([a, b, c], [_w1(a, b, c)])
    check_launch(fused, launcher, *vals)
