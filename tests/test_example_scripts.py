"""The example scripts' command lines: ``--epochs 0`` trains for zero epochs (it once
fell back to the default), negative counts and unknown arguments are errors."""
import os
import subprocess
import sys

import pytest

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")


def _run(*args):
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=EXAMPLES,
                          timeout=300)


def test_zero_epochs_train_nothing():
    done = _run("logistic_regression.py", "--epochs", "0")
    assert done.returncode == 0, done.stderr
    assert "0 epochs" in done.stdout and "epoch   1" not in done.stdout
    done = _run("linear_regression.py", "--epochs", "0")
    assert done.returncode == 0 and "0 steps" in done.stdout, done.stderr


@pytest.mark.parametrize("args, error", [(("quickstart.py", "--bogus"), "unrecognized arguments: --bogus"),
                                         (("mlp.py", "--epochs", "-2"), "must be >= 0, got -2")])
def test_bad_arguments_are_refused(args, error):
    done = _run(*args)
    assert done.returncode == 2 and error in done.stderr
