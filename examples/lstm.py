"""An LSTM that learns which of two marked symbols came first in a noisy sequence.

Each sequence is ``length`` random symbols from a vocabulary of noise, with
the two markers X and Y planted once each in its first half. The label says
whether X came before Y. Both markers occur in every sequence and neither
near the end, so a model without memory (one that sees only the last steps,
or counts the symbols) is at chance, 50%: the LSTM must remember the first
marker it saw across the noise. Training is backpropagation through time
through ``scan``, with global-norm gradient clipping and Adam (both from
:mod:`arignote.updates`). On sequences of 50 the cost stays at chance's (0.69)
for some 150 steps, then falls: expect a test accuracy above 95% after a few
seconds.

    python examples/lstm.py [--fast] [--steps N] [--length L] [--seed S]
"""
import numpy as np

import arignote as theano
import arignote.tensor as T
from arignote import updates
from _data import minibatches, normal_weights, sequence_arguments, train_steps

N_NOISE = 6           # noise symbols 0-5, then the markers
X, Y = N_NOISE, N_NOISE + 1
N_SYMBOLS = N_NOISE + 2


def temporal_order(seed=0, n_train=2000, n_test=500, length=20, dtype="float64"):
    """(train_x, train_y, test_x, test_y): one-hot sequences, time first, of shape
    (length, n, N_SYMBOLS); label 0 when X comes before Y, 1 when Y comes first."""
    rng = np.random.default_rng(seed)
    n = n_train + n_test
    symbols = rng.integers(0, N_NOISE, (n, length))
    # two distinct positions in the first half: the earlier gets the first marker
    where = np.sort(np.argsort(rng.random((n, length // 2)), axis=1)[:, :2], axis=1)
    labels = rng.integers(0, 2, n)
    rows = np.arange(n)
    symbols[rows, where[:, 0]] = np.where(labels == 0, X, Y)
    symbols[rows, where[:, 1]] = np.where(labels == 0, Y, X)
    x = np.eye(N_SYMBOLS, dtype=dtype)[symbols].transpose(1, 0, 2)
    return x[:, :n_train], labels[:n_train], x[:, n_train:], labels[n_train:]


def build(n_in=N_SYMBOLS, n_hidden=32, n_out=2, seed=0):
    """The model's symbolic graph: inputs, parameters, cost and predicted labels.

    The four gates are computed by one product, side by side: ``[i, f, o, g]``.
    The forget gate's bias starts at 1, so the cell remembers from the start."""
    rng = np.random.default_rng(seed)
    x = T.tensor3("x")   # (time, batch, symbol)
    y = T.lvector("y")   # one label per sequence
    W = normal_weights(rng, (n_in, 4 * n_hidden), "W")
    U = normal_weights(rng, (n_hidden, 4 * n_hidden), "U")
    bias = np.zeros(4 * n_hidden, dtype=theano.config.floatX)
    bias[n_hidden:2 * n_hidden] = 1.0
    b = theano.shared(bias, name="b")
    V = normal_weights(rng, (n_hidden, n_out), "V")
    c_out = theano.shared(np.zeros(n_out, dtype=theano.config.floatX), name="c_out")

    def step(x_t, h, c):
        z = T.dot(x_t, W) + T.dot(h, U) + b
        i, f, o = (T.nnet.sigmoid(z[:, k * n_hidden:(k + 1) * n_hidden]) for k in range(3))
        g = T.tanh(z[:, 3 * n_hidden:])
        c = f * c + i * g
        return o * T.tanh(c), c

    h0 = T.zeros((x.shape[1], n_hidden))
    (h, _), _ = theano.scan(step, sequences=x, outputs_info=[h0, h0])
    log_p = T.nnet.log_softmax(T.dot(h[-1], V) + c_out)   # from the last state only
    nll = -T.mean(log_p[T.arange(y.shape[0]), y])
    return {"x": x, "y": y, "params": [W, U, b, V, c_out], "cost": nll,
            "predictions": T.argmax(log_p, axis=1)}


def main(steps=600, seed=0, batch_size=32, n_hidden=32, length=50, learning_rate=0.01,
         max_norm=1.0, verbose=True):
    """Train and evaluate; returns the cost of every step, the test accuracy and the seconds spent."""
    train_x, train_y, test_x, test_y = temporal_order(seed, length=length, dtype=theano.config.floatX)
    model = build(n_hidden=n_hidden, seed=seed)
    grads, norm = updates.total_norm_constraint(theano.grad(model["cost"], model["params"]), max_norm,
                                                return_norm=True)
    train = theano.function([model["x"], model["y"]], [model["cost"], norm],
                            updates=updates.adam(grads, model["params"], learning_rate))
    predict = theano.function([model["x"]], model["predictions"])

    if verbose:
        print(f"LSTM {N_SYMBOLS}-{n_hidden}-2 on sequences of {length}: {train_y.size} for training, "
              f"{steps} steps of {batch_size}; chance is 50%")
    batches = minibatches(train_y.size, batch_size, seed)

    def step(k):
        batch = next(batches)
        return train(train_x[:, batch], train_y[batch])

    costs, seconds = train_steps(step, steps, verbose, names=("gradient norm",))
    accuracy = float(np.mean(predict(test_x) == test_y))
    if verbose:
        print(f"test accuracy {100 * accuracy:.1f}%, trained in {seconds:.1f} s")
    return {"costs": costs, "test_accuracy": accuracy, "seconds": seconds}


if __name__ == "__main__":
    args = sequence_arguments(__doc__.splitlines()[0], steps=600, fast_steps=100, length=50, fast_length=20)
    main(steps=args.steps, length=args.length, seed=args.seed)
