"""Specialization (the ``specialize`` phase): hand patterns to the library
calls that do them best.

* a matrix product followed by a scale and a bias, ``alpha * dot(A, B) + C``,
  or an SGD step ``W - lr * dot(x.T, g)``, becomes one :class:`Gemm`;
* ``sum(x * y)`` over two vectors becomes ``dot(x, y)``.

A product read by other nodes too is left alone: folding it into a Gemm
would compute it twice. On a compiling backend (the graph asks for fusion) a
Gemm is built only where the backend calls BLAS's gemm with ``beta``
(``fgraph.gemm``) and ``C`` is a full matrix: an SGD step ``W - lr * X.T @ g``
is then one call writing into ``W``. Elsewhere the product stays a BLAS call
and the scale, bias and activation after it fuse into one kernel that runs
over the product once.
"""
import math

from arignote.graph.basic import Constant
from arignote.graph.shared import SharedVariable
from arignote.ops.basic import constant
from arignote.ops.blas import Gemm, MatMul, dot
from arignote.ops.elemwise import Elemwise
from arignote.ops.reduce import Reduce
from arignote.ops.shape import dimshuffle
from arignote.passes.algebraic import fits
from arignote.passes.rewriting import node_rewriter, register


def _scalar(v):
    """``v`` as a 0-d variable if every dimension is statically 1, else None."""
    if not all(s == 1 for s in v.type.shape):
        return None
    if isinstance(v, Constant):
        return constant(v.data.reshape(()))
    return dimshuffle(v, []) if v.ndim else v


def _scaled_product(fgraph, v):
    """(alpha, A, B) if ``v`` is ``alpha * (A @ B)`` with a 2-d product read only here."""
    def sole_reader(x):
        return len(fgraph.clients.get(x, [])) == 1

    node = v.owner
    if node is None or not sole_reader(v):
        return None
    if isinstance(node.op, MatMul) and v.ndim == 2:
        return constant(1, dtype=v.dtype), *node.inputs, node
    if isinstance(node.op, Elemwise) and node.op.scalar_op.name == "neg":
        inner = _scaled_product(fgraph, node.inputs[0])
        return None if inner is None else (-inner[0], *inner[1:])
    if isinstance(node.op, Elemwise) and node.op.scalar_op.name == "mul":
        for p, s in (node.inputs, node.inputs[::-1]):
            alpha = _scalar(s)
            if alpha is not None and p.owner is not None and isinstance(p.owner.op, MatMul) \
                    and p.ndim == 2 and sole_reader(p):
                return alpha, *p.owner.inputs, p.owner
    return None


#: a ``C`` of fewer elements is updated faster by the product's epilogue kernel (measured on
#: a 784x10 weight: the gemm call costs more than the pass over ``C`` it saves)
MIN_GEMM_SIZE = 1 << 15


def _size(v):
    """Elements of ``v``: static, or a shared variable's current value; else unbounded."""
    if isinstance(v, SharedVariable):
        return v.get_value(borrow=True).size
    return math.prod(v.type.shape) if None not in v.type.shape else math.inf


def _gemm_here(fgraph, c, out):
    """Is a Gemm of ``c`` plus a product the best form here? On the reference backend,
    yes; on a compiling one only where it calls BLAS's gemm with ``beta``
    (``fgraph.gemm``) and ``c`` is a stored matrix of the product's full shape (an SGD
    step's ``W``): not a bias row, which the product's epilogue kernel adds for free,
    nor an elementwise value (momentum's ``mu * v``), which fuses with the update."""
    if getattr(fgraph, "fusion", None) is None:
        return True
    if _size(c) < MIN_GEMM_SIZE:
        return False
    computed = c.owner is not None and getattr(c.owner.op, "fusion_kind", None) in ("elemwise", "view")
    return bool(getattr(fgraph, "gemm", False)) and not computed and c.dtype == out.dtype and \
        c.type.broadcastable == out.type.broadcastable and all(s != 1 for s in c.type.shape)


@register("specialize", "gemm")
@node_rewriter(["add", "sub"], name="gemm")
def gemm(fgraph, node):
    out = node.outputs[0]
    if out.ndim != 2:
        return None
    sign = -1 if node.op.scalar_op.name == "sub" else 1
    for k, (term, other) in enumerate([node.inputs, node.inputs[::-1]]):
        if sign == -1 and k == 0:
            continue  # A @ B - C: leave it
        found = _scaled_product(fgraph, term)
        if found is None:
            continue
        alpha, a, b, product = found
        if not _gemm_here(fgraph, other, out):
            continue
        beta = constant(1, dtype=out.dtype)
        new = Gemm()(other, alpha * sign, a, b, beta)
        if fits(out, new):
            _built_at(new, [other, alpha, a, b], product.trace)
            return [new]
    return None


@register("specialize", "dot")
@node_rewriter([Reduce], name="sum_mul_to_dot")
def sum_mul_to_dot(fgraph, node):
    """``sum(x * y)`` over two vectors is their dot product."""
    op, (prod,) = node.op, node.inputs
    inner = prod.owner
    if (op.combiner != "sum" or op.keepdims or op.dtype is not None or prod.ndim != 1
            or inner is None or not isinstance(inner.op, Elemwise) or inner.op.scalar_op.name != "mul"):
        return None
    x, y = inner.inputs
    if x.type.shape[0] == 1 or y.type.shape[0] == 1:
        return None
    new = dot(x, y)
    if not fits(node.outputs[0], new):
        return None
    _built_at(new, [x, y], inner.trace)
    return [new]


def _built_at(out, inputs, trace):
    """Give the nodes a rewrite built between ``inputs`` and ``out`` the user's line of what
    they replace: their errors at run time should name it, not the ``function(...)`` call."""
    todo, seen = [out], set(map(id, inputs))
    while todo:
        v = todo.pop()
        if id(v) in seen or v.owner is None:
            continue
        seen.add(id(v))
        v.owner.trace = trace
        todo.extend(v.owner.inputs)
