"""Backends: how each node of a program runs.

A backend turns a node into a *step*, a callable from input arrays to output
arrays. The NumPy backend (the reference, the oracle) runs ``perform``.
The cpu backend compiles every :class:`~arignote.ops.fused.Fused` group to a
native kernel (LLVM) and runs everything else — library calls such as BLAS
products, views, indexing — through the op's own NumPy implementation.
"""
from functools import partial


class NumpyBackend:
    name = "numpy"
    compiles = False

    def step(self, node):
        return partial(node.op.perform, node)


class CpuBackend(NumpyBackend):
    name = "cpu"
    compiles = True

    def step(self, node):
        from arignote.ops.fused import Fused
        if isinstance(node.op, Fused):
            from arignote.runtime.cpu import kernel_step
            return kernel_step(node)
        return super().step(node)


BACKENDS = {b.name: b for b in (NumpyBackend(), CpuBackend())}
