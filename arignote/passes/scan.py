"""Loop rewrites: what makes a recurrent net's loop do only per-step work.

A step runs ``n_steps`` times, each time with Python and a handful of kernel
launches around it; a matrix product over the whole sequence runs once, at
BLAS speed. So every rewrite here moves work *out* of a Scan (each builds a
new Scan through :class:`~arignote.ops.scan.parts.ScanParts`):

* ``scan_prune``: outputs nobody reads are not computed, and inputs nothing
  reads are not passed (the gradient's reverse loop computes every
  sequence's gradient; most are never used);
* ``scan_hoist_invariants``: a value computed from invariants only (``W.T``
  in the gradient's step) is computed once, before the loop;
* ``scan_pushout_seq_matmul``: a product ``x_t @ W`` of a sequence's row by
  an invariant becomes one product over all the rows before the loop (the
  input projection of an RNN);
* ``scan_pushout_sums``: a carried sum ``acc + a_t.T @ b_t`` (a weight's
  gradient in the reverse loop) or ``acc + sum(b_t, 0)`` (a bias's) becomes
  one product (one sum) over the stacked rows after the loop.
"""
from arignote.graph.basic import Constant, ancestors, toposort
from arignote.ops.blas import MatMul
from arignote.ops.indexing import Subtensor
from arignote.ops.reduce import Reduce
from arignote.ops.scan.op import Scan
from arignote.ops.scan.parts import Invariant, Mapped, ScanParts, Seq, placeholder
from arignote.ops.shape import DimShuffle, reshape
from arignote.passes.rewriting import add_terms, node_rewriter, register


@register("canonicalize", "scan")
@node_rewriter([Scan], name="scan_merge_extended")
def scan_merge_extended(fgraph, node):
    """A loop equal to another one on the same inputs but for the latter's extra mapped
    outputs (the residuals a gradient keeps) is that other loop: run it once."""
    lay = node.op.layout
    for other, _ in fgraph.clients.get(node.inputs[0], ()):
        if other is node or not isinstance(getattr(other, "op", None), Scan) or \
                other.inputs != node.inputs:
            continue
        olay = other.op.layout
        if olay.n_mapped <= lay.n_mapped or olay.rec_taps != lay.rec_taps or \
                olay.n_carried != lay.n_carried:
            continue
        parts = ScanParts.of(other)
        parts.mapped = parts.mapped[:lay.n_mapped]
        if Scan(parts.inner_inputs, parts.inner_outputs, lay, name=node.op.name) != node.op:
            continue
        recs, mapped, carried = lay.outer_outputs(node.outputs)
        orecs, omapped, ocarried = olay.outer_outputs(other.outputs)
        return dict(zip(recs + mapped + carried, orecs + omapped[:len(mapped)] + ocarried))
    return None


def _readers(fgraph, v):
    return [c for c, _ in fgraph.clients.get(v, ())]


def _last_row_reads(fgraph, out, lag):
    """The ``y[lag:][-1]`` nodes reading the recurrent output ``out``, if those (with
    ``y[-1]``) are all that reads it; else None."""
    found = []
    for c in _readers(fgraph, out):
        if not isinstance(getattr(c, "op", None), Subtensor) or type(c.op) is not Subtensor:
            return None
        if c.op.idx_list == (("int", -1),):
            found.append(c)
            continue
        if c.op.idx_list != (("slice", lag, None, None),):
            return None
        for d in _readers(fgraph, c.outputs[0]):
            if type(getattr(d, "op", None)) is not Subtensor or d.op.idx_list != (("int", -1),):
                return None
            found.append(d)
    return found or None


@register("specialize", "scan")
@node_rewriter([Scan], name="scan_keep_last_row")
def scan_keep_last_row(fgraph, node):
    """A recurrent output read only at its last row (``h[-1]``: the final state) keeps a
    ring of ``lag + 1`` rows instead of one row per step. The reads stay ``y[lag:][-1]``
    over the ring's rows, so zero steps still raise as NumPy does."""
    parts = ScanParts.of(node)
    ring = [r for r in parts.recs if not r.keep and _last_row_reads(fgraph, r.out, -min(r.taps))]
    if not ring:
        return None
    for r in ring:
        r.keep = -min(r.taps) + 1
    replaced, _ = parts.build()
    result = {}
    for r in ring:
        new = replaced.pop(r.out)
        for read in _last_row_reads(fgraph, r.out, -min(r.taps)):
            src = new if read.inputs[0] is r.out else new[-min(r.taps):]
            result[read.outputs[0]] = src[-1]
    result.update(replaced)
    return result


def _used(fgraph, v):
    return v is not None and bool(fgraph.clients.get(v))


@register("specialize", "scan")
@node_rewriter([Scan], name="scan_prune")
def scan_prune(fgraph, node):
    parts = ScanParts.of(node)
    records = parts.recs + parts.mapped + parts.carried
    kept = {r for r in records if _used(fgraph, r.out)}
    if not kept:
        return None  # (a dead node: the graph drops it)
    fed_back = {r: (r.inner if hasattr(r, "taps") else [r.inner])
                for r in parts.recs + parts.carried}
    while True:  # a fed-back value read by a kept output is kept
        ends = [r.update for r in records if r in kept] + \
            ([parts.cond] if parts.cond is not None else [])
        needed = set(ancestors(ends, blockers=parts.inner_inputs))
        more = [r for r, vs in fed_back.items() if r not in kept and any(v in needed for v in vs)]
        if not more:
            break
        kept.update(more)
    changed = len(kept) != len(records)
    parts.recs = [r for r in parts.recs if r in kept]
    parts.mapped = [m for m in parts.mapped if m in kept]
    parts.carried = [c for c in parts.carried if c in kept]
    seqs = []
    for s in parts.seqs:
        taps = [(t, v) for t, v in zip(s.taps, s.inner) if v in needed]
        if len(taps) != len(s.taps):
            changed = True
        if taps:
            shift = min(t for t, _ in taps) - min(s.taps)
            outer = s.outer[shift:] if shift else s.outer
            seqs.append(Seq(outer, tuple(t for t, _ in taps), [v for _, v in taps]))
    invariants = [i for i in parts.invariants if i.inner in needed]
    changed |= len(invariants) != len(parts.invariants)
    if not changed:
        return None
    parts.seqs, parts.invariants = seqs, invariants
    replaced, _ = parts.build()
    return replaced


@register("specialize", "scan")
@node_rewriter([Scan], name="scan_hoist_invariants")
def scan_hoist_invariants(fgraph, node):
    parts = ScanParts.of(node)
    outer_of = {i.inner: i.outer for i in parts.invariants}
    nodes = toposort(parts.inner_outputs, blockers=parts.inner_inputs)
    hoisted = {}
    for n in nodes:
        if all(v in outer_of or isinstance(v, Constant) for v in n.inputs) and \
                not all(isinstance(v, Constant) for v in n.inputs):
            new = n.clone_with_new_inputs([outer_of.get(v, v) for v in n.inputs])
            if all(o.type.accepts(no.type) for o, no in zip(n.outputs, new.outputs)):
                for o, no in zip(n.outputs, new.outputs):
                    outer_of[o] = hoisted[o] = no
    if not hoisted:
        return None
    # (in graph order, not a set's: the new invariants' order is the same at every compile)
    read = dict.fromkeys(v for n in nodes if n.outputs[0] not in hoisted for v in n.inputs
                         if v in hoisted)
    read.update(dict.fromkeys(o for o in parts.inner_outputs if o in hoisted))
    replace = {}
    for v in read:
        replace[v] = placeholder(hoisted[v])
        parts.invariants.append(Invariant(hoisted[v], replace[v]))
    parts.replace_inner(replace)
    replaced, _ = parts.build()
    return replaced


def _rows(x):
    """A 3-d stack of matrices as one matrix of all their rows."""
    return reshape(x, (x.shape[0] * x.shape[1], x.shape[2]))


@register("specialize", "scan")
@node_rewriter([Scan], name="scan_pushout_seq_matmul")
def scan_pushout_seq_matmul(fgraph, node):
    parts = ScanParts.of(node)
    tap_of = {v: (s, t) for s in parts.seqs for t, v in zip(s.taps, s.inner)}
    invariant = {i.inner: i.outer for i in parts.invariants}
    replace = {}
    for n in toposort(parts.inner_outputs, blockers=parts.inner_inputs):
        if not isinstance(n.op, MatMul) or n.inputs[0].ndim != 2:
            continue
        a, w = n.inputs
        if a not in tap_of or w not in invariant:
            continue
        s, tap = tap_of[a]
        off = tap - min(s.taps)
        rows = s.outer[off:off + parts.n_steps]
        w_out = invariant[w]
        prod = MatMul()(_rows(rows), w_out)
        seq = reshape(prod, (rows.shape[0], rows.shape[1], w_out.shape[1]))
        out = n.outputs[0]
        if not (seq.dtype == out.dtype and seq.ndim == out.ndim + 1):
            continue
        replace[out] = out.type.make_variable(out.name)
        parts.seqs.append(Seq(seq, (0,), [replace[out]]))
    if not replace:
        return None
    parts.replace_inner(replace)
    replaced, _ = parts.build()
    return replaced


# ------------------------------------------------------------ carried sums

def _outer_product_of_rows(term):
    """(a, b) where ``term`` is ``a.T @ b`` of two per-step matrices (a weight's gradient)."""
    node = term.owner
    if node is None or not isinstance(node.op, MatMul) or term.ndim != 2:
        return None
    left, b = node.inputs
    ln = left.owner
    if ln is None or not isinstance(ln.op, DimShuffle) or ln.op.new_order != (1, 0):
        return None
    return ln.inputs[0], b


def _sum_of_rows(term):
    """(b, keepdims) where ``term`` is ``sum(b, axis=0)`` of a per-step matrix (a bias's
    gradient)."""
    node = term.owner
    if node is None or not isinstance(node.op, Reduce) or node.op.combiner != "sum" or \
            tuple(node.op.axis or ()) != (0,) or node.inputs[0].ndim != 2:
        return None
    return node.inputs[0], node.op.keepdims


@register("specialize", "scan")
@node_rewriter([Scan], name="scan_pushout_sums")
def scan_pushout_sums(fgraph, node):
    parts = ScanParts.of(node)
    traces = _Traces(parts)
    later = []  # (carried record, [outer expression builders])
    for c in list(parts.carried):
        terms = add_terms(c.update)
        if terms.count(c.inner) != 1 or c.out is None:
            continue
        others = [r.update for r in parts.recs + parts.mapped + parts.carried if r is not c]
        if parts.cond is not None:
            others.append(parts.cond)
        rest = [t for t in terms if t is not c.inner]
        if c.inner in ancestors(rest + others, blockers=parts.inner_inputs):
            continue
        pushed, kept = [], []
        for t in rest:
            pair, row_sum = _outer_product_of_rows(t), _sum_of_rows(t)
            if pair is not None and all(traces.can(v) for v in pair):
                pushed.append(("dot", [traces.ask(v) for v in pair], t))
            elif row_sum is not None and traces.can(row_sum[0]):
                pushed.append(("sum" if not row_sum[1] else "sum_keepdims",
                               [traces.ask(row_sum[0])], t))
            else:
                kept.append(t)
        if not pushed:
            continue
        if kept:
            total = kept[0]
            for t in kept[1:]:
                total = total + t
            c.update = c.inner + total
        else:
            parts.carried.remove(c)
        later.append((c, bool(kept), pushed))
    if not later:
        return None
    replaced, added = parts.build()
    traces.resolve(added, replaced)
    result = dict(replaced)
    for c, still_carried, pushed in later:
        total = replaced[c.out] if still_carried else c.init
        for kind, keys, _term in pushed:
            if kind == "dot":
                a, b = (traces.outer(k) for k in keys)
                value = MatMul()(_rows(a).T, _rows(b))
            else:
                (b,) = (traces.outer(k) for k in keys)
                value = b.sum(axis=(0, 1))
                if kind == "sum_keepdims":
                    value = value.dimshuffle("x", 0)
            if value.dtype != c.out.dtype:
                value = value.astype(c.out.dtype)
            total = total + value
        result[c.out] = total
    return result


class _Traces:
    """The per-step values of inner variables, stacked, as outer variables: the rows
    a sequence tap or a recurrent tap reads, or a new mapped output."""

    def __init__(self, parts):
        self.parts = parts
        # inner variable -> (outer variable, first row): a tap reads the ``n_steps`` rows
        # from ``first`` on. Not with an ``until`` (the loop may stop before the last of
        # them) nor from a ring (it keeps the last rows only): such a tap stays inside
        self.windows = {}
        full = parts.cond is None
        for s in parts.seqs if full else ():
            for t, v in zip(s.taps, s.inner):
                self.windows[v] = (s.outer, t - min(s.taps))
        for r in parts.recs if full else ():
            if r.out is not None and not r.keep:
                for t, v in zip(r.taps, r.inner):
                    self.windows[v] = (r.out, t - min(r.taps))
        self.step_values = set(ancestors(parts.inner_outputs, blockers=parts.inner_inputs)) - \
            set(parts.inner_inputs)
        self.new = {}
        self.replaced = {}

    def can(self, v):
        """Whether ``v``'s rows can be stacked: a per-step matrix of the loop."""
        return v.ndim == 2 and (v in self.windows or v in self.step_values)

    def ask(self, v):
        if v not in self.windows and v not in self.new:
            self.new[v] = Mapped(v)
            self.parts.mapped.append(self.new[v])
        return v

    def resolve(self, added, replaced):
        """The new node's outputs: ``added`` (the new mapped ones), ``replaced``."""
        for m, out in zip([m for m in self.parts.mapped if m.out is None], added):
            m.out = out
        self.replaced = replaced

    def outer(self, v):
        if v in self.new:
            return self.new[v].out
        x, first = self.windows[v]
        x = self.replaced.get(x, x)  # (a recurrent output of the node being replaced)
        return x[first:first + self.parts.n_steps]
