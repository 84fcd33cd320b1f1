"""Which dimensions of a graph's tensors are equal at run time, as a union-find over
``(variable, d)``: the fusion pass asks it whether a group's nodes share one index
space, and whether each axis of a kernel follows dimensions known to be equal."""
from arignote.ops.elemwise import Elemwise
from arignote.ops.indexing import Subtensor
from arignote.ops.reduce import Reduce
from arignote.ops.shape import DimShuffle


class EqualDims:
    """Union-find over dimensions ``(variable, d)`` the graph makes equal at run time:
    elementwise inputs and output (no run-time broadcasting), dimshuffle and reduction
    axes, and equal static sizes."""

    def __init__(self, nodes):
        self.parent = {}
        for node in nodes:
            self._relate(node)

    def key(self, v, d):
        k = (v, d)
        if k not in self.parent:
            self.parent[k] = k
            size = v.type.shape[d]
            if size is not None:
                self.union(k, ("static", size))
        return k

    def find(self, k):
        self.parent.setdefault(k, k)
        root = k
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[k] != root:
            self.parent[k], k = root, self.parent[k]
        return root

    def union(self, a, b):
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[ra] = rb

    def cls(self, v):
        return tuple(self.find(self.key(v, d)) for d in range(v.ndim))

    def alias(self, new, old):
        for d in range(old.ndim):
            self.union(self.key(new, d), self.key(old, d))

    def _relate(self, node):
        op = node.op
        if isinstance(op, Elemwise):
            out = node.outputs[0]
            for i in node.inputs:
                for d in range(min(i.ndim, out.ndim)):
                    if i.type.shape[d] != 1:
                        self.union(self.key(i, d), self.key(out, d))
        elif isinstance(op, DimShuffle):
            for k, o in enumerate(op.new_order):
                if o != "x":
                    self.union(self.key(node.inputs[0], o), self.key(node.outputs[0], k))
        elif type(op) is Subtensor and not op.advanced:  # a full slice keeps its dimension
            x, out, d, k = node.inputs[0], node.outputs[0], 0, 0
            for e in op.idx_list:
                if e == ("slice", None, None, None):
                    self.union(self.key(x, d), self.key(out, k))
                k += e[0] in ("slice", "newaxis")
                d += e[0] != "newaxis"
            for j in range(x.ndim - d):
                self.union(self.key(x, d + j), self.key(out, k + j))
        elif isinstance(op, Reduce):
            x, out = node.inputs[0], node.outputs[0]
            kept = [d for d in range(x.ndim) if op.keepdims or d not in op.axis]
            for k, d in enumerate(kept):
                if d not in op.axis:
                    self.union(self.key(x, d), self.key(out, k))
