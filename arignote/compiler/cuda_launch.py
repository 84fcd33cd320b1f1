"""What a launch of a CUDA kernel needs, whatever device runs it: the packed
argument, the grid and block, and a matrix product's operands as cuBLAS takes
them. Pure arithmetic on addresses and shapes, so the real GPU
(:mod:`arignote.runtime.cuda_gpu`) and the emulated device
(:mod:`arignote.runtime.cuda_device`) launch exactly the same way, and the
tests check it without a GPU.

The kernel ABI is :mod:`arignote.compiler.cuda`'s: one ``ag_args`` passed by
value, all 8-byte fields -- the extents, a base pointer per param, the strides
in elements (param by param), the address of the ``int`` error flag.
"""
import math

import numpy as np

from arignote.compiler.cuda import args_layout

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


def launch_config(kernel, ext, block, max_grid):
    """``(grid, block)`` over extents ``ext``: grid-stride loops of ``block`` threads over the
    parallel points without reduced axes, a block per parallel point (at most ``max_grid``
    blocks, grid-stride beyond) with them, its size a multiple of a warp. Grid 0: nothing
    to run."""
    parallel = math.prod(e for a, e in enumerate(ext) if a not in kernel.reduce_axes)
    if kernel.reduce_axes:
        block = max(WARP, min(MAX_BLOCK, block) // WARP * WARP)
        return min(parallel, max_grid), block
    return min(-(-parallel // block), max_grid), block


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
