"""Column reductions: a one-pass kernel whose last axis is kept while a reduced axis
precedes it renders as column tiles (the schedule's ``tile_axis``). Every combiner and dtype
against the group's reference ``perform``, widths around the tile size, empty and
size-1 axes, 3-d spaces, strided inputs, a full-space output stored inside the
pass, chunked runs, and the vector loop in the optimized IR."""
import dataclasses
import re

import numpy as np
import pytest

import arignote.tensor as T
from arignote.compiler import kernel as K
from arignote.compiler.jit import optimized_ir
from arignote.compiler.launch import Launcher
from arignote.compiler.llvm import render
from arignote.compiler.schedule import CPU, tile_axis
from arignote.compiler.lower import lower
from arignote.ops.fused import Fused
from tests.compiler.conftest import check_launch, compile_group
from tests.util import rand

TILE = CPU.column_tile

#: combiner -> (dtypes, graph)
COMBINERS = {
    "sum": (("float32", "float64", "int32"), lambda x: T.sum(x, axis=0)),
    "prod": (("float32", "float64", "int32"), lambda x: T.prod(x, axis=0)),
    "max": (("float32", "float64", "int32"), lambda x: T.max(x, axis=0)),
    "min": (("float32", "float64", "int32"), lambda x: T.min(x, axis=0)),
    "all": (("bool",), lambda x: T.all(x, axis=0)),
    "any": (("bool",), lambda x: T.any(x, axis=0)),
}
CASES = [(c, d) for c, (dtypes, _) in COMBINERS.items() for d in dtypes]
#: heights x widths: around one tile, several tiles, empty and size-1 axes
SHAPES = [(7, 5), (3, TILE + 5), (2, 2 * TILE), (0, 5), (5, 0), (0, 0), (1, 1), (1, 9), (9, 1)]


def data(shape, dtype, rng, special=True):
    """Random values; floats get NaN, infinities and signed zeros in some columns."""
    if dtype == "bool":  # mostly True, so all() is not always False
        return rng.random(shape) < 0.8
    a = rand(shape, dtype, rng, low=-3, high=3) if dtype != "int32" else rand(shape, dtype, rng, -3, 3)
    if special and np.dtype(dtype).kind == "f" and a.size:
        flat = a.reshape(-1)
        flat[rng.integers(0, flat.size, 3)] = [np.nan, np.inf, -0.0]
    return a


def tiled(fused, launcher, axis=None):
    sched = launcher.kernel.schedule
    want = launcher.kernel.ndim - 1 if axis is None else axis
    assert sched.tile_axis == tile_axis(launcher.kernel) == want
    assert sched.tile == TILE and sched.min_chunk == (TILE if sched.chunk_axis == sched.tile_axis else 1)
    return fused, launcher


@pytest.mark.parametrize("combiner,dtype", CASES)
@pytest.mark.parametrize("shape", SHAPES)
def test_every_combiner_over_columns(combiner, dtype, shape, rng):
    if combiner in ("max", "min") and shape[0] == 0:
        return  # NumPy raises: covered by test_strict_max_over_an_empty_axis_raises
    x = T.matrix("x", dtype=dtype)
    fused, launcher = tiled(*compile_group([x], [COMBINERS[combiner][1](x)]))
    check_launch(fused, launcher, data(shape, dtype, rng))


def test_strict_max_over_an_empty_axis_raises():
    x = T.matrix("x")
    fused, launcher = tiled(*compile_group([x], [T.max(x, axis=0)]))
    with pytest.raises(ValueError, match="maximum of nothing"):
        launcher(np.zeros((0, 3)))
    check_launch(fused, launcher, np.zeros((3, 0)))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(6, 11), (4, TILE + 3), (1, 1), (5, 0)])
def test_prologue_epilogue_broadcasting_and_a_full_space_output(dtype, shape, rng):
    """The MLP bias gradient: a full-space value stored inside the pass next to its
    column sum, per-column values (a row vector, an exp of it, a bool mask) computed
    once per tile, and an epilogue using the sums and the per-column values."""
    g, h = T.matrix("g", dtype=dtype), T.matrix("h", dtype=dtype)
    v, m = T.vector("v", dtype=dtype), T.vector("m", dtype="bool")
    d = g * (1 - h ** 2)
    scaled = T.switch(m.dimshuffle("x", 0), d * T.exp(v).dimshuffle("x", 0), h)
    outs = [d, T.sum(d, axis=0), T.sum(scaled, axis=0) * 0.25 + v,
            T.max(scaled, axis=0) / 3, T.any(T.gt(g, v.dimshuffle("x", 0)), axis=0)]
    fused, launcher = tiled(*compile_group([g, h, v, m], outs))
    check_launch(fused, launcher, data(shape, dtype, rng), data(shape, dtype, rng, False),
                 data(shape[1:], dtype, rng, False), data(shape[1:], "bool", rng))


def test_int_and_bool_prologues_and_casts(rng):
    x, b = T.matrix("x", dtype="int32"), T.matrix("b", dtype="bool")
    outs = [T.sum(x * 2 + 1, axis=0), T.sum(b, axis=0), T.max(T.cast(x, "float32") * 0.5, axis=0),
            T.prod(x, axis=0) - T.min(x, axis=0), T.all(T.or_(b, T.gt(x, 0)), axis=0)]
    fused, launcher = tiled(*compile_group([x, b], outs))
    for shape in [(5, 7), (3, TILE + 1), (0, 3), (1, 1)]:
        if shape[0] == 0:
            continue  # max/min of nothing
        check_launch(fused, launcher, data(shape, "int32", rng), data(shape, "bool", rng))


def test_float16_sums_round_like_numpy(rng):
    x = T.matrix("x", dtype="float16")
    fused, launcher = tiled(*compile_group([x], [T.sum(x * 1.5, axis=0), T.max(x, axis=0) * 3]))
    check_launch(fused, launcher, data((9, 13), "float16", rng))


@pytest.mark.parametrize("shape", [(3, 5, 7), (2, 4, TILE + 3), (0, 3, 4), (2, 0, 3), (2, 3, 0), (1, 1, 1)])
def test_3d_middle_and_leading_axes_reduced(shape, rng):
    x = T.tensor3("x", dtype="float64")
    outs = [T.sum(x, axis=1), T.sum(x * x, axis=(0, 1)), T.sum(x, axis=0) + T.exp(x).sum(axis=0)]
    for out in outs:
        fused, launcher = tiled(*compile_group([x], [out]))
        check_launch(fused, launcher, data(shape, "float64", rng, special=False))
    if shape[1]:
        fused, launcher = tiled(*compile_group([x], [T.min(x, axis=1)]))
        check_launch(fused, launcher, data(shape, "float64", rng))


def test_strided_and_transposed_inputs(rng):
    x, y = T.matrix("x"), T.matrix("y")
    fused, launcher = tiled(*compile_group([x, y], [T.sum(x * y, axis=0), x - y]))
    big = data((20, 3 * TILE), "float64", rng)
    check_launch(fused, launcher, big[::3, ::2], big[1:8, 7:7 + 3 * TILE // 2])
    check_launch(fused, launcher, big[:9, :9].T, np.asfortranarray(big[:9, 20:29]))
    check_launch(fused, launcher, big[::-2, ::-5][:6], big[:6, ::5])


def test_rows_and_multi_pass_kernels_are_not_tiled():
    x = T.matrix("x")
    assert tile_axis(lower(Fused([x], [T.sum(x, axis=1)]))) is None
    assert tile_axis(lower(Fused([x], [T.sum(x)]))) is None
    assert tile_axis(lower(Fused([x], [x * 2]))) is None
    two = lower(Fused([x], [x / T.sum(x, axis=0, keepdims=True)]))  # broadcast back: two passes
    assert two.passes == 2 and tile_axis(two) is None


def test_chunks_agree_bitwise_with_one_run(rng):
    """Chunks of the kept axis (the outermost parallel one: chunks cut tiles) and of a
    leading parallel axis give the very bits of one run."""
    x = T.matrix("x", dtype="float32")
    fused, launcher = tiled(*compile_group([x], [T.sum(x * x, axis=0), x * 2, T.max(x, axis=0)]))
    a = data((37, 2 * TILE + 45), "float32", rng)
    whole = check_launch(fused, launcher, a)
    for cuts in ([0, 1, 7, TILE + 3, 2 * TILE + 45], [0, 100, TILE, 2 * TILE, 2 * TILE + 45]):
        call = launcher.prepare([a])
        assert call.end == a.shape[1]
        for lo, hi in zip(cuts, cuts[1:]):
            call.run(lo, hi)
        for w, s in zip(whole, call.outputs):
            np.testing.assert_array_equal(w, s)
    y = T.tensor3("y", dtype="float32")
    fused, launcher = tiled(*compile_group([y], [T.sum(y, axis=1)]))
    b = data((5, 9, TILE + 2), "float32", rng, special=False)
    (whole,) = check_launch(fused, launcher, b)
    call = launcher.prepare([b])
    assert call.end == 5
    for lo, hi in [(0, 2), (2, 3), (3, 5)]:
        call.run(lo, hi)
    np.testing.assert_array_equal(whole, call.outputs[0])


def test_in_place_full_space_output(rng):
    """``d = g * (1 - h**2)`` written over ``g`` inside the pass: each element is read
    before it is overwritten."""
    g, h = T.matrix("g"), T.matrix("h")
    d = g * (1 - h ** 2)
    kernel = dataclasses.replace(lower(Fused([g, h], [d, T.sum(d, axis=0)])), inplace=((2, 0),))
    a, b = data((6, TILE + 7), "float64", rng, False), data((6, TILE + 7), "float64", rng, False)
    expected = a * (1 - b ** 2)
    out, colsum = Launcher(kernel)(a, b)
    assert out is a
    np.testing.assert_allclose(out, expected, rtol=1e-14)
    np.testing.assert_allclose(colsum, expected.sum(0), rtol=1e-12)


def test_inner_tile_loop_vectorizes():
    x, y = T.fmatrix("x"), T.fmatrix("y")
    ir = render(lower(Fused([x, y], [x * (1 - y * y), T.sum(x * (1 - y * y), axis=0)])))
    assert f"alloca [{TILE} x float]" in ir and "L0.head" in ir and "L1.b.head" in ir
    opt = optimized_ir(ir)
    assert re.search(r"fadd reassoc[^\n]*<(8|16|32) x float>", opt), "the column sums did not vectorize"
    opt = optimized_ir(render(lower(Fused([x], [T.max(x, axis=0)]))))
    assert re.search(r"fcmp ogt <(8|16|32) x float>", opt)  # NumPy's in-order max, vectorized
    b = T.matrix("b", dtype="bool")
    opt = optimized_ir(render(lower(Fused([b], [T.all(b, axis=0)]))))
    assert re.search(r"<(16|32|64) x i(1|8)>", opt)


def test_hand_made_kernel_with_level_0_stores(rng):
    """Per-column values stored at level 0 (before the pass in the untiled nest) land in
    the tile's last loop; a level-0 value feeds both the pass and the epilogue."""
    f64 = "float64"
    params = (K.Param("x", f64, 2, "in"), K.Param("v", f64, 1, "in"),
              K.Param("s", f64, 1, "out"), K.Param("e", f64, 1, "out"))
    body = (K.Load(f64, 1, (1,)), K.ScalarOp(f64, "exp", (0,)),           # %1 = exp(v), level 0
            K.Store(f64, 3, (1,), 1),                                     # e = exp(v), level 0
            K.Load(f64, 0, (0, 1), 1), K.ScalarOp(f64, "mul", (3, 1), 1),  # x * exp(v)
            K.Reduce(f64, "sum", 4, 0.0, 1),
            K.ScalarOp(f64, "add", (5, 1), 2), K.Store(f64, 2, (1,), 6, 2))  # s = sum + exp(v)
    kernel = K.Kernel("k", params, 2, (0,), body)
    assert tile_axis(kernel) == 1
    for shape in [(5, TILE + 2), (0, 3), (3, 0)]:
        x, v = data(shape, f64, rng, False), data(shape[1:], f64, rng, False)
        s, e = Launcher(kernel)(x, v)
        np.testing.assert_allclose(e, np.exp(v), rtol=1e-15)
        np.testing.assert_allclose(s, (x * np.exp(v)).sum(0) + np.exp(v), rtol=1e-12)


def test_unit_stride_copy_of_the_pass(rng):
    """The pass runs in a copy for unit strides along the tile (a run-time test) and in
    the general one otherwise: contiguous and strided operands give the same bits."""
    x, g = T.fmatrix("x"), T.fmatrix("g")
    out = [T.exp(x) * g, T.sum(T.exp(x) * g, axis=0)]
    fused, launcher = tiled(*compile_group([x, g], out))
    ir = render(launcher.kernel)
    assert "TB.unit:" in ir and "L1.b.u.head" in ir and "TB.any:" in ir
    for shape in [(256, 10), (3, 1), (5, 17), (0, 3)]:
        a, b = data(shape, "float32", rng, False), data(shape, "float32", rng, False)
        unit = check_launch(fused, launcher, a, b)
        wide = np.zeros((shape[0], 2 * shape[1]), "float32")
        wide[:, ::2] = b
        strided = check_launch(fused, launcher, a, wide[:, ::2])
        for u, s in zip(unit, strided):
            np.testing.assert_array_equal(u, s)
