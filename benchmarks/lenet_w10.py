"""W10: one SGD step of a LeNet-style network, twice: by hand in NumPy (im2col, the way a
careful NumPy user vectorizes a convolution) and as an Arignote graph.

The model (Theano's LeNet tutorial, batch 64 of 1x28x28 float32 images): conv 20 5x5 +
bias + tanh, 2x2 max-pool, conv 50 5x5 + bias + tanh, 2x2 max-pool, dense 800 -> 500
tanh, dense 500 -> 10, softmax cross-entropy averaged over the batch. The convolutions
are true convolutions (``filter_flip=True``, Theano's default), so the NumPy version
flips the filters. Both versions take the same parameters ``[W1, b1, W2, b2, W3, b3, W4,
b4]``; ``tests/test_bench_w10.py`` checks that their gradients agree.
"""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

import arignote as ag
import arignote.tensor as T
from arignote.tensor.signal.pool import pool_2d

NAMES = ("W1", "b1", "W2", "b2", "W3", "b3", "W4", "b4")


def problem(batch=64, image=28, channels=(1, 20, 50), k=5, hidden=500, classes=10,
            dtype="float32", seed=0):
    """(images, integer labels, parameters): 2x2 pooling after each convolution."""
    rng = np.random.default_rng(seed)
    xs = rng.standard_normal((batch, channels[0], image, image)).astype(dtype)
    ys = rng.integers(0, classes, batch).astype(np.int32)
    side = image
    for _ in channels[1:]:
        side = (side - k + 1) // 2
    flat = channels[-1] * side * side
    shapes = [(channels[1], channels[0], k, k), (channels[1],), (channels[2], channels[1], k, k),
              (channels[2],), (flat, hidden), (hidden,), (hidden, classes), (classes,)]
    params = []
    for s in shapes:
        fan_in = int(np.prod(s[1:])) if len(s) == 4 else s[0]
        scale = fan_in ** -0.5 if len(s) > 1 else 0.1
        params.append((rng.standard_normal(s) * scale).astype(dtype))
    return xs, ys, params


def flops(batch=64, image=28, channels=(1, 20, 50), k=5, hidden=500, classes=10):
    """Floating-point operations of the step's products (2 per multiply-add): each
    convolution forward and its filters' gradient, and its input's gradient but for
    the first (the images need none); each dense layer forward, weights and input."""
    total, side = 0, image
    for layer, (c, f) in enumerate(zip(channels, channels[1:])):
        out = side - k + 1
        one = 2 * batch * f * c * k * k * out * out
        total += one * (3 if layer else 2)  # the first layer's input needs no gradient
        side = out // 2
    flat = channels[-1] * side * side
    total += 3 * 2 * batch * (flat * hidden + hidden * classes)
    return total


# ------------------------------------------------------------ NumPy by hand

def _im2col(x, k):
    """(N Ho Wo, C k k) rows: the window under each output position."""
    win = sliding_window_view(x, (k, k), axis=(2, 3))  # N C Ho Wo k k
    n, c, ho, wo = win.shape[:4]
    return win.transpose(0, 2, 3, 1, 4, 5).reshape(n * ho * wo, c * k * k), (ho, wo)


def _conv(x, W, b):
    f, c, k, _ = W.shape
    cols, (ho, wo) = _im2col(x, k)
    wmat = W[:, :, ::-1, ::-1].reshape(f, -1)  # a true convolution flips the filters
    out = (cols @ wmat.T + b).reshape(x.shape[0], ho, wo, f).transpose(0, 3, 1, 2)
    return out, cols


def _conv_back(dout, x_shape, W, cols, need_dx):
    n, f, ho, wo = dout.shape
    _, c, k, _ = W.shape
    dflat = dout.transpose(0, 2, 3, 1).reshape(-1, f)
    dW = (dflat.T @ cols).reshape(W.shape)[:, :, ::-1, ::-1]
    db = dflat.sum(axis=0)
    if not need_dx:
        return None, dW, db
    dcols = (dflat @ W[:, :, ::-1, ::-1].reshape(f, -1)).reshape(n, ho, wo, c, k, k)
    dx = np.zeros(x_shape, dout.dtype)
    for u in range(k):  # col2im: one strided add per filter offset
        for v in range(k):
            dx[:, :, u:u + ho, v:v + wo] += dcols[..., u, v].transpose(0, 3, 1, 2)
    return dx, dW, db


def _pool(h):
    n, c, hh, ww = h.shape
    blocks = h.reshape(n, c, hh // 2, 2, ww // 2, 2)
    out = blocks.max(axis=(3, 5))
    return out, blocks


def _pool_back(dout, blocks, out):
    mask = blocks == out[:, :, :, None, :, None]  # every tie gets the gradient, as Theano's
    return (mask * dout[:, :, :, None, :, None]).reshape(blocks.shape[0], blocks.shape[1], -1,
                                                         blocks.shape[4] * 2)


def numpy_grads(params, xs, ys):
    """(cost, gradients of every parameter), forward and backward by hand."""
    W1, b1, W2, b2, W3, b3, W4, b4 = params
    n = xs.shape[0]
    z1, cols1 = _conv(xs, W1, b1)
    h1 = np.tanh(z1)
    p1, blocks1 = _pool(h1)
    z2, cols2 = _conv(p1, W2, b2)
    h2 = np.tanh(z2)
    p2, blocks2 = _pool(h2)
    flat = p2.reshape(n, -1)
    h3 = np.tanh(flat @ W3 + b3)
    logits = h3 @ W4 + b4
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    prob = e / e.sum(axis=1, keepdims=True)
    rows = np.arange(n)
    cost = -np.mean(np.log(prob[rows, ys]))
    d = prob
    d[rows, ys] -= 1
    d /= n
    dW4, db4 = h3.T @ d, d.sum(axis=0)
    d3 = (d @ W4.T) * (1 - h3 ** 2)
    dW3, db3 = flat.T @ d3, d3.sum(axis=0)
    dp2 = (d3 @ W3.T).reshape(p2.shape)
    dz2 = _pool_back(dp2, blocks2, p2) * (1 - h2 ** 2)
    dp1, dW2, db2 = _conv_back(dz2, p1.shape, W2, cols2, True)
    dz1 = _pool_back(dp1, blocks1, p1) * (1 - h1 ** 2)
    _, dW1, db1 = _conv_back(dz1, xs.shape, W1, cols1, False)
    return cost, [dW1, db1, dW2, db2, dW3, db3, dW4, db4]


def numpy_step(params, xs, ys, learning_rate=0.1):
    """One SGD step by hand: the new parameters."""
    _, grads = numpy_grads(params, xs, ys)
    lr = np.asarray(learning_rate, xs.dtype)
    return [p - lr * g for p, g in zip(params, grads)]


# ------------------------------------------------------------ Arignote

def graph(params, learning_rate=0.1):
    """The symbolic step: (inputs [x, y], cost, gradients, SGD updates), the parameters as
    shared variables holding copies of ``params``."""
    shared = [ag.shared(p.copy(), name=n) for p, n in zip(params, NAMES)]
    W1, b1, W2, b2, W3, b3, W4, b4 = shared
    x, y = T.tensor4("x", dtype=params[0].dtype), T.ivector("y")

    def conv_layer(h, W, b):
        z = T.nnet.conv2d(h, W) + b.dimshuffle("x", 0, "x", "x")
        return pool_2d(T.tanh(z), (2, 2))

    h = conv_layer(conv_layer(x, W1, b1), W2, b2)
    h = T.tanh(T.dot(h.flatten(2), W3) + b3)
    logits = T.dot(h, W4) + b4
    cost = -T.mean(T.nnet.log_softmax(logits)[T.arange(y.shape[0]), y])
    grads = ag.grad(cost, shared)
    return [x, y], cost, grads, [(p, p - learning_rate * g) for p, g in zip(shared, grads)]
