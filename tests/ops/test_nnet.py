"""T.nnet against NumPy/SciPy: softmax and log_softmax (values, stability,
axes, dtypes, empty shapes, gradients), activations, losses, and a softmax
regression that trains."""
import numpy as np
import pytest
import scipy.special as sp

import arignote as ag
import arignote.tensor as T
from arignote.errors import ArignoteTypeError, ArignoteValueError
from arignote.ops.nnet import LogSoftmax, Softmax
from arignote.verify import verify_grad
from tests.util import assert_close, check_against_numpy, rand

DTYPES = ("float32", "float64", "int32")
SOFTMAX_CASES = [((3, 4), -1), ((3, 4), 0), ((5,), 0), ((0, 3), -1), ((3, 0), 1), ((1, 1), -1),
                 ((2, 1, 3), 1), ((2, 3, 4), -2), ((2, 3, 4), 0)]


def _ref_dtype(x):
    return np.exp(np.zeros(0, x.dtype)).dtype


@pytest.mark.parametrize("fn,ref", [(T.nnet.softmax, sp.softmax), (T.nnet.log_softmax, sp.log_softmax)])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,axis", SOFTMAX_CASES)
def test_softmax_values(fn, ref, shape, axis, dtype):
    x = rand(shape, dtype, low=-3, high=3)
    check_against_numpy(lambda v: fn(v, axis=axis),
                        lambda v: (ref(v, axis=axis) if v.size else v).astype(_ref_dtype(v)), x)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_softmax_is_stable_and_normalized(dtype):
    x = T.matrix("x", dtype=dtype)
    v = np.array([[1e4, 0, -1e4], [-1e4, -1e4, -1e4], [1, 2, 3], [-np.inf, 0, 1]], dtype=dtype)
    sm, lsm = ag.function([x], [T.nnet.softmax(x), T.nnet.log_softmax(x)])(v)
    assert np.isfinite(sm).all() and np.isfinite(lsm[:3]).all()
    assert_close(sm.sum(axis=1), np.ones(4, dtype))
    assert_close(sm, sp.softmax(v.astype("float64"), axis=1).astype(dtype))
    assert_close(lsm[:3], sp.log_softmax(v[:3].astype("float64"), axis=1).astype(dtype))
    assert lsm[0, 2] == -2e4  # no underflow to -inf
    weights = T.constant(np.array([1.0, 0.0, 0.0], dtype=dtype))
    g = ag.function([x], ag.grad(T.sum(T.nnet.log_softmax(x) * weights), x))(v[:3])
    assert np.isfinite(g).all()


def test_softmax_static_shape_and_dtype():
    x = T.tensor("int8", (None, 3), "x")
    assert T.nnet.softmax(x).type == T.TensorType("float16", (None, 3))
    assert T.nnet.softmax(T.fmatrix()).dtype == "float32"
    assert Softmax(-1)(T.matrix()).owner.op == Softmax(1)  # axis normalized: equal ops merge
    assert Softmax(1) != LogSoftmax(1)


@pytest.mark.parametrize("fn", [T.nnet.softmax, T.nnet.log_softmax])
@pytest.mark.parametrize("call,exc", [
    (lambda fn: fn(T.scalar("s")), ArignoteTypeError),
    (lambda fn: fn(T.matrix("m"), axis=2), ArignoteValueError),
    (lambda fn: fn(T.matrix("m"), axis=(0, 1)), ArignoteTypeError),
    (lambda fn: fn(T.zmatrix("z")), ArignoteTypeError),
])
def test_softmax_errors(fn, call, exc):
    with pytest.raises(exc):
        call(fn)


@pytest.mark.parametrize("op", [Softmax, LogSoftmax])
def test_softmax_infer_shape(op):
    x = T.dmatrix("x")
    node = op(1).make_node(x)
    dims = [T.lscalar(), T.lscalar()]
    f = ag.function(dims, list(op(1).infer_shape(node, [dims])[0]))
    assert [int(v) for v in f(3, 5)] == [3, 5]


@pytest.mark.parametrize("fn", [T.nnet.softmax, T.nnet.log_softmax])
@pytest.mark.parametrize("shape,axis", [((3, 4), -1), ((3, 4), 0), ((4,), 0), ((1, 3), -1),
                                        ((3, 1), 1), ((2, 2, 3), 1)])
def test_softmax_grad(fn, shape, axis):
    verify_grad(lambda x: fn(x, axis=axis), [rand(shape, "float64")], n_tests=1)


@pytest.mark.parametrize("fn", [T.nnet.softmax, T.nnet.log_softmax])
def test_softmax_second_derivative(fn):
    w = T.constant(np.array([[0.3, -1.0, 2.0]]))
    verify_grad(lambda x: ag.grad(T.sum(fn(x) * w * fn(x)), x), [rand((2, 3))], n_tests=1)


# ------------------------------------------------------------ activations

def _relu(x, alpha=0):
    return np.where(x > 0, x, alpha * x) if alpha else np.maximum(x, 0)


def _elu(x, alpha=1.0):
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))


ACTIVATIONS = [
    ("relu", T.nnet.relu, _relu),
    ("leaky", lambda x: T.nnet.relu(x, 0.1), lambda x: _relu(x, 0.1)),
    ("elu", T.nnet.elu, _elu),
    ("elu2", lambda x: T.nnet.elu(x, 2.0), lambda x: _elu(x, 2.0)),
    ("selu", T.nnet.selu, lambda x: T.nnet.SELU_SCALE * _elu(x, T.nnet.SELU_ALPHA)),
    ("hard_sigmoid", T.nnet.hard_sigmoid, lambda x: np.clip(0.2 * x + 0.5, 0, 1)),
    ("softsign", T.nnet.softsign, lambda x: x / (1 + np.abs(x))),
    ("sigmoid", T.nnet.sigmoid, lambda x: sp.expit(x).astype(_ref_dtype(x))),
    ("softplus", T.nnet.softplus, lambda x: np.logaddexp(0, x).astype(_ref_dtype(x))),
]


@pytest.mark.parametrize("name,fn,ref", ACTIVATIONS, ids=[a[0] for a in ACTIVATIONS])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(0,), (1, 1), (3, 4)])
def test_activation_values(name, fn, ref, dtype, shape):
    check_against_numpy(fn, ref, rand(shape, dtype, low=-3, high=3))


def _away_from_kinks(shape):
    x = rand(shape, "float64", low=-3, high=3)
    return np.where(np.abs(x) < 0.1, 0.5, x) + np.where(np.abs(np.abs(x) - 2.5) < 0.1, 0.3, 0)


@pytest.mark.parametrize("name,fn,ref", ACTIVATIONS, ids=[a[0] for a in ACTIVATIONS])
@pytest.mark.parametrize("shape", [(1,), (3, 4)])
def test_activation_grad(name, fn, ref, shape):
    verify_grad(fn, [_away_from_kinks(shape)], n_tests=1)


def test_relu_symbolic_alpha_and_dtypes():
    x, a = T.fvector("x"), T.fscalar("a")
    v = np.array([-2, 0, 3], dtype="float32")
    out = T.nnet.relu(x, a)
    assert out.dtype == "float32" and T.nnet.relu(x, 0.1).dtype == "float32"
    assert_close(out.eval({x: v, a: np.float32(0.5)}), np.array([-1, 0, 3], dtype="float32"))
    assert T.nnet.relu(T.ivector()).dtype == "int32"


def test_elu_gradient_is_finite_for_large_inputs():
    x = T.dvector("x")
    g = ag.function([x], ag.grad(T.sum(T.nnet.elu(x)), x))(np.array([1e3, -1e3, 2.0]))
    assert_close(g, np.array([1.0, 0.0, 1.0]))


# ------------------------------------------------------------ losses

def _probs(shape, rng=None):
    return sp.softmax(rand(shape, "float64", rng), axis=-1)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(4, 3), (1, 1), (0, 3), (5,)])
def test_categorical_crossentropy_with_distributions(shape, dtype):
    p, t = _probs(shape).astype(dtype), _probs(shape, np.random.default_rng(7)).astype(dtype)
    check_against_numpy(T.nnet.categorical_crossentropy,
                        lambda p, t: -np.sum(t * np.log(p), axis=-1), p, t)


def test_categorical_crossentropy_with_labels():
    p, y = _probs((5, 3)), np.array([0, 2, 1, 1, 0], dtype="int32")
    check_against_numpy(T.nnet.categorical_crossentropy,
                        lambda p, y: -np.log(p[np.arange(len(y)), y]), p, y)
    verify_grad(lambda q: T.nnet.categorical_crossentropy(q, T.constant(y)), [p], n_tests=1)


@pytest.mark.parametrize("call", [
    lambda: T.nnet.categorical_crossentropy(T.matrix(), T.matrix().dimshuffle(0, 1, "x")),
    lambda: T.nnet.categorical_crossentropy(T.matrix(), T.vector()),
    lambda: T.nnet.categorical_crossentropy(T.tensor3(), T.imatrix()),
    lambda: T.nnet.softmax_cross_entropy_with_logits(T.matrix(), T.bvector().astype("bool")),
])
def test_crossentropy_label_errors(call):
    with pytest.raises(ArignoteTypeError):
        call()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_binary_crossentropy(dtype):
    p = rand((3, 4), dtype, low=0.05, high=0.95)
    t = rand((3, 4), dtype, np.random.default_rng(3), low=0, high=1)
    check_against_numpy(T.nnet.binary_crossentropy,
                        lambda p, t: -(t * np.log(p) + (1 - t) * np.log1p(-p)), p, t)
    verify_grad(T.nnet.binary_crossentropy, [p.astype("float64"), t.astype("float64")], n_tests=1)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sigmoid_binary_crossentropy_is_stable(dtype):
    x = np.array([-1e4, -30, -1, 0, 2, 30, 1e4], dtype=dtype)
    t = np.array([1, 0, 1, 0.5, 0, 1, 0], dtype=dtype)
    ref = (np.logaddexp(0, x.astype("float64")) - t * x.astype("float64")).astype(dtype)
    got = check_against_numpy(T.nnet.sigmoid_binary_crossentropy, lambda *_: ref, x, t)
    assert np.isfinite(got).all()
    verify_grad(T.nnet.sigmoid_binary_crossentropy, [rand((2, 3)), rand((2, 3), low=0, high=1)],
                n_tests=1)


def test_softmax_cross_entropy_with_logits():
    x, t = rand((4, 3)) * 1e4, _probs((4, 3))
    check_against_numpy(T.nnet.softmax_cross_entropy_with_logits,
                        lambda x, t: -np.sum(t * sp.log_softmax(x, axis=-1), axis=-1), x, t)
    y = np.array([2, 0, 1, 1], dtype="int64")
    check_against_numpy(T.nnet.softmax_cross_entropy_with_logits,
                        lambda x, y: -sp.log_softmax(x, axis=-1)[np.arange(4), y], x, y)
    verify_grad(lambda v: T.nnet.softmax_cross_entropy_with_logits(v, T.constant(y)),
                [rand((4, 3))], n_tests=1)


# ------------------------------------------------------------ the README example trains

@pytest.mark.parametrize("mode", ["none", "fast_run"])
def test_softmax_regression_trains(mode):
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(3, 4)) * 3
    labels = rng.integers(0, 3, 60)
    data = (centers[labels] + rng.normal(size=(60, 4))).astype("float64")
    x, y = T.dmatrix("x"), T.lvector("y")
    W = ag.shared(np.zeros((4, 3)), name="W")
    b = ag.shared(np.zeros(3), name="b")
    p = T.nnet.softmax(T.dot(x, W) + b)
    cost = -T.mean(T.log(p)[T.arange(y.shape[0]), y])
    gW, gb = ag.grad(cost, [W, b])
    train = ag.function([x, y], cost, updates=[(W, W - 0.1 * gW), (b, b - 0.1 * gb)], mode=mode)
    predict = ag.function([x], T.argmax(p, axis=1), mode=mode)
    first = train(data, labels)
    for _ in range(100):
        last = train(data, labels)
    assert first == pytest.approx(np.log(3)) and last < 0.3 * first
    assert np.mean(predict(data) == labels) > 0.9
