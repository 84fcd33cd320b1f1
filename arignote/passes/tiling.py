"""Gradients of slices that tile a tensor become one ``join``.

The gradient of ``z[:, :H]``, ``z[:, H:2*H]``, ... (an LSTM's gates cut from
one pre-activation) is a sum of increments of zeros, one per slice: four
copies of ``z``'s shape, each mostly zeros, added together. When the slices
are constant, lie along one axis and tile it from start to end, that sum is
the concatenation of the slices' gradients::

    inc(zeros[:, :H], a) + inc(zeros[:, H:], b)  ->  join(1, a, b)

The terms that are not such increments stay added to the join.
"""
from arignote.graph.basic import Constant
from arignote.ops.construct import Alloc
from arignote.ops.elemwise import Elemwise
from arignote.ops.indexing import IncSubtensor
from arignote.ops.shape import join, specify_shape
from arignote.passes.rewriting import add_terms, node_rewriter, register


def _zeros_of(v):
    """What identifies the zeros ``v`` is, if it is zeros: ``zeros_like`` of a tensor
    (that tensor) or ``alloc(0, *dims)`` (its dims)."""
    node = v.owner
    if node is None:
        return None
    if isinstance(node.op, Alloc):
        fill, *dims = node.inputs
        return tuple(dims) if _is_zero(fill) else None
    if not isinstance(node.op, Elemwise) or node.op.scalar_op.name != "second":
        return None
    x, fill = node.inputs
    return x if _is_zero(fill) and x.ndim == v.ndim else None


def _is_zero(c):
    return isinstance(c, Constant) and c.data.size == 1 and c.data.flat[0] == 0


def _slice_piece(term):
    """(zeros source, axis, start, stop, value) if ``term`` is ``inc(zeros[..., a:b, ...], g)``
    with constant bounds on one axis and full slices elsewhere."""
    node = term.owner
    if node is None or type(node.op) is not IncSubtensor or len(node.inputs) != 2:
        return None
    source = _zeros_of(node.inputs[0])
    if source is None:
        return None
    entries = node.op.idx_list
    cut = [(d, e) for d, e in enumerate(entries) if e != ("slice", None, None, None)]
    if len(cut) != 1 or cut[0][1][0] != "slice" or cut[0][1][3] is not None:
        return None
    axis, (_, start, stop, _) = cut[0]
    if not all(b is None or isinstance(b, int) for b in (start, stop)) or \
            (start is not None and start < 0) or (stop is not None and stop < 0):
        return None
    g = node.inputs[1]
    if g.ndim != term.ndim or any(s == 1 and t != 1 for s, t in zip(g.type.shape, term.type.shape)):
        return None  # (a value broadcast into its region)
    return source, axis, start or 0, stop, g


def _same(a, b):
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(x is y or (isinstance(x, Constant) and isinstance(y, Constant)
                                                   and x.signature() == y.signature())
                                        for x, y in zip(a, b))
    return a is b


@register("canonicalize", "tiling")
@node_rewriter(["add"], name="join_tiling_slices")
def join_tiling_slices(fgraph, node):
    out = node.outputs[0]
    terms = add_terms(out)
    pieces = [(t, _slice_piece(t)) for t in terms]
    pieces = [(t, p) for t, p in pieces if p is not None]
    if len(pieces) < 2:
        return None
    source, axis = pieces[0][1][0], pieces[0][1][1]
    if any(not _same(p[0], source) or p[1] != axis for _, p in pieces):
        return None
    pieces.sort(key=lambda tp: tp[1][2])
    at = 0
    for k, (_, (_, _, start, stop, _)) in enumerate(pieces):
        last = k == len(pieces) - 1
        if start != at or (stop is None) != last or (stop is not None and stop <= start):
            return None
        at = stop
    joined = join(axis, *[p[4] for _, p in pieces])
    if joined.dtype != out.dtype or joined.ndim != out.ndim:
        return None
    # (the increments checked their values against the zeros' shape: so does the join)
    shape = source if isinstance(source, tuple) else [source.shape[d] for d in range(out.ndim)]
    joined = specify_shape(joined, [None if d == axis else s for d, s in enumerate(shape)])
    rest = [t for t in terms if all(t is not u for u, _ in pieces)]
    for t in rest:
        joined = joined + t
    return [joined]
