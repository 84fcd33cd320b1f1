"""Merge (common subexpression elimination): equal constants become one
constant, and equal ops applied to identical inputs become one node.

Ops are values (equality from their parameters), so a node's identity is the
pair (op, its inputs): one dictionary lookup per node, in topological order
so that merged inputs make their readers merge too.
"""
from arignote.graph.basic import Constant
from arignote.passes.rewriting import register_pass


def merge(fgraph, stats):
    constants, nodes = {}, {}
    for node in fgraph.toposort():
        if node not in fgraph.nodes:
            continue
        for inp in list(node.inputs):
            if isinstance(inp, Constant):
                first = constants.setdefault(inp.signature(), inp)
                if first is not inp:
                    fgraph.replace(inp, first, reason="merge")
                    stats.fired["merge constants"] += 1
        key = (node.op, tuple(node.inputs))
        other = nodes.setdefault(key, node)
        if other is not node:
            fgraph.replace_all(zip(node.outputs, other.outputs), reason="merge")
            stats.fired["merge"] += 1


for _phase in ("merge", "cleanup"):
    register_pass(_phase)(merge)
