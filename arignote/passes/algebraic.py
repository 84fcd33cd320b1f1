"""Algebraic simplification and canonical forms (the ``canonicalize`` phase).

Most rewrites are rows of :data:`PATTERNS`, written as data: neutral
elements, double negation, small integer powers. Rewrites that need a look at
constants or axes (collecting constants in add/mul chains, merging
dimshuffles, sums of sums) are small functions below.

A rewrite only fires when its result has the node's dtype and broadcast
pattern (``fits``); absorbing elements (``x*0``, ``x-x``) fire only for
integers, where no inf or NaN can make them wrong.
"""
import numpy as np

from arignote.errors import ArignoteError
from arignote.gradient import GradOverride
from arignote.graph.basic import Constant
from arignote.ops.basic import as_tensor_variable, constant
from arignote.ops.construct import Alloc, alloc
from arignote.ops.elemwise import Elemwise, add, cast, maximum, minimum, mul, zeros_like
from arignote.ops.indexing import Subtensor
from arignote.ops.reduce import Reduce
from arignote.ops.shape import DimShuffle, Join, Reshape, dimshuffle
from arignote.ops.static_shape import Shape_i
from arignote.passes.rewriting import PatternRewriter, constant_value, node_rewriter, register


def fits(old, new):
    """Can ``new`` stand in for ``old`` (same dtype and broadcast pattern)?"""
    return new.dtype == old.dtype and new.type.broadcastable == old.type.broadcastable


class SafePattern(PatternRewriter):
    """A pattern that declines (rather than fails) when its result would not fit."""

    def _apply(self, fgraph, node):
        try:
            result = super()._apply(fgraph, node)
        except ArignoteError:  # the output pattern is not defined here (e.g. neg of a bool)
            return None
        if result is None:
            return None
        new = as_tensor_variable(result[0])
        return [new] if fits(node.outputs[0], new) else None


def _is_int(b, node):
    return node.outputs[0].type.is_integer


def _is_float(b, node):
    return node.outputs[0].type.is_float


def _is_shape_entry(v):
    """A dimension's size (``x.shape[i]``): never negative."""
    return v.owner is not None and isinstance(v.owner.op, Shape_i)


# (input pattern, output pattern, condition)
PATTERNS = [
    (("mul", "x", 1), "x", None),
    (("add", "x", 0), "x", None),
    (("sub", "x", 0), "x", None),
    (("sub", 0, "x"), ("neg", "x"), None),
    (("true_div", "x", 1), "x", None),
    (("pow", "x", 1), "x", None),
    (("neg", ("neg", "x")), "x", None),
    (("mul", "x", -1), ("neg", "x"), None),
    (("add", "x", ("neg", "y")), ("sub", "x", "y"), None),
    (("sub", "x", ("neg", "y")), ("add", "x", "y"), None),
    (("pow", "x", 2), ("sqr", "x"), _is_float),
    (("pow", "x", 0.5), ("sqrt", "x"), _is_float),
    (("pow", "x", -1), ("reciprocal", "x"), _is_float),
    (("pow", "x", 3), ("mul", ("sqr", "x"), "x"), _is_float),
    (("pow", "x", 4), ("sqr", ("sqr", "x")), _is_float),
    (("log", ("exp", "x")), "x", None),
    (("exp", ("log", "x")), ("switch", ("ge", "x", 0), "x", float("nan")), _is_float),
    (("abs", ("neg", "x")), ("abs", "x"), None),
    (("abs", ("abs", "x")), ("abs", "x"), None),
    (("floor_div", "x", 1), "x", _is_int),
    (("switch", "c", "x", "x"), "x", None),
    (("maximum", "x", 0), "x", lambda b, node: _is_shape_entry(b["x"])),
    (("second", "a", "b"), "b", None),
    (("mul", "x", 0), lambda b: zeros_like(b["x"]), _is_int),
    (("sub", "x", "x"), lambda b: zeros_like(b["x"]), _is_int),
]

for _in, _out, _cond in PATTERNS:
    register("canonicalize", "algebraic")(SafePattern(_in, _out, condition=_cond))


@register("canonicalize", "algebraic")
@node_rewriter(["add", "mul"], name="collect_constants")
def collect_constants(fgraph, node):
    """``(x + c1) + c2 -> x + (c1 + c2)``; the same for ``mul``. The inner node
    must have no other reader, so nothing is computed twice."""
    name = node.op.scalar_op.name
    consts = [i for i in node.inputs if isinstance(i, Constant)]
    others = [i for i in node.inputs if not isinstance(i, Constant)]
    if len(consts) != 1 or len(others) != 1:
        return None
    inner = others[0].owner
    dtype = node.outputs[0].dtype
    if (inner is None or not isinstance(inner.op, Elemwise) or inner.op.scalar_op.name != name
            or len(fgraph.clients.get(others[0], [])) != 1 or inner.outputs[0].dtype != dtype):
        return None
    inner_consts = [i for i in inner.inputs if isinstance(i, Constant)]
    inner_others = [i for i in inner.inputs if not isinstance(i, Constant)]
    if len(inner_consts) != 1 or len(inner_others) != 1:
        return None
    # fold in the dtype both nodes compute in: True + True is 2 next to a float, not True
    fn = np.add if name == "add" else np.multiply
    with np.errstate(all="ignore"):
        value = fn(inner_consts[0].data.astype(dtype), consts[0].data.astype(dtype))
    new = node.op(inner_others[0], constant(value))
    return [new] if fits(node.outputs[0], new) else None


@register("canonicalize", "algebraic", "dimshuffle")
@node_rewriter([DimShuffle], name="merge_dimshuffles")
def merge_dimshuffles(fgraph, node):
    """Two consecutive dimshuffles become one; an identity dimshuffle vanishes
    (so a transpose of a transpose disappears)."""
    op, x = node.op, node.inputs[0]
    if op.new_order == tuple(range(op.input_ndim)):
        return [x]
    inner = x.owner
    if inner is None or not isinstance(inner.op, DimShuffle):
        return None
    order = tuple("x" if o == "x" else inner.op.new_order[o] for o in op.new_order)
    source = inner.inputs[0]
    if order == tuple(range(source.ndim)):
        return [source]
    return [DimShuffle(source.ndim, order)(source)]


@register("canonicalize", "algebraic", "reduce")
@node_rewriter([Reduce], name="sum_of_sum")
def sum_of_sum(fgraph, node):
    """``sum(sum(x, a), b) -> sum(x, a ∪ b)`` when the inner sum has no other reader."""
    op, x = node.op, node.inputs[0]
    inner = x.owner
    if (op.combiner != "sum" or inner is None or not isinstance(inner.op, Reduce)
            or inner.op.combiner != "sum" or inner.op.keepdims or op.keepdims
            or op.initial is not None or inner.op.initial is not None
            or inner.op.dtype != op.dtype or len(fgraph.clients.get(x, [])) != 1):
        return None
    remaining = [d for d in range(inner.inputs[0].ndim) if d not in inner.op.axis]
    axes = tuple(sorted(set(inner.op.axis) | {remaining[a] for a in op.axis}))
    new = Reduce("sum", axes, False, op.dtype)(inner.inputs[0])
    return [new] if fits(node.outputs[0], new) else None


@register("canonicalize", "algebraic", "reduce")
@node_rewriter([Reduce], name="reduce_nothing")
def reduce_nothing(fgraph, node):
    """A reduction over no axis (``sum(x, axis=())``) is ``x`` (cast if needed)."""
    if node.op.axis or node.op.initial is not None or node.op.combiner.startswith("arg"):
        return None
    return [cast(node.inputs[0], node.outputs[0].dtype)]


@register("canonicalize", "algebraic")
@node_rewriter(["switch"], name="switch_constant_condition")
def switch_constant_condition(fgraph, node):
    """``switch(True, a, b) -> a`` (and ``False -> b``) when no broadcast is lost."""
    cond, a, b = node.inputs
    value = constant_value(cond)
    if value is None:
        return None
    new = cast(a if value else b, node.outputs[0].dtype)
    return [new] if fits(node.outputs[0], new) else None


@register("canonicalize", "algebraic")
@node_rewriter([GradOverride], name="drop_grad_override")
def drop_grad_override(fgraph, node):
    """zero_grad / disconnected_grad / grad_clip only matter to ``grad``: once a
    function is compiled they are the identity."""
    return [node.inputs[0]]


@register("canonicalize", "algebraic", "reduce")
@node_rewriter([Reduce], name="reduce_of_size_one")
def reduce_of_size_one(fgraph, node):
    """Summing (or multiplying, or taking the max of) one element is a copy of it:
    a reduction over axes of static size 1 just drops them."""
    op, (x,) = node.op, node.inputs
    if op.combiner not in ("sum", "prod", "max", "min") or op.initial is not None or not op.axis:
        return None
    if any(x.type.shape[a] != 1 for a in op.axis):
        return None
    kept = x if op.keepdims else dimshuffle(x, [d for d in range(x.ndim) if d not in op.axis])
    new = cast(kept, node.outputs[0].dtype)
    return [new] if fits(node.outputs[0], new) else None


@register("canonicalize", "algebraic")
@node_rewriter([Join], name="join_of_one")
def join_of_one(fgraph, node):
    """Joining a single tensor is the tensor."""
    return [node.inputs[0]] if len(node.inputs) == 1 and fits(node.outputs[0], node.inputs[0]) else None


@register("canonicalize", "algebraic", "shape")
@node_rewriter([Reshape], name="reshape_of_reshape")
def reshape_of_reshape(fgraph, node):
    """``reshape(reshape(x, s1), s2) -> reshape(x, s2)``."""
    inner = node.inputs[0].owner
    if inner is None or not isinstance(inner.op, Reshape):
        return None
    new = node.op(inner.inputs[0], node.inputs[1])
    return [new] if fits(node.outputs[0], new) else None


@register("canonicalize", "algebraic", "shape")
@node_rewriter([Alloc], name="useless_alloc")
def useless_alloc(fgraph, node):
    """``alloc(v, *shape) -> v`` when ``v`` already has the output's broadcast
    pattern: elementwise shape rules then make the sizes agree (as for ``fill``)."""
    value = node.inputs[0]
    return [value] if fits(node.outputs[0], value) else None


@register("canonicalize", "algebraic", "shape")
@node_rewriter([Subtensor], name="subtensor_of_alloc")
def subtensor_of_alloc(fgraph, node):
    """``alloc(c, *shape)[idx] -> alloc(c, *shape of the slice)`` for a scalar ``c``:
    never fill memory that is about to be sliced away."""
    src = node.inputs[0]
    if type(node.op) is not Subtensor or src.owner is None or not isinstance(src.owner.op, Alloc):
        return None
    value, *dims = src.owner.inputs
    if value.ndim != 0:
        return None
    shape = node.op.infer_shape(node, [tuple(dims)] + [() for _ in node.inputs[1:]])[0]
    new = alloc(value, *shape)
    return [new] if fits(node.outputs[0], new) else None


@register("canonicalize", "algebraic")
@node_rewriter([Elemwise], name="fill_sink")
def fill_sink(fgraph, node):
    """``f(fill(a, b), c) -> f(b, c)`` when ``c`` already gives the output its
    shape: the broadcast to ``a``'s shape was never needed (``zeros_like(x) + x``)."""
    for k, inp in enumerate(node.inputs):
        owner = inp.owner
        if owner is None or not isinstance(owner.op, Elemwise) or owner.op.scalar_op.name != "second":
            continue
        inputs = list(node.inputs)
        inputs[k] = owner.inputs[1]
        new = node.op(*inputs)
        if fits(node.outputs[0], new):
            return [new]
    return None


_COMBINE = {"sum": add, "prod": mul, "max": maximum, "min": minimum}


@register("canonicalize", "algebraic", "shape")
@node_rewriter([Reduce], name="reduce_of_stacked_scalars")
def reduce_of_stacked_scalars(fgraph, node):
    """``prod(stack([a, b]))`` -> ``a * b`` (how a mean's element count reads)."""
    op, (v,) = node.op, node.inputs
    join = v.owner
    if (op.combiner not in _COMBINE or op.axis != (0,) or op.keepdims or op.initial is not None
            or join is None or not isinstance(join.op, Join) or v.ndim != 1):
        return None
    scalars = []
    for part in join.inputs:
        ds = part.owner
        if ds is None or not isinstance(ds.op, DimShuffle) or ds.op.new_order != ("x",):
            return None
        scalars.append(ds.inputs[0])
    fn = _COMBINE[op.combiner]
    result = scalars[0]
    for s in scalars[1:]:
        result = fn(result, s)
    new = cast(result, node.outputs[0].dtype)
    return [new] if fits(node.outputs[0], new) else None
