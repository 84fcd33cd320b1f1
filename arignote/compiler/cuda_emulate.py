"""The CUDA emulator: a kernel's unchanged CUDA C run on the CPU (backend 'cuda-emulated').

No machine that builds or tests Arignote has a GPU, so the CUDA renderer's
output is also compiled as C++ by ``g++`` against an emulation header of our
own (``cuda_emu/arignote_cuda.h``: ``threadIdx``/``blockIdx``/``blockDim``/
``gridDim``, ``__syncthreads``, ``__shared__``, warp shuffles and votes,
atomics, the float16 conversions) and linked to a small scheduler
(``cuda_emu/runtime.cpp``): the blocks of a launch run one after another, the
threads of a block as fibers that switch only at barriers. Each launch runs
the threads (and blocks) in a different order -- forward, reverse, shuffled --
so a missing ``__syncthreads()`` gives different results from one call to the
next; a barrier that some threads never reach is an error
(:class:`CudaEmulationError`), not a hang.

What it cannot catch: races between threads that a barrier does not order but
whose interleaving at instruction level matters (fibers switch at barriers
only), reads of shared memory never written in this block (shared variables
are static, they keep the last block's values), out-of-bounds accesses beyond
what the host allows, warp-synchronous code relying on lockstep without a
``__syncwarp``, and anything about performance (occupancy, coalescing, bank
conflicts): the ptxas reports of :mod:`arignote.compiler.cuda_compile` and a
real GPU are for those.

Compiling is most of the emulator's cost, so the backend compiles all of a
Program's kernels as one translation unit (:func:`prefetch`,
:func:`~arignote.compiler.cuda.translation_unit`), cached on disk by content,
and the header declares the few C math functions kernels call instead of
including ``<math.h>`` (libstdc++'s ``<cmath>`` in C++: two thirds of a small
kernel's g++ time). ``-O1``: ``-O0`` compiles no faster here.

The launcher chooses small launches on purpose (:data:`BLOCK` threads, at most
:data:`MAX_GRID` blocks), so grid-stride loops, several warps per block and
several rows per block are exercised even on tiny arrays; for the same reason
large reductions with few parallel points split into per-block partials and a
combine kernel (:mod:`arignote.compiler.cuda_launch`, the GPU's launch code) at
smaller sizes than on a GPU (:data:`SPLIT`).
"""
import ctypes
import itertools
import os
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

import numpy as np

from arignote.compiler import cache, cuda_compile, cuda_launch
from arignote.compiler.bind import Binder
from arignote.compiler.cuda import CUDA, HEADER_NAME, batches, render, symbol, translation_unit
from arignote.compiler.cuda_launch import SplitLimits, SplitReduction, split_plan
from arignote.compiler.schedule import scheduled
from arignote.errors import ArignoteError, ArignoteValueError

HERE = Path(__file__).with_name("cuda_emu")
#: threads per block (a multiple of 32: two warps) and the most blocks of a launch
BLOCK = 64
MAX_GRID = 4
#: when a reduction splits (fewer than 8 parallel points, 1024 reduced points each) and
#: how (256 reduced points a partial): small, so the op tests split too
SPLIT = SplitLimits(below=8, min_work=1024, chunk_work=256, max_chunks=1024)
FLAGS = ("-O1", "-std=c++17", "-fPIC", "-shared", "-ffp-contract=off", "-fno-fast-math", "-Wall",
         "-Werror", "-Wno-unused-function", "-Wno-unused-variable",
         "-Wno-tautological-compare")  # (the math functions leave unused values; maximum(x, x))


class CudaEmulationError(ArignoteError, RuntimeError):
    """The emulator met what a GPU would hang or fail on (a divergent barrier)."""


def gxx():
    """The C++ compiler's path, or None."""
    return shutil.which(os.environ.get("CXX", "g++"))


_lock = threading.RLock()
_state = {}


def _scratch():
    """This process's private directory for loadable libraries (removed at exit)."""
    with _lock:
        if "dir" not in _state:
            _state["dir"] = Path(tempfile.mkdtemp(prefix="arignote-cuda-emu-"))
            import atexit
            atexit.register(shutil.rmtree, _state["dir"], True)
        return _state["dir"]


def _version():
    if "version" not in _state:
        cxx = gxx()
        if cxx is None:
            raise CudaEmulationError("backend 'cuda-emulated' needs a C++ compiler (g++, or $CXX)")
        _state["version"] = subprocess.run([cxx, "--version"], capture_output=True, text=True).stdout
    return _state["version"]


def _build(name, source, extra=()):
    """A loadable library of C++ ``source`` (cached on disk by content): its path."""
    header = (HERE / HEADER_NAME).read_text()
    key = cache.make_key("cuda-emulated", source, header, FLAGS, extra, _version())

    def make():
        with tempfile.TemporaryDirectory(prefix="arignote-emu-build-") as where:
            src, lib = Path(where) / f"{name}.cpp", Path(where) / f"{name}.so"
            src.write_text(source)
            run = subprocess.run([gxx(), *FLAGS, *extra, "-I", str(HERE), "-o", str(lib), str(src)],
                                 capture_output=True, text=True)
            if run.returncode:
                raise CudaEmulationError(f"{name}: g++ could not compile the CUDA C as C++:\n"
                                         f"{run.stderr[-4000:]}")
            return lib.read_bytes()

    payload, _ = cache.get_or_build(key, make)
    path = _scratch() / f"{key[:24]}.so"
    if not path.exists():
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(payload)
        os.replace(tmp, path)
    return path


def runtime():
    """The scheduler library (loaded once, its symbols global for the kernels')."""
    with _lock:
        if "runtime" not in _state:
            path = _build("runtime", (HERE / "runtime.cpp").read_text())
            lib = ctypes.CDLL(str(path), mode=ctypes.RTLD_GLOBAL)
            fn = lib.ag_emu_launch
            fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint, ctypes.c_uint, ctypes.c_int,
                           ctypes.c_uint, ctypes.c_char_p, ctypes.c_int]
            fn.restype = ctypes.c_int
            _state["runtime"] = (lib, fn)
        return _state["runtime"][1]


class Emulated:
    """A kernel's CUDA C compiled for the emulator: ``entry`` is the address of a
    function running the kernel on a packed ``ag_args``."""

    def __init__(self, kernel, source, lib, entry):
        self.kernel, self.source, self._lib, self.entry_name = kernel, source, lib, entry
        self.entry = ctypes.cast(getattr(lib, entry), ctypes.c_void_p).value


#: the host function through which the runtime calls kernel ``i`` of a translation unit
_ENTRY = 'extern "C" void ag_emu_entry_{i}(const void* a) {{ {ns}::{name}(*(const {ns}::ag_args*)a); }}'

#: source -> (library, entry) compiled ahead by :func:`prefetch`, until :func:`compile_kernel`
#: takes it
_ready = {}


def compile_kernels(kernels):
    """The kernels (scheduled for :data:`~arignote.compiler.cuda.CUDA` if they are not)
    rendered as CUDA C and compiled for the emulator, in one g++ run where their names
    allow (a Program's kernels: g++'s start and the header are paid once): Emulateds."""
    runtime()
    kernels = [scheduled(k, CUDA) for k in kernels]
    sources = [render(k) for k in kernels]
    named = list(dict.fromkeys((s, symbol(k.name)) for s, k in zip(sources, kernels)))
    built = {}
    for group in batches(named):
        lib = ctypes.CDLL(str(_build(group[0][1], translation_unit(group, _ENTRY))))
        built.update({item: (lib, f"ag_emu_entry_{i}") for i, item in enumerate(group)})
    return [Emulated(k, s, *built[s, symbol(k.name)]) for s, k in zip(sources, kernels)]


def prefetch(kernels):
    """Compile ``kernels`` together now (:func:`compile_kernels`); :func:`compile_kernel`
    of each then takes its own."""
    with _lock:
        if len(_ready) > 1024:  # (left by Programs that were never finished: the disk cache keeps them)
            _ready.clear()
        for compiled in compile_kernels(kernels):
            _ready[compiled.source] = compiled._lib, compiled.entry_name


def compile_kernel(kernel):
    """``kernel`` (scheduled for :data:`~arignote.compiler.cuda.CUDA` if it is not)
    rendered as CUDA C and compiled for the emulator (or taken from :func:`prefetch`)."""
    kernel = scheduled(kernel, CUDA)
    source = render(kernel)
    with _lock:
        done = _ready.pop(source, None)
    return Emulated(kernel, source, *done) if done else compile_kernels([kernel])[0]


_launches = itertools.count()
#: the order of every launch's threads (0 forward, 1 reverse, 2 shuffled), or None: each
#: launch the next one (a test that wants one order sets it)
ORDER = None


def launch_config(kernel, ext):
    """``(grid, block)`` of a launch over extents ``ext`` (grid 0: nothing to run): the GPU's
    rule (:func:`~arignote.compiler.cuda_launch.launch_config`) for :data:`BLOCK` threads."""
    return cuda_launch.launch_config(kernel, ext, BLOCK, MAX_GRID)


def launch(entry, packed, grid, block, name):
    """Run the kernel at ``entry`` (an :class:`Emulated`'s) on ``packed`` (its ``ag_args``, an
    int64 array) with ``grid`` blocks of ``block`` threads, each launch in the next order
    (forward, reverse, shuffled; :data:`ORDER`). What the emulated device's launches go through."""
    n = next(_launches)
    msg = ctypes.create_string_buffer(512)
    order = n % 3 if ORDER is None else ORDER
    rc = runtime()(entry, packed.ctypes.data, grid, block, order, n, msg, len(msg))
    if rc:
        raise CudaEmulationError(f"{name}: {msg.value.decode()}")


def run(compiled, arrays, ext, over=()):
    """Launch ``compiled`` on the arrays of every param (outputs last) over ``ext``;
    ``over``: the kernel's in-place pairs. Raises the kernel's error if a Check fired."""
    kernel = compiled.kernel
    grid, block = launch_config(kernel, ext)
    if grid == 0:
        return
    ptrs = [a.ctypes.data for a in arrays]
    for o, i in over:  # (the output is addressed through its input's pointer)
        ptrs[o] = ptrs[i]
    strides = [tuple(st // a.itemsize for st in a.strides) for a in arrays]
    flag = ctypes.c_int32(0)
    packed = cuda_launch.pack_args(kernel, ext, ptrs, strides, ctypes.addressof(flag))
    launch(compiled.entry, packed, grid, block, kernel.name)
    if flag.value:
        raise ArignoteValueError(f"{kernel.name}: {kernel.errors[flag.value - 1]}")


class EmulatedLauncher(Binder):
    """Runs a kernel compiled by :func:`compile_kernel` on the emulator, after the neutral
    binding (the same checks and errors as every backend); large reductions with few
    parallel points as partials and a combine kernel (:data:`SPLIT`)."""

    def __init__(self, kernel, compiled, labels=None):
        kernel = scheduled(kernel, CUDA)
        super().__init__(kernel, labels)
        self.compiled = compiled
        self._split = None
        self._split_lock = threading.Lock()

    def finish(self, call, runner=None):
        """Run a prepared call (``runner`` is ignored): its outputs."""
        arrays, call.arrays = call.arrays, None
        how = split_plan(self.kernel, call.ext, SPLIT)
        if how is None:
            run(self.compiled, arrays, call.ext, self.kernel.inplace)
        else:
            split, compiled = self._kernels()
            for which, bound, ext in split.launches(arrays, call.ext, how, np.empty):
                run(compiled[which], bound, ext)
        return call.outputs

    def _kernels(self):
        """The split kernels and their Emulateds, made on the first call that splits."""
        with self._split_lock:
            if self._split is None:
                split = SplitReduction(self.kernel)
                cuda_compile.check_generated(split.kernels)
                self._split = split, compile_kernels(split.kernels)
            return self._split
