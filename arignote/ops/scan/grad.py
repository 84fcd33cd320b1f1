"""Backpropagation through time: the gradient of a Scan is a Scan running backwards.

Its step recomputes the forward step from the rows the forward loop kept (the
sequences' rows and the recurrent outputs' rows it read) and differentiates
it, seeded with the gradient arriving at the step's outputs. What flows
between reverse steps is carried, never stacked:

* for each recurrent output with lag ``L``, ``L`` *pending* gradients: pending
  ``q`` is what later steps sent back to the row ``q`` before the current one.
  The row's whole gradient is the outer gradient of that row plus pending 0;
  the step's tap ``-k`` sends its gradient to pending ``k - 1`` of the next
  reverse step. After the last one, the pendings are the initial rows' gradients;
* for each invariant, the sum of its gradients over the steps.

Each sequence tap's gradient is one row per step, stacked and added into the
sequence's gradient outside the loop. With ``truncate_gradient=k`` the
reverse loop runs over the last ``k`` steps only, and what would flow past
them (into the earlier rows and the initial state) is dropped.

The ``grad`` function is passed in (the gradient module sits above the ops).

A carried value (a shared variable the step updates; the pendings and sums of
a reverse loop, which a second-order gradient differentiates) keeps only its
final value, but its gradient needs its value at each step. Where a gradient
goes through one, it is differentiated through an equal loop in which that
value is a recurrent output (all its rows kept, like Theano's shared
variables turned into recurrent outputs); a first-order gradient of a loop
that updates nothing pays nothing for this. A carried value that is not a
tensor (a random state) cannot be kept that way: a gradient through it raises
``NotImplementedError``.
"""
import numpy as np

from arignote.errors import describe
from arignote.graph.basic import Constant, ancestors, clone_graph
from arignote.graph.type import TensorType
from arignote.ops.basic import constant
from arignote.ops.elemwise import eq, minimum, switch, zeros_like
from arignote.ops.indexing import inc_subtensor
from arignote.ops.scan.layout import ScanLayout
from arignote.ops.scan.op import Scan
from arignote.ops.scan.parts import Rec, ScanParts
from arignote.ops.scan.residuals import keep_residuals, read_residuals, residuals
from arignote.ops.shape import dimshuffle, stack


def _differentiable(v):
    return isinstance(v.type, TensorType) and v.type.is_float


def scan_grad(op, inputs, outputs, output_grads, grad):
    lay = op.layout
    n, seqs, _inits, _carried0, invariant = lay.outer_inputs(inputs)
    ys, zs, _finals = lay.outer_outputs(outputs)
    dys, dzs, dfinals = lay.outer_outputs(output_grads)
    i_seqs, i_recs, i_carried, i_inv = lay.inner_inputs(op.inputs)
    o_recs, o_mapped, _o_carried, _ = lay.inner_outputs(op.outputs)
    lags = lay.lags

    # the forward outputs we differentiate: those that carry a gradient
    rec_ids = [j for j, o in enumerate(o_recs) if _differentiable(o) and dys[j] is not None]
    map_ids = [k for k, o in enumerate(o_mapped) if _differentiable(o) and dzs[k] is not None]
    wanted = [o_recs[j] for j in rec_ids] + [o_mapped[k] for k in map_ids]
    reads = set(ancestors(wanted))
    # (a carried value that is not a float, such as a random state, carries no gradient:
    # the values the step drew from it are residuals, stacked by the forward loop)
    through = [k for k, c in enumerate(i_carried)
               if (c in reads and _differentiable(c)) or
               (dfinals[k] is not None and not _is_zeros(dfinals[k]))]
    if through:
        return _grad_through_carried(op, inputs, outputs, output_grads, grad, through)

    # the reverse step's sequences: the forward step's rows, then the gradients arriving
    # at its outputs (``sources``: which outer rows each reads, made into windows below)
    rev_inner_seqs, replace, sources = [], {}, []
    for i, (taps, inner) in enumerate(zip(lay.seq_taps, i_seqs)):
        for tap, v in zip(taps, inner):
            replace[v] = _like(v)
            rev_inner_seqs.append(replace[v])
            sources.append(("seq", i, tap - min(taps)))
    for j, (lag, taps, inner) in enumerate(zip(lags, lay.rec_taps, i_recs)):
        for tap, v in zip(taps, inner):
            replace[v] = _like(v)
            rev_inner_seqs.append(replace[v])
            sources.append(("rec", j, lag + tap))
    # (an output whose gradient is zeros_like(it), none arrived: no rows of zeros to read)
    grad_rows, arriving = [], {}  # arriving: position in ``wanted`` -> its gradient row
    for pos, (kind, i, out, g) in enumerate([("dy", j, o_recs[j], dys[j]) for j in rec_ids] +
                                            [("dz", m, o_mapped[m], dzs[m]) for m in map_ids]):
        if not _is_zeros(g):
            sources.append((kind, i, lags[i] if kind == "dy" else 0))
            arriving[pos] = out.type.make_variable(f"d{out}")
            grad_rows.append(arriving[pos])
    rev_inner_seqs += grad_rows

    inv_inner = [_like(v) for v in i_inv]
    replace.update(zip(i_inv, inv_inner))
    for c in i_carried:
        replace[c] = _like(c)
    step_outs, memo = clone_graph(wanted, replace=replace)

    # carried: the pending gradients of each recurrent output's rows, the invariants' sums
    pending = {j: [_like(i_recs[j][0], f"pending{q}") for q in range(lags[j])] for j in rec_ids}
    inv_ids = [m for m, v in enumerate(i_inv) if _differentiable(v)]
    sums = [_like(i_inv[m], f"dsum{m}") for m in inv_ids]

    known = {}
    for pos, j in enumerate(rec_ids):
        _seed(known, step_outs[pos], arriving[pos] + pending[j][0] if pos in arriving
              else pending[j][0])
    for pos in range(len(rec_ids), len(wanted)):
        if pos in arriving:
            _seed(known, step_outs[pos], arriving[pos])
    seq_vars = [v for v in rev_inner_seqs[:len(rev_inner_seqs) - len(grad_rows)]]
    wrt = [v for v in seq_vars + inv_inner if _differentiable(v)]
    got = dict(zip(wrt, grad(None, wrt, known_grads=known, disconnected_inputs="ignore",
                             return_disconnected="none"))) if known else {}

    # the reverse step's outputs: each sequence tap's gradient row (mapped), then the
    # new pendings and sums (carried)
    n_seq_rows = sum(map(len, lay.seq_taps))
    seq_grad_rows = []
    for v in seq_vars[:n_seq_rows]:
        g = got.get(v)
        seq_grad_rows.append(zeros_like(v) if g is None else g)
    rec_rows = dict(zip([(j, tap) for j in range(lay.n_rec) for tap in lay.rec_taps[j]],
                        seq_vars[n_seq_rows:]))
    new_pending = []
    for j in rec_ids:
        for q in range(lags[j]):
            later = pending[j][q + 1] if q + 1 < lags[j] else zeros_like(pending[j][0])
            sent = [got[rec_rows[j, tap]] for tap in lay.rec_taps[j]
                    if tap == -(q + 1) and got.get(rec_rows[j, tap]) is not None]
            new_pending.append(sum(sent, later) if sent else later)
    new_sums = [s + got[inv_inner[m]] if got.get(inv_inner[m]) is not None else s
                for s, m in zip(sums, inv_ids)]

    carried_inner = [p for j in rec_ids for p in pending[j]] + sums

    # what the forward loop keeps for this one (see residuals.py): its rows replace the
    # reverse step's copies of the forward values the gradient reads
    rev_outs = seq_grad_rows + new_pending + new_sums
    rev_in = rev_inner_seqs + carried_inner + inv_inner
    pairs = residuals(op, memo, rev_outs, rev_in)
    replaced, kept = keep_residuals(outputs[0].owner, [u for u, _ in pairs])
    ys, zs = [replaced[y] for y in ys], [replaced[z] for z in zs]
    res_inner = [_like(u) for u, _ in pairs]
    rev_outs = read_residuals(rev_outs, rev_in, pairs, res_inner)
    stale = [c for c in i_carried if replace[c] in ancestors(rev_outs, blockers=rev_in + res_inner)]
    if stale:
        raise NotImplementedError(
            f"the gradient of {op} needs the value of {describe(stale[0])} at each step, which "
            f"its step updates and which is not a float tensor, to recompute what the gradient "
            f"reads from it")
    rev_outs = iter(rev_outs)
    seq_grad_rows = [next(rev_outs) for _ in seq_grad_rows]
    new_pending = [next(rev_outs) for _ in new_pending]
    new_sums = [next(rev_outs) for _ in new_sums]

    # how many steps ran, and how many the gradient goes back through
    steps = ys[0].shape[0] - lags[0] if ys else zs[0].shape[0] if zs else n
    k = steps if lay.truncate_gradient < 0 else minimum(steps, lay.truncate_gradient)
    first = steps - k if lay.truncate_gradient >= 0 else 0

    def window(x, offset):
        """Rows ``offset + first .. offset + steps`` of ``x``, last first."""
        return x[offset + first:offset + steps][::-1]

    outer_of = {"seq": seqs, "rec": ys, "dy": dys, "dz": dzs}
    rev_seqs = [window(outer_of[kind][i], offset) for kind, i, offset in sources]
    rev_seqs += [window(*kept[u]) for u, _ in pairs]
    rev_inner_seqs += res_inner
    layout = ScanLayout(seq_taps=((0,),) * len(rev_seqs), rec_taps=(), n_mapped=len(seq_grad_rows),
                        n_carried=len(carried_inner), n_invariant=len(invariant))
    reverse = Scan(rev_inner_seqs + carried_inner + inv_inner,
                   seq_grad_rows + new_pending + new_sums, layout,
                   name=f"grad_of_{op.name or 'scan_fn'}")
    carried_init = [zeros_like(ys[j][0]) for j in rec_ids for _ in range(lags[j])] + \
        [zeros_like(invariant[m]) for m in inv_ids]
    outs = reverse(k, *rev_seqs, *carried_init, *invariant) if (
        rev_seqs or carried_init or invariant) else []
    outs = outs if isinstance(outs, list) else [outs]
    seq_grads_t, finals = outs[:len(seq_grad_rows)], outs[len(seq_grad_rows):]

    # the outer gradients
    result = [None] * len(inputs)
    base = 1
    rows = iter(seq_grads_t)
    for i, (s, taps) in enumerate(zip(seqs, lay.seq_taps)):
        g = zeros_like(s)
        for tap in taps:
            off = tap - min(taps)
            g = inc_subtensor(g[off + first:off + steps], next(rows)[::-1])
        result[base + i] = g if _differentiable(s) else None
    base += lay.n_seqs
    finals = iter(finals)
    for j in range(lay.n_rec):
        if j not in rec_ids:
            continue
        ps = [next(finals) for _ in range(lags[j])]
        back = stack(ps[::-1])  # (row r of the initial state is pending lag - 1 - r)
        if lay.truncate_gradient >= 0:  # (dropped when the truncated loop stopped short)
            back = switch(eq(k, steps), back, constant(np.zeros((), back.dtype)))
        result[base + j] = dys[j][:lags[j]] + back
    base += lay.n_rec + lay.n_carried
    for m in inv_ids:
        result[base + m] = next(finals)
    return result


def _grad_through_carried(op, inputs, outputs, output_grads, grad, through):
    """The gradient through the carried values ``through`` (their indices): that of an
    equal loop keeping all their rows as recurrent outputs (tap -1)."""
    node = outputs[0].owner
    parts = ScanParts.of(node)
    moved = [parts.carried[k] for k in through]
    for c in moved:
        if not (isinstance(c.inner.type, TensorType) and c.inner.type.is_float):
            raise NotImplementedError(
                f"the gradient of {op} through {describe(c.init)}, which its step updates (a "
                f"random state, or an update the step returns) and which is not a float tensor, "
                f"is not implemented")
        parts.recs.append(Rec(dimshuffle(c.init, ["x", *range(c.init.ndim)]), (-1,), [c.inner],
                              c.update))
    parts.carried = [c for c in parts.carried if not any(c is m for m in moved)]
    replaced, added = parts.build()
    finals = dict(zip([c.out for c in moved], [rows[-1] for rows in added]))
    known = {}
    for old, g in zip(outputs, output_grads):
        new = replaced.get(old, finals.get(old))
        if g is not None and _differentiable(old):
            _seed(known, new, g)
    wrt = list(dict.fromkeys(i for i in inputs if _differentiable(i)))
    got = dict(zip(wrt, grad(None, wrt, known_grads=known, disconnected_inputs="ignore",
                             return_disconnected="none")))
    result, seen = [], set()
    for i in inputs:  # (an input at two places gets its whole gradient once)
        result.append(got.get(i) if i not in seen else None)
        seen.add(i)
    return result


def _is_zeros(g):
    """Whether ``g`` is ``zeros_like`` of something: no gradient arrived."""
    scalar = getattr(g.owner.op, "scalar_op", None) if g.owner is not None else None
    return (getattr(scalar, "name", None) == "second" and isinstance(g.owner.inputs[1], Constant)
            and not np.any(g.owner.inputs[1].data))


def _like(v, name=None):
    """A new inner placeholder of ``v``'s type."""
    return v.type.make_variable(name or v.name)


def _seed(known, var, g):
    """Seed ``var``'s gradient with ``g`` (two outputs may be one variable: add)."""
    if isinstance(var, Constant):
        return
    known[var] = known[var] + g if var in known else g
