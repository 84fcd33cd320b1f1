"""Graphs survive pickle and deepcopy at any depth, keeping identity and sharing."""
import copy
import io
import pickle
import sys

import numpy as np
import pytest

import arignote as ag
import arignote.tensor as T
from arignote.graph import pickling
from arignote.graph.basic import Constant, graph_inputs, toposort
from arignote.graph.fg import FunctionGraph
from tests.util import assert_close

PROTOCOLS = range(2, pickle.HIGHEST_PROTOCOL + 1)


def roundtrip(obj, protocol=pickle.DEFAULT_PROTOCOL):
    return pickle.loads(pickle.dumps(obj, protocol))


def chain(depth, x=None):
    x = T.dvector("x") if x is None else x
    v = x
    for k in range(depth):
        v = T.tanh(v) if k % 2 else v * 0.999 + 0.001
    return x, v


def chain_value(depth, xv):
    v = xv.copy()
    for k in range(depth):
        v = np.tanh(v) if k % 2 else v * 0.999 + 0.001
    return v


def longest_path(outputs):
    depth = {}
    for node in toposort(outputs):
        depth[node] = 1 + max((depth.get(i.owner, 0) for i in node.inputs), default=0)
    return max(depth.values())


def mlp(layers=50, width=4, seed=0):
    """A deep tanh MLP (T.dot/T.tanh/softmax), its cost and the gradients."""
    rng = np.random.default_rng(seed)
    x, y = T.dmatrix("x"), T.lvector("y")
    h, params = x, []
    for k in range(layers):
        W = ag.shared(rng.normal(0, 0.6, (width, width)), name=f"W{k}")
        b = ag.shared(np.zeros(width), name=f"b{k}")
        params += [W, b]
        h = T.tanh(T.dot(h, W) + b)
    p = T.nnet.softmax(h)
    cost = -T.mean(T.log(p)[T.arange(y.shape[0]), y])
    return x, y, params, cost, ag.grad(cost, params)


XV = np.array([-1.0, 0.0, 0.5])


# ------------------------------------------------------------ identity and sharing

@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_later_objects_reuse_earlier_ones(protocol):
    x = T.dvector("x")
    shared_sub = T.exp(x)
    y = shared_sub + 1
    z = T.tanh(y) * shared_sub
    ly, lz, lx = roundtrip([y, z, x], protocol)
    assert lz.owner.inputs[0].owner.inputs[0] is ly  # z's graph holds the loaded y itself
    assert lz.owner.inputs[1] is ly.owner.inputs[0]  # exp(x) is still one node
    assert len(toposort([ly, lz])) == len(toposort([y, z]))
    assert lx in graph_inputs([lz])
    assert lx.name == "x" and lx.type == x.type and lx.owner is None
    f = ag.function([lx], [ly, lz])
    assert_close(f(XV)[1], np.tanh(np.exp(XV) + 1) * np.exp(XV))


def test_roots_keep_identity_across_objects():
    w = ag.shared(np.arange(3.0), "w")
    c = T.constant(np.ones(3))
    x = T.dvector("x")
    a, b = x * w + c, (x - c) * w
    la, lb, lx, lw, lc = roundtrip([a, b, x, w, c])
    roots_a, roots_b = set(graph_inputs([la])), set(graph_inputs([lb]))
    assert {lx, lw, lc} <= roots_a and {lx, lw, lc} <= roots_b
    assert isinstance(lc, Constant) and lw.is_shared and lw is not w
    assert_close(lw.get_value(), np.arange(3.0))
    assert_close(ag.function([lx], la + lb)(np.ones(3)), np.arange(3.0) + 1)


def test_names_traces_and_variable_attributes_survive():
    x = T.dvector("x")
    y = T.exp(x)
    y.name = "ey"
    z = y * 2
    lz = roundtrip(z)
    ly = lz.owner.inputs[0]
    assert ly.name == "ey" and ly.id == y.id and ly.owner.trace == y.owner.trace
    assert ly.owner.outputs == [ly] and ly.index == 0 and ly.type == y.type
    assert type(ly) is type(y) and ly.owner.op == y.owner.op


# ------------------------------------------------------------ depth

@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_deep_chain_every_protocol(protocol):
    x, v = chain(3000)
    assert longest_path([v]) > sys.getrecursionlimit()
    lv, lx = roundtrip([v, x], protocol)
    assert [n.op for n in toposort([lv])] == [n.op for n in toposort([v])]
    assert lx in graph_inputs([lv])
    if protocol == pickle.DEFAULT_PROTOCOL:
        assert_close(ag.function([lx], lv)(XV), chain_value(3000, XV))


def test_deep_mlp_gradient_graph():
    x, y, params, cost, grads = mlp()
    assert longest_path([cost] + grads) > 200
    lx, ly, lparams, lcost, lgrads = roundtrip([x, y, params, cost, grads])
    assert len(toposort([lcost] + lgrads)) == len(toposort([cost] + grads))
    lroots = set(graph_inputs([lcost] + lgrads))
    assert set(lparams) <= lroots and lx in lroots and ly in lroots
    xv, yv = np.random.default_rng(1).normal(size=(3, 4)), np.array([0, 1, 3])
    want = ag.function([x, y], [cost] + grads)(xv, yv)
    got = ag.function([lx, ly], [lcost] + lgrads)(xv, yv)
    for a, b in zip(want, got):
        assert_close(b, a)


def test_many_entry_points_stay_linear():
    """Every intermediate of a deep chain, each pickled from outside: one walk each."""
    x = T.dvector("x")
    vs = [x]
    for _ in range(2000):
        vs.append(T.tanh(vs[-1]))
    one = len(pickle.dumps(vs[-1]))
    every = pickle.dumps(vs)
    assert len(every) < 1.5 * one
    loaded = pickle.loads(every)
    assert all(b.owner.inputs[0] is a for a, b in zip(loaded, loaded[1:]))


def _bytes_per_node(n):
    _, v = chain(n)
    return len(pickle.dumps(v)) / len(toposort([v]))


def test_size_is_linear_in_graph_size():
    per_node = [_bytes_per_node(n) for n in (1000, 2000, 4000)]
    assert max(per_node) < 1.2 * min(per_node), per_node
    assert max(per_node) < 400, per_node


# ------------------------------------------------------------ FunctionGraph and deepcopy

def test_deep_function_graph_and_rewiring_between_pickles():
    x, v = chain(1500)
    fg = FunctionGraph([x], [v])
    lfg = roundtrip(fg)
    assert len(lfg.nodes) == len(fg.nodes) and set(lfg.clients) >= set(lfg.inputs)
    assert lfg.nodes == set(toposort(lfg.outputs))
    assert_close(ag.function(lfg.inputs, lfg.outputs[0])(XV), chain_value(1500, XV))
    # replace mutates Apply.inputs in place: the next pickle must see the new wiring
    top = fg.outputs[0].owner
    fg.replace(top.inputs[0], fg.inputs[0] * 0.999)
    again = roundtrip(fg)
    assert len(again.nodes) == len(fg.nodes) == 2
    assert_close(ag.function(again.inputs, again.outputs[0])(XV), np.tanh(XV * 0.999))


def test_deepcopy_of_a_deep_graph():
    w = ag.shared(np.full(3, 0.5), "w")
    x, v = chain(1500)
    out = v * w
    lout, lx, lw = copy.deepcopy([out, x, w])
    assert lx is not x and lw is not w and lout.owner is not out.owner
    assert {lx, lw} <= set(graph_inputs([lout]))
    assert len(toposort([lout])) == len(toposort([out]))
    lw.set_value(np.ones(3))  # a deep copy owns its state
    assert_close(w.get_value(), np.full(3, 0.5))
    assert_close(ag.function([lx], lout)(XV), chain_value(1500, XV))  # w is ones in the copy


# ------------------------------------------------------------ the session never goes stale

def test_session_ends_with_its_pickle():
    x, v = chain(1500)
    first = pickle.dumps(v)
    assert pickling._local.session() is None
    assert pickle.dumps(v) == first  # nothing remembered from the first dump
    with pytest.raises((pickle.PicklingError, AttributeError, TypeError)):
        pickle.dumps([v, lambda: 0])  # a dump that fails midway
    assert len(pickle.dumps(v)) == len(first)
    lv, lx = roundtrip([v, x])
    assert_close(ag.function([lx], lv)(XV), chain_value(1500, XV))


def test_one_pickler_several_dumps_shares_its_memo():
    x, v = chain(1500)
    w = T.exp(v)
    buf = io.BytesIO()
    p = pickle.Pickler(buf, 4)
    p.dump(v)
    p.dump(w)  # same memo: w's ancestry is not written again
    second_end = buf.tell()
    p.clear_memo()
    p.dump(w)  # a fresh memo: written in full
    assert buf.tell() - second_end > 0.9 * second_end
    buf.seek(0)
    u = pickle.Unpickler(buf)
    lv, lw = u.load(), u.load()
    assert lw.owner.inputs[0] is lv
    lw2 = pickle.Unpickler(buf).load()  # a fresh memo needs a fresh reader
    assert lw2 is not lw and len(toposort([lw2])) == len(toposort([w]))


def test_an_open_pickler_does_not_mislead_other_pickles():
    """A Pickler kept open keeps its session alive; other dumps and deepcopies on the
    thread must still see deep graphs whole."""
    x, v = chain(1500)
    w = T.exp(v)
    p = pickle.Pickler(io.BytesIO(), 4)
    p.dump(v)  # v's nodes are met in p's session, which stays alive with p
    lw, lx = roundtrip([w, x])
    assert len(toposort([lw])) == len(toposort([w])) and lx in graph_inputs([lw])
    cw, cx = copy.deepcopy([w, x])
    assert len(toposort([cw])) == len(toposort([w])) and cx in graph_inputs([cw])
    p.dump(w)  # and p itself still works after the others took over the thread
    assert_close(ag.function([lx], lw)(XV), np.exp(chain_value(1500, XV)))


# ------------------------------------------------------------ functions: save, load, when code loads

def _trained_function():
    """A cpu function with a shared variable and an update: (function, input value)."""
    x = T.dvector("x")
    w = ag.shared(np.full(3, 0.1), name="w")
    f = ag.function([x], T.tanh(x * w).sum(), updates=[(w, w * 0.5 + 0.25)], backend="cpu")
    return f, np.array([0.1, 0.2, 0.3])


def _expected(xv, calls):
    """The outputs of ``calls`` calls of a fresh ``_trained_function``, and w after them."""
    w, outs = np.full(3, 0.1), []
    for _ in range(calls):
        outs.append(np.tanh(xv * w).sum())
        w = w * 0.5 + 0.25
    return outs, w


def _no_native_code(monkeypatch):
    """Make compiling, linking and reading the disk cache raise."""
    from arignote.compiler import cache, jit

    def refuse(*args, **kwargs):
        raise AssertionError("native code was compiled or loaded")

    for module, name in ((jit, "compile_object"), (jit, "link"), (jit, "_compiled"), (cache, "load")):
        monkeypatch.setattr(module, name, refuse)


@pytest.mark.parametrize("how", ["bytes", "path", "file"])
def test_save_and_load_round_trip(tmp_path, how):
    f, xv = _trained_function()
    f(xv)
    path = tmp_path / "f.pkl"
    ag.save(f, path)  # after one call
    source = {"bytes": path.read_bytes(), "path": str(path), "file": path.open("rb")}[how]
    g = ag.load(source)
    if how == "file":
        source.close()
    assert "program" in vars(g)  # compiled while loading, as pickle.load does
    outs, w = _expected(xv, 3)
    assert_close(g(xv), outs[1])
    assert_close(g(xv), outs[2])
    assert_close(g.shared[0].get_value(), w)
    assert_close(f.shared[0].get_value(), _expected(xv, 1)[1])  # the original is apart


def test_load_without_compiling_builds_on_first_call(monkeypatch):
    f, xv = _trained_function()
    blob = pickle.dumps(f)
    _no_native_code(monkeypatch)
    with pytest.raises(AssertionError, match="native code"):
        pickle.loads(blob)  # the check works: a plain load compiles
    g = ag.load(blob, compile=False)
    assert "program" not in vars(g)
    assert repr(g) and g.fgraph.outputs  # the graph is there to look at
    g2 = ag.load(pickle.dumps(g), compile=False)  # and re-saves without compiling
    monkeypatch.undo()
    outs, w = _expected(xv, 2)
    assert_close(g(xv), outs[0])  # the first call builds the program
    assert "program" in vars(g) and "_deferred" not in vars(g)
    assert_close(g(xv), outs[1])
    assert_close(g.shared[0].get_value(), w)
    assert_close(g2(xv), outs[0])
    assert_close(pickle.loads(pickle.dumps(g))(xv), _expected(xv, 3)[0][2])  # pickles as before


def test_a_failed_deferred_build_is_retried(monkeypatch):
    f, xv = _trained_function()
    g = ag.load(pickle.dumps(f), compile=False)
    _no_native_code(monkeypatch)
    with pytest.raises(AssertionError, match="native code"):
        g(xv)
    monkeypatch.undo()
    assert_close(g(xv), _expected(xv, 1)[0][0])
    assert_close(g.shared[0].get_value(), _expected(xv, 1)[1])  # the failed call wrote nothing


def test_missing_attributes_still_raise_attribute_error():
    f, _ = _trained_function()
    g = ag.load(pickle.dumps(f), compile=False)
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        _ = g.nothing
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        _ = f.nothing
