"""W8: one SGD step of an LSTM classifier trained through time, twice: by hand in
NumPy (forward, then backpropagation through time) and as an Arignote graph.

The model: ``h_t, c_t = lstm(x_t, h_{t-1}, c_{t-1})`` from zero states, the
gates ``[i, f, o, g] = x_t @ W + h_{t-1} @ U + b`` side by side in one product,
then the last hidden state to a softmax cross-entropy (``h_T @ Wy + by``),
averaged over the batch. Both versions take the same parameter list
``[W, U, b, Wy, by]``; ``tests/test_bench_w8.py`` checks their gradients agree,
so the benchmark compares the same arithmetic.
"""
import numpy as np

import arignote as ag
import arignote.tensor as T

NAMES = ("W", "U", "b", "Wy", "by")


def problem(steps=64, batch=32, n_in=64, n_hidden=128, n_classes=10, dtype="float32", seed=0):
    """(xs of shape (steps, batch, n_in), integer labels ys, parameters [W, U, b, Wy, by])."""
    rng = np.random.default_rng(seed)
    xs = rng.standard_normal((steps, batch, n_in)).astype(dtype)
    ys = rng.integers(0, n_classes, batch).astype(np.int32)
    shapes = [(n_in, 4 * n_hidden), (n_hidden, 4 * n_hidden), (4 * n_hidden,),
              (n_hidden, n_classes), (n_classes,)]
    params = [(rng.standard_normal(s) * s[0] ** -0.5 if len(s) == 2 else np.zeros(s)).astype(dtype)
              for s in shapes]
    return xs, ys, params


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def numpy_grads(params, xs, ys):
    """(cost, [dW, dU, db, dWy, dby]) as a NumPy user writes them: the products
    that do not depend on the recurrence (``x @ W``, and ``dW``, ``dU`` in the
    backward pass) over the whole sequence at once, the rest step by step."""
    W, U, b, Wy, by = params
    steps, batch, n_in = xs.shape
    n_h = U.shape[0]
    xw = (xs.reshape(-1, n_in) @ W).reshape(steps, batch, 4 * n_h) + b
    hs = np.zeros((steps + 1, batch, n_h), xs.dtype)  # hs[t + 1] = h_t; hs[0] = 0
    cs = np.zeros_like(hs)
    gates = np.empty((steps, batch, 4 * n_h), xs.dtype)  # i, f, o after sigmoid, g after tanh
    tanh_c = np.empty((steps, batch, n_h), xs.dtype)
    for t in range(steps):
        z = xw[t] + hs[t] @ U
        gates[t, :, :3 * n_h] = _sigmoid(z[:, :3 * n_h])
        gates[t, :, 3 * n_h:] = np.tanh(z[:, 3 * n_h:])
        i, f, o, g = np.split(gates[t], 4, axis=1)
        cs[t + 1] = f * cs[t] + i * g
        tanh_c[t] = np.tanh(cs[t + 1])
        hs[t + 1] = o * tanh_c[t]

    logits = hs[-1] @ Wy + by
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    rows = np.arange(batch)
    cost = -np.mean(np.log(p[rows, ys]))
    dlogits = p
    dlogits[rows, ys] -= 1
    dlogits /= batch
    dWy, dby = hs[-1].T @ dlogits, dlogits.sum(axis=0)

    dz = np.empty_like(gates)
    dh, dc = dlogits @ Wy.T, np.zeros((batch, n_h), xs.dtype)
    for t in range(steps - 1, -1, -1):
        i, f, o, g = np.split(gates[t], 4, axis=1)
        dc = dc + dh * o * (1 - tanh_c[t] ** 2)
        dz[t, :, :n_h] = dc * g * i * (1 - i)
        dz[t, :, n_h:2 * n_h] = dc * cs[t] * f * (1 - f)
        dz[t, :, 2 * n_h:3 * n_h] = dh * tanh_c[t] * o * (1 - o)
        dz[t, :, 3 * n_h:] = dc * i * (1 - g ** 2)
        dc = dc * f
        dh = dz[t] @ U.T
    flat_dz = dz.reshape(-1, 4 * n_h)
    dW = xs.reshape(-1, n_in).T @ flat_dz
    dU = hs[:-1].reshape(-1, n_h).T @ flat_dz
    return cost, [dW, dU, flat_dz.sum(axis=0), dWy, dby]


def numpy_step(params, xs, ys, learning_rate=0.1):
    """One SGD step by hand: the new parameters (new arrays, as a NumPy user writes it)."""
    _, grads = numpy_grads(params, xs, ys)
    lr = np.asarray(learning_rate, xs.dtype)
    return [p - lr * g for p, g in zip(params, grads)]


def graph(params, learning_rate=0.1):
    """The symbolic step: (inputs [x, y], cost, gradients, SGD updates), the
    parameters as shared variables holding copies of ``params``."""
    shared = [ag.shared(p.copy(), name=n) for p, n in zip(params, NAMES)]
    W, U, b, Wy, by = shared
    n_h = params[1].shape[0]
    x, y = T.tensor3("x", dtype=params[0].dtype), T.ivector("y")

    def step(x_t, h, c):
        z = T.dot(x_t, W) + T.dot(h, U) + b
        i, f, o = (T.nnet.sigmoid(z[:, k * n_h:(k + 1) * n_h]) for k in range(3))
        c = f * c + i * T.tanh(z[:, 3 * n_h:])
        return o * T.tanh(c), c

    zeros = T.zeros((x.shape[1], n_h), dtype=x.dtype)
    (hs, _), _ = ag.scan(step, sequences=x, outputs_info=[zeros, zeros])
    logits = T.dot(hs[-1], Wy) + by
    cost = -T.mean(T.nnet.log_softmax(logits)[T.arange(y.shape[0]), y])
    grads = ag.grad(cost, shared)
    return [x, y], cost, grads, [(p, p - learning_rate * g) for p, g in zip(shared, grads)]
