"""The graph IR: variables, constants, applies, traversal, cloning,
FunctionGraph, pickling, and graphs deeper than Python's recursion limit."""
import contextlib
import pickle
import signal
import sys

import numpy as np
import pytest

import arignote as ag
import arignote.tensor as T
from arignote.errors import ArignoteTypeError, CycleError, RewriteError
from arignote.graph.basic import Apply, Constant, ancestors, clone_graph, graph_inputs, toposort
from arignote.graph.fg import OUTPUT, FunctionGraph
from arignote.ops.elemwise import Elemwise
from tests.util import assert_close


def _expr():
    x, y = T.dmatrix("x"), T.dvector("y")
    return x, y, T.exp(x + y) * 2 - T.sum(x, axis=0)


def _reference(x, y):
    return np.exp(x + y) * 2 - x.sum(axis=0)


XV, YV = np.arange(6.0).reshape(2, 3) / 10, np.array([0.5, -1.0, 2.0])


# ------------------------------------------------------------ variables and applies

def test_variable_basics():
    x = T.dvector("x")
    y = T.exp(x)
    assert x.owner is None and y.owner.inputs == [x] and y.owner.outputs == [y] and y.index == 0
    assert y.owner.out is y and isinstance(y.owner.op, Elemwise)
    assert repr(x) == "x" and repr(y) == "Elemwise{exp}.0"
    assert "exp" in repr(y.owner)
    assert x.id != T.dvector("x").id
    c = x.clone()
    assert c is not x and c.type == x.type and c.name == "x" and c.owner is None


def test_apply_records_the_users_line():
    x = T.dvector("x")
    y = x * 2  # the line below is checked by number
    trace = y.owner.trace
    assert trace[0] == __file__ and trace[2] == "test_apply_records_the_users_line"
    import linecache
    assert "y = x * 2" in linecache.getline(trace[0], trace[1])
    # nodes built inside arignote on the user's behalf point at the user's line too
    z = T.dvector("z") + T.dmatrix("m")
    assert z.owner.inputs[0].owner.trace[0] == __file__


def test_apply_refuses_non_variables():
    with pytest.raises(ArignoteTypeError, match="input 0 is a list"):
        Apply(T.exp(T.dvector()).owner.op, [[1.0]], [])


def test_constants():
    c = T.constant(np.arange(3.0), name="c")
    assert isinstance(c, Constant) and c.owner is None and c.type.shape == (3,) and c.name == "c"
    assert not c.data.flags.writeable
    s = T.constant(2.5)
    assert s.type.shape == () and s.dtype == "float64" and repr(s) == "2.5"
    assert T.constant(np.float32(1)).dtype == "float32"
    assert T.constant([1, 2], dtype="int8").dtype == "int8"
    assert repr(T.constant(np.zeros(100))) == "Constant{float64[100]}"
    with pytest.raises(ArignoteTypeError, match="constant"):
        T.constant("text")
    with pytest.raises(ArignoteTypeError):
        T.constant(None)


def test_constant_copies_the_users_array():
    a = np.arange(3.0)
    c = T.constant(a)
    assert a.flags.writeable  # the user's array is left alone
    a[0] = 100
    assert c.data[0] == 0
    assert_close(c.eval(), np.arange(3.0))


def test_as_tensor_variable():
    assert T.as_tensor_variable(1).weak and T.as_tensor_variable(1).dtype == "int64"
    assert not T.as_tensor_variable(np.int32(1)).weak
    v = T.as_tensor_variable([[1, 2], [3, 4]])
    assert v.type.shape == (2, 2) and v.dtype == "int64"
    assert T.as_tensor_variable(np.zeros(2), dtype="float32").dtype == "float32"
    x = T.dvector()
    assert T.as_tensor_variable(x) is x
    with pytest.raises(ArignoteTypeError, match="expected a 2-d tensor"):
        T.as_tensor_variable(x, ndim=2)
    with pytest.raises(ArignoteTypeError, match="cannot convert dict"):
        T.as_tensor_variable({})


# ------------------------------------------------------------ traversal

def test_traversal():
    x, y, out = _expr()
    nodes = toposort([out])
    assert nodes[-1] is out.owner
    position = {n: k for k, n in enumerate(nodes)}
    for n in nodes:
        for i in n.inputs:
            assert i.owner is None or position[i.owner] < position[n]
    roots = graph_inputs([out])
    assert x in roots and y in roots and all(r.owner is None for r in roots)
    assert set(ancestors([out])) >= {x, y, out}
    add = out.owner.inputs[0].owner.inputs[0].owner.inputs[0]  # exp(x + y) * 2 -> x + y
    assert graph_inputs([out], blockers=[add]) and add in graph_inputs([out], blockers=[add])
    assert all(n is not add.owner for n in toposort([out], blockers=[add]))


def test_toposort_shares_common_subgraphs_once():
    x = T.dvector("x")
    a = T.exp(x)
    out = a * a + a
    nodes = toposort([out])
    assert sum(n is a.owner for n in nodes) == 1 and len(nodes) == 3


# ------------------------------------------------------------ cloning

def test_clone_graph_copies_everything_but_shared_and_constants():
    x = T.dvector("x")
    w = ag.shared(np.ones(3), "w")
    c = T.constant(np.full(3, 2.0))
    out = (x * w + c).sum()
    (new,), memo = clone_graph([out])
    assert new is not out and memo[out] is new
    assert memo[x] is not x and memo[x].type == x.type and memo[x].name == "x"
    assert memo[w] is w and memo[c] is c
    assert {n.op for n in toposort([new])} == {n.op for n in toposort([out])}
    assert not set(toposort([new])) & set(toposort([out]))
    # the user's graph is untouched
    assert x in graph_inputs([out])


def test_clone_graph_replace_and_keep():
    x, y = T.dvectors("x", "y")
    out = T.exp(x) + y
    z = T.dvector("z")
    (new,), memo = clone_graph([out], replace={x: z * 2}, keep=[y])
    assert memo[y] is y and z in graph_inputs([new]) and x not in graph_inputs([new])
    f = ag.function([z, y], new)
    assert_close(f(np.zeros(2), np.ones(2)), np.full(2, 2.0))


def test_clone_with_replacement_reinfers_types():
    x = T.dmatrix("x")
    out = T.exp(x) + 1
    (new,), _ = clone_graph([out], replace={x: T.tensor("float64", (2, 5))})
    assert new.type.shape == (2, 5)


# ------------------------------------------------------------ FunctionGraph

def test_function_graph_is_a_private_copy():
    x, y, out = _expr()
    fg = FunctionGraph([x, y], [out])
    assert fg.inputs == [fg.memo[x], fg.memo[y]] and fg.outputs == [fg.memo[out]]
    assert fg.inputs[0] is not x and not set(fg.toposort()) & set(toposort([out]))
    assert set(fg.apply_nodes) == set(fg.toposort()) == fg.nodes
    assert fg.outputs[0] in fg.variables and fg.inputs[0] in fg.variables
    assert set(fg.roots()) >= set(fg.inputs)
    assert "FunctionGraph" in repr(fg)


def test_function_graph_clients():
    x, y = T.dvectors("x", "y")
    a = x + y
    b = T.exp(a)
    c = b * a
    fg = FunctionGraph([x, y], [c, a])
    ma, mb, mc = fg.memo[a], fg.memo[b], fg.memo[c]
    assert sorted(str(k) for k, _ in fg.clients[ma]) == sorted(
        [str(mb.owner), str(mc.owner), OUTPUT])
    assert (OUTPUT, 1) in fg.clients[ma] and (mc.owner, 1) in fg.clients[ma]
    assert fg.clients[mc] == [(OUTPUT, 0)]
    assert fg.clients[fg.inputs[0]] == [(ma.owner, 0)]


def test_function_graph_replace():
    x, y = T.dvectors("x", "y")
    a = x + y
    c = T.exp(a) * a
    fg = FunctionGraph([x, y], [c, a])
    ma = fg.memo[a]
    new = fg.inputs[0] - fg.inputs[1]
    fg.replace(ma, new, reason="test")
    assert fg.outputs[1] is new and ma.owner not in fg.nodes and new.owner in fg.nodes
    assert all(ma not in n.inputs for n in fg.toposort())
    assert len(fg.clients[new]) == 3
    f_out = ag.function([x, y], [c, a])  # the user's graph still means x + y
    xv, yv = np.array([1.0, 2.0]), np.array([0.5, 0.5])
    assert_close(f_out(xv, yv)[1], xv + yv)
    with pytest.raises(RewriteError, match="bad.*float32"):
        fg.replace(new, T.fvector(), reason="bad")


@contextlib.contextmanager
def _within(seconds):
    """Fail (instead of hanging and eating memory) if the block runs longer than ``seconds``."""
    def late(*_):
        raise AssertionError(f"took more than {seconds} s")
    previous = signal.signal(signal.SIGALRM, late)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_a_cycle_made_by_a_rewrite_raises_naming_it():
    """Before: toposort pushed the cycle onto its stack forever (16.9 GB in issue 9)."""
    x = T.dvector("x")
    a = T.exp(x)
    b = a * 2
    fg = FunctionGraph([x], [b + 1])
    ma, mb = fg.memo[a], fg.memo[b]
    fg.replace(fg.inputs[0], T.dvector("z"), reason="harmless")  # recorded, not on the cycle
    fg.phase = "stabilize"
    fg.replace(ma, T.sin(mb), reason="bad_rewrite")  # b = sin(b) * 2: b depends on itself
    with _within(1.0), pytest.raises(CycleError) as info:
        fg.toposort()
    msg = str(info.value)
    assert "rewrite bad_rewrite in phase stabilize" in msg and "harmless" not in msg
    assert "Elemwise{sin} -> Elemwise{mul} -> Elemwise{sin}" in msg
    assert [str(n.op) for n in info.value.nodes] == ["Elemwise{sin}", "Elemwise{mul}"]
    assert isinstance(info.value, RewriteError)
    with _within(1.0), pytest.raises(CycleError, match="the graph has a cycle"):
        toposort(fg.outputs)  # the plain traversal raises too (without the maker's name)


def test_a_cycle_made_in_the_pipeline_names_the_pass(monkeypatch):
    """Found by the next pass's topological sort, named after the pass that made it."""
    from arignote.passes import rewriting

    def close_a_loop(fgraph, stats):
        node = next(n for n in fgraph.toposort() if str(n.op) == "Elemwise{exp}")
        reader = fgraph.clients[node.outputs[0]][0][0]
        fgraph.replace(node.inputs[0], reader.outputs[0], reason="close_a_loop")

    monkeypatch.setitem(rewriting._GRAPH_PASSES, "stabilize",
                        [rewriting.GraphPass(close_a_loop)] + rewriting._GRAPH_PASSES["stabilize"])
    x = T.dvector("x")
    with _within(5.0), pytest.raises(CycleError, match="rewrite close_a_loop in phase stabilize"):
        ag.function([x], T.exp(x) * 3, backend="numpy")


def test_function_graph_givens():
    x, y = T.dvectors("x", "y")
    out = x * y
    fg = FunctionGraph([y], [out], replace={x: y + 1})
    assert fg.inputs[0] in graph_inputs(fg.outputs) and x not in graph_inputs(fg.outputs)


def test_to_networkx():
    nx = pytest.importorskip("networkx")
    x, y = T.dvectors("x", "y")
    fg = FunctionGraph([x, y], [T.exp(x + y) * x])
    g = fg.to_networkx()
    kinds = [d["kind"] for _, d in g.nodes(data=True)]
    assert kinds.count("apply") == 3 and kinds.count("variable") == 5  # x, y, x+y, exp, mul
    assert nx.is_directed_acyclic_graph(g)
    ops = {d["op"] for _, d in g.nodes(data=True) if d["kind"] == "apply"}
    assert ops == {"Elemwise{add}", "Elemwise{exp}", "Elemwise{mul}"}
    assert g.number_of_edges() == (2 + 1) + (1 + 1) + (2 + 1)  # in and out edges per apply


# ------------------------------------------------------------ pickling

def test_pickle_an_expression():
    x, y, out = _expr()
    loaded = pickle.loads(pickle.dumps(out))
    lx, ly = sorted((v for v in graph_inputs([loaded]) if not isinstance(v, Constant)),
                    key=lambda v: v.name)
    assert (lx.name, ly.name) == ("x", "y") and lx.type == x.type
    assert [n.op for n in toposort([loaded])] == [n.op for n in toposort([out])]
    f = ag.function([lx, ly], loaded)
    assert_close(f(XV, YV), _reference(XV, YV))
    assert loaded.owner.trace == out.owner.trace


def test_pickle_several_outputs_keeps_sharing():
    x = T.dvector("x")
    a = T.exp(x)
    b, c = a + 1, a * 2
    lb, lc, lx = pickle.loads(pickle.dumps([b, c, x]))
    assert lb.owner.inputs[0] is lc.owner.inputs[0]  # one exp node, as before
    assert_close(ag.function([lx], lb + lc)(np.zeros(2)), np.full(2, 4.0))


def test_pickle_a_function_graph():
    x, y, out = _expr()
    fg = FunctionGraph([x, y], [out])
    loaded = pickle.loads(pickle.dumps(fg))
    assert len(loaded.toposort()) == len(fg.toposort())
    assert loaded.clients.keys() >= set(loaded.inputs)
    f = ag.function(loaded.inputs, loaded.outputs[0])
    assert_close(f(XV, YV), _reference(XV, YV))


def test_pickle_shared_variables_and_constants():
    w = ag.shared(np.arange(3.0), "w")
    x = T.dvector("x")
    out = x * w + T.constant(np.ones(3))
    lout, lx = pickle.loads(pickle.dumps([out, x]))
    lw = next(v for v in graph_inputs([lout]) if getattr(v, "is_shared", False))
    assert_close(lw.get_value(), np.arange(3.0))
    assert_close(ag.function([lx], lout)(np.ones(3)), np.arange(3.0) + 1)


def test_pickle_a_compiled_function():
    x = T.dvector("x")
    w = ag.shared(np.zeros(2), "w")
    f = ag.function([x], T.exp(x) + w, updates=[(w, w + x)])
    f(np.ones(2))
    g = pickle.loads(pickle.dumps(f))
    assert_close(g(np.zeros(2)), np.full(2, 2.0))
    g(np.ones(2))
    (lw,) = g.shared
    assert_close(lw.get_value(), np.full(2, 2.0))  # the loaded function updates its own copy
    assert_close(w.get_value(), np.ones(2))


def _tanh_chain(depth):
    x = T.dvector("x")
    v = x
    for _ in range(depth):
        v = T.tanh(v) + 0.5
    return x, v


def test_pickle_moderately_deep_graph():
    x, v = _tanh_chain(20)
    loaded, lx = pickle.loads(pickle.dumps([v, x]))
    assert_close(ag.function([lx], loaded)(np.zeros(2)), ag.function([x], v)(np.zeros(2)))


def test_pickle_deep_graph():
    x, v = _tanh_chain(500)
    pickle.dumps(v)


# ------------------------------------------------------------ deep graphs

DEPTH = 3000


@pytest.fixture(scope="module")
def deep_chain():
    x = T.dvector("x")
    v = x
    for k in range(DEPTH):
        v = v * 0.999 + 0.001 if k % 2 else T.tanh(v)
    return x, v


def _reference_chain(xv):
    v = xv.copy()
    dv = np.ones_like(v)
    for k in range(DEPTH):
        if k % 2:
            v, dv = v * 0.999 + 0.001, dv * 0.999
        else:
            v, dv = np.tanh(v), dv * (1 - np.tanh(v) ** 2)
    return v, dv


def test_deep_graph_traversal_and_clone(deep_chain):
    x, v = deep_chain
    assert DEPTH * 4 > sys.getrecursionlimit()
    nodes = toposort([v])
    assert len(nodes) == DEPTH // 2 + 2 * (DEPTH // 2)  # tanh, mul, add
    assert graph_inputs([v])[0] is not None and x in graph_inputs([v])
    (new,), memo = clone_graph([v])
    assert len(toposort([new])) == len(nodes)
    fg = FunctionGraph([x], [v])
    assert len(fg.nodes) == len(nodes)


def test_deep_graph_function_and_grad(deep_chain):
    x, v = deep_chain
    g = ag.grad(v.sum(), x)
    f = ag.function([x], [v, g])
    xv = np.array([-1.0, 0.0, 0.5])
    value, dvalue = f(xv)
    expected, dexpected = _reference_chain(xv)
    np.testing.assert_allclose(value, expected, rtol=1e-10)
    np.testing.assert_allclose(dvalue, dexpected, rtol=1e-8, atol=1e-300)


def test_deep_graph_eval_and_printing_of_errors(deep_chain):
    x, v = deep_chain
    out = v + T.dmatrix("m")  # not an input
    with pytest.raises(ag.MissingInputError, match="'m'"):
        ag.function([x], out)
