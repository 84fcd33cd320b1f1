"""Row picks as masks (``specialize``, fused compiling backends only).

``M[arange(len(y)), y]`` and the scatter of its gradient,
``inc_subtensor(Z[arange(len(y)), y], v)``, become the masked row sum and the
switch of :mod:`arignote.ops.row_pick`: with the softmax cross-entropy, the
loss becomes one more reduction of the log-softmax's row kernel and the
gradient one kernel over the logits, neither storing a matrix for the gather
or the scatter to read. Without fusion a gather is cheaper than a mask, so
the pass leaves the graph alone there.
"""
from arignote.errors import describe
from arignote.graph.basic import Constant, graph_inputs
from arignote.graph.fg import FunctionGraph
from arignote.ops.construct import ARange
from arignote.ops.indexing import AdvancedSubtensor, IncSubtensor
from arignote.ops.nnet import Softmax
from arignote.ops.row_pick import ROW_PICK, is_len, pick_rows, scatter_rows
from arignote.passes.algebraic import fits
from arignote.passes.rewriting import node_rewriter, register, run_phases
from arignote.passes.shape_inference import inferred_shape_i
from arignote.passes.specialize import _built_at


def _is(v, value):
    return isinstance(v, Constant) and v.data.ndim == 0 and v.data.item() == value


def _labels(m, rows, y):
    """``y`` if ``m[rows, y]`` picks entry ``y[i]`` of row ``i`` of the matrix ``m``
    (``rows`` is ``arange(len(y))``), else None."""
    r = rows.owner
    if m.ndim != 2 or y.ndim != 1 or r is None or not isinstance(r.op, ARange):
        return None
    start, stop, step = r.inputs
    if not (_is(start, 0) and _is(step, 1)):
        return None
    return y if is_len(stop, y) or _same(stop, *_canonical_len(y)) else None


def _canonical_len(y):
    """``len(y)`` over the graph's inputs as canonicalization writes it, where it wrote the
    ``len(y)`` of a user's ``arange(y.shape[0])`` (``y`` a slice: its length is arithmetic on
    the slice's bounds), and the map from that graph's roots back to the real ones."""
    n = inferred_shape_i(y, 0)
    roots = [v for v in graph_inputs([n]) if not isinstance(v, Constant)]
    fg = FunctionGraph(roots, [n])
    run_phases(fg, ["canonicalize"])
    return fg.outputs[0], {fg.memo[v]: v for v in roots}


def _same(a, b, back=None, seen=None, depth=24):
    """Do ``a`` and ``b`` compute the same value by the same ops from the same inputs
    (``back`` maps ``b``'s roots to ``a``'s)? ``seen`` holds the pairs already found the
    same, so a shared subexpression is compared once (any difference ends the walk)."""
    seen = set() if seen is None else seen
    if a is b or (back is not None and back.get(b) is a) or (a, b) in seen:
        return True
    if isinstance(a, Constant) and isinstance(b, Constant):
        return a.type == b.type and a.data.shape == b.data.shape and bool((a.data == b.data).all())
    x, y = a.owner, b.owner
    same = depth > 0 and x is not None and y is not None and x.op == y.op and \
        x.outputs.index(a) == y.outputs.index(b) and len(x.inputs) == len(y.inputs) and \
        all(_same(i, j, back, seen, depth - 1) for i, j in zip(x.inputs, y.inputs))
    if same:
        seen.add((a, b))
    return same


def _computed(m):
    """Is ``m`` computed by a node a kernel can hold (so a mask fuses with it)?"""
    op = m.owner.op if m.owner is not None else None
    return getattr(op, "fusion_kind", None) in ("elemwise", "reduce") or isinstance(op, Softmax)


def _shape(m):
    return inferred_shape_i(m, 0), inferred_shape_i(m, 1)


@register("specialize", "row_pick")
@node_rewriter([AdvancedSubtensor, IncSubtensor], name="row_pick_as_mask")
def row_pick_as_mask(fgraph, node):
    if not getattr(fgraph, "fusion", None) or node.op.idx_list != ROW_PICK:
        return None
    if isinstance(node.op, IncSubtensor):
        z, v, rows, y = node.inputs
        if _labels(z, rows, y) is None or v.ndim > 1:
            return None
        new = scatter_rows(z, v, y, describe(y), node.op.set_instead_of_inc, _shape(z))
        parts = [z, v, rows, y]
    else:
        m, rows, y = node.inputs
        if _labels(m, rows, y) is None or not _computed(m):
            return None
        new = pick_rows(m, y, describe(y), _shape(m))
        parts = [m, rows, y]
    if not fits(node.outputs[0], new):
        return None
    _built_at(new, parts, node.trace)
    return [new]
