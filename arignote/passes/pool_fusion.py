"""Pooling fused with the elementwise group that computes its input.

A convolution's bias and activation form one elementwise kernel, and the max pool
after it read that kernel's whole output back from memory. Where the backend runs
it (``fgraph.fuses_pool``: the cpu backend) and fusion is on, this rewrite makes
the group and the pool one :class:`~arignote.ops.fused.FusedPool` node, whose
step pools each chunk of images right after the kernel wrote it, while it is in
cache. The group's output stays an output (the pool's gradient reads it); each
value is the one the two steps compute apart.

It runs in the ``fuse`` phase after the groups are formed (a node rewrite: the
fusion pass is a whole-graph pass, which a phase runs first). A group qualifies
when it has this one output, of three or more axes (the leading axis holds
images, the kernel's chunks), and is elementwise: no reduction, no view of its
inputs (the step checks the kernel's own loops again).
"""
from arignote.ops.dimshuffle import DimShuffle
from arignote.ops.elemwise import Elemwise
from arignote.ops.fused import Fused, FusedPool
from arignote.ops.pool import Pool
from arignote.passes.rewriting import node_rewriter, register


def elementwise_group(v):
    """The Fused node computing ``v`` as its only output from elementwise ops and
    dimshuffles alone, or None."""
    node = v.owner
    if node is None or type(node.op) is not Fused or len(node.outputs) != 1:
        return None
    if not all(isinstance(n.op, (Elemwise, DimShuffle)) for n in node.op.nodes):
        return None
    return node


@register("fuse", "pool_fusion")
@node_rewriter([Pool], name="pool_after_elementwise")
def pool_after_elementwise(fgraph, node):
    flag = getattr(fgraph, "fusion", None)  # (True, or a group size above 1: groups form)
    if not getattr(fgraph, "fuses_pool", False) or flag is None or flag is False or \
            (flag is not True and int(flag) <= 1):
        return None
    (x,) = node.inputs
    group = elementwise_group(x)
    if group is None or x.ndim < 3:
        return None
    fresh = [v.type.make_variable(v.name) for v in group.op.inputs]
    (inner,) = group.op.inline(fresh)
    fused = FusedPool(fresh, [inner, node.op.make_node(inner).outputs[0]])
    new = fused.make_node(*group.inputs)
    new.trace = node.trace
    return {x: new.outputs[0], node.outputs[0]: new.outputs[1]}
