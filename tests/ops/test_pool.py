"""pool_2d against a direct loop over windows written from Theano's definition: every mode,
ignore_border, strides, padding, dtypes, degenerate sizes; gradients (max: every tie gets
the gradient, as Theano's MaxPoolGrad); Theano's old argument names; errors."""
import warnings

import numpy as np
import pytest

import arignote as ag
import arignote.tensor as T
from arignote.errors import ArignoteTypeError, ArignoteValueError
from arignote.ops.pool import AveragePoolGrad, MaxPoolGrad
from arignote.tensor.signal.pool import max_pool_2d_same_size, pool_2d
from arignote.verify import verify_grad
from tests.util import assert_close

MODES = ["max", "sum", "average_inc_pad", "average_exc_pad"]


def _n_out(size, ws, st, pad, ignore_border):
    size += 2 * pad
    if ignore_border:
        return max((size - ws) // st + 1, 0)
    if st >= ws:
        return (size - 1) // st + 1
    return max(0, (size - 1 - ws + st) // st) + 1


def oracle(x, ws, ignore_border=True, stride=None, pad=(0, 0), mode="max"):
    """Theano's Pool.perform, one window at a time."""
    stride = stride or ws
    *lead, h, w = x.shape
    xp = np.zeros((*lead, h + 2 * pad[0], w + 2 * pad[1]), x.dtype)
    xp[..., pad[0]:pad[0] + h, pad[1]:pad[1] + w] = x
    size = xp.shape[-2:]
    outs = [_n_out(s, k, st, p, ignore_border) for s, k, st, p in zip((h, w), ws, stride, pad)]
    out = np.zeros((*lead, *outs), x.dtype)
    for i in range(outs[0]):
        for j in range(outs[1]):
            region = []
            for a, o in enumerate((i, j)):
                start, end = o * stride[a], min(o * stride[a] + ws[a], size[a])
                if mode != "average_inc_pad":
                    start, end = max(start, pad[a]), min(end, size[a] - pad[a])
                region.append(slice(start, end))
            patch = xp[..., region[0], region[1]]
            fn = np.max if mode == "max" else np.sum if mode == "sum" else np.mean
            out[..., i, j] = fn(patch, axis=(-2, -1))
    return out


def oracle_max_grad(x, gz, ws, stride=None, pad=(0, 0), ignore_border=True):
    """Theano's MaxPoolGrad: each window's gradient to each position equal to its max."""
    stride = stride or ws
    out = oracle(x, ws, ignore_border, stride, pad)
    *lead, h, w = x.shape
    gx = np.zeros((*lead, h + 2 * pad[0] + ws[0], w + 2 * pad[1] + ws[1]))
    xp = np.full(gx.shape, -np.inf)
    xp[..., pad[0]:pad[0] + h, pad[1]:pad[1] + w] = x
    for idx in np.ndindex(*out.shape):
        *l, i, j = idx
        rows = slice(i * stride[0], i * stride[0] + ws[0])
        cols = slice(j * stride[1], j * stride[1] + ws[1])
        hit = xp[(*l, rows, cols)] == out[idx]
        gx[(*l, rows, cols)] += np.where(hit, gz[idx], 0)
    return gx[..., pad[0]:pad[0] + h, pad[1]:pad[1] + w]


def _pool(xv, **kw):
    x = T.tensor(xv.dtype, (None,) * xv.ndim, name="x")
    return ag.function([x], pool_2d(x, **kw))(xv)


def _data(shape, dtype="float64", seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, shape).astype(dtype)


GEOMETRIES = [
    dict(ws=(2, 2)),
    dict(ws=(3, 2), stride=(1, 2)),
    dict(ws=(3, 3), stride=(2, 2), pad=(1, 2)),
    dict(ws=(2, 3), ignore_border=False),
    dict(ws=(3, 3), stride=(2, 1), ignore_border=False),
    dict(ws=(2, 2), stride=(3, 3), ignore_border=False),
    dict(ws=(1, 1)),
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("geo", GEOMETRIES)
def test_values(mode, geo):
    xv = _data((2, 3, 7, 8))
    assert_close(_pool(xv, mode=mode, **geo), oracle(xv, mode=mode, **geo))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("mode", MODES)
def test_dtypes(dtype, mode):
    xv = _data((2, 2, 6, 6), dtype)
    got = _pool(xv, ws=(2, 2), stride=(1, 1), mode=mode)
    assert got.dtype == dtype
    assert_close(got, oracle(xv, (2, 2), True, (1, 1), mode=mode), rtol=1e-6 if dtype == "float32" else 1e-12)


@pytest.mark.parametrize("shape,kw", [
    ((1, 1, 1, 1), dict(ws=(1, 1))), ((1, 1, 1, 1), dict(ws=(2, 2), ignore_border=False)),
    ((1, 1, 1, 1), dict(ws=(2, 2))), ((0, 3, 4, 4), dict(ws=(2, 2))), ((2, 3, 0, 4), dict(ws=(2, 2))),
    ((5, 6), dict(ws=(2, 3))), ((2, 3, 2, 4, 4), dict(ws=(2, 2), stride=(1, 1))),
    ((3, 5, 5), dict(ws=(5, 5)))])
def test_shapes(shape, kw):
    xv = _data(shape)
    for mode in MODES:
        assert_close(_pool(xv, mode=mode, **kw), oracle(xv, mode=mode, **kw))


def test_int_max_and_sum():
    xv = np.random.default_rng(0).integers(-50, 50, (2, 2, 5, 5)).astype("int32")
    for mode in ("max", "sum"):
        assert_close(_pool(xv, ws=(2, 2), ignore_border=False, mode=mode),
                     oracle(xv, (2, 2), False, mode=mode))


def test_static_shape_and_symbolic_shape():
    x = T.tensor4("x", shape=(8, 3, 24, 24))
    assert pool_2d(x, (2, 2)).type.shape == (8, 3, 12, 12)
    assert pool_2d(x, (5, 5), ignore_border=False, stride=(3, 3)).type.shape == (8, 3, 8, 8)
    assert pool_2d(x, (3, 3), stride=(2, 2), pad=(1, 1)).type.shape == (8, 3, 12, 12)
    y = T.tensor4("y")
    for kw in GEOMETRIES:
        f = ag.function([y], pool_2d(y, **kw).shape)
        xv = _data((2, 3, 7, 8))
        assert tuple(f(xv)) == oracle(xv, **kw).shape


# ------------------------------------------------------------ gradients

@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("geo", [GEOMETRIES[0], GEOMETRIES[2], GEOMETRIES[4]])
def test_verify_grad(mode, geo):
    xv = _data((2, 2, 5, 6), seed=3)
    verify_grad(lambda x: pool_2d(x, mode=mode, **geo), [xv], rng=1)


@pytest.mark.parametrize("geo", [dict(ws=(2, 2)), dict(ws=(3, 3), stride=(1, 1)),
                                 dict(ws=(3, 2), stride=(2, 1), pad=(1, 1)),
                                 dict(ws=(2, 3), stride=(2, 2), ignore_border=False)])
def test_max_grad_every_tie_gets_it(geo):
    """Theano's MaxPoolGrad: ties are not split, every position equal to the max gets the
    whole gradient, and overlapping windows add up."""
    xv = np.random.default_rng(0).integers(0, 3, (2, 2, 6, 7)).astype("float64")  # many ties
    x = T.tensor4("x")
    out = pool_2d(x, **geo)
    gz = _data(oracle(xv, **geo).shape, seed=5)
    g = ag.grad((out * gz).sum(), x)
    assert isinstance(g.owner.op, MaxPoolGrad) or any(
        isinstance(n.op, MaxPoolGrad) for n in ag.function([x], g).fgraph.toposort())
    expected = oracle_max_grad(xv, gz, geo["ws"], geo.get("stride"), geo.get("pad", (0, 0)),
                               geo.get("ignore_border", True))
    assert_close(ag.function([x], g)(xv), expected)


def test_grad_of_grad():
    xv = _data((1, 2, 4, 6), seed=7)
    verify_grad(lambda x: ag.grad((pool_2d(x, (2, 2), mode="average_exc_pad", pad=(1, 1)) ** 2).sum(), x),
                [xv], rng=2)
    verify_grad(lambda x: ag.grad((pool_2d(x, (2, 3)) ** 2).sum(), x), [xv], rng=2)


def test_average_grad_op():
    x = T.tensor4("x")
    g = ag.grad(pool_2d(x, (2, 2), mode="sum").sum(), x)
    assert isinstance(g.owner.op, AveragePoolGrad)
    expected = np.pad(np.ones((1, 1, 4, 4)), ((0, 0),) * 2 + ((0, 1),) * 2)
    assert_close(g.eval({x: _data((1, 1, 5, 5))}), expected)


def test_max_pool_2d_same_size():
    xv = _data((2, 3, 4, 6))
    x = T.tensor4("x")
    got = ag.function([x], max_pool_2d_same_size(x, (2, 2)))(xv)
    blocks = xv.reshape(2, 3, 2, 2, 3, 2)
    keep = blocks == blocks.max(axis=(3, 5), keepdims=True)
    assert_close(got, np.where(keep, blocks, 0).reshape(xv.shape))


# ------------------------------------------------------------ Theano's old names, errors

def test_old_argument_names_warn():
    xv = _data((1, 2, 6, 6))
    x = T.tensor4("x")
    with pytest.warns(DeprecationWarning, match="'ds'.*'st'.*'padding'"):
        y = pool_2d(x, ds=(3, 3), st=(2, 2), padding=(1, 1))
    assert_close(ag.function([x], y)(xv), oracle(xv, (3, 3), True, (2, 2), (1, 1)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pool_2d(x, ws=(2, 2))  # the new names do not warn
    with pytest.raises(ArignoteTypeError, match="not both"):
        pool_2d(x, ws=(2, 2), ds=(2, 2))


@pytest.mark.parametrize("kw,match", [
    (dict(ws=(2, 2), mode="median"), "mode"), (dict(ws=(0, 2)), "ws"),
    (dict(ws=(2, 2), stride=(0, 1)), "stride"),
    (dict(ws=(2, 2), pad=(2, 0)), "smaller than the window"),
    (dict(ws=(2, 2), pad=(1, 1), ignore_border=False), "ignore_border"), (dict(), "ws")])
def test_bad_arguments(kw, match):
    with pytest.raises((ArignoteValueError, ArignoteTypeError), match=match):
        pool_2d(T.tensor4("x"), **kw)


def test_bad_inputs_named():
    with pytest.raises(ArignoteTypeError, match="at least 2.*'v'"):
        pool_2d(T.vector("v"), (2, 2))
    with pytest.raises(ArignoteTypeError, match="float.*'ints'"):
        pool_2d(T.tensor4("ints", dtype="int32"), (2, 2), mode="average_exc_pad")
