"""Launching compiled kernels: extents, broadcasting, views, reductions, outputs
and errors, each compared with the fused group's reference ``perform``."""
import dataclasses

import numpy as np
import pytest

import arignote.tensor as T
from arignote.compiler.launch import Launcher, launch
from arignote.compiler.lower import lower
from arignote.errors import ArignoteTypeError, ArignoteValueError, ShapeError
from arignote.ops.fused import Fused
from tests.compiler.conftest import check_launch, compile_group
from tests.util import rand

SHAPES_2D = [(0, 3), (1, 1), (3, 4), (1, 5), (4, 0)]


@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "int64"])
def test_elementwise_chain_with_broadcasting(dtype, rng):
    x, r, c = T.matrix("x", dtype=dtype), T.row("r", dtype=dtype), T.col("c", dtype=dtype)
    s = T.scalar("s", dtype=dtype)
    out = T.maximum(x * r - c, s) + 2 * x
    fused, launcher = compile_group([x, r, c, s], [out])
    for m, n in SHAPES_2D:
        vals = (rand((m, n), dtype, rng), rand((1, n), dtype, rng), rand((m, 1), dtype, rng),
                rand((), dtype, rng))
        check_launch(fused, launcher, *vals)


def test_x_plus_x_transpose_and_dimshuffles(rng):
    x, v = T.matrix("x"), T.vector("v")
    outs = [x + x.T, T.exp(x.T) * v, v.dimshuffle("x", 0) - v.dimshuffle(0, "x")]
    fused, launcher = compile_group([x, v], outs)
    for n in (0, 1, 4):
        check_launch(fused, launcher, rand((n, n), rng=rng), rand((n,), rng=rng))


def test_three_d_permutation(rng):
    x = T.tensor3("x")
    fused, launcher = compile_group([x], [x.dimshuffle(2, 0, 1) * 2 + x.dimshuffle(2, 0, 1) ** 2])
    check_launch(fused, launcher, rand((2, 3, 4), rng=rng))


@pytest.mark.parametrize("view", ["reversed", "transposed", "strided", "zero-stride"])
def test_non_contiguous_inputs(view, rng):
    x, y = T.matrix("x"), T.matrix("y")
    fused, launcher = compile_group([x, y], [x * y + T.sin(x)])
    base = rand((6, 6), rng=rng)
    a = {"reversed": base[::-1, ::-2], "transposed": base.T[:, :3],
         "strided": base[1::2, ::2], "zero-stride": np.broadcast_to(base[0], (3, 6))}[view]
    b = rand(a.shape, rng=rng)
    check_launch(fused, launcher, a, b)
    check_launch(fused, launcher, b, a)


COMBINERS = ["sum", "prod", "max", "min"]


@pytest.mark.parametrize("axis", [0, 1, 2, (0, 2), None])
@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
def test_reductions_with_prologue_and_epilogue(axis, dtype, rng):
    x = T.tensor3("x", dtype=dtype)
    pro = x * 2 - 1
    outs = [getattr(T, c)(pro, axis=axis) for c in COMBINERS]
    outs += [T.sum(x, axis=axis) * 3 + 1, T.all(T.gt(x, 0), axis=axis), T.any(T.gt(x, 1), axis=axis)]
    outs += [T.max(x, axis=axis, keepdims=True)]
    fused, launcher = compile_group([x], outs)
    for shape in [(2, 3, 4), (1, 1, 1), (3, 1, 2)]:
        check_launch(fused, launcher, rand(shape, dtype, rng), rtol=1e-4 if dtype == "float32" else None)


def test_reduction_of_bool_and_keepdims_epilogue(rng):
    x = T.matrix("x")
    mask = T.gt(x, 0)
    outs = [T.sum(mask, axis=1), T.prod(mask, axis=1), T.exp(T.max(x, axis=1, keepdims=True)) + 1,
            T.sum(x, axis=1) / T.max(x, axis=1)]
    fused, launcher = compile_group([x], outs)
    check_launch(fused, launcher, rand((4, 5), rng=rng))


def test_full_space_output_next_to_a_reduction(rng):
    x = T.matrix("x")
    fused, launcher = compile_group([x], [T.sum(x, axis=1), x * 3])
    check_launch(fused, launcher, rand((3, 5), rng=rng))


def test_reductions_propagate_nan():
    x = T.matrix("x")
    fused, launcher = compile_group([x], [T.max(x, axis=1), T.min(x, axis=1), T.sum(x, axis=1)])
    a = np.array([[1.0, np.nan, 3.0], [np.inf, -np.inf, 0.0]])
    got = check_launch(fused, launcher, a)
    assert np.isnan(got[0][0]) and np.isnan(got[1][0])


def test_empty_reduced_axis(rng):
    x = T.matrix("x")
    fused, launcher = compile_group([x], [T.sum(x, axis=0), T.prod(x, axis=0), T.any(T.gt(x, 0), axis=0)])
    check_launch(fused, launcher, np.zeros((0, 3)))
    fused, launcher = compile_group([x], [T.max(x, axis=0)])
    check_launch(fused, launcher, np.zeros((3, 0)))  # nothing reduced over an empty output
    for shape in [(0, 3), (0, 0)]:
        with pytest.raises(ArignoteValueError, match="have size 0.*maximum of nothing"):
            launcher(np.zeros(shape))
    fused, launcher = compile_group([x], [T.max(x, axis=0, initial=5.0)])
    check_launch(fused, launcher, np.zeros((0, 3)))


def test_scalar_kernels(rng):
    a, b = T.scalar("a"), T.scalar("b", dtype="int32")
    fused, launcher = compile_group([a, b], [a * b + 1, T.sqrt(a) > 1])
    check_launch(fused, launcher, np.array(2.5), np.array(3, "int32"))


def test_constants_scalar_and_array(rng):
    x = T.matrix("x")
    table = T.constant(np.arange(4.0).reshape(1, 4))
    col = T.constant(np.array([[1.0], [-2.0], [3.0]]))
    fused, launcher = compile_group([x], [x * table + col + 0.5])
    assert len(lower(fused).constants) == 2
    check_launch(fused, launcher, rand((3, 4), rng=rng))


def test_multi_output_group(rng):
    x, y = T.vector("x"), T.vector("y")
    fused, launcher = compile_group([x, y], [x + y, x * y, T.lt(x, y), T.cast(x, "int32")])
    check_launch(fused, launcher, rand((7,), rng=rng), rand((7,), rng=rng))


def test_switch_with_bool_condition(rng):
    c, a, b = T.vector("c", dtype="bool"), T.vector("a"), T.vector("b", dtype="int32")
    fused, launcher = compile_group([c, a, b], [T.switch(c, a, b)])
    check_launch(fused, launcher, rand((9,), "bool", rng), rand((9,), rng=rng), rand((9,), "int32", rng))


def test_preallocated_outputs(rng):
    x = T.matrix("x")
    fused, launcher = compile_group([x], [x + 1, T.sum(x, axis=1)])
    a = rand((3, 4), rng=rng)
    o0, o1 = np.empty((3, 4)), np.empty(3)
    got = launcher(a, outputs=[o0, o1])
    assert got[0] is o0 and got[1] is o1
    np.testing.assert_allclose(o0, a + 1)
    np.testing.assert_allclose(o1, a.sum(1))
    strided = np.zeros((3, 8))[:, ::2]  # a strided output view is written in place
    launcher(a, outputs=[strided, o1])
    np.testing.assert_allclose(strided, a + 1)
    with pytest.raises(ShapeError, match=r"output 0 of shape \(3, 5\)"):
        launcher(a, outputs=[np.empty((3, 5)), o1])
    with pytest.raises(ArignoteValueError, match="output 0 must be"):
        launcher(a, outputs=[np.empty((3, 4), "float32"), o1])
    with pytest.raises(ArignoteValueError, match="output 1 must be"):
        launcher(a, outputs=[o0, np.empty(3, "float32")])


def test_partly_given_outputs(rng):
    x = T.matrix("x")
    fused, launcher = compile_group([x], [x + 1, T.sum(x, axis=1)])
    a, o1 = rand((3, 4), rng=rng), np.empty(3)
    got = launcher(a, outputs=[None, o1])
    assert got[1] is o1 and got[0].shape == (3, 4)
    np.testing.assert_allclose(got[0], a + 1)


@pytest.mark.parametrize("view", [lambda a: a, lambda a: a.T, lambda a: a[::2, ::-1]])
def test_in_place_output_overwrites_its_input(view, rng):
    x, y = T.matrix("x"), T.matrix("y")
    fused = Fused([x, y], [T.tanh(x) * 2 - y, x + y])
    kernel = dataclasses.replace(lower(fused), inplace=((2, 0),))
    launcher = Launcher(kernel)
    a = view(rand((6, 40), rng=rng))
    b = rand(a.shape, rng=rng)
    expected = [np.tanh(a) * 2 - b, a + b]
    before = a
    got = launcher(a, b)
    assert got[0] is before
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=1e-12)
    assert "in place: out0 over in0" in kernel.pretty()


def test_in_place_needs_one_axis_map():
    x = T.matrix("x")
    kernel = dataclasses.replace(lower(Fused([x], [x + x.T])), inplace=((1, 0),))
    with pytest.raises(ValueError, match="one axis map"):
        Launcher(kernel)


def test_shape_mismatch_names_the_shapes(rng):
    x, y = T.matrix("x"), T.matrix("y")
    fused, launcher = compile_group([x, y], [x + y])
    with pytest.raises(ShapeError, match=r"\(3, 4\).*\(3, 5\)"):
        launcher(np.zeros((3, 4)), np.zeros((3, 5)))
    fused, launcher = compile_group([x], [x + x.T])
    with pytest.raises(ShapeError, match=r"\(3, 4\)"):
        launcher(np.zeros((3, 4)))
    r = T.row("r")
    fused, launcher = compile_group([x, r], [x + r])
    with pytest.raises(ShapeError, match="broadcast"):
        launcher(np.zeros((3, 4)), np.zeros((2, 4)))


def test_wrong_inputs(rng):
    x = T.matrix("x")
    fused, launcher = compile_group([x], [x + 1])
    with pytest.raises(ArignoteTypeError, match="takes 1 inputs"):
        launcher()
    with pytest.raises(ArignoteTypeError, match="float64"):
        launcher(np.zeros((2, 2), "float32"))


def test_prepare_and_chunks(rng):
    x = T.matrix("x")
    fused, launcher = compile_group([x], [T.sum(T.exp(x), axis=1)])
    a = rand((10, 6), rng=rng)
    call = launcher.prepare([a])
    assert call.end == 10
    for start in range(0, 10, 3):
        call.run(start, min(start + 3, 10))
    np.testing.assert_allclose(call.outputs[0], np.exp(a).sum(1))


def test_launch_function_and_unaligned_input(rng):
    x = T.vector("x")
    k = lower(Fused([x], [x * 2]))
    buf = np.zeros(8 * 5 + 1, np.uint8)[1:].view(np.float64)  # misaligned
    buf[:] = np.arange(5.0)
    assert not buf.flags.aligned
    (out,) = launch(k, [buf])
    np.testing.assert_allclose(out, np.arange(5.0) * 2)
    assert Launcher(k).compiled is Launcher(k).compiled  # linked once per process
