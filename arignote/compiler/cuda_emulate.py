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
several rows per block are exercised even on tiny arrays. Large reductions with
few parallel points run as per-block partials and a combine kernel
(:mod:`arignote.compiler.split`), decided per call from the extents only
(:func:`plan`), so results do not depend on the launch configuration.
"""
import ctypes
import itertools
import math
import os
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

import numpy as np

from arignote.compiler import cache
from arignote.compiler import kernel as K
from arignote.compiler.bind import Binder
from arignote.compiler.cuda import CUDA, HEADER_NAME, batches, render, symbol, translation_unit
from arignote.compiler.schedule import scheduled
from arignote.compiler.split import NotSplittable, check_splittable, chunk_axis, chunked_loads, \
    split_reduction
from arignote.compiler.split_launch import _chunks
from arignote.errors import ArignoteError, ArignoteValueError

HERE = Path(__file__).with_name("cuda_emu")
#: threads per block (a multiple of 32: two warps) and the most blocks of a launch
BLOCK = 64
MAX_GRID = 4
#: a reduction splits into per-block partials when it has fewer parallel points than
#: this and at least :data:`SPLIT_MIN_LENGTH` elements along its outermost reduced axis
SPLIT_BELOW = 8
SPLIT_MIN_LENGTH = 1024
#: elements of the chunk axis per partial (at least), and the most partials
MIN_CHUNK = 256
MAX_CHUNKS = 1024
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


def launch_config(kernel, ext):
    """``(grid, block)`` of a launch over extents ``ext`` (grid 0: nothing to run)."""
    parallel = math.prod(e for a, e in enumerate(ext) if a not in kernel.reduce_axes)
    if kernel.reduce_axes:
        return min(parallel, MAX_GRID), BLOCK
    return min(-(-parallel // BLOCK), MAX_GRID), BLOCK


def launch(entry, packed, grid, block, name):
    """Run the kernel at ``entry`` (an :class:`Emulated`'s) on ``packed`` (its ``ag_args``, an
    int64 array) with ``grid`` blocks of ``block`` threads, each launch in the next order
    (forward, reverse, shuffled). What the emulated device's launches go through."""
    n = next(_launches)
    msg = ctypes.create_string_buffer(512)
    rc = runtime()(entry, packed.ctypes.data, grid, block, n % 3, n, msg, len(msg))
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
    strides = [st // a.itemsize for a in arrays for st in a.strides]
    flag = ctypes.c_int32(0)
    fields = [*(list(ext) or [0]), *(ptrs or [0]), *(strides or [0]), ctypes.addressof(flag)]
    packed = np.array(fields, dtype=np.int64)  # (user-space pointers fit; strides may be negative)
    launch(compiled.entry, packed, grid, block, kernel.name)
    if flag.value:
        raise ArignoteValueError(f"{kernel.name}: {kernel.errors[flag.value - 1]}")


def plan(kernel, ext):
    """``(n, C)``: ``n`` full chunks of ``C`` along the split axis, or None (no split).
    From the extents only: the same inputs always combine in the same order."""
    if kernel.schedule is None or kernel.schedule.split_axis is None:
        return None
    r = kernel.schedule.split_axis
    parallel = math.prod(e for a, e in enumerate(ext) if a not in kernel.reduce_axes)
    if parallel >= SPLIT_BELOW or ext[r] < SPLIT_MIN_LENGTH:
        return None
    C = max(MIN_CHUNK, -(-ext[r] // MAX_CHUNKS))
    n = ext[r] // C
    return (n, C) if n >= 2 else None


class EmulatedLauncher(Binder):
    """Runs a kernel compiled by :func:`compile_kernel` on the emulator, after the neutral
    binding (the same checks and errors as every backend); large single-pass reductions
    as partials and a combine kernel (see the module docstring)."""

    def __init__(self, kernel, compiled, labels=None):
        kernel = scheduled(kernel, CUDA)
        super().__init__(kernel, labels)
        self.compiled = compiled
        self._split = None
        self._split_lock = threading.Lock()

    def finish(self, call, runner=None):
        """Run a prepared call (``runner`` is ignored): its outputs."""
        arrays, call.arrays = call.arrays, None
        how = plan(self.kernel, call.ext)
        if how is not None and self._splittable():
            self._run_split(arrays, call.ext, how)
        else:
            run(self.compiled, arrays, call.ext, self.kernel.inplace)
        return call.outputs

    def _splittable(self):
        try:
            check_splittable(self.kernel)
            return chunk_axis(self.kernel) == self.kernel.schedule.split_axis
        except NotSplittable:
            return False

    def _kernels(self):
        with self._split_lock:
            if self._split is None:
                part, comb = split_reduction(self.kernel)
                self._split = tuple((Binder(scheduled(k, CUDA)), c) for k, c in
                                    zip((part, comb), compile_kernels([part, comb])))
            return self._split

    def _run_split(self, arrays, ext, how):
        """The partial kernel on ``n`` chunks of ``C`` (and one more on the rest), then the
        combine kernel over the partials, in chunk order."""
        (part_b, part_c), (comb_b, comb_c) = self._kernels()
        n, C = how
        r = chunk_axis(self.kernel)
        n_in = len(self.kernel.inputs)
        ins, outs = arrays[:n_in], arrays[n_in:]
        rest = ext[r] - n * C
        kept = tuple(e for a, e in enumerate(ext) if a not in self.kernel.reduce_axes)
        n_parts = sum(isinstance(i, K.Reduce) for i in self.kernel.body)
        partials = [np.empty((n + (rest > 0),) + kept, p.dtype)
                    for p in comb_b.kernel.params[n_in:n_in + n_parts]]
        pieces = [(0, n, C, [p[:n] for p in partials])]
        if rest:
            pieces.append((n * C, 1, rest, [p[n:] for p in partials]))
        for start, count, length, into in pieces:
            chunks = [_chunks(arrays[j], d, start, count, length) for j, _, d in chunked_loads(self.kernel)]
            bound, part_ext, _ = part_b.bind(ins + chunks, into)
            run(part_c, bound, part_ext)
        bound, comb_ext, _ = comb_b.bind(ins + partials, outs)
        run(comb_c, bound, comb_ext)

