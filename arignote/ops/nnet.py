"""Neural-network ops: softmax, activations and losses (``T.nnet``).

``softmax`` and ``log_softmax`` are ops of their own: computed stably (the
row maximum is subtracted) and recognizable by rewrites (``log(softmax(x))``
becomes ``log_softmax(x)``); their gradients are small graphs. Activations
and losses are compositions of elementwise ops, chosen so that neither the
values nor the gradients form inf or nan where the math has none.
"""
import numpy as np

from arignote.errors import ArignoteTypeError, describe
from arignote.graph.basic import Apply
from arignote.graph.op import Op
from arignote.graph.type import TensorType
from arignote.ops import elemwise as E
from arignote.ops.basic import as_tensor_variable
from arignote.ops.construct import arange
from arignote.ops.dimshuffle import DimShuffle
from arignote.ops.reduce import Reduce, argmax, normalize_axis
from arignote.ops.reduce import sum as _sum


class Softmax(Op):
    """``exp(x) / sum(exp(x))`` along ``axis``, with the maximum subtracted first."""

    __props__ = ("axis",)
    fusion_kind = "opaque"  # a reduction broadcast back against its own input: a row kernel

    def __init__(self, axis=-1):
        if isinstance(axis, (bool, np.bool_)) or not isinstance(axis, (int, np.integer)):
            raise ArignoteTypeError(f"{type(self).__name__.lower()}: axis must be an int, got {axis!r}")
        self.axis = int(axis)

    def make_node(self, x):
        x = as_tensor_variable(x)
        name = type(self).__name__.lower()
        if x.ndim == 0 or x.dtype.startswith("complex"):
            raise ArignoteTypeError(f"{name} needs a real tensor with at least one dimension, got "
                                    f"{describe(x)} of type {x.type}")
        (axis,) = normalize_axis(x, self.axis, name, allow_tuple=False)
        if axis != self.axis:
            return type(self)(axis).make_node(x)
        dtype = np.exp(np.zeros(0, x.dtype)).dtype  # NumPy's float type for exp of x
        return Apply(self, [x], [TensorType(dtype, x.type.shape)])

    def perform(self, node, inputs):
        (x,) = inputs
        dtype = node.outputs[0].dtype
        if x.size == 0:
            return [np.zeros(x.shape, dtype)]
        x = x.astype(dtype, copy=False)
        with np.errstate(all="ignore"):
            shift = np.max(x, axis=self.axis, keepdims=True)
            shifted = x - np.where(np.isfinite(shift), shift, 0)
            return [np.asarray(self._forward(shifted), dtype=dtype)]

    def _forward(self, shifted):
        e = np.exp(shifted)
        return e / np.sum(e, axis=self.axis, keepdims=True)

    def L_op(self, inputs, outputs, output_grads):
        (x,), (out,), (gz,) = inputs, outputs, output_grads
        if not x.type.is_float:
            return [None]
        return [self._grad(out, gz)]

    def _grad(self, sm, gz):
        return sm * (gz - _sum(gz * sm, axis=self.axis, keepdims=True))

    def infer_shape(self, node, input_shapes):
        return [tuple(input_shapes[0])]


def elementwise_inputs(v, name):
    """``v``'s inputs if it is the elementwise ``name``(...), else None."""
    op = v.owner.op if v.owner is not None else None
    scalar = getattr(op, "scalar_op", None)
    return v.owner.inputs if scalar is not None and scalar.name == name else None


def _kept_reduction(v, combiner):
    """(x, axis) if ``v`` is ``combiner(x, axis)`` over one axis kept in place: with
    ``keepdims=True``, or Theano's ``x.sum(axis=1).dimshuffle(0, 'x')``."""
    node = v.owner
    if node is not None and isinstance(node.op, DimShuffle):
        inner = node.inputs[0].owner
        order = node.op.new_order
        if inner is None or not isinstance(inner.op, Reduce) or inner.op.keepdims or \
                len(inner.op.axis or ()) != 1 or order.count("x") != 1:
            return None
        (axis,) = inner.op.axis
        rest = [o for o in order if o != "x"]
        if order.index("x") != axis or rest != list(range(len(rest))):
            return None
        node = inner
    elif node is None or not isinstance(node.op, Reduce) or not node.op.keepdims:
        return None
    op = node.op
    if op.combiner != combiner or op.dtype is not None or len(op.axis or ()) != 1:
        return None
    return node.inputs[0], op.axis[0] % node.inputs[0].ndim


def written_softmax(v):
    """(x, axis, e, s) if ``v`` is a softmax written by hand, ``e / s`` with
    ``e = exp(x - max(x, axis))`` (or ``exp(x)``) and ``s = sum(e, axis)``, the
    reductions keeping their axis; else None. The stabilizer turns such a ``v`` into
    :class:`Softmax`, and ``grad`` differentiates it as one, so both the value and
    the gradient take the stable forms."""
    if elementwise_inputs(v, "true_div") is None:
        return None
    e, s = v.owner.inputs
    summed = _kept_reduction(s, "sum")
    arg = elementwise_inputs(e, "exp")
    if summed is None or arg is None or summed[0] is not e:
        return None
    (x,), axis = arg, summed[1]
    diff = elementwise_inputs(x, "sub")
    if diff is not None:
        peak = _kept_reduction(diff[1], "max")
        if peak is not None and peak[0] is diff[0] and peak[1] == axis:
            x = diff[0]
    if not x.type.is_float or x.ndim != e.ndim:
        return None
    return x, axis, e, s


class LogSoftmax(Softmax):
    """``x - logsumexp(x)`` along ``axis``: finite where softmax underflows to 0."""

    def _forward(self, shifted):
        return shifted - np.log(np.sum(np.exp(shifted), axis=self.axis, keepdims=True))

    def _grad(self, out, gz):
        return gz - E.exp(out) * _sum(gz, axis=self.axis, keepdims=True)


def softmax(x, axis=-1):
    """Softmax along ``axis`` (default: the last, i.e. each row of a matrix)."""
    return Softmax(axis)(x)


def log_softmax(x, axis=-1):
    """``log(softmax(x))`` computed without forming the softmax."""
    return LogSoftmax(axis)(x)


logsoftmax = log_softmax  # Theano's name


# ------------------------------------------------------------ activations

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def relu(x, alpha=0):
    """``max(x, 0)``; with ``alpha``, the leaky version ``x if x > 0 else alpha * x``."""
    x = as_tensor_variable(x)
    if isinstance(alpha, (int, float)) and alpha == 0:
        return E.maximum(x, 0)
    return E.switch(E.gt(x, 0), x, alpha * x)


def elu(x, alpha=1.0):
    """``x if x > 0 else alpha * (exp(x) - 1)``."""
    x = as_tensor_variable(x)
    # expm1 of min(x, 0): the unused branch never overflows, so its gradient stays finite
    return E.switch(E.gt(x, 0), x, alpha * E.expm1(E.minimum(x, 0)))


def selu(x):
    """Self-normalizing ELU (Klambauer et al. 2017)."""
    return SELU_SCALE * elu(x, SELU_ALPHA)


def hard_sigmoid(x):
    """Theano's piecewise-linear sigmoid: ``clip(0.2 * x + 0.5, 0, 1)``."""
    return E.clip(0.2 * as_tensor_variable(x) + 0.5, 0, 1)


def softsign(x):
    """``x / (1 + |x|)``."""
    x = as_tensor_variable(x)
    return x / (1 + E.abs(x))


# ------------------------------------------------------------ losses

def _pick(dist, labels, fn):
    """``dist[i, labels[i]]`` for each row i: the entry of each row's true class."""
    if dist.ndim != 2 or labels.ndim != 1 or not labels.type.is_integer or labels.dtype == "bool":
        raise ArignoteTypeError(
            f"{fn}: class labels must be an integer vector with one entry per row of a matrix of "
            f"class scores, got {describe(labels)} ({labels.type}) for {describe(dist)} ({dist.type}); "
            f"a distribution over classes must have the rank of the scores")
    return dist[arange(dist.shape[0]), labels]


def categorical_crossentropy(coding_dist, true_dist):
    """``-sum(true_dist * log(coding_dist), axis=-1)``.

    ``true_dist`` is a distribution per row (one-hot or not) of the shape of
    ``coding_dist``, or (Theano's 1-hot form) an integer vector of class labels,
    one per row of the matrix ``coding_dist``.
    """
    p, t = as_tensor_variable(coding_dist), as_tensor_variable(true_dist)
    if t.ndim == p.ndim:
        return -_sum(t * E.log(p), axis=-1)
    return -E.log(_pick(p, t, "categorical_crossentropy"))


def binary_crossentropy(output, target):
    """``-(target * log(output) + (1 - target) * log(1 - output))``, elementwise.
    Of ``sigmoid(x)``, it is built from ``x`` (:func:`sigmoid_binary_crossentropy`):
    finite, and with a finite gradient, for any ``x``."""
    p, t = as_tensor_variable(output), as_tensor_variable(target)
    if p.owner is not None and getattr(p.owner.op, "scalar_op", None) is not None \
            and p.owner.op.scalar_op.name == "sigmoid":
        return sigmoid_binary_crossentropy(p.owner.inputs[0], t)
    return -(t * E.log(p) + (1 - t) * E.log1p(-p))


def sigmoid_binary_crossentropy(logits, target):
    """``binary_crossentropy(sigmoid(logits), target)`` computed stably from the logits."""
    x, t = as_tensor_variable(logits), as_tensor_variable(target)
    return E.softplus(x) - t * x


def softmax_cross_entropy_with_logits(logits, labels):
    """``categorical_crossentropy(softmax(logits), labels)`` computed stably from the logits;
    ``labels`` is a distribution per row or an integer vector of classes."""
    x, t = as_tensor_variable(logits), as_tensor_variable(labels)
    logp = log_softmax(x, axis=-1)
    if t.ndim == x.ndim:
        return -_sum(t * logp, axis=-1)
    return -_pick(logp, t, "softmax_cross_entropy_with_logits")


def crossentropy_softmax_argmax_1hot_with_bias(x, b, y_idx):
    """Theano's fused loss: ``(nll, softmax(x + b), argmax(x + b))`` per row, ``nll``
    the cross-entropy of the integer labels ``y_idx``, from the log-softmax (stable;
    labels are bounds-checked by the indexing)."""
    z = as_tensor_variable(x) + b
    return (-_pick(log_softmax(z), as_tensor_variable(y_idx), "crossentropy_softmax_1hot"),
            softmax(z), argmax(z, axis=-1))


def crossentropy_softmax_1hot_with_bias(x, b, y_idx):
    """``(nll, softmax(x + b))``: see :func:`crossentropy_softmax_argmax_1hot_with_bias`."""
    return crossentropy_softmax_argmax_1hot_with_bias(x, b, y_idx)[:2]


def crossentropy_softmax_1hot(x, y_idx):
    """``(nll, softmax(x))`` for integer labels ``y_idx`` (Theano's tutorials' form)."""
    return crossentropy_softmax_1hot_with_bias(x, 0, y_idx)


def xlogx(x):
    """``x * log(x)``, 0 at ``x = 0`` (entropies); the gradient there is 0, not -inf."""
    x = as_tensor_variable(x)
    return xlogy0(x, x)


def xlogy0(x, y):
    """``x * log(y)``, 0 where ``x = 0`` whatever ``y``; no nan in the gradient there
    (the logarithm reads 1 where ``x`` is 0)."""
    x, y = as_tensor_variable(x), as_tensor_variable(y)
    zero = E.eq(x, 0)
    return E.switch(zero, 0, x * E.log(E.switch(zero, 1, y)))


__all__ = ["Softmax", "LogSoftmax", "softmax", "log_softmax", "logsoftmax", "relu", "elu", "selu",
           "hard_sigmoid", "softsign", "categorical_crossentropy", "binary_crossentropy",
           "sigmoid_binary_crossentropy", "softmax_cross_entropy_with_logits",
           "crossentropy_softmax_argmax_1hot_with_bias", "crossentropy_softmax_1hot_with_bias",
           "crossentropy_softmax_1hot", "xlogx", "xlogy0", "SELU_ALPHA", "SELU_SCALE"]
