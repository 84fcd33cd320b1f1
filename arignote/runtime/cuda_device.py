"""A CUDA device as backend 'cuda' uses it, and device arrays.

:class:`Device` is the small interface the launch path needs: allocate and free
(freed blocks are kept for reuse, as every CUDA allocator does), copy
host->device, device->host and device->device, build a kernel for the device,
load a module and get a kernel from it, launch it with a grid, a block, shared
memory and its packed ``ag_args``, synchronize, and ``gemm`` (cuBLAS's
column-major convention). Every copy is counted by kind (:attr:`Device.transfers`):
the tests check that a function moves data at its boundaries only.

Two implementations: :class:`~arignote.runtime.cuda_gpu.GpuDevice`, the real
GPU through NVIDIA's driver API and cuBLAS, and :class:`EmulatedDevice` here,
the same interface on host memory (device pointers are addresses of host
buffers it owns; launches run the kernel's CUDA C through the emulator of
:mod:`arignote.compiler.cuda_emulate`, gemm through NumPy with cuBLAS's
arguments), so the whole launch path runs where there is no GPU.

A :class:`DeviceArray` is a shape, a dtype, byte strides and an offset into an
:class:`Allocation`; it never touches host memory except through
:meth:`DeviceArray.get`.
"""
import ctypes
import math
from collections import Counter, defaultdict

import numpy as np

from arignote.compiler import cuda_emulate
from arignote.errors import ArignoteError, ArignoteValueError


class NoGpuError(ArignoteError, RuntimeError):
    """Backend 'cuda' was asked for where no GPU can run its kernels."""


#: blocks are allocated in multiples of this many bytes (cudaMalloc's alignment)
GRANULE = 256
#: freed blocks kept per size for reuse
KEEP_PER_SIZE = 8
#: 0-d host values kept on the device (:meth:`Device.scalar`)
KEEP_SCALARS = 1024


class Allocation:
    """One block of device memory, handed back to its device's free list when nothing
    refers to it any more."""

    __slots__ = ("device", "ptr", "nbytes", "__weakref__")

    def __init__(self, device, ptr, nbytes):
        self.device, self.ptr, self.nbytes = device, ptr, nbytes

    def __del__(self):
        try:
            self.device._release(self.ptr, self.nbytes)
        except Exception:  # (interpreter shutdown: the device may be gone)
            pass


class DeviceArray:
    """An array in device memory: ``shape``, ``dtype``, byte ``strides`` and an ``offset``
    into ``alloc``. ``get()`` copies it to a NumPy array."""

    __slots__ = ("alloc", "offset", "shape", "dtype", "strides")

    def __init__(self, alloc, shape, dtype, strides=None, offset=0):
        self.alloc, self.offset = alloc, offset
        self.shape, self.dtype = tuple(int(s) for s in shape), np.dtype(dtype)
        self.strides = tuple(strides) if strides is not None else _c_strides(self.shape, self.dtype.itemsize)

    device = property(lambda self: self.alloc.device)
    ptr = property(lambda self: self.alloc.ptr + self.offset)
    ndim = property(lambda self: len(self.shape))
    size = property(lambda self: math.prod(self.shape))
    itemsize = property(lambda self: self.dtype.itemsize)
    nbytes = property(lambda self: self.size * self.dtype.itemsize)

    @property
    def c_contiguous(self):
        return self.strides == _c_strides(self.shape, self.itemsize) or self.size <= 1

    def span(self):
        """``(lo, hi)``: the byte range of ``alloc`` its elements lie in."""
        lo = hi = self.offset
        if self.size == 0:
            return lo, lo
        for n, s in zip(self.shape, self.strides):
            if s > 0:
                hi += (n - 1) * s
            else:
                lo += (n - 1) * s
        return lo, hi + self.itemsize

    def get(self, kind="boundary"):
        """A NumPy copy (a device->host copy of ``kind``, see :attr:`Device.transfers`)."""
        lo, hi = self.span()
        raw = np.empty(hi - lo, np.uint8)
        if hi > lo:
            self.device.copy_dtoh(raw, self.alloc.ptr + lo, kind)
        return np.ndarray(self.shape, self.dtype, buffer=raw, offset=self.offset - lo,
                          strides=self.strides).copy()

    def copy(self):
        """A copy in new device memory (the bytes it spans, device to device)."""
        lo, hi = self.span()
        alloc = self.device.alloc(hi - lo)
        if hi > lo:
            self.device.copy_dtod(alloc.ptr, self.alloc.ptr + lo, hi - lo)
        return DeviceArray(alloc, self.shape, self.dtype, self.strides, self.offset - lo)

    def __deepcopy__(self, memo):
        return self.copy()

    def view(self, shape, strides, offset):
        """The same memory seen with another ``shape``, byte ``strides`` and byte ``offset``."""
        return DeviceArray(self.alloc, shape, self.dtype, strides, offset)

    def __array__(self, *args, **kwargs):
        raise ArignoteValueError(f"a {self.dtype} DeviceArray of shape {self.shape} lives on "
                                 f"{self.device.name}: read it with .get()")

    def __repr__(self):
        return f"DeviceArray({self.dtype}, shape={self.shape}, on {self.device.name})"


def _c_strides(shape, itemsize):
    strides, step = [], itemsize
    for n in reversed(shape):
        strides.append(step)
        step *= max(n, 1)
    return tuple(reversed(strides))


class Device:
    """The interface of a CUDA device (see the module docstring). A subclass supplies
    ``_malloc``, ``_free``, ``_htod``, ``_dtoh``, ``_dtod``, ``build``, ``load_module``,
    ``get_function``, ``block_size``, ``launch``, ``synchronize`` and ``gemm``."""

    #: what to call it in messages
    name = "a CUDA device"
    #: the architecture kernels are compiled for ('sm_90'), None where none is compiled
    arch = None
    #: peak memory bandwidth in bytes per second, None where unknown
    bandwidth = None

    def __init__(self):
        self._free_blocks = defaultdict(list)
        self._scalars = {}
        #: Counter of copies: {(direction, kind): count} and {(direction, kind, 'bytes'): n};
        #: direction 'h2d', 'd2h' or 'd2d'; kind 'boundary' (a function's inputs and outputs),
        #: 'fallback' (an op run on the host), 'scalar' (a shape value a kernel reads),
        #: 'flag' (a kernel's error flag), 'constant' (a graph constant, once per program)
        self.transfers = Counter()
        #: Counter of op names run on the host by the fallback step
        self.fallbacks = Counter()

    # ---------------------------------------------------------------- memory

    def alloc(self, nbytes):
        """An :class:`Allocation` of at least ``nbytes`` (a freed block of that size if any)."""
        size = max(GRANULE, -(-int(nbytes) // GRANULE) * GRANULE)
        free = self._free_blocks.get(size)
        ptr = free.pop() if free else self._malloc(size)
        return Allocation(self, ptr, size)

    def _release(self, ptr, size):
        free = self._free_blocks[size]
        if len(free) < KEEP_PER_SIZE:
            free.append(ptr)
        else:
            self._free(ptr)

    def empty(self, shape, dtype):
        """A new C-contiguous :class:`DeviceArray` (its contents undefined)."""
        dtype = np.dtype(dtype)
        return DeviceArray(self.alloc(math.prod(shape) * dtype.itemsize), shape, dtype)

    def to_device(self, value, kind="boundary"):
        """``value`` (anything NumPy takes) copied to a new C-contiguous DeviceArray."""
        host = np.asarray(value, order="C")  # (not ascontiguousarray: it makes 0-d arrays 1-d)
        out = self.empty(host.shape, host.dtype)
        if host.nbytes:
            self.copy_htod(out.ptr, host, kind)
        return out

    def scalar(self, value):
        """A 0-d host ``value`` (a size computed on the host) on the device, copied over once
        per distinct value and dtype ('scalar') and kept: a loop's shapes repeat."""
        value = np.asarray(value)
        key = (value.dtype.str, value.tobytes())
        found = self._scalars.pop(key, None)
        if found is None:
            found = self.to_device(value, "scalar")
            if len(self._scalars) >= KEEP_SCALARS:
                del self._scalars[next(iter(self._scalars))]
        self._scalars[key] = found  # (the most recent last)
        return found

    def copy_htod(self, ptr, host, kind):
        """Copy the C-contiguous NumPy array ``host`` to device address ``ptr``."""
        self._count("h2d", kind, host.nbytes)
        self._htod(ptr, host.ctypes.data, host.nbytes)

    def copy_dtoh(self, host, ptr, kind):
        """Copy ``host.nbytes`` bytes from device address ``ptr`` into the C-contiguous ``host``."""
        self._count("d2h", kind, host.nbytes)
        self._dtoh(host.ctypes.data, ptr, host.nbytes)

    def copy_dtod(self, dst, src, nbytes):
        self._count("d2d", "copy", nbytes)
        self._dtod(dst, src, nbytes)

    def _count(self, direction, kind, nbytes):
        self.transfers[direction, kind] += 1
        self.transfers[direction, kind, "bytes"] += nbytes

    def reset_counts(self):
        self.transfers.clear()
        self.fallbacks.clear()


class EmulatedDevice(Device):
    """The device interface on host memory: what ``ARIGNOTE_CUDA_DEVICE=emulated`` selects.
    Kernels are the CUDA C of :mod:`arignote.compiler.cuda`, compiled by g++ for the
    emulator; launches run them on the CPU with the grid and block asked for (small ones
    by choice, so grid-stride loops and several warps are exercised); gemm is NumPy on the
    operands as cuBLAS would read them."""

    name = "the emulated CUDA device"
    #: the block size it reports for every kernel, and the most blocks of a grid-stride launch
    BLOCK, MAX_GRID = 64, 4

    def __init__(self):
        super().__init__()
        self._blocks = {}

    def _malloc(self, nbytes):
        raw = np.empty(nbytes + GRANULE, np.uint8)
        ptr = -(-raw.ctypes.data // GRANULE) * GRANULE
        self._blocks[ptr] = raw
        return ptr

    def _free(self, ptr):
        del self._blocks[ptr]

    def _htod(self, dst, src, nbytes):
        ctypes.memmove(dst, src, nbytes)

    _dtoh = _dtod = _htod

    def build(self, kernel):
        return cuda_emulate.compile_kernel(kernel)

    def load_module(self, image):
        return image  # (an Emulated: its library is loaded)

    def get_function(self, module, name):
        return module

    def block_size(self, function):
        return self.BLOCK, self.MAX_GRID

    def launch(self, function, grid, block, shared, packed):
        cuda_emulate.launch(function.entry, packed, grid, block, function.kernel.name)

    def synchronize(self):
        pass

    def gemm(self, dtype, transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
        """cuBLAS's gemm (column-major): ``C = alpha op(A) op(B) + beta C``, ``C`` m x n."""
        A = _column_major(a, (k, m) if transa else (m, k), lda, dtype)
        B = _column_major(b, (n, k) if transb else (k, n), ldb, dtype)
        C = _column_major(c, (m, n), ldc, dtype)
        product = (A.T if transa else A) @ (B.T if transb else B)
        C[...] = alpha * product if beta == 0 else alpha * product + beta * C


def _column_major(ptr, shape, ld, dtype):
    """The column-major matrix of ``shape`` and leading dimension ``ld`` at host ``ptr``."""
    dtype = np.dtype(dtype)
    rows, cols = shape
    nbytes = ((cols - 1) * ld + rows) * dtype.itemsize if rows and cols else 0
    raw = np.ctypeslib.as_array((ctypes.c_uint8 * max(nbytes, 1)).from_address(ptr))
    return np.ndarray(shape, dtype, buffer=raw, strides=(dtype.itemsize, ld * dtype.itemsize))
