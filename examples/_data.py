"""What the examples share: the digits data set, split once, the SGD epoch loop (with a
progress bar where tqdm is installed: ``pip install arignote[examples]``) and the
command-line arguments of a training script."""
import argparse
import time
from functools import lru_cache

import numpy as np

try:
    from tqdm import tqdm
except ImportError:  # (the bar is a nicety: training runs the same without it)
    tqdm = None


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


def progress(step, total, text="", width=30):
    """A plain-text progress bar, redrawn in place: ``[########......] 120/400  cost 0.41``.
    The line ends when ``step == total``."""
    done = width * step // total
    print(f"\r  [{'#' * done}{'.' * (width - done)}] {step:{len(str(total))}d}/{total}  {text}",
          end="\n" if step >= total else "", flush=True)
