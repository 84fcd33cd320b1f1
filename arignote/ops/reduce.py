"""Reductions: one op folds a tensor along some axes with a combiner.

The combiners are rows of one table (:data:`COMBINERS`): NumPy's
implementation (the oracle), the gradient as a small graph-building function,
and whether it takes a ``dtype``, takes an ``initial`` value or yields an
index. One :class:`Reduce` op applies any of them; its parameters are the
combiner's name, the normalized axis tuple and ``keepdims`` (plus NumPy's
``dtype`` and ``initial`` where given), so equal reductions merge. Rewrites
that drop or merge reductions must respect ``initial`` (it is added once).
``mean``, ``var``, ``std`` and ``logsumexp`` are composed from the
primitives, so their gradients come for free.

Gradient conventions:

* ``max``/``min``: every entry equal to the result receives the full output
  gradient (ties are not split; a NaN result passes no gradient).
* ``prod``: the gradient of an entry is the product of the others. It is
  computed as ``prod / x`` where the slice has no zero, exactly as the product
  of the non-zero entries at the single zero of a slice with one zero, and 0
  where a slice has two zeros or more; no inf or NaN is ever formed, so
  second derivatives stay finite.
* ``all``/``any``/``argmax``/``argmin``: no gradient (discrete outputs).
"""
import builtins
from collections import namedtuple

import numpy as np

from arignote.errors import ArignoteTypeError, ArignoteValueError, built_at, describe
from arignote.graph.basic import Apply, Constant
from arignote.graph.op import Op
from arignote.graph.type import TensorType, normalize_dtype
from arignote.ops.basic import as_tensor_variable, constant
from arignote.ops.elemwise import abs_, cast, eq, exp, fill, isfinite, log, maximum, sqr, sqrt, switch
from arignote.ops.shape import dimshuffle
from arignote.ops.static_shape import shape as shape_of


# ------------------------------------------------------------ gradients

def _keep(op, g):
    """``g`` (the shape of the op's output) with the reduced axes back as size 1."""
    if op.keepdims:
        return g
    kept = iter(range(g.ndim))
    ndim = g.ndim + len(op.axis)
    return dimshuffle(g, ["x" if d in op.axis else next(kept) for d in range(ndim)])


def _sum_grad(op, x, out, gz):
    return fill(x, _keep(op, gz))


def _prod_grad(op, x, out, gz):
    zero = eq(x, 0)
    safe = switch(zero, 1, x)
    nonzero_prod = Reduce("prod", op.axis, True)(safe)
    n_zeros = Reduce("sum", op.axis, True)(zero)
    others = switch(zero, switch(eq(n_zeros, 1), nonzero_prod, 0),
                    switch(eq(n_zeros, 0), nonzero_prod / safe, 0))
    if op.initial is not None:
        others = others * op.initial
    return _keep(op, gz) * others


def _extremum_grad(op, x, out, gz):
    return _keep(op, gz) * eq(x, _keep(op, out))


Combiner = namedtuple("Combiner", "impl grad takes_dtype takes_initial index")

# name: NumPy implementation, gradient(op, x, out, gz) or None, takes dtype=, takes initial=,
# yields an index
COMBINERS = {
    "sum": Combiner(np.sum, _sum_grad, True, True, False),
    "prod": Combiner(np.prod, _prod_grad, True, True, False),
    "max": Combiner(np.max, _extremum_grad, False, True, False),
    "min": Combiner(np.min, _extremum_grad, False, True, False),
    "all": Combiner(np.all, None, False, False, False),
    "any": Combiner(np.any, None, False, False, False),
    "argmax": Combiner(np.argmax, None, False, False, True),
    "argmin": Combiner(np.argmin, None, False, False, True),
}


# ------------------------------------------------------------ the op

class Reduce(Op):
    """Fold the input along ``axis`` (a sorted tuple) with the combiner ``combiner``.

    ``dtype`` (sum/prod only) is NumPy's accumulator and result dtype; None
    keeps NumPy's default (int32 sums to int64, bool to int64). ``initial``
    (a Python number, sum/prod/max/min only) is NumPy's starting value: it
    makes ``max`` of nothing defined. Index combiners reduce one axis, or all
    axes at once (the flat index).
    """

    __props__ = ("combiner", "axis", "keepdims", "dtype", "initial")
    fusion_kind = "reduce"

    def __init__(self, combiner, axis, keepdims=False, dtype=None, initial=None):
        if combiner not in COMBINERS:
            raise ArignoteValueError(f"unknown reduction {combiner!r}; known: {', '.join(COMBINERS)}")
        self.combiner = combiner
        self.axis = tuple(sorted(int(a) for a in axis))
        self.keepdims = bool(keepdims)
        if dtype is not None and not COMBINERS[combiner].takes_dtype:
            raise ArignoteTypeError(f"{combiner} takes no dtype argument")
        self.dtype = None if dtype is None else normalize_dtype(dtype)
        if initial is not None and not COMBINERS[combiner].takes_initial:
            raise ArignoteTypeError(f"{combiner} takes no initial argument")
        if initial is not None and (not isinstance(initial, (int, float, np.integer, np.floating))
                                    or isinstance(initial, (bool, np.bool_)) or initial != initial):
            raise ArignoteTypeError(f"{combiner}: initial must be a number (not nan), got {initial!r}")
        self.initial = initial.item() if isinstance(initial, np.generic) else initial

    def _props(self):  # initial 0.0 and -0.0 are equal numbers but give max/min different signs
        return super()._props() + (self.initial is not None and bool(np.signbit(self.initial)),)

    def __str__(self):
        extra = ((", keepdims" if self.keepdims else "") + (f", dtype={self.dtype}" if self.dtype else "")
                 + (f", initial={self.initial}" if self.initial is not None else ""))
        return f"Reduce{{{self.combiner}, axis={self.axis}{extra}}}"

    def make_node(self, x):
        x = as_tensor_variable(x)
        if builtins.any(not 0 <= a < x.ndim for a in self.axis) or len(set(self.axis)) != len(self.axis):
            raise ArignoteValueError(f"{self}: axes {self.axis} do not fit {describe(x)} with {x.ndim} "
                                     f"dimension(s){built_at(x)}")
        comb = COMBINERS[self.combiner]
        if comb.index and len(self.axis) not in (1, x.ndim):
            raise ArignoteValueError(f"{self}: {self.combiner} reduces one axis or all of them, got "
                                     f"axes {self.axis} of {describe(x)}")
        if comb.index:
            dtype = "int64"
        else:
            try:
                dtype = comb.impl(np.zeros(1, x.dtype), **self._kw()).dtype
            except (TypeError, ValueError, OverflowError) as e:
                raise ArignoteTypeError(f"{self.combiner} is not defined for {describe(x)} of dtype "
                                        f"{x.dtype}: {e}") from None
        shape = tuple(1 if d in self.axis else s for d, s in enumerate(x.type.shape)
                      if self.keepdims or d not in self.axis)
        return Apply(self, [x], [TensorType(dtype, shape)])

    def _kw(self):
        return {k: getattr(self, k) for k in ("dtype", "initial") if getattr(self, k) is not None}

    def perform(self, node, inputs):
        (x,) = inputs
        comb = COMBINERS[self.combiner]
        if comb.index:
            axis, kw = (self.axis[0] if len(self.axis) == 1 else None), {}
        else:
            axis, kw = self.axis, self._kw()
        empty = [a for a in self.axis if x.shape[a] == 0]
        try:
            with np.errstate(all="ignore"):
                out = comb.impl(x, axis=axis, keepdims=self.keepdims, **kw)
        except ValueError as e:
            raise ArignoteValueError(
                f"{self} of {describe(node.inputs[0])}: cannot reduce an input of shape {x.shape} "
                f"(axes {empty} have size 0 and {self.combiner} of nothing is undefined): {e}") from None
        out = np.asarray(out, dtype=node.outputs[0].dtype)
        return [out.copy() if np.may_share_memory(out, x) else out]

    def L_op(self, inputs, outputs, output_grads):
        (x,), (out,), (gz,) = inputs, outputs, output_grads
        grad = COMBINERS[self.combiner].grad
        if grad is None or not (x.type.is_float or x.dtype.startswith("complex")):
            return [None]
        return [grad(self, x, out, gz)]

    def infer_shape(self, node, input_shapes):
        (shape,) = input_shapes
        out = [s for d, s in enumerate(shape) if self.keepdims or d not in self.axis]
        # reduced axes kept by keepdims have static size 1
        return [tuple(s if static is None else constant(np.int64(static))
                      for s, static in zip(out, node.outputs[0].type.shape))]


# ------------------------------------------------------------ axis handling

def normalize_axis(x, axis, fn="reduction", allow_tuple=True):
    """``axis`` (None, an int, a negative int or a tuple) as a sorted tuple of axes of ``x``.

    Raises at build time, naming ``x``, for an axis out of range or repeated.
    """
    ndim = x.ndim
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, Constant) and axis.data.dtype.kind in "iu" and axis.data.ndim <= 1:
        axis = axis.data.tolist()
    many = isinstance(axis, (list, tuple))
    if many and not allow_tuple:
        raise ArignoteTypeError(f"{fn}: axis must be None or an int, got {axis!r} for {describe(x)}")
    axes = list(axis) if many else [axis]
    for a in axes:
        if isinstance(a, (bool, np.bool_)) or not isinstance(a, (int, np.integer)):
            raise ArignoteTypeError(f"{fn}: axis must be None, an int or a tuple of ints, got "
                                    f"{axis!r} for {describe(x)}")
        if not -ndim <= a < ndim:
            raise ArignoteValueError(
                f"{fn}: axis {int(a)} is out of range for {describe(x)} ({x.type}, {ndim} "
                f"dimension(s)); valid axes are {-ndim}..{ndim - 1}{built_at(x)}")
    norm = [int(a) % ndim for a in axes]
    if len(set(norm)) != len(norm):
        raise ArignoteValueError(f"{fn}: axis {axis!r} names dimension "
                                 f"{next(d for d in norm if norm.count(d) > 1)} of {describe(x)} "
                                 f"twice{built_at(x)}")
    return tuple(sorted(norm))


def _check_keepdims(fn, keepdims):
    if not isinstance(keepdims, (bool, np.bool_)):
        raise ArignoteTypeError(f"{fn}: keepdims must be True or False, got {keepdims!r}")
    return bool(keepdims)


def _default_dtype(name, dtype):
    return np.asarray(COMBINERS[name].impl(np.zeros(1, dtype))).dtype.name


def reduce(x, combiner, axis=None, keepdims=False, dtype=None, initial=None):
    """Fold ``x`` along ``axis`` with ``combiner`` (a name in :data:`COMBINERS`)."""
    x = as_tensor_variable(x)
    index = COMBINERS[combiner].index if combiner in COMBINERS else False
    axes = normalize_axis(x, axis, combiner, allow_tuple=not index)
    keepdims = _check_keepdims(combiner, keepdims)
    if dtype is not None:
        dtype = normalize_dtype(dtype)
        if dtype == _default_dtype(combiner, x.dtype):
            dtype = None  # the same computation: keep one op for it (merging)
    return Reduce(combiner, axes, keepdims, dtype, initial)(x)


# ------------------------------------------------------------ public functions

def _make_function(name):
    comb = COMBINERS[name]
    if comb.takes_dtype:
        def fn(x, axis=None, dtype=None, keepdims=False, initial=None):
            return reduce(x, name, axis, keepdims, dtype, initial)
    elif comb.takes_initial:
        def fn(x, axis=None, keepdims=False, initial=None):
            return reduce(x, name, axis, keepdims, initial=initial)
    else:
        def fn(x, axis=None, keepdims=False):
            return reduce(x, name, axis, keepdims)
    fn.__name__ = name
    fn.__doc__ = (f"NumPy's ``{name}`` over ``axis`` (None: every axis; an int, negative ints "
                  f"count from the end{'' if COMBINERS[name].index else '; a tuple'}).")
    return fn


REDUCE_FUNCTIONS = {name: _make_function(name) for name in COMBINERS}
# NumPy's names; inside this module the builtins they shadow are reached through ``builtins``
sum, prod, max, min, all, any, argmax, argmin = REDUCE_FUNCTIONS.values()


def _count(x, axes):
    """How many entries each reduction over ``axes`` folds: static when known, else from x.shape."""
    sizes = [x.type.shape[a] for a in axes]
    if None not in sizes:
        return constant(np.int64(np.prod(sizes, dtype="int64")))
    mask = constant(np.isin(np.arange(x.ndim), axes))
    return prod(switch(mask, shape_of(x), 1))


def _float_dtype(x, dtype):
    """NumPy's result dtype for mean/var: float64 for integers and bools."""
    if dtype is not None:
        return normalize_dtype(dtype)
    return "float64" if x.type.is_integer else x.dtype


def mean(x, axis=None, dtype=None, keepdims=False):
    """NumPy's ``mean``: integers average to float64; an empty slice gives nan."""
    x = as_tensor_variable(x)
    axes = normalize_axis(x, axis, "mean")
    out_dtype = _float_dtype(x, dtype)
    acc = "float32" if out_dtype == "float16" else out_dtype  # NumPy accumulates half in single
    total = sum(x, axes, dtype=acc, keepdims=keepdims)
    return cast(total / cast(_count(x, axes), acc), out_dtype)


def var(x, axis=None, ddof=0, keepdims=False):
    """NumPy's ``var``: the mean squared deviation, divided by ``n - ddof`` (at least 0)."""
    x = as_tensor_variable(x)
    axes = normalize_axis(x, axis, "var")
    if isinstance(ddof, bool) or not isinstance(ddof, (int, float, np.integer, np.floating)):
        raise ArignoteTypeError(f"var: ddof must be a number, got {ddof!r}")
    x = cast(x, _float_dtype(x, None))
    dev = x - mean(x, axes, keepdims=True)
    sq = sqr(abs_(dev)) if x.dtype.startswith("complex") else sqr(dev)
    total = sum(sq, axes, keepdims=keepdims)
    count = _count(x, axes)
    if isinstance(count, Constant):
        return total / builtins.max(float(count.data) - ddof, 0.0)
    return total / cast(maximum(count - ddof, 0), total.dtype)


def std(x, axis=None, ddof=0, keepdims=False):
    """NumPy's ``std``: the square root of :func:`var`."""
    return sqrt(var(x, axis, ddof, keepdims))


def logsumexp(x, axis=None, keepdims=False):
    """``log(sum(exp(x)))`` computed stably, like SciPy's.

    The maximum is subtracted first (replaced by 0 where it is infinite, so
    rows of -inf give -inf and +inf gives +inf, never nan; an empty slice
    gives -inf). Integers are computed in float64.
    """
    x = as_tensor_variable(x)
    axes = normalize_axis(x, axis, "logsumexp")
    keepdims = _check_keepdims("logsumexp", keepdims)
    if x.type.is_integer:
        x = cast(x, "float64")
    shift = max(x, axes, keepdims=True, initial=-np.inf)
    shift = switch(isfinite(shift), shift, 0)
    out = log(sum(exp(x - shift), axes, keepdims=keepdims))
    if not keepdims:
        shift = dimshuffle(shift, [d for d in range(x.ndim) if d not in axes])
    return out + shift


__all__ = [*REDUCE_FUNCTIONS, "mean", "var", "std", "logsumexp", "Reduce", "COMBINERS",
           "normalize_axis"]
