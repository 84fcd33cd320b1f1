"""Batch and layer normalization, and dropout (``T.nnet.bn``, ``T.nnet.dropout``).

Compositions of elementwise ops and reductions, not ops of their own: they
fuse with what surrounds them (the batch statistics become row or column
reductions, the normalization one elementwise kernel), and their gradients are
the gradients of that arithmetic. Signatures are Theano's
(``theano.tensor.nnet.bn``).
"""
import numpy as np

from arignote.errors import ArignoteTypeError, ArignoteValueError, describe
from arignote.graph.basic import Variable
from arignote.ops import elemwise as E
from arignote.ops.basic import as_tensor_variable
from arignote.ops.reduce import mean as _mean
from arignote.ops.reduce import prod as _prod
from arignote.ops.shape import addbroadcast, dimshuffle

__all__ = ["batch_normalization_train", "batch_normalization_test", "batch_normalization",
           "layer_normalization", "dropout"]


def _axes(axes, ndim, fn):
    """Theano's ``axes``: 'per-activation' (the batch axis), 'spatial' (batch and every
    axis after the channels), or a tuple of axes."""
    if axes == "per-activation":
        return (0,)
    if axes == "spatial":
        return (0, *range(2, ndim))
    if isinstance(axes, (tuple, list)) and all(isinstance(a, (int, np.integer)) for a in axes):
        norm = tuple(sorted({int(a) % ndim for a in axes if -ndim <= a < ndim}))
        if len(norm) == len(axes):
            return norm
    raise ArignoteValueError(f"{fn}: axes must be 'per-activation', 'spatial' or a tuple of distinct "
                             f"axes of a {ndim}-d input, got {axes!r}")


def _params(inputs, axes, fn, **params):
    """The parameters broadcast against ``inputs``: given either with the input's rank
    (size 1 on ``axes``) or with the kept axes only (Theano's two forms)."""
    ndim = inputs.ndim
    kept = [d for d in range(ndim) if d not in axes]
    out = []
    for name, p in params.items():
        p = as_tensor_variable(p)
        if p.ndim == ndim:  # (size 1 on the axes, checked at run time, as Theano's addbroadcast)
            out.append(addbroadcast(p, *axes))
        elif p.ndim == len(kept):
            pattern = ["x"] * ndim
            for i, d in enumerate(kept):
                pattern[d] = i
            out.append(dimshuffle(p, pattern))
        else:
            raise ArignoteTypeError(f"{fn}: {name} {describe(p)} has {p.ndim} dimension(s); for the "
                                    f"{ndim}-d {describe(inputs)} normalized over axes {axes} it needs "
                                    f"{ndim} (size 1 on those axes) or {len(kept)}")
    return out, all(as_tensor_variable(p).ndim == ndim for p in params.values())


def _squeeze(v, axes, keep):
    return v if keep else dimshuffle(v, [d for d in range(v.ndim) if d not in axes])


def _check_epsilon(epsilon, fn):
    if not isinstance(epsilon, Variable) and not float(epsilon) >= 1e-5:
        raise ArignoteValueError(f"{fn}: epsilon must be at least 1e-5 (as Theano's), got {epsilon!r}")


def batch_normalization_train(inputs, gamma, beta, axes="per-activation", epsilon=1e-4,
                              running_average_factor=0.1, running_mean=None, running_var=None):
    """Normalize ``inputs`` by the statistics of this batch over ``axes``:
    ``(inputs - mean) * invstd * gamma + beta``, ``invstd = 1 / sqrt(var + epsilon)``.

    Returns ``(out, mean, invstd)``, and with ``running_mean``/``running_var`` given
    also their new values (``(1 - f) * running + f * batch``, the variance unbiased),
    for ``function(updates=...)``. The statistics have the parameters' rank.
    """
    fn = "batch_normalization_train"
    x = as_tensor_variable(inputs)
    axes = _axes(axes, x.ndim, fn)
    _check_epsilon(epsilon, fn)
    (gamma, beta), full = _params(x, axes, fn, gamma=gamma, beta=beta)
    mean = _mean(x, axis=axes, keepdims=True)
    var = _mean(E.sqr(x - mean), axis=axes, keepdims=True)
    invstd = 1 / E.sqrt(var + epsilon)
    out = (x - mean) * (invstd * gamma) + beta
    results = [out, _squeeze(mean, axes, full), _squeeze(invstd, axes, full)]
    if (running_mean is None) != (running_var is None):
        raise ArignoteValueError(f"{fn}: give both running_mean and running_var, or neither")
    if running_mean is not None:
        f = running_average_factor
        (rm, rv), _ = _params(x, axes, fn, running_mean=running_mean, running_var=running_var)
        n = E.cast(_prod(x.shape) // _prod(mean.shape), var.dtype)
        new_mean = rm * (1 - f) + mean * f
        new_var = rv * (1 - f) + var * (n / E.maximum(n - 1, 1)) * f
        results += [_like(new_mean, running_mean, axes), _like(new_var, running_var, axes)]
    return tuple(results)


def _like(v, running, axes):
    """``v`` (input rank) in the rank and dtype of the running statistic it replaces."""
    running = as_tensor_variable(running)
    v = v if running.ndim == v.ndim else _squeeze(v, axes, False)
    return v if v.dtype == running.dtype else E.cast(v, running.dtype)


def batch_normalization_test(inputs, gamma, beta, mean, var, axes="per-activation", epsilon=1e-4):
    """Normalize ``inputs`` by given (running) statistics:
    ``(inputs - mean) * gamma / sqrt(var + epsilon) + beta``."""
    fn = "batch_normalization_test"
    x = as_tensor_variable(inputs)
    axes = _axes(axes, x.ndim, fn)
    _check_epsilon(epsilon, fn)
    (gamma, beta, mean, var), _ = _params(x, axes, fn, gamma=gamma, beta=beta, mean=mean, var=var)
    return (x - mean) * (gamma / E.sqrt(var + epsilon)) + beta


def batch_normalization(inputs, gamma, beta, mean, std, mode="low_mem"):
    """Theano's older form: ``(inputs - mean) * (gamma / std) + beta``, broadcast as given."""
    return (as_tensor_variable(inputs) - mean) * (gamma / as_tensor_variable(std)) + beta


def layer_normalization(inputs, gamma, beta, axes=(-1,), epsilon=1e-5):
    """Normalize each example over ``axes`` (default: the last) by its own mean and
    variance, then scale by ``gamma`` and shift by ``beta`` (Ba et al. 2016);
    ``gamma``/``beta`` have the normalized axes' shape, or broadcast to the input."""
    x = as_tensor_variable(inputs)
    axes = _axes(tuple(axes), x.ndim, "layer_normalization")
    mean = _mean(x, axis=axes, keepdims=True)
    var = _mean(E.sqr(x - mean), axis=axes, keepdims=True)
    gamma, beta = as_tensor_variable(gamma), as_tensor_variable(beta)
    return (x - mean) / E.sqrt(var + epsilon) * gamma + beta


def dropout(x, p, rng, deterministic=False):
    """Inverted dropout: each entry kept with probability ``1 - p`` and scaled by
    ``1 / (1 - p)``, so nothing changes at test time. ``rng`` is a ``RandomStreams``;
    ``deterministic`` (a bool, or a boolean/integer scalar such as a shared flag)
    turns it off: the identity."""
    x = as_tensor_variable(x)
    if not isinstance(p, Variable) and not 0 <= float(p) < 1:
        raise ArignoteValueError(f"dropout: p is the probability to drop, in [0, 1), got {p!r}")
    if isinstance(deterministic, (bool, np.bool_)):
        deterministic = bool(deterministic)
    if deterministic is True or (not isinstance(p, Variable) and float(p) == 0):
        return x
    if not x.type.is_float:
        raise ArignoteTypeError(f"dropout needs a float tensor, got {describe(x)} of type {x.type}")
    p = as_tensor_variable(p) if isinstance(p, Variable) else np.asarray(p, x.dtype)
    mask = E.cast(E.ge(rng.uniform(size=x.shape, dtype=x.dtype), p), x.dtype)
    dropped = x * (mask / (1 - p))
    if deterministic is False:
        return dropped
    flag = as_tensor_variable(deterministic)
    if flag.ndim != 0:
        raise ArignoteTypeError(f"dropout: deterministic must be a bool or a scalar flag, got "
                                f"{describe(flag)} of type {flag.type}")
    return E.switch(flag, x, dropped)
