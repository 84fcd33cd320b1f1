"""Theano's extra_ops (cumsum, cumprod, diff, bincount, to_one_hot, fill_diagonal,
repeat, squeeze) against NumPy: values over dtypes and shapes (size 0 and 1
included), infer_shape, errors and gradients."""
import numpy as np
import pytest

import arignote as ag
import arignote.tensor as T
from arignote.errors import ArignoteTypeError, ArignoteValueError
from arignote.ops.extra_ops import BinCount, CumOp
from arignote.verify import verify_grad
from tests.ops.test_shape import check, grad_point
from tests.util import assert_close, rand

extra = T.extra_ops


@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "bool"])
@pytest.mark.parametrize("shape, axis", [((5,), None), ((0,), 0), ((3, 4), 1), ((3, 4), -2),
                                         ((2, 1, 3), None), ((1, 1), 0)])
@pytest.mark.parametrize("name", ["cumsum", "cumprod"])
def test_cumsum_and_cumprod_match_numpy(name, dtype, shape, axis):
    value = rand(shape, dtype, low=-2, high=2)
    check(lambda x: getattr(extra, name)(x, axis=axis), lambda x: getattr(np, name)(x, axis=axis), value)


def test_cum_ops_are_values_and_check_their_axis():
    assert CumOp(1, "add") == CumOp(1) != CumOp(1, "mul")
    with pytest.raises(ArignoteValueError, match="axis"):
        T.cumsum(T.dmatrix("x"), axis=2)
    with pytest.raises(ArignoteValueError, match="mode"):
        CumOp(0, "max")


@pytest.mark.parametrize("axis", [0, 1, None])
def test_cum_gradients(axis):
    verify_grad(lambda x: T.cumsum(x, axis=axis), [grad_point((3, 4))])
    away_from_zero = np.abs(grad_point((3, 4), seed=1)) + 0.5
    verify_grad(lambda x: T.cumprod(x, axis=axis), [away_from_zero])


@pytest.mark.parametrize("n, axis", [(1, -1), (2, 0), (0, 1), (3, 1)])
def test_diff_matches_numpy(n, axis):
    value = rand((4, 5))
    check(lambda x: extra.diff(x, n, axis), lambda x: np.diff(x, n, axis), value)
    verify_grad(lambda x: extra.diff(x, n, axis), [grad_point((4, 5))])
    with pytest.raises(ArignoteValueError, match="n must be"):
        extra.diff(T.dvector(), -1)


@pytest.mark.parametrize("values, minlength", [([0, 2, 2, 5], None), ([], 3), ([1], 4), ([3, 3], 1)])
def test_bincount_matches_numpy(values, minlength):
    data = np.array(values, dtype="int64")
    x = T.lvector("x")
    w = T.fvector("w")
    weights = np.arange(len(values), dtype="float32") + 0.5
    f = ag.function([x, w], [extra.bincount(x, minlength=minlength),
                             extra.bincount(x, w, minlength=minlength),
                             extra.bincount(x, minlength=minlength).shape])
    counts, sums, shape = f(data, weights)
    assert_close(counts, np.bincount(data, minlength=minlength or 0))
    assert sums.dtype == "float32"
    assert_close(sums, np.bincount(data, weights, minlength=minlength or 0).astype("float32"))
    assert tuple(shape) == counts.shape


def test_bincount_gradient_and_errors():
    index = np.array([0, 2, 2, 5])
    verify_grad(lambda w: T.bincount(index, w) ** 2, [grad_point((4,))])
    with pytest.raises(ArignoteValueError, match="negative value"):
        ag.function([x := T.lvector("x")], T.bincount(x))(np.array([1, -1]))
    with pytest.raises(ArignoteTypeError, match="vector of ints"):
        T.bincount(T.dvector("d"))
    assert BinCount(2) == BinCount(2) != BinCount(3)


def test_to_one_hot():
    y = T.ivector("y")
    out = extra.to_one_hot(y, 4, dtype="int8")
    assert out.dtype == "int8" and out.type.shape == (None, 4)
    assert_close(ag.function([y], out)(np.array([0, 3, 1], "int32")), np.eye(4, dtype="int8")[[0, 3, 1]])
    assert extra.to_one_hot(y, 2).dtype == ag.config.floatX
    with pytest.raises(ArignoteTypeError, match="vector of ints"):
        extra.to_one_hot(T.dvector(), 3)


@pytest.mark.parametrize("shape, offset", [((3, 3), 0), ((2, 4), 1), ((4, 2), -1), ((0, 3), 0)])
def test_fill_diagonal_matches_numpy(shape, offset):
    def expected(a):
        a = a.copy()
        rows = np.arange(a.shape[0])
        keep = (rows + offset >= 0) & (rows + offset < a.shape[1])
        a[rows[keep], rows[keep] + offset] = 7
        return a
    value = rand(shape, "float32")
    check(lambda a: extra.fill_diagonal_offset(a, 7, offset), expected, value, infer=False)
    if offset == 0:
        check(lambda a: extra.fill_diagonal(a, 7), expected, value, infer=False)
    if 0 not in shape:
        verify_grad(lambda a, v: extra.fill_diagonal_offset(a, v, offset),
                    [grad_point(shape), np.array(0.5)])


def test_fill_diagonal_rejects_other_ranks():
    with pytest.raises(ArignoteValueError, match="must be a matrix"):
        extra.fill_diagonal(T.dvector(), 1.0)
    with pytest.raises(ArignoteValueError, match="must be a scalar"):
        extra.fill_diagonal(T.dmatrix(), T.dvector())


def test_repeat_and_squeeze_are_theanos():
    assert extra.repeat is T.repeat and extra.squeeze is T.squeeze
    x = T.TensorType("float64", (False, True))("x")
    assert extra.squeeze(x).ndim == 1
