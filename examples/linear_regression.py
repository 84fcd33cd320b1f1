"""Linear regression by gradient descent: the slide's snippet, on random data.

    cost = ((T.dot(W.T, inputs) - targets) ** 2).mean()
    W -= 0.1 * theano.grad(cost, W)

Samples are columns (``inputs`` is n_in x n_samples), as on the slide. The
cost falls towards the noise level and W towards the weights that made the data.

    python examples/linear_regression.py [--fast] [--epochs N] [--seed S]
"""
import argparse
import time

import numpy as np

import arignote as theano
import arignote.tensor as T


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
    step = theano.function([inputs, targets], cost,
                           updates=[(W, W - learning_rate * theano.grad(cost, W))])
    costs, start = [], time.perf_counter()
    for epoch in range(epochs):
        costs.append(float(step(data_in, data_out)))
        if verbose and (epoch % 10 == 0 or epoch == epochs - 1):
            print(f"  step {epoch + 1:3d}  cost {costs[-1]:.5f}")
    seconds = time.perf_counter() - start
    w_error = float(np.abs(W.get_value() - true_W).max())
    if verbose:
        print(f"cost {costs[0]:.4f} -> {costs[-1]:.4f}; largest error in W {w_error:.4f}; "
              f"{epochs} steps in {seconds:.3f} s")
    return {"costs": costs, "w_error": w_error, "seconds": seconds}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="a few steps only")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    main(epochs=args.epochs or (20 if args.fast else 100), seed=args.seed)
