"""Numerical stabilization (the ``stabilize`` phase): rewrite expressions
that lose precision or overflow into forms that do not.

A softmax written by hand, ``exp(x - max(x)) / sum(exp(x - max(x)))`` along
one axis (with or without the maximum), becomes ``softmax(x)``: the stable
form, run as one row kernel, and ``log`` of it then becomes ``log_softmax``.

``log(1 + x) -> log1p(x)`` keeps the digits of a tiny ``x``;
``log(sigmoid(x)) -> -softplus(-x)`` stays finite for large ``|x|``;
``log(softmax(x))`` becomes ``log_softmax(x)``, and its gradient loses the
division by the softmax, so a softmax cross-entropy of huge logits and its
gradient are finite. The same holds through indexing: ``log(softmax(x)[idx])``
(the tutorials' ``log(p[arange(n), y])``) becomes ``log_softmax(x)[idx]``, and
in its gradient the scatter of ``g / softmax(x)[idx]``, multiplied back by the
softmax, becomes the scatter of ``g``.
"""
from arignote.graph.basic import Constant
from arignote.ops.indexing import IncSubtensor, Subtensor
from arignote.ops.nnet import LogSoftmax, Softmax, elementwise_inputs as _scalar, written_softmax
from arignote.ops.reduce import Reduce, logsumexp
from arignote.ops.shape import DimShuffle
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


def _only_here(fgraph, e, s, node):
    """Whether the exponentials and their sum serve this division only (else the softmax
    would compute them a second time)."""
    def readers(v):
        return {c for c, _ in fgraph.clients.get(v, ())}
    summing = s.owner
    if isinstance(summing.op, DimShuffle):  # (the sum's own output feeds the dimshuffle only)
        if readers(summing.inputs[0]) != {summing}:
            return False
        summing = summing.inputs[0].owner
    return readers(s) == {node} and readers(e) <= {node, summing}


@register("stabilize", "stabilize", "softmax")
@node_rewriter(["true_div"], name="softmax_by_hand")
def softmax_by_hand(fgraph, node):
    """``exp(x - max(x, k)) / sum(exp(x - max(x, k)), k) -> softmax(x, k)`` (the maximum
    may be missing; the sums and maxima keep their axis, or get it back by dimshuffle)."""
    found = written_softmax(node.outputs[0])
    if found is None:
        return None
    x, axis, e, s = found
    if not _only_here(fgraph, e, s, node):
        return None
    new = Softmax(axis)(x)
    return [new] if fits(node.outputs[0], new) else None


@register("stabilize", "stabilize", "softmax")
@node_rewriter(["log"], name="log_softmax")
def log_softmax(fgraph, node):
    """``log(softmax(x)) -> log_softmax(x)``: finite where softmax underflows to 0."""
    (sm,) = node.inputs
    if not _is_softmax(sm):
        return None
    new = LogSoftmax(sm.owner.op.axis)(sm.owner.inputs[0])
    return [new] if fits(node.outputs[0], new) else None


@register("stabilize", "stabilize", "softmax")
@node_rewriter(["log"], name="log_indexed_softmax")
def log_indexed_softmax(fgraph, node):
    """``log(softmax(x)[idx]) -> log_softmax(x)[idx]`` (any indexing, advanced or
    basic: the log is elementwise): the picked probabilities may underflow, their
    logarithms do not."""
    (picked,) = node.inputs
    pick = picked.owner
    if pick is None or not isinstance(pick.op, Subtensor) or not _is_softmax(pick.inputs[0]):
        return None
    sm = pick.inputs[0]
    new = type(pick.op)(pick.op.idx_list)(LogSoftmax(sm.owner.op.axis)(sm.owner.inputs[0]),
                                          *pick.inputs[1:])
    return [new] if fits(node.outputs[0], new) else None


def _zeros(v):
    """Whether ``v`` is all zeros by construction (a zero constant, or ``zeros_like``)."""
    if isinstance(v, Constant):
        return not v.data.any()
    args = _scalar(v, "second")
    return args is not None and isinstance(args[1], Constant) and not args[1].data.any()


def _undivided(v, sm):
    """If ``v`` scatters ``g / sm[idx]`` into zeros at ``idx`` (the gradient of
    ``log(sm[idx])``), the scatter of ``g``, which is ``v * sm``; else None."""
    node = v.owner
    if node is None or type(node.op) is not IncSubtensor or node.op.set_instead_of_inc:
        return None
    base, y, *index = node.inputs
    quotient = _scalar(y, "true_div")
    if not _zeros(base) or quotient is None:
        return None
    g, picked = quotient
    pick = picked.owner
    if pick is None or not isinstance(pick.op, Subtensor) or pick.op.idx_list != node.op.idx_list \
            or pick.inputs[0] is not sm or list(pick.inputs[1:]) != index:
        return None
    return IncSubtensor(node.op.idx_list)(base, g, *index)


@register("stabilize", "stabilize", "softmax")
@node_rewriter(["mul"], name="softmax_grad_through_index")
def softmax_grad_through_index(fgraph, node):
    """In the gradient of ``log(softmax(x)[idx])``: ``sm * scatter(g / sm[idx]) ->
    scatter(g)`` and ``sm * (scatter(g / sm[idx]) - s) -> scatter(g) - sm * s``
    (exact, repeated indices included: each entry of the scatter sums its ``g / sm``)."""
    ins = node.inputs
    for i, sm in enumerate(ins):
        if not _is_softmax(sm):
            continue
        for j, other in enumerate(ins):
            new = None if j == i else _undivided(other, sm)
            diff = _scalar(other, "sub") if j != i and new is None else None
            if diff is not None:
                scattered = _undivided(diff[0], sm)
                new = None if scattered is None else scattered - sm * diff[1]
            if new is None:
                continue
            for k, rest in enumerate(ins):
                if k not in (i, j):
                    new = new * rest
            return [new] if fits(node.outputs[0], new) else None
    return None


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


def _product(v, out):
    """The factors of the product tree ``v`` (through ``mul`` and ``neg``) into
    ``out``, in order; returns the number of negations. Iterative: a product may be
    thousands of nodes deep."""
    negs, stack = 0, [v]
    while stack:
        w = stack.pop()
        for name in ("mul", "neg"):
            args = _scalar(w, name)
            if args is not None:
                stack.extend(reversed(args))
                negs += name == "neg"
                break
        else:
            out.append(w)
    return negs


def _is_probability(v):
    return _is_softmax(v) or _scalar(v, "sigmoid") is not None


@register("stabilize", "stabilize", "softmax")
@node_rewriter(["mul"], name="cancel_probability_division")
def cancel_probability_division(fgraph, node):
    """``... * (g / p) * ... * p * ... -> ... * g * ...`` for ``p`` a softmax or sigmoid,
    anywhere in a product tree: the gradient of ``log(p)`` divides by ``p``, and the
    gradient of ``p`` multiplies by it; where ``p`` underflows to 0 the product was nan."""
    factors = []
    negs = _product(node.outputs[0], factors)
    for i, f in enumerate(factors):
        quotient = _scalar(f, "true_div")
        if quotient is None or not _is_probability(quotient[1]):
            continue
        j = next((j for j, h in enumerate(factors) if h is quotient[1] and j != i), None)
        if j is None:
            continue
        new = quotient[0]
        for k, h in enumerate(factors):
            if k not in (i, j):
                new = new * h
        new = -new if negs % 2 else new
        return [new] if fits(node.outputs[0], new) else None
    return None


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
