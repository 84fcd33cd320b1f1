"""What the forward loop keeps for the backward loop: the values the gradient reads.

The reverse step (see :mod:`~.grad`) is built over a copy of the forward step:
differentiating ``tanh(z)`` reads ``tanh(z)``, ``sigmoid(z)`` reads
``sigmoid(z)``, and recomputing them would repeat the forward step's products
and transcendentals. So the values the gradient's nodes read from that copy
(the *residuals*) are stacked by the forward loop, one row per step, and
the reverse loop reads their rows as sequences; the copy of the forward step
then computes nothing the gradient does not need.

A view of a value (a slice, a transpose) is never stacked: its source is, and
the view is taken again in the reverse step; a value computed from the
invariants alone is not stacked either (it is the same at every step, and the
loop rewrites compute it once, outside). The forward loop that stacks them is
the user's loop with more mapped outputs: an equal loop plus extra outputs,
which the ``scan_merge_extended`` rewrite (``arignote.passes.scan``) lets
replace the user's, so the forward step runs once.
"""
from arignote.graph.basic import Constant, clone_graph, toposort
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
        if not any(o in copies for o in node.outputs):  # a node of the gradient
            read += [v for v in node.inputs if v in copies]
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
    (``pairs``: (forward variable, copy); ``placeholders``: the new inner inputs)."""
    keep = {v: v for v in rev_inputs}
    keep.update((c, p) for (_, c), p in zip(pairs, placeholders))
    outs, _ = clone_graph(rev_outputs, replace=keep)
    return outs
