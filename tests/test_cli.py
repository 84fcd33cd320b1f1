"""``arignote dump SCRIPT``: runs a script and prints the functions it compiles; ``arignote
info``, ``cache`` and ``--version``."""
import os
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import arignote as ag
import arignote.tensor as T
from arignote.cli import main
from arignote.runtime.function import COMPILE_HOOKS


@pytest.fixture(autouse=True)
def _unfused_graphs(monkeypatch):
    """These tests read op names of compiled graphs: the numpy backend keeps them unfused."""
    monkeypatch.setattr(ag.config, "backend", "numpy")


REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SCRIPT = """
import sys
import numpy as np
import arignote as ag
import arignote.tensor as T

x = T.dvector("x")
w = ag.shared(np.ones(3), name="W")
y = (x * 1.0) * w
step = ag.function([x], T.log(1.0 + T.exp(y)), updates={w: w - 0.1 * x}, name="step")
double = ag.function([x], x + x)
print("script ran with", sys.argv[1:])
"""


@pytest.fixture
def script(tmp_path):
    path = tmp_path / "train.py"
    path.write_text(textwrap.dedent(SCRIPT))
    return str(path)


def _dot_graphs(text):
    """The digraphs of a ``--format dot`` output, checking every other line is a comment."""
    graphs, current = [], None
    for line in text.splitlines():
        if current is not None:
            current.append(line)
            if line == "}":
                graphs.append("\n".join(current))
                current = None
        elif line == "digraph arignote {":
            current = [line]
        else:
            assert line == "" or line.startswith("// "), line
    assert current is None
    return graphs


def test_dump_raw_text(script, capsys):
    assert main(["dump", script, "--stage", "raw", "--format", "text"]) == 0
    out = capsys.readouterr().out
    assert "=== function 'step' (raw) ===" in out
    assert "=== function #2 (compiled at train.py:11) (raw) ===" in out  # (unnamed: by its line)
    step = out.split("=== function #2")[0]
    # as the user wrote it: the multiplication by 1.0 and log(1 + exp) are still there
    assert "TensorConstant{1.0}" in step and "Elemwise{log}" in step and "Elemwise{exp}" in step
    assert "(update of W)" in step
    assert "compile report" not in out
    assert "script ran with []" in out


def test_dump_optimized_text_has_rewritten_graph_and_report(script, capsys):
    main(["dump", script])  # optimized text is the default
    out = capsys.readouterr().out
    step = out.split("=== function #2")[0]
    assert "=== function 'step' (optimized) ===" in step
    assert "Elemwise{softplus}" in step and "Elemwise{log}" not in step
    assert "compile report for function 'step'" in step and "rewrites fired" in step


@pytest.mark.parametrize("stage", ["raw", "optimized"])
def test_dump_dot_output_is_pure_dot(script, stage, capsys):
    main(["dump", script, "--stage", stage, "--format", "dot", "--", "--lr", "0.1"])
    captured = capsys.readouterr()
    graphs = _dot_graphs(captured.out)
    assert len(graphs) == 2
    assert 'graph [label="function \'step\'", labelloc=t];' in graphs[0]
    assert "style=dashed" in graphs[0] and "style=dashed" not in graphs[1]
    ops = re.findall(r'label="(\w+)", shape=box', graphs[0])
    assert ("softplus" in ops) == (stage == "optimized") and ("log" in ops) == (stage == "raw")
    assert f"// === function 'step' ({stage}) ===" in captured.out
    # the script's own prints go to stderr, so stdout can be piped to `dot`
    assert "script ran with ['--lr', '0.1']" in captured.err


def test_dump_restores_state_and_handles_failures(tmp_path, script, capsys):
    hooks, argv, path = list(COMPILE_HOOKS), list(sys.argv), list(sys.path)
    main(["dump", script, "--", "a"])
    assert COMPILE_HOOKS == hooks and sys.argv == argv and sys.path == path
    failing = tmp_path / "fails.py"
    failing.write_text("raise RuntimeError('boom')\n")
    with pytest.raises(RuntimeError, match="boom"):
        main(["dump", str(failing)])
    assert COMPILE_HOOKS == hooks and sys.argv == argv and sys.path == path
    empty = tmp_path / "empty.py"
    empty.write_text("import _cli_test_helper\nprint(_cli_test_helper.VALUE)\n")
    (tmp_path / "_cli_test_helper.py").write_text("VALUE = 42\n")  # the script's folder is importable
    try:
        main(["dump", str(empty)])
    finally:
        sys.modules.pop("_cli_test_helper", None)
    captured = capsys.readouterr()
    assert "42" in captured.out and "compiled no functions" in captured.err


def test_dump_bad_arguments(tmp_path, script, capsys):
    with pytest.raises(SystemExit) as info:
        main(["dump", str(tmp_path / "missing.py")])
    assert info.value.code == 2 and "no such script" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["dump", script, "--stage", "final"])
    assert "invalid choice" in capsys.readouterr().err


def test_dump_as_a_subprocess(script):
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    done = subprocess.run([sys.executable, "-m", "arignote.cli", "dump", script, "--format", "dot"],
                          capture_output=True, text=True, cwd=REPO, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    graphs = _dot_graphs(done.stdout)
    assert len(graphs) == 2 and "softplus" in graphs[0]
    assert "script ran with []" in done.stderr


KERNEL_SCRIPT = """
import numpy as np
import arignote as ag
import arignote.tensor as T

x, z = T.dvectors("x", "z")
w = ag.shared(np.ones(3), name="W")
fused = ag.function([x, z], T.tanh(x * w) + z, backend="cpu", fusion=True, name="fused")
unfused = ag.function([x, z], T.tanh(x * w) + z, backend="cpu", fusion=False, name="unfused")
m = T.dmatrix("m")
ref = ag.function([m], T.exp(T.dot(m, m.T)), updates={w: w * 2.0}, backend="numpy", name="ref")
print("outputs", fused(np.ones(3), np.ones(3)))
"""


@pytest.fixture
def kernel_dump(tmp_path, capsys):
    path = tmp_path / "kernels.py"
    path.write_text(textwrap.dedent(KERNEL_SCRIPT))
    assert main(["dump", "--format", "kernels", str(path)]) == 0
    out = capsys.readouterr().out
    sections = re.split(r"^=== ", out, flags=re.M)
    return {s.split("'")[1]: s for s in sections if s.startswith("function '")}


def _kernels(section):
    """(kernel IR, LLVM IR) of each kernel printed in a section."""
    blocks = re.split(r"^--- function .*$", section, flags=re.M)[1:]
    return [tuple(b.split("; --- LLVM IR of ")) for b in blocks]


def test_dump_kernels_of_a_cpu_function(kernel_dump):
    fused, unfused = kernel_dump["fused"], kernel_dump["unfused"]
    assert fused.startswith("function 'fused': 1 kernel in 1 steps ===") and "numpy" not in fused
    ((pretty, ir),) = _kernels(fused)
    assert "from: Fused{mul,tanh,add}(x, W, z) -> output 0" in pretty
    assert "built at: kernels.py:8" in pretty
    assert "index space: [parallel i0]" in pretty and "= tanh(%" in pretty
    name = re.search(r"kernel (\w+)\(", pretty).group(1)
    assert ir.startswith(f"{name} ---\n; arignote kernel {name}")
    assert f"define void @{name}(" in ir and "getelementptr inbounds" in ir
    # unfused: one kernel per op
    assert len(_kernels(unfused)) == 3 and unfused.count("define void @") == 3


def test_dump_kernels_of_a_numpy_function_shows_the_cpu_program(kernel_dump):
    ref = kernel_dump["ref"]
    assert "compiled for backend 'numpy', which runs no kernels: shown as backend 'cpu'" in ref
    # the matrix product is a library call, not a kernel
    assert re.search(r"^step \d+: MatMul\(.*\(no kernel", ref, flags=re.M)
    kernels = _kernels(ref)
    assert len(kernels) == 2 and all("define void @" in ir for _, ir in kernels)
    assert any("-> output 0" in p and "= exp(%" in p for p, _ in kernels)
    assert any("-> update of W" in p for p, _ in kernels)


def test_dump_kernels_refuses_the_raw_stage(script, capsys):
    with pytest.raises(SystemExit) as info:
        main(["dump", script, "--format", "kernels", "--stage", "raw"])
    assert info.value.code == 2 and "--stage raw does not apply" in capsys.readouterr().err


# ------------------------------------------------------------ info, cache, --version

def test_version(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.strip() == f"arignote {ag.__version__}"


def test_info_tells_what_the_machine_gives(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ARIGNOTE_CACHE_DIR", str(tmp_path / "cache"))
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    for key in ("arignote:", "Python:", "NumPy:", "llvmlite:", "LLVM:", "CPU:", "vector features:",
                "BLAS:", "config:", "cache:"):
        assert key in out, key
    assert str(tmp_path / "cache") in out and "0 kernels" in out
    assert re.search(r"^  numpy +ok ", out, re.M) and re.search(r"^  cpu +ok ", out, re.M)
    for name in ag.backends.available():  # (each one: working, or why not)
        assert re.search(rf"^  {re.escape(name)} +(ok|not usable: .+)", out, re.M), name


def test_info_reports_a_backend_that_fails(monkeypatch, capsys):
    from arignote import backends
    from arignote.runtime.backends import Backend

    class Broken(Backend):
        name = "broken"

        def step(self, node, allocs=None, inplace=None):
            raise RuntimeError("no such device\nsecond line")
    backends.register(Broken())
    try:
        assert main(["info"]) == 0
    finally:
        backends.unregister("broken")
    assert re.search(r"^  broken +not usable: .*no such device$", capsys.readouterr().out, re.M)


def test_cache_clear_removes_only_kernels(tmp_path, monkeypatch, capsys):
    root = tmp_path / "cache"
    monkeypatch.setenv("ARIGNOTE_CACHE_DIR", str(root))
    x = T.dvector("x")
    ag.function([x], T.exp(x) * 3.0 + 1.0, backend="cpu")(np.ones(2))
    (root / "notes.txt").write_text("mine")  # (a user's file in the directory stays)
    assert main(["cache"]) == 0
    shown = capsys.readouterr().out
    assert str(root) in shown and " 0 kernels" not in shown
    assert main(["cache", "clear"]) == 0
    assert "removed" in capsys.readouterr().out
    assert [p.name for p in root.rglob("*") if p.is_file()] == ["notes.txt"]
    assert main(["cache", "clear"]) == 0 and "removed 0 cached kernels" in capsys.readouterr().out
