"""Sign-blind max/min reductions (compiler/zero_signs.py): flagged exactly where no use
tells the sign of a zero result, rendered in the plain fast form there, and the same
outputs, bit for bit, as the exact fold everywhere."""
import dataclasses

import numpy as np
import pytest

import arignote as ag
import arignote.tensor as T
from arignote.compiler import interp as I
from arignote.compiler import kernel as K
from arignote.compiler.launch import Launcher
from arignote.compiler.llvm import render
from arignote.compiler.lower import lower
from arignote.compiler.split import split_reduction
from arignote.compiler.zero_signs import mark_sign_blind
from arignote.ops.fused import Fused
from arignote.passes.expand import softmax_graph

x = T.matrix("x")
m = T.max(x, axis=1)
mk = T.max(x, axis=1, keepdims=True)

#: name -> (outputs of x, whether the max is sign-blind)
CASES = {
    "softmax": (lambda: [softmax_graph(x, 1)], True),
    "max gradient mask": (lambda: [ag.grad(T.sum(m), x)], True),
    "sum of exp(x - max)": (lambda: [T.sum(T.exp(x - mk), axis=1)], True),
    "compared": (lambda: [m > 0, T.eq(x, mk)], True),
    "to an integer": (lambda: [T.cast(T.min(x, axis=1), "int32")], True),
    "abs, sqr": (lambda: [abs(m) + T.sqr(T.min(x, axis=1))], True),
    "column tiles": (lambda: [T.max(x, axis=0) > 0], True),
    "stored": (lambda: [m], False),
    "x - max stored": (lambda: [x - mk], False),
    "log_softmax": (lambda: [softmax_graph(x, 1, log=True)], False),  # (see the report below)
    "divided by": (lambda: [(1.0 / m) > 0], False),  # (an infinity's sign)
    "one use of two tells": (lambda: [T.exp(m), -m], False),
}


def kernel(name):
    return lower(Fused([x], CASES[name][0]()))


def zeros_rows(rng, rows=40, cols=7, dtype="float64"):
    """Rows whose max or min is often a zero of either sign (and NaN, infinities)."""
    v = rng.choice([0.0, -0.0, -1.5, -np.inf, 0.25], size=(rows, cols)).astype(dtype)
    v[rng.random(v.shape) < 0.5] *= -1
    v[0], v[1, 2], v[2, 3] = -0.0, np.nan, np.inf
    v[3] = [0.0, -0.0, -0.0, 0.0, -1.0, -0.0, -2.0][:cols]
    return v


def same_bits(got, want, what):
    assert got.dtype == want.dtype and got.shape == want.shape, what
    np.testing.assert_array_equal(got, want, err_msg=what)  # (NaN where NaN)
    if want.dtype.kind == "f":
        zero = want == 0
        np.testing.assert_array_equal(np.signbit(got[zero]), np.signbit(want[zero]),
                                      err_msg=f"{what}: the sign of zero")


def flipped(kernel):
    """``kernel`` with the zero result of each sign-blind Reduce negated before any use."""
    body, new = [], {}
    for k, ins in enumerate(kernel.body):
        body.append(K.with_args(ins, [new[a] for a in K.args_of(ins)]))
        new[k] = len(body) - 1
        if isinstance(ins, K.Reduce) and ins.sign_blind:
            r, level = new[k], ins.level + 1
            body.append(K.Const(ins.dtype, 0.0))
            body.append(K.ScalarOp("bool", "eq", (r, len(body) - 1), level))
            body.append(K.ScalarOp(ins.dtype, "neg", (r,), level))
            body.append(K.ScalarOp(ins.dtype, "switch", (len(body) - 2, len(body) - 1, r), level))
            new[k] = len(body) - 1
    return dataclasses.replace(kernel, body=tuple(body))


def float_minmax(kernel):
    return [ins for ins in kernel.body if isinstance(ins, K.Reduce) and ins.combiner in ("max", "min")]


@pytest.mark.parametrize("name", sorted(CASES))
def test_flagged_where_no_use_tells(name):
    k = kernel(name)
    assert float_minmax(k) and all(r.sign_blind == CASES[name][1] for r in float_minmax(k)), k.pretty()
    assert mark_sign_blind(k.body) == k.body  # (marking is idempotent)
    # the fast form where blind, the position key beside it where not
    text = render(k)
    assert ("%key" in text) != CASES[name][1]
    assert "@llvm.maximum" in text or "@llvm.minimum" in text


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_other_zero_changes_no_output(name, rng):
    """Soundness: the interpreter's outputs with each sign-blind result's zero flipped
    are the same bits; compiled (fast form or exact) they are the interpreter's."""
    k = kernel(name)
    v = zeros_rows(rng)
    want = I.run_kernel(k, [v.copy()])
    for n, (a, b) in enumerate(zip(I.run_kernel(flipped(k), [v.copy()]), want)):
        same_bits(a, b, f"{name}, output {n}, flipped")
    for n, (a, b) in enumerate(zip(Launcher(k)(v.copy()), want)):
        if name in ("softmax", "sum of exp(x - max)", "log_softmax"):  # (sums reassociate)
            np.testing.assert_allclose(a, b, rtol=1e-14, atol=0)
            a, b = np.where(b == 0, a, 1), np.where(b == 0, b, 1)
        same_bits(a, b, f"{name}, output {n}, compiled")


def test_float32_and_float16_rows(rng):
    for dtype in ("float32", "float16"):
        y = T.matrix("y", dtype=dtype)
        my = T.max(y, axis=1, keepdims=True)
        for outs, blind in (([T.eq(y, my), abs(y - my)], True), ([y - my], False)):
            k = lower(Fused([y], outs))
            assert [r.sign_blind for r in float_minmax(k)] == [blind]
            v = zeros_rows(rng, dtype=dtype)
            want = I.run_kernel(k, [v.copy()])
            for a, b in zip(I.run_kernel(flipped(k), [v.copy()]), want):
                same_bits(a, b, f"{dtype} flipped")
            for a, b in zip(Launcher(k)(v.copy()), want):
                same_bits(a, b, f"{dtype} compiled")


def test_a_split_reduction_flags_its_own_uses():
    """The partials are stored (not blind); the combine's uses are the original's."""
    for outs, blind in (([m > 0], True), ([m], False)):
        part, combine = split_reduction(lower(Fused([x], outs)))
        assert [r.sign_blind for r in float_minmax(part)] == [False]
        assert [r.sign_blind for r in float_minmax(combine)] == [blind]


def kernels_of(fn):
    return [s.kernel for step in fn.program.steps for s in (step if isinstance(step, tuple) else (step,))
            if isinstance(getattr(s, "kernel", None), K.Kernel)]


def test_outputs_on_the_configured_backend(rng):
    """Whatever ARIGNOTE_BACKEND / ARIGNOTE_FUSION say: the reference's zeros where an output
    shows them (rows short enough that NumPy's own reduce is the fold), and on a fused
    kernel backend softmax's max in the fast form."""
    v = zeros_rows(rng, cols=7)
    outs = [m, T.min(x, axis=1), x - mk, softmax_graph(x, 1), ag.grad(T.sum(m), x)]
    ref = ag.function([x], outs, backend="numpy")(v)
    f = ag.function([x], outs)
    for n, (a, b) in enumerate(zip(f(v), ref)):
        np.testing.assert_allclose(a, b, rtol=1e-14, atol=0)
        zero = b == 0
        np.testing.assert_array_equal(np.signbit(a[zero]), np.signbit(b[zero]), err_msg=f"output {n}")
    fused = ag.function([x], softmax_graph(x, 1))
    for k in kernels_of(fused) if fused.fusion else ():  # (unfused, the max is an output)
        assert all(r.sign_blind for r in float_minmax(k)), k.pretty()
