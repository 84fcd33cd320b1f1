"""Update rules for gradient descent (Lasagne's ``lasagne.updates``), and
Theano's ``theano.updates.OrderedUpdates``.

Each rule takes a loss (a scalar, differentiated here) or the list of its
gradients, the parameters (shared variables) and hyper-parameters, and returns
an :class:`OrderedUpdates` for ``function(updates=...)``: the new value of each
parameter and of the rule's accumulators. A hyper-parameter may be a number or
a (shared) scalar variable, so a schedule is a ``set_value`` between calls; it
is cast to each parameter's dtype, so float32 parameters stay float32.

The per-parameter rules share one driver (:func:`_per_param`): a rule is a
function of (parameter, gradient, accumulator maker) giving the step to
subtract, and the updates of the accumulators it made.
"""
import numpy as np

from arignote.errors import ArignoteTypeError, ArignoteValueError, describe
from arignote.gradient import grad
from arignote.graph.basic import Variable
from arignote.graph.shared import OrderedUpdates, SharedVariable
from arignote.ops import elemwise as E
from arignote.ops.reduce import sum as _sum
from arignote.tensor.sharedvar import shared

__all__ = ["OrderedUpdates", "get_or_compute_grads", "sgd", "apply_momentum", "momentum",
           "apply_nesterov_momentum", "nesterov_momentum", "adagrad", "rmsprop", "adadelta",
           "adam", "adamax", "norm_constraint", "total_norm_constraint"]


def get_or_compute_grads(loss_or_grads, params):
    """The gradients of ``loss_or_grads`` (a scalar) with respect to ``params``, or
    ``loss_or_grads`` itself when it is already a list of them."""
    params = list(params)
    bad = [p for p in params if not isinstance(p, SharedVariable)]
    if bad:
        raise ArignoteTypeError(f"updates: parameters must be shared variables, got "
                                f"{describe(bad[0])} ({type(bad[0]).__name__})")
    if isinstance(loss_or_grads, (list, tuple)):
        if len(loss_or_grads) != len(params):
            raise ArignoteValueError(f"updates: got {len(loss_or_grads)} gradients for "
                                     f"{len(params)} parameters")
        return list(loss_or_grads)
    return grad(loss_or_grads, params)


def _hyper(value, dtype):
    """A hyper-parameter (number or scalar variable) in ``dtype``."""
    if isinstance(value, Variable):
        if value.ndim != 0:
            raise ArignoteTypeError(f"updates: a hyper-parameter must be a scalar, got "
                                    f"{describe(value)} of type {value.type}")
        return value if value.dtype == dtype else E.cast(value, dtype)
    return np.asarray(value, dtype=dtype)


def _zeros_like(param, name):
    """A shared accumulator of ``param``'s shape, dtype and static shape, at zero."""
    value = param.get_value(borrow=True)
    return shared(np.zeros(value.shape, value.dtype), name=f"{param.name or 'param'}_{name}",
                  shape=param.type.shape)


def _per_param(rule, loss_or_grads, params, hypers):
    """Updates ``p <- p - step`` for each parameter, with ``step, acc_updates =
    rule(p, g, h, acc)``: ``h`` the hyper-parameters in ``p``'s dtype, ``acc(name)`` a
    new zero accumulator."""
    grads = get_or_compute_grads(loss_or_grads, params)
    updates = OrderedUpdates()
    for p, g in zip(params, grads):
        h = {k: _hyper(v, p.dtype) for k, v in hypers.items()}
        step, accs = rule(p, g, h, lambda name, p=p: _zeros_like(p, name))
        for acc, new in accs:
            updates[acc] = new
        updates[p] = p - step
    return updates


def sgd(loss_or_grads, params, learning_rate):
    """``p <- p - learning_rate * g``."""
    return _per_param(lambda p, g, h, acc: (h["lr"] * g, ()),
                      loss_or_grads, params, {"lr": learning_rate})


def apply_momentum(updates, params=None, momentum=0.9):
    """Add classical momentum to ``updates`` (``v <- momentum * v + (new - p)``,
    ``p <- p + v``) for ``params`` (default: every updated variable)."""
    return _with_velocity(updates, params, momentum, nesterov=False)


def apply_nesterov_momentum(updates, params=None, momentum=0.9):
    """Add Nesterov momentum to ``updates`` (``v <- momentum * v + (new - p)``,
    ``p <- p + momentum * v + (new - p)``), Lasagne's formulation."""
    return _with_velocity(updates, params, momentum, nesterov=True)


def _with_velocity(updates, params, momentum, nesterov):
    updates = OrderedUpdates(updates)
    for p in (list(updates) if params is None else params):
        mu = _hyper(momentum, p.dtype)
        v = _zeros_like(p, "velocity")
        delta = updates[p] - p
        new_v = mu * v + delta
        updates[v] = new_v
        updates[p] = p + (mu * new_v + delta if nesterov else new_v)
    return updates


def momentum(loss_or_grads, params, learning_rate, momentum=0.9):
    """SGD with classical momentum."""
    return apply_momentum(sgd(loss_or_grads, params, learning_rate), params, momentum)


def nesterov_momentum(loss_or_grads, params, learning_rate, momentum=0.9):
    """SGD with Nesterov momentum."""
    return apply_nesterov_momentum(sgd(loss_or_grads, params, learning_rate), params, momentum)


def _adagrad(p, g, h, acc):
    a = acc("accu")
    new_a = a + g ** 2
    return h["lr"] * g / E.sqrt(new_a + h["eps"]), [(a, new_a)]


def _rmsprop(p, g, h, acc):
    a = acc("accu")
    new_a = h["rho"] * a + (1 - h["rho"]) * g ** 2
    return h["lr"] * g / E.sqrt(new_a + h["eps"]), [(a, new_a)]


def _adadelta(p, g, h, acc):
    a, d = acc("accu"), acc("delta_accu")
    new_a = h["rho"] * a + (1 - h["rho"]) * g ** 2
    step = g * E.sqrt(d + h["eps"]) / E.sqrt(new_a + h["eps"])
    new_d = h["rho"] * d + (1 - h["rho"]) * step ** 2
    return h["lr"] * step, [(a, new_a), (d, new_d)]


def adagrad(loss_or_grads, params, learning_rate=1.0, epsilon=1e-6):
    """AdaGrad (Duchi et al. 2011): ``a <- a + g^2``, ``p <- p - lr * g / sqrt(a + eps)``."""
    return _per_param(_adagrad, loss_or_grads, params, {"lr": learning_rate, "eps": epsilon})


def rmsprop(loss_or_grads, params, learning_rate=1.0, rho=0.9, epsilon=1e-6):
    """RMSProp (Tieleman and Hinton 2012): ``a <- rho * a + (1 - rho) * g^2``,
    ``p <- p - lr * g / sqrt(a + eps)``."""
    return _per_param(_rmsprop, loss_or_grads, params,
                      {"lr": learning_rate, "rho": rho, "eps": epsilon})


def adadelta(loss_or_grads, params, learning_rate=1.0, rho=0.95, epsilon=1e-6):
    """AdaDelta (Zeiler 2012), with Lasagne's learning rate scaling the step."""
    return _per_param(_adadelta, loss_or_grads, params,
                      {"lr": learning_rate, "rho": rho, "eps": epsilon})


def _timed(rule, loss_or_grads, params, learning_rate, beta1, beta2, epsilon):
    """A rule that also counts steps in a shared ``t`` (Adam, Adamax): ``rule`` gets
    ``h['t']``, the new count, in the parameter's dtype."""
    t = shared(np.asarray(0.0, "float64"), name="t")
    new_t = t + 1
    updates = _per_param(rule, loss_or_grads, params,
                         {"lr": learning_rate, "b1": beta1, "b2": beta2, "eps": epsilon,
                          "t": new_t})
    updates[t] = new_t
    return updates


def _adam(p, g, h, acc):
    m, v = acc("m"), acc("v")
    new_m = h["b1"] * m + (1 - h["b1"]) * g
    new_v = h["b2"] * v + (1 - h["b2"]) * g ** 2
    lr_t = h["lr"] * E.sqrt(1 - h["b2"] ** h["t"]) / (1 - h["b1"] ** h["t"])
    return lr_t * new_m / (E.sqrt(new_v) + h["eps"]), [(m, new_m), (v, new_v)]


def _adamax(p, g, h, acc):
    m, u = acc("m"), acc("u")
    new_m = h["b1"] * m + (1 - h["b1"]) * g
    new_u = E.maximum(h["b2"] * u, abs(g))
    lr_t = h["lr"] / (1 - h["b1"] ** h["t"])
    return lr_t * new_m / (new_u + h["eps"]), [(m, new_m), (u, new_u)]


def adam(loss_or_grads, params, learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-8):
    """Adam (Kingma and Ba 2014, the bias correction folded into the step size)."""
    return _timed(_adam, loss_or_grads, params, learning_rate, beta1, beta2, epsilon)


def adamax(loss_or_grads, params, learning_rate=0.002, beta1=0.9, beta2=0.999, epsilon=1e-8):
    """Adamax (Kingma and Ba 2014, section 7: Adam with the infinity norm)."""
    return _timed(_adamax, loss_or_grads, params, learning_rate, beta1, beta2, epsilon)


# ---------------------------------------------------------------- norm constraints

def norm_constraint(tensor_var, max_norm, norm_axes=None, epsilon=1e-7):
    """``tensor_var`` rescaled so its L2 norms over ``norm_axes`` are at most ``max_norm``
    (default axes, Lasagne's: (0,) for a matrix, i.e. each dense unit's incoming
    weights; all but the first for a convolution's filters)."""
    ndim = tensor_var.ndim
    if norm_axes is None:
        if ndim == 2:
            norm_axes = (0,)
        elif ndim > 2:
            norm_axes = tuple(range(1, ndim))
        else:
            raise ArignoteValueError(f"norm_constraint: give norm_axes for {describe(tensor_var)}, "
                                     f"a tensor of {ndim} dimension(s)")
    dtype = tensor_var.dtype
    norms = E.sqrt(_sum(tensor_var ** 2, axis=tuple(norm_axes), keepdims=True))
    target = E.clip(norms, 0, _hyper(max_norm, dtype))
    return tensor_var * (target / (_hyper(epsilon, dtype) + norms))


def total_norm_constraint(tensor_vars, max_norm, epsilon=1e-7, return_norm=False):
    """The tensors (gradients, usually) rescaled together so their global L2 norm is at
    most ``max_norm`` (global-norm clipping); with ``return_norm``, also that norm."""
    tensor_vars = list(tensor_vars)
    if not tensor_vars:
        raise ArignoteValueError("total_norm_constraint: no tensors given")
    dtype = tensor_vars[0].dtype
    norm = E.sqrt(sum(E.cast(_sum(t ** 2), dtype) for t in tensor_vars))
    target = E.clip(norm, 0, _hyper(max_norm, dtype))
    scale = target / (_hyper(epsilon, dtype) + norm)
    scaled = [t * E.cast(scale, t.dtype) if t.dtype != dtype else t * scale for t in tensor_vars]
    return (scaled, norm) if return_norm else scaled
