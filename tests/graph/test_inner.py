"""Ops with inner graphs (:class:`~arignote.ops.inner.InnerGraphOp`): value semantics
(equal inner graphs are equal ops and merge), clones that share nothing mutable,
pickling at any depth without compiled state, shapes, gradients, debugprint of
nested inner graphs, and inner graphs compiled with the outer backend and mode."""
import ast
import inspect
import pickle

import numpy as np
import pytest

import arignote
import arignote.tensor as T
from arignote.graph.basic import clone_graph
from arignote.graph.fg import FunctionGraph
from arignote.ops import fused as fused_module
from arignote.ops import inner as inner_module
from arignote.ops.fused import Fused
from arignote.ops.inner import InnerGraphOp
from arignote.passes.merge import merge
from arignote.passes.rewriting import Stats
from arignote.printing import debugprint
from tests.util import assert_close

BACKENDS = [("numpy", False), ("cpu", True), ("cpu", False)]


class Twice(InnerGraphOp):
    """Test-only: its inner graph applied twice, the second time to the first's
    outputs (a loop of two steps)."""

    def run_inner(self, inner, inputs):
        return inner(inner(list(inputs)))

    def inline(self, inputs):
        return super().inline(super().inline(inputs))

    def inner_shapes(self, input_shapes):
        return super().inner_shapes(super().inner_shapes(input_shapes))


def body(x):
    return T.tanh(x) * 2.0 + 1.0


def twice(fn=body, shape=(None, None)):
    x = T.tensor("float64", shape, "h")
    return Twice([x], [fn(x)])


def reference_twice(v):
    once = np.tanh(v) * 2.0 + 1.0
    return np.tanh(once) * 2.0 + 1.0


# ---------------------------------------------------------------- values

def test_equal_inner_graphs_make_equal_ops():
    a, b = twice(), twice()
    assert a is not b and a == b and hash(a) == hash(b)
    assert twice(lambda x: T.tanh(x) * 3.0 + 1.0) != a      # another constant
    assert twice(shape=(None,)) != a                         # another input type
    assert twice(lambda x: T.exp(x) * 2.0 + 1.0) != a       # another op
    x = T.dmatrix("x")
    assert Fused([x], [body(x)]) != Twice([x], [body(x)])    # another kind of inner-graph op


def test_merge_merges_nodes_of_equal_inner_graph_ops():
    x = T.dmatrix("x")
    y = twice()(x) + twice()(x)  # two op objects, equal values
    fg = FunctionGraph([x], [y])
    assert sum(isinstance(n.op, Twice) for n in fg.nodes) == 2
    stats = Stats()
    merge(fg, stats)
    assert sum(isinstance(n.op, Twice) for n in fg.nodes) == 1 and stats.fired["merge"] == 1
    f = arignote.function([x], y, backend="numpy")
    v = np.linspace(-1, 1, 6).reshape(2, 3)
    assert_close(f(v), 2 * reference_twice(v))


# ---------------------------------------------------------------- cloning

def test_clone_is_equal_and_shares_nothing_mutable():
    op = twice()
    op.perform(None, [np.ones((2, 2))])  # something derived, kept in op.cache
    new = op.clone()
    assert new == op and hash(new) == hash(op) and new.cache == {} and op.cache
    assert not set(new.nodes) & set(op.nodes) and not set(new.inputs) & set(op.inputs)
    assert not {v for n in new.nodes for v in n.outputs} & {v for n in op.nodes for v in n.outputs}


def test_rewriting_the_compiled_copy_leaves_the_op_alone():
    op = twice()
    key, nodes = op._key, list(op.nodes)
    fg = op.fgraph()
    fg.replace(fg.outputs[0], fg.inputs[0] * 5.0, reason="test")
    assert op._key == key and op.nodes == nodes and op.outputs[0].owner is nodes[-1]


def test_cloning_an_outer_graph_keeps_inner_graphs_intact():
    x = T.dmatrix("x")
    op = twice()
    key = op._key
    (out,), _ = clone_graph([op(x) * 3.0])
    node = out.owner.inputs[0].owner
    assert node.op == op and node.op._key == key and op._key == key


# ---------------------------------------------------------------- pickling

def test_pickle_round_trip_drops_compiled_state():
    op = twice()
    op.perform(None, [np.ones((2, 2))])
    x = T.dmatrix("x")
    fused = Fused([x], [body(x)])
    from arignote.compiler.lower import lower
    lower(fused)
    for original in (op, fused):
        assert original.cache
        back = pickle.loads(pickle.dumps(original))
        assert back == original and hash(back) == hash(original) and back.cache == {}
        assert type(back) is type(original) and len(back.nodes) == len(original.nodes)
    v = np.linspace(-1, 1, 4).reshape(2, 2)
    assert_close(pickle.loads(pickle.dumps(op)).perform(None, [v])[0], reference_twice(v))


def test_deep_inner_graph_pickles_without_recursion():
    def chain(x):
        for _ in range(3000):
            x = x * 1.0001 + 0.5
        return x

    op = twice(chain, shape=(None,))
    back = pickle.loads(pickle.dumps(op))
    assert back == op and len(back.nodes) == 6000


@pytest.mark.parametrize("backend,fusion", BACKENDS)
def test_pickled_function_with_an_inner_graph_op(backend, fusion):
    x = T.dmatrix("x")
    f = arignote.function([x], twice()(x) - x, backend=backend, fusion=fusion)
    g = pickle.loads(pickle.dumps(f))
    v = np.linspace(-1, 1, 6).reshape(2, 3)
    assert_close(g(v), reference_twice(v) - v)
    assert [p.backend.name for p in g.program.inner_programs] == [backend]


# ---------------------------------------------------------------- compiling

@pytest.mark.parametrize("backend,fusion", BACKENDS)
def test_inner_graph_is_compiled_with_the_outer_backend(backend, fusion):
    x = T.dmatrix("x")
    f = arignote.function([x], twice()(x) * 3.0, backend=backend, fusion=fusion)
    v = np.linspace(-2, 2, 12).reshape(3, 4)
    assert_close(f(v), 3.0 * reference_twice(v))
    (inner,) = f.program.inner_programs
    assert inner.backend is f.program.backend and inner.backend.name == backend
    kernels = [run for _, run, *_ in inner.steps if getattr(run, "kernel", None) is not None]
    # fused: the inner graph is one kernel; unfused: one per op; numpy: none
    assert len(kernels) == {"numpy": 0, True: 1, False: 3}[backend if backend == "numpy" else fusion]


@pytest.mark.parametrize("mode,rewritten", [("fast_run", True), ("fast_compile", False)])
def test_inner_graph_is_rewritten_in_the_outer_mode(mode, rewritten):
    x = T.dvector("x")
    f = arignote.function([x], twice(lambda h: T.log(1 + h * h), shape=(None,))(x),
                          backend="numpy", mode=mode)
    (inner,) = f.program.inner_programs
    names = [getattr(n.op, "scalar_op", None) for n in inner.nodes]
    assert (any(str(s) == "log1p" for s in names)) == rewritten
    v = np.array([0.0, 0.5, 2.0])
    assert_close(f(v), np.log1p(np.log1p(v * v) ** 2))


def test_nested_inner_graph_ops_compile_recursively_on_cpu():
    x = T.dmatrix("x")
    outer = twice(lambda h: twice()(h) - 1.0)
    f = arignote.function([x], outer(x), backend="cpu", fusion=True)
    (inner,) = f.program.inner_programs
    (innermost,) = inner.inner_programs
    assert innermost.backend.name == "cpu"
    v = np.linspace(-1, 1, 6).reshape(2, 3)
    step = lambda a: reference_twice(a) - 1.0  # noqa: E731
    assert_close(f(v), step(step(v)))


def test_a_fused_group_that_cannot_be_lowered_runs_as_a_cpu_program():
    """A Fused node with no kernel (here: a matrix product inside) runs its inner graph
    as a Program on the outer backend, whose own fusion makes kernels of the rest."""
    x, w = T.dmatrix("x"), T.dmatrix("w")
    a, b = T.dmatrix("a"), T.dmatrix("b")
    group = Fused([a, b], [T.tanh(T.dot(a, b)) + 1.0])
    f = arignote.function([x, w], group(x, w) * 2.0, backend="cpu", fusion=True)
    (inner,) = f.program.inner_programs
    assert inner.backend.name == "cpu"
    assert any(getattr(run, "kernel", None) is not None for _, run, *_ in inner.steps)
    v, m = np.linspace(-1, 1, 6).reshape(2, 3), np.linspace(0, 1, 12).reshape(3, 4)
    assert_close(f(v, m), (np.tanh(v @ m) + 1.0) * 2.0)


def test_perform_is_the_reference():
    op = twice()
    v = np.linspace(-1, 1, 6).reshape(2, 3)
    (out,) = op.perform(op(T.dmatrix()).owner, [v])
    assert_close(out, reference_twice(v))


# ---------------------------------------------------------------- shapes and gradients

def test_infer_shape_walks_the_inner_graph():
    x = T.dmatrix("x")
    op = twice(lambda h: T.sum(h, axis=1, keepdims=True) * h)
    f = arignote.function([x], op(x).shape, backend="numpy")
    assert list(f(np.ones((3, 5)))) == [3, 5]
    assert not any(isinstance(n.op, Twice) for n in f.fgraph.toposort())  # computed from x alone


@pytest.mark.parametrize("backend,fusion", BACKENDS)
def test_gradient_through_an_inner_graph_op(backend, fusion):
    x = T.dmatrix("x")
    g = arignote.grad(T.sum(twice()(x) ** 2), x)
    explicit = arignote.grad(T.sum(body(body(x)) ** 2), x)
    f = arignote.function([x], [g, explicit], backend=backend, fusion=fusion)
    got, want = f(np.linspace(-1, 1, 6).reshape(2, 3))
    assert_close(got, want)


# ---------------------------------------------------------------- printing

def test_debugprint_shows_nested_inner_graphs():
    x = T.dmatrix("x")
    outer = twice(lambda h: twice(lambda k: T.exp(k) * 2.0)(h) - 1.0)
    assert debugprint(outer(x), file="str", print_type=False) == """\
Twice{Twice,sub} [id A]
 |x [id B]

Inner graphs:

Twice{Twice,sub} [id A]
 >Elemwise{sub} [id C]
 > |Twice{exp,mul} [id D]
 > | |h [id E]
 > |TensorConstant{1.0} [id F]

Twice{exp,mul} [id D]
 >Elemwise{mul} [id G]
 > |Elemwise{exp} [id H]
 > | |h [id I]
 > |TensorConstant{2.0} [id J]
"""


# ---------------------------------------------------------------- layering

@pytest.mark.parametrize("module", [inner_module, fused_module])
def test_inner_graph_ops_import_no_higher_layer(module):
    tree = ast.parse(inspect.getsource(module))
    imported = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)] + \
        [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    higher = ("arignote.gradient", "arignote.passes", "arignote.compiler", "arignote.runtime",
              "arignote.tensor", "arignote.printing")
    assert not [m for m in imported if m.startswith(higher)]
