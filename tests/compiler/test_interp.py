"""The kernel-IR interpreter (backend 'interp') as the oracle of the LLVM renderer.

Each case lowers a Fused group to a Kernel, then runs the compiled kernel and
the interpreter on the same inputs. The documented agreement:

* integer and bool outputs: bit for bit;
* float outputs of correctly rounded operations (+ - * /, sqrt, casts,
  rounding, comparisons, floor division and modulo, max/min, float16
  rounding after each op): bit for bit (0 ulps), the sign of zero included;
* transcendentals: within :data:`TRANSCENDENTAL_ULPS` (each side is within a
  few ulps of the exact value: docs/transcendentals.md, NumPy's loops);
* float reductions, and what is computed from them (means, softmax, layer
  norm): the IR leaves the order of a float sum open, so within
  :data:`REDUCTION_ULPS` ``* n`` ulps of the output's largest magnitude, for
  ``n`` terms.

Then end-to-end: ``backend='interp'`` against the reference backend.
"""
import dataclasses

import numpy as np
import pytest

import arignote as ag
import arignote.tensor as T
from arignote.compiler import interp as I
from arignote.compiler import kernel as K
from arignote.compiler import llvm_scalar
from arignote.compiler.launch import Launcher
from arignote.compiler.lower import EXPENSIVE, lower
from arignote.compiler.split import chunk_axis, chunked_loads, split_reduction
from arignote.compiler.split_launch import _chunks
from arignote.errors import ArignoteError, ArignoteTypeError, ArignoteValueError, ShapeError
from arignote.ops.fused import Fused
from arignote.passes.expand import softmax_graph
from arignote.runtime.kernels import KernelStep
from tests.compiler.conftest import CAST_DTYPES, cast_values, every_scalar_op
from tests.util import assert_close, rand

TRANSCENDENTAL_ULPS = 4
REDUCTION_ULPS = 4


# ------------------------------------------------------------ comparing

def ulp_distance(a, b):
    """Elementwise distance between float arrays ``a`` and ``b`` (one dtype) in steps of
    the dtype's grid of values: adjacent floats are 1 apart, -0.0 and +0.0 too; 0 where
    both are NaN, inf where one is."""
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.dtype.kind == "f"
    ints = np.dtype(f"int{8 * a.dtype.itemsize}")
    mask = np.iinfo(ints).max

    def key(x):  # the float's rank on the grid: -0.0 is -1, +0.0 is 0
        bits = x.view(ints).astype(np.int64)
        return np.where(bits < 0, -1 - (bits & mask), bits)
    ka, kb = key(a), key(b)
    same_sign = (ka < 0) == (kb < 0)
    dist = np.where(same_sign, np.abs(np.where(same_sign, ka - kb, 0)).astype(float),
                    np.abs(ka.astype(float) - kb.astype(float)))
    na, nb = np.isnan(a), np.isnan(b)
    return np.where(na & nb, 0.0, np.where(na | nb, np.inf, dist))


def test_ulp_distance():
    f = np.float32
    one = np.array([1.0], f)
    assert ulp_distance(one, np.nextafter(one, f(2))).tolist() == [1.0]
    assert ulp_distance(np.array([-0.0]), np.array([0.0])).tolist() == [1.0]
    tiny = np.array([np.finfo(f).smallest_subnormal], f)
    assert ulp_distance(-tiny, tiny).tolist() == [3.0]  # -tiny, -0, +0, +tiny
    assert ulp_distance(np.array([np.nan, np.nan, np.inf]), np.array([np.nan, 1.0, np.inf])).tolist() \
        == [0.0, np.inf, 0.0]
    big = np.array([np.finfo(np.float64).max])
    assert ulp_distance(big, np.nextafter(big, 0)).tolist() == [1.0]


def assert_matches(got, want, ulps=0, terms=None, what="output"):
    """``got`` (compiled) agrees with ``want`` (interpreted): bitwise for integers and
    bools, within ``ulps`` for floats; with ``terms`` (a reduction of that many terms),
    within ``REDUCTION_ULPS * terms`` ulps of the largest finite magnitude of ``want``."""
    assert got.dtype == want.dtype and got.shape == want.shape, \
        f"{what}: {got.dtype}{got.shape} vs {want.dtype}{want.shape}"
    if want.dtype.kind != "f":
        np.testing.assert_array_equal(got, want, err_msg=what)
        return
    if terms is None:
        dist = ulp_distance(got, want)
        bad = dist > ulps
    else:
        finite = np.isfinite(want)
        scale = np.max(np.abs(want[finite]), initial=0).astype(want.dtype)
        allowed = REDUCTION_ULPS * max(terms, 1) * np.spacing(scale)
        with np.errstate(invalid="ignore"):
            bad = ~((np.abs(got.astype(float) - want) <= allowed) |
                    (ulp_distance(got, want) == 0))
    if bad.any():
        i = np.flatnonzero(bad)[0]
        raise AssertionError(f"{what}: {bad.sum()} of {bad.size} elements differ beyond tolerance, "
                             f"first at flat index {i}: compiled {got.flat[i]!r}, interpreted "
                             f"{want.flat[i]!r}")


def run_both(kernel, *values, ulps=0, terms=None, names=None):
    """Run ``kernel`` compiled and interpreted on copies of ``values``; compare. Returns
    the interpreted outputs."""
    got = Launcher(kernel)(*[np.array(v) for v in values])
    want = I.run_kernel(kernel, [np.array(v) for v in values])
    assert len(got) == len(want)
    for n, (g, w) in enumerate(zip(got, want)):
        tol = ulps(names[n]) if callable(ulps) else ulps
        assert_matches(g, w, tol, terms, what=names[n] if names else f"output {n}")
    return want


def kernel_of(inputs, outputs):
    return lower(Fused(inputs, outputs))


# ------------------------------------------------------------ every scalar op

def _values(dtype, rng):
    """Edge cases, then random values (floats: as in test_llvm; integers: both ends)."""
    dt = np.dtype(dtype)
    if dt.kind == "b":
        return rng.integers(0, 2, 24).astype(bool)
    if dt.kind == "f":
        edges = [0.0, -0.0, 0.5, -0.5, 1.0, -1.0, 1.5, -2.5, 2.5, 3.0, -7.0, 100.0, 1e-3,
                 np.nan, np.inf, -np.inf, 1e-40, 88.8, -104.0, 710.0, 60000.0, 2147483647.0]
        with np.errstate(over="ignore"):
            return np.array(edges + list(rng.uniform(-3, 3, 10)), dtype)
    info = np.iinfo(dt)
    edges = [0, 1, 2, 3, 7, 100, info.max, info.min, info.max // 3]
    if dt.kind == "i":
        edges += [-1, -2, -7, -100]
    return np.array(edges + list(rng.integers(max(info.min, -50), min(info.max, 50), 11)), dtype)


def _inputs(dtype, rng):
    x = _values(dtype, rng)
    y = np.roll(_values(dtype, np.random.default_rng(5)), 5)
    out = {"x": x, "y": y, "z": np.roll(x, 3)}
    if np.dtype(dtype).kind in "iu":
        if np.dtype(dtype).kind == "i":
            x[-1], y[-1] = np.iinfo(dtype).min, -1  # MIN // -1 and MIN % -1
        out.update(e=(y.astype(np.int64) % 6).astype(dtype), nz=np.where(x == 0, 1, x).astype(dtype))
    return out


#: for these ops NumPy raises (pow) or leaves the value undefined (reciprocal of 0)


def _op_ulps(name):
    return TRANSCENDENTAL_ULPS if name in EXPENSIVE else 0


@pytest.mark.parametrize("nin", [1, 2, 3])
@pytest.mark.parametrize("dtype", ["float16", "float32", "float64", "int8", "int32", "int64",
                                   "uint8", "uint64", "bool"])
def test_every_scalar_op(dtype, nin, rng):
    """One multi-output kernel per (dtype, arity) holding every op NumPy defines there:
    int //, %, ** included (0 ulps but for transcendentals)."""
    values = _inputs(dtype, rng)
    syms = {k: T.vector(k, dtype=dtype) for k in values}
    outs, names = every_scalar_op(syms, nin, special=np.dtype(dtype).kind in "iu")
    used = [k for k in values if any(syms[k] in o.owner.inputs for o in outs)]
    run_both(kernel_of([syms[k] for k in used], outs), *[values[k] for k in used],
             ulps=_op_ulps, names=names)


@pytest.mark.parametrize("src", CAST_DTYPES)
def test_casts(src):
    """Every cast, out-of-range floats to integers included (NumPy's values on the host)."""
    values = cast_values(src, out_of_range=True)
    x = T.vector("x", dtype=src)
    targets = [d for d in CAST_DTYPES if d != src]
    run_both(kernel_of([x], [T.cast(x, d) for d in targets]), values, names=targets)


def test_mixed_dtypes_promote_and_compare_exactly():
    a, b = T.vector("a", dtype="uint64"), T.vector("b", dtype="int64")
    h, i = T.vector("h", dtype="float16"), T.vector("i", dtype="int8")
    kernel = kernel_of([a, b, h, i], [T.lt(a, b), T.eq(a, b), T.ge(a, b), a + b, h * i, h > i,
                                      T.true_div(i, i), i // h, h ** 2])
    run_both(kernel, np.array([2 ** 63 + 1, 5, 0], "uint64"), np.array([-1, 5, -(2 ** 63)], "int64"),
             np.array([0.1, -3.5, 60000], "float16"), np.array([3, -128, 7], "int8"))


def test_float16_chain_rounds_after_each_op(rng):
    x, y = T.vector("x", dtype="float16"), T.vector("y", dtype="float16")
    kernel = kernel_of([x, y], [x * y + x, (x - y) / (y + 3), T.sqrt(T.abs(x)), T.exp(x / 8) - y])
    run_both(kernel, rand(64, "float16", rng, -4, 4), rand(64, "float16", rng, 0, 4),
             ulps=lambda name: TRANSCENDENTAL_ULPS if name == "exp" else 0,
             names=["mul add", "div", "sqrt", "exp"])


def test_integer_power_to_a_negative_exponent_raises_like_compiled_code():
    x, y = T.vector("x", dtype="int32"), T.vector("y", dtype="int32")
    kernel = kernel_of([x, y], [T.pow(x, y)])
    for run in (Launcher(kernel), I.Interpreter(kernel)):
        with pytest.raises(ArignoteValueError, match="integers to negative integer powers"):
            run(np.array([2, 3], "int32"), np.array([1, -1], "int32"))
        assert run(np.array([2, 3], "int32"), np.array([3, 2], "int32"))[0].tolist() == [8, 9]
    # no point, no power: an empty index space never raises
    assert I.run_kernel(kernel, [np.zeros(0, "int32"), np.zeros(0, "int32")])[0].shape == (0,)


# ------------------------------------------------------------ broadcasting and views

VIEWS = {
    "x + row": lambda x, r: x + r,
    "x.T * 2 + x.T": lambda x, r: x.T * 2 + x.T,
    "x * x.T": lambda x, r: x[:3, :3] * x[:3, :3].T,
    "x[1:, ::-1]": lambda x, r: x[1:, ::-1] * 3 - r[:, ::-1],
    "x[::-2, 1:3]": lambda x, r: x[::-2, 1:3] + 1,
    "x[0] + r[0]": lambda x, r: x[0] + r[0],
    "x[None, 1:]": lambda x, r: T.exp(x[None, 1:]),
    "reshape": lambda x, r: x.reshape((-1,)) * 2,
    "dimshuffle": lambda x, r: x.dimshuffle(1, "x", 0) + 1,
}


@pytest.mark.parametrize("name", list(VIEWS))
@pytest.mark.parametrize("dtype", ["float64", "int32"])
@pytest.mark.parametrize("shape", [(4, 5), (1, 1), (0, 5), (4, 0)])
def test_broadcasting_and_views(name, dtype, shape, rng):
    x = T.matrix("x", dtype=dtype)
    r = T.tensor(dtype, (1, None), name="r")
    out = VIEWS[name](x, r)
    kernel = kernel_of([x, r], [out])
    xv = rand(shape, dtype, rng)
    rv = rand((1, shape[1]), dtype, rng)
    try:
        with np.errstate(all="ignore"):
            Fused([x, r], [out]).perform(None, [xv, rv])
    except (IndexError, ValueError, ArignoteError):  # the reference refuses: both must too
        for run in (Launcher(kernel), I.Interpreter(kernel)):
            with pytest.raises(ArignoteError):
                run(xv, rv)
        return
    want = run_both(kernel, xv, rv, ulps=TRANSCENDENTAL_ULPS)
    assert_close(want[0], Fused([x, r], [out]).perform(None, [xv, rv])[0])


def test_strided_and_negative_stride_inputs(rng):
    x, y = T.matrix("x"), T.matrix("y")
    kernel = kernel_of([x, y], [x * y - x, T.maximum(x, y)])
    a = rand((6, 8), rng=rng)
    for u, v in [(a[::2], a[1::2]), (a.T[::-1], a.T), (a[:, ::-3], a[:, 1::3])]:
        run_both(kernel, u, v)


# ------------------------------------------------------------ reductions

COMBINERS = ("sum", "prod", "max", "min", "all", "any")


def _reduction_values(shape, dtype, combiner, rng):
    if combiner == "prod" and dtype.startswith("float"):
        return rand(shape, dtype, rng, 0.5, 1.5)
    if dtype.startswith("float"):
        return rand(shape, dtype, rng, 0.25, 3)  # terms of one sign: the sum is well conditioned
    return rand(shape, dtype, rng, -3, 3)


@pytest.mark.parametrize("combiner", COMBINERS)
@pytest.mark.parametrize("dtype", ["float16", "float32", "float64", "int32", "uint8", "bool"])
def test_every_combiner(combiner, dtype, rng):
    """Row, column (the renderer's column tiles) and full reductions, keepdims, an
    epilogue; empty and size-1 extents."""
    x = T.matrix("x", dtype=dtype)
    fn = getattr(T, combiner)
    for axis, keepdims in [(1, False), (0, True), (0, False), (None, False), ((0, 1), True)]:
        out = fn(x, axis=axis, keepdims=keepdims)
        kernel = kernel_of([x], [out])
        for shape in [(5, 7), (1, 9), (6, 1), (0, 4), (3, 0)]:
            value = _reduction_values(shape, dtype, combiner, rng)
            terms = int(np.prod([shape[a] for a in kernel.reduce_axes]))
            if combiner in ("max", "min") and terms == 0 and any(
                    isinstance(ins, K.Reduce) and ins.needs_elements for ins in kernel.body):
                for run in (Launcher(kernel), I.Interpreter(kernel)):
                    with pytest.raises(ArignoteValueError, match="of nothing is undefined"):
                        run(value)
                continue
            run_both(kernel, value, terms=terms if combiner in ("sum", "prod") else None)


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_max_and_min_of_signed_zeros(dtype):
    """Between -0.0 and +0.0, reductions and elementwise max/min choose as NumPy does."""
    v = np.array([[0.0, -0.0, 0.0], [-0.0, 0.0, -0.0], [-0.0, -1, 0.0], [0.0, 1, -0.0]], dtype)
    x, y = T.matrix("x", dtype=dtype), T.matrix("y", dtype=dtype)
    for axis in (0, 1, None):
        kernel = kernel_of([x], [T.max(x, axis=axis), T.min(x, axis=axis)])
        for value in (v, v.T.copy().T, v[::-1]):
            run_both(kernel, value)
    run_both(kernel_of([x, y], [T.maximum(x, y), T.minimum(x, y)]), v, v[:, ::-1])
    # long contiguous runs (NumPy's own reduce would use SIMD lanes): the fold in C order
    rng = np.random.default_rng(7)
    long = np.where(rng.random((3, 300)) < 0.5, -0.0, 0.0).astype(dtype)
    long[:, -3:] = -1.0
    for axis in (1, None):
        kernel = kernel_of([x], [T.max(x, axis=axis), T.min(-x, axis=axis)])
        want = run_both(kernel, long)
        rows = long if axis else long.reshape(1, -1)
        kept = rows[:, 0] if dtype == "float16" else rows[:, -4]  # float16 keeps the first zero
        assert np.signbit(want[0]).ravel().tolist() == np.signbit(kept).tolist()


def test_reduction_prologue_epilogue_and_initial(rng):
    x, b = T.matrix("x"), T.vector("b")
    xv, bv = rand((13, 3), rng=rng, low=0.1), rand((3,), rng=rng, low=0.1)
    kernel = kernel_of([x, b], [T.sum(x * 2 + b, axis=0) * 0.25 + b,
                                T.max(T.exp(x), axis=0, keepdims=True), T.sum(x, axis=0, initial=5.0)])
    run_both(kernel, xv, bv, terms=13)
    kernel = kernel_of([x, b], [T.sum(x * b, axis=1, initial=5.0), T.min(x + 1, axis=1, initial=1.5)])
    run_both(kernel, xv, bv, terms=3)
    ints = T.matrix("i", dtype="int32")
    big = rand((41, 3), "int32", rng, 2, 9)
    want = run_both(kernel_of([ints], [T.prod(ints), T.sum(ints * 1_000_000_000)]), big)
    assert want[0] == np.prod(big, dtype=np.int32)  # wrapped as NumPy wraps
    run_both(kernel_of([ints], [T.sum(ints * 1_000_000_000, axis=0)]), big)


def test_sum_of_a_value_constant_along_the_reduced_axes_counts_every_point(rng):
    x, b = T.matrix("x"), T.vector("b")
    kernel = kernel_of([x, b], [T.sum(T.ones_like(x) * 2 + b.dimshuffle(0, "x"), axis=1)])
    want = run_both(kernel, rand((3, 7), rng=rng), np.arange(3.0))
    np.testing.assert_array_equal(want[0], 7 * (2 + np.arange(3.0)))


ROWS = {
    "softmax": lambda x: softmax_graph(x, 1),
    "log_softmax": lambda x: softmax_graph(x, 1, log=True),
    "softmax axis 0": lambda x: softmax_graph(x, 0),
    "layer_norm": lambda x: _layer_norm(x),
}


def _layer_norm(x):
    mean = T.sum(x, axis=1, keepdims=True) * 0.125
    d = x - mean
    return d / T.sqrt(T.sum(d * d, axis=1, keepdims=True) * 0.125 + 1e-5)


@pytest.mark.parametrize("name", list(ROWS))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_row_kernels(name, dtype, rng):
    x = T.matrix("x", dtype=dtype)
    kernel = kernel_of([x], [ROWS[name](x)])
    assert kernel.passes >= 2
    for shape in [(5, 8), (0, 5), (4, 0), (4, 1), (1, 1)]:
        run_both(kernel, rand(shape, dtype, rng, -5, 5), terms=max(shape) + 8)


def test_softmax_reads_back_what_an_earlier_pass_stored(rng):
    x = T.matrix("x")
    kernel = kernel_of([x], [softmax_graph(x, 1)])
    assert any(isinstance(ins, K.Load) and kernel.params[ins.param].role == "out" for ins in kernel.body)
    a = rand((4, 6), rng=rng)
    (got,) = I.run_kernel(kernel, [a])
    e = np.exp(a - a.max(1, keepdims=True))
    np.testing.assert_allclose(got, e / e.sum(1, keepdims=True), rtol=1e-15)


@pytest.mark.parametrize("dtype", ["float64", "int32"])
def test_split_reductions(dtype, rng):
    """The partial and the combine kernel of a split, each against its compiled code,
    and chained against the plain kernel (exact for integers)."""
    x, b = T.matrix("x", dtype=dtype), T.vector("b", dtype=dtype)
    kernel = kernel_of([x, b], [T.sum(x * b, axis=0) + b, T.max(x, axis=0), T.min(x + b, axis=0)])
    part, comb = split_reduction(kernel)
    xv, bv = _reduction_values((10, 3), dtype, "sum", rng), _reduction_values((3,), dtype, "sum", rng)
    r = chunk_axis(kernel)
    n, C = 3, 3  # chunks of 3 of the 10 rows, and one chunk of the last one
    chunks = [_chunks(xv, d, 0, n, C) for j, _, d in chunked_loads(kernel)]
    tail = [_chunks(xv, d, n * C, 1, xv.shape[r] - n * C) for j, _, d in chunked_loads(kernel)]
    partials = [np.concatenate([a, t]) for a, t in zip(run_both(part, xv, bv, *chunks, terms=C),
                                                        run_both(part, xv, bv, *tail, terms=1))]
    got = run_both(comb, xv, bv, *partials, terms=n + 1)
    want = I.run_kernel(kernel, [xv, bv])
    for g, w in zip(got, want):
        assert_matches(g, w, terms=10)


def test_in_place_updates(rng):
    """An output written over its input: the input's array, the same values."""
    x, y = T.matrix("x"), T.matrix("y")
    kernel = dataclasses.replace(kernel_of([x, y], [x * 0.5 + y]), inplace=((2, 0),))
    a, b = rand((5, 4), rng=rng), rand((5, 4), rng=rng)
    want = a * 0.5 + b
    for run in (Launcher(kernel), I.Interpreter(kernel)):
        c = a.copy()
        (got,) = run(c, b)
        assert got is c
        np.testing.assert_array_equal(got, want)
    # softmax over its own input: pass 2 reads back pass 1's stores, pass 0 read the input
    kernel = dataclasses.replace(kernel_of([x], [softmax_graph(x, 1)]), inplace=((1, 0),))
    for run in (Launcher(kernel), I.Interpreter(kernel)):
        c = a.copy()
        (got,) = run(c)
        assert got is c
    run_both(kernel, a, terms=4)


def test_multiple_outputs_and_a_0d_space(rng):
    s, t = T.scalar("s"), T.scalar("t", dtype="int64")
    kernel = kernel_of([s, t], [s * 2 + t, T.cast(t * 3, "int8"), T.gt(s, t)])
    assert kernel.ndim == 0
    run_both(kernel, np.float64(2.5), np.int64(-4))


# ------------------------------------------------------------ the IR's rules

def test_ill_formed_kernels_are_refused():
    p = (K.Param("in0", "float64", 1, "in"), K.Param("out0", "float64", 1, "out"))
    load = K.Load("float64", 0, (0,), 1)
    red = K.Reduce("float64", "sum", 0, 0.0)
    cases = {
        "outside 0..0": (K.Load("float64", 0, (0,), 1), K.Store("float64", 1, (0,), 0, 1)),
        "a reduced axis outside a pass": (K.Load("float64", 0, (0,), 0),),
        "which is not an output": (load, K.Store("float64", 0, (0,), 0, 1)),
        "at level 1 reads %1 of level 1": (load, red, K.Store("float64", 1, (0,), 1, 1)),
        "no combiner": (load, K.Reduce("float64", "all", 0, True)),
        "not defined before it": (K.Store("float64", 1, (0,), 0, 1), load),
    }
    for why, body in cases.items():
        reduced = () if why == "outside 0..0" else (0,)
        with pytest.raises(ValueError, match=why):
            I.check(K.Kernel("k", p, 1, reduced, body))
    # a value of pass 0 used in pass 1 (a later pass must recompute it)
    two = K.Kernel("k", p, 1, (0,), (load, red, K.ScalarOp("float64", "add", (0, 1), 3),
                                      K.Store("float64", 1, (0,), 2, 3)))
    with pytest.raises(ValueError, match="at level 3 reads %0 of level 1"):
        I.check(two)


def test_an_axis_named_twice_reads_and_writes_a_diagonal():
    p = (K.Param("in0", "float64", 2, "in"), K.Param("out0", "float64", 2, "out"),
         K.Param("out1", "float64", 1, "out"))
    body = (K.Load("float64", 0, (0, 0)), K.Const("float64", 2.0),
            K.ScalarOp("float64", "mul", (0, 1)), K.Store("float64", 1, (0, 0), 2),
            K.Store("float64", 2, (0,), 0))
    kernel = K.Kernel("diag", p, 1, (), body)
    a = np.arange(16.0).reshape(4, 4)
    diag = np.diag(a)
    for run in (Launcher(kernel), I.Interpreter(kernel)):
        out = np.zeros((4, 4))
        got = run(a, outputs=[out, None])
        np.testing.assert_array_equal(np.diag(got[0]), 2 * diag)
        np.testing.assert_array_equal(got[0] - np.diag(2 * diag), 0)
        np.testing.assert_array_equal(got[1], diag)


def test_a_store_of_values_varying_along_an_axis_it_does_not_follow_is_refused():
    p = (K.Param("in0", "float64", 2, "in"), K.Param("out0", "float64", 1, "out"))
    body = (K.Load("float64", 0, (0, 1)), K.Store("float64", 1, (0,), 0))
    with pytest.raises(ValueError, match="varying along axis 1"):
        I.run_kernel(K.Kernel("k", p, 2, (), body), [np.ones((2, 3))])


def test_predicates_are_the_renderers():
    assert I.PREDICATES == llvm_scalar.PREDICATES


def test_argument_errors_are_the_launchers(rng):
    x, y = T.matrix("x"), T.matrix("y")
    kernel = kernel_of([x, y], [x + y])
    for run in (Launcher(kernel, labels=["x", "y"]), I.Interpreter(kernel, labels=["x", "y"])):
        with pytest.raises(ShapeError, match="inputs x of shape \\(2, 3\\), y of shape \\(3, 2\\)"):
            run(np.ones((2, 3)), np.ones((3, 2)))
        with pytest.raises(ArignoteTypeError, match="must be a 2-d float64 array"):
            run(np.ones((2, 3), "float32"), np.ones((2, 3)))


# ------------------------------------------------------------ backend 'interp'

def test_backend_interp_runs_kernels_and_matches_the_reference(rng):
    x, y = T.matrix("x"), T.ivector("y")
    w = ag.shared(rand((5, 3), rng=rng), name="w")
    p = T.nnet.softmax(T.dot(x, w))
    cost = -T.mean(T.nnet.log_softmax(T.dot(x, w))[T.arange(y.shape[0]), y])
    g = ag.grad(cost, w)
    outs = [p, cost, g, T.sum(x * 2, axis=0), T.cast(T.argmax(x, axis=1), "int8") // 2]
    ref = ag.function([x, y], outs, backend="numpy")
    it = ag.function([x, y], outs, backend="interp")
    assert any(isinstance(step, KernelStep) and isinstance(step.launcher, I.Interpreter)
               for _, step, *_ in it.program.steps)
    vals = rand((8, 5), rng=rng), rng.integers(0, 3, 8).astype("int32")
    for got, expected in zip(it(*vals), ref(*vals)):
        assert_close(got, expected)


def test_backend_interp_updates_in_place(rng):
    w = ag.shared(rand((300, 200), rng=rng), name="w")
    x = T.matrix("x")
    f = ag.function([x], T.sum(w), updates={w: w * 0.5 + x}, backend="interp", fusion=True)
    assert f.program.inplace_updates == 1
    old, a = w.get_value(), rand((300, 200), rng=rng)
    f(a)
    np.testing.assert_array_equal(w.get_value(), old * 0.5 + a)


def test_backend_interp_falls_back_to_the_reference_for_its_errors(rng):
    x, y = T.vector("x"), T.vector("y")
    out = T.exp(x) + y
    errors = []
    for backend in ("cpu", "interp"):
        f = ag.function([x, y], out, backend=backend)
        with pytest.raises(ShapeError) as info:
            f(np.ones(3), np.ones(4))
        errors.append(str(info.value))
    assert errors[0] == errors[1]


def test_backend_interp_from_the_environment(monkeypatch):
    monkeypatch.setenv("ARIGNOTE_BACKEND", "interp")
    from arignote.config import Config
    assert Config().backend == "interp"
    monkeypatch.setattr(ag.config, "backend", "interp")
    x = T.vector("x")
    f = ag.function([x], x * 2 + 1)
    assert f.backend == "interp"
    np.testing.assert_array_equal(f(np.arange(3.0)), [1.0, 3.0, 5.0])
