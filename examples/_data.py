"""What the examples share: the digits data set, split once, the SGD epoch loop (with a
progress bar where tqdm is installed: ``pip install arignote[examples]``), the step loop
and minibatches of the recurrent examples, the command-line arguments of a training
script, and matplotlib set up to draw into files."""
import argparse
import time
from functools import lru_cache

import numpy as np

import arignote as theano
from arignote import init

try:
    from tqdm import tqdm
except ImportError:  # (the bar is a nicety: training runs the same without it)
    tqdm = None

SIDE = 8  # the digits are 8x8 images


@lru_cache(maxsize=None)
def _load():
    from sklearn.datasets import load_digits  # bundled with scikit-learn: no download

    digits = load_digits()
    return digits.data / 16.0, digits.target.astype("int64")


def digits(seed=0, test_fraction=0.2, dtype="float64"):
    """(train_x, train_y, test_x, test_y) of the 8x8 digits: 1797 images of 64
    pixels scaled to [0, 1], labels 0-9, shuffled and split by ``seed``."""
    x, y = _load()
    order = np.random.default_rng(seed).permutation(len(y))
    n_test = int(round(len(y) * test_fraction))
    test, train = order[:n_test], order[n_test:]
    return x[train].astype(dtype), y[train], x[test].astype(dtype), y[test]


def digits_as_images(seed=0, test_fraction=0.2, dtype="float64"):
    """:func:`digits` with the images as (n, 1, 8, 8): one channel, for convolutions."""
    train_x, train_y, test_x, test_y = digits(seed, test_fraction, dtype)
    return train_x.reshape(-1, 1, SIDE, SIDE), train_y, test_x.reshape(-1, 1, SIDE, SIDE), test_y


def train_epochs(train_batch, n_batches, epochs, log=None):
    """Call ``train_batch(i)`` for every minibatch ``i``, ``epochs`` times.

    Returns the mean cost of each epoch and the seconds spent training.
    ``log(epoch, cost)`` is called after each epoch when given.
    """
    costs, start = [], time.perf_counter()
    bar = None
    if log is not None and tqdm is not None and epochs:
        bar = tqdm(total=epochs * n_batches, unit="batch", desc="training", leave=False)
    try:
        for epoch in range(epochs):
            batch_costs = []
            for i in range(n_batches):
                batch_costs.append(train_batch(i))
                if bar is not None:
                    bar.update()
            cost = float(np.mean(batch_costs))
            costs.append(cost)
            if bar is not None:
                bar.set_postfix_str(f"epoch {epoch + 1}/{epochs}, cost {cost:.4f}")
            if log is not None:
                log(epoch, cost)
    finally:
        if bar is not None:
            bar.close()
    return costs, time.perf_counter() - start


def printer(verbose, every=1, unit="epoch"):
    """A ``log`` for :func:`train_epochs` printing the first and every ``every``-th epoch."""
    if not verbose:
        return None

    write = tqdm.write if tqdm is not None else print  # (above the bar, not through it)

    def log(epoch, cost):
        if epoch == 0 or (epoch + 1) % every == 0:
            write(f"  {unit} {epoch + 1:3d}  cost {cost:.4f}")
    return log


def positive_int(text):
    """An argparse type for counts (epochs, steps, lengths): a whole number of at least 1
    (0 epochs would train nothing and report the untrained model as a result)."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, got {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {n}")
    return n


def training_arguments(description, epochs, fast_epochs, extra=None):
    """The arguments of a training script (``--fast``, ``--epochs N`` with N >= 1, ``--seed``,
    and what ``extra(parser)`` adds) parsed; ``args.epochs`` is N if given, else
    ``fast_epochs`` with ``--fast``, else ``epochs``. Unknown arguments and N < 1 are errors
    (exit status 2, argparse's message)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--fast", action="store_true", help=f"{fast_epochs} epochs only")
    parser.add_argument("--epochs", type=positive_int, default=None,
                        help=f"epochs to train, at least 1 (default {epochs})")
    parser.add_argument("--seed", type=int, default=0)
    if extra is not None:
        extra(parser)
    args = parser.parse_args()
    if args.epochs is None:
        args.epochs = fast_epochs if args.fast else epochs
    return args


def pyplot():
    """``matplotlib.pyplot`` drawing to files (the Agg backend: no display needed), or
    None, and a message saying so, when matplotlib is not installed."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: nothing is drawn (pip install matplotlib)")
        return None
    return plt


def normal_weights(rng, shape, name):
    """A shared weight drawn from N(0, 1/fan-in) by ``rng`` (He's normal with gain 1):
    a unit's input keeps its scale."""
    return theano.shared(init.he_normal(shape, rng, gain=1.0), name=name)


def sequence_arguments(description, steps, fast_steps, length, fast_length):
    """The arguments of a recurrent example (``--fast``, ``--steps N``, ``--length L``, both
    at least 1, ``--seed``) parsed; ``args.steps`` and ``args.length`` are the values
    given, else the ``fast_`` ones with ``--fast``, else the defaults (an explicit value
    always wins: ``--steps 0`` is an error, never the default)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--fast", action="store_true",
                        help=f"{fast_steps} steps on sequences of {fast_length}")
    parser.add_argument("--steps", type=positive_int, default=None,
                        help=f"training steps, at least 1 (default {steps})")
    parser.add_argument("--length", type=positive_int, default=None,
                        help=f"symbols per sequence, at least 1 (default {length})")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.steps is None:
        args.steps = fast_steps if args.fast else steps
    if args.length is None:
        args.length = fast_length if args.fast else length
    return args


def minibatches(n, batch_size, seed=0):
    """Endless minibatches of indices into ``n`` examples: passes over them, each in a
    new random order (the examples left over at the end of a pass, fewer than a batch,
    sit that pass out)."""
    rng, order = np.random.default_rng(seed), []
    while True:
        if len(order) < batch_size:
            order = rng.permutation(n)
        batch, order = order[:batch_size], order[batch_size:]
        yield batch


def train_steps(step, steps, verbose=True, names=()):
    """Call ``step(k)`` for ``k`` in ``range(steps)``: it returns the cost, or the cost
    and the values named by ``names`` (a gradient norm, say). With ``verbose``, a
    :func:`progress` bar shows the mean cost of the last 10 steps and those values.
    Returns the cost of every step and the seconds spent."""
    costs, start = [], time.perf_counter()
    for k in range(steps):
        cost, *others = np.atleast_1d(step(k))
        costs.append(float(cost))
        if verbose and ((k + 1) % 10 == 0 or k + 1 == steps):
            text = "  ".join([f"cost {np.mean(costs[-10:]):.3f}"] +
                             [f"{name} {float(v):.2f}" for name, v in zip(names, others)])
            progress(k + 1, steps, text)
    return costs, time.perf_counter() - start


def progress(step, total, text="", width=30):
    """A plain-text progress bar, redrawn in place: ``[########......] 120/400  cost 0.41``.
    The line ends when ``step == total``."""
    done = width * step // total
    print(f"\r  [{'#' * done}{'.' * (width - done)}] {step:{len(str(total))}d}/{total}  {text}",
          end="\n" if step >= total else "", flush=True)
