"""A modern MLP on scikit-learn's 8x8 digits: ReLU, batch normalization, dropout and
Adam, against the same network trained with plain SGD.

Both runs build the same network from the same initial weights (He's, for ReLU):
64-256-256-10, each hidden layer ``dropout(relu(batch_norm(x W)))``. Training
normalizes by the minibatch's statistics (``batch_normalization_train``) and
passes the running averages it returns to ``function(updates=...)``, next to the
update rule's; the test graph normalizes by those averages
(``batch_normalization_test``) and turns dropout off (``deterministic=True``).
Only the update rule differs: :func:`arignote.updates.adam` or
:func:`arignote.updates.sgd`. After every epoch the test error is measured; both
learning curves (training cost and test error per epoch) are drawn in one PNG.
Expect, after 20 epochs, a test accuracy near 98% with Adam, and some points lower
with SGD, whose cost falls more slowly.

    python examples/mlp_modern.py [--fast] [--epochs N] [--seed S] [--out PATH]
"""
import numpy as np

import arignote as theano
import arignote.tensor as T
from arignote import init, updates
from arignote.tensor.nnet import bn
from arignote.tensor.random import RandomStreams
from _data import digits, printer, pyplot, train_epochs, training_arguments

RULES = {"adam": lambda cost, params, lr: updates.adam(cost, params, lr),
         "sgd": lambda cost, params, lr: updates.sgd(cost, params, lr)}
LEARNING_RATES = {"adam": 0.003, "sgd": 0.05}


def build(n_in=64, hidden=(256, 256), n_out=10, p_drop=0.2, seed=0):
    """The model's symbolic graph: inputs, parameters, the training cost with its
    running-average updates, and the test graph's fraction of errors."""
    rng = np.random.default_rng(seed)
    floatX = theano.config.floatX
    x, y = T.matrix("x"), T.lvector("y")
    streams = RandomStreams(seed)
    layers, params, size = [], [], n_in
    for k, n in enumerate(hidden):  # no bias: batch normalization's beta shifts instead
        W = theano.shared(init.he_normal((size, n), rng), name=f"W{k + 1}")
        gamma = theano.shared(np.ones(n, dtype=floatX), name=f"gamma{k + 1}")
        beta = theano.shared(np.zeros(n, dtype=floatX), name=f"beta{k + 1}")
        mean = theano.shared(np.zeros(n, dtype=floatX), name=f"mean{k + 1}")
        var = theano.shared(np.ones(n, dtype=floatX), name=f"var{k + 1}")
        layers.append((W, gamma, beta, mean, var))
        params += [W, gamma, beta]
        size = n
    V = theano.shared(init.glorot_uniform((size, n_out), rng), name="V")
    c = theano.shared(np.zeros(n_out, dtype=floatX), name="c")
    params += [V, c]

    def forward(training):
        h, running = x, []
        for W, gamma, beta, mean, var in layers:
            z = T.dot(h, W)
            if training:
                z, _, _, new_mean, new_var = bn.batch_normalization_train(
                    z, gamma, beta, running_mean=mean, running_var=var)
                running += [(mean, new_mean), (var, new_var)]
            else:
                z = bn.batch_normalization_test(z, gamma, beta, mean, var)
            h = T.nnet.dropout(T.nnet.relu(z), p_drop, streams, deterministic=not training)
        return T.nnet.log_softmax(T.dot(h, V) + c), running

    log_p, running = forward(training=True)
    cost = -T.mean(log_p[T.arange(y.shape[0]), y])
    test_log_p, _ = forward(training=False)
    errors = T.mean(T.neq(T.argmax(test_log_p, axis=1), y))
    return {"x": x, "y": y, "params": params, "cost": cost, "running_updates": running,
            "errors": errors}


def train(rule, epochs, seed=0, batch_size=32, learning_rate=None, hidden=(256, 256), p_drop=0.2,
          verbose=True):
    """Train one network with ``rule`` ('adam' or 'sgd'); returns the per-epoch training
    costs and test errors, and the seconds spent."""
    train_x, train_y, test_x, test_y = digits(seed, dtype=theano.config.floatX)
    train_x, train_y = theano.shared(train_x, name="train_x"), theano.shared(train_y, name="train_y")
    model = build(hidden=hidden, p_drop=p_drop, seed=seed)
    x, y = model["x"], model["y"]
    rate = LEARNING_RATES[rule] if learning_rate is None else learning_rate
    step = RULES[rule](model["cost"], model["params"], rate)
    step.update(model["running_updates"])
    i = T.lscalar("i")
    batch = slice(i * batch_size, (i + 1) * batch_size)
    train_batch = theano.function([i], model["cost"], updates=step,
                                  givens={x: train_x[batch], y: train_y[batch]})
    test_error = theano.function([x, y], model["errors"])

    errors, show = [], printer(verbose, every=5)

    def log(epoch, cost):
        errors.append(float(test_error(test_x, test_y)))
        if show is not None:
            show(epoch, cost)

    n_batches = len(train_y.get_value(borrow=True)) // batch_size
    if verbose:
        print(f"{rule} (learning rate {rate}): {n_batches} minibatches of {batch_size}, {epochs} epochs")
    costs, seconds = train_epochs(train_batch, n_batches, epochs, log)
    return {"costs": costs, "test_errors": errors, "seconds": seconds}


def save_curves(results, path):
    """Training cost and test error per epoch of each run, side by side, saved to ``path``;
    False when matplotlib is not installed."""
    plt = pyplot()
    if plt is None:
        return False
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for rule, result in results.items():
        epochs = np.arange(1, len(result["costs"]) + 1)
        left.plot(epochs, result["costs"], label=rule)
        right.plot(epochs, 100 * np.asarray(result["test_errors"]), label=rule)
    left.set(yscale="log", xlabel="epoch", ylabel="training cost (nats)", title="training cost")
    right.set(xlabel="epoch", ylabel="test error (%)", title="test error")
    for ax in (left, right):
        ax.legend()
        ax.grid(alpha=0.3)
    fig.suptitle("MLP with ReLU, batch normalization and dropout on the digits")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return True


def main(epochs=20, seed=0, batch_size=32, hidden=(256, 256), p_drop=0.2, out=None, verbose=True):
    """Train the network with Adam, then with SGD; returns each run's results (by rule),
    both final test accuracies and where the learning curves went."""
    if verbose:
        print(f"MLP 64-{'-'.join(map(str, hidden))}-10, ReLU, batch normalization, dropout {p_drop}")
    results = {rule: train(rule, epochs, seed, batch_size, hidden=hidden, p_drop=p_drop, verbose=verbose)
               for rule in RULES}
    accuracy = {rule: 1.0 - r["test_errors"][-1] for rule, r in results.items()}
    saved = out if out is not None and save_curves(results, out) else None
    if verbose:
        print(", ".join(f"{rule}: test accuracy {100 * accuracy[rule]:.2f}% in {r['seconds']:.2f} s"
                        for rule, r in results.items()) + (f"; learning curves: {saved}" if saved else ""))
    return {"runs": results, "test_accuracy": accuracy, "curves": saved}


if __name__ == "__main__":
    args = training_arguments(
        __doc__.splitlines()[0], epochs=20, fast_epochs=2, extra=lambda parser: parser.add_argument(
            "--out", default="mlp_modern_curves.png",
            help="where the learning curves go (default mlp_modern_curves.png)"))
    main(epochs=args.epochs, seed=args.seed, out=args.out)
