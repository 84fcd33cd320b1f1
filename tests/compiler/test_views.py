"""Views inside kernels: slices, integer indices, reshapes (view params made by
the launcher), each compared with the fused group's reference ``perform``."""
import dataclasses
import re

import numpy as np
import pytest

import arignote.tensor as T
from arignote.compiler import kernel as K
from arignote.compiler.bind import apply_view
from arignote.compiler.lower import LoweringError, lower
from arignote.errors import ArignoteError, ArignoteValueError, ShapeError
from arignote.ops.fused import Fused
from tests.compiler.conftest import check_launch, compile_group
from tests.util import rand

SHAPES = [(0, 3), (1, 1), (3, 4), (5, 6)]

SLICES = {
    "x[1:]": lambda x: x[1:],
    "x[::2]": lambda x: x[::2],
    "x[:, ::-1]": lambda x: x[:, ::-1],
    "x[::-2, 1:3]": lambda x: x[::-2, 1:3],
    "x[5:]": lambda x: x[5:],
    "x[-10:10, -2:]": lambda x: x[-10:10, -2:],
    "x[4:1:-1]": lambda x: x[4:1:-1],
    "x[0]": lambda x: x[0],
    "x[-1, ::-1]": lambda x: x[-1, ::-1],
    "x[:, 1]": lambda x: x[:, 1],
    "x[None, 1:]": lambda x: x[None, 1:],
    "x[1:][:, ::-1][::2]": lambda x: x[1:][:, ::-1][::2],
    "x.T[1:]": lambda x: x.T[1:],
    "x[0, 0]": lambda x: x[0, 0],
}


def check_or_raises(fused, launcher, *values):
    """Like check_launch; where the reference raises, the kernel must raise too."""
    try:
        with np.errstate(all="ignore"):
            fused.perform(None, list(values))
    except (IndexError, ArignoteError):
        with pytest.raises(ArignoteError):
            launcher(*values)
        return None
    return check_launch(fused, launcher, *values)


def view_params(kernel):
    return [p for p in kernel.params if p.view is not None]


@pytest.mark.parametrize("dtype", ["float32", "float64", "int32"])
@pytest.mark.parametrize("name", list(SLICES))
def test_slices_of_an_input(name, dtype, rng):
    x = T.matrix("x", dtype=dtype)
    fused, launcher = compile_group([x], [SLICES[name](x) * 3 + 1])
    assert view_params(launcher.kernel)
    for shape in SHAPES:
        check_or_raises(fused, launcher, rand(shape, dtype, rng))


@pytest.mark.parametrize("n", [0, 1, 2, 7])
def test_differences_summed(n, rng):
    x = T.vector("x")
    fused, launcher = compile_group([x], [T.sum((x[1:] - x[:-1]) ** 2)])
    assert [p.view[1] for p in view_params(launcher.kernel)] == [
        (("index", (("slice", 1, None, None),)),), (("index", (("slice", None, -1, None),)),)]
    check_launch(fused, launcher, rand((n,), rng=rng))


def test_reduction_over_a_slice_with_epilogue(rng):
    x, v = T.matrix("x"), T.vector("v")
    out = T.sqrt(T.sum(x[:, ::-1][1:] ** 2, axis=1)) + v[:-1]
    fused, launcher = compile_group([x, v], [out])
    for m, n in [(1, 3), (4, 5), (3, 0)]:
        check_launch(fused, launcher, rand((m, n), rng=rng), rand((m,), rng=rng))


def test_views_through_broadcasting_elementwise(rng):
    m, r, c = T.matrix("m"), T.row("r"), T.col("c")
    for outs in ([(m + r)[1:, ::-1], (r - c)[::-1, 1:] * m[1:]], [(m * c)[2], T.exp(m + r)[:, 0]]):
        fused, launcher = compile_group([m, r, c], outs)
        for a, b in [(3, 3), (4, 4), (3, 0)]:
            check_or_raises(fused, launcher, rand((a, b), rng=rng), rand((1, b), rng=rng),
                            rand((a, 1), rng=rng))


BOUNDS = [None, 0, 1, 3, -1, -4, 10, -10]


@pytest.mark.parametrize("step", [None, 1, 2, -1, -3])
def test_symbolic_bounds_clip_like_numpy(step, rng):
    x = T.vector("x")
    a, b, s = T.lscalar("a"), T.lscalar("b"), T.lscalar("s")
    fused, launcher = compile_group([x, a, b, s], [x[a:b:s] * 2])
    (view,) = view_params(launcher.kernel)
    assert view.view[1] == (("index", (("slice", ("ref", 1), ("ref", 2), ("ref", 3)),)),)
    v = rand((6,), rng=rng)
    for lo in BOUNDS:
        for hi in BOUNDS:
            args = [np.int64(0 if p is None else p) for p in (lo, hi)]
            if lo is None or hi is None:  # a None bound is its own graph: test the ints
                continue
            check_launch(fused, launcher, v, *args, np.int64(step or 1))


def test_symbolic_integer_index_and_errors(rng):
    x, i = T.matrix("x"), T.iscalar("i")
    fused, launcher = compile_group([x, i], [x[i] + x[-1]])
    v = rand((3, 4), rng=rng)
    for k in (0, 2, -3):
        check_launch(fused, launcher, v, np.int32(k))
    for k in (3, -4):
        with pytest.raises(ArignoteValueError, match="index"):
            launcher(v, np.int32(k))
    s = T.lscalar("s")
    fused, launcher = compile_group([x, s], [x[::s] * 2])
    with pytest.raises(ArignoteValueError, match="zero"):
        launcher(v, np.int64(0))


@pytest.mark.parametrize("view", ["reversed", "transposed", "strided"])
def test_views_of_non_contiguous_inputs(view, rng):
    x, y = T.matrix("x"), T.matrix("y")
    fused, launcher = compile_group([x, y], [x[1:, ::-1] * y[:-1] + x[0]])
    base = rand((7, 8), rng=rng)
    a = {"reversed": base[::-1, ::-2], "transposed": base.T[:, :4], "strided": base[1::2, ::2]}[view]
    check_launch(fused, launcher, a, rand(a.shape, rng=rng))


def test_views_of_constants(rng):
    x, i = T.vector("x"), T.lscalar("i")
    table = T.constant(np.arange(12.0).reshape(3, 4))
    fused, launcher = compile_group([x, i], [table[1, ::-1] * x, table[i] + x])
    kernel = launcher.kernel
    assert len(view_params(kernel)) == 1 and len(kernel.constants) == 2  # one static, one by i
    for k in (0, 2, -1):
        check_launch(fused, launcher, rand((4,), rng=rng), np.int64(k))
    with pytest.raises(ArignoteValueError):
        launcher(rand((4,), rng=rng), np.int64(3))


# ------------------------------------------------------------ reshapes


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
def test_reshape_of_an_input_merges_and_splits(dtype, rng):
    m, v = T.matrix("m", dtype=dtype), T.vector("v", dtype=dtype)
    outs = [m.reshape((-1,)) + v]
    fused, launcher = compile_group([m, v], outs)
    for a, b in [(3, 4), (1, 1), (0, 5)]:
        check_launch(fused, launcher, rand((a, b), dtype, rng), rand((a * b,), dtype, rng))
    fused, launcher = compile_group([v], [v.reshape((2, 3)) * 2, v.reshape((3, 2)).T[::-1]])
    check_launch(fused, launcher, rand((6,), dtype, rng))


def test_reshape_by_a_symbolic_shape(rng):
    x, shp = T.tensor3("x"), T.lvector("shp")
    fused, launcher = compile_group([x, shp], [T.reshape(x, shp, ndim=2) * 2])
    (view,) = view_params(launcher.kernel)
    assert view.view[1] == (("reshape", 2, ("ref", 1)),)
    v = rand((2, 3, 4), rng=rng)
    for s in [(2, 12), (-1, 4), (6, -1), (24, 1)]:
        check_launch(fused, launcher, v, np.array(s, dtype="int64"))
    for s in [(5, 5), (-1, -1), (-1, 5), (2, 3, 4)]:
        with pytest.raises(ShapeError):
            launcher(v, np.array(s, dtype="int64"))


def test_reshape_of_a_viewable_input_is_not_copied(rng):
    x, y = T.matrix("x"), T.tensor3("y")
    fused, launcher = compile_group([x, y], [x.reshape((2, 3, 4)) + y])
    base = rand((12, 8), rng=rng)
    a = base[::2, :4]            # (6, 4), non-contiguous rows: (2, 3, 4) is still a view
    call = launcher.prepare([a, rand((2, 3, 4), rng=rng)])
    arrays = call._keep[0]
    view = arrays[[j for j, p in enumerate(launcher.kernel.params) if p.view is not None][0]]
    assert view.shape == (2, 3, 4) and np.shares_memory(view, base)
    launcher.release(call)
    check_launch(fused, launcher, a, rand((2, 3, 4), rng=rng))
    # a reshape NumPy cannot view (a merge of transposed dims) copies, as NumPy does
    fused, launcher = compile_group([x], [x.reshape((-1,)) * 2])
    check_launch(fused, launcher, base[:4, :6].T)


def test_reshape_of_a_broadcast_value_is_not_lowered():
    x, r = T.matrix("x"), T.row("r")
    with pytest.raises(LoweringError, match="reshape"):
        lower(Fused([x, r], [(x + r).reshape((-1,)) * 2]))


def test_view_of_a_reduction_is_not_lowered():
    x = T.matrix("x")
    with pytest.raises(LoweringError):
        lower(Fused([x], [T.sum(x, axis=1)[1:] * 2]))


def test_index_computed_inside_the_group_is_not_lowered():
    x, a = T.vector("x"), T.lscalar("a")
    with pytest.raises(LoweringError, match="computed inside"):
        lower(Fused([x, a], [x[a + 1:] * 2]))


# ------------------------------------------------------------ the IR


def test_pretty_names_each_param_as_its_signature_does():
    x, a = T.matrix("x"), T.lscalar("a")
    k = lower(Fused([x, a], [(x[a:, ::-1] * 2).sum(axis=1)]))
    text = k.pretty()
    names = {p.name for p in k.params}
    used = set(re.findall(r"(?:load|store) (\w+)\[", text))
    assert used and used <= names, text
    assert not re.search(r"\bp\d+\b", text), text


def test_pretty_key_and_in_place_rules():
    x, a = T.matrix("x"), T.lscalar("a")
    k1 = lower(Fused([x, a], [x[a:, ::-1] * 2]))
    k2 = lower(Fused([x, a], [x[a:, ::2] * 2]))
    assert "in view0: float64[2d] = in0[in1:, ::-1]" in k1.pretty()
    assert k1.key() != k2.key()
    over = dataclasses.replace(k1, inplace=((len(k1.params) - 1, 0),))
    with pytest.raises(ValueError, match="through a view"):
        over.check_inplace()
    plain = lower(Fused([x], [x * 2]))
    dataclasses.replace(plain, inplace=((1, 0),)).check_inplace()


def test_apply_view_steps():
    a = np.arange(24.0).reshape(2, 3, 4)
    steps = (("index", (("int", 1), ("slice", None, None, -1))), ("dimshuffle", 2, (1, "x", 0)),
             ("reshape", 3, (2, 2, 3)))
    expected = a[1, ::-1].transpose(1, 0)[:, None].reshape(2, 2, 3)
    got = apply_view(a, steps)
    np.testing.assert_array_equal(got, expected)
    assert np.shares_memory(got, a) is False or got.base is not None
    refs = (("index", (("slice", ("ref", 0), None, ("ref", 1)),)),)
    np.testing.assert_array_equal(apply_view(a, refs, [np.int64(-1), np.int64(-1)]), a[-1::-1])
    assert K.VIEW_STEPS == ("index", "dimshuffle", "reshape")
