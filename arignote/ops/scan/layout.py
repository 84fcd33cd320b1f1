"""Where each argument of a :class:`~arignote.ops.scan.op.Scan` sits.

A loop reads five kinds of values, always in this order, in its outer inputs,
its inner inputs and its outputs (Theano's order, with its names in brackets):

============  ===========================  =========================  ==========================
kind          outer input                  inner inputs (per step t)  outer output
============  ===========================  =========================  ==========================
sequences     ``s`` [seqs]                 ``s[t + tap - min(taps)]``  --
              (one per tap)
recurrent     ``init``, ``lag`` rows        ``y[t + tap]`` (one per    ``y``: ``init`` then one row
  [mit/sit-sot]                            tap, ``tap < 0``)           per step (``lag + n`` rows)
mapped        --                           --                         ``z``: one row per step
  [nit-sot]
carried       ``h0``                       ``h`` (the previous        ``h`` after the last step
  [shared outs]                            step's value)
invariant     ``p``                        ``p``                      --
  [non-seqs]
============  ===========================  =========================  ==========================

The outer inputs start with ``n_steps``. The inner outputs are, in order, the
recurrent outputs' new rows, the mapped outputs' rows, the carried values and,
with ``until``, the stopping condition. ``lag`` of a recurrent output is the
largest of ``-tap``: how many rows before the current one its step reads.
"""
from dataclasses import dataclass


@dataclass(frozen=True)
class ScanLayout:
    seq_taps: tuple = ()        # one tuple of taps per sequence
    rec_taps: tuple = ()        # one tuple of (negative) taps per recurrent output
    n_mapped: int = 0
    n_carried: int = 0
    n_invariant: int = 0
    until: bool = False
    #: how many final steps the gradient goes back through (-1: all of them)
    truncate_gradient: int = -1
    #: per recurrent output, how many of its last rows it outputs (0: all of them): where
    #: only the last row is read, the loop keeps a ring of ``lag + 1`` rows and outputs
    #: those (see ``scan_keep_last_row`` in ``arignote.passes.scan``)
    rec_keep: tuple = ()

    def keep(self, j):
        return self.rec_keep[j] if self.rec_keep else 0

    # ---------------------------------------------------------- counts

    @property
    def n_seqs(self):
        return len(self.seq_taps)

    @property
    def n_rec(self):
        return len(self.rec_taps)

    @property
    def lags(self):
        return tuple(-min(taps) for taps in self.rec_taps)

    @property
    def seq_spans(self):
        """How many more rows than steps each sequence needs."""
        return tuple(max(taps) - min(taps) for taps in self.seq_taps)

    # ---------------------------------------------------------- outer inputs

    def outer_inputs(self, inputs):
        """``inputs`` split as (n_steps, sequences, initial rows, carried, invariant)."""
        k = 1
        parts = [inputs[0]]
        for n in (self.n_seqs, self.n_rec, self.n_carried, self.n_invariant):
            parts.append(list(inputs[k:k + n]))
            k += n
        return parts

    @property
    def n_outer_inputs(self):
        return 1 + self.n_seqs + self.n_rec + self.n_carried + self.n_invariant

    # ---------------------------------------------------------- inner inputs

    @property
    def n_inner_inputs(self):
        return (sum(map(len, self.seq_taps)) + sum(map(len, self.rec_taps)) +
                self.n_carried + self.n_invariant)

    def inner_inputs(self, inner):
        """The inner inputs split as (per-sequence lists of tap slices, per-recurrent
        lists of tap rows, carried, invariant)."""
        k, seqs, recs = 0, [], []
        for taps in self.seq_taps:
            seqs.append(list(inner[k:k + len(taps)]))
            k += len(taps)
        for taps in self.rec_taps:
            recs.append(list(inner[k:k + len(taps)]))
            k += len(taps)
        carried = list(inner[k:k + self.n_carried])
        k += self.n_carried
        return seqs, recs, carried, list(inner[k:k + self.n_invariant])

    # ---------------------------------------------------------- inner and outer outputs

    @property
    def n_inner_outputs(self):
        return self.n_rec + self.n_mapped + self.n_carried + int(self.until)

    def inner_outputs(self, outputs):
        """The inner outputs split as (recurrent, mapped, carried, condition or None)."""
        a, b = self.n_rec, self.n_rec + self.n_mapped
        c = b + self.n_carried
        return (list(outputs[:a]), list(outputs[a:b]), list(outputs[b:c]),
                outputs[c] if self.until else None)

    @property
    def n_outer_outputs(self):
        return self.n_rec + self.n_mapped + self.n_carried

    def outer_outputs(self, outputs):
        """The outer outputs split as (recurrent buffers, mapped, carried finals)."""
        a, b = self.n_rec, self.n_rec + self.n_mapped
        return list(outputs[:a]), list(outputs[a:b]), list(outputs[b:])
