"""A value has one value (ARCHITECTURE invariant 9, docs/design.md): a value
recomputed in another kernel, another pass of a row kernel, a column tile's
last loop, a split reduction's combine kernel or a loop's scalar remainder has
the same bits, so a comparison against it (a max gradient's mask) holds
wherever it is made. Issue 9's two reproductions on every backend, each path
on its own, float16 reductions, the transcendentals' vector and scalar loops,
and the IR's fast-math flags."""
import numpy as np
import pytest

import arignote as ag
import arignote.tensor as T
from arignote.compiler import llvm_math
from arignote.compiler import llvm_math_fit as fit
from arignote.compiler import split_launch as SL
from arignote.compiler.llvm import render
from arignote.compiler.lower import lower
from arignote.ops.fused import Fused
from tests.test_random_gradients import distinct_values

BACKENDS = {"numpy": dict(backend="numpy"), "cpu fused": dict(backend="cpu", fusion=True),
            "cpu unfused": dict(backend="cpu", fusion=False)}


def _affine():
    x, w, b = T.dmatrix("x"), T.drow("w"), T.drow("b")
    return x, w, b, x * w + b


@pytest.mark.parametrize("backend", BACKENDS)
def test_max_gradient_of_an_affine_value(backend):
    """Issue 9: ``y = x * w + b`` recomputed in two kernels, one with a fused multiply-add,
    so ``eq(y, max(y))`` missed the maximum of most rows: a wrong gradient, no error."""
    x, w, b, y = _affine()
    cost = (y / y.max(axis=1, keepdims=True)).sum()
    r = np.random.default_rng(1)
    xv, wv, bv = r.standard_normal((50, 8)), r.standard_normal((1, 8)), r.standard_normal((1, 8))
    got = ag.function([x, w, b], ag.grad(cost, w), **BACKENDS[backend])(xv, wv, bv)

    def value(wv):
        yv = xv * wv + bv
        return (yv / yv.max(axis=1, keepdims=True)).sum()
    eps = 1e-6
    numeric = [(value(wv + eps * e) - value(wv - eps * e)) / (2 * eps) for e in np.eye(8)[:, None, :]]
    np.testing.assert_allclose(got.ravel(), numeric, rtol=1e-6, atol=1e-6)
    want = ag.function([x, w, b], ag.grad(cost, w), backend="numpy")(xv, wv, bv)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_max_gradient_of_a_column_sum_product(backend):
    """Issue 9, from the fuzzer: ``y = x - x.sum(0) * x`` on shapes as small as 3x4."""
    x = T.dmatrix("x")
    y = x - x.sum(0, keepdims=True) * x
    g = ag.grad((y / y.max(1, keepdims=True)).sum(), x)
    f, ref = ag.function([x], g, **BACKENDS[backend]), ag.function([x], g, backend="numpy")
    for seed in range(20):
        xv = np.random.default_rng(seed).standard_normal((3, 4))
        np.testing.assert_allclose(f(xv), ref(xv), rtol=1e-12, atol=1e-12, err_msg=f"seed {seed}")


# ------------------------------------------------------------ each path a value is recomputed on

@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("fusion", [True, False])
@pytest.mark.parametrize("cut", [False, True])
@pytest.mark.parametrize("axis", [1, 0, None])
def test_the_mask_of_a_recomputed_value_finds_its_maximum(dtype, fusion, cut, axis, monkeypatch):
    """``eq(y, max(y))`` holds at exactly one entry per slice (the values are distinct): ``y``
    is the same where its product ``x * w`` is stored (an output) and where it is recomputed
    whole, in the vectorized loops and their scalar remainders (odd extents), and in the
    max's pass and the mask's: passes of one row kernel, or (``cut``: the max read through a
    slice, which fusion does not fuse) other kernels -- a row reduction, column tiles
    (axis 0), split partials and their combine kernel (few rows, or everything)."""
    monkeypatch.setattr(SL, "SPLIT_MIN_WORK", 1)
    monkeypatch.setattr(SL, "CHUNK_WORK", 64)
    x, w, b = T.matrix("x", dtype=dtype), T.row("w", dtype=dtype), T.row("b", dtype=dtype)
    p = x * w
    y = p + b
    top = y.max(axis=axis, keepdims=True)
    if cut:
        top = top[tuple(slice(None, 1) if axis in (None, d) else slice(None) for d in range(2))]
    mask = T.eq(y, top)
    outs = [mask.sum(axis=axis), T.max(y, axis=axis), (y * mask).sum(axis=axis), p]
    f = ag.function([x, w, b], outs, fusion=fusion)
    r = np.random.default_rng(7)
    for shape in [(37, 45), (5, 131), (300, 3)]:
        xv = r.standard_normal(shape).astype(dtype)
        wv, bv = r.standard_normal((2, 1, shape[1])).astype(dtype)
        count, top, picked, _ = f(xv, wv, bv)
        assert (count == 1).all(), f"{shape}: the mask found {count.ravel().tolist()} maxima"
        np.testing.assert_array_equal(picked, top)


@pytest.mark.parametrize("axis", [1, 0])
def test_a_float16_reduction_uses_the_value_it_stores(axis):
    """A float16 sum accumulates in float; the kernel's own epilogue used the float
    accumulator while the stored result was rounded to half, so ``x - s`` in the kernel
    was not ``x - s`` of the stored ``s``."""
    x = T.matrix("x", dtype="float16")
    s = x.sum(axis=axis, keepdims=True)
    f = ag.function([x], [s, x - s, T.ge(x, s), s * 3])  # a row kernel; a column tile (axis 0)
    xv = np.random.default_rng(0).standard_normal((40, 300)).astype("float16")
    sv, d, ge, s3 = f(xv)
    np.testing.assert_array_equal(d, xv - sv)
    np.testing.assert_array_equal(ge, xv >= sv)
    np.testing.assert_array_equal(s3, sv * np.float16(3))
    sv, s3 = ag.function([x], [s, s * 3])(xv)  # kept space only: column tiles for axis 0
    np.testing.assert_array_equal(s3, sv * np.float16(3))


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_vector_and_scalar_remainder_loops_agree(dtype):
    """An element computed in the vectorized loop has the bits it has alone (scalar loop)."""
    a, b, c = (T.vector(n, dtype=dtype) for n in "abc")
    out = T.exp(a * b + c) * T.tanh(a) - b / (c * c + 1) + T.sqrt(abs(a * c - b))
    f = ag.function([a, b, c], out)
    vals = np.random.default_rng(3).uniform(-2, 2, (3, 203)).astype(dtype)
    whole = f(*vals)
    alone = np.concatenate([f(*vals[:, i:i + 1]) for i in range(vals.shape[1])])
    np.testing.assert_array_equal(whole, alone)


@pytest.fixture(scope="module")
def math_functions():
    engine, _, fns = fit.jit_apply([(op, dt) for op in sorted(llvm_math.MATH_FUNCTIONS)
                                    for dt in ("float32", "float64")])
    yield fns
    del engine


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_math_functions_have_the_same_bits_in_vector_and_scalar_loops(math_functions, dtype):
    """llvm_math has no fast-math flags and explicit ``llvm.fma``: widened or not, the same
    IEEE operations, so the same bits (exp(y) recomputed in a remainder loop is exp(y))."""
    r = np.random.default_rng(5)
    x = np.concatenate([r.uniform(-3, 3, 150), r.uniform(-100, 100, 40), [0.0, -0.0, np.inf, -np.inf, np.nan],
                        np.exp(r.uniform(-80, 80, 60)) * r.choice([-1, 1], 60)]).astype(dtype)
    ints = np.int64 if dtype == "float64" else np.int32
    with np.errstate(all="ignore"):
        for op in sorted(llvm_math.MATH_FUNCTIONS):
            fn = math_functions[op, dtype]
            whole = fn(x)
            alone = np.concatenate([fn(x[i:i + 1]) for i in range(x.size)])
            np.testing.assert_array_equal(whole.view(ints), alone.view(ints), err_msg=op)


def test_the_ir_has_no_contraction():
    """No ``contract`` anywhere (it is what let LLVM fuse ``x * w + b`` in one kernel and not
    another); ``reassoc`` only on the reduction accumulator."""
    x, w, b, y = _affine()
    ir = render(lower(Fused([x, w, b], [T.exp(y) / T.sum(y * y, axis=1, keepdims=True)])))
    assert "contract" not in ir and " fast " not in ir and "fmuladd" not in ir
    reassoc = [line for line in ir.splitlines() if "reassoc" in line]
    # (one accumulator in the row-by-row body, one in the row tiles' function)
    assert len(reassoc) == 2 and all("fadd reassoc double" in line for line in reassoc)


def test_max_gradient_of_a_row_over_all_axes_matches_the_reference():
    """Found by make test-long: the mean's sum sat in the max's row kernel, and a copy of
    ``sum / n`` in the gradient's kernel read it from a second, standalone sum (another
    summation order): the two means differed in the last bit and the mask missed."""
    x = T.drow("x")
    y = (x * x + x) * x.mean() + abs(x)
    g = ag.grad((y / (1 + y.max() ** 2)).sum(), x)
    v = distinct_values([(1, 33), (1,)], 2)[0]
    want = ag.function([x], g, backend="numpy")(v)
    np.testing.assert_allclose(ag.function([x], g, backend="cpu", fusion=True)(v), want, rtol=1e-9, atol=1e-9)
