"""Softmax (multinomial logistic) regression on scikit-learn's 8x8 digits.

The classic Theano tutorial: the data lives in shared variables, a compiled
function takes only a minibatch index, and ``givens`` slices the minibatch
out of the shared data inside the graph. Expect a test error below 5%.

    python examples/logistic_regression.py [--fast] [--epochs N] [--seed S]
"""
import numpy as np

import arignote as theano
import arignote.tensor as T
from arignote import updates
from _data import digits, printer, train_epochs, training_arguments


def main(epochs=60, seed=0, batch_size=32, learning_rate=0.5, verbose=True):
    """Train and evaluate; returns the per-epoch costs, the test error and the seconds spent."""
    train_x, train_y, test_x, test_y = digits(seed, dtype=theano.config.floatX)
    n_in, n_out = train_x.shape[1], 10
    # the whole data set as shared variables: functions slice it without copies in and out
    train_x, train_y = theano.shared(train_x, name="train_x"), theano.shared(train_y, name="train_y")
    test_x, test_y = theano.shared(test_x, name="test_x"), theano.shared(test_y, name="test_y")

    x = T.matrix("x")    # a minibatch of images, one per row
    y = T.lvector("y")   # their labels
    W = theano.shared(np.zeros((n_in, n_out), dtype=theano.config.floatX), name="W")
    b = theano.shared(np.zeros(n_out, dtype=theano.config.floatX), name="b")

    p_y_given_x = T.nnet.softmax(T.dot(x, W) + b)
    y_pred = T.argmax(p_y_given_x, axis=1)
    nll = -T.mean(T.log(p_y_given_x)[T.arange(y.shape[0]), y])
    errors = T.mean(T.neq(y_pred, y))

    i = T.lscalar("i")
    batch = slice(i * batch_size, (i + 1) * batch_size)
    train_model = theano.function(
        [i], nll,
        updates=updates.sgd(nll, [W, b], learning_rate),  # W <- W - lr * dnll/dW, and b alike
        givens={x: train_x[batch], y: train_y[batch]})
    test_model = theano.function([], errors, givens={x: test_x, y: test_y})

    n_batches = len(train_y.get_value(borrow=True)) // batch_size
    if verbose:
        print(f"softmax regression {n_in}-{n_out}: {n_batches} minibatches of {batch_size}, "
              f"{epochs} epochs")
    costs, seconds = train_epochs(train_model, n_batches, epochs, printer(verbose, every=10))
    test_error = float(test_model())
    if verbose:
        print(f"test error {100 * test_error:.2f}%, trained in {seconds:.2f} s")
    return {"costs": costs, "test_error": test_error, "seconds": seconds}


if __name__ == "__main__":
    args = training_arguments(__doc__.splitlines()[0], epochs=60, fast_epochs=5)
    main(epochs=args.epochs, seed=args.seed)
