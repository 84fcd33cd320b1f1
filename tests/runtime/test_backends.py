"""The backend contract (docs/design.md, "Backends"): backends registered through the
public API, third-party ones included, compile and run functions; the fusion pass
asks the backend which groups it lowers; unknown names are clear errors."""
import ast
import inspect
import pathlib
import re

import numpy as np
import pytest

import arignote as ag
import arignote.tensor as T
from arignote import backends
from arignote.config import SETTINGS
from arignote.errors import ArignoteTypeError, ArignoteValueError
from arignote.ops.blas import MatMul
from arignote.ops.fused import Fused
from arignote.ops.reduce import Reduce
from arignote.runtime import backends as contract

DESIGN = pathlib.Path(__file__).parents[2] / "docs" / "design.md"


@pytest.fixture
def example():
    """The example backends of docs/design.md, registered by running the page's code;
    unregistered afterwards."""
    text = DESIGN.read_text()
    section = text[text.index("## Backends: the contract"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    namespace = {}
    exec(compile(code, str(DESIGN), "exec"), namespace)
    yield namespace
    for name in ("counting", "no-reductions"):
        backends.unregister(name)


def test_the_built_in_backends_are_registered():
    assert backends.available()[:3] == ("numpy", "cpu", "interp")
    assert isinstance(backends.get("interp"), backends.KernelBackend)
    assert isinstance(backends.get("cpu"), backends.KernelBackend)
    assert not backends.get("numpy").compiles
    dot = T.dot(T.dmatrix(), T.dmatrix()).owner.op
    assert [backends.get(b).runs_natively(dot) for b in ("numpy", "cpu", "interp")] == [False, True, True]


def test_the_runtime_wires_in_no_backend_but_the_reference():
    """cpu and interp register themselves through the contract, like any other."""
    tree = ast.parse(inspect.getsource(contract))
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert not {"arignote.runtime.cpu", "arignote.runtime.interp"} & imported
    assert "interp" not in inspect.getsource(contract).replace("interpreter", "")


def test_unknown_backend_names_list_the_available_ones():
    x = T.dvector("x")
    listed = r"\('numpy', 'cpu', 'interp'"
    with pytest.raises(ArignoteValueError, match=r"backend must be one of " + listed):
        ag.function([x], x * 2, backend="cuda-someday")
    with pytest.raises(ArignoteValueError, match=r"config.backend .*must be one of " + listed):
        ag.config.backend = "cuda-someday"
    with pytest.raises(ArignoteValueError, match=r"no backend named 'cuda-someday'; available: numpy, "
                                                 r"cpu, interp"):
        backends.get("cuda-someday")


def test_register_checks_what_it_is_given():
    with pytest.raises(ArignoteTypeError, match="register\\(\\) takes a Backend.*got str"):
        backends.register("cpu")

    class Nameless(backends.Backend):
        pass

    with pytest.raises(ArignoteValueError, match="non-empty string, got None"):
        backends.register(Nameless())

    class Cpu(backends.Backend):
        name = "cpu"

    with pytest.raises(ArignoteValueError, match="'cpu' is already registered"):
        backends.register(Cpu())
    assert backends.get("cpu") is not None and not isinstance(backends.get("cpu"), Cpu)


def test_a_third_party_reference_backend_counts_its_steps(example, monkeypatch):
    counting = backends.get("counting")
    x, y = T.dmatrices("x", "y")
    out = T.tanh(x * y + 1).sum(axis=1)
    f = ag.function([x, y], out, backend="counting")
    ref = ag.function([x, y], out, backend="numpy")
    xv, yv = np.random.default_rng(0).normal(size=(2, 3, 4))
    np.testing.assert_array_equal(f(xv, yv), ref(xv, yv))
    assert counting.calls == len(f.program.steps) > 1  # one perform per node: nothing fused
    monkeypatch.setattr(ag.config, "backend", "counting")  # a registered name is a valid setting
    assert ag.function([x, y], out).program.backend is counting


def test_the_fusion_pass_asks_the_backend_which_groups_it_lowers(example):
    x, w = T.dmatrix("x"), T.dmatrix("w")
    out = T.exp(T.dot(x, w) * 2 + 1) / T.sum(T.exp(x), axis=1, keepdims=True)
    f = ag.function([x, w], out, backend="no-reductions")
    ref = ag.function([x, w], out, backend="numpy")
    assert fused_ops(f) and Reduce not in fused_ops(f)
    assert any(isinstance(n.op, Reduce) for n in f.fgraph.toposort())  # left to perform
    assert Reduce in fused_ops(ag.function([x, w], out, backend="cpu"))  # (where cpu fuses it)
    xv, wv = np.random.default_rng(1).normal(size=(2, 4, 4))
    np.testing.assert_allclose(f(xv, wv), ref(xv, wv), rtol=1e-14)
    kernels = [run.kernel for _, run, *_ in f.program.steps if getattr(run, "kernel", None) is not None]
    assert kernels and "load" in backends.get("no-reductions").render(kernels[0])


def fused_ops(f):
    """The classes of the ops inside ``f``'s Fused groups."""
    return {type(m.op) for n in f.fgraph.toposort() if isinstance(n.op, Fused) for m in n.op.nodes}


def test_steps_come_from_the_most_specific_op_class():
    """A backend derived from cpu overrides one op and keeps the others' steps."""
    seen = []

    class Logged(type(backends.get("cpu"))):
        name = "logged"

    @Logged.step_for(MatMul)
    def logged_matmul(backend, node, allocs, inplace):
        seen.append(node.op)
        return backends.get("numpy").step(node)

    backends.register(Logged())
    try:
        x, w = T.dmatrices("x", "w")
        f = ag.function([x, w], T.tanh(T.dot(x, w)), backend="logged")
        assert len(seen) == 1 and any(isinstance(run, backends.KernelStep) for _, run, *_ in f.program.steps)
        np.testing.assert_allclose(f(np.eye(2), np.ones((2, 2))), np.tanh(np.ones((2, 2))))
        assert backends.get("cpu")._maker(MatMul) is not logged_matmul  # cpu's table is its own
    finally:
        backends.unregister("logged")
    assert "logged" not in backends.available() and "logged" not in SETTINGS["backend"][2]
