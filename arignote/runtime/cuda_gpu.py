"""The real GPU behind backend 'cuda': the :class:`~arignote.runtime.cuda_device.Device`
interface over NVIDIA's driver API (``cuda-bindings``: cuInit, the primary context,
cuMemAlloc, cuMemcpy*, cuModuleLoadData, cuLaunchKernel, occupancy from
cuOccupancyMaxPotentialBlockSize) and cuBLAS (the ``nvidia-cublas`` wheel, through
ctypes: ``cuda-bindings`` does not wrap it), and the choice of device
(:func:`select_device`).

No machine that builds or tests Arignote has a GPU, so this module is only
imported and asked :func:`gpu_missing` there; ``make test-gpu`` and
``make bench-gpu`` run it on a machine with one (docs/gpu.md).
"""
import ctypes
import functools
import os
import threading

from arignote.compiler import cuda_compile
from arignote.compiler.cuda_launch import occupancy_grid
from arignote.errors import ArignoteValueError
from arignote.runtime.cuda_device import Device, EmulatedDevice, NoGpuError

#: ``ARIGNOTE_CUDA_DEVICE``: which device backend 'cuda' runs on
DEVICE_ENV = "ARIGNOTE_CUDA_DEVICE"
CHOICES = ("gpu", "emulated")


def gpu_missing():
    """Why this process cannot run kernels on a GPU (no bindings, no driver, no device),
    or None."""
    try:
        from cuda.bindings import driver
    except ImportError:
        return "NVIDIA's cuda-bindings are not installed (pip install 'arignote[cuda-gpu]')"
    try:
        (err,) = driver.cuInit(0)
    except Exception as e:  # (the bindings raise when libcuda, the driver, is not there)
        return f"no NVIDIA driver was found ({type(e).__name__}: {e})"
    if int(err) != 0:
        return f"the NVIDIA driver found no usable GPU (cuInit: {err})"
    return None


def how_to_emulate():
    return (f"The same CUDA C runs on the CPU with backend='cuda-emulated', or with backend='cuda' "
            f"on the emulated device ({DEVICE_ENV}=emulated)")


_lock = threading.Lock()
_devices = {}


def select_device():
    """The device backend 'cuda' runs on: ``$ARIGNOTE_CUDA_DEVICE`` ('gpu', the default, or
    'emulated'), one per process. :class:`NoGpuError` where a GPU is asked for and there
    is none."""
    choice = os.environ.get(DEVICE_ENV, "gpu").strip() or "gpu"
    if choice not in CHOICES:
        raise ArignoteValueError(f"{DEVICE_ENV}={choice!r}: expected one of {', '.join(CHOICES)}")
    with _lock:
        if choice not in _devices:
            if choice == "emulated":
                _devices[choice] = EmulatedDevice()
            else:
                why = gpu_missing()
                if why is not None:
                    raise NoGpuError(f"backend 'cuda' cannot run here: {why}. {how_to_emulate()}")
                _devices[choice] = GpuDevice()
        return _devices[choice]


def _check(result, what):
    """The values of a driver call's result tuple; a :class:`NoGpuError` naming ``what``
    if it failed."""
    err, *values = result
    if int(err) != 0:
        raise NoGpuError(f"the CUDA driver failed in {what}: {err}")
    return values[0] if len(values) == 1 else values


class GpuDevice(Device):
    """GPU ``ordinal`` through the driver API, its primary context current on the calling
    thread. ``driver``: the bindings' ``driver`` module (a stand-in in the tests)."""

    def __init__(self, ordinal=0, driver=None):
        super().__init__()
        if driver is None:
            from cuda.bindings import driver
        self._driver = driver
        self._local = threading.local()
        _check(driver.cuInit(0), "cuInit")
        self._dev = _check(driver.cuDeviceGet(ordinal), "cuDeviceGet")
        self._ctx = _check(driver.cuDevicePrimaryCtxRetain(self._dev), "cuDevicePrimaryCtxRetain")
        name = self._call("cuDeviceGetName", 256, self._dev)
        self.name = name.split(b"\0")[0].decode()
        major, minor = self.attribute("COMPUTE_CAPABILITY_MAJOR"), self.attribute("COMPUTE_CAPABILITY_MINOR")
        self.arch = f"sm_{major}{minor}"
        # the memory clock (kHz, double data rate) times the bus width (bits) / 8: bytes per second
        self.bandwidth = 2 * self.attribute("MEMORY_CLOCK_RATE") * 1e3 * self.attribute(
            "GLOBAL_MEMORY_BUS_WIDTH") / 8
        self.sm_count = self.attribute("MULTIPROCESSOR_COUNT")
        self._blas = None

    def _current(self):
        """Make the device's context current on this thread (once per thread)."""
        if not getattr(self._local, "current", False):
            _check(self._driver.cuCtxSetCurrent(self._ctx), "cuCtxSetCurrent")
            self._local.current = True

    def _call(self, name, *args):
        """The driver's ``name(*args)``, the context current: the values it returns."""
        self._current()
        return _check(getattr(self._driver, name)(*args), name)

    def attribute(self, name):
        attr = getattr(self._driver.CUdevice_attribute, f"CU_DEVICE_ATTRIBUTE_{name}")
        return int(self._call("cuDeviceGetAttribute", attr, self._dev))

    def _malloc(self, nbytes):
        return int(self._call("cuMemAlloc", nbytes))

    def _free(self, ptr):
        self._call("cuMemFree", ptr)

    def _htod(self, dst, src, nbytes):
        self._call("cuMemcpyHtoD", dst, src, nbytes)

    def _dtoh(self, dst, src, nbytes):
        self._call("cuMemcpyDtoH", dst, src, nbytes)

    def _dtod(self, dst, src, nbytes):
        self._call("cuMemcpyDtoD", dst, src, nbytes)

    def build(self, kernel):
        """The cubin of ``kernel`` for this GPU's architecture (NVRTC, the disk cache)."""
        return cuda_compile.compile_kernel(kernel, (self.arch,))[self.arch].cubin

    def load_module(self, image):
        return self._call("cuModuleLoadData", image)

    def get_function(self, module, name):
        return self._call("cuModuleGetFunction", module, name.encode())

    def block_size(self, function):
        """``(block, max_grid)``: the block size of full occupancy for ``function``, and a few
        waves of the smallest grid that fills the GPU with it."""
        min_grid, block = self._call("cuOccupancyMaxPotentialBlockSize", function, None, 0, 0)
        return int(block), occupancy_grid(int(min_grid))

    def launch(self, function, grid, block, shared, packed):
        params = (ctypes.c_void_p * 1)(packed.ctypes.data)  # (ag_args, passed by value)
        self._call("cuLaunchKernel", function, grid, 1, 1, block, 1, 1, shared, 0,
                   ctypes.addressof(params), 0)

    def synchronize(self):
        self._call("cuCtxSynchronize")

    def gemm(self, dtype, transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
        """cuBLAS ``Sgemm``/``Dgemm`` (column-major), on the default stream like the kernels."""
        lib, handle = self._cublas()
        self._current()
        scalar = ctypes.c_float if dtype.itemsize == 4 else ctypes.c_double
        fn = lib.cublasSgemm_v2 if dtype.itemsize == 4 else lib.cublasDgemm_v2
        alpha, beta = scalar(alpha), scalar(beta)
        status = fn(handle, int(transa), int(transb), m, n, k, ctypes.byref(alpha), ctypes.c_void_p(a),
                    lda, ctypes.c_void_p(b), ldb, ctypes.byref(beta), ctypes.c_void_p(c), ldc)
        if status:
            raise NoGpuError(f"cuBLAS gemm failed with status {status}")

    def _cublas(self):
        if self._blas is None:
            self._current()  # (cuBLAS works in the current context)
            lib = _cublas_library()
            handle = ctypes.c_void_p()
            status = lib.cublasCreate_v2(ctypes.byref(handle))
            if status:
                raise NoGpuError(f"cublasCreate failed with status {status}")
            self._blas = lib, handle
        return self._blas


@functools.cache
def _cublas_library():
    """libcublas from the ``nvidia-cublas`` wheel (found by ``cuda.pathfinder``), else the system's."""
    path, why = None, "not found by cuda.pathfinder"
    try:
        from cuda.pathfinder import load_nvidia_dynamic_lib
        path = load_nvidia_dynamic_lib("cublas").abs_path
    except Exception as e:  # (not installed: try the loader's search path)
        why = e
    try:
        return ctypes.CDLL(path or "libcublas.so")
    except OSError:
        raise NoGpuError(f"cuBLAS was not found (pip install 'arignote[cuda-gpu]'): {why}") from None
