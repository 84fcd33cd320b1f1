"""Backend 'interp': every Fused group lowered as for any kernel backend, then its
Kernel interpreted with NumPy (:mod:`arignote.compiler.interp`) instead of compiled.

Slow, and not meant to be fast: it runs whole programs on the IR's own
definition, so a suite run on it tests lowering and the kernel IR apart from
any renderer. Everything around the kernel is the neutral kernel step's
(:mod:`arignote.runtime.kernels`), as on cpu: the same Kernel for each group
(in-place offers accepted or declined alike), the same argument checks and
errors (the neutral :class:`~arignote.compiler.bind.Binder`), the same two
halves for in-place writes, the same rerun of a group on the reference when
its inputs are refused; and matrix products, convolutions and pooling are the cpu backend's steps.

It is a client of the backend contract and nothing more: a subclass of the
public :class:`~arignote.runtime.kernels.KernelBackend` supplying ``render``,
``compile`` and ``launcher``, registered with ``register`` (the last line),
exactly as a backend from outside Arignote would be.
"""
from arignote.compiler.interp import Interpreter
from arignote.ops.blas import MatMul
from arignote.runtime.backends import register
from arignote.runtime.cpu import matmul_step
from arignote.runtime.cpu_conv import register_steps as register_conv_steps
from arignote.runtime.kernels import KernelBackend


class InterpBackend(KernelBackend):
    name = "interp"

    def render(self, kernel):
        """The kernel IR itself: it is what runs."""
        return kernel.pretty()

    def compile(self, kernel):
        """Nothing to compile: the kernel (the interpreter checks it is well formed)."""
        return kernel

    def launcher(self, kernel, compiled, labels=None):
        return Interpreter(compiled, labels)


InterpBackend.step_for(MatMul)(matmul_step)
register_conv_steps(InterpBackend)
register(InterpBackend())
