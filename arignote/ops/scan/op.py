"""The loop op: :class:`Scan` applies its inner graph (one step) ``n_steps`` times.

The argument layout is :class:`~arignote.ops.scan.layout.ScanLayout`; the user
API that builds a Scan is :mod:`arignote.ops.scan.build`, its gradient
:mod:`arignote.ops.scan.grad`. Running is here: the step is compiled once
(by the backend the function runs on, in its mode, like any inner graph) and
called once per step over rows of buffers allocated once for the whole loop.
"""
import numpy as np

from arignote.errors import ArignoteTypeError, ArignoteValueError, ShapeError
from arignote.graph.basic import Apply, Constant, ancestors
from arignote.graph.type import TensorType
from arignote.ops.elemwise import minimum
from arignote.ops.inner import InnerGraphOp


class Scan(InnerGraphOp):
    """A loop over the inner graph ``inputs -> outputs`` with argument layout ``layout``."""

    fusion_kind = "opaque"

    def __init__(self, inputs, outputs, layout, name=None):
        self.layout = layout
        self.name = name
        if len(inputs) != layout.n_inner_inputs or len(outputs) != layout.n_inner_outputs:
            raise ArignoteValueError(
                f"internal error: a scan with layout {layout} takes {layout.n_inner_inputs} inner "
                f"inputs and {layout.n_inner_outputs} inner outputs, got {len(inputs)} and "
                f"{len(outputs)}")
        super().__init__(inputs, outputs)

    def _props(self):
        return super()._props() + (self.layout,)

    def __str__(self):
        return f"Scan{{{self.name or 'scan_fn'}}}"

    __repr__ = __str__

    # ---------------------------------------------------------- graph building

    def make_node(self, n_steps, *inputs):
        lay = self.layout
        inputs = [n_steps, *inputs]
        if len(inputs) != lay.n_outer_inputs:
            raise ArignoteTypeError(f"{self} takes {lay.n_outer_inputs} inputs, got {len(inputs)}")
        if not (isinstance(n_steps.type, TensorType) and n_steps.ndim == 0
                and n_steps.dtype.startswith("int")):
            raise ArignoteTypeError(f"{self}: n_steps must be an integer scalar, got {n_steps.type}")
        _, seqs, inits, carried, invariant = lay.outer_inputs(inputs)
        i_seqs, i_recs, i_carried, i_invariant = lay.inner_inputs(self.inputs)
        for outer, inner in zip(seqs, i_seqs):
            _expect_rows(self, "sequence", outer, inner[0])
        for outer, inner in zip(inits, i_recs):
            _expect_rows(self, "initial state", outer, inner[0])
        for outer, inner in zip(carried + invariant, i_carried + i_invariant):
            if not inner.type.accepts(outer.type):
                raise ArignoteTypeError(f"{self}: input {outer} must be {inner.type}, got {outer.type}")
        n = _static_int(n_steps)
        length = None if lay.until or n is None else n
        o_recs, o_mapped, o_carried, _ = lay.inner_outputs(self.outputs)
        types = [TensorType(o.type.dtype, (_rows(length, lag, lay.keep(j)),) + o.type.shape)
                 for j, (o, lag) in enumerate(zip(o_recs, lay.lags))]
        types += [TensorType(o.type.dtype, (length,) + o.type.shape) for o in o_mapped]
        types += [i.type for i in i_carried]
        return Apply(self, inputs, types)

    def infer_shape(self, node, input_shapes):
        """Rows: ``lag + n_steps`` (recurrent) and ``n_steps`` (mapped), unknown after an
        ``until``; a mapped row's shape where the step's shapes follow from its inputs'."""
        lay = self.layout
        n = None if lay.until else node.inputs[0]
        _, seq_shapes, init_shapes, carried_shapes, inv_shapes = lay.outer_inputs(input_shapes)
        rows = [(n if n is None else n + lag if not lay.keep(j) else minimum(n + lag, lay.keep(j)),)
                + tuple(s[1:]) for j, (s, lag) in enumerate(zip(init_shapes, lay.lags))]
        inner_in = [tuple(s[1:]) for s, taps in zip(seq_shapes, lay.seq_taps) for _ in taps]
        inner_in += [tuple(s[1:]) for s, taps in zip(init_shapes, lay.rec_taps) for _ in taps]
        mapped = [(n,) + entries for entries in self._mapped_row_shapes(
            inner_in + list(carried_shapes) + list(inv_shapes))]
        return rows + mapped + [tuple(s) for s in carried_shapes]

    def _mapped_row_shapes(self, inner_input_shapes):
        """Each mapped output's row shape over the outer shapes, None entries where it
        depends on values computed inside the step."""
        _, o_mapped, _, _ = self.layout.inner_outputs(self.outputs)
        unknown = [(None,) * o.ndim for o in o_mapped]
        if not o_mapped:
            return []
        try:
            shapes = InnerGraphOp.inner_shapes(self, inner_input_shapes)
        except (NotImplementedError, TypeError, ArignoteValueError):
            return unknown
        inner_vars = set(self.inputs) | {o for n in self.nodes for o in n.outputs}
        a = self.layout.n_rec
        result = []
        for o, shp in zip(o_mapped, shapes[a:a + len(o_mapped)]):
            result.append(tuple(
                None if e is None or any(v in inner_vars for v in ancestors([e])) else e
                for e in shp) if len(shp) == o.ndim else (None,) * o.ndim)
        return result

    # ---------------------------------------------------------- gradient

    def L_op_inner(self, inputs, outputs, output_grads, grad):
        from arignote.ops.scan.grad import scan_grad  # (same layer: grad.py builds Scans)
        return scan_grad(self, inputs, outputs, output_grads, grad)

    # ---------------------------------------------------------- running

    def make_step(self, node, compile_inner, alloc=None):
        return LoopStep(self, compile_inner(self.fgraph()), alloc or np.empty)


class LoopStep:
    """A scan's step in a Program: its compiled inner graph and where its buffers come
    from (the Program's pool: a loop's rows are written once per call, and fresh pages
    would cost more than the copies)."""

    __slots__ = ("op", "inner", "alloc")

    def __init__(self, op, inner, alloc):
        self.op, self.inner, self.alloc = op, inner, alloc

    def __call__(self, args):
        return Loop(self.op, self.inner, args, self.alloc).run()


class Loop:
    """One run of a scan: the buffers, the per-step arguments, the steps."""

    def __init__(self, op, step, inputs, alloc=np.empty):
        self.op, self.step, self.alloc = op, step, alloc
        lay = self.layout = op.layout
        n, seqs, inits, carried, invariant = lay.outer_inputs(inputs)
        self.n = n = int(n)
        if n < 0:
            raise ArignoteValueError(f"{op}: n_steps is {n}; a loop cannot run a negative "
                                     f"number of steps")
        for s, taps in zip(seqs, lay.seq_taps):
            need = n + max(taps) - min(taps)
            if s.shape[0] < need:
                raise ShapeError(
                    f"{op}: a sequence of {s.shape[0]} rows is too short for {n} steps with taps "
                    f"{list(taps)} (it needs {need} rows)")
        # per recurrent output: all its rows, or a ring of its last ``size`` (row r at r % size)
        self.bufs, self.rings = [], []
        for j, (init, lag) in enumerate(zip(inits, lay.lags)):
            if init.shape[0] != lag:
                raise ShapeError(f"{op}: outputs_info[{j}] (an initial state with taps reaching "
                                 f"{lag} steps back) needs {lag} rows, got {init.shape[0]}")
            ring = min(lag + n, lay.keep(j)) if lay.keep(j) else 0
            buf = alloc((ring or lag + n,) + init.shape[1:], init.dtype)
            buf[:lag] = init
            self.bufs.append(buf)
            self.rings.append(ring)
        # each inner input: (array, offset, ring) read at row t + offset (modulo the ring)
        self.rows = [(s, tap - min(taps), 0) for s, taps in zip(seqs, lay.seq_taps) for tap in taps]
        self.rows += [(buf, lag + tap, ring) for buf, lag, ring, taps in
                      zip(self.bufs, lay.lags, self.rings, lay.rec_taps) for tap in taps]
        self.carried, self.invariant = list(carried), list(invariant)
        self.mapped = [None] * lay.n_mapped

    def run(self):
        lay, step, rows = self.layout, self.step, self.rows
        n_rec, n_mapped, n_carried = lay.n_rec, lay.n_mapped, lay.n_carried
        # (buffer, the row written at step t: t + lag, the row shape, ring) per recurrent output
        stores = [(buf, lag, buf.shape[1:], ring)
                  for buf, lag, ring in zip(self.bufs, lay.lags, self.rings)]
        fixed = self.carried + self.invariant
        steps = self.n
        for t in range(self.n):
            outs = step([a[t + o, ...] if not m else a[(t + o) % m, ...] for a, o, m in rows] + fixed)
            for j, (buf, lag, shape, ring) in enumerate(stores):
                row = outs[j]
                if row.shape != shape:
                    raise ShapeError(f"{self.op}: at step {t}, recurrent output {j} has shape "
                                     f"{row.shape}, but its initial state has rows of shape "
                                     f"{shape}; a recurrent output keeps its shape")
                buf[t + lag if not ring else (t + lag) % ring] = row
            for k in range(n_mapped):
                self._store_mapped(k, t, outs[n_rec + k])
            if n_carried:
                self.carried = outs[n_rec + n_mapped:n_rec + n_mapped + n_carried]
                fixed = self.carried + self.invariant
            if lay.until and outs[-1]:
                steps = t + 1
                break
        if self.n == 0:
            self._empty_mapped()
        outs = [buf[:lag + steps] if not ring else _last_rows(buf, ring, lag + steps)
                for buf, lag, _, ring in stores]
        outs += [m[:steps] for m in self.mapped]
        return outs + list(self.carried)

    def _store_mapped(self, k, t, row):
        out = self.mapped[k]
        if out is None:
            out = self.mapped[k] = self.alloc((self.n,) + row.shape, row.dtype)
        elif row.shape != out.shape[1:]:
            raise ShapeError(f"{self.op}: at step {t}, output {self.layout.n_rec + k} has shape "
                             f"{row.shape}, but {out.shape[1:]} at step 0; the rows a scan stacks "
                             f"must all have one shape")
        out[t] = row

    def _empty_mapped(self):
        """Zero steps: the mapped outputs have no rows; their row shapes come from one
        trial step on rows of zeros, or from their static types (0 where unknown)."""
        _, o_mapped, _, _ = self.layout.inner_outputs(self.op.outputs)
        shapes = [tuple(0 if s is None else s for s in o.type.shape) for o in o_mapped]
        if o_mapped:
            args = [np.zeros(a.shape[1:], a.dtype) for a, _, _ in self.rows] + \
                self.carried + self.invariant
            try:
                with np.errstate(all="ignore"):
                    outs = self.step(args)
                n_rec = self.layout.n_rec
                shapes = [np.shape(r) for r in outs[n_rec:n_rec + len(o_mapped)]]
            except Exception:  # noqa: BLE001  (a step that needs real data: shapes as typed)
                pass
        self.mapped = [np.empty((0,) + s, o.type.dtype) for s, o in zip(shapes, o_mapped)]


def _last_rows(ring, size, total):
    """The last ``size`` of ``total`` rows kept in ``ring`` (row r at r % size), in order."""
    first = max(total - size, 0)
    return ring[[r % size for r in range(first, total)]]


def _rows(length, lag, keep):
    """The static row count of a recurrent output: unknown, ``lag + n``, or the ring's."""
    if length is None:
        return None
    return length + lag if not keep else min(length + lag, keep)


def _expect_rows(op, what, outer, inner):
    """``outer`` must be rows of ``inner``'s type: one more dimension, the same dtype."""
    t = outer.type
    if not (isinstance(t, TensorType) and t.ndim == inner.ndim + 1 and t.dtype == inner.dtype
            and TensorType(t.dtype, t.shape[1:]).compatible(inner.type)):
        raise ArignoteTypeError(f"{op}: a {what} must be rows of {inner.type} "
                                f"(a {inner.ndim + 1}-d {inner.dtype} tensor), got {outer} ({t})")


def _static_int(v):
    if isinstance(v, Constant):
        return int(np.asarray(v.data))
    return None


__all__ = ["Scan"]
