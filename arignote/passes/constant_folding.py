"""Constant folding: a node whose inputs are all constants is computed once,
at compile time, and replaced by its value.

Ops whose output is large by nature (``alloc``, ``zeros``) set
``constant_foldable = False``; any folded value above :data:`MAX_FOLDED_SIZE`
elements is left to run time too, so folding never bloats memory. A node
whose computation fails is left alone: the error then surfaces at run time,
with its usual message, and only if that code path actually runs.
"""
import numpy as np

from arignote.graph.basic import Constant
from arignote.passes.rewriting import node_rewriter, register
from arignote.tensor.variable import TensorConstant

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
    if any(np.asarray(v).size > MAX_FOLDED_SIZE for v in values):
        return None
    result = []
    for out, value in zip(node.outputs, values):
        data = np.array(value, dtype=out.dtype, order="C")
        data.setflags(write=False)
        result.append(TensorConstant(out.type, data))
    return result


for _phase in ("canonicalize", "cleanup"):
    register(_phase, "constant_folding")(constant_folding)
