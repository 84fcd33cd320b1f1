"""An SGD step ``W - lr * A.T @ B`` on the cpu backend: one BLAS gemm (beta = 1) writing
into ``W``, with the reference's values, and nothing written by a call that fails."""
import numpy as np
import pytest

import arignote as ag
import arignote.tensor as T
from arignote.errors import ArignoteError
from arignote.ops.blas import Gemm
from arignote.runtime import blas
from tests.util import assert_close

pytestmark = pytest.mark.skipif(blas.gemm is None, reason="no OpenBLAS found in this NumPy")


def _step(backend, dtype, shape=(256, 128)):
    rng = np.random.default_rng(0)
    a, b = T.matrix("a", dtype=dtype), T.matrix("b", dtype=dtype)
    W = ag.shared(rng.standard_normal(shape).astype(dtype), "W")
    f = ag.function([a, b], [], updates=[(W, W - 0.1 * T.dot(a.T, b))], backend=backend)
    return f, W


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("rows", [5, 1, 0])
def test_sgd_step_is_one_gemm_in_place_with_the_reference_values(dtype, rows):
    f, W = _step("cpu", dtype)
    g, W_ref = _step("numpy", dtype)
    assert [type(n.op) for n in f.fgraph.toposort()].count(Gemm) == 1
    assert f.program.inplace_updates == 1
    rng = np.random.default_rng(1)
    storage = W.get_value(borrow=True)
    for _ in range(3):
        a = rng.standard_normal((rows, 256)).astype(dtype)
        b = np.asfortranarray(rng.standard_normal((rows, 128)).astype(dtype))  # (a transposed operand)
        f(a, b)
        g(a, b)
    assert W.get_value(borrow=True) is storage  # written over, not replaced
    assert_close(W.get_value(), W_ref.get_value())


def test_a_failing_gemm_names_the_shapes_and_writes_nothing():
    f, W = _step("cpu", "float64")
    before = W.get_value()
    with pytest.raises(ArignoteError, match="shape"):
        f(np.ones((2, 256)), np.ones((2, 127)))  # the product is 256x127, W is 256x128
    assert np.array_equal(W.get_value(), before)


def test_a_small_weight_keeps_the_fused_update():
    f, W = _step("cpu", "float32", shape=(6, 4))
    assert Gemm not in [type(n.op) for n in f.fgraph.toposort()]
    assert f.program.inplace_updates == 1


def test_momentum_keeps_its_fused_update_and_a_bias_row_stays_an_epilogue():
    x = T.dmatrix("x")
    W = ag.shared(np.ones((300, 200)), "W")
    v = ag.shared(np.zeros((300, 200)), "v")
    b = ag.shared(np.zeros(200), "b")
    v_new = 0.9 * v - 0.1 * T.dot(x.T, T.dot(x, W) + b)
    f = ag.function([x], [], updates=[(v, v_new), (W, W + v_new)], backend="cpu",
                    fusion=True)
    assert Gemm not in [type(n.op) for n in f.fgraph.toposort()]
    assert f.program.inplace_updates == 2
