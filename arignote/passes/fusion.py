"""Fusion (``fuse`` phase): group elementwise ops, views (dimshuffles, basic
indexing, reshapes) and reductions into :class:`~arignote.ops.fused.Fused` nodes, one kernel each.

What a group may hold is what a backend can lower into one kernel (the
backend answers, through ``fgraph.kernel_axes``: see "Every group" below):
one index space, optionally with reduced axes, all its reductions reducing
the same axes. Before a reduction runs an elementwise *prologue*
over the whole space; after it an *epilogue* over the kept axes; a
reduction's result may also be broadcast back against the full space (a
*row kernel*: softmax, log-softmax, layer norm, the softmax gradient), which
costs one more pass over the reduced axes, up to
:data:`~arignote.passes.fusible.MAX_PASSES`. The rules:

* Nodes are visited consumers first (reverse topological order); a producer
  joins the group(s) of its consumers when that stays one index space, so
  chains fuse, a prologue joins its reduction, and a reduction joins its
  epilogue. Producers read by several groups merge those groups (one kernel,
  several outputs) when they can. A member is *kept* when its value is
  constant along the reduced axes (by its static shape), else *full*.
* Then reduction groups over the same axes of the same space that share a value
  (one reads what the other computes, or both read it) merge, within the rules
  below: a reduction read by groups that could not all take it (the stable
  cross-entropy's row max, read by the gradient's column sum too) had been left
  in a kernel of its own.
* A value read outside its group (by an opaque op, another group -- a copy
  recomputed there too -- or as a graph output) becomes an output of the group:
  it must span the group's space (full space, or kept space for what a
  reduction computed). So one partition makes every kernel: no member stays in
  the graph for a copy elsewhere to read.
* Cuts: opaque ops (MatMul, Gemm, Softmax, advanced indexing, shape ops) are
  never in a group; nor are reductions over other axes or another index space, or a
  chain of reductions read back in full space needing more than
  ``MAX_PASSES`` passes: the consumer's kernel ends there.
* Recompute, not store: a view is never a kernel of its own; it is copied
  into every group that reads it (and stays a view for other readers).
* Views are index arithmetic: the lowering pushes slices, integer indices and
  reshapes down to the group's inputs, which the launcher views with NumPy
  (see :mod:`arignote.compiler.lower`). Some edges from a producer to a view
  are *blocked* (:meth:`~arignote.passes.partition.Partitioner.blocked`): the
  producer's value then reaches the view's group as an input, never computed
  there -- an index or a shape of a view (the launcher reads it: a symbolic
  bound is computed before the kernel), a reduction read through a slice or
  reshape, and an elementwise value reshaped (a reshape is applied to stored
  buffers only).
  Groups are not merged across a blocked edge.
  A *cheap* elementwise value -- its op is not transcendental (see
  :data:`EXPENSIVE`) -- read only by nodes of several groups that cannot merge
  is copied into each of them, up to :data:`RECOMPUTE_DEPTH` nodes deep (0-d
  values, computed once per launch, are copied at any depth, and so are
  transcendental ones: a mean's ``1 / n`` belongs in every kernel that reads it).
  Reductions are never recomputed.
* No cycles: every group is convex and no two groups feed each other. A merge
  that would make a group both feed and need another unit (group or node) is
  refused: a bounded search over the group graph, along *every* output of a
  node (a Split feeds its readers through all of them), refused when unsure.
  Before anything is replaced, :func:`~arignote.passes.convexity.quotient_cycle`
  checks the whole partition in linear time; a cycle there is a bug of these
  rules and raises :class:`~arignote.errors.CycleError` naming the groups.
* Every group is offered to the backend before it replaces its nodes: its
  ``kernel_axes(fused)`` (``fgraph.kernel_axes``, set by ``function``; the pass
  never imports the compiler) is None if it cannot lower the group, else what
  each index axis of the kernel follows, and those dimensions must be known to
  be equal (a union-find of the dimension equalities the ops guarantee). A
  group that fails is split into one group per node; a node that fails alone
  stays unfused.
* Not fused: complex dtypes, argmax/argmin, reductions over size-1 axes only
  (a copy), and groups of views only (views stay views).

``fuse(fgraph, stats, max_group=1)`` wraps each node alone: the unfused
baseline of a compiling backend. The registered pass runs only when the
FunctionGraph asks for it (``fgraph.fusion``, set by ``function`` for compiling
backends): True fuses, False wraps each node alone, an int is ``max_group``;
None or absent leaves the graph alone.

The partition (which node goes into which group, by the rules above) is
:mod:`~arignote.passes.partition`'s, over the dimension classes of
:mod:`~arignote.passes.equal_dims`; this module turns each group into a Fused
node, once the backend accepts it.
"""
from arignote.errors import ArignoteValueError, CycleError
from arignote.graph.basic import Apply, Constant, toposort
from arignote.graph.fg import OUTPUT
from arignote.ops.fused import Fused
from arignote.passes.convexity import quotient_cycle
from arignote.passes.fusible import EXPENSIVE, MAX_PASSES, is_view
from arignote.passes.partition import RECOMPUTE_DEPTH, Partitioner, fusible_kind
from arignote.passes.rewriting import Stats, register_pass

__all__ = ["fuse", "fusion_pass", "fusible_kind", "EXPENSIVE", "MAX_PASSES", "RECOMPUTE_DEPTH"]


def _group_io(fgraph, members, copies, shared=frozenset()):
    """(inputs, outputs) of the group ``members``: outer variables, in a deterministic order.
    A value read outside is an output, unless it is a copy (its other readers have theirs).
    So is a member read by a copy that also runs elsewhere (``shared``: in another group,
    or left standing as a view): that copy reads it there as an input, and a member is
    computed in one group only (else the member would stay in the graph, a ``perform``)."""
    mset = set(members)
    produced = {m.outputs[0] for m in members}
    outputs = [m.outputs[0] for m in members if m not in copies and any(
        c == OUTPUT or c not in mset or c in shared
        for c, _ in fgraph.clients.get(m.outputs[0], []))]
    outer = {i for m in members for i in m.inputs if i not in produced}
    inputs, seen = [], set()
    for node in toposort(outputs, blockers=outer):
        for i in node.inputs:
            if i in outer and i not in seen and not (isinstance(i, Constant) and (
                    i.data.size == 1 or (i is not node.inputs[0] and is_view(node)))):
                seen.add(i)  # (a constant index or shape of a view stays inside: static)
                inputs.append(i)
    return inputs, outputs


def _same_dims(axes, dims, outer):
    """Does each index axis follow dimensions known to be equal? ``axes``: the backend's
    ``kernel_axes`` answer (per axis, ``(inner variable, d)`` or a static size);
    ``outer`` maps the group's inner variables to the graph's."""
    for follows in axes:
        classes = {dims.find(("static", f)) if isinstance(f, int) else
                   dims.find(dims.key(outer.get(f[0], f[0]), f[1])) for f in follows}
        if len(classes) > 1:
            return False
    return True


def _clone(outputs, memo):
    """The group's nodes re-applied over ``memo``'s variables (same ops, same types: no
    type inference to redo, unlike clone_graph)."""
    for node in toposort(outputs, blockers=memo):
        new = Apply.__new__(Apply)
        new.op, new.trace = node.op, node.trace
        new.inputs = [memo.get(i, i) for i in node.inputs]
        new.outputs = [o.type.make_variable(o.name) for o in node.outputs]
        for k, (o, n) in enumerate(zip(node.outputs, new.outputs)):
            n.owner, n.index = new, k
            memo[o] = n
    return [memo[o] for o in outputs]


def _wrap(fgraph, members, copies, dims, kernel_axes, shared=frozenset()):
    """Replace ``members`` by one Fused node; its Apply, or None if the backend cannot
    lower it (``kernel_axes``, see :func:`fuse`; ``shared``, see :func:`_group_io`)."""
    members = [m for m in members if m in fgraph.nodes]
    if not members or all(fusible_kind(m) == "view" for m in members):
        return None
    inputs, outputs = _group_io(fgraph, members, copies, shared)
    if not outputs:
        return None
    fresh = [v.type.make_variable(v.name) for v in inputs]
    memo = dict(zip(inputs, fresh))
    fused = Fused(fresh, _clone(outputs, memo))
    axes = kernel_axes(fused)
    if axes is None or not _same_dims(axes, dims, {inner: v for v, inner in memo.items()}):
        return None
    node = fused.make_node(*inputs)
    node.trace = members[-1].trace
    fgraph.replace_all(list(zip(outputs, node.outputs)), reason="fusion")
    for old, new in zip(outputs, node.outputs):
        dims.alias(new, old)
    return node


def fuse(fgraph, stats=None, max_group=None, kernel_axes=None):
    """Group ``fgraph``'s fusible nodes into Fused nodes, in place; returns the new Apply nodes.

    ``max_group`` bounds the nodes of a group (1: each node its own kernel).
    ``kernel_axes(fused)`` is the backend's answer to whether it can lower a group
    (see :meth:`arignote.runtime.backends.Backend.kernel_axes`); default
    ``fgraph.kernel_axes``, which ``function`` sets."""
    kernel_axes = kernel_axes or getattr(fgraph, "kernel_axes", None)
    if kernel_axes is None:
        raise ArignoteValueError("fusion needs the backend's kernel_axes (fgraph.kernel_axes, "
                                 "which function() sets): which groups can it lower?")
    stats = stats if stats is not None else Stats()
    part = Partitioner(fgraph, max_group)
    groups = part.partition()
    cycle = quotient_cycle(part.order, groups)
    if cycle is not None:
        names = [f"kernel{{{','.join(str(m.op) for m in groups[u[1]][0])}}}" if u[0] == "g"
                 else str(u[1].op) for u in cycle + cycle[:1]]
        raise CycleError("fusion grouped nodes into kernels that would feed each other: "
                         + " -> ".join(names) + " (an internal error of the fusion pass)")
    made, shared = [], part.shared_copies()
    for members, copies in groups:
        node = _wrap(fgraph, members, copies, part.dims, kernel_axes, shared)
        if node is None and len(members) > 1:
            stats.fired["fusion: group split (not lowerable)"] += 1
            for m in members:
                single = _wrap(fgraph, [m], (), part.dims, kernel_axes)
                if single is not None:
                    made.append(single)
        elif node is not None:
            made.append(node)
    stats.fired["fusion: kernels"] += len(made)
    stats.fired["fusion: nodes fused"] += sum(len(n.op.nodes) for n in made)
    stats.fired["fusion: recomputed"] += part.recomputed
    stats.fired["fusion: reduction kernels merged"] += part.merged_reductions
    return made


@register_pass("fuse")
def fusion_pass(fgraph, stats):
    """Group for a compiling backend, as ``fgraph.fusion`` says: True fuses, False
    wraps each node alone (the unfused baseline), an int bounds the group size;
    None or absent (the reference backend) leaves the graph alone."""
    flag = getattr(fgraph, "fusion", None)
    if flag is None:
        return
    fuse(fgraph, stats, max_group=None if flag is True else 1 if flag is False else int(flag))
