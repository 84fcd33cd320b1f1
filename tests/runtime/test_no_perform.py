"""On the cpu backend the benchmarks' training steps run as kernels and library calls:
no step that moves tensor data is left to a reference ``perform``."""
import sys
from pathlib import Path

import pytest

import arignote as ag
from arignote.runtime.profile import host_side, step_kinds, unexpected_performs

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
bench = pytest.importorskip("bench")

def _step(name):
    _, work = bench.workloads(quick=True)[name]
    run = work["build"](dict(backend="cpu", fusion=True))
    run()  # (builds the inner programs of loops)
    return run


@pytest.mark.parametrize("name", ["W3", "W3t", "W3h", "W4", "W8", "W9", "W10"])
def test_training_steps_leave_no_data_moving_perform(name):
    fn = _step(name).function
    assert any(runner == "kernel" for _, runner, _ in step_kinds(fn))
    assert unexpected_performs(fn) == []


def test_host_side_is_views_integers_and_drivers():
    import arignote.tensor as T
    x = T.fmatrix("x")
    f = ag.function([x], [x.T, x.shape, T.exp(x)[::2] * 2], backend="cpu")
    kinds = {type(node.op).__name__: host_side(node) for node, _, _ in step_kinds(f)}
    assert kinds.get("DimShuffle") is True and kinds.get("Fused") is False


def test_a_value_read_outside_the_groups_holding_it_is_a_kernel():
    """The binary cross-entropy of a tied autoencoder: ``softplus(z)`` is copied into the
    cost's kernel while the gradient's kernel reads it from outside; it still runs compiled."""
    import numpy as np
    import arignote.tensor as T
    rng = np.random.default_rng(0)
    x = T.dmatrix("x")
    W = ag.shared(rng.random((6, 4)), name="W")
    b, bp = ag.shared(np.zeros(4), name="b"), ag.shared(np.zeros(6), name="bp")
    r = T.nnet.sigmoid(T.dot(T.nnet.sigmoid(T.dot(x, W) + b), W.T) + bp)
    cost = T.mean(T.nnet.binary_crossentropy(r, x).sum(axis=1))
    params = [W, b, bp]
    updates = [(p, p - 0.1 * g) for p, g in zip(params, ag.grad(cost, params))]
    data = rng.random((5, 6))
    results = []
    for backend in ("numpy", "cpu"):
        for p, v in zip(params, (rng.random((6, 4)), np.zeros(4), np.zeros(6))):
            p.set_value(np.random.default_rng(1).random(v.shape))
        f = ag.function([x], cost, updates=updates, backend=backend,
                        fusion=True if backend == "cpu" else None)
        results.append([f(data)] + [p.get_value() for p in params])
        if backend == "cpu":
            assert unexpected_performs(f) == []
    for a, b_ in zip(*results):
        np.testing.assert_allclose(a, b_, rtol=1e-12)


def test_row_pick_of_labels_sliced_by_givens_is_a_mask():
    """``log(p)[arange(y.shape[0]), y]`` with ``y`` a slice of shared labels (the tutorials'
    minibatches): the length of ``arange`` is the slice's, written by shape inference, and
    ``y.shape[0]`` of the slice is a stack's entry; the pick still becomes a mask."""
    import numpy as np
    import arignote.tensor as T
    rng = np.random.default_rng(0)
    xs = ag.shared(rng.standard_normal((10, 4)), name="xs")
    ys = ag.shared(rng.integers(0, 3, 10), name="ys")
    i, x, y = T.lscalar("i"), T.dmatrix("x"), T.lvector("y")
    W = ag.shared(rng.standard_normal((4, 3)), name="W")
    logp = T.log(T.nnet.softmax(T.dot(x, W)))
    cost = -T.mean(logp[T.arange(y.shape[0]), y])
    givens = {x: xs[i * 4:(i + 1) * 4], y: ys[i * 4:(i + 1) * 4]}
    outs = []
    for backend in ("numpy", "cpu"):
        W.set_value(np.ones((4, 3)) * 0.1)
        f = ag.function([i], cost, updates=[(W, W - 0.5 * ag.grad(cost, W))], givens=givens,
                        backend=backend, fusion=True if backend == "cpu" else None)
        outs.append([f(k) for k in (0, 1, 2)] + [W.get_value()])
        if backend == "cpu":
            assert unexpected_performs(f) == []
            assert not any(type(n.op).__name__ == "AdvancedSubtensor" for n, _, _ in step_kinds(f))
    for a, b in zip(*outs):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_integers_read_from_float_data_are_not_host_side():
    """``argmax`` of a float matrix has an integer-vector output but passes over data: a
    ``perform`` there counts; the shape of a float matrix, and labels, stay host-side."""
    import arignote.tensor as T
    from arignote.ops.reduce import Reduce
    x, y = T.fmatrix("x"), T.ivector("y")
    f = ag.function([x, y], [T.argmax(x, axis=1), x.shape, y + 1], backend="numpy")
    kinds = {str(node.op): host_side(node) for node, _, _ in step_kinds(f)}
    assert [v for k, v in kinds.items() if "argmax" in k] == [False]
    assert kinds.get("Shape") is True
    arg = [node for node, _, _ in step_kinds(f) if isinstance(node.op, Reduce)]
    assert arg and unexpected_performs(f) == [(str(arg[0].op), "")]


def test_argmax_and_argmin_run_compiled_on_cpu():
    """NumPy's meaning: the first maximum (minimum), the first NaN where there is one, any
    axis or all of them, keepdims, strided inputs, integer and bool inputs."""
    import numpy as np
    import arignote.tensor as T
    rng = np.random.default_rng(0)
    for dtype in ("float32", "float64", "int8", "uint16", "int64", "bool"):
        x = T.tensor3("x", dtype=dtype)
        outs = [T.argmax(x, axis=a) for a in (0, 1, 2)] + [
            T.argmin(x, axis=1), T.argmax(x), T.argmin(x, axis=2, keepdims=True)]
        f = ag.function([x], outs, backend="cpu", fusion=True)
        assert unexpected_performs(f) == []
        v = (rng.standard_normal((5, 6, 7)) * 3).astype(dtype)
        if dtype.startswith("float"):
            v[1, 2, 3], v[2, :, 1], v[3, 4, :] = np.nan, np.nan, 2.0
        for vv in (v, v[:, ::2, ::-1].transpose(0, 2, 1)):
            want = [np.argmax(vv, axis=a) for a in (0, 1, 2)] + [
                np.argmin(vv, axis=1), np.argmax(vv), np.argmin(vv, axis=2, keepdims=True)]
            for got, ref in zip(f(vv), want):
                assert got.dtype == np.int64
                np.testing.assert_array_equal(got, ref)
