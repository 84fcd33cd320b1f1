"""Property: for random graphs, the optimized ('fast_run') and unoptimized
('none') functions compute the same values. Expressions are drawn to hit the
rewrites (neutral constants, powers, double negations, exp/log pairs, sums of
sums, dimshuffles, reshapes, slices of allocs, fills, shapes of
intermediates). Counterexamples hypothesis finds become regression tests."""
import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import arignote as ag
import arignote.tensor as T

UNARY = {
    "neg": lambda a: -a, "exp": lambda a: T.exp(T.clip(a, -5, 5)), "tanh": T.tanh,
    "abs": abs, "sqr": T.sqr, "log1p_abs": lambda a: T.log1p(abs(a)), "sigmoid": T.sigmoid,
    "softplus": T.softplus, "log_exp": lambda a: T.log(T.exp(T.clip(a, -5, 5))),
    "double_neg": lambda a: -(-a), "transpose2": lambda a: a.dimshuffle(1, 0).dimshuffle(1, 0),
    "pow2": lambda a: a ** 2, "pow3": lambda a: a ** 3, "pow1": lambda a: a ** 1,
    "log_sigmoid": lambda a: T.log(T.sigmoid(a)), "expm1": lambda a: T.exp(T.clip(a, -5, 5)) - 1,
    "log_1p": lambda a: T.log(1 + abs(a)),
    "sum_rows": lambda a: T.sum(a, axis=1, keepdims=True) + a,
    "max_cols": lambda a: T.max(a, axis=0, keepdims=True) * a,
    # shape ops and indexing (3x3 in, 3x3 out)
    "reshape2": lambda a: a.reshape((9,)).reshape((3, 3)), "flip": lambda a: a[::-1],
    "roll": lambda a: T.concatenate([a[1:], a[:1]]), "set0": lambda a: T.set_subtensor(a[0], 0.0),
    "inc_col": lambda a: T.inc_subtensor(a[:, 1], 1.0), "gather": lambda a: a[[2, 0, 1]],
    "alloc_slice": lambda a: a + T.alloc(1.0, 4, 3)[1:], "fill": lambda a: T.zeros_like(a) + a,
    "shape_scale": lambda a: a * T.cast(T.exp(a).shape[0], "float64"),
    "stack_sum": lambda a: T.stack([a, a]).sum(axis=0),
    "mean_rows": lambda a: a - a.mean(axis=1, keepdims=True),
}
BINARY = {
    "add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
    "div": lambda a, b: a / (1 + T.sqr(b)), "maximum": T.maximum, "minimum": T.minimum,
}
CONSTANTS = [0, 1, -1, 2, 0.5]


@st.composite
def expressions(draw, leaves, depth=4):
    if depth == 0 or draw(st.integers(0, 4)) == 0:
        return draw(st.sampled_from(leaves))
    kind = draw(st.sampled_from(["unary", "binary", "const"]))
    a = draw(expressions(leaves, depth - 1))
    if kind == "unary":
        return UNARY[draw(st.sampled_from(sorted(UNARY)))](a)
    if kind == "const":
        c = draw(st.sampled_from(CONSTANTS))
        return BINARY[draw(st.sampled_from(["add", "sub", "mul"]))](a, c)
    b = draw(expressions(leaves, depth - 1))
    return BINARY[draw(st.sampled_from(sorted(BINARY)))](a, b)


X, Y = T.dmatrices("x", "y")
RNG = np.random.default_rng(7)
XV, YV = RNG.normal(size=(3, 3)), RNG.normal(size=(3, 3))


def _agree(expr):
    fast = ag.function([X, Y], expr, on_unused_input="ignore")
    slow = ag.function([X, Y], expr, mode="none", on_unused_input="ignore")
    a, b = fast(XV, YV), slow(XV, YV)
    assert a.dtype == b.dtype and a.shape == b.shape
    np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12, equal_nan=True)


@given(expressions([X, Y]))
def test_fast_run_agrees_with_no_rewrites(expr):
    _agree(expr)


@given(st.lists(expressions([X, Y], depth=3), min_size=2, max_size=3))
def test_several_outputs_sharing_subgraphs(exprs):
    fast = ag.function([X, Y], exprs, on_unused_input="ignore")
    slow = ag.function([X, Y], exprs, mode="none", on_unused_input="ignore")
    for a, b in zip(fast(XV, YV), slow(XV, YV)):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12, equal_nan=True)
