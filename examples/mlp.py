"""A tanh multilayer perceptron (64-100-10) on scikit-learn's 8x8 digits.

L2 weight decay, minibatch SGD with momentum (:func:`arignote.updates.momentum`),
the data in shared variables and the minibatch taken with ``givens``. Expect a
test error below 4%.

    python examples/mlp.py [--fast] [--epochs N] [--seed S]
"""
import numpy as np

import arignote as theano
import arignote.tensor as T
from arignote import updates
from arignote.graph.basic import toposort
from _data import digits, printer, train_epochs, training_arguments


def layer(rng, n_in, n_out, name):
    """Weights drawn uniformly in +-sqrt(6 / (n_in + n_out)) (Glorot, right for tanh); zero bias."""
    bound = np.sqrt(6.0 / (n_in + n_out))
    W = rng.uniform(-bound, bound, (n_in, n_out)).astype(theano.config.floatX)
    return (theano.shared(W, name=f"W_{name}"),
            theano.shared(np.zeros(n_out, dtype=theano.config.floatX), name=f"b_{name}"))


def build(n_in=64, n_hidden=100, n_out=10, l2=1e-4, seed=0):
    """The model's symbolic graph: inputs, parameters, cost (NLL + L2) and error rate."""
    rng = np.random.default_rng(seed)
    x, y = T.matrix("x"), T.lvector("y")
    W1, b1 = layer(rng, n_in, n_hidden, "hidden")
    W2, b2 = layer(rng, n_hidden, n_out, "out")
    hidden = T.tanh(T.dot(x, W1) + b1)
    p_y_given_x = T.nnet.softmax(T.dot(hidden, W2) + b2)
    nll = -T.mean(T.log(p_y_given_x)[T.arange(y.shape[0]), y])
    cost = nll + l2 * ((W1 ** 2).sum() + (W2 ** 2).sum())
    errors = T.mean(T.neq(T.argmax(p_y_given_x, axis=1), y))
    return {"x": x, "y": y, "params": [W1, b1, W2, b2], "cost": cost, "nll": nll, "errors": errors}


def count_nodes(*variables):
    """How many Apply nodes compute ``variables``: the size of their graph."""
    return len(toposort(list(variables)))


def main(epochs=40, seed=0, batch_size=32, learning_rate=0.05, momentum=0.9, l2=1e-4,
         n_hidden=100, verbose=True):
    """Train and evaluate; returns the per-epoch costs, the test error, the seconds spent
    and the graph sizes (cost alone, with gradients and updates, compiled)."""
    train_x, train_y, test_x, test_y = digits(seed, dtype=theano.config.floatX)
    train_x, train_y = theano.shared(train_x, name="train_x"), theano.shared(train_y, name="train_y")
    test_x, test_y = theano.shared(test_x, name="test_x"), theano.shared(test_y, name="test_y")

    model = build(n_in=64, n_hidden=n_hidden, n_out=10, l2=l2, seed=seed)
    x, y, cost = model["x"], model["y"], model["cost"]
    grads = theano.grad(cost, model["params"])
    step = updates.momentum(grads, model["params"], learning_rate, momentum)

    i = T.lscalar("i")
    batch = slice(i * batch_size, (i + 1) * batch_size)
    train_model = theano.function([i], model["nll"], updates=step,
                                  givens={x: train_x[batch], y: train_y[batch]})
    test_model = theano.function([], model["errors"], givens={x: test_x, y: test_y})
    nodes = {"cost": count_nodes(cost), "with_gradients": count_nodes(cost, *grads),
             "compiled_step": len(train_model.fgraph.toposort())}

    n_batches = len(train_y.get_value(borrow=True)) // batch_size
    if verbose:
        print(f"tanh MLP 64-{n_hidden}-10: {n_batches} minibatches of {batch_size}, {epochs} epochs; "
              f"graph: {nodes['cost']} nodes for the cost, {nodes['with_gradients']} with its "
              f"gradients, {nodes['compiled_step']} in the compiled training step")
    costs, seconds = train_epochs(train_model, n_batches, epochs, printer(verbose, every=10))
    test_error = float(test_model())
    if verbose:
        print(f"test error {100 * test_error:.2f}%, trained in {seconds:.2f} s")
    return {"costs": costs, "test_error": test_error, "seconds": seconds, "nodes": nodes}


if __name__ == "__main__":
    args = training_arguments(__doc__.splitlines()[0], epochs=40, fast_epochs=5)
    main(epochs=args.epochs, seed=args.seed)
