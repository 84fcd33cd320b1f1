"""``pool_after_elementwise``: a pool whose input an elementwise group computes becomes one
FusedPool node on the cpu backend with fusion on, whose step pools each chunk of images
right after the group's kernel wrote it. Both outputs (the group's and the pool's) must be
the reference backend's, for every pooling mode, geometry and dtype; elsewhere (fusion
off, other backends, groups that are not elementwise) the graph is left alone."""
import numpy as np
import pytest

import arignote as ag
import arignote.tensor as T
from arignote.ops.fused import FusedPool
from arignote.ops.pool import Pool, pool_forward
from arignote.runtime.profile import step_kinds
from arignote.tensor.signal.pool import pool_2d
from tests.util import assert_close


def _fused_pools(f):
    return [n for n in f.fgraph.toposort() if isinstance(n.op, FusedPool)]


def _pools(f):
    return [n for n in f.fgraph.toposort() if isinstance(n.op, Pool)]


def _layer(dtype="float32", ndim=4, **pool):
    """x, b -> [tanh(x + b) pooled, tanh(x + b)]: a convolution layer's epilogue and pool."""
    x = T.TensorType(dtype, (None,) * ndim)("x")
    b = T.vector("b", dtype=dtype)
    pattern = ("x",) * (ndim - 3) + (0, "x", "x")
    act = T.tanh(x + b.dimshuffle(*pattern))
    return [x, b], [pool_2d(act, **{"ws": (2, 2), **pool}), act]


def _runs_as(f):
    return [kind for node, kind, _ in step_kinds(f) if isinstance(node.op, FusedPool)]


def _values(shape, dtype, rng):
    x = rng.standard_normal(shape).astype(dtype)
    return x, rng.standard_normal(shape[-3]).astype(dtype)


def _check(inputs, outputs, values):
    f = ag.function(inputs, outputs, backend="cpu", fusion=True)
    ref = ag.function(inputs, outputs, backend="numpy")
    got, want = f(*values), ref(*values)
    for g, w in zip(got, want):
        assert g.shape == w.shape and g.dtype == w.dtype
        assert_close(g, w)
    return f, got, want


@pytest.mark.parametrize("pool", [
    {}, {"ws": (3, 2)}, {"ws": (2, 2), "stride": (1, 1)}, {"ws": (3, 3), "pad": (1, 1)},
    {"ignore_border": False}, {"mode": "sum"}, {"mode": "average_exc_pad", "pad": (1, 1)},
    {"mode": "average_inc_pad"}])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fused_pool_is_the_reference(pool, dtype, rng):
    inputs, outputs = _layer(dtype, **pool)
    f, got, want = _check(inputs, outputs, _values((5, 3, 9, 8), dtype, rng))
    assert len(_fused_pools(f)) == 1 and not _pools(f)
    # the pool of the activation it returns, bit for bit (the compiled max loop included)
    np.testing.assert_array_equal(got[0], pool_forward(_fused_pools(f)[0].op.pool, got[1]))
    assert _runs_as(f) == ["kernel"]  # (its own step, showing its kernel: not its inner graph)


@pytest.mark.parametrize("shape", [(0, 3, 8, 8), (1, 1, 1, 1), (2, 3, 1, 5), (64, 20, 24, 24)])
def test_fused_pool_shapes(shape, rng):
    inputs, outputs = _layer()
    f, got, _ = _check(inputs, outputs, _values(shape, "float32", rng))
    assert _fused_pools(f)


def test_fused_pool_of_five_axes_and_of_float16(rng):
    inputs, outputs = _layer(ndim=5)
    _check(inputs, outputs, _values((2, 3, 4, 6, 6), "float32", rng))
    inputs, outputs = _layer("float16")  # (no compiled loop: NumPy's pooling per chunk)
    f, _, _ = _check(inputs, outputs, _values((3, 2, 6, 6), "float16", rng))
    assert _fused_pools(f)


def test_a_training_step_keeps_the_activation_for_the_gradient(rng):
    x, w = T.tensor4("x"), ag.shared(rng.standard_normal((4, 2, 3, 3)) * 0.3, name="w")
    act = T.tanh(T.nnet.conv2d(x, w) + 0.5)
    cost = (pool_2d(act, (2, 2)) ** 2).sum()
    g = ag.grad(cost, w)
    xs = rng.standard_normal((3, 2, 10, 10))
    f = ag.function([x], [cost, g], backend="cpu", fusion=True)
    ref = ag.function([x], [cost, g], backend="numpy")
    assert _fused_pools(f)
    for got, want in zip(f(xs), ref(xs)):
        assert_close(got, want)


def test_left_alone_without_fusion_on_other_backends_and_after_other_groups(rng):
    inputs, outputs = _layer()
    values = _values((2, 3, 6, 6), "float32", rng)
    want = ag.function(inputs, outputs, backend="numpy")(*values)
    for options in ({"backend": "cpu", "fusion": False}, {"backend": "numpy"}, {"backend": "interp"}):
        f = ag.function(inputs, outputs, **options)
        assert not _fused_pools(f) and _pools(f), options
        for got, w in zip(f(*values), want):
            assert_close(got, w)
    x = T.tensor4("x", dtype="float32")  # a reduction in the group: not elementwise
    act = T.tanh(x - x.mean(axis=(2, 3), keepdims=True))
    f = ag.function([x], pool_2d(act, (2, 2)), backend="cpu", fusion=True)
    assert not _fused_pools(f)
    f = ag.function([x], pool_2d(x, (2, 2)), backend="cpu", fusion=True)  # no group at all
    assert not _fused_pools(f)


def test_an_error_of_the_group_names_the_users_line():
    x = T.tensor4("x", dtype="int64")
    d = T.lscalar("d")
    act = x ** d  # a negative integer power raises, in the kernel after its run
    f = ag.function([x, d], pool_2d(act, (2, 2)), backend="cpu", fusion=True)
    assert _fused_pools(f)
    np.testing.assert_array_equal(f(np.arange(16).reshape(1, 1, 4, 4), 1), [[[[5, 7], [13, 15]]]])
    with pytest.raises(ag.errors.ArignoteError, match="test_pool_fusion.py"):
        f(np.ones((1, 1, 4, 4), "int64"), -1)


def test_the_groups_kernel_is_shown_and_prefetched_and_a_pickled_function_runs(rng):
    import pickle

    from arignote.runtime.backends import get as get_backend
    inputs, outputs = _layer()
    f = ag.function(inputs, outputs, backend="cpu", fusion=True)
    (node,) = _fused_pools(f)
    kernel = get_backend("cpu").kernel(node)  # (what dumps show and prefetch compiles)
    assert kernel is not None and len([p for p in kernel.params if p.role == "out"]) == 1
    values = _values((2, 3, 6, 6), "float32", rng)
    again = pickle.loads(pickle.dumps(f))
    for got, want in zip(again(*values), f(*values)):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("backend", ["interp", "cuda-emulated", "numpy"])
def test_a_fused_pool_runs_its_inner_graph_on_the_other_backends(backend, rng):
    """Only the cpu backend has a step of its own for FusedPool; on the others (a graph
    optimized for the cpu, run elsewhere) the group's kernel and the pool run apart."""
    from arignote.runtime.backends import get
    from arignote.runtime.program import Program
    if backend == "cuda-emulated":
        pytest.importorskip("arignote.compiler.cuda_emulate").gxx() or pytest.skip("no g++")
    inputs, outputs = _layer("float64")
    f = ag.function(inputs, outputs, backend="cpu", fusion=True)
    assert _fused_pools(f)
    values = _values((2, 3, 6, 6), "float64", rng)
    program = Program(f.fgraph, f.fgraph.inputs, backend=get(backend))
    for got, want in zip(program.run(list(values)), f(*values)):
        assert_close(got, want)
