"""A denoising autoencoder with tied weights on scikit-learn's 8x8 digits.

Each minibatch is corrupted by a binomial mask drawn inside the graph (a
:class:`~arignote.tensor.random.RandomStreams` stream: every call of the training
step draws a new mask, and on the cpu backend the mask is made inside the fused
kernel that applies it), encoded by ``sigmoid(x~ W + b)`` and decoded by the same
weights transposed, ``sigmoid(y W' + b')``. The cost is the cross-entropy of the
reconstruction against the clean input (the library's stable
``binary_crossentropy``, built from the logits), summed over the pixels; SGD with
momentum from :mod:`arignote.updates`. The learned filters (the columns of ``W``)
are saved as an image grid with matplotlib. Expect, in 30 epochs of some 1.5 s,
the training cost (of corrupted images) to fall from about 24 to 18.6 nats per
image, and the clean test images' reconstruction cost from 58 to about 17.

    python examples/denoising_autoencoder.py [--fast] [--epochs N] [--seed S] [--out PATH]
"""
import numpy as np

import arignote as theano
import arignote.tensor as T
from arignote import updates
from arignote.tensor.random import RandomStreams
from _data import SIDE, digits, printer, pyplot, train_epochs, training_arguments


def build(n_visible=SIDE * SIDE, n_hidden=64, corruption=0.3, seed=0):
    """The model's symbolic graph: input, parameters, the training cost (of a corrupted
    input) and the clean reconstruction cost (the same model, no corruption)."""
    rng = np.random.default_rng(seed)
    bound = 4 * np.sqrt(6.0 / (n_visible + n_hidden))  # Glorot's range, times 4 for a sigmoid
    W = theano.shared(rng.uniform(-bound, bound, (n_visible, n_hidden)).astype(theano.config.floatX),
                      name="W")
    b = theano.shared(np.zeros(n_hidden, dtype=theano.config.floatX), name="b")
    b_prime = theano.shared(np.zeros(n_visible, dtype=theano.config.floatX), name="b_prime")
    x = T.matrix("x")
    streams = RandomStreams(seed)

    def cost(visible):
        hidden = T.nnet.sigmoid(T.dot(visible, W) + b)
        reconstruction = T.nnet.sigmoid(T.dot(hidden, W.T) + b_prime)  # tied weights
        return T.mean(T.nnet.binary_crossentropy(reconstruction, x).sum(axis=1))

    keep = streams.binomial(size=x.shape, n=1, p=1 - corruption, dtype=theano.config.floatX)
    return {"x": x, "params": [W, b, b_prime], "cost": cost(x * keep), "clean_cost": cost(x)}


def save_filters(W, path):
    """The columns of ``W`` as 8x8 images in a grid, each scaled to its own range, saved
    to ``path``; False (and a message) when matplotlib is not installed."""
    plt = pyplot()
    if plt is None:
        return False
    n = W.shape[1]
    cols = int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(cols, rows), squeeze=False)
    for k, ax in enumerate(axes.ravel()):
        ax.axis("off")
        if k < n:
            ax.imshow(W[:, k].reshape(SIDE, SIDE), cmap="gray", interpolation="nearest")
    fig.suptitle("denoising autoencoder filters")
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return True


def main(epochs=30, seed=0, batch_size=20, learning_rate=0.05, momentum=0.9, n_hidden=64,
         corruption=0.3, out=None, verbose=True):
    """Train; returns the per-epoch training costs, the clean reconstruction cost of the
    test images before and after training, the seconds spent and where the filters went."""
    train_x, _, test_x, _ = digits(seed, dtype=theano.config.floatX)
    train_x = theano.shared(train_x, name="train_x")
    model = build(n_hidden=n_hidden, corruption=corruption, seed=seed)
    x = model["x"]
    i = T.lscalar("i")
    train = theano.function([i], model["cost"], givens={x: train_x[i * batch_size:(i + 1) * batch_size]},
                            updates=updates.momentum(model["cost"], model["params"], learning_rate, momentum))
    reconstruction_cost = theano.function([x], model["clean_cost"])

    n_batches = len(train_x.get_value(borrow=True)) // batch_size
    before = float(reconstruction_cost(test_x))
    if verbose:
        print(f"denoising autoencoder 64-{n_hidden}-64 (tied weights), {100 * corruption:.0f}% of the "
              f"pixels dropped; {n_batches} minibatches of {batch_size}, {epochs} epochs")
    costs, seconds = train_epochs(train, n_batches, epochs, printer(verbose))
    after = float(reconstruction_cost(test_x))
    saved = None
    if out is not None and save_filters(model["params"][0].get_value(), out):
        saved = out
    if verbose:
        print(f"test reconstruction cost (clean input) {before:.2f} -> {after:.2f}, trained in "
              f"{seconds:.2f} s" + (f"; filters: {saved}" if saved else ""))
    return {"costs": costs, "test_cost_before": before, "test_cost": after, "seconds": seconds,
            "filters": saved}


if __name__ == "__main__":
    args = training_arguments(
        __doc__.splitlines()[0], epochs=30, fast_epochs=3, extra=lambda parser: parser.add_argument(
            "--out", default="dae_filters.png", help="where the filter image goes (default dae_filters.png)"))
    main(epochs=args.epochs, seed=args.seed, out=args.out)
