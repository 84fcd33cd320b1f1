"""An Elman network tagging every symbol of a bracket sequence with its nesting depth.

The sequences mix ``(``, ``)`` and a filler symbol, never deeper than
``max_depth``; each symbol's tag is the depth after it, 0 to ``max_depth``.
The current symbol alone says little (after a ``)`` the depth can be anything
below the maximum): the network must count. The recurrent step returns its
state and, mapped over the steps, a softmax over the tags; the cost is their
mean negative log-likelihood over every step of every sequence. The example
prints the accuracy of the best tagger without memory (one that sees only the
current symbol) next to the network's: about 33% against above 99%.

    python examples/rnn_tagger.py [--fast] [--steps N] [--length L] [--seed S]
"""
import numpy as np

import arignote as theano
import arignote.tensor as T
from arignote import updates
from _data import minibatches, normal_weights, sequence_arguments, train_steps

OPEN, CLOSE, FILLER = 0, 1, 2
N_SYMBOLS = 3


def brackets(seed=0, n_train=2000, n_test=500, length=30, max_depth=4, dtype="float64"):
    """(train_x, train_y, test_x, test_y): one-hot symbols of shape (length, n, N_SYMBOLS),
    time first, and their depth tags of shape (length, n)."""
    rng = np.random.default_rng(seed)
    n = n_train + n_test
    symbols = np.empty((length, n), dtype="int64")
    depths = np.empty((length, n), dtype="int64")
    depth = np.zeros(n, dtype="int64")
    for t in range(length):  # a random walk on the depth, kept within [0, max_depth]
        s = rng.choice([OPEN, CLOSE, FILLER], size=n, p=[0.4, 0.4, 0.2])
        s[(s == CLOSE) & (depth == 0)] = OPEN
        s[(s == OPEN) & (depth == max_depth)] = CLOSE
        depth = depth + (s == OPEN) - (s == CLOSE)
        symbols[t], depths[t] = s, depth
    x = np.eye(N_SYMBOLS, dtype=dtype)[symbols]
    return x[:, :n_train], depths[:, :n_train], x[:, n_train:], depths[:, n_train:]


def memoryless_accuracy(train_x, train_y, test_x, test_y):
    """The test accuracy of the best tagger that sees only the current symbol: for each
    symbol, the depth seen most often after it in the training set."""
    seen, tag = train_x.argmax(axis=-1), np.zeros(N_SYMBOLS, dtype="int64")
    for s in range(N_SYMBOLS):
        tag[s] = np.bincount(train_y[seen == s]).argmax()
    return float(np.mean(tag[test_x.argmax(axis=-1)] == test_y))


def build(n_in=N_SYMBOLS, n_hidden=24, n_tags=5, seed=0):
    """The model's symbolic graph: inputs, parameters, cost and the predicted tags."""
    rng = np.random.default_rng(seed)
    floatX = theano.config.floatX
    x = T.tensor3("x")   # (time, batch, symbol)
    y = T.lmatrix("y")   # (time, batch): a tag per step
    W, U = normal_weights(rng, (n_in, n_hidden), "W"), normal_weights(rng, (n_hidden, n_hidden), "U")
    V = normal_weights(rng, (n_hidden, n_tags), "V")
    b = theano.shared(np.zeros(n_hidden, dtype=floatX), name="b")
    c = theano.shared(np.zeros(n_tags, dtype=floatX), name="c")

    def step(x_t, h):
        h = T.tanh(T.dot(x_t, W) + T.dot(h, U) + b)
        return h, T.nnet.softmax(T.dot(h, V) + c)

    h0 = T.zeros((x.shape[1], n_hidden))
    (_, p), _ = theano.scan(step, sequences=x, outputs_info=[h0, None])  # None: not fed back
    p = p.reshape((-1, n_tags))   # every step of every sequence, one row each
    tags = y.flatten()
    nll = -T.mean(T.log(p)[T.arange(tags.shape[0]), tags])
    predictions = T.argmax(p, axis=1).reshape((x.shape[0], x.shape[1]))
    return {"x": x, "y": y, "params": [W, U, b, V, c], "cost": nll, "predictions": predictions}


def main(steps=800, seed=0, batch_size=32, n_hidden=24, length=30, max_depth=4, learning_rate=0.1,
         momentum=0.9, max_norm=1.0, verbose=True):
    """Train with SGD and momentum (the gradients clipped by their global norm, both from
    :mod:`arignote.updates`) and evaluate; returns the cost of every step, the test
    accuracy, the memoryless tagger's and the seconds."""
    train_x, train_y, test_x, test_y = brackets(seed, length=length, max_depth=max_depth,
                                                dtype=theano.config.floatX)
    model = build(n_hidden=n_hidden, n_tags=max_depth + 1, seed=seed)
    grads = updates.total_norm_constraint(theano.grad(model["cost"], model["params"]), max_norm)
    step_updates = updates.momentum(grads, model["params"], learning_rate, momentum)
    train = theano.function([model["x"], model["y"]], model["cost"], updates=step_updates)
    tag = theano.function([model["x"]], model["predictions"])

    baseline = memoryless_accuracy(train_x, train_y, test_x, test_y)
    if verbose:
        print(f"Elman tagger {N_SYMBOLS}-{n_hidden}-{max_depth + 1} on sequences of {length}, "
              f"{steps} steps of {batch_size}; without memory: {100 * baseline:.1f}%")
    batches = minibatches(train_y.shape[1], batch_size, seed)

    def step(k):
        batch = next(batches)
        return train(train_x[:, batch], train_y[:, batch])

    costs, seconds = train_steps(step, steps, verbose)
    accuracy = float(np.mean(tag(test_x) == test_y))
    if verbose:
        print(f"test accuracy {100 * accuracy:.1f}% of the tags, trained in {seconds:.1f} s")
    return {"costs": costs, "test_accuracy": accuracy, "memoryless_accuracy": baseline,
            "seconds": seconds}


if __name__ == "__main__":
    args = sequence_arguments(__doc__.splitlines()[0], steps=800, fast_steps=300, length=30, fast_length=20)
    main(steps=args.steps, length=args.length, seed=args.seed)
