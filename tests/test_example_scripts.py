"""The example scripts' command lines (the rule of ``examples/_data.training_arguments``):
``--epochs N`` needs N >= 1 (``--epochs 0`` once fell back to the default and trained 40
epochs), and unknown arguments are errors, in every script that takes a command line; the
recurrent examples' ``--steps`` and ``--length`` alike (``_data.sequence_arguments``)."""
import os
import subprocess
import sys

import pytest

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")
SCRIPTS = ["quickstart.py", "linear_regression.py", "logistic_regression.py", "mlp.py", "lenet.py",
           "mlp_modern.py", "denoising_autoencoder.py"]


def _run(*args):
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=EXAMPLES,
                          timeout=300)


@pytest.mark.parametrize("script", SCRIPTS)
@pytest.mark.parametrize("args, error", [(("--bogus",), "unrecognized arguments: --bogus"),
                                         (("--epochs", "0"), "must be at least 1, got 0"),
                                         (("--epochs", "-2"), "must be at least 1, got -2"),
                                         (("--epochs", "two"), "must be a whole number")])
def test_bad_arguments_are_refused(script, args, error):
    done = _run(script, *args)
    assert done.returncode == 2 and error in done.stderr, done.stderr


@pytest.mark.parametrize("script", ["lstm.py", "rnn_tagger.py"])
@pytest.mark.parametrize("args, error", [(("--steps", "0"), "argument --steps: must be at least 1, got 0"),
                                         (("--fast", "--length", "0"),
                                          "argument --length: must be at least 1, got 0"),
                                         (("--steps", "many"), "must be a whole number"),
                                         (("--bogus",), "unrecognized arguments: --bogus")])
def test_recurrent_scripts_refuse_bad_counts(script, args, error):
    """``--steps 0`` / ``--length 0`` once became the default (``args.steps or 600``)."""
    done = _run(script, *args)
    assert done.returncode == 2 and error in done.stderr, done.stderr


def test_one_epoch_is_one_epoch():
    done = _run("linear_regression.py", "--epochs", "1")
    assert done.returncode == 0 and "1 steps" in done.stdout, done.stderr
