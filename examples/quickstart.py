"""Arignote in a minute (run by `make demo`): Theano's first snippets, then a real model.

1. Add two scalars with a compiled function.
2. Evaluate the linear-regression cost ((W.T . inputs - targets) ** 2).mean() on
   random data, check it against NumPy, and print its graph.
3. Train the tanh MLP of examples/mlp.py on the 8x8 digits for a few epochs and
   report its test error, the time it took and how the gradients grew the graph.
"""
import numpy as np

import arignote as theano
import arignote.tensor as T
from arignote.printing import debugprint
import mlp  # examples/mlp.py: a script's own directory is on sys.path
from _data import training_arguments


def add_scalars():
    a = T.dscalar("a")
    b = T.dscalar("b")
    f = theano.function([a, b], a + b)
    assert f(1.5, 2.5) == 4.0
    print(f"f = function([a, b], a + b);  f(1.5, 2.5) = {f(1.5, 2.5)}")


def linear_regression_cost(seed=0):
    rng = np.random.default_rng(seed)
    W = theano.shared(rng.normal(size=(5, 2)), name="W")
    inputs, targets = T.dmatrix("inputs"), T.dmatrix("targets")
    cost = ((T.dot(W.T, inputs) - targets) ** 2).mean()
    f = theano.function([inputs, targets], cost)
    data_in, data_out = rng.normal(size=(5, 100)), rng.normal(size=(2, 100))
    value = f(data_in, data_out)
    expected = ((W.get_value().T @ data_in - data_out) ** 2).mean()
    assert np.isclose(value, expected), (value, expected)
    print("\ncost = ((T.dot(W.T, inputs) - targets) ** 2).mean()")
    print(f"cost on random data: {value:.6f} (NumPy: {expected:.6f})")
    print("\ndebugprint(f): the compiled graph, after the rewrites")
    debugprint(f)


def train_mlp(epochs=10, seed=0):
    print(f"\nTraining the tanh MLP of examples/mlp.py for {epochs} epochs:")
    result = mlp.main(epochs=epochs, seed=seed, verbose=False)
    if not epochs:
        return result
    nodes = result["nodes"]
    print(f"  graph size: {nodes['cost']} nodes for the cost, {nodes['with_gradients']} with its "
          f"gradients, {nodes['compiled_step']} in the compiled training step (with updates)")
    print(f"  cost {result['costs'][0]:.4f} -> {result['costs'][-1]:.4f} in {result['seconds']:.2f} s; "
          f"test error {100 * result['test_error']:.2f}%")
    return result


if __name__ == "__main__":
    args = training_arguments(__doc__.splitlines()[0], epochs=10, fast_epochs=2)
    add_scalars()
    linear_regression_cost(args.seed)
    train_mlp(args.epochs, args.seed)
