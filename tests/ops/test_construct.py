"""Array-building ops against NumPy (join/concatenate/stack/split, repeat, tile,
alloc/zeros/ones/full, arange): values over dtypes and shapes (size 0 and 1
included), static shapes, infer_shape, errors and gradients."""
import pickle

import numpy as np
import pytest

import arignote as ag
import arignote.tensor as T
from arignote.errors import ArignoteTypeError, ArignoteValueError, ShapeError
from arignote.ops.construct import Alloc, Repeat
from arignote.ops.shape import Join, SpecifyShape, Split
from arignote.verify import verify_grad
from tests.ops.test_shape import DTYPES, check, check_infer_shape, grad_point, typed
from tests.util import assert_close, rand


# ------------------------------------------------------------ join, concatenate, stack, split

@pytest.mark.parametrize("dtypes", [("float32", "float32"), ("float32", "float64"), ("int32", "float32"),
                                    ("int32", "int64"), ("bool", "int8")])
@pytest.mark.parametrize("shapes,axis", [(((2, 3), (4, 3)), 0), (((2, 3), (2, 0)), 1), (((0, 3), (1, 3)), -2),
                                         (((1,), (3,)), 0), (((2, 1, 3), (2, 2, 3)), 1)])
def test_concatenate_matches_numpy(dtypes, shapes, axis):
    values = [rand(s, d) for s, d in zip(shapes, dtypes)]
    check(lambda a, b: T.concatenate([a, b], axis=axis), lambda a, b: np.concatenate([a, b], axis), *values)
    check(lambda a, b: T.join(axis, a, b), lambda a, b: np.concatenate([a, b], axis), *values, static=True)


def test_concatenate_forms():
    a, b, c = rand((2, 2)), rand((3,)), rand((1, 2))
    x, y, z = typed(a, name="x"), typed(b, name="y"), typed(c, name="z")
    outs = [T.concatenate([x, y], axis=None), T.join(0, [x, z]), T.concatenate((x,)),
            T.concatenate([x, x, z])]
    got = ag.function([x, y, z], outs)(a, b, c)
    expected = [np.concatenate([a, b], None), np.concatenate([a, c]), a, np.concatenate([a, a, c])]
    for g, e in zip(got, expected):
        assert_close(g, e)
    assert outs[3].type.shape == (None, None)
    assert T.concatenate([T.tensor("float64", (2, None)), T.tensor("float64", (3, 4))]).type.shape == (5, 4)


def test_concatenate_errors():
    m, v = T.matrix("m"), T.vector("v")
    with pytest.raises(ShapeError, match="same rank"):
        T.concatenate([m, v])
    with pytest.raises(ShapeError, match="dimension 1"):
        T.concatenate([T.tensor("float64", (2, 3)), T.tensor("float64", (2, 4))])
    with pytest.raises(ShapeError, match="0-d"):
        T.concatenate([T.dscalar(), T.dscalar()])
    with pytest.raises(ArignoteValueError, match="out of range"):
        T.concatenate([m, m], axis=2)
    with pytest.raises(ArignoteValueError, match="at least one"):
        T.concatenate([])
    f = ag.function([m, v], T.concatenate([m, T.shape_padleft(v)]))
    with pytest.raises(ShapeError, match="input 1"):
        f(np.ones((2, 3)), np.ones(4))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,axis", [((), 0), ((3,), 0), ((3,), 1), ((0, 2), -1), ((2, 1), 1)])
def test_stack_matches_numpy(dtype, shape, axis):
    values = [rand(shape, dtype, np.random.default_rng(k)) for k in range(3)]
    check(lambda *xs: T.stack(xs, axis=axis), lambda *xs: np.stack(xs, axis), *values, static=True)
    check(lambda *xs: T.stack(list(xs), axis), lambda *xs: np.stack(xs, axis), *values)


def test_stack_of_scalars_and_errors():
    a, n = T.dscalar("a"), T.iscalar("n")
    s = T.stack(a, 2.0, a)  # Theano's form
    assert s.type.shape == (3,) and s.dtype == "float64"
    v = T.as_tensor_variable([n, -1])
    assert v.dtype == "int64" and v.type.shape == (2,)  # like np.stack([np.int32(1), -1])
    got = ag.function([a, n], [s, v, T.as_tensor_variable([[a, 1.0], [2.0, a]])])(3.0, 5)
    assert_close(got[0], np.array([3.0, 2.0, 3.0]))
    assert_close(got[1], np.array([5, -1]))
    assert_close(got[2], np.array([[3.0, 1.0], [2.0, 3.0]]))
    with pytest.raises(ShapeError, match="same rank"):
        T.stack([T.vector(), T.matrix()])
    with pytest.raises(ShapeError, match="differ"):
        T.stack([T.tensor("float64", (2,)), T.tensor("float64", (3,))])
    with pytest.raises(ArignoteValueError, match="out of range"):
        T.stack([a, a], axis=2)
    with pytest.raises(ArignoteValueError):
        T.stack([])


def test_split():
    v = rand((5, 2))
    x, n = typed(v), T.lscalar("n")
    parts = T.split(x, [2, n, 1], 3)
    assert [p.type.shape for p in parts] == [(2, None), (None, None), (1, None)]
    got = ag.function([x, n], parts)(v, 2)
    for g, e in zip(got, np.split(v, [2, 4])):
        assert_close(g, e)
    check_infer_shape(parts, [x, n], [v, 2])
    with pytest.raises(ShapeError, match="add up"):
        ag.function([x, n], parts)(v, 3)
    assert [p.type.shape for p in T.split(T.tensor("float64", (5,)), [2, n], 2)] == [(2,), (3,)]
    with pytest.raises(ShapeError, match="do not split"):
        T.split(T.tensor("float64", (5,)), [2, 2], 2)
    with pytest.raises(ShapeError, match="do not split"):
        T.split(T.tensor("float64", (5,)), [7, n], 2)
    with pytest.raises(ArignoteValueError, match="n_splits"):
        T.split(x, [2, 3], 3)
    assert Split(2, 0).view_map == {0: [0], 1: [0]}


# ------------------------------------------------------------ repeat, tile

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,repeats,axis", [
    ((3,), 2, None), ((2, 3), 2, None), ((2, 3), 3, 1), ((2, 3), [1, 0, 2], 1), ((2, 3), [2], 0),
    ((0, 3), 2, 0), ((2, 3), 0, -1), ((1, 1), [3], 0)])
def test_repeat_matches_numpy(dtype, shape, repeats, axis):
    v = rand(shape, dtype)
    for static in (False, True):
        check(lambda x: T.repeat(x, repeats, axis), lambda a: np.repeat(a, repeats, axis), v, static=static)


def test_repeat_symbolic_and_errors():
    v = rand((2, 3))
    x, r, rs = typed(v), T.iscalar("r"), T.lvector("rs")
    outs = [x.repeat(r, axis=0), T.repeat(x, rs, 1), T.repeat(x, [r, 1], 0)]
    f = ag.function([x, r, rs], outs)
    expected = [np.repeat(v, 2, 0), np.repeat(v, [1, 2, 3], 1), np.repeat(v, [2, 1], 0)]
    for g, e in zip(f(v, 2, [1, 2, 3]), expected):
        assert_close(g, e)
    assert isinstance(T.repeat(x, [1, 2], 0).owner.inputs[1], T.TensorConstant)
    check_infer_shape(outs, [x, r, rs], [v, 2, [1, 2, 3]])
    check_infer_shape([T.repeat(x, rs, 1)], [x, rs], [v, [2]])
    with pytest.raises(ShapeError, match="repeats"):
        f(v, 2, [1, 2])
    with pytest.raises(ShapeError, match="repeats"):
        f(v, -1, [1, 2, 3])
    with pytest.raises(ArignoteValueError, match=">= 0"):
        T.repeat(x, -1)
    with pytest.raises(ShapeError, match="3 repeats"):
        T.repeat(T.tensor("float64", (2, 2)), [1, 2, 3], 1)
    with pytest.raises(ArignoteTypeError, match="repeats"):
        T.repeat(x, 1.5)
    with pytest.raises(ArignoteValueError, match="out of range"):
        T.repeat(x, 2, axis=2)
    assert T.repeat(T.tensor("float64", (None, 3)), [1, 2, 0], 1).type.shape == (None, 3)
    assert T.repeat(T.tensor("float64", (None, 3)), 0, 0).type.shape == (0, 3)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,reps", [((3,), 2), ((2, 3), (2, 1)), ((2, 3), (2,)), ((3,), (2, 2)),
                                        ((0, 2), (2, 3)), ((2, 1), (0, 2)), ((), (2,)), ((2, 3), ())])
def test_tile_matches_numpy(dtype, shape, reps):
    v = rand(shape, dtype)
    for static in (False, True):
        check(lambda x: T.tile(x, reps), lambda a: np.tile(a, reps), v, static=static)


def test_tile_symbolic_reps_and_errors():
    v = rand((2, 3))
    x, r = typed(v), T.lscalar("r")
    y = T.tile(x, (r, 2))
    assert y.type.shape == (None, None)
    assert T.tile(T.tensor("float64", (2, 3)), (r, 2)).type.shape == (None, 6)
    assert_close(ag.function([x, r], y)(v, 3), np.tile(v, (3, 2)))
    with pytest.raises(ArignoteValueError, match=">= 0"):
        T.tile(x, (-1, 2))


# ------------------------------------------------------------ alloc, zeros, ones, full

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("vshape,shape", [((), (2, 3)), ((3,), (2, 3)), ((1, 3), (0, 4, 3)), ((2, 1), (2, 5)),
                                          ((), ()), ((3,), (3,))])
def test_alloc_matches_numpy(dtype, vshape, shape):
    def expected(a):
        return np.broadcast_to(a, shape).copy()
    for static in (False, True):
        out = check(lambda a: T.alloc(a, *shape), expected, rand(vshape, dtype), static=static)
        assert out.type.shape == shape


def test_alloc_symbolic_shapes_and_errors():
    v = rand((3,))
    x, n, y = typed(v), T.iscalar("n"), T.matrix("y")
    outs = [T.alloc(x, n, 3), T.alloc(x, y.shape[0], x.shape[0]), T.alloc(1.5, (n, 2)),
            T.alloc(x, T.shape(y))]
    assert outs[0].type.shape == (None, 3) and outs[2].dtype == "float64"
    got = ag.function([x, n, y], outs)(v, 2, np.zeros((4, 3)))
    assert_close(got[1], np.broadcast_to(v, (4, 3)).copy())
    assert_close(got[2], np.full((2, 2), 1.5))
    check_infer_shape(outs, [x, n, y], [v, 2, np.zeros((4, 3))])
    with pytest.raises(ShapeError, match="only dimensions of static size 1 broadcast"):
        ag.function([x, n], T.alloc(x, n, 4))(v, 2)
    with pytest.raises(ShapeError, match="alloc"):
        ag.function([x, n], T.alloc(x, n, 3))(v, -1)
    with pytest.raises(ShapeError, match="dimension 1"):
        T.alloc(T.tensor("float64", (3,)), 2, 4)
    with pytest.raises(ShapeError, match="more than"):
        T.alloc(y, 3)
    with pytest.raises(ShapeError):
        T.alloc(1.0, -2)
    with pytest.raises(ArignoteTypeError, match="int"):
        T.alloc(1.0, 2.5)


@pytest.mark.parametrize("dtype", [None, "float32", "int32", "bool"])
def test_zeros_ones_full(dtype):
    y = T.matrix("y")
    outs = [T.zeros((2, 3), dtype), T.ones(4, dtype), T.zeros(y.shape, dtype), T.ones((y.shape[1], 2), dtype),
            T.full((2,), 7, dtype)]
    got = ag.function([y], outs)(np.zeros((1, 5)))
    d = dtype or ag.config.floatX
    expected = [np.zeros((2, 3), d), np.ones(4, d), np.zeros((1, 5), d), np.ones((5, 2), d),
                np.full((2,), 7, dtype)]
    for g, e in zip(got, expected):
        assert_close(g, e)
    assert outs[0].type.shape == (2, 3)


def test_zeros_like_ones_like_are_reused():
    x = T.tensor("float32", (None, 3))
    assert T.zeros_like(x).type == x.type and T.ones_like(x, "int32").dtype == "int32"


# ------------------------------------------------------------ arange

@pytest.mark.parametrize("args", [(5,), (0,), (-3,), (2, 7), (7, 2, -2), (0.5, 3), (0, 1, 0.25),
                                  (np.float32(0), np.float32(2)), (np.int32(1), 6, 2), (1.5, 1.5)])
def test_arange_constant_matches_numpy(args):
    out = T.arange(*args)
    expected = np.arange(*args)
    assert out.type.shape == expected.shape and out.dtype == expected.dtype.name
    assert_close(out.eval(), expected)


@pytest.mark.parametrize("dtypes", [("int64", "int64"), ("int32", "int32"), ("float32", "float32"),
                                    ("int32", "float64")])
def test_arange_symbolic_matches_numpy(dtypes):
    a, b = (T.tensor(d, (), name) for d, name in zip(dtypes, "ab"))
    outs = [T.arange(a), T.arange(a, b), T.arange(b, a, -1), T.arange(a, b, 2, dtype="float64")]
    va, vb = np.asarray(2, dtypes[0]), np.asarray(7, dtypes[1])
    got = ag.function([a, b], outs)(va, vb)
    for g, e in zip(got, [np.arange(va[()]), np.arange(va[()], vb[()]), np.arange(vb[()], va[()], -1),
                          np.arange(va[()], vb[()], 2, dtype="float64")]):
        assert_close(g, e)
    check_infer_shape(outs, [a, b], [va, vb])
    check_infer_shape(outs[1:3], [a, b], [np.asarray(9, dtypes[0]), vb])  # empty ranges


def test_arange_of_shape_and_errors():
    y = T.tensor("float64", (None, 4), "y")
    assert T.arange(y.shape[1]).type.shape == (4,) and T.arange(y.shape[0]).type.shape == (None,)
    assert_close(T.arange(y.shape[0]).eval({y: np.zeros((3, 4))}), np.arange(3))
    with pytest.raises(ArignoteValueError, match="step"):
        T.arange(0, 5, 0)
    s = T.lscalar("s")
    with pytest.raises(ArignoteValueError, match="step"):
        ag.function([s], T.arange(0, 5, s))(0)
    with pytest.raises(ArignoteTypeError, match="real"):
        T.arange(T.vector())
    with pytest.raises(ArignoteTypeError, match="real"):
        T.arange(1j)


# ------------------------------------------------------------ values, not identities

def test_ops_are_values_and_graphs_pickle():
    x = T.matrix("x")
    assert Join(0) == Join(0) and Join(0) != Join(1) and Alloc() == Alloc()
    assert Repeat(1) != Repeat(1, adjoint=True) and SpecifyShape((True,)) == SpecifyShape([1])
    out = T.concatenate([T.reshape(x, (-1,)), T.repeat(T.arange(3.0), 2), T.tile(x[0], 2)])
    x2, out2 = pickle.loads(pickle.dumps((x, out)))
    v = rand((2, 3))
    assert_close(ag.function([x2], out2)(v), ag.function([x], out)(v))

# ------------------------------------------------------------ gradients

GRAD_CASES = {
    "concatenate": ((2, 3), lambda x: T.concatenate([x, 2 * x, x[:1]], axis=0)),
    "concatenate1": ((2, 1), lambda x: T.concatenate([x, x], axis=1)),
    "stack": ((2, 3), lambda x: T.stack([x, x * x], axis=1)),
    "stack_scalars": ((3,), lambda x: T.stack([x[0], x[2], x[0]])),
    "repeat": ((2, 3), lambda x: T.repeat(x, 2, axis=1)),
    "repeat_vec": ((2, 3), lambda x: T.repeat(x, [2, 0, 1], axis=1)),
    "repeat_flat": ((2, 2), lambda x: T.repeat(x, 3)),
    "repeat_grad_of_grad": ((3,), lambda x: ag.grad(T.sum(T.repeat(x, [1, 2, 3]) ** 2), x)),
    "tile": ((2, 3), lambda x: T.tile(x, (2, 1, 2))),
    "tile_row": ((1, 3), lambda x: T.tile(x, (3, 1))),
    "alloc": ((3,), lambda x: T.alloc(x, 2, 4, 3)),
    "alloc_col": ((2, 1), lambda x: T.alloc(x, 3, 2, 4)),
    "alloc_scalar": ((), lambda x: T.alloc(x, 2, 3)),
    "split": ((5, 2), lambda x: T.split(x, [2, 3], 2)[1]),
    "zeros_plus": ((2,), lambda x: T.zeros((3, 2)) + x),
}

@pytest.mark.parametrize("name", sorted(GRAD_CASES))
def test_verify_grad(name):
    shape, fn = GRAD_CASES[name]
    verify_grad(fn, [grad_point(shape)])


def test_verify_grad_arange_float_bounds():
    verify_grad(lambda a, b: T.arange(a, 5.0, b) ** 2, [np.asarray(0.3), np.asarray(0.7)])


def test_grad_of_join_with_integer_input():
    x, i = T.vector("x"), T.ivector("i")
    g = ag.grad(T.sum(T.concatenate([x, i]) ** 2), x)
    assert_close(ag.function([x, i], g)(np.ones(2), np.ones(3, "int32")), np.full(2, 2.0))
    a = T.dscalar("a")
    r = T.arange(a, 5, dtype="int64")
    assert r.owner.op.L_op(r.owner.inputs, [r], [T.zeros_like(r)]) == [None, None, None]
