"""Numerical stabilization (the ``stabilize`` phase): rewrite expressions
that lose precision or overflow into forms that do not.

``log(1 + x) -> log1p(x)`` keeps the digits of a tiny ``x``;
``log(sigmoid(x)) -> -softplus(-x)`` stays finite for large ``|x|``;
``log(softmax(x))`` becomes ``log_softmax(x)``, and its gradient loses the
division by the softmax, so a softmax cross-entropy of huge logits and its
gradient are finite.
"""
from arignote.ops.nnet import LogSoftmax, Softmax
from arignote.ops.reduce import Reduce, logsumexp
from arignote.passes.algebraic import SafePattern, _is_float, fits
from arignote.passes.rewriting import node_rewriter, register

# (input pattern, output pattern)
PATTERNS = [
    (("log", ("add", 1, "x")), ("log1p", "x")),
    (("log", ("sub", 1, "x")), ("log1p", ("neg", "x"))),
    (("sub", ("exp", "x"), 1), ("expm1", "x")),
    (("log", ("sigmoid", "x")), ("neg", ("softplus", ("neg", "x")))),
    (("log", ("sub", 1, ("sigmoid", "x"))), ("neg", ("softplus", "x"))),
    (("sub", 1, ("sigmoid", "x")), ("sigmoid", ("neg", "x"))),
    (("log", ("exp", "x")), "x"),
    (("log1p", ("exp", "x")), ("softplus", "x")),
]

for _in, _out in PATTERNS:
    register("stabilize", "stabilize")(SafePattern(_in, _out, condition=_is_float))


# ---------------------------------------------------------------- softmax and logsumexp

def _is_softmax(v):
    return v.owner is not None and type(v.owner.op) is Softmax


@register("stabilize", "stabilize", "softmax")
@node_rewriter(["log"], name="log_softmax")
def log_softmax(fgraph, node):
    """``log(softmax(x)) -> log_softmax(x)``: finite where softmax underflows to 0."""
    (sm,) = node.inputs
    if not _is_softmax(sm):
        return None
    new = LogSoftmax(sm.owner.op.axis)(sm.owner.inputs[0])
    return [new] if fits(node.outputs[0], new) else None


# The gradient of log(softmax(x)) divides by the softmax; these two rewrites
# cancel the division so the backward pass stays finite too:
#   (g / sm) * sm -> g          and          sm * (g / sm - s) -> g - sm * s
def _softmax_bound(b, node):
    return _is_softmax(b["sm"])


for _in, _out in [
    (("mul", ("true_div", "g", "sm"), "sm"), "g"),
    (("mul", "sm", ("sub", ("true_div", "g", "sm"), "s")), ("sub", "g", ("mul", "sm", "s"))),
]:
    register("stabilize", "stabilize", "softmax")(SafePattern(_in, _out, condition=_softmax_bound))


@register("stabilize", "stabilize", "logsumexp")
@node_rewriter(["log"], name="logsumexp")
def log_sum_exp(fgraph, node):
    """``log(sum(exp(x))) -> logsumexp(x)``, which subtracts the maximum first.
    An argument that is already a difference (``exp(x - m)``, as inside
    logsumexp itself) is left alone."""
    (s,) = node.inputs
    if s.owner is None or not isinstance(s.owner.op, Reduce) or s.owner.op.combiner != "sum" \
            or s.owner.op.dtype is not None:
        return None
    e = s.owner.inputs[0]
    if e.owner is None or getattr(e.owner.op, "scalar_op", None) is None \
            or e.owner.op.scalar_op.name != "exp":
        return None
    x = e.owner.inputs[0]
    if x.owner is not None and getattr(x.owner.op, "scalar_op", None) is not None \
            and x.owner.op.scalar_op.name == "sub":
        return None
    new = logsumexp(x, axis=s.owner.op.axis, keepdims=s.owner.op.keepdims)
    return [new] if fits(node.outputs[0], new) else None
