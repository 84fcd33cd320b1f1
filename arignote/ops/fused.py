"""Fused: a group of nodes the compiler turns into one kernel.

The fusion pass (``fuse`` phase) replaces a connected group of elementwise
ops, views and reductions by one :class:`Fused` node holding the group as an
inner graph. The compiler lowers that inner graph to one Kernel; where a
backend cannot (or, like the reference backend, does not compile), the inner
graph runs as a Program of its own on the same backend, so every backend can
execute a fused graph and fused and unfused compilation can be compared.

Everything else an op with an inner graph needs (equality of equal groups, so
equal groups merge and share one compiled kernel; cloning, pickling, shapes,
the gradient) comes from :class:`~arignote.ops.inner.InnerGraphOp`.
"""
from arignote.ops.inner import InnerGraphOp


class Fused(InnerGraphOp):
    """One kernel's worth of graph: ``inputs`` (root variables) to ``outputs``,
    applied once."""

    fusion_kind = "kernel"

    def kernel_node(self, node):
        """The node whose group a backend lowers to ``node``'s kernel: ``node`` itself."""
        return node


class FusedPool(Fused):
    """An elementwise Fused group and the pooling of its output, applied once: outputs
    ``[the group's output, the pooled]``. The ``fuse`` phase forms it
    (:mod:`arignote.passes.pool_fusion`) on backends that run it as one pass over
    memory: the cpu backend runs the pool on each chunk of images right after the
    group's kernel wrote it, while it is in cache. Elsewhere the inner graph runs (the
    group's kernel, then the pool)."""

    fusion_kind = "opaque"  # (formed after fusion; nothing fuses into it)

    @property
    def pool(self):
        """The pooling op."""
        return self.outputs[1].owner.op

    def group(self):
        """The elementwise group alone, as a Fused op of its own over the same inputs (one
        per op: what is derived from it, its kernel, is kept with it)."""
        if "group" not in self.cache:
            self.cache["group"] = Fused(self.inputs, self.outputs[:1])
        return self.cache["group"]

    def kernel_node(self, node):
        """The group alone over ``node``'s inputs: the kernel is the group's."""
        return self.group().make_node(*node.inputs)
