"""Linear regression by gradient descent: the slide's snippet, on random data.

    cost = ((T.dot(W.T, inputs) - targets) ** 2).mean()
    W -= 0.1 * theano.grad(cost, W)

Samples are columns (``inputs`` is n_in x n_samples), as on the slide. The
cost falls towards the noise level and W towards the weights that made the data.
The update is :func:`arignote.updates.sgd`, that same rule.

    python examples/linear_regression.py [--fast] [--epochs N] [--seed S]
"""
import numpy as np

import arignote as theano
import arignote.tensor as T
from arignote import updates
from _data import printer, train_epochs, training_arguments


def make_data(seed=0, n_in=5, n_out=2, n_samples=200, noise=0.1):
    """Random inputs, the weights that generate the targets, and noisy targets."""
    rng = np.random.default_rng(seed)
    true_W = rng.normal(size=(n_in, n_out))
    inputs = rng.normal(size=(n_in, n_samples))
    targets = true_W.T @ inputs + noise * rng.normal(size=(n_out, n_samples))
    return inputs, targets, true_W


def build_cost(W):
    """The slide's cost as a graph of two new inputs: (inputs, targets, cost)."""
    inputs, targets = T.dmatrix("inputs"), T.dmatrix("targets")
    cost = ((T.dot(W.T, inputs) - targets) ** 2).mean()
    return inputs, targets, cost


def main(epochs=100, seed=0, learning_rate=0.1, verbose=True):
    """Full-batch gradient descent; returns the cost per epoch, the error of W and the seconds."""
    data_in, data_out, true_W = make_data(seed)
    W = theano.shared(np.zeros_like(true_W), name="W")
    inputs, targets, cost = build_cost(W)
    # updates.sgd is the slide's rule, W <- W - learning_rate * grad(cost, W)
    step = theano.function([inputs, targets], cost, updates=updates.sgd(cost, [W], learning_rate))
    # full batch: each "epoch" is one step over all the data
    costs, seconds = train_epochs(lambda _: step(data_in, data_out), 1, epochs,
                                  printer(verbose, every=10, unit="step"))
    w_error = float(np.abs(W.get_value() - true_W).max())
    if verbose:
        trend = f"cost {costs[0]:.4f} -> {costs[-1]:.4f}; " if costs else "no steps; "
        print(f"{trend}largest error in W {w_error:.4f}; {epochs} steps in {seconds:.3f} s")
    return {"costs": costs, "w_error": w_error, "seconds": seconds}


if __name__ == "__main__":
    args = training_arguments(__doc__.splitlines()[0], epochs=100, fast_epochs=20)
    main(epochs=args.epochs, seed=args.seed)
