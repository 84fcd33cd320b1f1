"""Backend 'cuda-emulated': every Fused group rendered as CUDA C
(:mod:`arignote.compiler.cuda`) and that very source run on the CPU by the
emulator (:mod:`arignote.compiler.cuda_emulate`: g++ against an emulation
header, the threads of a block as fibers, several orders). It proves the CUDA
path on machines without a GPU; it is slow and not meant to be fast.

Like 'interp', a client of the backend contract and nothing more: a
:class:`~arignote.runtime.kernels.KernelBackend` supplying ``render``,
``compile`` and ``launcher``, registered with ``register``. Matrix products are
the cpu backend's step (cuBLAS is the GPU's business).

Backend 'cuda', the real GPU, is registered here too, so that asking for it
says what is missing (:class:`NoGpuError`): no driver or no device on this
machine, and in any case the launch path (device arrays, transfers at function
boundaries, occupancy-based block sizes), which is not written yet.
"""
from arignote.compiler import cuda, cuda_compile, cuda_emulate
from arignote.errors import ArignoteError
from arignote.ops.blas import MatMul
from arignote.runtime.backends import register
from arignote.runtime.cpu import matmul_step
from arignote.runtime.kernels import KernelBackend


class CudaEmulatedBackend(KernelBackend):
    name = "cuda-emulated"
    target = cuda.CUDA

    def render(self, kernel):
        """The CUDA C of ``kernel``: what a GPU would compile and the emulator runs."""
        return cuda.render(kernel)

    def compile(self, kernel):
        return cuda_emulate.compile_kernel(kernel)

    def prefetch(self, nodes, inplace):
        """Compile the kernels of ``nodes`` (``inplace``: node -> offers) for the emulator in
        one g++ run and for the GPUs of :func:`~arignote.compiler.cuda_compile.check_archs`
        (sm_80 and sm_90 where NVRTC is installed): an error if a GPU would not take them as
        they are (:func:`~arignote.compiler.cuda_compile.check_kernels`)."""
        kernels = self.kernels(nodes, inplace)
        archs = cuda_compile.check_archs()
        if archs:
            cuda_compile.check_kernels(kernels, archs)
        cuda_emulate.prefetch(kernels)

    def launcher(self, kernel, compiled, labels=None):
        return cuda_emulate.EmulatedLauncher(kernel, compiled, labels)


class NoGpuError(ArignoteError, RuntimeError):
    """Backend 'cuda' was asked for where no GPU can run its kernels."""


def gpu_missing():
    """Why this process cannot run kernels on a GPU (no driver, no device), or None."""
    try:
        from cuda.bindings import driver
    except ImportError:
        return "NVIDIA's cuda-bindings are not installed (pip install 'arignote[cuda]')"
    try:
        (err,) = driver.cuInit(0)
    except Exception as e:  # (the bindings raise when libcuda, the driver, is not there)
        return f"no NVIDIA driver was found ({type(e).__name__}: {e})"
    if int(err) != 0:
        return f"the NVIDIA driver found no usable GPU (cuInit: {err})"
    return None


class CudaBackend(CudaEmulatedBackend):
    """The GPU. Its kernels render and compile (NVRTC), but no launch path is written yet:
    asking for it says why it cannot run here and how to run the same CUDA C emulated."""

    name = "cuda"

    def unavailable(self):
        why = gpu_missing() or "Arignote cannot launch kernels on a GPU yet (docs/design.md, " \
                               "'The CUDA backend')"
        return NoGpuError(f"backend 'cuda' cannot run here: {why}. The same CUDA C runs on the CPU "
                          "with backend='cuda-emulated' (function(..., backend='cuda-emulated') or "
                          "ARIGNOTE_BACKEND=cuda-emulated)")

    def prefetch(self, nodes, inplace):
        raise self.unavailable()

    def compile(self, kernel):
        raise self.unavailable()


CudaEmulatedBackend.step_for(MatMul)(matmul_step)
register(CudaEmulatedBackend())
register(CudaBackend())
