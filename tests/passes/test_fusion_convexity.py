"""Fusion never makes a cycle: every group is convex and no two groups feed each other
(issue 9: a Split read by a group through its second output closed Split -> Fused ->
Fused -> Split, and the next topological sort grew without end)."""
import numpy as np
import pytest

import arignote as ag
import arignote.tensor as T
from arignote.compiler.lower import kernel_axes
from arignote.config import SETTINGS
from arignote.errors import CycleError
from arignote.graph.fg import FunctionGraph
from arignote.ops.shape import Split
from arignote.passes.convexity import quotient_cycle
from arignote.passes.fusion import fuse
from arignote.passes.partition import Partitioner
from arignote.passes.rewriting import Stats
from arignote.runtime.backends import BACKENDS
from arignote.verify import verify_grad
from tests.passes.test_fusion import check, fused_nodes

#: (backend, fusion) for every backend that can run here: compiling ones fused and unfused
CONFIGS = [(b, f) for b in SETTINGS["backend"][2]
           if getattr(BACKENDS[b], "unavailable", lambda: None)() is None
           for f in ((True, False) if BACKENDS[b].compiles else (None,))]


# ------------------------------------------------------------ the check itself

def _diamond():
    """x -> a -> (b, c) -> d: the graph and its nodes, as the FunctionGraph holds them."""
    x = T.dvector("x")
    a = T.exp(x)
    b, c = T.sin(a), T.cos(a)
    fg = FunctionGraph([x], [b + c])
    (d,) = [o.owner for o in fg.outputs]
    b, c = (i.owner for i in d.inputs)
    return fg, b.inputs[0].owner, b, c, d


def test_quotient_cycle_on_a_diamond():
    fg, a, b, c, d = _diamond()
    order = fg.toposort()
    cases = {
        "a,d": ([[a, d]], True),                 # a -> b -> d leaves the group and comes back
        "a,b,d": ([[a, b, d]], True),            # a -> c -> d
        "all": ([[a, b, c, d]], False),
        "ab,cd": ([[a, b], [c, d]], False),      # ab -> cd only
        "b,c": ([[b, c]], False),                # siblings: nothing between them
        "a|d": ([[a], [d]], False),
    }
    for name, (groups, cyclic) in cases.items():
        cycle = quotient_cycle(order, [(g, set()) for g in groups])
        assert (cycle is not None) == cyclic, name
        if cyclic:  # the cycle goes through the bad group and a node left out
            assert ("g", 0) in cycle and any(u[0] == "n" and u[1] in (b, c) for u in cycle), name


def test_quotient_cycle_between_two_convex_groups():
    """Each group is convex on its own, yet they feed each other: a cycle too."""
    x, y = T.dvectors("x", "y")
    a, c = T.exp(x), T.cos(y)
    fg = FunctionGraph([x, y], [T.sin(a), c * 2])
    b, d = (o.owner for o in fg.outputs)
    a, c = b.inputs[0].owner, d.inputs[0].owner
    order = fg.toposort()
    assert quotient_cycle(order, [([a, d], set()), ([b], set()), ([c], set())]) is None
    assert quotient_cycle(order, [([a, d], set()), ([b, c], set())]) in ([("g", 0), ("g", 1)],
                                                                         [("g", 1), ("g", 0)])


def test_quotient_cycle_reads_a_copy_from_the_node_left_standing():
    """A copy is recomputed in its group, never its output: a reader elsewhere gets the
    value from the node left standing, so recomputing ``a`` with ``d`` makes no cycle."""
    fg, a, b, c, d = _diamond()
    order = fg.toposort()
    assert quotient_cycle(order, [([a, d], {a})]) is None
    assert quotient_cycle(order, [([a, b], {a}), ([a, c], {a}), ([d], set())]) is None
    assert quotient_cycle(order, [([a, d], set())]) is not None


def test_fusion_refuses_a_cyclic_partition_before_changing_anything(monkeypatch):
    fg, a, b, c, d = _diamond()
    fg.fusion, fg.kernel_axes = True, kernel_axes
    nodes = set(fg.nodes)
    monkeypatch.setattr(Partitioner, "partition", lambda self: [([a, d], set())])
    with pytest.raises(CycleError, match=r"kernel\{Elemwise\{exp\},Elemwise\{add\}\} -> Elemwise"):
        fuse(fg, Stats())
    assert fg.nodes == nodes


# ------------------------------------------------------------ the partitioner

X, Y = T.dmatrices("x", "y")
RNG = np.random.default_rng(9)
XV, YV = RNG.uniform(1, 2, (3, 4)), RNG.uniform(2, 3, (3, 5))


def _issue_graph():
    out = T.mod(T.sum(T.concatenate([X, Y], axis=1)), Y)
    return out, ag.grad(out.sum(), [X, Y])


def test_clients_of_a_node_are_the_readers_of_all_its_outputs():
    first, second = T.split(X, [1, 2], 2, axis=0)
    fg = FunctionGraph([X], [T.exp(first), T.tanh(second)])
    (split,) = [n for n in fg.toposort() if isinstance(n.op, Split)]
    readers = Partitioner(fg).clients(split)
    assert sorted(str(n.op) for n in readers) == ["Elemwise{exp}", "Elemwise{tanh}"]


def test_a_split_read_by_a_group_through_its_second_output_is_a_cut():
    """The issue's gradient: ``grad(x)`` and ``grad(y)`` come out of one Split of a value
    computed from the reduction the ``y`` kernel also computes; before, ``y``'s kernel
    swallowed the reduction and the graph looped."""
    _, grads = _issue_graph()
    fg = check([X, Y], grads, [XV, YV])
    order = fg.toposort()  # acyclic
    assert len(fused_nodes(fg)) >= 3 and any(isinstance(n.op, Split) for n in order)


@pytest.mark.parametrize("backend,fused", CONFIGS)
def test_issue_9_gradient_of_mod_of_concatenate_compiles_everywhere(backend, fused, monkeypatch):
    out, grads = _issue_graph()
    f = ag.function([X, Y], grads, backend=backend, fusion=fused)
    gx, gy = f(XV, YV)
    s = np.concatenate([XV, YV], axis=1).sum()
    np.testing.assert_allclose(gx, np.full(XV.shape, YV.size), rtol=0)
    np.testing.assert_allclose(gy, YV.size - np.floor_divide(s, YV), rtol=0)
    monkeypatch.setattr(ag.config, "backend", backend)
    if fused is not None:
        monkeypatch.setattr(ag.config, "fusion", fused)
    # finite differences: mod is smooth away from its jumps, and s / y is far from them here
    assert np.abs(s / YV - np.round(s / YV)).min() > 1e-3
    verify_grad(lambda x, y: T.mod(T.sum(T.concatenate([x, y], axis=1)), y), [XV, YV], rng=0)
