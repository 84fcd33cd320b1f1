"""Constant folding: a node whose inputs are all constants is computed once,
at compile time, and replaced by its value.

Ops whose output is large by nature (``alloc``, ``zeros``) set
``constant_foldable = False``; any folded value above :data:`MAX_FOLDED_SIZE`
elements is left to run time too, so folding never bloats memory. A node
whose computation fails is left alone: the error then surfaces at run time,
with its usual message, and only if that code path actually runs.
"""
import numpy as np

from arignote.errors import ArignoteError
from arignote.graph.basic import Constant
from arignote.passes.rewriting import node_rewriter, register

MAX_FOLDED_SIZE = 1 << 16


@node_rewriter(name="constant_folding")
def constant_folding(fgraph, node):
    if not getattr(node.op, "constant_foldable", True):
        return None
    if not all(isinstance(i, Constant) for i in node.inputs):
        return None
    try:
        with np.errstate(all="ignore"):
            values = node.op.perform(node, [i.data for i in node.inputs])
    except Exception:  # noqa: BLE001 - reported at run time instead
        return None
    if any(isinstance(v, np.ndarray) and v.size > MAX_FOLDED_SIZE for v in values):
        return None
    try:  # (a value its type refuses is the op's bug: the run-time check reports it)
        return [out.type.make_constant(value) for out, value in zip(node.outputs, values)]
    except ArignoteError:
        return None


for _phase in ("canonicalize", "cleanup"):
    register(_phase, "constant_folding")(constant_folding)
