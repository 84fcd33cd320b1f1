"""Elementwise ops: one scalar function broadcast over tensors.

The scalar functions are rows of one table (:data:`SCALAR_OPS`): a name, the
NumPy implementation (the oracle) and the gradient as a small graph-building
function. One :class:`Elemwise` op applies any of them with NumPy 2's dtype
promotion (Python scalars are weak) and broadcasting; the public functions
(``T.exp``, ``T.add``...) are generated from the same table.

Broadcasting follows the static types: inputs of lower rank get leading
broadcastable dimensions, and a dimension broadcasts only where its static
size is 1. Two ``None`` dimensions must agree at run time (an input that
happens to have size 1 there is an error, not a silent broadcast), so the
gradient's reduction over broadcast axes is known when the graph is built.
"""
import math

import numpy as np

from arignote.errors import ArignoteTypeError, ShapeError, describe
from arignote.graph.basic import Apply, Constant
from arignote.graph.op import Op
from arignote.graph.type import TensorType
from arignote.ops.basic import as_tensor_variable, constant


# ------------------------------------------------------------ scalar impls

def _erf_impl(name):
    fn = getattr(math, name)

    def impl(x):
        x = np.asarray(x)
        dtype = np.exp(np.zeros(0, x.dtype)).dtype
        return np.vectorize(fn, otypes=[dtype])(x) if x.size else np.zeros(x.shape, dtype)
    impl.__name__ = name
    return impl


def _sigmoid(x):
    x = np.asarray(x)
    with np.errstate(over="ignore"):
        e = np.exp(-np.abs(x))
        return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(e.dtype)


def _softplus(x):
    x = np.asarray(x)
    with np.errstate(over="ignore"):
        return (np.log1p(np.exp(-np.abs(x))) + np.maximum(x, 0)).astype(np.exp(np.zeros(0, x.dtype)).dtype)


def _second(a, b):
    """b broadcast to the shape of a (and b): how ``fill``/``zeros_like`` build values."""
    b = np.asarray(b)
    return np.array(np.broadcast_to(b, np.broadcast_shapes(np.shape(a), b.shape)))


def _identity(x):
    return np.array(x)


# ------------------------------------------------------------ the table

class ScalarOp:
    """A scalar function: name, arity, NumPy implementation, gradient.

    ``grad(inputs, output, gz)`` returns one symbolic gradient per input
    (``None`` for no gradient). ``differentiable=False`` marks ops whose
    output is discrete (comparisons, bitwise ops): no gradient flows.
    Instances are singletons in :data:`SCALAR_OPS`; they pickle by name.
    """

    def __init__(self, name, nin, impl, grad=None, differentiable=True):
        self.name, self.nin, self.impl = name, nin, impl
        self._grad, self.differentiable = grad, differentiable

    def __reduce__(self):
        return scalar_op, (self.name,)

    def __eq__(self, other):
        return isinstance(other, ScalarOp) and self.name == other.name

    def __hash__(self):
        return hash(self.name)

    def __repr__(self):
        return self.name

    def grad(self, inputs, output, gz):
        if not self.differentiable:
            return [None] * self.nin
        if self._grad is None:
            raise NotImplementedError(f"the gradient of {self.name} is not implemented")
        return self._grad(*inputs, output, gz)


SCALAR_OPS = {}


def scalar_op(name):
    """The scalar op called ``name`` (casts are ``cast_<dtype>``)."""
    return SCALAR_OPS[name]


def _zeros(x):
    return zeros_like(x)


def _where(cond, a, b):
    return switch(cond, a, b)


LN2, LN10 = math.log(2), math.log(10)
TWO_OVER_SQRT_PI = 2 / math.sqrt(math.pi)

# name: (nin, implementation, gradient(*inputs, out, gz) -> per-input list)
_DIFFERENTIABLE = {
    # unary
    "neg": (1, np.negative, lambda x, o, gz: [-gz]),
    "abs": (1, np.abs, lambda x, o, gz: [gz * sign(x)]),
    "exp": (1, np.exp, lambda x, o, gz: [gz * o]),
    "exp2": (1, np.exp2, lambda x, o, gz: [gz * o * LN2]),
    "log": (1, np.log, lambda x, o, gz: [gz / x]),
    "log2": (1, np.log2, lambda x, o, gz: [gz / (x * LN2)]),
    "log10": (1, np.log10, lambda x, o, gz: [gz / (x * LN10)]),
    "log1p": (1, np.log1p, lambda x, o, gz: [gz / (x + 1)]),
    "expm1": (1, np.expm1, lambda x, o, gz: [gz * (o + 1)]),
    "sqrt": (1, np.sqrt, lambda x, o, gz: [gz * 0.5 / o]),
    "sqr": (1, np.square, lambda x, o, gz: [gz * 2 * x]),
    "reciprocal": (1, np.reciprocal, lambda x, o, gz: [-gz * sqr(o)]),
    "sin": (1, np.sin, lambda x, o, gz: [gz * cos(x)]),
    "cos": (1, np.cos, lambda x, o, gz: [-gz * sin(x)]),
    "tan": (1, np.tan, lambda x, o, gz: [gz * (sqr(o) + 1)]),
    "arcsin": (1, np.arcsin, lambda x, o, gz: [gz / sqrt(1 - sqr(x))]),
    "arccos": (1, np.arccos, lambda x, o, gz: [-gz / sqrt(1 - sqr(x))]),
    "arctan": (1, np.arctan, lambda x, o, gz: [gz / (sqr(x) + 1)]),
    "sinh": (1, np.sinh, lambda x, o, gz: [gz * cosh(x)]),
    "cosh": (1, np.cosh, lambda x, o, gz: [gz * sinh(x)]),
    "tanh": (1, np.tanh, lambda x, o, gz: [gz * (1 - sqr(o))]),
    "arcsinh": (1, np.arcsinh, lambda x, o, gz: [gz / sqrt(sqr(x) + 1)]),
    "arccosh": (1, np.arccosh, lambda x, o, gz: [gz / sqrt(sqr(x) - 1)]),
    "arctanh": (1, np.arctanh, lambda x, o, gz: [gz / (1 - sqr(x))]),
    "erf": (1, _erf_impl("erf"), lambda x, o, gz: [gz * TWO_OVER_SQRT_PI * exp(-sqr(x))]),
    "erfc": (1, _erf_impl("erfc"), lambda x, o, gz: [-gz * TWO_OVER_SQRT_PI * exp(-sqr(x))]),
    "sigmoid": (1, _sigmoid, lambda x, o, gz: [gz * o * (1 - o)]),
    "softplus": (1, _softplus, lambda x, o, gz: [gz * sigmoid(x)]),
    "identity": (1, _identity, lambda x, o, gz: [gz]),
    # piecewise constant: the gradient is zero where defined
    "floor": (1, np.floor, lambda x, o, gz: [_zeros(x)]),
    "ceil": (1, np.ceil, lambda x, o, gz: [_zeros(x)]),
    "round": (1, np.round, lambda x, o, gz: [_zeros(x)]),
    "trunc": (1, np.trunc, lambda x, o, gz: [_zeros(x)]),
    "sign": (1, np.sign, lambda x, o, gz: [_zeros(x)]),
    # binary
    "add": (2, np.add, lambda x, y, o, gz: [gz, gz]),
    "sub": (2, np.subtract, lambda x, y, o, gz: [gz, -gz]),
    "mul": (2, np.multiply, lambda x, y, o, gz: [gz * y, gz * x]),
    "true_div": (2, np.true_divide, lambda x, y, o, gz: [gz / y, -gz * o / y]),
    "floor_div": (2, np.floor_divide, lambda x, y, o, gz: [_zeros(x), _zeros(y)]),
    "mod": (2, np.mod, lambda x, y, o, gz: [gz, -gz * floor_div(x, y)]),
    "pow": (2, np.power, lambda x, y, o, gz: [
        gz * y * pow(x, y - 1),
        gz * o * log(_where(gt(x, 0), x, 1))]),
    "maximum": (2, np.maximum, lambda x, y, o, gz: [
        _where(ge(x, y), gz, 0), _where(lt(x, y), gz, 0)]),
    "minimum": (2, np.minimum, lambda x, y, o, gz: [
        _where(le(x, y), gz, 0), _where(gt(x, y), gz, 0)]),
    "arctan2": (2, np.arctan2, lambda y, x, o, gz: [
        gz * x / (sqr(x) + sqr(y)), -gz * y / (sqr(x) + sqr(y))]),
    "second": (2, _second, lambda a, b, o, gz: [None, gz]),
    # ternary
    "switch": (3, np.where, lambda c, a, b, o, gz: [None, _where(c, gz, 0), _where(c, 0, gz)]),
    "clip": (3, np.clip, lambda x, lo, hi, o, gz: [
        _where(and_(ge(x, lo), le(x, hi)), gz, 0),
        _where(lt(x, lo), gz, 0),
        _where(gt(x, hi), gz, 0)]),
}

# discrete outputs: no gradient flows through these
_DISCRETE = {
    "eq": (2, np.equal), "neq": (2, np.not_equal), "lt": (2, np.less),
    "le": (2, np.less_equal), "gt": (2, np.greater), "ge": (2, np.greater_equal),
    "and_": (2, np.bitwise_and), "or_": (2, np.bitwise_or), "xor": (2, np.bitwise_xor),
    "invert": (1, np.invert), "isnan": (1, np.isnan), "isinf": (1, np.isinf),
    "isfinite": (1, np.isfinite), "logical_not": (1, np.logical_not),
}

for _name, (_nin, _impl, _grad) in _DIFFERENTIABLE.items():
    SCALAR_OPS[_name] = ScalarOp(_name, _nin, _impl, _grad)
for _name, (_nin, _impl) in _DISCRETE.items():
    SCALAR_OPS[_name] = ScalarOp(_name, _nin, _impl, differentiable=False)


class Cast(ScalarOp):
    """Conversion to ``dtype`` (NumPy ``astype``: unsafe casting, C semantics)."""

    def __init__(self, dtype):
        super().__init__(f"cast_{dtype}", 1, self._impl)
        self.dtype = dtype

    def _impl(self, x):
        return np.asarray(x).astype(self.dtype)

    def grad(self, inputs, output, gz):
        (x,) = inputs
        return [cast(gz, x.dtype) if x.type.is_float or x.dtype.startswith("complex") else None]


for _dtype in ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
               "float16", "float32", "float64", "complex64", "complex128"):
    SCALAR_OPS[f"cast_{_dtype}"] = Cast(_dtype)


# ------------------------------------------------------------ the op

class Elemwise(Op):
    """Apply ``scalar_op`` elementwise with broadcasting."""

    __props__ = ("scalar_op",)
    fusion_kind = "elemwise"

    def __init__(self, scalar_op):
        self.scalar_op = scalar_op

    def __str__(self):
        return f"Elemwise{{{self.scalar_op.name}}}"

    def make_node(self, *inputs):
        sop = self.scalar_op
        if len(inputs) != sop.nin:
            raise ArignoteTypeError(f"{sop.name} takes {sop.nin} input(s), got {len(inputs)}")
        inputs = _resolve_weak([as_tensor_variable(i) for i in inputs], sop)
        ndim = max(i.ndim for i in inputs)
        shape = _broadcast_static(sop.name, inputs, ndim)
        inputs = [_expand_rank(i, ndim) for i in inputs]
        try:
            with np.errstate(all="ignore"):
                dtype = np.asarray(sop.impl(*[np.zeros((0,) * bool(ndim), i.dtype) for i in inputs])).dtype
        except (TypeError, ValueError) as e:
            kinds = ", ".join(f"{describe(i)}: {i.dtype}" for i in inputs)
            raise ArignoteTypeError(f"{sop.name} is not defined for inputs ({kinds}): {e}") from None
        return Apply(self, inputs, [TensorType(dtype, shape)])

    def perform(self, node, inputs):
        _check_runtime_broadcast(node, inputs)
        with np.errstate(all="ignore"):
            out = self.scalar_op.impl(*inputs)
        return [np.asarray(out, dtype=node.outputs[0].dtype)]

    def L_op(self, inputs, outputs, output_grads):
        (gz,), (out,) = output_grads, outputs
        grads = self.scalar_op.grad(inputs, out, gz)
        return [None if g is None or not (x.type.is_float or x.dtype.startswith("complex"))
                else reduce_to_broadcast(as_tensor_variable(g), x)
                for x, g in zip(inputs, grads)]

    def infer_shape(self, node, input_shapes):
        out = []
        for d, static in enumerate(node.outputs[0].type.shape):
            if static is not None:
                out.append(as_tensor_variable(np.int64(static)))
                continue
            dims = [s[d] for s, i in zip(input_shapes, node.inputs) if i.type.shape[d] != 1]
            out.append(dims[0])
        return [tuple(out)]


def reduce_to_broadcast(g, x):
    """Sum the gradient ``g`` over the dimensions where ``x`` was broadcast.

    (Reductions and dimshuffles are op families above this one: it reaches
    them through the variable's methods, bound in :mod:`arignote.ops.variable`.)
    """
    axes = tuple(d for d, (xs, gs) in enumerate(zip(x.type.shape, g.type.shape)) if xs == 1 and gs != 1)
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    return g


def _expand_rank(x, ndim):
    """``x`` with leading broadcastable dimensions up to ``ndim`` (constants stay constants)."""
    missing = ndim - x.ndim
    if not missing:
        return x
    if isinstance(x, Constant):
        return constant(x.data.reshape((1,) * missing + x.data.shape))
    return x.dimshuffle(["x"] * missing + list(range(x.ndim)))


def _resolve_weak(inputs, sop):
    """Give weak (Python scalar) constants the dtype NumPy 2 would give them."""
    weak = [isinstance(i, Constant) and getattr(i, "weak", False) for i in inputs]
    if not any(weak) or all(weak):
        return inputs
    strong = [i.dtype for i, w in zip(inputs, weak) if not w]
    values = [i.data.item() for i, w in zip(inputs, weak) if w]
    try:
        dtype = np.result_type(*strong, *values)
    except (OverflowError, TypeError, ValueError) as e:
        others = ", ".join(f"{describe(v)} ({v.dtype})" for v, w in zip(inputs, weak) if not w)
        raise ArignoteTypeError(f"{sop.name}: cannot combine the Python value(s) {values} with "
                                f"{others}: {e}") from None
    out = []
    for i, w in zip(inputs, weak):
        if w:
            try:
                with np.errstate(all="ignore"):
                    data = np.asarray(i.data.item(), dtype=dtype)
            except OverflowError:  # NumPy 2 refuses out-of-range Python ints
                data = None
            if data is None or data.dtype.kind in "iub" and data.item() != i.data.item():
                others = ", ".join(f"{describe(v)} ({v.dtype})" for v, w in zip(inputs, weak) if not w)
                raise ArignoteTypeError(
                    f"{sop.name}: the Python value {i.data.item()!r} does not fit in {dtype}, the "
                    f"dtype NumPy 2 gives it next to {others}; cast one of them first")
            i = constant(data)
        out.append(i)
    return out


def _broadcast_static(name, inputs, ndim):
    """The output's static shape; lower-rank inputs count as padded with leading 1s."""
    padded = [(1,) * (ndim - i.ndim) + i.type.shape for i in inputs]
    shape = []
    for d in range(ndim):
        sizes = {p[d] for p in padded} - {1}
        known = sizes - {None}
        if len(known) > 1:
            shapes = ", ".join(f"{describe(i)} of static shape {i.type.shape}" for i in inputs)
            raise ShapeError(f"{name}: {shapes} cannot be broadcast together "
                             f"(dimension {d}: sizes {sorted(known)})")
        shape.append(known.pop() if known else (None if None in sizes else 1))
    return tuple(shape)


def _check_runtime_broadcast(node, inputs):
    ndim = node.outputs[0].ndim
    if ndim == 0 or len(inputs) == 1:
        return
    for d in range(ndim):
        size = None
        for var, val in zip(node.inputs, inputs):
            if var.type.shape[d] == 1:
                continue
            if size is None:
                size = val.shape[d]
            elif val.shape[d] != size:
                shapes = ", ".join(f"{describe(var)} of shape {v.shape}"
                                   for var, v in zip(node.inputs, inputs))
                raise ShapeError(
                    f"{node.op}: inputs {shapes} do not match in dimension {d} "
                    f"({size} vs {val.shape[d]}). Only dimensions of static size 1 broadcast; "
                    f"declare them with T.row/T.col, shape=(.., 1, ..) or T.addbroadcast")


# ------------------------------------------------------------ public functions

def _make_function(name):
    op = Elemwise(SCALAR_OPS[name])

    def fn(*args):
        return op(*args)

    fn.__name__ = name
    fn.__doc__ = f"Elementwise ``{name}`` with NumPy broadcasting and dtype promotion."
    return fn


ELEMWISE_FUNCTIONS = {name: _make_function(name) for name in [*_DIFFERENTIABLE, *_DISCRETE]}
globals().update(ELEMWISE_FUNCTIONS)


def cast(x, dtype):
    """``x`` converted to ``dtype`` (a no-op when it already has it)."""
    x = as_tensor_variable(x)
    dtype = np.dtype(dtype).name
    if x.dtype == dtype:
        return x
    return Elemwise(SCALAR_OPS[f"cast_{dtype}"])(x)


def astype(x, dtype):
    """``x`` cast to ``dtype`` (NumPy's method name for :func:`cast`)."""
    return cast(x, dtype)


def zeros_like(x, dtype=None):
    """Zeros of the shape (and by default the dtype) of ``x``."""
    x = as_tensor_variable(x)
    return second(x, constant(np.zeros((), dtype or x.dtype)))


def ones_like(x, dtype=None):
    """Ones of the shape (and by default the dtype) of ``x``."""
    x = as_tensor_variable(x)
    return second(x, constant(np.ones((), dtype or x.dtype)))


def where(cond, a, b):
    """NumPy's three-argument ``where``; Theano calls it ``switch``."""
    return switch(cond, a, b)


def fill(model, value):
    """``value`` broadcast to the shape of ``model`` (Theano's ``fill``)."""
    return second(model, value)


true_divide, floor_divide, power, subtract, multiply = true_div, floor_div, pow, sub, mul
int_div, square, bitwise_and, bitwise_or, bitwise_xor = floor_div, sqr, and_, or_, xor
abs_, not_equal, equal = abs, neq, eq

__all__ = [*ELEMWISE_FUNCTIONS, "cast", "astype", "zeros_like", "ones_like", "where", "fill", "true_divide",
           "floor_divide", "power", "subtract", "multiply", "int_div", "square",
           "bitwise_and", "bitwise_or", "bitwise_xor", "abs_", "not_equal", "equal",
           "Elemwise", "ScalarOp", "Cast", "SCALAR_OPS", "scalar_op", "reduce_to_broadcast"]
