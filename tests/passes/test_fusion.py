"""Fusion: which groups form, where they are cut, and that fused graphs compute
what unfused graphs compute (through Fused.perform), with every group lowerable."""
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import arignote as ag
import arignote.tensor as T
from arignote.compiler import kernel as K
from arignote.compiler.lower import kernel_axes, lower
from arignote.graph.basic import ancestors
from arignote.graph.fg import FunctionGraph
from arignote.ops.blas import MatMul
from arignote.ops.fused import Fused
from arignote.ops.reduce import Reduce
from arignote.passes import fusion, optimize
from arignote.passes.fusion import fuse, fusible_kind
from arignote.passes.rewriting import Stats
from arignote.printing import debugprint
from arignote.runtime.program import Program
from tests.passes.test_mlp_graph import mlp_step

SPLIT = "fusion: group split (not lowerable)"
RNG = np.random.default_rng(3)
X, Y = T.dmatrices("x", "y")
B = T.dvector("b")
XV, YV, BV = RNG.normal(size=(3, 4)), RNG.normal(size=(3, 4)), RNG.normal(size=4)


def compile_graph(inputs, outputs, fusion=True, mode="fast_run", lowers=kernel_axes):
    """``fg`` optimized for ``mode``, fused as for a backend whose ``kernel_axes`` is
    ``lowers`` (default: the kernel IR's, as for cpu)."""
    fg = FunctionGraph(inputs, outputs)
    if fusion != "absent":
        fg.fusion, fg.kernel_axes = fusion, lowers  # (as function() sets them)
    return fg, optimize(fg, mode)


def fused_nodes(fg):
    return [n for n in fg.toposort() if isinstance(n.op, Fused)]


def run(fg, values):
    shared = [v for v in fg.roots() if getattr(v, "is_shared", False)]
    return Program(fg, list(fg.inputs) + shared).run(list(values) + [s.get_value() for s in shared])


def check(inputs, outputs, values, rtol=1e-12):
    """Fuse, compare with the unfused graph, lower every group; returns the fused graph."""
    fg, stats = compile_graph(inputs, outputs)
    ref, _ = compile_graph(inputs, outputs, fusion="absent")
    assert stats.fired[SPLIT] == 0, "a group had to be split"
    for n in fused_nodes(fg):
        lower(n.op)
    with np.errstate(all="ignore"):
        got, expected = run(fg, values), run(ref, values)
    for a, e in zip(got, expected):
        assert a.dtype == e.dtype and a.shape == e.shape
        np.testing.assert_allclose(a, e, rtol=rtol, atol=rtol, equal_nan=True)
    return fg


def inner_ops(node):
    return [getattr(n.op, "scalar_op", None) and n.op.scalar_op.name or type(n.op).__name__
            for n in node.op.nodes]


# ------------------------------------------------------------ groups


def test_elementwise_chain_is_one_group():
    out = T.tanh(X * Y + 1) * T.exp(-abs(Y)) + B
    fg = check([X, Y, B], [out], [XV, YV, BV])
    (node,) = fused_nodes(fg)
    assert len(fg.nodes) == 1 and len(node.op.nodes) >= 7
    assert "DimShuffle" in inner_ops(node)  # the broadcast row is index arithmetic


def test_prologue_reduction_epilogue_is_one_group():
    out = T.sqrt(T.sum(T.sqr(X - Y), axis=1) + 1.0) * B[:3]
    fg = check([X, Y, B], [out], [XV, YV, BV])
    node = next(n for n in fused_nodes(fg) if "Reduce" in inner_ops(n))
    assert inner_ops(node)[:3] == ["sub", "sqr", "Reduce"] and "sqrt" in inner_ops(node)


def kernel_ops(node):
    """The scalar ops of the node's kernel, one per instruction (recomputations show)."""
    return [ins.op for ins in lower(node.op).body if isinstance(ins, K.ScalarOp)]


@pytest.mark.parametrize("keepdims", [True, False])
def test_reduction_broadcast_back_is_one_row_kernel(keepdims):
    m = T.max(X, axis=1, keepdims=keepdims)
    out = X - (m if keepdims else m.dimshuffle(0, "x"))
    fg = check([X], [out], [XV])
    (node,) = fused_nodes(fg)
    assert len(fg.nodes) == 1 and lower(node.op).passes == 2


def test_softmax_by_hand_is_one_kernel_computing_exp_once():
    e = T.exp(X - T.max(X, axis=1, keepdims=True))
    fg = check([X], [e / T.sum(e, axis=1, keepdims=True)], [XV])
    (node,) = fused_nodes(fg)
    kernel = lower(node.op)
    assert kernel.passes == 3 and kernel_ops(node).count("exp") == 1
    # exp(x - max) is stored into the output in pass 1 and read back in pass 2
    (back,) = [ins for ins in kernel.body if isinstance(ins, K.Load)
               and kernel.params[ins.param].role == "out"]
    assert back.level == 5 and "reads back out0" in kernel.pretty()
    # (recognized as a softmax, which subtracts a non-finite max as 0: NumPy's exp(inf - inf))
    assert "Fused{Reduce,isfinite,switch,sub,exp,Reduce,true_div}" in debugprint(fg.outputs, file="str")


def test_layer_norm_and_softmax_gradient_are_row_kernels():
    mu = T.mean(X, axis=1, keepdims=True)
    d = X - mu
    ln = d / T.sqrt(T.mean(d * d, axis=1, keepdims=True) + 1e-5) * B + 1
    sm = T.nnet.softmax(Y)
    g = (X - T.sum(X * sm, axis=-1, keepdims=True)) * sm
    fg = check([X, Y, B], [ln], [XV, YV, BV])
    node = max(fused_nodes(fg), key=lambda n: len(n.op.nodes))  # (others count the row's size)
    assert lower(node.op).passes == 3 and inner_ops(node).count("Reduce") == 2
    fg, _ = compile_graph([X, sm], [g])
    (node,) = fused_nodes(fg)
    assert lower(node.op).passes == 2 and kernel_ops(node).count("mul") == 2


def test_reductions_over_other_axes_are_cut_and_passes_capped():
    cols = X - T.max(X, axis=0, keepdims=True)
    fg = check([X], [T.sum(cols, axis=1)], [XV])
    assert len(fused_nodes(fg)) == 2
    v = X
    for _ in range(6):  # each normalization reads its row mean back: one pass each
        v = v - T.sum(v, axis=1, keepdims=True) * 0.25
    fg = check([X], [v], [XV])
    kernels = [lower(n.op) for n in fused_nodes(fg)]
    assert len(kernels) == 2 and all(k.passes <= fusion.MAX_PASSES for k in kernels)


def test_row_reductions_read_by_a_column_sum_are_one_row_kernel():
    """The stable cross-entropy with integer labels and the column sum of its gradient (a
    bias's gradient): the row max, the log-sum-exp, the cost and the one-hot sum are each
    read by the column sum's kernel too, which the consumers-first walk cannot take them
    into; merged afterwards, they make one row kernel instead of four."""
    y = T.lvector("y")
    cost = -T.mean(T.nnet.logsoftmax(X)[T.arange(y.shape[0]), y])
    outputs = [cost, T.sum(ag.grad(cost, X), axis=0)]
    fg = check([X, y], outputs, [XV, np.array([1, 3, 0])])
    rows = [k for k in map(lower, (n.op for n in fused_nodes(fg))) if k.reduce_axes == (1,)]
    assert len(fused_nodes(fg)) == 3 and len(rows) == 1 and rows[0].passes == 3
    assert compile_graph([X, y], outputs)[1].fired["fusion: reduction kernels merged"] == 3


def test_row_reductions_are_not_merged_across_a_path_through_another_kernel():
    a = T.sum(X, axis=1, keepdims=True)
    through = T.sum(T.dot(X * a, Y.T), axis=1, keepdims=True)  # (a product: a cut)
    fg = check([X, Y], [T.sum(X * through, axis=1), a], [XV, YV])
    # (one kernel for a and the other for X * through would feed each other)
    assert [lower(n.op).reduce_axes for n in fused_nodes(fg)].count((1,)) == 3


def test_multi_output_group():
    h = T.tanh(X)
    fg = check([X], [h * 2, h + 1, T.sum(h, axis=0)], [XV])
    (node,) = fused_nodes(fg)
    assert len(node.outputs) == 3


def test_graph_outputs_become_group_outputs_or_cuts():
    e = T.exp(X)
    fg = check([X], [e, T.sum(e, axis=1)], [XV])  # a full-space output next to a reduction
    (node,) = fused_nodes(fg)
    assert len(node.outputs) == 2
    s = T.sum(X, axis=1, keepdims=True)
    fg = check([X], [s, X / s], [XV])  # the reduction is an output and is read back
    (node,) = fused_nodes(fg)
    assert len(node.outputs) == 2
    # a kept-space value no reduction computed cannot be stored by the reduction's kernel
    b2 = B[:3] * 2
    fg = check([X, B], [b2, T.sum(X, axis=1) + b2], [XV, BV])
    assert len(fused_nodes(fg)) == 2


def test_cheap_shared_value_is_recomputed():
    a = X * 2 + Y
    outs = [T.sum(a, axis=0), T.max(a, axis=1)]  # two kernels: other reduced axes
    fg, stats = compile_graph([X, Y], outs)
    assert stats.fired["fusion: recomputed"] >= 1
    fg = check([X, Y], outs, [XV, YV])
    groups = fused_nodes(fg)
    assert len(groups) == 2 and all("add" in inner_ops(n) for n in groups)
    # inside a row kernel a cheap value is recomputed in each pass that needs it
    fg = check([X, Y], [a - T.max(a, axis=1, keepdims=True)], [XV, YV])
    (node,) = fused_nodes(fg)
    assert kernel_ops(node).count("add") == 2
    assert all(i.owner is None or isinstance(i.owner.op, Fused) for n in groups for i in n.inputs)


def test_expensive_shared_value_is_stored_and_reductions_never_recomputed():
    e = T.exp(X)
    s = T.sum(e, axis=1, keepdims=True)
    fg = check([X], [e / s, s * 3], [XV])
    counts = Counter(op for n in fused_nodes(fg) for op in inner_ops(n))
    assert counts["exp"] == 1 and counts["Reduce"] == 1


def test_cut_at_matmul():
    out = T.tanh(T.dot(T.exp(X), Y.T) * 2)
    fg = check([X, Y], [out], [XV, YV])
    kinds = [type(n.op).__name__ for n in fg.toposort()]
    assert kinds.count("Fused") == 2 and any(isinstance(n.op, MatMul) for n in fg.toposort())
    assert not any(isinstance(n.op, MatMul) for g in fused_nodes(fg) for n in g.op.nodes)


def test_views_read_by_opaque_ops_stay_views():
    t = X.T
    fg = check([X, Y], [T.dot(t, Y), t * 2], [XV, YV])
    assert [type(n.op).__name__ for n in fg.toposort()].count("DimShuffle") == 1
    (node,) = fused_nodes(fg)
    assert inner_ops(node) == ["DimShuffle", "mul"]


def test_transpose_against_itself():
    sq = T.dmatrix("sq")
    fg = check([sq], [sq + sq.T, (sq * sq.T).sum(axis=0)], [RNG.normal(size=(3, 3))])
    assert [inner_ops(n) for n in fused_nodes(fg)] == [["DimShuffle", "add"],
                                                        ["DimShuffle", "mul", "Reduce"]]


def test_one_fused_per_node_with_max_group_1():
    out = T.tanh(X * Y + 1).sum(axis=1) + B[:3]
    fg, _ = compile_graph([X, Y, B], [out])
    single, _ = compile_graph([X, Y, B], [out], fusion=False)
    ref, _ = compile_graph([X, Y, B], [out], fusion="absent")
    fusible = [n for n in ref.toposort() if fusible_kind(n) in ("elemwise", "reduce")]
    assert len(fused_nodes(single)) == len(fusible) and len(fused_nodes(fg)) == 1
    assert all(len(n.op.nodes) == 1 for n in fused_nodes(single))
    np.testing.assert_allclose(run(single, [XV, YV, BV])[0], run(ref, [XV, YV, BV])[0])


def test_max_group_bounds_groups():
    out = T.tanh(T.exp(X * Y + 1) - 2) * 3
    fg = FunctionGraph([X, Y], [out])
    made = fuse(fg, Stats(), max_group=2, kernel_axes=kernel_axes)
    assert all(len(n.op.nodes) <= 2 for n in made) and len(made) == 3


def test_flag_absent_leaves_graph_alone():
    fg, _ = compile_graph([X], [T.exp(X) + 1], fusion="absent")
    assert not fused_nodes(fg)
    fg, _ = compile_graph([X], [T.exp(X) + 1], fusion=None)
    assert not fused_nodes(fg)


def test_equal_groups_are_equal_ops():
    fg = check([X, Y], [T.tanh(X * 2) + 1, T.tanh(Y * 2) + 1], [XV, YV])
    a, b = fused_nodes(fg)
    assert a.op == b.op and hash(a.op) == hash(b.op) and a.inputs != b.inputs


def test_opaque_to_fusion():
    z = T.zvector("z")
    assert fusible_kind((z * 2).owner) is None
    assert fusible_kind(T.argmax(X, axis=1).owner) is None
    fg = check([X], [T.argmax(X * 2, axis=1) + 1], [XV])
    assert len(fused_nodes(fg)) == 2


@pytest.mark.parametrize("dtype", ["float32", "int32", "bool"])
def test_other_dtypes(dtype):
    a, b = T.matrix("a", dtype=dtype), T.matrix("b", dtype=dtype)
    if dtype == "bool":
        outs = [T.any(a & ~b, axis=0), T.all(a | b, axis=1), a ^ b]
        values = [XV > 0, YV > 0]
    else:
        outs = [T.max(a * b + a, axis=1) - 1, T.prod(abs(a) + 1, axis=0), a - b]
        values = [(XV * 3).astype(dtype), (YV * 3).astype(dtype)]
    fg = check([a, b], outs, values, rtol=1e-5)
    assert len(fused_nodes(fg)) == 3  # three index spaces


def test_scalars_and_empty_arrays():
    s = T.dscalar("s")
    fg = check([s, X], [T.exp(s) * 2 + s, X * T.exp(s)], [np.float64(0.5), np.zeros((0, 4))])
    assert fused_nodes(fg)


def test_group_that_does_not_lower_is_split():
    """The pass asks the backend (``kernel_axes``) and splits what it refuses."""
    def picky(f):  # a backend lowering single nodes only
        return None if len(f.nodes) > 1 else kernel_axes(f)

    out = T.exp(X * Y + 1).sum(axis=1) * 2
    fg, stats = compile_graph([X, Y], [out], lowers=picky)
    ref, _ = compile_graph([X, Y], [out], fusion="absent")
    assert stats.fired[SPLIT] == 1 and all(len(n.op.nodes) == 1 for n in fused_nodes(fg))
    np.testing.assert_allclose(run(fg, [XV, YV])[0], run(ref, [XV, YV])[0])


def test_long_graph_is_fused_without_recursion():
    v, outs = X, []
    for k in range(400):
        v = T.tanh(v * Y + k % 7)
        if k % 50 == 0:
            outs.append(T.dot(v, Y.T))
            v = v - T.max(v, axis=1, keepdims=True)
    fg = check([X, Y], outs + [v], [XV, YV])
    assert len(fused_nodes(fg)) < 60


# ------------------------------------------------------------ the MLP training step


def test_mlp_training_step_fuses_forward_and_backward():
    inputs, cost, updates, params = mlp_step()
    outputs = [cost] + [u for _, u in updates]
    xv, yv = RNG.normal(size=(4, 6)), RNG.integers(0, 3, 4)
    fg = check(inputs, outputs, [xv, yv])
    ref, _ = compile_graph(inputs, outputs, fusion="absent")
    single, _ = compile_graph(inputs, outputs, fusion=False)
    groups = fused_nodes(fg)
    # without fusion every fusible node (softmax expanded) is a kernel of its own
    assert all(len(n.op.nodes) == 1 for n in fused_nodes(single))
    assert not any(fusible_kind(n) in ("elemwise", "reduce") for n in single.toposort())
    n_fusible = len(fused_nodes(single))
    assert len(groups) * 2 < n_fusible and len(fg.nodes) * 3 < len(ref.nodes) * 2
    forward = set(ancestors([fg.outputs[0]]))
    backward = [n for n in groups if any(o not in forward for o in n.outputs)]
    assert len(backward) >= 4 and sum(len(n.op.nodes) > 1 for n in backward) >= 3
    # the log-softmax of the cost is one row kernel computing exp once
    (row,) = [n for n in groups if "log" in inner_ops(n)]
    assert lower(row.op).passes == 3 and kernel_ops(row).count("exp") == 1
    assert any(isinstance(m.op, Reduce) and len(n.outputs) > 1 for n in backward for m in n.op.nodes)


# ------------------------------------------------------------ random graphs

R, C = T.drow("r"), T.dcol("c")
LEAVES = [X, Y, R, C]
VALUES = [XV, YV, RNG.normal(size=(1, 4)), RNG.normal(size=(3, 1))]
UNARY = {
    "neg": lambda a: -a, "exp": lambda a: T.exp(T.clip(a, -4, 4)), "tanh": T.tanh, "abs": abs,
    "sqr": T.sqr, "cheap": lambda a: a * 2 + 1, "sigmoid": T.sigmoid,
    "f32": lambda a: T.cast(T.cast(a, "float32") * 2, "float64"),
    "transpose": lambda a: (a.T * 0.5).T,
    "sum_keep": lambda a: a - T.sum(a, axis=1, keepdims=True),
    "max_back": lambda a: a * T.max(a, axis=0).dimshuffle("x", 0),
    "mean_rows": lambda a: T.mean(a, axis=1, keepdims=True) + 1,
    "min_all": lambda a: T.min(a, axis=(0, 1), keepdims=True) * a,
    "any": lambda a: T.switch(T.any(a > 0.5, axis=1, keepdims=True), a, -a),
}
BINARY = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
          "max": T.maximum, "div": lambda a, b: a / (1 + T.sqr(b))}
REDUCE = {"sum0": lambda a: T.sum(a, axis=0), "max1": lambda a: T.max(a, axis=1),
          "prod1": lambda a: T.prod(T.tanh(a) + 1, axis=1), "none": lambda a: a}


@st.composite
def expressions(draw, depth=4):
    if depth == 0 or draw(st.integers(0, 4)) == 0:
        return draw(st.sampled_from(LEAVES))
    a = draw(expressions(depth - 1))
    if draw(st.booleans()):
        return UNARY[draw(st.sampled_from(sorted(UNARY)))](a)
    return BINARY[draw(st.sampled_from(sorted(BINARY)))](a, draw(expressions(depth - 1)))


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(expressions(), st.sampled_from(sorted(REDUCE))), min_size=1, max_size=3),
       st.booleans())
def test_random_graphs_fused_agree_with_unfused(exprs, rewrite_first):
    """Fused as built, or after the other fast_run rewrites; groups that do not lower
    are split (allowed here), but what is built always lowers and agrees."""
    outputs = [REDUCE[r](e) for e, r in exprs]
    if rewrite_first:
        fg, _ = compile_graph(LEAVES, outputs)
    else:
        fg = FunctionGraph(LEAVES, outputs)
        fuse(fg, Stats(), kernel_axes=kernel_axes)
    ref = FunctionGraph(LEAVES, outputs)
    for n in fused_nodes(fg):
        lower(n.op)
    with np.errstate(all="ignore"):
        for a, e in zip(run(fg, VALUES), run(ref, VALUES)):
            np.testing.assert_allclose(a, e, rtol=1e-12, atol=1e-12, equal_nan=True)


def test_a_scalar_is_recomputed_in_every_kernel_rather_than_ordering_them():
    """A mean's ``1 / n`` is read by the loss and by its gradient's kernels: copied into
    each (0-d, computed once per launch), so no gradient kernel waits for the loss."""
    import arignote as ag
    x, y = T.fmatrix("x"), T.ivector("y")
    W = ag.shared(np.zeros((4, 3), "float32"), "W")
    b = ag.shared(np.zeros(3, "float32"), "b")
    cost = -T.mean(T.nnet.log_softmax(T.dot(x, W) + b)[T.arange(y.shape[0]), y])
    gb = ag.grad(cost, b)
    f = ag.function([x, y], [cost, gb], backend="cpu", fusion=True)
    loss = f.fgraph.outputs[0].owner
    assert isinstance(loss.op, Fused)
    readers = {c for out in loss.outputs for c, _ in f.fgraph.clients.get(out, []) if c != "output"}
    assert not [c for c in readers if getattr(c, "op", None) is not None]
    xv = RNG.normal(size=(5, 4)).astype("float32")
    yv = np.array([0, 2, 1, 1, 0], "int32")
    want = ag.function([x, y], [cost, gb], backend="numpy")(xv, yv)
    for got, ref in zip(f(xv, yv), want):
        np.testing.assert_allclose(got, ref, rtol=1e-6)


def test_a_member_read_by_a_copy_of_another_kernel_is_an_output_in_one_partition():
    """The tied autoencoder's cross-entropy, in small: ``exp(x + b)`` (transcendental, never
    copied) joins the bigger kernel, while ``* y`` is copied into both reductions' kernels.
    The other kernel's copy reads it as an input: the kernel computing it outputs it, so
    one partition makes every kernel (none runs bare, none is computed twice)."""
    from arignote.passes.partition import Partitioner
    c = T.exp(X + B) * Y
    outputs = [T.tanh(c * Y + 1).sum(axis=1), c.sum(axis=0)]
    groups = Partitioner(FunctionGraph([X, Y, B], outputs)).partition()
    fg = FunctionGraph([X, Y, B], outputs)
    made = fuse(fg, Stats(), kernel_axes=kernel_axes)
    assert len(made) == len(groups) == 2
    assert not [n for n in fg.toposort() if fusible_kind(n) not in (None, "view")]
    assert sum(str(m.op) == "Elemwise{exp}" for n in made for m in n.op.nodes) == 1
    for n in made:
        lower(n.op)
    ref = FunctionGraph([X, Y, B], outputs)
    for a, e in zip(run(fg, [XV, YV, BV]), run(ref, [XV, YV, BV])):
        np.testing.assert_allclose(a, e, rtol=1e-12)
