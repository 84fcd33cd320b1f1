"""Backend 'cuda-emulated': every Fused group rendered as CUDA C
(:mod:`arignote.compiler.cuda`) and that very source run on the CPU by the
emulator (:mod:`arignote.compiler.cuda_emulate`: g++ against an emulation
header, the threads of a block as fibers, several orders). It proves the CUDA
path on machines without a GPU; it is slow and not meant to be fast.

Like 'interp', a client of the backend contract and nothing more: a
:class:`~arignote.runtime.kernels.KernelBackend` supplying ``render``,
``compile`` and ``launcher``, registered with ``register``. Matrix products are
the cpu backend's step (cuBLAS is the GPU's business).

Backend 'cuda', the GPU, is registered here too: the same kernels run on a
device (:mod:`arignote.runtime.cuda_steps`: device arrays, transfers at the
function's boundaries, occupancy-based block sizes, gemm through cuBLAS), the
real one (:mod:`arignote.runtime.cuda_gpu`) or, with
``ARIGNOTE_CUDA_DEVICE=emulated``, the emulated one
(:mod:`arignote.runtime.cuda_device`); without either, asking for it raises
:class:`NoGpuError` saying how to emulate.
"""
import threading

from arignote.compiler import cuda, cuda_compile, cuda_emulate
from arignote.compiler.schedule import scheduled
from arignote.ops.blas import MatMul
from arignote.runtime.backends import register
from arignote.runtime.cpu import matmul_step
from arignote.runtime.cuda_device import NoGpuError  # noqa: F401 (raised through this module before)
from arignote.runtime.cuda_gpu import gpu_missing, select_device  # noqa: F401
from arignote.runtime.cuda_steps import DeviceLauncher, DeviceProgram, register_steps
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
        they are (:func:`~arignote.compiler.cuda_compile.check_kernels`; with
        ``$ARIGNOTE_CUDA_CHECK_DIR``, written there to be checked later, together)."""
        kernels = self.kernels(nodes, inplace)
        cuda_compile.check_generated(kernels)
        cuda_emulate.prefetch(kernels)

    def launcher(self, kernel, compiled, labels=None):
        return cuda_emulate.EmulatedLauncher(kernel, compiled, labels)


class CudaBackend(CudaEmulatedBackend):
    """The GPU: every value a device array (:mod:`arignote.runtime.cuda_steps`), kernels
    compiled for the device and launched there, matrix products through its gemm. The
    device is :func:`~arignote.runtime.cuda_gpu.select_device`'s: the GPU, or with
    ``ARIGNOTE_CUDA_DEVICE=emulated`` the emulated device; where neither is there, asking
    for the backend raises :class:`NoGpuError` saying how to emulate."""

    name = "cuda"
    #: the Program class of this backend: values on the device, copies at the boundaries
    program_class = DeviceProgram

    @property
    def device(self):
        return select_device()

    def unavailable(self):
        """The :class:`NoGpuError` saying why this process cannot run the backend (no GPU and
        no emulated device asked for), or None: what tests ask before choosing it."""
        try:
            select_device()
        except NoGpuError as e:
            return e
        return None

    def __init__(self):
        self._lock = threading.Lock()
        #: CUDA C -> the cubin of its Program's group, compiled ahead by prefetch
        self._ready = {}
        #: (device, cubin) -> its module, loaded once
        self._modules = {}

    def prefetch(self, nodes, inplace):
        """Compile the kernels of ``nodes`` for the device, a Program's kernels together (one
        NVRTC run per group; ``inplace`` is declined: device steps write new memory)."""
        device = self.device
        kernels = self.kernels(nodes, {})
        if device.arch is None:  # (the emulated device: the emulator's own prefetch)
            super().prefetch(nodes, {})
        elif kernels:
            binaries = cuda_compile.compile_kernels(kernels, (device.arch,))
            with self._lock:
                if len(self._ready) > 1024:  # (left by Programs never finished: the disk cache keeps them)
                    self._ready.clear()
                self._ready.update((cuda.render(k), b[device.arch].cubin) for k, b in zip(kernels, binaries))

    def compile(self, kernel):
        """``kernel`` built for the device (or taken from :meth:`prefetch`) and its module
        loaded (once per cubin): the function a launch runs."""
        device = self.device
        kernel = scheduled(kernel, cuda.CUDA)
        with self._lock:
            image = self._ready.pop(cuda.render(kernel), None) if device.arch else None
        image = device.build(kernel) if image is None else image
        if device.arch is None:  # (the emulated device's image: a library, loaded)
            return device.get_function(device.load_module(image), cuda.symbol(kernel.name))
        with self._lock:
            key = (id(device), image)
            if key not in self._modules:
                self._modules[key] = device.load_module(image)
            module = self._modules[key]
        return device.get_function(module, cuda.symbol(kernel.name))

    def launcher(self, kernel, compiled, labels=None):
        return DeviceLauncher(kernel, self.device, compiled, labels, self._compile_split)

    def _compile_split(self, kernels):
        """The functions of a split reduction's kernels (checked for the GPUs first on the
        emulated device, as the emulator's own are)."""
        if self.device.arch is None:
            cuda_compile.check_generated(kernels)
        return [self.compile(k) for k in kernels]


CudaEmulatedBackend.step_for(MatMul)(matmul_step)
register_steps(CudaBackend)
register(CudaEmulatedBackend())
register(CudaBackend())
