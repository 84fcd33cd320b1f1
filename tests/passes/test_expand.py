"""Softmax expansion: on a compiling backend softmax and log_softmax become
elementwise ops and reductions that fuse into kernels, with the op's values
(rows of +-inf and nan, huge logits, empty inputs, integer inputs) and
gradients; on the reference backend the ops stay."""
import numpy as np
import pytest

import arignote as ag
import arignote.tensor as T
from arignote.compiler import kernel as K
from arignote.compiler.lower import lower
from arignote.ops.fused import Fused
from arignote.ops.nnet import LogSoftmax, Softmax
from arignote.passes import expand, fusion
from arignote.passes.rewriting import _GRAPH_PASSES
from tests.util import assert_close, rand

FUSION = [True, False]
OPS = (T.nnet.softmax, T.nnet.log_softmax)


def compile_both(inputs, outputs, fusion_flag):
    """The same graph on the reference and the cpu backend."""
    ref = ag.function(inputs, outputs, backend="numpy")
    cpu = ag.function(inputs, outputs, backend="cpu", fusion=fusion_flag)
    return ref, cpu


def check_same(ref, cpu, *values):
    with np.errstate(all="ignore"):
        expected, got = ref(*values), cpu(*values)
    for g, e in zip(got, expected):
        assert_close(g, e)


def kinds(f):
    return [type(n.op).__name__ for n in f.fgraph.toposort()]


def inner(node):
    return [getattr(getattr(m.op, "scalar_op", None), "name", type(m.op).__name__) for m in node.op.nodes]


# ------------------------------------------------------------ values

@pytest.mark.parametrize("fusion_flag", FUSION)
@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "int8"])
@pytest.mark.parametrize("axis", [-1, 0])
def test_values_match_reference_over_shapes(dtype, axis, fusion_flag):
    x = T.tensor(dtype, (None, None), name="x")
    ref, cpu = compile_both([x], [op(x, axis=axis) for op in OPS], fusion_flag)
    assert not any(isinstance(n.op, Softmax) for n in cpu.fgraph.toposort())
    for k, shape in enumerate([(0, 3), (3, 0), (1, 1), (4, 5)]):
        check_same(ref, cpu, rand(shape, dtype, np.random.default_rng(k), low=-3, high=3))


@pytest.mark.parametrize("op", OPS)
def test_static_shapes_and_middle_axis(op):
    for shape, axis in [((1, 1), -1), ((1, 1), 0), ((2, 3, 4), 1), ((5,), 0)]:
        x = T.tensor("float64", shape, name="x")
        ref, cpu = compile_both([x], op(x, axis=axis), True)
        assert cpu.fgraph.outputs[0].type == ref.fgraph.outputs[0].type
        check_same(ref, cpu, rand(shape, "float64"))


@pytest.mark.parametrize("fusion_flag", FUSION)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_rows_of_infinities_nan_and_huge_logits(dtype, fusion_flag):
    inf, nan = np.inf, np.nan
    xv = np.array([[-inf, -inf, -inf], [inf, 1.0, -inf], [inf, inf, 0.0], [nan, 1.0, 2.0],
                   [-inf, 0.0, 1.0], [1e4, -1e4, 9999.0], [-1e4, -1e4 + 1, -1e4 - 3],
                   [3e4, 0.0, 3e4]], dtype)
    x = T.tensor(dtype, (None, None), name="x")
    ref, cpu = compile_both([x], [op(x, axis=a) for op in OPS for a in (0, 1)], fusion_flag)
    check_same(ref, cpu, xv)
    with np.errstate(all="ignore"):
        sm, lsm = cpu(xv)[1::2]  # along rows
    assert np.isfinite(sm[5:]).all() and np.isfinite(lsm[5:]).all()  # no overflow at 1e4
    assert np.isnan(sm[[0, 3]]).all()  # a row of -inf, a row with nan


@pytest.mark.parametrize("fusion_flag", FUSION)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cross_entropy_and_its_gradient_match_reference(dtype, fusion_flag):
    rng = np.random.default_rng(5)
    x, dist, labels = T.tensor(dtype, (None, None), "x"), T.tensor(dtype, (None, None), "t"), T.lvector("y")
    hard = T.mean(T.nnet.softmax_cross_entropy_with_logits(x, labels))
    soft = T.sum(T.nnet.categorical_crossentropy(T.nnet.softmax(x), dist))
    outs = [hard, soft, *ag.grad(hard + soft, [x])]
    ref, cpu = compile_both([x, dist, labels], outs, fusion_flag)
    assert not any(isinstance(n.op, Softmax) for n in cpu.fgraph.toposort())
    for shape in [(1, 1), (4, 5), (3, 1)]:
        xv = (rng.normal(size=shape) * 3).astype(dtype)
        tv = rng.dirichlet(np.ones(shape[1]), shape[0]).astype(dtype)
        check_same(ref, cpu, xv, tv, rng.integers(0, shape[1], shape[0]))
    xv = np.array([[1e4, 0.0, -1e4], [-1e4, -1e4, -1e4]], dtype)  # huge logits: finite cost and gradient
    got = cpu(xv, np.full((2, 3), 1 / 3, dtype), np.array([2, 0]))
    assert all(np.isfinite(g).all() for g in got[::2])


def test_verify_grad_through_expanded_graph():
    """The expanded graph is also differentiable itself (a sanity check of the composition)."""
    for log in (False, True):
        for shape in [(1, 1), (3, 4)]:
            ag.verify_grad(lambda x, log=log: expand.softmax_graph(x, -1, log) * np.arange(
                shape[1]), [rand(shape, "float64")])


# ------------------------------------------------------------ graph

def test_reference_backend_keeps_the_ops():
    x = T.dmatrix("x")
    f = ag.function([x], [T.nnet.softmax(x), T.nnet.log_softmax(x, axis=0)], backend="numpy")
    assert kinds(f).count("Softmax") == 1 and kinds(f).count("LogSoftmax") == 1
    assert f.stats.fired["expand: softmax"] == 0


def kernel_ops(node):
    return [ins.op for ins in lower(node.op).body if isinstance(ins, K.ScalarOp)]


@pytest.mark.parametrize("axis", [-1, 0])
def test_softmax_is_one_row_kernel_computing_exp_once(axis):
    x = T.fmatrix("x")
    f = ag.function([x], T.nnet.softmax(x, axis=axis), backend="cpu", fusion=True)
    (node,) = f.fgraph.toposort()
    assert isinstance(node.op, Fused) and inner(node).count("Reduce") == 2
    kernel = lower(node.op)
    assert kernel.passes == 3 and kernel_ops(node).count("exp") == 1
    assert f.stats.fired["expand: softmax"] == 1
    check_same(ag.function([x], T.nnet.softmax(x, axis=axis), backend="numpy"), f,
               rand((5, 7), "float32"))


def test_log_softmax_is_one_row_kernel_and_unfused_is_one_per_node():
    x = T.fmatrix("x")
    f = ag.function([x], T.nnet.log_softmax(x), backend="cpu", fusion=True)
    (node,) = f.fgraph.toposort()
    assert lower(node.op).passes == 3 and "log" in inner(node)
    assert kernel_ops(node).count("exp") == 1 and kernel_ops(node).count("log") == 1
    g = ag.function([x], T.nnet.log_softmax(x), backend="cpu", fusion=False)
    assert all(len(n.op.nodes) == 1 for n in g.fgraph.toposort()) and len(g.fgraph.nodes) == 8


def test_softmax_and_log_softmax_of_one_input_share_max_exp_and_sum():
    x = T.dmatrix("x")
    f = ag.function([x], [T.nnet.softmax(x), T.nnet.log_softmax(x)], backend="cpu", fusion=False)
    ops = [str(m.op) for n in f.fgraph.toposort() for m in n.op.nodes]
    assert ops.count("Elemwise{exp}") == 1 and sum(o.startswith("Reduce") for o in ops) == 2
    assert not any(isinstance(n.op, (Softmax, LogSoftmax)) for n in f.fgraph.toposort())


def test_expansion_is_registered_before_fusion():
    names = [gp.name for gp in _GRAPH_PASSES["fuse"]]
    assert names.index(expand.expand_softmax.__name__) < names.index(fusion.fusion_pass.__name__)
