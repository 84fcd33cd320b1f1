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
