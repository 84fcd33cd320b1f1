"""Row kernels: several passes over the reduced axes per parallel point (softmax,
log-softmax, layer norm), lowered, rendered and run against the group's reference
``perform``; one exp per element; in-place soundness; chunking on the thread pool."""
import dataclasses
import re

import numpy as np
import pytest

import arignote as ag
import arignote.tensor as T
from arignote.compiler import kernel as K
from arignote.compiler.jit import optimized_ir
from arignote.compiler.launch import Launcher
from arignote.compiler.llvm import render
from arignote.compiler.lower import lower
from arignote.errors import ArignoteValueError
from arignote.ops.fused import Fused
from arignote.passes.expand import softmax_graph
from arignote.runtime.cpu import _run_chunks
from tests.compiler.conftest import check_launch, compile_group
from tests.util import assert_close, rand


def layer_norm(x, axis, keepdims=True):
    """mean, then the variance of x - mean, then the normalized value: three passes (the
    mean divides by a constant: T.mean's count is a kernel of its own)."""
    def back(v):
        return v if keepdims else v.dimshuffle(*["x" if d == axis else d - (d > axis)
                                                 for d in range(x.ndim)])
    mean = T.sum(x, axis=axis, keepdims=keepdims) * 0.25
    d = x - back(mean)
    var = T.sum(d * d, axis=axis, keepdims=keepdims) * 0.25
    return d / T.sqrt(back(var) + 1e-5)


ROWS = {
    "softmax": (lambda x, axis, keep: softmax_graph(x, axis), 3),
    "log_softmax": (lambda x, axis, keep: softmax_graph(x, axis, log=True), 3),
    "layer_norm": (layer_norm, 3),
    "centered": (lambda x, axis, keep: x - (T.sum(x, axis=axis, keepdims=True) if keep else
                                            T.sum(x, axis=axis).dimshuffle(
                                                *[("x" if d == axis else 0) for d in range(2)])), 2),
}
SHAPES = [(3, 7), (0, 5), (4, 0), (4, 1), (1, 1)]


def group(name, x, axis, keepdims=True):
    build, passes = ROWS[name]
    fused, launcher = compile_group([x], [build(x, axis, keepdims)])
    assert launcher.kernel.passes == passes
    return fused, launcher


def tolerance(dtype):
    return 2e-5 if dtype == "float32" else 1e-12


@pytest.mark.parametrize("name", sorted(ROWS))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("axis", [1, 0])
def test_row_kernels_match_the_reference(name, dtype, axis, rng):
    x = T.matrix("x", dtype=dtype)
    for keepdims in (True, False):
        fused, launcher = group(name, x, axis, keepdims)
        for shape in SHAPES:
            with np.errstate(all="ignore"):
                check_launch(fused, launcher, rand(shape, dtype, rng, -30, 30), rtol=tolerance(dtype))


def test_middle_axis_of_a_3d_space_and_views(rng):
    x = T.tensor3("x")
    fused, launcher = compile_group([x], [softmax_graph(x, 1), layer_norm(x, 1)])
    a = rand((3, 5, 4), rng=rng)
    for value in (a, a[:, ::-1], a.transpose(2, 1, 0)):
        check_launch(fused, launcher, value, rtol=1e-12)


def test_rows_of_infinities_and_nan():
    x = T.matrix("x")
    fused, launcher = compile_group([x], [softmax_graph(x, 1), softmax_graph(x, 1, log=True)])
    a = np.array([[np.inf, 1.0, -np.inf], [-np.inf] * 3, [np.nan, 0.0, 1.0], [1e308, -1e308, 0.0]])
    check_launch(fused, launcher, a)


def test_exp_is_computed_once_and_read_back_from_the_output():
    x = T.fmatrix("x")
    kernel = lower(Fused([x], [softmax_graph(x, 1)]))
    ops = [ins.op for ins in kernel.body if isinstance(ins, K.ScalarOp)]
    assert ops.count("exp") == 1
    out = len(kernel.params) - 1
    stores = [ins.level for ins in kernel.body if isinstance(ins, K.Store)]
    loads = [ins.level for ins in kernel.body if isinstance(ins, K.Load) and ins.param == out]
    assert stores == [3, 5] and loads == [5]  # stored in pass 1, rescaled in place in pass 2
    assert "passes: 3" in kernel.pretty() and "reads back out0" in kernel.pretty()
    ir = render(kernel)
    functions = ir.split("\ndefine ")  # the row-by-row body and the row tiles': once in each
    assert [f.count("call float @ag_exp_f32") for f in functions if ".body(" in f[:300] or
            ".rows(" in f[:300]] == [1, 1]
    assert "L1.head" in ir and "L1.p1.head" in ir and "L1.p2.head" in ir


def test_log_softmax_recomputes_the_cheap_shift_not_exp():
    x = T.matrix("x")
    kernel = lower(Fused([x], [softmax_graph(x, 1, log=True)]))
    ops = [ins.op for ins in kernel.body if isinstance(ins, K.ScalarOp)]
    assert ops.count("exp") == 1 and ops.count("log") == 1 and ops.count("sub") == 3
    assert not any(isinstance(ins, K.Load) and kernel.params[ins.param].role == "out"
                   for ins in kernel.body)  # the output is not itself an exp: nothing to read back


def test_every_pass_vectorizes():
    x = T.fmatrix("x")
    ir = optimized_ir(render(lower(Fused([x], [softmax_graph(x, 1)]))))
    assert re.search(r"maximum\.v\d+f32", ir)        # pass 0: the row maximum
    assert re.search(r"fadd reassoc[^\n]*<\d+ x float>", ir)  # pass 1: the sum of exps
    assert re.search(r"fdiv[^\n]*<\d+ x float>", ir)           # pass 2: the division
    assert "call float @ag_exp" not in ir and " @exp" not in ir  # exp inlined, no libm


def test_strict_max_over_empty_rows_raises():
    x = T.matrix("x")
    fused, launcher = compile_group([x], [x - T.max(x, axis=1, keepdims=True)])
    with pytest.raises(ArignoteValueError, match="maximum of nothing"):
        launcher(np.zeros((3, 0)))
    check_launch(fused, launcher, np.zeros((0, 3)))


def test_in_place_softmax_and_unsound_in_place_refused(rng):
    x = T.matrix("x")
    kernel = dataclasses.replace(lower(Fused([x], [softmax_graph(x, 1)])), inplace=((1, 0),))
    a = rand((5, 9), rng=rng)
    expected = np.exp(a - a.max(1, keepdims=True))
    expected /= expected.sum(1, keepdims=True)
    (got,) = Launcher(kernel)(a)
    assert got is a
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    # out0 = x * 2 is stored in pass 0, but pass 1 reads x again for out1
    kernel = lower(Fused([x], [x * 2, x / T.sum(x, axis=1, keepdims=True)]))
    with pytest.raises(ValueError, match="read at level 3, after the output is written at level 1"):
        dataclasses.replace(kernel, inplace=((1, 0),)).check_inplace()
    dataclasses.replace(kernel, inplace=((2, 0),)).check_inplace()  # the last pass's output is fine


def test_row_kernel_chunks_on_the_thread_pool_agree_bitwise(rng):
    x = T.fmatrix("x")
    fused, launcher = compile_group([x], [softmax_graph(x, 1), layer_norm(x, 1)])
    a = rand((300, 256), "float32", rng)
    whole = launcher(a)
    split = launcher(a, runner=_run_chunks)
    call = launcher.prepare([a])
    assert call.work == 3 * a.size  # three passes: the chunks are sized by work, passes included
    launcher.release(call)
    for w, s in zip(whole, split):
        np.testing.assert_array_equal(w, s)


@pytest.mark.parametrize("fusion", [True, False])
def test_softmax_regression_step_and_its_gradient(fusion, rng):
    """A W3-like training step: the forward log-softmax and the softmax gradient as row
    kernels, against the reference backend."""
    x, y = T.matrix("x"), T.ivector("y")
    w = T.matrix("w")
    p = T.nnet.softmax(T.dot(x, w))
    cost = -T.mean(T.nnet.log_softmax(T.dot(x, w))[T.arange(y.shape[0]), y])
    g = ag.grad(cost, w)
    outs = [p, cost, g]
    ref = ag.function([x, y, w], outs, backend="numpy")
    cpu = ag.function([x, y, w], outs, backend="cpu", fusion=fusion)
    vals = rand((8, 5), rng=rng), rng.integers(0, 3, 8).astype("int32"), rand((5, 3), rng=rng)
    for got, expected in zip(cpu(*vals), ref(*vals)):
        assert_close(got, expected)
    if fusion:
        passes = [lower(n.op).passes for n in cpu.fgraph.toposort() if isinstance(n.op, Fused)]
        assert max(passes) == 3
