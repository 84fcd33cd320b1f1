"""Backends: how each node of a program runs.

A backend turns a node into a *step*, a callable from input arrays to output
arrays. The NumPy backend (the reference, the oracle) runs ``perform``.
The cpu backend compiles every :class:`~arignote.ops.fused.Fused` group to a
native kernel (LLVM) and runs everything else — library calls such as BLAS
products, views, indexing — through the op's own NumPy implementation.

A backend returns no step (None) for a node it does not run natively: an op
with an inner graph (:class:`~arignote.ops.inner.InnerGraphOp`) that it does
not compile as a whole. The Program then compiles the inner graph with this
same backend (and the outer mode), recursively.
"""
from functools import partial

from arignote.ops.inner import InnerGraphOp


class NumpyBackend:
    name = "numpy"
    compiles = False

    def prefetch(self, nodes, inplace):
        """Get ready to make the steps of ``nodes`` (a compiling backend starts
        compiling them all at once); ``inplace`` maps nodes to the offers of ``step``."""

    def step(self, node, allocs=None, inplace=None):
        """``node``'s step. ``allocs`` (storage of each output) and ``inplace``
        ({output index: input index} it may overwrite) are the memory plan's
        offers; a backend that compiles nothing ignores them. None: the
        Program compiles the node's inner graph on this backend."""
        if isinstance(node.op, InnerGraphOp):
            return None
        return partial(node.op.perform, node)


class CpuBackend(NumpyBackend):
    name = "cpu"
    compiles = True

    def step(self, node, allocs=None, inplace=None):
        from arignote.ops.blas import MatMul
        from arignote.ops.fused import Fused
        from arignote.runtime import cpu
        if isinstance(node.op, Fused):
            return cpu.kernel_step(node, allocs, inplace)
        if isinstance(node.op, MatMul):
            return cpu.matmul_step(node, allocs)
        return super().step(node)

    def prefetch(self, nodes, inplace):
        from arignote.runtime import cpu
        cpu.prefetch(nodes, inplace)


BACKENDS = {b.name: b for b in (NumpyBackend(), CpuBackend())}

import arignote.runtime.interp  # noqa: E402,F401  (registers 'interp', as any other backend would)
