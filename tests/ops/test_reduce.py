"""Reductions against NumPy (and SciPy for logsumexp): values, dtypes, every
axis form, keepdims, empty inputs, build-time and run-time errors, static
shapes, infer_shape and gradients.

Each value test compiles one function per (function, dtype, shape) whose
outputs cover every axis form and both keepdims, so the file stays fast.
"""
import itertools
import pickle
import warnings

import numpy as np
import pytest
from scipy.special import logsumexp as sp_logsumexp

import arignote as ag
import arignote.tensor as T
from arignote.errors import ArignoteTypeError, ArignoteValueError
from arignote.ops.reduce import COMBINERS, Reduce
from arignote.verify import verify_grad
from tests.util import assert_close, rand, reduction_rtol, symbolic_like

DTYPES = ("float32", "float64", "int32", "bool")
SHAPES = [(), (0,), (0, 3), (1,), (3, 4), (2, 1, 3)]
PRIMITIVES = ("sum", "prod", "max", "min", "all", "any")


def axis_forms(ndim, tuples=True):
    """None, every int axis (positive and negative), and (when allowed) tuples."""
    forms = [None] + list(range(ndim)) + list(range(-ndim, 0))
    if tuples:
        forms += [()] + [(a, b - ndim) for a, b in itertools.combinations(range(ndim), 2)]
        forms += [tuple(range(ndim))[::-1]] if ndim > 1 else []
    return forms


def typed_like(value, static):
    """A symbolic input for ``value``: every size known (static) or only size-1 dims."""
    value = np.asarray(value)
    return T.tensor(value.dtype, value.shape) if static else symbolic_like(value)


def numpy_or_error(fn, *args, **kwargs):
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            return np.asarray(fn(*args, **kwargs))
        except ValueError:
            return ValueError


def check_forms(sym_fn, np_fn, value, forms, static, rtol_dtype=None, **np_kwargs):
    """Compare ``sym_fn(x, axis, keepdims)`` with NumPy for every axis form and keepdims.

    Cases where NumPy raises (a max over nothing) must raise ArignoteValueError
    at run time; the rest are compiled into a single function.
    """
    ok, failing = [], []
    for axis, keepdims in itertools.product(forms, (False, True)):
        expected = numpy_or_error(np_fn, value, axis=axis, keepdims=keepdims, **np_kwargs)
        (failing if expected is ValueError else ok).append((axis, keepdims, expected))
    x = typed_like(value, static)
    if ok:
        outs = [sym_fn(x, axis=a, keepdims=k) for a, k, _ in ok]
        for (axis, keepdims, expected), out in zip(ok, outs):
            assert out.ndim == expected.ndim, (axis, keepdims)
            assert all(s in (None, e) for s, e in zip(out.type.shape, expected.shape)), (axis, keepdims)
        got = ag.function([x], outs)(value)
        for (axis, keepdims, expected), g in zip(ok, got):
            try:
                assert_close(g, expected, rtol_dtype)
            except AssertionError as e:
                raise AssertionError(f"axis={axis!r} keepdims={keepdims}: {e}") from None
    for axis, keepdims, _ in failing:
        f = ag.function([x], sym_fn(x, axis=axis, keepdims=keepdims))
        with pytest.raises(ArignoteValueError, match="size 0"):
            f(value)


# ------------------------------------------------------------ values

@pytest.mark.parametrize("static", [False, True], ids=["dynamic", "static"])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", PRIMITIVES)
def test_primitive_matches_numpy(name, dtype, shape, static):
    value = rand(shape, dtype, np.random.default_rng(len(shape)), low=-3, high=3)
    check_forms(getattr(T, name), getattr(np, name), value, axis_forms(len(shape)), static)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["argmax", "argmin"])
def test_arg_reductions_match_numpy(name, dtype, shape):
    value = rand(shape, dtype, np.random.default_rng(3))
    check_forms(getattr(T, name), getattr(np, name), value, axis_forms(len(shape), tuples=False), False)
    assert getattr(T, name)(symbolic_like(value)).dtype == "int64"


def test_arg_reductions_pick_first_of_ties_like_numpy():
    x = T.dmatrix("x")
    v = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]])
    got = ag.function([x], [T.argmax(x, axis=1), T.argmin(x, axis=0), T.argmax(x)])(v)
    for g, e in zip(got, [np.argmax(v, axis=1), np.argmin(v, axis=0), np.argmax(v)]):
        assert_close(g, e)


@pytest.mark.parametrize("static", [False, True], ids=["dynamic", "static"])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", DTYPES)
def test_mean_matches_numpy(dtype, shape, static):
    value = rand(shape, dtype, np.random.default_rng(5))
    check_forms(T.mean, np.mean, value, axis_forms(len(shape)), static)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,ddof,static", [("var", 0, False), ("var", 1, True), ("std", 0, True),
                                              ("std", 2.5, False)])
def test_var_std_match_numpy(name, ddof, static, dtype, shape):
    value = rand(shape, dtype, np.random.default_rng(6))

    def sym(x, axis, keepdims):
        return getattr(T, name)(x, axis=axis, ddof=ddof, keepdims=keepdims)
    check_forms(sym, getattr(np, name), value, axis_forms(len(shape)), static, ddof=ddof)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", DTYPES)
def test_logsumexp_matches_scipy(dtype, shape):
    value = rand(shape, dtype, np.random.default_rng(7))

    def ref(v, axis, keepdims):
        # the naive formula is exact enough for these small values and, unlike SciPy 1.17,
        # handles empty inputs with tuple axes; stability is tested against SciPy below
        v = v if v.dtype.kind == "f" else v.astype("float64")
        return np.log(np.sum(np.exp(v), axis=axis, keepdims=keepdims))
    check_forms(T.logsumexp, ref, value, axis_forms(len(shape)), False)


@pytest.mark.parametrize("shape", [(0,), (0, 3), (3, 4)], ids=str)
@pytest.mark.parametrize("dtype", ["float32", "float64", "int32"])
@pytest.mark.parametrize("name,initial", [("sum", 1.5), ("prod", 2), ("max", -np.inf), ("min", 1.0),
                                          ("max", 0.5)])
def test_initial_matches_numpy(name, initial, dtype, shape):
    if dtype == "int32" and initial == -np.inf:
        with pytest.raises(ArignoteTypeError, match="not defined"):
            T.max(T.ivector("x"), initial=initial)
        return
    value = rand(shape, dtype, np.random.default_rng(4))

    def sym(x, axis, keepdims):
        return getattr(T, name)(x, axis=axis, keepdims=keepdims, initial=initial)
    check_forms(sym, getattr(np, name), value, axis_forms(len(shape)), False, initial=initial)


# ------------------------------------------------------------ dtypes

@pytest.mark.parametrize("dtype,expected", [("int32", "int64"), ("bool", "int64"), ("int8", "int64"),
                                            ("uint16", "uint64"), ("float32", "float32"),
                                            ("float16", "float16")])
@pytest.mark.parametrize("name", ["sum", "prod"])
def test_sum_prod_result_dtype_is_numpy(name, dtype, expected):
    assert getattr(T, name)(T.tensor(dtype, (None,))).dtype == expected == getattr(np, name)(
        np.zeros(1, dtype)).dtype


@pytest.mark.parametrize("in_dtype,dtype", [("int32", "float32"), ("float32", "float64"),
                                            ("float64", "int32"), ("bool", "int8"), ("int64", "int64")])
@pytest.mark.parametrize("name", ["sum", "prod", "mean"])
def test_dtype_argument_follows_numpy(name, in_dtype, dtype):
    value = rand((3, 4), in_dtype, np.random.default_rng(8))
    x = symbolic_like(value)
    outs = [getattr(T, name)(x, axis=a, dtype=dtype) for a in (None, 1)]
    for g, a in zip(ag.function([x], outs)(value), (None, 1)):
        assert_close(g, getattr(np, name)(value, axis=a, dtype=dtype))


def test_dtype_equal_to_the_default_makes_the_same_op():
    x = T.imatrix("x")
    assert T.sum(x, dtype="int64").owner.op == T.sum(x).owner.op
    assert T.sum(x, dtype="int32").owner.op != T.sum(x).owner.op


@pytest.mark.parametrize("dtype", ["float16", "complex64", "complex128"])
def test_mean_var_other_dtypes(dtype):
    value = (rand((4, 3), "float64", np.random.default_rng(9)) * (1 + 1j if "complex" in dtype else 1)
             ).astype(dtype)
    x = symbolic_like(value)
    outs = [T.mean(x, axis=0), T.var(x, axis=1), T.mean(x)]
    got = ag.function([x], outs)(value)
    for g, e in zip(got, [np.mean(value, axis=0), np.var(value, axis=1), np.mean(value)]):
        assert_close(g, e, "float16" if dtype == "float16" else "float32")


# ------------------------------------------------------------ shapes

def test_static_shapes():
    x = T.tensor("float64", (None, 4, 1), "x")
    assert T.sum(x, axis=1).type.shape == (None, 1)
    assert T.sum(x, axis=(0, 1), keepdims=True).type.shape == (1, 1, 1)
    assert T.max(x, axis=-1, keepdims=True).type.shape == (None, 4, 1)
    assert T.argmax(x, axis=1).type.shape == (None, 1)
    assert T.argmax(x, keepdims=True).type.shape == (1, 1, 1)
    assert T.mean(x, axis=0).type.shape == (4, 1)
    assert T.logsumexp(x, axis=(0, 2)).type.shape == (4,)
    assert T.sum(x).type.shape == ()
    assert T.sum(x, axis=T.constant([0, -1])).owner.op == T.sum(x, axis=(0, 2)).owner.op


@pytest.mark.parametrize("name", [*PRIMITIVES, "argmax"])
@pytest.mark.parametrize("axis,keepdims", [(None, False), (1, True), (-1, False), ((0, 2), True)])
def test_infer_shape(name, axis, keepdims):
    if name == "argmax" and isinstance(axis, tuple):
        axis = 0
    x = T.tensor("float64", (None, 4, None), "x")
    out = getattr(T, name)(x, axis=axis, keepdims=keepdims)
    dims = T.lscalars(3)
    shape = out.owner.op.infer_shape(out.owner, [tuple(dims)])[0]
    value = np.zeros((2, 4, 5))
    got = ag.function(dims, list(shape), on_unused_input="ignore")(*value.shape)
    assert tuple(int(s) for s in got) == getattr(np, name)(value, axis=axis, keepdims=keepdims).shape


def test_scalar_input():
    x = T.dscalar("x")
    f = ag.function([x], [T.sum(x), T.sum(x, axis=()), T.max(x), T.argmax(x), T.mean(x), T.var(x),
                          T.logsumexp(x)])
    for g, e in zip(f(2.5), [2.5, 2.5, 2.5, 0, 2.5, 0.0, 2.5]):
        assert_close(g, np.asarray(e, dtype=np.asarray(g).dtype))
    with pytest.raises(ArignoteValueError, match="out of range"):
        T.sum(x, axis=0)


def test_reduction_over_no_axis_copies():
    value = np.ones((2, 3))
    x = T.dmatrix("x")
    for name in ("sum", "max"):
        node = getattr(T, name)(x, axis=()).owner
        (out,) = node.op.perform(node, [value])
        assert out.shape == value.shape and not np.may_share_memory(out, value)


def test_methods_delegate():
    value = rand((3, 4), "float64", np.random.default_rng(10))
    x = T.dmatrix("x")
    outs = [x.sum(axis=1), x.prod(), x.max(axis=0), x.min(), x.all(), x.any(axis=-1), x.argmax(axis=1),
            x.argmin(), x.mean(axis=1), x.var(), x.std(axis=0), x.logsumexp(axis=1)]
    refs = [value.sum(axis=1), value.prod(), value.max(axis=0), value.min(), value.all(),
            value.any(axis=-1), value.argmax(axis=1), value.argmin(), value.mean(axis=1), value.var(),
            value.std(axis=0), sp_logsumexp(value, axis=1)]
    for g, e in zip(ag.function([x], outs)(value), refs):
        assert_close(g, np.asarray(e))


# ------------------------------------------------------------ errors

@pytest.mark.parametrize("name", [*PRIMITIVES, "argmax", "mean", "var", "std", "logsumexp"])
@pytest.mark.parametrize("axis", [2, -3, (0, 5)])
def test_axis_out_of_range(name, axis):
    x = T.dmatrix("my_x")
    if name == "argmax" and isinstance(axis, tuple):
        axis = 7
    with pytest.raises(ArignoteValueError, match=r"out of range for 'my_x'"):
        getattr(T, name)(x, axis=axis)


@pytest.mark.parametrize("name", [*PRIMITIVES, "mean", "var", "logsumexp"])
@pytest.mark.parametrize("axis", [(0, 0), (1, -1), [0, -2]])
def test_axis_repeated(name, axis):
    with pytest.raises(ArignoteValueError, match=r"names dimension \d of 'my_x' twice"):
        getattr(T, name)(T.dmatrix("my_x"), axis=axis)


@pytest.mark.parametrize("axis", [1.0, "0", True, (0, None)])
def test_axis_wrong_kind(axis):
    with pytest.raises(ArignoteTypeError, match="axis must be"):
        T.sum(T.dmatrix("x"), axis=axis)


def test_argmax_takes_no_tuple():
    with pytest.raises(ArignoteTypeError, match="axis must be None or an int"):
        T.argmax(T.dmatrix("x"), axis=(0, 1))


def test_other_build_errors():
    x = T.dmatrix("x")
    with pytest.raises(ArignoteTypeError, match="keepdims"):
        T.sum(x, keepdims="yes")
    with pytest.raises(TypeError):
        T.max(x, 0, "float64")
    with pytest.raises(ArignoteTypeError, match="no dtype"):
        Reduce("max", (0,), dtype="float64")
    with pytest.raises(ArignoteValueError, match="unknown reduction"):
        Reduce("median", (0,))
    with pytest.raises(ArignoteValueError, match="do not fit 'v'"):
        Reduce("sum", (1,))(T.dvector("v"))
    with pytest.raises(ArignoteValueError, match="one axis or all"):
        Reduce("argmax", (0, 1))(T.dtensor3("t"))
    with pytest.raises(ArignoteTypeError, match="ddof"):
        T.var(x, ddof="1")
    with pytest.raises(ArignoteTypeError, match="no initial"):
        Reduce("all", (0,), initial=1)
    with pytest.raises(ArignoteTypeError, match="initial must be a number"):
        T.max(x, initial="0")
    with pytest.raises(ArignoteTypeError, match="initial must be a number"):
        T.sum(x, initial=float("nan"))
    with pytest.raises(TypeError):
        T.all(x, initial=True)


@pytest.mark.parametrize("name", ["max", "min", "argmax", "argmin"])
def test_empty_reduction_raises_at_run_time(name):
    x = T.dmatrix("x")
    f = ag.function([x], getattr(T, name)(x, axis=0))
    with pytest.raises(ArignoteValueError, match=r"size 0.*'x'|'x'.*size 0"):
        f(np.zeros((0, 3)))
    assert ag.function([x], getattr(T, name)(x, axis=1))(np.zeros((0, 3))).shape == (0,)


# ------------------------------------------------------------ ops as values

def test_ops_are_values():
    op = Reduce("sum", (1, 0), True)
    assert op == Reduce("sum", [0, 1], True) and hash(op) == hash(Reduce("sum", (0, 1), True))
    assert op != Reduce("sum", (0, 1), False) and op != Reduce("prod", (0, 1), True)
    assert pickle.loads(pickle.dumps(op)) == op
    assert op.fusion_kind == "reduce"
    x = T.dmatrix("x")
    assert T.sum(x, axis=(1, -2)).owner.op == T.sum(x, axis=None).owner.op
    assert set(COMBINERS) <= set(T.__dict__)
    f = pickle.loads(pickle.dumps(T.sum(x, axis=1)))
    assert f.owner.op == Reduce("sum", (1,))


# ------------------------------------------------------------ gradients

GRAD_CASES = [((3, 4), None, False), ((3, 4), 1, False), ((3, 4), -2, True), ((2, 1, 3), (0, 2), False),
              ((2, 1, 3), 1, True), ((1,), 0, False), ((2, 3, 4), (-1, 0), True)]


def _grad_point(shape, seed=11):
    # distinct entries away from zero: max/min have no ties, var/std no zero spread
    rng = np.random.default_rng(seed)
    size = int(np.prod(shape))
    return (rng.permutation(size) * 0.37 + 0.5 + rng.uniform(0, 0.1, size)).reshape(shape)


@pytest.mark.parametrize("shape,axis,keepdims", GRAD_CASES, ids=str)
@pytest.mark.parametrize("name", ["sum", "prod", "max", "min", "mean", "var", "logsumexp"])
def test_verify_grad(name, shape, axis, keepdims):
    fn = getattr(T, name)
    verify_grad(lambda x: fn(x, axis=axis, keepdims=keepdims), [_grad_point(shape) - 1.0])


@pytest.mark.parametrize("name,initial", [("sum", 2.0), ("prod", -1.5), ("max", 0.3), ("min", 0.4)])
def test_verify_grad_with_initial(name, initial):
    # the initial value wins in some slices (no gradient there) and loses in others
    point = _grad_point((3, 4)) * 0.2 - 0.6
    verify_grad(lambda x: getattr(T, name)(x, axis=1, initial=initial), [point])


@pytest.mark.parametrize("shape,axis,keepdims", [c for c in GRAD_CASES if c[0] != (1,)][:4], ids=str)
@pytest.mark.parametrize("ddof", [0, 1])
def test_verify_grad_std_var_ddof(shape, axis, keepdims, ddof):
    n = np.prod(np.array(shape)[list(np.atleast_1d(axis))]) if axis is not None else np.prod(shape)
    if n - ddof < 1:
        pytest.skip("no spread to differentiate")
    for fn in (T.std, T.var):
        verify_grad(lambda x: fn(x, axis=axis, ddof=ddof, keepdims=keepdims), [_grad_point(shape)])


@pytest.mark.parametrize("value", [
    [[1.0, 0.0, 2.0, 3.0], [2.0, 0.5, -1.5, 4.0]],   # one zero in a slice
    [[0.0, 0.0, 2.0, 3.0], [0.0, 1.5, 1.0, 2.0]],    # two zeros, and one
    [[0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]],    # all zeros
], ids=["one-zero", "two-zeros", "all-zeros"])
@pytest.mark.parametrize("axis", [None, 0, 1])
def test_prod_grad_with_zeros(value, axis):
    value = np.array(value)
    verify_grad(lambda x: T.prod(x, axis=axis), [value])
    x = T.dmatrix("x")
    g = ag.function([x], ag.grad(T.sum(T.prod(x, axis=axis)), x))(value)
    # the product of the other entries of the slice, computed by brute force
    expected = np.zeros_like(value)
    for idx in np.ndindex(*value.shape):
        others = value.copy()
        others[idx] = 1.0
        expected[idx] = np.prod(others) if axis is None else np.prod(others, axis=axis)[
            idx[1 - axis]]
    np.testing.assert_array_equal(g, expected)
    assert np.all(np.isfinite(ag.function([x], ag.grad(T.sum(ag.grad(T.prod(x), x) * x), x))(value)))


def test_max_min_grad_goes_to_every_tie():
    x = T.dvector("x")
    v = np.array([1.0, 3.0, 3.0, -2.0, -2.0])
    gmax, gmin = ag.function([x], [ag.grad(T.max(x), x), ag.grad(T.min(x), x)])(v)
    np.testing.assert_array_equal(gmax, [0, 1, 1, 0, 0])
    np.testing.assert_array_equal(gmin, [0, 0, 0, 1, 1])


def test_grad_keeps_float32_and_passes_through_dtype():
    x = T.fmatrix("x")
    for out in (T.sum(x, dtype="float64"), T.prod(x, axis=0, dtype="float64").sum(),
                T.mean(x), T.std(x, axis=1).sum(), T.logsumexp(x)):
        g = ag.grad(out, x)
        assert g.dtype == "float32"
    v = rand((2, 3), "float32", np.random.default_rng(12)) + 3
    g = ag.function([x], ag.grad(T.sum(x, dtype="float64"), x))(v)
    assert_close(g, np.ones((2, 3), "float32"))


@pytest.mark.parametrize("name", ["all", "any", "argmax", "argmin"])
def test_discrete_reductions_have_no_gradient(name):
    x = T.dmatrix("x")
    out = getattr(T, name)(x, axis=0)
    assert out.owner.op.L_op([x], [out], [T.zeros_like(out)]) == [None]


def test_integer_input_has_no_gradient():
    x = T.imatrix("x")
    out = T.sum(x, axis=0)
    assert out.owner.op.L_op([x], [out], [T.zeros_like(out)]) == [None]


def test_broadcast_gradients_use_keepdims_sum():
    row, m = T.drow("row"), T.dmatrix("m")
    g = ag.grad(T.sum(row * m), row)
    assert g.type.shape == (1, None)
    rv, mv = np.ones((1, 3)), rand((4, 3), "float64", np.random.default_rng(13))
    assert_close(ag.function([row, m], g)(rv, mv), mv.sum(axis=0, keepdims=True))


def test_grad_of_grad_through_sum_and_max():
    verify_grad(lambda x: ag.grad(T.sum(T.sqr(T.max(x, axis=1))), x), [_grad_point((3, 4))])
    verify_grad(lambda x: ag.grad(T.logsumexp(x), x), [_grad_point((2, 3)) * 0.1])


# ------------------------------------------------------------ logsumexp stability

@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_logsumexp_is_stable(dtype):
    inf = np.inf
    cases = [
        [[1e4, 1e4 + 1.0, 1e4 - 2.0], [-1e4, -1e4 - 1.0, -1e4 + 3.0]],
        [[-inf, -inf, -inf], [-inf, 0.0, 1.0]],
        [[inf, 1.0, 2.0], [inf, -inf, 0.0]],
    ]
    x = T.tensor(dtype, (None, None), "x")
    f = ag.function([x], [T.logsumexp(x, axis=1), T.logsumexp(x, axis=-1, keepdims=True), T.logsumexp(x)])
    for case in cases:
        v = np.array(case, dtype)
        with np.errstate(all="ignore"):
            refs = [sp_logsumexp(v, axis=1), sp_logsumexp(v, axis=-1, keepdims=True), sp_logsumexp(v)]
        for g, e in zip(f(v), refs):
            assert not np.any(np.isnan(g))
            assert_close(g, np.asarray(e, dtype))
    big = np.array([[1e4, 1e4]], dtype)
    g = ag.function([x], ag.grad(T.sum(T.logsumexp(x, axis=1)), x))(big)
    assert_close(g, np.full((1, 2), 0.5, dtype))


@pytest.mark.parametrize("shape,axis", [((1_000_000, 3), 0), ((3, 300_000), 1), ((3_000, 300), 0),
                                        ((3_000, 300), None), (((1 << 21) + 7,), None)])
@pytest.mark.parametrize("kind", ["tenths", "uniform"])
def test_long_float32_sums_within_the_summation_order_tolerance(shape, axis, kind, rng):
    """Issue 9: a float32 column mean differed from NumPy's by more than the dtype's
    tolerance. Both are within what their summation orders allow (:func:`reduction_rtol`,
    values of one sign: the bound is relative), and ours is within half of it of the
    exact sum."""
    v = (np.full(shape, 0.1) if kind == "tenths" else rng.uniform(0, 1, shape)).astype("float32")
    x = T.tensor("float32", (None,) * len(shape), name="x")
    got_sum, got_mean = ag.function([x], [T.sum(x, axis=axis), T.mean(x, axis=axis)])(v)
    tol = reduction_rtol("float32", v.size if axis is None else shape[axis])
    assert_close(got_sum, np.sum(v, axis=axis), rtol=tol)
    assert_close(got_mean, np.mean(v, axis=axis), rtol=tol)
    np.testing.assert_allclose(got_sum, v.astype("float64").sum(axis=axis), rtol=tol / 2)
