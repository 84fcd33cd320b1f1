"""What the examples share: the digits data set, split once, and the SGD epoch loop."""
import time
from functools import lru_cache

import numpy as np


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
    for epoch in range(epochs):
        cost = float(np.mean([train_batch(i) for i in range(n_batches)]))
        costs.append(cost)
        if log is not None:
            log(epoch, cost)
    return costs, time.perf_counter() - start


def printer(verbose, every=1):
    """A ``log`` for :func:`train_epochs` printing the first and every ``every``-th epoch."""
    if not verbose:
        return None

    def log(epoch, cost):
        if epoch == 0 or (epoch + 1) % every == 0:
            print(f"  epoch {epoch + 1:3d}  cost {cost:.4f}")
    return log


def progress(step, total, text="", width=30):
    """A plain-text progress bar, redrawn in place: ``[########......] 120/400  cost 0.41``.
    The line ends when ``step == total``."""
    done = width * step // total
    print(f"\r  [{'#' * done}{'.' * (width - done)}] {step:{len(str(total))}d}/{total}  {text}",
          end="\n" if step >= total else "", flush=True)
