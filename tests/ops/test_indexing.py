"""Indexing (basic, advanced, masks), set/inc_subtensor: values against NumPy,
static shapes, infer_shape, errors at build and run time, gradients."""
import itertools

import numpy as np
import pytest

import arignote as ag
import arignote.tensor as T
from arignote.errors import ArignoteTypeError, ArignoteValueError, ShapeError
from arignote.ops.indexing import AdvancedSubtensor, IncSubtensor, Subtensor
from arignote.verify import verify_grad
from tests.util import DTYPES as _ALL, assert_close, rand, symbolic_like

DTYPES = ("float32", "float64", "int32")
S = slice


def _fn(inputs, out):
    return ag.function(inputs, out, on_unused_input="ignore")


def _check_shape_graph(out, inputs, values):
    """infer_shape of out's node, compiled, equals the computed shape."""
    node = out.owner
    shapes = [tuple(T.shape(i)[d] for d in range(i.ndim)) for i in node.inputs]
    dims = node.op.infer_shape(node, shapes)[0]
    got = _fn(inputs, [out, *dims])(*values) if dims else [_fn(inputs, out)(*values)]
    assert tuple(int(d) for d in got[1:]) == got[0].shape


def _check(x_value, index, static=False):
    """x[index] against NumPy: value, dtype, static shape, infer_shape."""
    x = (T.tensor(x_value.dtype, x_value.shape, "x") if static else symbolic_like(x_value, "x"))
    out = x[index]
    expected = x_value[index]
    got = _fn([x], out)(x_value)
    assert_close(got, np.asarray(expected))
    assert all(s is None or s == g for s, g in zip(out.type.shape, got.shape))
    if static and isinstance(out.owner.op, Subtensor) and not isinstance(out.owner.op, AdvancedSubtensor):
        assert out.type.shape == got.shape  # constant basic index on known dims: fully static
    _check_shape_graph(out, [x], [x_value])
    return out


BASIC = [
    ((5,), 0), ((5,), -1), ((5,), S(1, 4)), ((5,), S(None, None, -1)), ((5,), S(-2, None)),
    ((5,), S(4, 1, -2)), ((5,), S(0, 0)), ((5,), S(10, 20)), ((5,), None), ((5,), Ellipsis),
    ((5,), (None, S(None))), ((5,), S(-100, 100, 3)), ((5,), S(None, -100, -1)),
    ((3, 4), 0), ((3, 4), (S(None), 1)), ((3, 4), (-1, -1)), ((3, 4), (S(None, None, -1), S(1, None, 2))),
    ((3, 4), (Ellipsis, 0)), ((3, 4), (None, Ellipsis, None)), ((3, 4), S(0, 0)),
    ((3, 4), (S(1, 2), None, S(None, None, -3))), ((3, 4), ()),
    ((0, 3), (S(None), 1)), ((0, 3), S(0, 0)), ((0, 3), (Ellipsis, -1)), ((0,), S(None, None, -1)),
    ((1, 1), (0, 0)), ((1, 1), (S(None), 0)), ((1,), 0),
    ((2, 1, 3), (1, S(None), S(None, None, -1))), ((2, 1, 3), (Ellipsis, 1)), ((2, 1, 3), (0, 0, 0)),
    ((), ()), ((), None), ((), Ellipsis),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,index", BASIC)
def test_basic_against_numpy(shape, index, dtype):
    x = rand(shape, dtype)
    _check(x, index)
    out = _check(x, index, static=True)
    assert type(out.owner.op) is Subtensor
    assert out.owner.op.fusion_kind == "view" and out.owner.op.view_map == {0: [0]}


def test_basic_result_is_view_and_input_untouched():
    x = T.dmatrix("x")
    v = rand((3, 4))
    for out in (x[1, ::-1], x[0, 0]):
        (got,) = out.owner.op.perform(out.owner, [v])
        assert np.shares_memory(got, v)


def test_static_shapes_on_unknown_dims():
    x = T.dmatrix("x")
    assert x[0:0].type.shape == (0, None)
    assert x[5:2].type.shape == (0, None)
    assert x[-1:-3].type.shape == (0, None)
    assert x[:-1:-1].type.shape == (0, None)
    assert x[1:3].type.shape == (None, None)
    assert x[None, :, 0].type.shape == (1, None)
    assert T.tensor("float64", (4, None))[1:, 2].type.shape == (3,)
    e = T.tensor("float64", (0, None))
    assert e[T.iscalar("i"):].type.shape == (0, None)


def test_canonical_props_and_str():
    x = T.dmatrix("x")
    assert x[0].owner.op == x[0, :].owner.op == x[0, ...].owner.op
    assert x[0:].owner.op == x[::1].owner.op == x[:].owner.op
    i = T.iscalar("i")
    op = x[i:, ::-1].owner.op
    assert op.idx_list == (("slice", "?", None, None), ("slice", None, None, -1))
    assert str(op) == "Subtensor{?:, ::-1}"
    assert hash(op) == hash(Subtensor(op.idx_list))
    import pickle
    assert pickle.loads(pickle.dumps(op)) == op


# ------------------------------------------------------------ symbolic bounds

def test_symbolic_int_and_slice_bounds_against_numpy():
    x = T.dvector("x")
    i, j, s = T.iscalars("i", "j", "s")
    out = x[i:j:s]
    f = _fn([x, i, j, s], [out, *out.owner.op.infer_shape(out.owner, [(T.shape(x)[0],), (), (), ()])[0]])
    for n in (0, 1, 4):
        v = rand((n,))
        for a, b, c in itertools.product(range(-6, 7, 2), range(-6, 7, 3), (-3, -1, 1, 2)):
            got, length = f(v, a, b, c)
            assert_close(got, v[a:b:c])
            assert int(length) == got.shape[0]


def test_symbolic_positions():
    x = T.dmatrix("x")
    i, k = T.iscalar("i"), T.lscalar("k")
    v = rand((3, 4))
    f = _fn([x, i, k], [x[i], x[:, k], x[i, k], x[i:, :k], x[x.shape[0] - 1], x[-i], x[i:i + 2]])
    for a, b in [(0, 0), (2, -1), (-2, 3)]:
        for got, want in zip(f(v, a, b), [v[a], v[:, b], v[a, b], v[a:, :b], v[-1], v[-a], v[a:a + 2]]):
            assert_close(got, want)


def test_shape_element_is_int64_scalar():
    x = T.dtensor3("x")
    n = x.shape[0]
    assert n.dtype == "int64" and n.ndim == 0
    assert _fn([x], x.shape[-1])(rand((2, 3, 4))) == 4
    with pytest.raises(ArignoteValueError, match="out of bounds"):
        x.shape[3]


# ------------------------------------------------------------ advanced

ADVANCED = [
    ((5, 3), [0, 4, -1, 0]),                                   # gather rows, repeats, negative
    ((5, 3), (S(None), [2, 0])),                               # x[:, idx]
    ((5, 3), (np.arange(5), [0, 1, 2, 1, 0])),                 # one entry per row
    ((5, 3), np.array([[0, 1], [4, 4]])),                      # matrix of indices
    ((5, 3), []),                                              # empty list
    ((5, 3), (np.array([], "int64"), 0)),
    ((4, 3, 2), ([0, 3], S(None), [1, 0])),                    # separated: advanced dims first
    ((4, 3, 2), (S(None), [0, 2], [1, 1])),                    # adjacent
    ((4, 3, 2), (0, S(None), [1, 0])),                         # an int counts as advanced
    ((4, 3, 2), (S(None), [0, 2], None, [1, 1])),              # None separates
    ((4, 3, 2), (S(None), [0, 2], Ellipsis, [1, 1])),          # so does an empty Ellipsis
    ((4, 3, 2), ([0, 3], Ellipsis)),
    ((4, 3, 2), (Ellipsis, [1, 0, 1])),
    ((4, 3, 2), (None, [[1], [2]], [0, 2])),
    ((4, 3, 2), (S(1, None, 2), [2, 0], S(None, None, -1))),
    ((1, 3), ([0, 0, 0], S(None))),
    ((0, 3), (S(None), [1, 2])),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,index", ADVANCED)
def test_advanced_against_numpy(shape, index, dtype):
    x = rand(shape, dtype)
    for static in (False, True):
        out = _check(x, index, static=static)
        assert type(out.owner.op) is AdvancedSubtensor and out.owner.op.fusion_kind == "opaque"


@pytest.mark.parametrize("dtype", DTYPES)
def test_symbolic_index_arrays(dtype):
    x = T.tensor(dtype, (None, None), "x")
    idx, y = T.ivector("idx"), T.lvector("y")
    v = rand((4, 3), dtype)
    iv, yv = np.array([3, -1, 0, 3], "int32"), np.array([2, 0, 1, 2])
    outs = [x[idx], x[:, y[:2]], x[idx, y], x[T.constant(np.arange(4)), y], x[idx[:, None], y[None, :]],
            x[idx, 1], x[idx][:, y]]
    wants = [v[iv], v[:, yv[:2]], v[iv, yv], v[np.arange(4), yv], v[iv[:, None], yv[None, :]],
             v[iv, 1], v[iv][:, yv]]
    for out, got, want in zip(outs, _fn([x, idx, y], outs)(v, iv, yv), wants):
        assert_close(got, want)
        _check_shape_graph(out, [x, idx, y], [v, iv, yv])
    assert x[idx, y].type.shape == (None,)
    assert T.tensor(dtype, (4, 3))[T.tensor("int32", (2, 1)), T.tensor("int32", (5,))].type.shape == (2, 5)


@pytest.mark.parametrize("dtype", DTYPES)
def test_masks(dtype):
    x = T.tensor(dtype, (None, None), "x")
    m = T.bvector("m") > 0
    v = rand((4, 3), dtype)
    mv = np.array([1, 0, 1, 1], "int8")
    outs = [x[x > 0], x[m], x[:, T.constant(np.array([True, False, True]))], x[m, 1], x[m, ::-1]]
    wants = [v[v > 0], v[mv > 0], v[:, [True, False, True]], v[mv > 0, 1], v[mv > 0, ::-1]]
    for out, got, want in zip(outs, _fn([x, m.owner.inputs[0]], outs)(v, mv), wants):
        assert_close(got, want)
        _check_shape_graph(out, [x, m.owner.inputs[0]], [v, mv])
    assert x[x > 0].type.shape == (None,)
    assert outs[2].type.shape == (None, 2)  # a constant mask has a known count
    _check(rand((0, 3), dtype), np.zeros((0, 3), bool))
    _check(rand((2, 3), dtype), np.array([[True, False, True], [False, False, True]]), static=True)


# ------------------------------------------------------------ set / inc

SET_INC = [  # (x shape, index, y shape)
    ((5,), 2, ()), ((5,), S(1, 4), (3,)), ((5,), S(None, None, -2), ()), ((3, 4), (S(None), 1), (3,)),
    ((3, 4), (S(None), S(1, 3)), (1, 2)), ((3, 4), S(0, 0), ()), ((3, 4), (None, 0), (1, 4)),
    ((0, 3), (S(None), 1), ()), ((1, 1), (0, 0), ()),
    ((5, 3), [0, 4, -1, 0], (3,)),                 # repeated rows
    ((5, 3), ([0, 0, 2, 0], [1, 1, 2, 1]), (4,)),  # repeated entries
    ((5, 3), (list(range(5)), [2, 0, 1, 1, 2]), (5,)),  # distinct, increasing (the cross-entropy gradient)
    ((5, 3), ([4, 2, 0], [0, 1, 2]), (3,)),          # distinct, decreasing
    ((5, 3), [-1, 2, 4], (3,)),                      # increasing, yet -1 and 4 are one row
    ((5, 3), (S(None), [2, 2]), (5, 1)),
    ((4, 3, 2), ([0, 3], S(None), [1, 0]), (2, 1)),
    ((4, 3, 2), (S(None), [0, 2], None, [1, 1]), ()),
    ((4, 3), np.array([[True, False, True]] * 4), ()),
    ((4, 3), np.array([True, False, True, True]), (3,)),
]


def _np_inc(x, index, y):
    out = x.copy()
    flat = np.arange(x.size).reshape(x.shape)[index]
    np.add.at(out.reshape(-1), flat.reshape(-1), np.broadcast_to(y, flat.shape).reshape(-1))
    return out


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,index,yshape", SET_INC)
def test_set_and_inc_against_numpy(shape, index, yshape, dtype):
    xv, yv = rand(shape, dtype), rand(yshape, dtype, rng=np.random.default_rng(7))
    x, y = symbolic_like(xv, "x"), symbolic_like(yv, "y")
    s, i = T.set_subtensor(x[index], y), T.inc_subtensor(x[index], y)
    assert isinstance(s.owner.op, IncSubtensor) and s.type == x.type
    keep = xv.copy()
    got_s, got_i = _fn([x, y], [s, i])(xv, yv)
    want_s = xv.copy()
    want_s[index] = yv
    assert_close(got_s, want_s)
    assert_close(got_i, _np_inc(xv, index, yv))
    assert np.array_equal(xv, keep)  # perform never writes its inputs
    _check_shape_graph(i, [x, y], [xv, yv])


def test_inc_accumulates_repeats_and_casts_values():
    x = T.fvector("x")
    idx = T.lvector("idx")
    f = _fn([x, idx], [T.inc_subtensor(x[idx], 1.5), T.set_subtensor(x[idx], 2),
                       T.inc_subtensor(x[idx], np.float64(0.5)),
                       T.inc_subtensor(x[idx], 1, set_instead_of_inc=True)])
    a, b, c, d = f(np.zeros(3, "float32"), np.array([0, 2, 0, 0]))
    assert_close(a, np.array([4.5, 0, 1.5], "float32"))
    assert_close(b, np.array([2, 0, 2], "float32"))
    assert_close(c, np.array([1.5, 0, 0.5], "float32"))
    assert_close(d, np.array([1, 0, 1], "float32"))
    xi = T.ivector("xi")
    assert T.inc_subtensor(xi[0], T.bscalar("b")).dtype == "int32"


# ------------------------------------------------------------ errors

def test_build_time_errors():
    x = T.tensor("float64", (3, None), "x")
    with pytest.raises(ArignoteValueError, match=r"index 3 is out of bounds for axis 0 of 'x'.*\(3, None\)"):
        x[3]
    with pytest.raises(ArignoteValueError, match="out of bounds"):
        x[-4, 0]
    with pytest.raises(ArignoteValueError, match="out of bounds"):
        x[[0, 5]]
    with pytest.raises(ArignoteTypeError, match="too many indices"):
        x[0, 0, 0]
    with pytest.raises(ArignoteTypeError, match="too many indices"):
        x[None, 0, :, 1]
    with pytest.raises(ArignoteTypeError, match="integers"):
        x[1.5]
    with pytest.raises(ArignoteTypeError, match="integers"):
        x[T.dvector("f")]
    with pytest.raises(ArignoteTypeError, match="slice bounds"):
        x[T.dscalar("f"):]
    with pytest.raises(ArignoteTypeError, match="boolean"):
        x[True]
    with pytest.raises(ArignoteValueError, match="step cannot be zero"):
        x[::0]
    with pytest.raises(ArignoteValueError, match="one Ellipsis"):
        x[..., ...]
    with pytest.raises(ShapeError, match="boolean index"):
        x[np.ones(4, bool)]
    with pytest.raises(ShapeError, match="broadcast"):
        T.tensor("float64", (5, 5))[T.tensor("int32", (2,)), T.tensor("int32", (3,))]
    with pytest.raises(ArignoteTypeError, match="indexed expression"):
        T.set_subtensor(x, 1.0)
    with pytest.raises(ArignoteTypeError, match="more than"):
        T.set_subtensor(x[0], T.dmatrix("m"))
    with pytest.raises(ShapeError, match="cannot be broadcast"):
        T.inc_subtensor(x[:, 0], T.tensor("float64", (2,)))
    with pytest.raises(ArignoteTypeError, match="cannot write"):
        T.inc_subtensor(T.ivector("iv")[0], T.dscalar("d"))
    with pytest.raises(ArignoteTypeError, match="does not fit"):
        T.set_subtensor(T.ivector("iv")[0], 0.5)
    with pytest.raises(ArignoteTypeError, match="does not fit"):
        T.set_subtensor(T.bvector("bv")[0], 300)
    with pytest.raises(ArignoteTypeError, match="index input"):
        Subtensor((("int", "?"),))(x)
    with pytest.raises(ArignoteTypeError, match="integer scalar"):
        Subtensor((("int", "?"),))(x, T.dscalar())
    with pytest.raises(ArignoteValueError):
        Subtensor((("array",),))
    with pytest.raises(ArignoteValueError):
        AdvancedSubtensor((("int", 0),))


def test_run_time_errors():
    x, i, idx = T.dmatrix("x"), T.iscalar("i"), T.lvector("idx")
    v = rand((3, 2))
    msg = r"index 3 is out of bounds for axis 0 of 'x' with shape \(3, 2\)"
    with pytest.raises(ArignoteValueError, match=msg):
        _fn([x, i], x[i])(v, 3)
    with pytest.raises(ArignoteValueError, match="index -3 is out of bounds for axis 1"):
        _fn([x], x[0, -3])(v)
    with pytest.raises(ArignoteValueError, match=r"index 7 \(in an index array\) is out of bounds"):
        _fn([x, idx], x[:, idx])(v, np.array([0, 7]))
    with pytest.raises(ArignoteValueError, match="step cannot be zero"):
        _fn([x, i], x[::i])(v, 0)
    m = T.bvector("m")
    with pytest.raises(ShapeError, match="boolean index"):
        _fn([x, m], x[m > 0])(v, np.ones(4, "int8"))
    with pytest.raises(ArignoteValueError, match="out of bounds"):
        _fn([x, i], T.set_subtensor(x[i], 1.0))(v, -4)
    with pytest.raises(ShapeError, match="cannot be broadcast"):
        y = T.dvector("y")
        _fn([x, y], T.inc_subtensor(x[:, 0], y))(v, np.ones(1))


# ------------------------------------------------------------ gradients

@pytest.mark.parametrize("shape,index", [
    ((4, 3), (1,)), ((4, 3), (S(None), -1)), ((4, 3), (S(None, None, -1), S(1, None))),
    ((4, 1), (S(1, 3), 0)), ((4, 3), (None, 2, S(None, None, 2))), ((1,), 0), ((4, 3), S(0, 0)),
])
def test_grad_basic(shape, index):
    verify_grad(lambda x: x[index], [rand(shape)])


@pytest.mark.parametrize("shape,index", [
    ((4, 3), [0, 2, 0, 0]), ((4, 3), (S(None), [2, 2, 0])), ((4, 3), ([0, 1, 3, 3], [2, 0, 1, 1])),
    ((4, 3, 2), ([0, 3], S(None), [1, 1])), ((4, 3), np.array([True, False, True, True])),
    ((1, 3), ([0, 0], S(None))),
])
def test_grad_advanced(shape, index):
    verify_grad(lambda x: x[index], [rand(shape)])


def test_grad_mask_of_own_values():
    v = rand((3, 4))
    verify_grad(lambda x: x[x > 0], [v])


@pytest.mark.parametrize("shape,index,yshape", [
    ((4, 3), 1, (3,)), ((4, 3), (S(None), 0), ()), ((4, 3), (S(1, None), S(None, 2)), (1, 2)),
    ((4, 3), (S(None), S(None, None, -1)), (3,)), ((4, 1), (S(None), 0), (1,)),
    ((4, 3), ([0, 2], [1, 0]), (2,)), ((4, 3), (S(None), [2, 0]), (4, 1)),
    ((4, 3), np.array([True, False, True, True]), (1, 3)),
])
def test_grad_set_and_inc(shape, index, yshape):
    xv, yv = rand(shape), rand(yshape, rng=np.random.default_rng(3))
    verify_grad(lambda x, y: T.set_subtensor(x[index], y) * 1.5, [xv, yv])
    verify_grad(lambda x, y: T.inc_subtensor(x[index], y) ** 2, [xv, yv])


def test_grad_inc_repeated_indices():
    idx = [0, 2, 0, 0]
    verify_grad(lambda x, y: T.inc_subtensor(x[idx], y) ** 2, [rand((3, 2)), rand((4, 2))])
    verify_grad(lambda x, y: T.inc_subtensor(x[idx], y) ** 2, [rand((3, 2)), rand((2,))])
    x = T.dvector("x")
    g = ag.grad(T.sum(x[[1, 1, 1, 0]] * T.constant(np.array([1.0, 2.0, 3.0, 4.0]))), x)
    assert_close(_fn([x], g)(np.zeros(3)), np.array([4.0, 6.0, 0.0]))


def test_grad_through_symbolic_indices():
    x, i, j, idx = T.dmatrix("x"), T.iscalar("i"), T.iscalar("j"), T.lvector("idx")
    w = np.arange(1.0, 5.0)
    gx = ag.grad(T.sum(x[i, ::-1] * T.constant(w)) + T.sum(x[i:j, idx] ** 2), x)
    v, iv = rand((3, 4)), np.array([1, 1, -1])
    want = np.zeros((3, 4))
    want[0, ::-1] += w
    np.add.at(want, (slice(0, 2), iv), 2 * v[0:2][:, iv])
    assert_close(_fn([x, i, j, idx], gx)(v, 0, 2, iv), want)


def test_grad_of_shape_index_is_not_needed():
    x = T.dvector("x")
    cost = T.sum(x[: x.shape[0] - 1] * 2.0)
    assert_close(_fn([x], ag.grad(cost, x))(np.ones(3)), np.array([2.0, 2.0, 0.0]))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_softmax_regression_pattern(dtype):
    rng = np.random.default_rng(5)
    xv = rng.normal(size=(6, 4)).astype(dtype)
    wv = rng.normal(size=(4, 3)).astype(dtype)
    yv = rng.integers(0, 3, 6).astype("int32")
    x, w, y = T.tensor(dtype, (None, None), "x"), T.tensor(dtype, (None, None), "W"), T.ivector("y")
    z = T.dot(x, w)
    e = T.exp(z - T.max(z, axis=1, keepdims=True))
    p = e / T.sum(e, axis=1, keepdims=True)
    rows = T.arange(y.shape[0]) if hasattr(T, "arange") else T.constant(np.arange(6))
    cost = -T.mean(T.log(p)[rows, y])
    f = _fn([x, w, y], [cost, ag.grad(cost, w)])
    got_cost, got_g = f(xv, wv, yv)
    zv = xv.astype("float64") @ wv
    pv = np.exp(zv - zv.max(1, keepdims=True))
    pv /= pv.sum(1, keepdims=True)
    onehot = np.eye(3)[yv]
    assert_close(got_cost, np.asarray(-np.log(pv[np.arange(6), yv]).mean(), dtype))
    assert_close(got_g, (xv.T @ (pv - onehot) / 6).astype(dtype))
    if dtype == "float64":
        verify_grad(lambda w_: -T.mean(T.log(T.exp(T.dot(T.constant(xv), w_)))[np.arange(6), yv]), [wv])


def test_all_dtypes_for_indexing_a_vector():
    for dtype in _ALL:
        v = rand((4,), dtype)
        assert_close(_fn([x := symbolic_like(v)], x[[3, 0]])(v), v[[3, 0]])


def _random_index(rng, ndim):
    """A random NumPy index over ``ndim`` dims: ints, slices, None, Ellipsis, arrays."""
    items, left, ellipsis = [], ndim, False
    while left and rng.random() < 0.85:
        r = rng.random()
        if r < 0.2:
            items.append(int(rng.integers(-2, 2)))
        elif r < 0.5:
            items.append(slice(*(None if rng.random() < 0.3 else int(rng.integers(-4, 4)) for _ in range(2)),
                               [None, 1, -1, 2, -2][rng.integers(5)]))
        elif r < 0.75:
            items.append(rng.integers(-2, 2, size=rng.integers(1, 3)).tolist())
        elif r < 0.85:
            items.append(None)
            continue
        elif not ellipsis:
            items.append(Ellipsis)
            ellipsis = True
            continue
        else:
            continue
        left -= 1
    return tuple(items)


def test_random_indexes_against_numpy():
    """Layout rules (advanced dims first when separated...), static shapes, infer_shape, set/inc."""
    rng = np.random.default_rng(11)
    v = rand((2, 3, 4))
    x, xs = symbolic_like(v, "x"), T.tensor("float64", v.shape, "xs")
    for _ in range(120):
        index = _random_index(rng, 3)
        try:
            want = v[index]
        except IndexError:  # arrays that do not broadcast together
            continue
        out, out_s = x[index], xs[index]
        got, got_s = _fn([x, xs], [out, out_s])(v, v)
        assert_close(got, want)
        assert_close(got_s, want)
        assert out_s.type.shape == want.shape, (index, out_s.type)  # all static here
        _check_shape_graph(out, [x], [v])
        assert_close(_fn([x], T.inc_subtensor(x[index], 1.0))(v), _np_inc(v, index, 1.0))
