"""Decomposition (compiler/decompose.py): NumPy's composite semantics rewritten into
primitive IR ops. On the interpreter a decomposed kernel gives the original's values
bit for bit (the sign of zero included; NaN is NaN), so the interpreter defines both;
the LLVM renderer renders only primitives and matches the interpreter."""
import dataclasses

import numpy as np
import pytest

import arignote.tensor as T
from arignote.compiler import interp as I
from arignote.compiler import kernel as K
from arignote.compiler import llvm
from arignote.compiler.decompose import decompose
from arignote.compiler.launch import Launcher
from arignote.compiler.llvm_scalar import _SCALAR, types
from arignote.compiler.lower import lower
from arignote.errors import ArignoteValueError
from arignote.ops.fused import Fused
from tests.compiler.conftest import every_scalar_op
from tests.compiler.test_interp import CAST_DTYPES, _inputs, assert_matches, run_both

#: transcendentals: float16 computes them in float32 and rounds once (as every renderer), where
#: NumPy's float16 loops are SIMD code of their own and the table's sigmoid and softplus round
#: each step to float16: within 4 ulps of float16 (float32/64: not decomposed, so bitwise)
HALF_ULPS = {"exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "sin", "cos", "tan", "arcsin",
             "arccos", "arctan", "sinh", "cosh", "tanh", "arcsinh", "arccosh", "arctanh", "erf", "erfc",
             "sigmoid", "softplus", "pow", "arctan2"}


def kernel_of(inputs, outputs):
    return lower(Fused(inputs, outputs))


def primitive(kernel, ins):
    """Whether ``ins`` is one row of the LLVM renderer's table (or a select/copy)."""
    if ins.op in ("switch", "second"):
        return True
    dtypes = [kernel.body[a].dtype for a in ins.args]
    loop = K.loop_dtype(ins.op, ins.dtype, dtypes)
    kind = types(loop)[2]
    mixed = ins.op in ("eq", "neq", "lt", "le", "gt", "ge") and kind == "f" and \
        all(types(d)[2] in "iub" for d in dtypes)
    return (ins.op, kind) in _SCALAR and not mixed and (loop != "float16" or ins.op == "identity")


def both(kernel, values, ulps=0, names=None):
    """The kernel and its decomposition on the interpreter: equal (``ulps(name)`` for floats)."""
    flat = decompose(kernel)
    for k, ins in enumerate(flat.body):
        if isinstance(ins, K.ScalarOp):
            assert primitive(flat, ins), f"%{k}: {K._instr(ins)} on {ins.dtype} is not primitive"
        assert not (isinstance(ins, K.Cast) and types(flat.body[ins.arg].dtype)[2] == "f"
                    and types(ins.dtype)[2] in "iu"), f"%{k}: a float to integer cast is left"
    assert decompose(flat) == flat  # decomposing twice changes nothing
    assert flat.errors == kernel.errors
    want = I.run_kernel(kernel, [np.array(v) for v in values])
    got = I.run_kernel(flat, [np.array(v) for v in values])
    for n, (g, w) in enumerate(zip(got, want)):
        name = names[n] if names else f"output {n}"
        assert_matches(g, w, ulps(name) if callable(ulps) else ulps, what=name)
    return flat


@pytest.mark.parametrize("nin", [1, 2, 3])
@pytest.mark.parametrize("dtype", ["float16", "float32", "float64", "int8", "int16", "int32", "int64",
                                   "uint8", "uint32", "uint64", "bool"])
def test_every_scalar_op_decomposes_to_the_same_bits(dtype, nin, rng):
    values = _inputs(dtype, rng)
    syms = {k: T.vector(k, dtype=dtype) for k in values}
    outs, names = every_scalar_op(syms, nin, special=np.dtype(dtype).kind in "iu")
    used = [k for k in values if any(syms[k] in o.owner.inputs for o in outs)]
    kernel = kernel_of([syms[k] for k in used], outs)
    vals = [values[k] for k in used]
    both(kernel, vals, ulps=lambda name: 4 if name in HALF_ULPS else 0, names=names)
    run_both(kernel, *vals, ulps=lambda name: 4 if name in HALF_ULPS else 0, names=names)


@pytest.mark.parametrize("src", CAST_DTYPES)
def test_casts_decompose_to_the_same_bits(src):
    """Float to every integer: cvtt's rule out of range, NaN and infinities included."""
    if np.dtype(src).kind == "f":
        with np.errstate(over="ignore"):
            values = np.array([0, -0.0, 1, 2.7, 100.2, 127, -3.7, -1, 0.5, 300, -300, 70000, 2.0 ** 31,
                               -2.0 ** 31 - 1, 2.0 ** 32, 2.0 ** 63, 2.0 ** 64, -2.0 ** 63, 1e30, -1e30,
                               np.nan, np.inf, -np.inf, 65504, -65504, 4e9, -3e9, 6e4], src)
    elif src == "bool":
        values = np.array([True, False, True, False])
    else:
        info = np.iinfo(src)
        values = np.array([0, 1, 127, info.max, info.min, info.max // 3, 5, 9], src)
    x = T.vector("x", dtype=src)
    targets = [d for d in CAST_DTYPES if d != src]
    kernel = kernel_of([x], [T.cast(x, d) for d in targets])
    both(kernel, [values], names=targets)
    run_both(kernel, values, names=targets)


def test_int64_against_uint64_compares_exactly():
    a, b, c = T.vector("a", dtype="uint64"), T.vector("b", dtype="int64"), T.vector("c", dtype="int8")
    outs = [op(x, y) for op in (T.lt, T.le, T.gt, T.ge, T.eq, T.neq) for x, y in ((a, b), (b, a), (c, a))]
    kernel = kernel_of([a, b, c], outs)
    big = 2 ** 63
    av = np.array([big + 1, 5, 0, big - 1, 2 ** 64 - 1, 7], "uint64")
    bv = np.array([-1, 5, -(2 ** 63), big - 1, -1, 8], "int64")
    cv = np.array([-1, 5, 0, -128, 127, 7], "int8")
    flat = both(kernel, [av, bv, cv])
    assert not any(isinstance(ins, K.ScalarOp) and ins.op == "lt" and
                   K.loop_dtype("lt", "bool", [flat.body[x].dtype for x in ins.args]) == "float64"
                   for ins in flat.body)
    run_both(kernel, av, bv, cv)


def test_integer_powers(rng):
    x, e = T.vector("x", dtype="int32"), T.vector("e", dtype="int32")
    u, f = T.vector("u", dtype="uint8"), T.vector("f", dtype="uint8")
    kernel = kernel_of([x, e, u, f], [x ** e, u ** f, x ** 5, u ** 0, x ** 1])
    xv, ev = rng.integers(-40, 40, 64).astype("int32"), rng.integers(0, 40, 64).astype("int32")
    uv, fv = rng.integers(0, 256, 64).astype("uint8"), rng.integers(0, 256, 64).astype("uint8")
    flat = both(kernel, [xv, ev, uv, fv])
    run_both(kernel, xv, ev, uv, fv)
    assert flat.errors == (K.NEGATIVE_POWER,)
    # x ** 5 of a constant exponent: x*x, (x*x)*(x*x), then times x; no run-time bit test
    only = decompose(kernel_of([x], [x ** 5]))
    assert sorted(ins.op for ins in only.body if isinstance(ins, K.ScalarOp)) == ["mul"] * 3
    ev[7] = -2
    for kern in (kernel, decompose(kernel)):
        for run in (Launcher(kern), I.Interpreter(kern)):
            with pytest.raises(ArignoteValueError, match="integers to negative integer powers"):
                run(xv, ev, uv, fv)


def test_a_constant_negative_exponent_is_an_error_wherever_there_are_points():
    x = T.vector("x", dtype="int16")
    kernel = kernel_of([x], [x ** -1])
    flat = decompose(kernel)
    assert flat.can_raise and any(isinstance(ins, K.Check) for ins in flat.body)
    for run in (Launcher(kernel), I.Interpreter(kernel), I.Interpreter(flat)):
        with pytest.raises(ArignoteValueError, match="negative integer powers"):
            run(np.arange(3, dtype="int16"))
        assert run(np.arange(0, dtype="int16"))[0].shape == (0,)


def test_float16_rounds_after_each_op_and_keeps_the_first_of_equal_zeros(rng):
    h, g, i = T.vector("h", dtype="float16"), T.vector("g", dtype="float16"), T.vector("i", dtype="int8")
    outs = [h * g + h, (h - g) / (g + 3), h * i, h // g, h % g, T.maximum(h, g), T.minimum(h, g),
            T.clip(h, g, g), h < g, T.sqrt(T.abs(h))]
    kernel = kernel_of([h, g, i], outs)
    hv = np.array([0.0, -0.0, 0.1, 60000, -3.5, np.nan, 1.5, 7.0] * 4, "float16")
    gv = np.array([-0.0, 0.0, 0.3, 2.0, 1.25, 1.0, -0.0, 3.0] * 4, "float16")
    iv = rng.integers(-128, 128, 32).astype("int8")
    flat = both(kernel, [hv, gv, iv])
    assert all(ins.dtype != "float16" or ins.op in ("switch", "identity")
               for ins in flat.body if isinstance(ins, K.ScalarOp))
    run_both(kernel, hv, gv, iv)


def test_a_check_raises_its_own_error_through_the_flag():
    """A hand-made Check: compiled code sets the flag to its error's code, the launcher
    raises that error (the second of two here), after the run; the interpreter at once."""
    params = (K.Param("x", "int32", 1, "in"), K.Param("y", "int32", 1, "out"))
    body = (K.Load("int32", 0, (0,)), K.Const("int32", 0), K.Const("int32", 100),
            K.ScalarOp("bool", "lt", (0, 1)), K.Check("bool", 3, "no negatives"),
            K.ScalarOp("bool", "gt", (0, 2)), K.Check("bool", 5, "nothing above 100"),
            K.Store("int32", 1, (0,), 0))
    kernel = K.Kernel("checked", params, 1, (), body)
    assert kernel.errors == ("no negatives", "nothing above 100")
    assert "check %5: nothing above 100" in kernel.pretty()
    for run in (Launcher(kernel), I.Interpreter(kernel)):
        assert run(np.arange(5, dtype="int32"))[0].tolist() == [0, 1, 2, 3, 4]
        with pytest.raises(ArignoteValueError, match="checked: nothing above 100"):
            run(np.array([3, 101, 4], "int32"))
        with pytest.raises(ArignoteValueError, match="checked: no negatives"):
            run(np.array([3, -1, 4] * 1000, "int32"))


def test_the_renderer_renders_primitives_only():
    """Composite ops reach the renderer's table only decomposed (render decomposes)."""
    a, b = T.vector("a", dtype="int32"), T.vector("b", dtype="int32")
    h = T.vector("h", dtype="float16")
    for inputs, out in [([a, b], a // b), ([a, b], a ** b), ([h], h + h), ([h], T.cast(h, "int32"))]:
        kernel = kernel_of(inputs, [out])
        with pytest.raises(NotImplementedError, match="decompose"):
            llvm._Renderer(dataclasses.replace(kernel, schedule=K.Schedule((0,), 0))).module()
        assert "define" in llvm.render(kernel)


def test_ill_formed_primitives_are_refused_by_the_interpreter():
    p = (K.Param("x", "float64", 1, "in"), K.Param("y", "int32", 1, "out"))
    ftoi = K.Kernel("k", p, 1, (), (K.Load("float64", 0, (0,)), K.ScalarOp("int32", "ftoi", (0,)),
                                    K.Store("int32", 1, (0,), 1)))
    assert I.run_kernel(ftoi, [np.array([2.7, -3.9])])[0].tolist() == [2, -3]
    for bad in (3e9, np.nan):
        with pytest.raises(ValueError, match="out of the range of int32"):
            I.run_kernel(ftoi, [np.array([1.0, bad])])
    q = (K.Param("x", "int8", 1, "in"), K.Param("y", "int8", 1, "out"))
    div = K.Kernel("k", q, 1, (), (K.Load("int8", 0, (0,)), K.Const("int8", -1),
                                   K.ScalarOp("int8", "div_trunc", (0, 1)), K.Store("int8", 1, (0,), 2)))
    assert I.run_kernel(div, [np.array([7, -7], "int8")])[0].tolist() == [-7, 7]
    with pytest.raises(ValueError, match="divides by 0"):
        I.run_kernel(div, [np.array([-128], "int8")])
    with pytest.raises(ValueError, match="names no scalar op"):
        I.check(dataclasses.replace(div, body=div.body[:2] + (K.ScalarOp("int8", "frobnicate", (0,)),)
                                    + div.body[3:]))


def test_checks_inside_passes_column_tiles_and_chunks(rng):
    """A Check at level 1 of a column-tiled kernel and of a row kernel; chunked runs."""
    x, e = T.matrix("x", dtype="int64"), T.matrix("e", dtype="int64")
    for out in (T.sum(x ** e, axis=0), T.sum(x ** e, axis=1), T.max(x ** e) + T.sum(x)):
        kernel = kernel_of([x, e], [out])
        xv, ev = rng.integers(-5, 5, (40, 300)), rng.integers(0, 5, (40, 300))
        run_both(kernel, xv, ev)
        ev[17, 123] = -1
        launcher = Launcher(kernel)
        call = launcher.prepare([xv, ev])
        launcher.compiled.error_flag.value = 0
        for start in range(call.end):  # the flag is set by the one chunk that saw it
            call.run(start, start + 1)
        assert launcher.compiled.error_flag.value == 1
        launcher.release(call)
        for run in (launcher, I.Interpreter(kernel)):
            with pytest.raises(ArignoteValueError, match="negative integer powers"):
                run(xv, ev)
