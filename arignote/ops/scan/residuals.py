"""What the forward loop keeps for the backward loop: the values the gradient reads.

The reverse step (see :mod:`~.grad`) is built over a copy of the forward step:
differentiating ``tanh(z)`` reads ``tanh(z)``, ``sigmoid(z)`` reads
``sigmoid(z)``, and recomputing them would repeat the forward step's products
and transcendentals. So the values the gradient's nodes read from that copy
(the *residuals*) are stacked by the forward loop, one row per step, and
the reverse loop reads their rows as sequences; the copy of the forward step
then computes nothing the gradient does not need.

A view of a value (a slice, a transpose) is never stacked: its source is, and
the view is taken again in the reverse step; a value the gradient reads only
for its shape (``zeros_like(z)``, the gradient of a slice of ``z``) is not
stacked: the zeros are allocated from its shape, which shape inference
finds from the step's inputs; a value computed from the invariants alone is
not stacked either (it is the same at every step, and the
loop rewrites compute it once, outside). The forward loop that stacks them is
the user's loop with more mapped outputs: an equal loop plus extra outputs,
which the ``scan_merge_extended`` rewrite (``arignote.passes.scan``) lets
replace the user's, so the forward step runs once.
"""
import numpy as np

from arignote.graph.basic import Constant, clone_graph, toposort
from arignote.ops.basic import constant
from arignote.ops.construct import alloc
from arignote.ops.static_shape import Shape, Shape_i
from arignote.ops.scan.parts import Mapped, ScanParts


def residuals(op, memo, rev_outputs, rev_inputs):
    """The forward step's values the reverse step's gradient nodes read, in a stable
    order: a list of (forward inner variable, its copy in the reverse step)."""
    copies = {c: u for u, c in memo.items() if u.owner is not None and c is not u}
    i_seqs, i_recs, i_carried, _ = op.layout.inner_inputs(op.inputs)
    per_step = {v for vs in i_seqs + i_recs for v in vs} | set(i_carried)
    for node in op.nodes:  # (toposorted) the values that change from step to step
        if any(i in per_step for i in node.inputs):
            per_step.update(node.outputs)
    read = []
    for node in toposort(rev_outputs, blockers=rev_inputs):
        if not any(o in copies for o in node.outputs) and not _shape_read(node):
            read += [v for v in node.inputs if v in copies]  # (a node of the gradient)
    read += [o for o in rev_outputs if o in copies]
    found = {}
    for c in read:
        u = copies[c]
        while u.owner.op.fusion_kind == "view" and u.owner.inputs[0] in per_step:
            u = u.owner.inputs[0]  # (stack a view's source; the view is taken again)
            if u.owner is None:
                break
        if u.owner is not None and u in per_step and u in memo and u not in found:
            found[u] = memo[u]
    return list(found.items())


def keep_residuals(node, wanted):
    """The forward loop ``node`` with the inner variables ``wanted`` stacked as mapped
    outputs where it does not already output them: ({old output: new}, {wanted
    variable: (outer output holding its rows, the row of step 0)})."""
    parts = ScanParts.of(node)
    lags = node.op.layout.lags
    have = {}
    for r, lag in zip(parts.recs, lags):
        have.setdefault(r.update, (r.out, lag))
    for m in parts.mapped:
        have.setdefault(m.update, (m.out, 0))
    new = [u for u in wanted if u not in have and not isinstance(u, Constant)]
    if not new:
        return {o: o for o in node.outputs}, have
    parts.mapped += [Mapped(u) for u in new]
    replaced, added = parts.build()
    have = {u: (replaced[out], row) for u, (out, row) in have.items()}
    have.update((u, (out, 0)) for u, out in zip(new, added))
    return replaced, have


def read_residuals(rev_outputs, rev_inputs, pairs, placeholders):
    """The reverse step's outputs with each residual copy replaced by its placeholder
    (``pairs``: (forward variable, copy); ``placeholders``: the new inner inputs), and
    the fills read for a shape allocated from it."""
    keep = {v: v for v in rev_inputs}
    keep.update((c, p) for (_, c), p in zip(pairs, placeholders))
    shapes = {}
    for node in toposort(rev_outputs, blockers=rev_inputs):
        if _is_fill(node) and node.inputs[0] not in keep:
            x, value = node.inputs
            dims = _shape(x, keep, shapes)
            keep[node.outputs[0]] = alloc(constant(value.data.reshape(())), *dims)
    outs, _ = clone_graph(rev_outputs, replace=keep)
    return outs


def _shape(x, known, shapes):
    """``x``'s shape as int64 scalars over the shapes of ``known`` variables (the reverse
    step's inputs), walking the ops' ``infer_shape`` down from ``x``; static sizes are
    constants."""
    order = toposort([x], blockers=list(known))
    for node in order:
        ins = [_own_shape(i, shapes) for i in node.inputs]
        try:
            outs = node.op.infer_shape(node, ins)
        except NotImplementedError:
            outs = [None] * len(node.outputs)
        for o, shp in zip(node.outputs, outs):
            if shp is None or len(shp) != o.ndim or any(e is None for e in shp):
                shp = [Shape_i(d)(o) for d in range(o.ndim)]
            shapes[o] = tuple(constant(np.int64(s)) if s is not None else e
                              for s, e in zip(o.type.shape, shp))
    return list(_own_shape(x, shapes))


def _own_shape(v, shapes):
    if v not in shapes:
        shapes[v] = tuple(constant(np.int64(s)) if s is not None else Shape_i(d)(v)
                          for d, s in enumerate(v.type.shape))
    return shapes[v]


def _is_fill(node):
    """``second(x, c)`` with a one-element constant ``c``: ``c`` in the shape of ``x``."""
    op = node.op
    return (getattr(getattr(op, "scalar_op", None), "name", None) == "second" and
            isinstance(node.inputs[1], Constant) and node.inputs[1].data.size == 1 and
            node.inputs[1].dtype == node.outputs[0].dtype and
            node.outputs[0].type.shape == node.inputs[0].type.shape)


def _shape_read(node):
    """Whether ``node`` reads its (first) input for the shape only."""
    return isinstance(node.op, (Shape, Shape_i)) or _is_fill(node)
