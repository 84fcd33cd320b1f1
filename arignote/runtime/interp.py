"""Backend 'interp': every Fused group lowered as for the cpu backend, then its
Kernel interpreted with NumPy (:mod:`arignote.compiler.interp`) instead of compiled.

Slow, and not meant to be fast: it runs whole programs on the IR's own
definition, so a suite run on it tests lowering and the kernel IR apart from
any renderer. Everything around the kernel is the cpu backend's: the same
Kernel for each group (in-place offers accepted or declined alike), the same
argument checks and errors (the launcher's :meth:`~arignote.compiler.launch.
Launcher.bind`), the same two halves for in-place writes, the same rerun of a
group on the reference when its inputs are refused, and library calls
(matrix products) as on cpu.

It is registered the way any other backend is (the last line), not wired in.
"""
from arignote.compiler.interp import Interpreter
from arignote.ops.fused import Fused
from arignote.runtime.backends import BACKENDS, CpuBackend
from arignote.runtime.cpu import KernelStep, choose_kernel


class InterpStep(KernelStep):
    """A :class:`~arignote.runtime.cpu.KernelStep` whose kernel is interpreted."""

    make_launcher = staticmethod(Interpreter)


def kernel_step(node, allocs=None, inplace=None):
    """A step interpreting ``node``'s Fused group; None, as on cpu, when the group
    cannot be lowered (the Program then runs its inner graph on this backend)."""
    kernel = choose_kernel(node, inplace)
    return None if kernel is None else InterpStep(node, kernel, allocs)


class InterpBackend(CpuBackend):
    name = "interp"

    def step(self, node, allocs=None, inplace=None):
        if isinstance(node.op, Fused):
            return kernel_step(node, allocs, inplace)
        return super().step(node, allocs, inplace)

    def prefetch(self, nodes, inplace):
        """Nothing to compile."""


BACKENDS[InterpBackend.name] = InterpBackend()
