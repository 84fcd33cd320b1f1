"""The per-step profile of a compiled function."""
import numpy as np
import pytest

import arignote as ag
import arignote.tensor as T
from tests.util import assert_close


@pytest.mark.parametrize("backend", ["numpy", "cpu"])
def test_profile_times_every_step_and_runs_for_real(backend):
    x = T.dmatrix("x")
    w = ag.shared(np.ones((3, 2)), "w")
    f = ag.function([x], T.tanh(T.dot(x, w)).sum(), updates=[(w, w * 0.5)], backend=backend)
    p = ag.profile(f, np.ones((4, 3)), repeat=3)
    assert len(p.steps) == len(f.program.steps)
    assert all(s.seconds >= 0 for s in p.steps) and p.call_seconds > 0
    text = str(p)
    assert "MatMul" in text and "us per call" in text
    runners = {s.runner for s in p.steps}
    assert runners <= {"kernel", "library", "perform"}
    if backend == "cpu":
        assert "kernel" in runners and "library" in runners
    assert_close(w.get_value(), np.ones((3, 2)) * 0.5 ** 7)  # warm-up + 2 x 3 calls
