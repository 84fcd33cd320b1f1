"""W9's two dropouts (benchmarks/dropout_w9.py) do the same thing: each element is
dropped with probability 1 - keep or scaled by 1 / keep, with a new mask per call."""

import numpy as np
import pytest

import arignote as ag
from tests.util import benchmark_module


@pytest.fixture(scope="module")
def dropout_w9():
    with benchmark_module("dropout_w9") as module:
        yield module


def test_numpy_and_arignote_dropouts_agree(dropout_w9):
    x = dropout_w9.problem(1 << 14)
    inputs, output = dropout_w9.graph()
    for step in (dropout_w9.numpy_step(), ag.function(inputs, output)):
        first, second = np.asarray(step(x)), np.asarray(step(x))
        assert first.dtype == np.float32 and not np.array_equal(first, second)  # fresh masks
        kept = first != 0
        assert abs(kept.mean() - dropout_w9.KEEP) < 0.02
        np.testing.assert_allclose(first[kept], x[kept] / np.float32(dropout_w9.KEEP), rtol=1e-6)
    assert dropout_w9.bytes_moved(10) == 80
