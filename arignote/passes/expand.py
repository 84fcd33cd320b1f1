"""Expansion (``fuse`` phase, before fusion): softmax and log-softmax become
elementwise ops and reductions, so a compiling backend fuses them into kernels.

On the reference backend :class:`~arignote.ops.nnet.Softmax` and
:class:`~arignote.ops.nnet.LogSoftmax` stay ops of their own (NumPy's perform
is already one row kernel, and rewrites recognize them in the earlier
phases). A compiling backend cannot lower an opaque op, so this pass rewrites
them, just before the fusion pass groups nodes, into exactly what their
perform computes::

    m = max(x, axis, keepdims, initial=-inf)    # -inf for an empty slice
    m = switch(isfinite(m), m, 0)               # rows of +-inf or nan: shift by 0
    softmax:     e = exp(x - m);  e / sum(e, axis, keepdims)
    log_softmax: (x - m) - log(sum(exp(x - m), axis, keepdims))

in the op's output dtype (integer inputs are cast first, as perform does).
Fusion then makes one row kernel of a softmax (three passes over each row:
the maximum; the exponentials, stored into the output, with their sum; the
division in place), and of a log-softmax. A softmax and a
log-softmax of one input along one axis share the maximum, ``exp`` and ``sum``.
Like the fusion pass, it runs only when ``fgraph.fusion`` is not None (set by
``function`` for compiling backends); it must be registered before the fusion
pass (see :mod:`arignote.passes`).
"""
import numpy as np

from arignote.ops import elemwise as E
from arignote.ops.nnet import LogSoftmax, Softmax
from arignote.ops.reduce import max as _max
from arignote.ops.reduce import sum as _sum
from arignote.passes.rewriting import register_pass

__all__ = ["expand_softmax", "softmax_graph"]


def _parts(x, axis, dtype):
    """``(x - max(x), exp of it, sum of that)`` along ``axis`` in ``dtype``; the maximum is
    replaced by 0 where it is not finite (rows of +-inf or nan, as perform does)."""
    if x.dtype != dtype:
        x = E.cast(x, dtype)
    m = _max(x, axis, keepdims=True, initial=-np.inf)  # -inf for an empty slice, not an error
    s = x - E.switch(E.isfinite(m), m, 0)
    e = E.exp(s)
    return s, e, _sum(e, axis, keepdims=True)


def softmax_graph(x, axis, log=False, dtype=None, parts=None):
    """The elementwise-and-reduction graph of ``softmax(x, axis)`` (``log_softmax`` with
    ``log``) in ``dtype`` (default: the op's); ``parts`` reuses a :func:`_parts` already built."""
    dtype = dtype or Softmax(axis).make_node(x).outputs[0].dtype
    s, e, total = parts or _parts(x, axis, dtype)
    return s - E.log(total) if log else e / total


@register_pass("fuse")
def expand_softmax(fgraph, stats):
    """Replace every Softmax/LogSoftmax node by :func:`softmax_graph` on compiling backends."""
    if getattr(fgraph, "fusion", None) is None:
        return
    shared = {}  # (input, axis) -> parts, common to softmax and log_softmax of one input
    for node in fgraph.toposort():
        if not isinstance(node.op, Softmax):
            continue
        (x,), (out,), axis = node.inputs, node.outputs, node.op.axis
        if (x, axis) not in shared:
            shared[x, axis] = _parts(x, axis, out.dtype)
        log = isinstance(node.op, LogSoftmax)
        fgraph.replace(out, softmax_graph(x, axis, log, out.dtype, shared[x, axis]),
                       reason="expand_softmax")
        stats.fired["expand: " + ("log_softmax" if log else "softmax")] += 1
