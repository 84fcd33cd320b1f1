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


@pytest.mark.parametrize("name", ["W3", "W4", "W8", "W9", "W10"])
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
