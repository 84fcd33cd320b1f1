"""Batch normalization (T.nnet.bn), layer normalization and dropout against NumPy;
gradients verified."""
import numpy as np
import pytest

import arignote as ag
import arignote.tensor as T
from arignote.errors import ArignoteTypeError, ArignoteValueError
from arignote.tensor.nnet import bn
from arignote.verify import verify_grad
from tests.util import assert_close, rand

CASES = [((8, 3), "per-activation", (0,)), ((4, 3, 2, 5), "spatial", (0, 2, 3)),
         ((4, 3, 2, 5), "per-activation", (0,)), ((6, 4), (0, 1), (0, 1)), ((0, 3), "per-activation", (0,))]


def _np_bn(x, gamma, beta, axes, eps):
    mean = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)
    invstd = 1 / np.sqrt(var + eps)
    return (x - mean) * invstd * gamma + beta, mean, invstd, var


def _param_shape(shape, axes):
    return tuple(1 if d in axes else s for d, s in enumerate(shape))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape,axes,np_axes", CASES)
def test_batch_normalization_train(shape, axes, np_axes, dtype):
    xv = rand(shape, dtype)
    pshape = _param_shape(shape, np_axes)
    gv, bv = rand(pshape, dtype, np.random.default_rng(1)), rand(pshape, dtype, np.random.default_rng(2))
    rmv, rvv = np.zeros(pshape, dtype), np.ones(pshape, dtype)
    x = T.tensor(dtype, (None,) * len(shape), "x")
    g, b, rm, rv = (T.tensor(dtype, tuple(1 if s == 1 else None for s in pshape), n)
                    for n in ("g", "b", "rm", "rv"))
    outs = bn.batch_normalization_train(x, g, b, axes, 1e-4, 0.3, rm, rv)
    assert len(outs) == 5 and all(o.dtype == dtype for o in outs)
    got = ag.function([x, g, b, rm, rv], list(outs))(xv, gv, bv, rmv, rvv)
    if not xv.size:
        return
    x64 = xv.astype("float64")
    out, mean, invstd, var = _np_bn(x64, gv, bv, np_axes, 1e-4)
    n = x64.size // mean.size
    refs = [out, mean, invstd, 0.7 * rmv + 0.3 * mean, 0.7 * rvv + 0.3 * var * n / (n - 1)]
    for a, r in zip(got, refs):
        assert_close(a, r.astype(dtype))


def test_batch_normalization_params_of_kept_axes_only():
    """Theano's other form: gamma of shape (channels,), statistics returned squeezed."""
    x, g, b = T.tensor4("x", dtype="float64"), T.dvector("g"), T.dvector("b")
    rm, rv = T.dvector("rm"), T.dvector("rv")
    out, mean, invstd, nm, nv = bn.batch_normalization_train(x, g, b, "spatial", running_mean=rm,
                                                             running_var=rv)
    assert mean.ndim == invstd.ndim == nm.ndim == nv.ndim == 1
    xv, gv, bv = rand((4, 3, 2, 2)), rand((3,)), rand((3,))
    got = ag.function([x, g, b, rm, rv], [out, mean, nm, nv])(xv, gv, bv, np.zeros(3), np.ones(3))
    ref = _np_bn(xv, gv[:, None, None], bv[:, None, None], (0, 2, 3), 1e-4)
    assert_close(got[0], ref[0])
    assert_close(got[1], ref[1].ravel())
    assert_close(got[2], 0.1 * ref[1].ravel())
    assert_close(got[3], 0.9 + 0.1 * ref[3].ravel() * 16 / 15)


@pytest.mark.parametrize("axes,np_axes", [("per-activation", (0,)), ("spatial", (0, 2, 3))])
def test_batch_normalization_train_grad(axes, np_axes):
    shape = (3, 2, 2, 2)
    pshape = _param_shape(shape, np_axes)

    def f(x, g, b):
        out, mean, invstd = bn.batch_normalization_train(x, g, b, axes)
        return (out * T.constant(rand(shape, rng=np.random.default_rng(9)))).sum() + invstd.sum()
    verify_grad(f, [rand(shape), rand(pshape, rng=np.random.default_rng(1)),
                    rand(pshape, rng=np.random.default_rng(2))], n_tests=1)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_batch_normalization_test(dtype):
    shape, np_axes = (4, 3, 2, 2), (0, 2, 3)
    pshape = _param_shape(shape, np_axes)
    xv = rand(shape, dtype)
    gv, bv, mv = (rand(pshape, dtype, np.random.default_rng(i)) for i in (1, 2, 3))
    vv = rand(pshape, dtype, np.random.default_rng(4), low=0.5, high=2)
    vars_ = [T.tensor(dtype, (None,) * 4, "x")] + [T.tensor(dtype, (1, None, 1, 1), n) for n in "gbmv"]
    out = bn.batch_normalization_test(*vars_, axes="spatial", epsilon=1e-3)
    got = ag.function(vars_, out)(xv, gv, bv, mv, vv)
    ref = (xv.astype("float64") - mv) * gv / np.sqrt(vv.astype("float64") + 1e-3) + bv
    assert got.dtype == dtype
    assert_close(got, ref.astype(dtype))
    verify_grad(lambda *a: bn.batch_normalization_test(*a, axes="spatial"),
                [xv.astype("float64"), gv.astype("float64"), bv.astype("float64"),
                 mv.astype("float64"), vv.astype("float64")], n_tests=1)


def test_batch_normalization_trains_running_averages():
    x = T.dmatrix("x")
    gamma, beta = ag.shared(np.ones((1, 3)), name="gamma"), ag.shared(np.zeros((1, 3)), name="beta")
    rm, rv = ag.shared(np.zeros((1, 3)), name="rm"), ag.shared(np.ones((1, 3)), name="rv")
    out, _, _, nm, nv = bn.batch_normalization_train(x, gamma, beta, running_mean=rm, running_var=rv,
                                                     running_average_factor=0.5)
    step = ag.function([x], out, updates=[(rm, nm), (rv, nv)])
    data = rand((10, 3)) * 2 + 5
    for _ in range(30):
        step(data)
    assert_close(rm.get_value().ravel(), data.mean(axis=0), rtol=1e-6)  # (0.5 ** 30 from the start)
    assert_close(rv.get_value().ravel(), data.var(axis=0, ddof=1), rtol=1e-6)
    test = ag.function([x], bn.batch_normalization_test(x, gamma, beta, rm, rv))
    assert_close(test(data).mean(axis=0), np.zeros(3), rtol=1e-6)


@pytest.mark.parametrize("call,exc,match", [
    (lambda x: bn.batch_normalization_train(x, T.dvector(), T.dvector(), axes=(0, 5)), ArignoteValueError,
     "axes"),
    (lambda x: bn.batch_normalization_train(x, T.dtensor3(), T.dvector()), ArignoteTypeError, "gamma"),
    (lambda x: bn.batch_normalization_train(x, T.dvector(), T.dvector(), epsilon=1e-6),
     ArignoteValueError, "epsilon"),
    (lambda x: bn.batch_normalization_train(x, T.dvector(), T.dvector(), running_mean=T.dvector()),
     ArignoteValueError, "running_var"),
])
def test_batch_normalization_errors(call, exc, match):
    with pytest.raises(exc, match=match):
        call(T.dmatrix("x"))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(4, 5), (2, 3, 4), (0, 5)])
def test_layer_normalization(shape, dtype):
    xv = rand(shape, dtype)
    gv, bv = (rand(shape[-1:], dtype, np.random.default_rng(i)) for i in (1, 2))
    x = T.tensor(dtype, (None,) * len(shape), "x")
    g, b = T.vector("g", dtype=dtype), T.vector("b", dtype=dtype)
    got = ag.function([x, g, b], T.nnet.layer_normalization(x, g, b))(xv, gv, bv)
    x64 = xv.astype("float64")
    ref = (x64 - x64.mean(-1, keepdims=True)) / np.sqrt(x64.var(-1, keepdims=True) + 1e-5) * gv + bv \
        if xv.size else x64
    assert got.dtype == dtype
    assert_close(got, ref.astype(dtype))
    if xv.size and dtype == "float64":
        verify_grad(lambda a, c, d: (T.nnet.layer_normalization(a, c, d) ** 2).sum(), [xv, gv, bv],
                    n_tests=1)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dropout_inverted_and_deterministic(dtype):
    rng = T.random.RandomStreams(3)
    x = T.matrix("x", dtype=dtype)
    flag = ag.shared(np.int8(0), name="deterministic")
    out = T.nnet.dropout(x, 0.25, rng, deterministic=flag)
    f = ag.function([x], out)
    xv = np.ones((200, 50), dtype)
    a, b = f(xv), f(xv)
    assert a.dtype == dtype and not np.array_equal(a, b)  # a new mask each call
    kept = a != 0
    assert abs(kept.mean() - 0.75) < 0.02
    assert_close(a[kept], np.full(kept.sum(), 1 / 0.75, dtype))  # scaled: the mean is kept
    flag.set_value(np.int8(1))
    assert_close(f(xv), xv)  # off at test time
    assert T.nnet.dropout(x, 0.5, rng, deterministic=True) is x
    assert T.nnet.dropout(x, 0.0, rng) is x


def test_dropout_gradient_is_the_mask():
    rng = T.random.RandomStreams(5)
    x = T.dvector("x")
    out = T.nnet.dropout(x, 0.5, rng)
    f = ag.function([x], [out, ag.grad(out.sum(), x)], no_default_updates=True)
    o, g = f(np.ones(100))
    assert_close(g, o)  # d(x * mask / keep)/dx = mask / keep, which is the output of ones
    with pytest.raises(ArignoteValueError, match="probability"):
        T.nnet.dropout(x, 1.0, rng)
    with pytest.raises(ArignoteTypeError, match="float"):
        T.nnet.dropout(T.ivector(), 0.5, rng)
