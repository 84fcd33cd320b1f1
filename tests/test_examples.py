"""The examples users start from: each trains briefly and its cost falls."""
import os
import runpy
import sys

import numpy as np
import pytest

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")


@pytest.fixture(scope="module")
def examples():
    """The example modules, imported the way `python examples/x.py` sees them."""
    sys.path.insert(0, EXAMPLES)
    try:
        import denoising_autoencoder
        import linear_regression
        import logistic_regression
        import lstm
        import mlp
        import quickstart
        import rnn_tagger
        yield {"denoising_autoencoder": denoising_autoencoder, "linear_regression": linear_regression,
               "logistic_regression": logistic_regression,
               "lstm": lstm, "mlp": mlp, "quickstart": quickstart, "rnn_tagger": rnn_tagger}
    finally:
        sys.path.remove(EXAMPLES)
        for name in ("denoising_autoencoder", "linear_regression", "logistic_regression", "lstm", "mlp",
                     "quickstart", "rnn_tagger", "_data"):
            sys.modules.pop(name, None)


def _falls(costs):
    assert all(np.isfinite(costs)), costs
    assert costs[-1] < 0.8 * costs[0], costs


def test_linear_regression_cost_falls(examples):
    result = examples["linear_regression"].main(epochs=30, verbose=False)
    _falls(result["costs"])
    assert set(result) >= {"costs", "w_error", "seconds"}


def test_logistic_regression_learns_digits(examples):
    result = examples["logistic_regression"].main(epochs=2, verbose=False)
    _falls(result["costs"])
    assert result["test_error"] < 0.2  # two epochs already beat guessing (90%) by far


def test_mlp_learns_digits_and_reports_graph_sizes(examples):
    result = examples["mlp"].main(epochs=2, n_hidden=32, verbose=False)
    _falls(result["costs"])
    assert result["test_error"] < 0.3
    nodes = result["nodes"]
    assert 0 < nodes["cost"] < nodes["with_gradients"]
    assert nodes["compiled_step"] > 0


def test_denoising_autoencoder_learns_to_reconstruct_digits(examples, tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "filters.png"
    result = examples["denoising_autoencoder"].main(epochs=3, n_hidden=16, out=str(out), verbose=False)
    costs = result["costs"]
    assert all(np.isfinite(costs)) and costs[-1] < costs[0], costs
    assert result["test_cost"] < 0.5 * result["test_cost_before"]  # clean reconstruction, unseen digits
    assert result["filters"] == str(out) and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_denoising_autoencoder_runs_as_a_script(examples, monkeypatch, capsys, tmp_path):
    out = tmp_path / "f.png"
    monkeypatch.setattr(sys, "argv", ["denoising_autoencoder.py", "--epochs", "2", "--out", str(out)])
    runpy.run_path(os.path.join(EXAMPLES, "denoising_autoencoder.py"), run_name="__main__")
    text = capsys.readouterr().out
    assert "epoch   2  cost" in text and "test reconstruction cost" in text and out.exists()


def test_denoising_autoencoder_without_matplotlib_says_so(examples, monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # (an import of it now fails)
    assert not examples["denoising_autoencoder"].save_filters(np.zeros((64, 4)), str(tmp_path / "f.png"))
    assert "matplotlib is not installed" in capsys.readouterr().out and not list(tmp_path.iterdir())


def test_lstm_task_needs_memory(examples):
    """Both markers once in every sequence, none in the second half: without memory, chance."""
    train_x, train_y, _, _ = examples["lstm"].temporal_order(length=12)
    symbols = train_x.argmax(axis=-1)  # (time, sequence)
    for marker in (examples["lstm"].X, examples["lstm"].Y):
        assert ((symbols == marker).sum(axis=0) == 1).all()
        assert not (symbols[6:] == marker).any()
    assert 0.4 < train_y.mean() < 0.6


def test_lstm_learns_which_marker_came_first(examples):
    result = examples["lstm"].main(steps=100, length=20, verbose=False)
    _falls(result["costs"])
    assert result["test_accuracy"] > 0.9  # chance: 0.5


def test_rnn_tagger_learns_to_count_brackets(examples):
    result = examples["rnn_tagger"].main(steps=300, length=20, verbose=False)
    _falls(result["costs"])
    assert result["memoryless_accuracy"] < 0.5
    assert result["test_accuracy"] > 0.9


def test_quickstart_snippets(examples, capsys):
    qs = examples["quickstart"]
    qs.add_scalars()
    qs.linear_regression_cost()
    out = capsys.readouterr().out
    assert "f(1.5, 2.5) = 4.0" in out
    assert "cost on random data" in out
    assert "[id A]" in out  # the debugprint tree


def test_fast_flag_runs_the_script(examples, monkeypatch, capsys):
    """`python examples/linear_regression.py --fast`, run in this process."""
    monkeypatch.setattr(sys, "argv", ["linear_regression.py", "--fast"])
    runpy.run_path(os.path.join(EXAMPLES, "linear_regression.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "step  20" in out


@pytest.mark.parametrize("name", ["lstm", "rnn_tagger"])
def test_recurrent_examples_run_as_scripts_with_a_progress_bar(examples, monkeypatch, capsys, name):
    monkeypatch.setattr(sys, "argv", [f"{name}.py", "--fast", "--steps", "20"])
    runpy.run_path(os.path.join(EXAMPLES, f"{name}.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "[" + "#" * 30 + "] 20/20" in out
    assert "test accuracy" in out


def test_readme_quick_start_runs(capsys):
    """The README's quick start is real code: run it as written."""
    readme = os.path.join(os.path.dirname(EXAMPLES), "README.md")
    with open(readme) as f:
        text = f.read()
    code = text.split("```python\n", 1)[1].split("```", 1)[0]
    exec(compile(code, "README.md", "exec"), {"__name__": "readme"})
    lines = capsys.readouterr().out.splitlines()
    costs = [float(line) for line in lines[:10]]
    assert costs[-1] < costs[0]
    assert "[id A]" in lines[10]  # then the graph of predict
