"""The examples users start from: each trains briefly and its cost falls."""
import importlib
import os
import runpy
import sys

import numpy as np
import pytest

import arignote as theano

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")


NAMES = ("_data", "denoising_autoencoder", "lenet", "linear_regression", "logistic_regression", "lstm", "mlp",
         "mlp_modern", "quickstart", "rnn_tagger")


@pytest.fixture(scope="module")
def examples():
    """The example modules, imported the way `python examples/x.py` sees them."""
    sys.path.insert(0, EXAMPLES)
    try:
        yield {name: importlib.import_module(name) for name in NAMES}
    finally:
        sys.path.remove(EXAMPLES)
        for name in NAMES:
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


def test_lenet_learns_digits(examples):
    """Two conv + pool layers on the 8x8 digits; two epochs already beat chance (10%) by far.
    (Its default 20 epochs reach 98.9%: measured by running the script, see docs/examples.md.)"""
    result = examples["lenet"].main(epochs=2, verbose=False)
    _falls(result["costs"])
    assert result["test_accuracy"] > 0.8


def test_mlp_modern_trains_with_adam_and_sgd_and_draws_both(examples, tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "curves.png"
    result = examples["mlp_modern"].main(epochs=3, hidden=(32, 32), out=str(out), verbose=False)
    assert set(result["runs"]) == {"adam", "sgd"}
    for rule, run in result["runs"].items():
        _falls(run["costs"])
        assert len(run["test_errors"]) == 3  # one per epoch: the learning curve
        assert result["test_accuracy"][rule] == 1 - run["test_errors"][-1] > 0.8, rule
    assert result["runs"]["adam"]["costs"][-1] < result["runs"]["sgd"]["costs"][-1]
    assert result["curves"] == str(out) and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_mlp_modern_test_graph_uses_running_averages_without_dropout(examples):
    """Training moves the running averages (returned by batch_normalization_train, applied as
    updates); the test graph normalizes by them and drops nothing, so it is deterministic."""
    model = examples["mlp_modern"].build(hidden=(8,), p_drop=0.5, seed=0)
    x, y = model["x"], model["y"]
    (mean, new_mean), (var, new_var) = model["running_updates"]
    W = model["params"][0]
    data = np.random.default_rng(1).random((16, 64)).astype(theano.config.floatX)
    labels = np.arange(16) % 10
    step = theano.function([x, y], model["cost"], updates=model["running_updates"])
    errors = theano.function([x, y], model["errors"])
    before = errors(data, labels)
    assert errors(data, labels) == before  # no dropout at test time
    step(data, labels)
    z = data @ W.get_value()
    np.testing.assert_allclose(mean.get_value(), 0.1 * z.mean(axis=0), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(var.get_value(), 0.9 + 0.1 * z.var(axis=0, ddof=1), rtol=1e-4)
    # the test graph reads the running mean: raised far above every activation, it leaves
    # the ReLUs at 0, the output at its bias (zero: class 0 for all), and so errors on all but 0s
    mean.set_value(mean.get_value() + 100.0)
    assert errors(data, labels) == np.mean(labels != 0)


def test_minibatches_cover_each_pass_once(examples):
    batches = examples["_data"].minibatches(10, 3, seed=0)
    passes = [np.concatenate([next(batches) for _ in range(3)]) for _ in range(2)]
    for seen in passes:
        assert len(seen) == 9 and len(set(seen.tolist())) == 9  # one example sits the pass out
    assert passes[0].tolist() != passes[1].tolist()  # a new order each pass


def test_train_steps_reports_named_values(examples, capsys):
    costs, seconds = examples["_data"].train_steps(lambda k: (10.0 - k, 2.5), 10, names=("norm",))
    assert costs == [10.0 - k for k in range(10)] and seconds >= 0
    assert "10/10  cost 5.500  norm 2.50" in capsys.readouterr().out


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
    """Values given on the command line win over --fast's (they once lost when they were 0)."""
    monkeypatch.setattr(sys, "argv", [f"{name}.py", "--fast", "--steps", "20", "--length", "8"])
    runpy.run_path(os.path.join(EXAMPLES, f"{name}.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "[" + "#" * 30 + "] 20/20" in out
    assert "sequences of 8" in out and "20 steps of" in out
    assert "test accuracy" in out


@pytest.mark.parametrize("name, args, expected", [
    ("lenet", ["--epochs", "1"], "test accuracy"),
    ("mlp_modern", ["--epochs", "1", "--out", "{tmp}/c.png"], "learning curves: {tmp}/c.png")])
def test_new_examples_run_as_scripts(examples, monkeypatch, capsys, tmp_path, name, args, expected):
    if name == "mlp_modern":
        pytest.importorskip("matplotlib")
    monkeypatch.setattr(sys, "argv", [f"{name}.py", *(a.format(tmp=tmp_path) for a in args)])
    runpy.run_path(os.path.join(EXAMPLES, f"{name}.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "epoch   1  cost" in out and expected.format(tmp=tmp_path) in out


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


# Small settings of each training example: enough to compile and call every function it builds.
BRIEF = {"linear_regression": dict(epochs=1), "logistic_regression": dict(epochs=1),
         "mlp": dict(epochs=1), "denoising_autoencoder": dict(epochs=1, out=None),
         "lenet": dict(epochs=1), "mlp_modern": dict(epochs=1, hidden=(16, 16), out=None),
         "lstm": dict(steps=2, length=8), "rnn_tagger": dict(steps=2, length=8)}


@pytest.mark.parametrize("name", sorted(BRIEF))
def test_example_steps_leave_no_data_moving_perform(examples, monkeypatch, name):
    """On the fused cpu backend every function an example compiles -- its training step,
    its tests -- runs tensor work as kernels and library calls, never a reference ``perform``
    (host-side steps aside: views, shape integers, loop drivers)."""
    from arignote.runtime.profile import step_kinds, unexpected_performs
    compiled, function = [], theano.function

    def on_cpu(*args, **kwargs):
        f = function(*args, **{**kwargs, "backend": "cpu", "fusion": True})
        compiled.append(f)
        return f

    monkeypatch.setattr(theano, "function", on_cpu)
    examples[name].main(**BRIEF[name], verbose=False)
    assert compiled and any(runner == "kernel" for f in compiled for _, runner, _ in step_kinds(f))
    assert [p for f in compiled for p in unexpected_performs(f)] == []
