"""Matrix products against NumPy: every rank combination of dot and matmul,
batch broadcasting, tensordot axes, dtypes, empty and size-1 shapes,
build-time and run-time shape errors, static shapes, infer_shape, gradients."""
import pickle

import numpy as np
import pytest

import arignote as ag
import arignote.tensor as T
from arignote.errors import ArignoteTypeError, ArignoteValueError, ShapeError
from arignote.ops.blas import MatMul, TensorDot
from arignote.verify import verify_grad
from tests.util import assert_close, check_against_numpy, rand

DTYPES = ("float32", "float64", "int32")


def _dot_shapes(p, q, m=2, k=3, n=4, lead_a=(2,), lead_b=(3,)):
    """Shapes of ranks p and q that np.dot accepts (leading axes from lead_*)."""
    a = () if p == 0 else (k,) if p == 1 else (*(lead_a * p)[:p - 2], m, k)
    b = () if q == 0 else (k,) if q == 1 else (*(lead_b * q)[:q - 2], k, n)
    return a, b


RANK_PAIRS = [(p, q) for p in range(5) for q in range(5)]


def _pair(sa, sb, dtype, dtype_b=None):
    rng = np.random.default_rng(hash((sa, sb)) % 2**32)
    return rand(sa, dtype, rng), rand(sb, dtype_b or dtype, rng)


# ------------------------------------------------------------ values

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p,q", RANK_PAIRS)
def test_dot_every_rank(p, q, dtype):
    a, b = _pair(*_dot_shapes(p, q), dtype)
    check_against_numpy(T.dot, np.dot, a, b)


@pytest.mark.parametrize("sa,sb", [
    ((0, 3), (3, 4)), ((2, 0), (0, 4)), ((3,), (3, 0)), ((0,), (0,)), ((2, 0, 3), (4, 3, 5)),
    ((1, 1), (1, 1)), ((1, 3), (3, 1)), ((1,), (1,)), ((3, 1), (1, 4)), ((1, 2, 3), (3,)),
    ((2, 3), (1, 3, 1)), ((), (0, 2))])
@pytest.mark.parametrize("dtype", ["float32", "int32"])
def test_dot_empty_and_size_one(sa, sb, dtype):
    check_against_numpy(T.dot, np.dot, *_pair(sa, sb, dtype))


@pytest.mark.parametrize("da,db", [("int32", "int32"), ("float32", "float64"), ("int32", "float32"),
                                   ("int64", "float64"), ("bool", "bool"), ("int8", "int16")])
@pytest.mark.parametrize("fn,ref", [(T.dot, np.dot), (T.matmul, np.matmul)])
def test_product_dtypes(fn, ref, da, db):
    a, b = _pair((2, 3), (3, 4), da, db)
    out = check_against_numpy(fn, ref, a, b)
    assert out.dtype == np.result_type(da, db)


def test_dot_reads_python_scalars_like_numpy():
    x = T.fvector("x")
    v = np.arange(3, dtype="float32")
    assert_close(T.dot(x, 2.5).eval({x: v}), np.dot(v, 2.5))  # float64, as in NumPy
    assert T.dot(x, 2.5).dtype == "float64"
    assert T.dot(x, [1.0, 2.0, 3.0]).dtype == "float64"


MATMUL_SHAPES = [
    ((3,), (3,)), ((3,), (3, 4)), ((2, 3), (3,)), ((2, 3), (3, 4)),
    ((5, 2, 3), (3,)), ((3,), (5, 3, 4)), ((5, 2, 3), (3, 4)), ((2, 3), (5, 3, 4)),
    ((5, 2, 3), (5, 3, 4)), ((5, 1, 2, 3), (4, 3, 2)), ((1, 2, 3), (5, 3, 4)),
    ((2, 1, 2, 3), (1, 4, 3, 2)), ((0, 2, 3), (3, 4)), ((2, 0), (0, 4)), ((1, 1, 1), (1, 1, 1)),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("sa,sb", MATMUL_SHAPES)
def test_matmul(sa, sb, dtype):
    check_against_numpy(T.matmul, np.matmul, *_pair(sa, sb, dtype))


def test_matmul_operator_and_dot_method():
    x, y = T.matrix("x", dtype="float64"), T.matrix("y", dtype="float64")
    a, b = _pair((2, 3), (3, 4), "float64")
    f = ag.function([x, y], [x @ y, x.dot(y), a @ y, x @ b])
    for out in f(a, b):
        assert_close(out, a @ b)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("sa,sb,axes", [
    ((2, 3, 4), (3, 4, 5), 2), ((2, 3), (3, 4), 1), ((2, 3), (4, 5), 0), ((2, 3), (2, 3), 2),
    ((2, 3, 4), (4, 2, 5), [[0, 2], [1, 0]]), ((2, 3, 4), (5, 3), [1, 1]),
    ((2, 3, 4), (4, 3), [[-1, -2], [0, 1]]), ((0, 3), (3, 2), 1), ((1, 3), (3, 1), [[1], [0]]),
    ((), (2,), 0)])
def test_tensordot(sa, sb, axes, dtype):
    check_against_numpy(lambda a, b: T.tensordot(a, b, axes), lambda a, b: np.tensordot(a, b, axes),
                        *_pair(sa, sb, dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("sa,sb", [((3,), (4,)), ((0,), (2,)), ((1,), (1,)), ((2, 3), (4,)),
                                   ((), (3,)), ((2, 1, 2), (2, 2))])
def test_outer(sa, sb, dtype):
    check_against_numpy(T.outer, np.outer, *_pair(sa, sb, dtype))


@pytest.mark.parametrize("dtype", ["float32", "int32"])
@pytest.mark.parametrize("sa,sb", [
    ((4, 2, 3), (4, 3, 5)), ((4, 3), (4, 3)), ((4, 2, 3), (4, 3)), ((4, 3), (4, 3, 5)),
    ((4,), (4, 3)), ((4, 3), (4,)), ((4,), (4,)), ((4, 2, 2, 3), (4, 3, 5)),
    ((4, 3), (4, 2, 3, 5)), ((1, 1, 1), (1, 1, 1)), ((4, 2, 0), (4, 0, 5))])
def test_batched_dot(sa, sb, dtype):
    a, b = _pair(sa, sb, dtype)
    ref = np.stack([np.dot(x, y) for x, y in zip(a, b)])
    check_against_numpy(T.batched_dot, lambda *_: ref, a, b)


def test_batched_dot_empty_batch():
    a, b = _pair((0, 2, 3), (0, 3, 4), "float64")
    check_against_numpy(T.batched_dot, np.matmul, a, b)


# ------------------------------------------------------------ static types

@pytest.mark.parametrize("fn,sa,sb,expected", [
    (T.dot, (None, 3), (3, 5), (None, 5)),
    (T.dot, (2, None, 3), (4, 3, None), (2, None, 4, None)),
    (T.dot, (3,), (None, 3, 5), (None, 5)),
    (T.dot, (None,), (None,), ()),
    (T.matmul, (1, None, 3), (7, 3, 1), (7, None, 1)),
    (T.matmul, (None, 2, 3), (1, 3, 4), (None, 2, 4)),
    (T.matmul, (3,), (6, 3, 4), (6, 4)),
    (T.batched_dot, (None, 2, 3), (5, 3, None), (5, 2, None)),
    (lambda a, b: T.tensordot(a, b, [[0], [1]]), (3, None), (4, 3), (None, 4)),
])
def test_static_shapes(fn, sa, sb, expected):
    out = fn(T.tensor("float64", sa), T.tensor("float64", sb))
    assert out.type.shape == expected


@pytest.mark.parametrize("fn,sa,sb,names", [
    (T.dot, (None, 3), (4, 5), ["'a'", "'b'", "(?, 3)", "(4, 5)"]),
    (T.dot, (3,), (2,), ["'a'", "'b'", "(3,)", "(2,)"]),
    (T.dot, (2, 3), (5, 4, 2), ["(2, 3)", "(5, 4, 2)"]),
    (T.matmul, (2, 3), (4,), ["'a'", "'b'"]),
    (T.matmul, (2, 2, 3), (4, 3, 5), ["'a'", "'b'", "batch"]),
    (T.batched_dot, (2, 3), (4, 3), ["'a'", "'b'"]),
    (T.batched_dot, (2, 2, 3), (2, 4, 5), ["'a'", "'b'"]),
    (lambda a, b: T.tensordot(a, b, 1), (2, 3), (4, 3), ["'a'", "'b'"]),
])
def test_build_time_shape_errors(fn, sa, sb, names):
    with pytest.raises(ShapeError) as e:
        fn(T.tensor("float64", sa, "a"), T.tensor("float64", sb, "b"))
    for s in names:
        assert s in str(e.value)


@pytest.mark.parametrize("fn,sa,sb", [
    (T.dot, (2, 3), (4, 5)), (T.matmul, (2, 2, 3), (3, 3, 4)), (T.batched_dot, (2, 3), (3, 3)),
    (lambda a, b: T.tensordot(a, b, 1), (2, 3), (2, 3))])
def test_run_time_shape_errors(fn, sa, sb):
    a = T.tensor("float64", (None,) * len(sa), "a")
    b = T.tensor("float64", (None,) * len(sb), "b")
    f = ag.function([a, b], fn(a, b))
    with pytest.raises(ShapeError, match="'a'.*'b'"):
        f(*_pair(sa, sb, "float64"))


def _line_of(text):
    """The number of the line of this file that holds ``text``."""
    with open(__file__) as f:
        return next(n for n, line in enumerate(f, 1) if text in line)


#: products that the specialize phase rewrites on the reference backend (into a Gemm, or a
#: vector sum of products into a dot): the error still names the operands and the user's line
REWRITTEN = {
    "gemm": lambda x, w, b: T.dot(x, w) + b,                    # built here: gemm
    "scaled gemm": lambda x, w, b: 2.0 * T.dot(x, w) - b * 0.5,  # built here: scaled gemm
    "activation": lambda x, w, b: T.tanh(T.dot(x, w) + b),      # built here: activation
}


@pytest.mark.parametrize("name", sorted(REWRITTEN))
def test_product_size_mismatch_names_operands_shapes_and_line(name):
    """Issue 9: on the reference backend a Gemm failed inside NumPy's matmul ("gufunc
    signature (n?,k),(k,m?)") at the ``function(...)`` line."""
    x, w, b = T.dmatrix("x"), T.dmatrix("w"), T.drow("b")
    f = ag.function([x, w, b], REWRITTEN[name](x, w, b))
    with pytest.raises(ShapeError) as e:
        f(np.ones((3, 4)), np.ones((5, 2)), np.ones((1, 2)))
    msg = str(e.value)
    assert "'x'" in msg and "'w'" in msg and "(3, 4)" in msg and "(5, 2)" in msg, msg
    assert "gufunc" not in msg
    assert f"test_blas.py:{_line_of('# built here: ' + name)}" in msg, msg


def test_bias_mismatch_after_a_product_names_the_bias():
    x, w, b = T.dmatrix("x"), T.dmatrix("w"), T.drow("b")
    f = ag.function([x, w, b], T.dot(x, w) + b)  # built here: bias
    with pytest.raises(ShapeError) as e:
        f(np.ones((3, 4)), np.ones((4, 2)), np.ones((1, 3)))
    msg = str(e.value)
    assert "'b'" in msg and "(1, 3)" in msg and "(3, 2)" in msg, msg
    assert f"test_blas.py:{_line_of('# built here: bias')}" in msg, msg


def test_vector_sum_of_products_mismatch_names_the_line():
    x, y = T.dvector("x"), T.dvector("y")
    s = T.sum(x * y)  # built here: sum of products
    f = ag.function([x, y], s)
    with pytest.raises(ShapeError) as e:
        f(np.ones(3), np.ones(4))
    msg = str(e.value)
    assert "'x'" in msg and "'y'" in msg, msg
    assert f"test_blas.py:{_line_of('# built here: sum of products')}" in msg, msg


@pytest.mark.parametrize("call,exc", [
    (lambda: T.matmul(T.scalar("s"), T.vector("v")), ArignoteTypeError),
    (lambda: T.matmul(T.vector("v"), 2.0), ArignoteTypeError),
    (lambda: T.vector("v") @ 2, ArignoteTypeError),
    (lambda: T.batched_dot(T.scalar("s"), T.vector("v")), ArignoteTypeError),
    (lambda: T.tensordot(T.vector("v"), T.vector("w"), 2), ArignoteValueError),
    (lambda: T.tensordot(T.vector("v"), T.vector("w"), [[0], [3]]), ArignoteValueError),
    (lambda: T.tensordot(T.matrix("v"), T.matrix("w"), [[0, 1], [0]]), ArignoteValueError),
    (lambda: T.tensordot(T.matrix("v"), T.matrix("w"), "x"), ArignoteTypeError),
    (lambda: TensorDot((0, 0), (0, 1))(T.matrix("v"), T.matrix("w")), ArignoteValueError),
    (lambda: MatMul()(T.vector("v"), T.matrix("w")), ArignoteTypeError),
])
def test_rank_and_axes_errors(call, exc):
    with pytest.raises(exc):
        call()


# ------------------------------------------------------------ infer_shape and op values

@pytest.mark.parametrize("build,sa,sb", [
    (MatMul(), (5, 2, 3), (5, 3, 4)), (MatMul(), (1, 2, 3), (5, 3, 4)), (MatMul(), (0, 3), (3, 2)),
    (TensorDot((0, 2), (1, 0)), (2, 3, 4), (4, 2, 5)), (TensorDot((), ()), (2,), (3,)),
])
def test_infer_shape(build, sa, sb):
    a = T.tensor("float64", tuple(1 if s == 1 else None for s in sa), "a")
    b = T.tensor("float64", tuple(1 if s == 1 else None for s in sb), "b")
    node = build.make_node(a, b)
    dims = [[T.lscalar() for _ in s] for s in (sa, sb)]
    shape = build.infer_shape(node, dims)[0]
    f = ag.function([d for ds in dims for d in ds], list(shape), on_unused_input="ignore")
    expected = build.perform(node, list(_pair(sa, sb, "float64")))[0].shape
    assert tuple(int(v) for v in f(*sa, *sb)) == expected


def test_ops_are_values_and_graphs_pickle():
    assert MatMul() == MatMul() and hash(MatMul()) == hash(MatMul())
    assert TensorDot((1,), (0,)) == TensorDot([1], [0]) != TensorDot((0,), (1,))
    x, y = T.matrix("x", dtype="float64"), T.tensor3("y", dtype="float64")
    out = pickle.loads(pickle.dumps(T.dot(x, y) + T.tensordot(x, x, 2)))
    assert out.ndim == 3


# ------------------------------------------------------------ gradients

@pytest.mark.parametrize("p,q", RANK_PAIRS)
def test_dot_grad_every_rank(p, q):
    a, b = _pair(*_dot_shapes(p, q, m=2, k=2, n=1, lead_a=(1, 2), lead_b=(2,)), "float64")
    verify_grad(T.dot, [a, b], n_tests=1)


@pytest.mark.parametrize("sa,sb", [s for s in MATMUL_SHAPES if 0 not in s[0] + s[1]])
def test_matmul_grad(sa, sb):
    verify_grad(T.matmul, list(_pair(sa, sb, "float64")), n_tests=1)


@pytest.mark.parametrize("sa,sb,axes", [
    ((2, 3, 2), (3, 2, 2), 2), ((2, 3), (4, 2), [[0], [1]]), ((2, 1), (3,), 0),
    ((2, 3, 2), (2, 2, 3), [[0, 2, 1], [1, 0, 2]]), ((1, 3), (3, 1), 1)])
def test_tensordot_grad(sa, sb, axes):
    verify_grad(lambda a, b: T.tensordot(a, b, axes), list(_pair(sa, sb, "float64")), n_tests=1)


@pytest.mark.parametrize("sa,sb", [((2, 2, 3), (2, 3, 2)), ((2, 3), (2, 3)), ((2,), (2, 3)),
                                   ((2, 2, 2, 3), (2, 3)), ((1, 1, 2), (1, 2, 1))])
def test_batched_dot_grad(sa, sb):
    verify_grad(T.batched_dot, list(_pair(sa, sb, "float64")), n_tests=1)


@pytest.mark.parametrize("sa,sb", [((3,), (2,)), ((1, 2), (2, 1))])
def test_outer_grad(sa, sb):
    verify_grad(T.outer, list(_pair(sa, sb, "float64")), n_tests=1)


def test_grad_through_integer_operand():
    x, W = T.imatrix("x"), T.dmatrix("W")
    g = ag.grad(T.sum(T.dot(x, W)), W)
    xv = np.arange(6, dtype="int32").reshape(2, 3)
    gv = ag.function([x, W], g)(xv, np.ones((3, 4)))
    assert_close(gv, np.dot(xv.T, np.ones((2, 4))))
