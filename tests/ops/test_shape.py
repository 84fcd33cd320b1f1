"""Shape ops and views against NumPy: values over dtypes and shapes (size 0 and 1
included), static shapes, infer_shape, build-time and run-time errors, gradients.
The helpers here (``check``...) serve test_construct.py too."""

import numpy as np
import pytest

import arignote as ag
import arignote.tensor as T
from arignote.errors import ArignoteTypeError, ArignoteValueError, ShapeError
from arignote.ops.shape import DimShuffle, Reshape, SpecifyShape, static_entries, static_int
from arignote.verify import verify_grad
from tests.util import assert_close, rand, symbolic_like

DTYPES = ("float32", "float64", "int32")


def typed(value, static=False, name="x"):
    """A symbolic input for ``value``: every size static, or only its size-1 dims."""
    value = np.asarray(value)
    return T.tensor(value.dtype, value.shape, name=name) if static else symbolic_like(value, name)


def check_infer_shape(outs, inputs, values):
    """Each output node's infer_shape, compiled, equals the shapes actually computed."""
    outs = outs if isinstance(outs, list) else [outs]
    shapes = []
    for out in outs:
        node = out.owner
        in_shapes = [tuple(T.shape_i(i, d) for d in range(i.ndim)) for i in node.inputs]
        shapes.append(node.op.infer_shape(node, in_shapes)[out.index])
    flat = [s for shape in shapes for s in shape]
    got = ag.function(inputs, outs + flat, on_unused_input="ignore")(*values)
    arrays, dims = got[:len(outs)], got[len(outs):]
    for arr, shape in zip(arrays, shapes):
        assert tuple(int(d) for d in dims[:len(shape)]) == arr.shape
        dims = dims[len(shape):]


def check(sym_fn, np_fn, *values, static=False, infer=True):
    """Compile ``sym_fn`` over inputs like ``values``; compare values and static shape with NumPy."""
    inputs = [typed(v, static, f"in{k}") for k, v in enumerate(values)]
    out = sym_fn(*inputs)
    expected = np.asarray(np_fn(*values))
    assert out.ndim == expected.ndim
    assert all(s in (None, e) for s, e in zip(out.type.shape, expected.shape)), (out.type, expected.shape)
    if static:
        assert out.type.shape == expected.shape, (out.type, expected.shape)
    assert_close(ag.function(inputs, out, on_unused_input="ignore")(*values), expected)
    if infer and out.owner is not None:
        check_infer_shape(out, inputs, values)
    return out


def grad_point(shape, seed=0):
    return rand(shape, "float64", np.random.default_rng(seed))


# ------------------------------------------------------------ shape, shape_i

@pytest.mark.parametrize("shape", [(), (0,), (1, 1), (2, 1, 3)])
def test_shape_and_shape_i(shape):
    v = np.zeros(shape)
    x = typed(v)
    f = ag.function([x], [T.shape(x)] + [T.shape_i(x, d) for d in range(v.ndim)] + [x.shape])
    got = f(v)
    assert_close(got[0], np.asarray(shape, dtype="int64"))
    assert [int(g) for g in got[1:-1]] == list(shape) and got[-1].dtype == np.int64


def test_shape_i_is_constant_when_static_and_checks_axis():
    x = T.tensor("float64", (3, None))
    assert isinstance(T.shape_i(x, 0), T.TensorConstant) and T.shape_i(x, -2).data == 3
    assert T.shape_i(x, 1).owner is not None
    with pytest.raises(ArignoteValueError, match="out of range"):
        T.shape_i(x, 2)


def test_static_entries_track_constants_and_dims():
    x = T.tensor("float64", (None, 3, 4), "x")
    e = static_entries(T.stack([x.shape[0], x.shape[1], 2 * 3]))
    assert e[0] == ("dim", x, 0) and list(e[1:]) == [3, 6]
    assert static_int(x.shape[-1]) == 4 and static_int(x.shape[0]) is None
    assert static_int(T.lscalar("n")) is None and static_int(T.constant(7)) == 7


def test_static_entries_evaluate_only_pure_ops():
    from arignote.graph.basic import Apply
    from arignote.graph.op import Op

    class Draw(Op):  # stands for a random op: never evaluated at build time
        def make_node(self, n):
            return Apply(self, [n], [T.TensorType("int64", ())])

        def perform(self, node, inputs):
            return [np.asarray(4, "int64")]

    x = T.tensor("float64", (2, 6))
    assert static_int(Draw()(T.constant(3))) is None
    assert T.reshape(x, (Draw()(T.constant(3)), 3)).type.shape == (4, 3)  # from the size, not the draw


# ------------------------------------------------------------ reshape

RESHAPES = [((3, 4), (12,)), ((3, 4), (2, -1)), ((3, 4), (-1,)), ((0, 3), (3, 0)), ((0, 3), (-1, 3)),
            ((1, 1), ()), ((2, 1, 3), (3, 2)), ((5,), (1, 5, 1)), ((), (1, 1))]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,newshape", RESHAPES)
@pytest.mark.parametrize("static", [False, True])
def test_reshape_matches_numpy(dtype, shape, newshape, static):
    check(lambda x: T.reshape(x, newshape), lambda x: x.reshape(newshape), rand(shape, dtype), static=static)


def test_reshape_forms():
    v = rand((3, 4))
    x, n, s, m = typed(v), T.lscalar("n"), T.lvector("s"), T.iscalar("m")
    outs = [x.reshape(2, 6), x.reshape((2, 6)), x.reshape([n, -1]), T.reshape(x, s, ndim=2),
            T.reshape(x, s, 2), T.reshape(x, (m, 4)), T.reshape(x, T.stack([n, 6])),
            T.reshape(x, T.as_tensor_variable([n, -1])), T.reshape(x, (x.shape[1], x.shape[0])),
            T.reshape(x, 12), T.reshape(x, (m * 4,)), T.reshape(x, np.array([2, 6]))]
    assert T.reshape(T.tensor("float64", (3, 4)), (m, 4)).type.shape == (3, 4)
    f = ag.function([x, n, s, m], outs)
    got = f(v, 2, [6, 2], 3)
    expected = [(2, 6)] * 3 + [(6, 2)] * 2 + [(3, 4), (2, 6), (2, 6), (4, 3), (12,), (12,), (2, 6)]
    assert [g.shape for g in got] == expected
    check_infer_shape(outs, [x, n, s, m], [v, 2, [6, 2], 3])
    with pytest.raises(ShapeError, match="size 12"):
        f(v, 5, [6, 2], 3)


@pytest.mark.parametrize("xshape,newshape,expected", [
    ((3, 4), (2, -1), (2, 6)),
    ((None, 3, 4), "flat2", (None, 12)),
    ((None, 3), (-1,), (None,)),
    ((3, None), (-1, 3), (None, 3)),
    ((2, 6), "n3", (None, 3)),          # n may be -1 or 4: either way 4? no: the n entry is unknown
    ((2, 6), "n_only", (None,)),
    ((2, 6), ("n", 4), (3, 4)),         # an unknown entry beside known ones is the quotient
    ((None, 1), (1, -1), (1, None)),
])
def test_reshape_static_shape(xshape, newshape, expected):
    x, n = T.tensor("float64", xshape, "x"), T.lscalar("n")
    if newshape == "flat2":
        newshape = (x.shape[0], -1)
    elif newshape == "n3":
        newshape, expected = (n, -1, 3), (None, None, 3)
    elif newshape == "n_only":
        newshape = (n,)
        expected = (12,)
    else:
        newshape = tuple(n if e == "n" else e for e in newshape)
    assert T.reshape(x, newshape).type.shape == expected


@pytest.mark.parametrize("xshape,newshape,match", [
    ((3, 4), (5, -1), "not a multiple"),
    ((3, 4), (5, 3), "size 15"),
    ((3, 4), (-1, -1), "at most one -1"),
    ((3, 4), (-2, -6), "at most one -1"),
    ((0, 3), (0, -1), "multiply to 0"),
    ((None, 3), ("x0", 4), "size 4"),
])
def test_reshape_build_errors(xshape, newshape, match):
    x = T.tensor("float64", xshape, "x")
    newshape = tuple(x.shape[0] if e == "x0" else e for e in newshape)
    with pytest.raises(ShapeError, match=match):
        T.reshape(x, newshape)


def test_reshape_argument_errors():
    x = T.matrix("x")
    with pytest.raises(ArignoteTypeError, match="int"):
        T.reshape(x, (2.5, 3))
    with pytest.raises(ArignoteTypeError, match="int"):
        T.reshape(x, (T.dscalar("f"), 3))
    with pytest.raises(ArignoteValueError, match="ndim"):
        T.reshape(x, T.lvector("s"))
    with pytest.raises(ArignoteValueError, match="ndim=3"):
        T.reshape(x, (2, 3), ndim=3)
    with pytest.raises(ArignoteTypeError, match="int vector"):
        Reshape(2)(x, T.dvector("s"))


def test_reshape_runtime_errors():
    v = rand((3, 4))
    x, s = typed(v), T.lvector("s")
    f = ag.function([x, s], T.reshape(x, s, ndim=2))
    with pytest.raises(ShapeError, match=r"shape \(3, 4\) \(size 12\) into shape \(5, -1\)"):
        f(v, [5, -1])
    with pytest.raises(ShapeError, match="at most one -1"):
        f(v, [-1, -1])
    with pytest.raises(ShapeError, match="expected 2 entries"):
        f(v, [12])
    with pytest.raises(ShapeError, match="size 10"):
        f(v, [5, 2])
    assert f(v, [6, -1]).shape == (6, 2)


def test_reshape_is_a_view_op():
    assert Reshape.fusion_kind == "view" and Reshape.view_map == {0: [0]}
    assert Reshape(2) == Reshape(2) and hash(Reshape(2)) == hash(Reshape(2)) and Reshape(2) != Reshape(3)


# ------------------------------------------------------------ flatten, transpose, dimshuffle

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(0,), (5,), (0, 3), (1, 1), (3, 4), (2, 1, 3), (2, 0, 3)])
def test_flatten_matches_numpy(dtype, shape):
    v = rand(shape, dtype)
    for ndim in range(1, len(shape) + 1):
        def expected(a, n=ndim):
            return a.reshape(a.shape[:n - 1] + (int(np.prod(a.shape[n - 1:])),))
        check(lambda x, n=ndim: T.flatten(x, n), expected, v)
        check(lambda x, n=ndim: T.flatten(x, n), expected, v, static=True)


def test_flatten_static_shapes_and_errors():
    x = T.tensor("float64", (None, 3, 4), "x")
    assert T.flatten(x, 2).type.shape == (None, 12) and x.flatten().type.shape == (None,)
    assert T.flatten(x, 3).type.shape == (None, 3, 4) and x.ravel().type.shape == (None,)
    assert T.flatten(T.tensor("float64", (2, 3)), outdim=1).type.shape == (6,)
    assert T.flatten(T.dscalar()).type.shape == (1,)
    for bad in (0, 4, 1.5):
        with pytest.raises(ArignoteValueError, match="ndim"):
            T.flatten(x, bad)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,axes", [((3, 4), None), ((0, 3), None), ((2, 1, 3), (1, 2, 0)),
                                        ((2, 1, 3), (-1, 0, 1)), ((5,), None), ((), None)])
def test_transpose_matches_numpy(dtype, shape, axes):
    check(lambda x: T.transpose(x, axes), lambda x: np.transpose(x, axes), rand(shape, dtype), static=True)


def test_transpose_forms_and_errors():
    v = rand((2, 3, 4))
    x = typed(v)
    outs = [x.T, x.transpose(2, 0, 1), x.transpose([1, 0, 2]), T.swapaxes(x, 0, -1)]
    got = ag.function([x], outs)(v)
    for g, e in zip(got, [v.T, v.transpose(2, 0, 1), v.transpose(1, 0, 2), np.swapaxes(v, 0, -1)]):
        assert_close(g, e)
    for bad in [(0, 1), (0, 0, 1), (0, 1, 3), 1]:
        with pytest.raises(ArignoteValueError):
            T.transpose(x, bad)


@pytest.mark.parametrize("dtype", DTYPES)
def test_dimshuffle_matches_numpy(dtype):
    v = rand((2, 1, 3), dtype)
    check(lambda x: x.dimshuffle(2, "x", 0), lambda a: a[:, 0, :].T[:, None, :], v)
    check(lambda x: T.dimshuffle(x, ("x", 0, 1, 2, "x")), lambda a: a[None, ..., None], v)
    check(lambda x: x.dimshuffle(0, 2), lambda a: a[:, 0, :], np.zeros((0, 1, 3), dtype))


def test_dimshuffle_errors():
    x = T.tensor("float64", (None, 1, 3), "x")
    with pytest.raises(ArignoteValueError, match="cannot drop dimension 0"):
        x.dimshuffle(1, 2)
    with pytest.raises(ArignoteValueError, match="at most once"):
        x.dimshuffle(0, 0, 1)
    with pytest.raises(ArignoteValueError, match="at most once"):
        x.dimshuffle(0, 1, 3)
    with pytest.raises(ArignoteTypeError, match="3-d input"):
        DimShuffle(3, (0, 1, 2))(T.matrix())


# ------------------------------------------------------------ expand_dims, squeeze

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,axis", [((3, 4), 0), ((3, 4), -1), ((0, 3), (0, 2)), ((), 0),
                                        ((2, 1), (-1, 1))])
def test_expand_dims_matches_numpy(dtype, shape, axis):
    v = rand(shape, dtype)
    check(lambda x: T.expand_dims(x, axis), lambda a: np.expand_dims(a, axis), v, static=True)


def test_expand_dims_and_pads():
    x = T.tensor("float64", (None, 3))
    assert T.shape_padleft(x, 2).type.shape == (1, 1, None, 3)
    assert T.shape_padright(x).type.shape == (None, 3, 1)
    assert T.shape_padaxis(x, 1).type.shape == (None, 1, 3)
    with pytest.raises(ArignoteValueError, match="out of range"):
        T.expand_dims(x, 3)
    with pytest.raises(ArignoteValueError, match="repeats"):
        T.expand_dims(x, (0, -4))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,axis", [((2, 1, 3), None), ((1, 1), None), ((1, 0, 1), (0, 2)),
                                        ((2, 1, 3), 1), ((2, 1, 3), -2), ((1,), 0), ((3,), None)])
def test_squeeze_matches_numpy(dtype, shape, axis):
    v = rand(shape, dtype)
    check(lambda x: T.squeeze(x, axis), lambda a: np.squeeze(a, axis), v)
    check(lambda x: x.squeeze(axis), lambda a: np.squeeze(a, axis), v, static=True)


def test_squeeze_keeps_unknown_dims_and_checks_explicit_axes():
    x = T.tensor("float64", (None, 1, 3), "x")
    assert T.squeeze(x).type.shape == (None, 3)
    y = T.squeeze(x, (0, 1))  # dimension 0 is checked at run time
    assert y.type.shape == (3,)
    f = ag.function([x], y)
    assert_close(f(np.ones((1, 1, 3))), np.ones(3))
    with pytest.raises(ShapeError, match=r"shape \(2, 1, 3\), expected \(1, 1, \?\)"):
        f(np.ones((2, 1, 3)))
    with pytest.raises(ShapeError, match="its size is 3"):
        T.squeeze(x, 2)
    with pytest.raises(ArignoteValueError, match="out of range"):
        T.squeeze(x, 3)


# ------------------------------------------------------------ specify_shape and broadcasting

def test_specify_shape_refines_and_checks():
    x, n = T.matrix("x"), T.lscalar("n")
    y = T.specify_shape(x, (3, None))
    assert y.type.shape == (3, None) and isinstance(y.owner.op, SpecifyShape)
    z = T.specify_shape(x, (n, 2))
    assert z.type.shape == (None, 2)
    w = T.specify_shape(x, T.shape(T.tensor("float64", (3, 2))))
    assert w.type.shape == (3, 2) and T.specify_shape(x, (None, None)) is x
    f = ag.function([x, n], [y, z])
    v = rand((3, 2))
    assert_close(f(v, 3)[1], v)
    with pytest.raises(ShapeError, match=r"shape \(3, 2\), expected \(4, 2\)"):
        f(v, 4)
    with pytest.raises(ShapeError, match=r"shape \(2, 2\), expected \(3, \?\)"):
        f(rand((2, 2)), 2)
    check_infer_shape([y, z], [x, n], [v, 3])


def test_specify_shape_build_errors():
    x = T.tensor("float64", (3, None), "x")
    with pytest.raises(ShapeError, match="static shape"):
        T.specify_shape(x, (4, None))
    with pytest.raises(ShapeError):
        T.specify_shape(x, (None, -1))
    with pytest.raises(ArignoteValueError, match="length 1"):
        T.specify_shape(x, (3,))
    with pytest.raises(ArignoteTypeError, match="int"):
        T.specify_shape(x, (3, 1.5))


def test_addbroadcast_unbroadcast_patternbroadcast():
    x = T.matrix("x")
    row = T.addbroadcast(x, 0)
    assert row.type.shape == (1, None) and T.addbroadcast(row, 0) is row
    assert T.unbroadcast(row, 0).type.shape == (None, None) and T.unbroadcast(x, 0) is x
    assert T.patternbroadcast(x, (False, True)).type.shape == (None, 1)
    assert T.patternbroadcast(row, (False, True)).type.shape == (None, 1)
    f = ag.function([x], [row * 2, T.unbroadcast(row, 0)])
    assert_close(f(np.ones((1, 3)))[1], np.ones((1, 3)))
    with pytest.raises(ShapeError, match="expected"):
        f(np.ones((2, 3)))
    with pytest.raises(ShapeError):
        T.addbroadcast(T.tensor("float64", (2, 3)), 0)
    with pytest.raises(ArignoteValueError):
        T.patternbroadcast(x, (True,))


# ------------------------------------------------------------ gradients

GRAD_CASES = {
    "reshape": ((3, 4), lambda x: T.reshape(x, (2, -1))),
    "reshape_sym": ((1, 6), lambda x: T.reshape(x, (x.shape[1], x.shape[0]))),
    "flatten": ((2, 1, 3), lambda x: T.flatten(x, 2)),
    "flatten1": ((2, 3), lambda x: x.flatten()),
    "transpose": ((2, 3, 1), lambda x: x.T),
    "dimshuffle": ((2, 1, 3), lambda x: x.dimshuffle("x", 2, 0, "x")),
    "squeeze": ((2, 1, 3), lambda x: T.squeeze(x)),
    "squeeze_runtime": ((3, 2), lambda x: T.squeeze(T.reshape(x, (1, 6)), 0)),
    "expand_dims": ((2, 3), lambda x: T.expand_dims(x, (0, -1))),
    "specify_shape": ((2, 3), lambda x: T.specify_shape(x, (2, None)) * 2),
    "unbroadcast": ((1, 3), lambda x: T.unbroadcast(x, 0) * 2),
}

@pytest.mark.parametrize("name", sorted(GRAD_CASES))
def test_verify_grad(name):
    shape, fn = GRAD_CASES[name]
    verify_grad(fn, [grad_point(shape)])
