"""Random graphs of elementwise, reduction, shape, concatenate and split ops,
compiled and compared with NumPy evaluating the same expression; and their
gradients, compiled on the configured backend and on the reference.

Every random expression is built twice in lockstep: symbolically and on
NumPy arrays. Its shape always broadcasts against one random *base* shape
(some dims replaced by 1, leading dims dropped), so any two subexpressions
can be combined. Values stay bounded (bounded unary functions, small ints),
so rewrites cannot turn a finite result into inf or nan.

``ARIGNOTE_LONG_EXAMPLES=100000`` runs that many graphs per test (a nightly
run); the default keeps ``make test``, which runs this file three times, short.
"""
import os
import warnings

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import arignote as ag
import arignote.tensor as T
from tests.util import symbolic_like

DTYPES = ["float32", "float64", "int32", "int64", "bool"]
#: float16 arises from bool and small-int inputs of float functions (NumPy computes them
#: in float16: a few ulps of 2**-10 from the float64 value rounded once)
TOL = {"float16": 4e-3, "float32": 2e-4, "float64": 1e-9}


def examples(default):
    """Run ``default`` examples, or ``ARIGNOTE_LONG_EXAMPLES`` when set (nightly)."""
    return settings(max_examples=int(os.environ.get("ARIGNOTE_LONG_EXAMPLES") or default),
                    deadline=None)


def _sigmoid(v):
    """The reference's formula, in the result's dtype: a comparison against a folded
    sigmoid must see the very same bits (another formula differs by an ulp and flips it)."""
    e = np.exp(-np.abs(v))
    return np.where(v >= 0, 1 / (1 + e), e / (1 + e)).astype(e.dtype)


def _safe_div(a, b):
    """Division by a value >= 1; Python's abs keeps a Python scalar weak on both sides."""
    return a / (abs(b) + 1)


# unary ops that are total and bounded on bounded inputs: (symbolic, NumPy, kinds accepted)
UNARY = [
    (T.neg, np.negative, "fi"), (abs, np.abs, "fi"), (T.tanh, np.tanh, "fib"),
    (T.sin, np.sin, "fib"), (T.cos, np.cos, "fib"), (T.sqr, np.square, "fi"),
    (T.sigmoid, lambda v: _sigmoid(v.astype(np.exp(np.zeros(0, v.dtype)).dtype)), "fi"),
    (T.floor, np.floor, "fi"), (T.sign, np.sign, "fi"), (T.invert, np.invert, "ib"),
    (T.isfinite, np.isfinite, "fib"),
]
BINARY = [
    (T.add, np.add, "fib"), (T.sub, np.subtract, "fi"), (T.mul, np.multiply, "fib"),
    (T.maximum, np.maximum, "fib"), (T.minimum, np.minimum, "fib"), (T.lt, np.less, "fib"),
    (T.ge, np.greater_equal, "fib"), (T.eq, np.equal, "fib"), (T.and_, np.bitwise_and, "ib"),
    (_safe_div, _safe_div, "fi"),
]
REDUCE = [(T.sum, np.sum), (T.max, np.max), (T.min, np.min), (T.mean, np.mean)]


def _kind(dtype):
    return np.dtype(dtype).kind.replace("u", "i").replace("c", "f")


def _compatible_shape(draw, base):
    """``base`` with some dims set to 1 and some leading dims dropped."""
    drop = draw(st.integers(0, len(base)))
    return tuple(1 if draw(st.booleans()) and draw(st.booleans()) else s for s in base[drop:])


class Built:
    """What one random graph has built so far: its inputs (symbolic, value) and every
    tensor subexpression. A leaf may be one of them again, so graphs are DAGs whose values
    have several readers, as in real models and their gradients (what fusion must group
    without a cycle), not only trees."""

    def __init__(self, dtypes=DTYPES):
        self.dtypes, self.inputs, self.values = dtypes, [], []


@st.composite
def leaf(draw, base, built):
    if built.values and draw(st.integers(0, 2)) == 0:
        return draw(st.sampled_from(built.values))
    if draw(st.integers(0, 5)) == 0:  # a Python scalar: weak in NumPy 2
        value = draw(st.floats(-2, 2, width=32) if "int32" not in built.dtypes else st.one_of(
            st.integers(-3, 3), st.floats(-2, 2, width=32), st.booleans()))
        return value, value
    dtype = draw(st.sampled_from(built.dtypes))
    shape = _compatible_shape(draw, base)
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 16)))
    if dtype == "bool":
        value = rng.integers(0, 2, shape).astype(bool)
    elif dtype.startswith("int"):
        value = rng.integers(-4, 5, shape).astype(dtype)
    else:
        value = rng.uniform(-2, 2, shape).astype(dtype)
    sym = symbolic_like(value, f"in{len(built.inputs)}")
    built.inputs.append((sym, value))
    built.values.append((sym, value))
    return sym, value


def _np_kind(value):
    return _kind(np.asarray(value).dtype)


def _unary(draw, val):
    kind = _np_kind(val)
    return draw(st.sampled_from([(s, n) for s, n, kinds in UNARY if kind in kinds]))


def _binary(draw, *vals):
    kinds = {_np_kind(v) for v in vals}
    return draw(st.sampled_from([(s, n) for s, n, ks in BINARY if kinds <= set(ks)]))


def _split_join(draw, base, built, depth, sym, val):
    """Concatenate and split, shape kept (Split and Join are each other's gradient).
    Two values of one shape (two functions of ``val`` and another expression, or
    ``val`` and a function of it) are spliced (the head of one, the tail of the
    other), or joined and then cut into halves that are combined, or joined and
    reduced along the joined axis (``sum(concatenate([x, y]))`` as in issue 9)."""
    if draw(st.booleans()):
        sym2, val2 = draw(expression(base, built, depth - 1))
        (f, nf), (g, ng) = _binary(draw, val, val2), _binary(draw, val, val2)
        sym, val, sym2, val2 = f(sym, sym2), nf(val, val2), g(sym, sym2), ng(val, val2)
    else:
        f, nf = _unary(draw, val)
        sym2, val2 = f(sym), nf(val)
    axes = [a for a in range(np.ndim(val)) if sym.type.shape[a] != 1]  # (keep broadcasting)
    if not axes:
        return sym, val
    axis = draw(st.sampled_from(axes))
    n = np.shape(val)[axis]
    how = draw(st.sampled_from(["cut", "halves", "reduce"]))
    if how == "cut":
        m = draw(st.integers(0, n))
        sizes = [m, sym.shape[axis] - m] if draw(st.booleans()) else [m, n - m]  # symbolic or not
        head, tail = T.split(sym, sizes, 2, axis=axis)[0], T.split(sym2, sizes, 2, axis=axis)[1]
        return T.concatenate([head, tail], axis=axis), np.concatenate(
            [np.split(val, [m], axis=axis)[0], np.split(val2, [m], axis=axis)[1]], axis=axis)
    joined, jval = T.concatenate([sym, sym2], axis=axis), np.concatenate([val, val2], axis=axis)
    if how == "halves":
        h0, h1 = T.split(joined, [n, n], 2, axis=axis)
        g, ng = _binary(draw, jval)
        return g(h0, h1), ng(*np.split(jval, [n], axis=axis))
    r, nr = draw(st.sampled_from([(T.sum, np.sum), (T.mean, np.mean)]))
    if _np_kind(jval) == "b" or np.size(jval) == 0:  # (no mean of bools or of nothing)
        return sym, val
    return r(joined, axis=axis, keepdims=True), nr(jval, axis=axis, keepdims=True)


@st.composite
def expression(draw, base, built, depth):
    if depth == 0 or draw(st.integers(0, 3)) == 0:
        return draw(leaf(base, built))
    sym, val = draw(_apply(base, built, depth))
    if isinstance(sym, T.TensorVariable):
        built.values.append((sym, val))
    return sym, val


@st.composite
def _apply(draw, base, built, depth):
    choice = draw(st.sampled_from(["unary", "binary", "binary", "reduce", "shape", "join"]))
    sym, val = draw(expression(base, built, depth - 1))
    if isinstance(val, (bool, int, float)):
        sym, val = T.constant(np.asarray(val)), np.asarray(val)
    kind = _np_kind(val)
    if choice == "unary":
        s, n = _unary(draw, val)
        return s(sym), n(val)
    if choice == "binary":
        sym2, val2 = draw(expression(base, built, depth - 1))
        s, n = _binary(draw, val, val2)
        if draw(st.booleans()):
            sym, val, sym2, val2 = sym2, val2, sym, val
        return s(sym, sym2), n(val, val2)
    if choice == "join":
        return _split_join(draw, base, built, depth, sym, val)
    if choice == "reduce":
        s, n = draw(st.sampled_from(REDUCE))
        ndim = np.ndim(val)
        if ndim == 0 or (n in (np.max, np.min) and np.size(val) == 0):
            return sym, val
        if kind == "b" and n is np.mean:
            return sym, val
        axis = draw(st.one_of(st.none(), st.integers(0, ndim - 1)))
        if axis is None:  # a full reduction is a scalar: broadcasts with anything
            return s(sym), n(val)
        if n in (np.max, np.min) and np.shape(val)[axis] == 0:
            return sym, val
        return s(sym, axis=axis, keepdims=True), n(val, axis=axis, keepdims=True)
    # shape ops that give back a broadcast-compatible shape
    ndim = np.ndim(val)
    if ndim >= 2 and draw(st.booleans()):
        perm = draw(st.permutations(range(ndim)))
        inverse = list(np.argsort(perm))
        return T.dimshuffle(T.dimshuffle(sym, perm), inverse), val
    if ndim >= 1:
        shape = np.shape(val)
        return T.reshape(T.flatten(sym), shape), np.reshape(np.ravel(val), shape)
    return sym, val


@st.composite
def graphs(draw, dtypes=DTYPES):
    rank = draw(st.integers(0, 3))
    base = tuple(draw(st.lists(st.integers(0, 4), min_size=rank, max_size=rank)))
    built = Built(dtypes)
    with warnings.catch_warnings(), np.errstate(all="ignore"):  # mean of an empty slice
        warnings.simplefilter("ignore", RuntimeWarning)
        sym, val = draw(expression(base, built, depth=draw(st.integers(1, 4))))
    if not isinstance(sym, T.TensorVariable):  # a lone Python scalar
        sym, val = T.constant(np.asarray(val)), np.asarray(val)
    mode = draw(st.sampled_from(["fast_run", "none"]))
    return built.inputs, sym, np.asarray(val), mode


@examples(60)
@given(graphs())
def test_random_graph_matches_numpy(case):
    inputs, out, expected, mode = case
    f = ag.function([s for s, _ in inputs], out, mode=mode, on_unused_input="ignore")
    got = f(*[v for _, v in inputs])
    assert out.dtype == expected.dtype.name, (out.dtype, expected.dtype)
    assert got.dtype == expected.dtype and got.shape == expected.shape
    # the least precise dtype computed in the graph decides (a float32 input feeding a float64 output)
    tol = max([TOL.get(expected.dtype.name, 0)] + [TOL.get(v.dtype.name, 0) for _, v in inputs])
    np.testing.assert_allclose(got, expected, rtol=tol, atol=tol)


@examples(60)
@given(graphs(dtypes=["float32", "float64"]))
def test_random_graph_gradients_match_the_reference(case):
    """``grad(sum(graph), inputs)`` on the configured backend against the reference: the
    backward pass holds Split for every concatenate and Join for every split."""
    inputs, out, _, mode = case
    if not out.dtype.startswith("float"):
        out = T.cast(out, "float64")  # (no gradient flows: zeros, compared all the same)
    wrt = [s for s, _ in inputs]
    grads = ag.grad(T.sum(out), wrt, disconnected_inputs="ignore") if wrt else []
    values = [v for _, v in inputs]
    got = ag.function(wrt, grads, mode=mode, on_unused_input="ignore")(*values)
    expected = ag.function(wrt, grads, mode=mode, on_unused_input="ignore", backend="numpy")(*values)
    tol = max(TOL[v.dtype.name] for v in values) if values else 0  # the least precise input
    for g, e, v in zip(got, expected, values):
        assert g.dtype == e.dtype == v.dtype and g.shape == e.shape == v.shape
        np.testing.assert_allclose(g, e, rtol=tol, atol=tol * max(1.0, np.abs(e).max(initial=0)))


def test_float32_input_to_a_float64_output_is_checked_at_float32_precision():
    """Found on the cpu backend: float32 math within 4 ulp, then promoted to float64."""
    x = T.fvector("in0")
    y = T.tanh(x) + T.constant(np.float64(0.0))
    v = np.array([0.54784673, -0.92085314], dtype="float32")
    got = ag.function([x], y)(v)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, np.tanh(v).astype("float64"), rtol=TOL["float32"], atol=TOL["float32"])


# ------------------------------------------------------------ regressions found by the search above

def test_bool_times_minus_one():
    # passes/algebraic.py rewrote mul(x, -1) -> neg(x), which NumPy refuses for bool
    # (and which changes int8 * int64(-1) from int64 to int8)
    b = T.tensor("bool", (None,), "b")
    value = np.array([True, False])
    for expr, expected in [(b * -1, value * -1), (0 - b, 0 - value)]:
        np.testing.assert_array_equal(ag.function([b], expr)(value), expected)
    i8 = T.bvector("i8")
    expr = i8 * np.int64(-1)
    assert ag.function([i8], expr)(np.array([3], "int8")).dtype == "int64"
