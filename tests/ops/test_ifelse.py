"""Lazy ``ifelse`` (:mod:`arignote.ops.ifelse`): values against NumPy over dtypes and
shapes, laziness on every backend (the untaken branch would fail or is counted),
what stays outside the branches, shapes that compute neither branch, nested and
fused surroundings, gradients, pickling and errors."""
import pickle

import numpy as np
import pytest

import arignote as ag
import arignote.tensor as T
from arignote.errors import ArignoteError, ArignoteTypeError, ArignoteValueError
from arignote.graph.basic import Apply
from arignote.graph.op import Op
from arignote.ifelse import IfElse, ifelse
from arignote.ops.fused import Fused
from arignote.verify import verify_grad
from tests.util import SHAPES, assert_close, rand, symbolic_like

BACKENDS = [("numpy", True), ("cpu", True), ("cpu", False), ("interp", True)]


class Count(Op):
    """Test-only: the identity, counting its ``perform`` calls per ``tag``. An opaque op,
    so every backend runs its ``perform``."""

    __props__ = ("tag",)
    calls = {}

    def __init__(self, tag):
        self.tag = tag

    def make_node(self, x):
        return Apply(self, [x], [x.type])

    def perform(self, node, inputs):
        Count.calls[self.tag] = Count.calls.get(self.tag, 0) + 1
        return [inputs[0].copy()]

    def infer_shape(self, node, input_shapes):
        return [input_shapes[0]]

    def L_op(self, inputs, outputs, output_grads):
        return [output_grads[0]]


class Boom(Op):
    """Test-only: fails whenever it runs."""

    __props__ = ()

    def make_node(self, x):
        return Apply(self, [x], [x.type])

    def perform(self, node, inputs):
        raise ArignoteValueError("Boom ran: the untaken branch was computed")

    def infer_shape(self, node, input_shapes):
        return [input_shapes[0]]


@pytest.fixture(autouse=True)
def _reset_counts():
    Count.calls.clear()


def ifelse_nodes(f):
    return [n for n in f.fgraph.toposort() if isinstance(n.op, IfElse)]


# ------------------------------------------------------------ values

@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "int64", "bool"])
@pytest.mark.parametrize("shape", SHAPES)
def test_values_match_numpy(dtype, shape):
    a, b = rand(shape, dtype), rand(shape, dtype, np.random.default_rng(1))
    c, x, y = T.iscalar("c"), symbolic_like(a, "x"), symbolic_like(b, "y")
    f = ag.function([c, x, y], [ifelse(c, T.maximum(x, y), T.minimum(x, y)),
                                ifelse(c, [x[::-1], y], [y, x])[0]])
    for cond in (1, 0, -3):
        got = f(cond, a, b)
        assert_close(got[0], np.maximum(a, b) if cond else np.minimum(a, b))
        assert_close(got[1], a[::-1] if cond else b)


@pytest.mark.parametrize("cond_dtype,value,taken", [
    ("bool", True, True), ("bool", False, False), ("int8", -1, True), ("int64", 0, False),
    ("float32", 0.5, True), ("float64", -0.0, False), ("float64", np.nan, True)])
def test_condition_nonzero_is_true(cond_dtype, value, taken):
    c, x = T.scalar(dtype=cond_dtype, name="c"), T.dvector("x")
    f = ag.function([c, x], ifelse(c, x + 1.0, x - 1.0))
    v = np.arange(3.0)
    assert_close(f(np.asarray(value, cond_dtype), v), v + 1.0 if taken else v - 1.0)


def test_lists_tuples_and_python_values():
    c, x = T.bscalar("c"), T.dvector("x")
    out = ifelse(c, (x * 2.0, x.sum()), (x, np.float64(5.0)))
    assert isinstance(out, tuple) and len(out) == 2
    listed = ifelse(c, [x], [x * 3.0])
    assert isinstance(listed, list) and len(listed) == 1
    f = ag.function([c, x], list(out) + listed)
    v = np.array([1.0, 2.0])
    for got, want in zip(f(1, v), [v * 2.0, np.float64(3.0), v]):
        assert_close(got, want)
    for got, want in zip(f(0, v), [v, np.float64(5.0), v * 3.0]):
        assert_close(got, want)


def test_static_shape_is_the_join_of_the_branches():
    c = T.bscalar("c")
    a, b = T.tensor("float64", (2, 3)), T.tensor("float64", (2, None))
    assert ifelse(c, a, b).type.shape == (2, None)
    assert ifelse(c, a, a * 2.0).type.shape == (2, 3)
    d = T.tensor("float64", (4, 3))
    out = ifelse(c, a, d)
    assert out.type.shape == (None, 3)
    f = ag.function([c, a, d], out)
    assert f(1, np.ones((2, 3)), np.zeros((4, 3))).shape == (2, 3)
    assert f(0, np.ones((2, 3)), np.zeros((4, 3))).shape == (4, 3)


def test_an_output_is_never_an_input_value():
    """A branch that returns an input gives a copy: the caller's array is never aliased."""
    c, x, y = T.bscalar("c"), T.dvector("x"), T.dvector("y")
    out = ifelse(c, x, y.T)
    node = out.owner
    a, b = np.arange(3.0), np.arange(4.0)
    for cond, src in ((1, a), (0, b)):
        (got,) = node.op.perform(node, [np.asarray(cond, "int8"), a, b])
        assert_close(got, src)
        assert not np.may_share_memory(got, src)
    got = ag.function([c, x, y], out)(1, a, b)
    got[0] = 99.0
    assert a[0] == 0.0


# ------------------------------------------------------------ laziness

@pytest.mark.parametrize("backend,fusion", BACKENDS)
def test_only_the_chosen_branch_runs(backend, fusion):
    c, x = T.bscalar("c"), T.dvector("x")
    out = ifelse(c, T.tanh(Count("then")(x)) * 2.0, Count("else")(x) - 1.0)
    f = ag.function([c, x], out, backend=backend, fusion=fusion)
    v = np.linspace(-1, 1, 5)
    assert_close(f(1, v), np.tanh(v) * 2.0)
    assert Count.calls == {"then": 1}
    assert_close(f(0, v), v - 1.0)
    assert Count.calls == {"then": 1, "else": 1}


@pytest.mark.parametrize("backend,fusion", BACKENDS)
def test_the_untaken_branch_would_fail(backend, fusion):
    """An index out of bounds (a kernel's view on the cpu backend) and an op that always
    raises, in the branch not taken: the call succeeds."""
    c, x = T.bscalar("c"), T.dvector("x")
    out = ifelse(c, x[10] * x, Boom()(x) + 1.0)
    f = ag.function([c, x], out, backend=backend, fusion=fusion)
    short, long_ = np.arange(3.0), np.arange(12.0)
    assert_close(f(1, long_), 10.0 * long_)
    with pytest.raises(ArignoteError, match="Boom ran"):
        f(0, long_)
    with pytest.raises(ArignoteError):
        f(1, short)
    g = ag.function([c, x], ifelse(c, Boom()(x), x[10] * x), backend=backend, fusion=fusion)
    with pytest.raises(ArignoteError):
        g(0, short)  # (out of bounds: the else-branch did run)
    assert_close(g(0, long_), 10.0 * long_)


@pytest.mark.parametrize("backend,fusion", BACKENDS)
def test_nested_ifelse(backend, fusion):
    c, d, x = T.bscalar("c"), T.bscalar("d"), T.dvector("x")
    inner = ifelse(d, Count("a")(x) * 2.0, Count("b")(x) * 3.0)
    out = ifelse(c, inner + 1.0, Count("c")(x) - 1.0)
    f = ag.function([c, d, x], out, backend=backend, fusion=fusion)
    v = np.arange(4.0)
    expected = {(1, 1): (v * 2.0 + 1.0, "a"), (1, 0): (v * 3.0 + 1.0, "b"),
                (0, 1): (v - 1.0, "c"), (0, 0): (v - 1.0, "c")}
    for (cv, dv), (want, ran) in expected.items():
        Count.calls.clear()
        assert_close(f(cv, dv, v), want)
        assert Count.calls == {ran: 1}


@pytest.mark.parametrize("backend,fusion", BACKENDS)
def test_ifelse_inside_a_fused_graph(backend, fusion):
    """Elementwise work around the ifelse fuses; the branches' work stays inside it
    (each branch compiled, and fused, as a Program of its own)."""
    c, x, y = T.bscalar("c"), T.dmatrix("x"), T.dmatrix("y")
    branch = ifelse(c, T.tanh(x) * y + 1.0, T.exp(y).sum(axis=1, keepdims=True) * x)
    out = T.sqrt(T.abs(x)) * branch - y * 2.0
    f = ag.function([c, x, y], out, backend=backend, fusion=fusion)
    a, b = rand((3, 4)), rand((3, 4), rng=np.random.default_rng(5))
    assert_close(f(1, a, b), np.sqrt(np.abs(a)) * (np.tanh(a) * b + 1.0) - b * 2.0)
    assert_close(f(0, a, b), np.sqrt(np.abs(a)) * (np.exp(b).sum(1, keepdims=True) * a) - b * 2.0)
    (node,) = ifelse_nodes(f)
    outer_ops = {str(getattr(n.op, "scalar_op", "")) for m in f.fgraph.toposort()
                 for n in (m.op.nodes if isinstance(m.op, Fused) else [m])}
    assert not outer_ops & {"tanh", "exp"}
    then_prog, else_prog = f.program.inner_programs
    if backend != "numpy" and fusion:
        for prog in (then_prog, else_prog):
            assert prog.nodes and all(isinstance(n.op, Fused) for n in prog.nodes)


def test_what_the_condition_or_both_branches_need_stays_outside():
    c, x = T.bscalar("c"), T.dvector("x")
    s, h = x.sum(), T.tanh(x)
    out = ifelse(s > 0, [s * 2.0, h * 2.0], [s, h - 1.0])
    op = out[0].owner.op
    inner = {str(getattr(n.op, "scalar_op", type(n.op).__name__)) for n in op.nodes}
    assert "tanh" not in inner and "Sum" not in inner
    assert out[0].owner.inputs[1:] == [s, h] or set(out[0].owner.inputs[1:]) == {s, h}
    f = ag.function([x], out)
    v = np.array([1.0, -0.5])
    assert_close(f(v)[1], np.tanh(v) * 2.0)
    assert_close(f(-v)[1], np.tanh(-v) - 1.0)
    assert c is not None


# ------------------------------------------------------------ shapes

@pytest.mark.parametrize("backend,fusion", BACKENDS[:2])
def test_the_shape_of_an_ifelse_computes_neither_branch(backend, fusion):
    c, x, y = T.bscalar("c"), T.dvector("x"), T.dmatrix("y")
    out = ifelse(c, Count("then")(x[1:]), Count("else")(y[0]))
    f = ag.function([c, x, y], [out.shape, out.shape[0]], backend=backend, fusion=fusion)
    assert not ifelse_nodes(f)
    for cv, n in ((1, 4), (0, 3)):
        got = f(cv, np.zeros(5), np.zeros((2, 3)))
        assert list(got[0]) == [n] and int(got[1]) == n
    assert Count.calls == {}


def test_the_shape_of_a_nested_ifelse_computes_no_branch():
    c, d, x = T.bscalar("c"), T.bscalar("d"), T.dvector("x")
    inner = ifelse(d, Count("a")(x[2:]), Count("b")(x))
    out = ifelse(c, inner * 2.0, Count("c")(x[:1]))
    f = ag.function([c, d, x], out.shape[0])
    assert not ifelse_nodes(f)
    for cv, dv, n in ((1, 1, 3), (1, 0, 5), (0, 1, 1)):
        assert int(f(cv, dv, np.zeros(5))) == n
    assert Count.calls == {}


def test_a_shape_only_a_branch_decides_is_taken_at_run_time():
    c, x = T.bscalar("c"), T.dvector("x")
    out = ifelse(c, x[:T.argmax(x)], x * 2.0)
    f = ag.function([c, x], [out, out.shape[0]])
    v = np.array([0.0, 1.0, 5.0, 2.0])
    got = f(1, v)
    assert_close(got[0], v[:2])
    assert int(got[1]) == 2
    got = f(0, v)
    assert_close(got[0], v * 2.0)
    assert int(got[1]) == 4


# ------------------------------------------------------------ gradients

@pytest.mark.parametrize("positive", [True, False])
def test_gradients_numerically(positive):
    a, b = rand((3,), rng=np.random.default_rng(2)), rand((3,), rng=np.random.default_rng(3))
    a = np.abs(a) + 0.1 if positive else -np.abs(a) - 0.1

    def fn(x, y):
        return ifelse(x.sum() > 0, T.tanh(x) * y + x * x, T.exp(y) * x - y)

    verify_grad(fn, [a, b], rng=0)
    verify_grad(lambda x, y: ifelse(x.sum() > 0, [x * y, x], [y, x * 2.0])[0], [a, b], rng=0)


def test_gradient_flows_into_the_chosen_branch_only():
    c, x, y = T.bscalar("c"), T.dvector("x"), T.dvector("y")
    cost = ifelse(c, (x * y).sum(), (y ** 2).sum())
    gx, gy = ag.grad(cost, [x, y])
    f = ag.function([c, x, y], [gx, gy])
    a, b = np.array([1.0, 2.0]), np.array([3.0, -1.0])
    for cond, want in ((1, [b, a]), (0, [0.0 * a, 2.0 * b])):
        for got, w in zip(f(cond, a, b), want):
            assert_close(got, w)
    # a branch that is an input: its gradient is the output's
    g = ag.function([c, x, y], ag.grad(ifelse(c, x, y * 3.0).sum(), [x, y]))
    for cond, want in ((1, [np.ones(2), np.zeros(2)]), (0, [np.zeros(2), np.full(2, 3.0)])):
        for got, w in zip(g(cond, a, b), want):
            assert_close(got, w)


@pytest.mark.parametrize("backend,fusion", BACKENDS)
def test_gradient_is_lazy_too(backend, fusion):
    c, x = T.bscalar("c"), T.dvector("x")
    cost = ifelse(c, T.tanh(Count("then")(x)).sum(), (Count("else")(x) ** 2).sum())
    f = ag.function([c, x], ag.grad(cost, x), backend=backend, fusion=fusion)
    v = np.array([0.5, -1.0])
    assert_close(f(1, v), 1.0 - np.tanh(v) ** 2)
    assert "else" not in Count.calls
    Count.calls.clear()
    assert_close(f(0, v), 2.0 * v)
    assert "then" not in Count.calls


def test_second_order_gradient():
    c, x = T.bscalar("c"), T.dvector("x")
    g = ag.grad(ifelse(c, (x ** 3).sum(), (x ** 2).sum()), x)
    h = ag.grad(g.sum(), x)
    f = ag.function([c, x], h)
    v = np.array([1.0, -2.0])
    assert_close(f(1, v), 6.0 * v)
    assert_close(f(0, v), np.full(2, 2.0))


def test_condition_gets_no_gradient():
    c, x = T.dscalar("c"), T.dvector("x")
    out = ifelse(c, x * 2.0, x * c)  # (c is read by a branch: that use has a gradient)
    gc = ag.grad(out.sum(), c)
    f = ag.function([c, x], gc)
    v = np.array([1.0, 2.0])
    assert float(f(0.0, v)) == 3.0
    assert float(f(1.0, v)) == 0.0
    with pytest.raises(ArignoteError, match="does not depend"):
        ag.grad(ifelse(c, x * 2.0, x).sum(), c)


# ------------------------------------------------------------ values of ops, pickling, updates

def test_equal_ifelses_are_equal_ops_and_merge():
    c, x = T.bscalar("c"), T.dvector("x")
    a, b = ifelse(c, T.exp(x), x), ifelse(c, T.exp(x), x)
    assert a.owner.op == b.owner.op and hash(a.owner.op) == hash(b.owner.op)
    f = ag.function([c, x], a + b)
    assert len(ifelse_nodes(f)) == 1


@pytest.mark.parametrize("backend,fusion", BACKENDS)
def test_pickled_function_with_an_ifelse(backend, fusion):
    c, x = T.bscalar("c"), T.dvector("x")
    f = ag.function([c, x], ifelse(c, T.tanh(x) * 2.0, x[2:] - 1.0) * 3.0,
                    backend=backend, fusion=fusion)
    g = pickle.loads(pickle.dumps(f))
    v = np.linspace(-1, 1, 5)
    assert_close(g(1, v), np.tanh(v) * 6.0)
    assert_close(g(0, v), (v[2:] - 1.0) * 3.0)
    h = ag.load(pickle.dumps(f), compile=False)
    assert_close(h(0, v), (v[2:] - 1.0) * 3.0)


def test_ifelse_in_a_shared_variable_update():
    c = T.bscalar("c")
    w = ag.shared(np.arange(3.0), name="w")
    step = ag.function([c], w.sum(), updates=[(w, ifelse(c, w * 2.0, w))])
    step(1)
    step(0)
    step(1)
    assert_close(w.get_value(), np.arange(3.0) * 4.0)


# ------------------------------------------------------------ errors

def test_branches_of_different_lengths():
    c, x = T.bscalar("c"), T.dvector("x")
    with pytest.raises(ArignoteValueError, match=r"2 outputs and else_branch 1.*test_ifelse\.py"):
        ifelse(c, [x, x], [x])


@pytest.mark.parametrize("other,hint", [(T.fvector("y"), "T.cast"), (T.dmatrix("y"), "rank")])
def test_branches_of_different_dtype_or_rank(other, hint):
    c, x = T.bscalar("c"), T.dvector("x")
    with pytest.raises(ArignoteTypeError) as e:
        ifelse(c, [x, x], [x, other])
    msg = str(e.value)
    for part in ("output 1", "'x'", "'y'", str(x.type), str(other.type), hint, "test_ifelse.py"):
        assert part in msg, (part, msg)


def test_condition_must_be_a_scalar():
    x = T.dvector("x")
    with pytest.raises(ArignoteTypeError, match=r"condition must be a scalar.*'x'.*test_ifelse\.py"):
        ifelse(x, x, x)
    with pytest.raises(ArignoteTypeError, match="condition"):
        v = x.type.make_variable()
        IfElse([v], [v], [v])(x)
