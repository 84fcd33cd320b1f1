"""What a launch of a CUDA kernel needs, whatever device runs it: the packed
argument, the grid and block, and a matrix product's operands as cuBLAS takes
them. Pure arithmetic on addresses and shapes, so the real GPU
(:mod:`arignote.runtime.cuda_gpu`) and the emulated device
(:mod:`arignote.runtime.cuda_device`) launch exactly the same way, and the
tests check it without a GPU.

The kernel ABI is :mod:`arignote.compiler.cuda`'s: one ``ag_args`` passed by
value, all 8-byte fields -- the extents, a base pointer per param, the strides
in elements (param by param), the address of the ``int`` error flag.

A reduction kernel runs a block per parallel point, so one with few of them
(``sum(x)``, ``x.sum(axis=0)`` of a tall matrix) would keep a few blocks busy
and the rest of the GPU idle. Such a call is split (:func:`split_plan`,
:class:`SplitReduction`): a *partial* kernel where each block reduces a chunk
of ``C`` points of the outermost reduced axis, then a *combine* kernel reducing
the partials in chunk order (:mod:`arignote.compiler.split`). ``C`` and the
chunks come from the extents only, and each block reduces in an order fixed by
its length (the renderer's lanes: ``ag_lanes``), so the results are the same
bits whatever the block size, the grid, the device or the order threads run in.
"""
import math
from dataclasses import dataclass

import numpy as np

from arignote.compiler import kernel as K
from arignote.compiler.bind import Binder
from arignote.compiler.cuda import CUDA, args_layout
from arignote.compiler.cuda_rows import MAX_LANES
from arignote.compiler.schedule import scheduled
from arignote.compiler.split import chunk_axis, chunked_loads, split_reduction
from arignote.compiler.split_launch import _chunks

#: a row kernel's block: a multiple of a warp, at most this many threads
WARP = 32
MAX_BLOCK = 1024


def pack_args(kernel, ext, pointers, strides, flag):
    """``ag_args`` of ``kernel`` as an int64 array: extents ``ext``, the device address of
    each param (``pointers``), each param's strides in elements (``strides``: one tuple per
    param), the device address of the error flag."""
    n_ext, n_params, n_strides = args_layout(kernel)
    flat = [s for per_param in strides for s in per_param]
    if len(pointers) != len(kernel.params) or len(flat) != sum(p.ndim for p in kernel.params):
        n_strides_expected = sum(p.ndim for p in kernel.params)
        raise ValueError(f"{kernel.name}: {len(kernel.params)} params of {n_strides_expected} strides "
                         f"expected, got {len(pointers)} pointers and {len(flat)} strides")
    fields = [*_padded(ext, n_ext), *_padded(pointers, n_params), *_padded(flat, n_strides), flag]
    return np.array(fields, dtype=np.int64)  # (user-space addresses fit; strides may be negative)


def _padded(values, n):
    return list(values) + [0] * (n - len(values))


def lanes(length):
    """The lanes of a reduction over ``length`` points (the renderer's ``ag_lanes``): the
    most threads of a block it keeps busy."""
    n = WARP
    while n < MAX_LANES and n < length:
        n *= 2
    return n


def launch_config(kernel, ext, block, max_grid):
    """``(grid, block)`` over extents ``ext``: grid-stride loops of ``block`` threads over the
    parallel points without reduced axes, a block per parallel point (at most ``max_grid``
    blocks, grid-stride beyond) with them, its size a multiple of a warp and no more than
    the reduction's lanes (a warp per short row). Grid 0: nothing to run."""
    parallel = math.prod(e for a, e in enumerate(ext) if a not in kernel.reduce_axes)
    if kernel.reduce_axes:
        length = math.prod(ext[a] for a in kernel.reduce_axes)
        block = max(WARP, min(MAX_BLOCK, block, lanes(length)) // WARP * WARP)
        return min(parallel, max_grid), block
    return min(-(-parallel // block), max_grid), block


@dataclass(frozen=True)
class SplitLimits:
    """When a reduction call splits (:func:`split_plan`): fewer than ``below`` parallel
    points and at least ``min_work`` reduced points each; about ``chunk_work`` reduced points
    per partial (a block's work), at most ``max_chunks`` partials per parallel point."""
    below: int
    min_work: int
    chunk_work: int
    max_chunks: int


#: a GPU's (any GPU's: never the device's size, so every GPU gives the same bits): fewer
#: than 256 blocks leave most of a GPU idle; 8192 points a block is 32 per thread of 256
GPU_SPLIT = SplitLimits(below=256, min_work=1 << 16, chunk_work=1 << 13, max_chunks=4096)


def splittable(kernel):
    """Whether calls of ``kernel`` (scheduled) may split: its schedule says so."""
    return bool(kernel.reduce_axes) and kernel.schedule is not None and \
        kernel.schedule.split_axis == chunk_axis(kernel)


def split_plan(kernel, ext, limits):
    """``(n, C)``: ``n`` full chunks of ``C`` along the chunk axis (and one more of the rest),
    or None (no split). From the extents and ``limits`` only: the same inputs always
    combine in the same order."""
    if not splittable(kernel):
        return None
    r = chunk_axis(kernel)
    parallel = math.prod(e for a, e in enumerate(ext) if a not in kernel.reduce_axes)
    inner = math.prod(ext[a] for a in kernel.reduce_axes if a != r)
    if not 0 < parallel < limits.below or inner == 0 or ext[r] * inner < limits.min_work:
        return None
    C = max(-(-limits.chunk_work // inner), -(-ext[r] // limits.max_chunks))
    n = ext[r] // C
    return (n, C) if n >= 2 else None


class SplitReduction:
    """The partial and combine kernels of a splittable ``kernel`` (scheduled for CUDA), each
    with its :class:`~arignote.compiler.bind.Binder`, and the launches of a split call:
    the same for every device."""

    def __init__(self, kernel):
        self.kernel = kernel
        self.kernels = tuple(scheduled(k, CUDA) for k in split_reduction(kernel))
        self.binders = tuple(Binder(k) for k in self.kernels)

    def launches(self, arrays, ext, how, alloc):
        """``[(which, bound arrays, extents)]`` of a call of ``kernel`` bound to ``arrays``
        (every param's, outputs last) over ``ext``, split as ``how`` (:func:`split_plan`):
        the partial kernel (``which`` 0) on ``n`` chunks of ``C``, once more on the rest if
        any, then the combine kernel (1) over the partials, in chunk order, into the
        outputs. ``alloc(shape, dtype)`` makes the partials."""
        k, (part_b, comb_b) = self.kernel, self.binders
        n, C = how
        r = chunk_axis(k)
        n_in = len(k.inputs)
        ins, outs = list(arrays[:n_in]), list(arrays[n_in:])
        rest = ext[r] - n * C
        kept = tuple(e for a, e in enumerate(ext) if a not in k.reduce_axes)
        n_parts = sum(isinstance(i, K.Reduce) for i in k.body)
        partials = [alloc((n + (rest > 0),) + kept, p.dtype)
                    for p in comb_b.kernel.params[n_in:n_in + n_parts]]
        pieces = [(0, n, C, [p[:n] for p in partials])]
        if rest:
            pieces.append((n * C, 1, rest, [p[n:] for p in partials]))
        found = []
        for start, count, length, into in pieces:
            chunks = [_chunks(arrays[j], d, start, count, length) for j, _, d in chunked_loads(k)]
            bound, part_ext, _ = part_b.bind(ins + chunks, into)
            found.append((0, bound, part_ext))
        bound, comb_ext, _ = comb_b.bind(ins + partials, outs)
        found.append((1, bound, comb_ext))
        return found


def occupancy_grid(min_grid, waves=4):
    """The most blocks of a grid-stride launch: ``waves`` times the smallest grid that fills
    the device at full occupancy (what ``cuOccupancyMaxPotentialBlockSize`` reports)."""
    return max(1, min_grid) * waves


def gemm_operand(shape, strides, itemsize):
    """How cuBLAS (column-major) reads a row-major 2-d operand of ``shape`` and byte
    ``strides``: ``(transposed, ld)``, or None when neither dimension is contiguous (a copy
    is needed first). Row-major ``(m, k)`` with row stride ``ld`` is column-major ``(k, m)``
    untransposed."""
    rows, cols = shape
    s0, s1 = (s // itemsize for s in strides)
    if (s1 == 1 or cols <= 1) and s0 >= max(cols, 1):
        return False, max(s0, cols, 1)
    if (s0 == 1 or rows <= 1) and s1 >= max(rows, 1):
        return True, max(s1, rows, 1)
    return None


def gemm_args(a, b, c):
    """cuBLAS ``gemm`` arguments for row-major ``C (m, n) = A (m, k) @ B (k, n)``, each
    operand ``(shape, strides, itemsize)``, ``C`` C-contiguous: computed as the
    column-major ``C^T = B^T A^T``. Returns ``(transb, transa, n, m, k, ldb, lda, ldc)``
    (B first), or None where an operand needs a copy."""
    (m, k), (_, n) = a[0], b[0]
    opa, opb = gemm_operand(*a), gemm_operand(*b)
    if opa is None or opb is None:
        return None
    return opb[0], opa[0], n, m, k, opb[1], opa[1], max(n, 1)
