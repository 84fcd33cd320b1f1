"""Skinny matrix products on the cpu backend: ``A @ B`` with ``B`` of a few columns.

BLAS runs ``X @ W`` and ``X.T @ g`` with ``W`` 784x10 (a classifier's last layer
and its weight gradient) at a fraction of the machine's speed: its kernels are
made for wide tiles. :func:`plan` says when the kernels of
:mod:`arignote.compiler.skinny_ir` take a product instead (floats, ``B`` of at
most as many columns as the registers hold accumulators, ``A``'s rows or
columns contiguous and long enough to fill vectors); :class:`Product` is one
call's packed arguments, run on the calling thread or, when large, on the
native thread pool by output rows (each output summed by one thread in a fixed
order: the bits never depend on the threads), and laid out as a replay's entries by
:mod:`arignote.runtime.native_words`. Measured on the W3 step's products (256x784
by 784x10, float32, the 2-core EPYC): one thread 39-43 us each against
OpenBLAS's 83-92 us on one thread and 45-60 us on two.

``ARIGNOTE_SKINNY=0`` leaves every product to BLAS.
"""
import functools
import os

import numpy as np

from arignote.compiler import jit, skinny_ir
from arignote.compiler.jit import KERNEL_CFUNC
from arignote.compiler.unsafe import data_pointer
from arignote.runtime.threads import chunk_bounds, native_pool

ENABLED = os.environ.get("ARIGNOTE_SKINNY", "1").strip() != "0"
#: a rows-form product needs this many vectors along the summed axis: shorter rows
#: spend their time in the sums across lanes (BLAS does better there)
MIN_ROW_VECTORS = 2
#: multiply-adds below which a product runs on the calling thread: one thread already
#: beats BLAS's two there, and a second thread would fight BLAS's own, which spins for a
#: while after each of its calls (W3 step: 118 us on one thread against 141 us split,
#: a NumPy product between calls)
MIN_SPLIT_WORK = 1 << 24


@functools.cache
def _machine():
    """(vector bytes, vector registers) of the host (asked once: :func:`plan` runs per call)."""
    wide = "+avx512f" in jit._init()["features"]
    return (64, 32) if wide else (32, 16)


def lanes(dtype):
    return _machine()[0] // np.dtype(dtype).itemsize


_functions = {}  # (symbol, dtype, n) -> (address, ctypes function, CompiledKernel)


def _function(symbol, dtype, n):
    """(address, ctypes function) of a helper for ``dtype`` and ``n`` columns (compiled
    once, O3, through the disk cache)."""
    key = (symbol, np.dtype(dtype).str, n)
    got = _functions.get(key)
    if got is None:
        v, registers = lanes(dtype), _machine()[1]
        if symbol == skinny_ir.ROWS:
            ir = skinny_ir.rows(dtype, n, v, 2 if 2 * n + 3 <= registers else 1)
        elif symbol == skinny_ir.COLUMNS:
            ir = skinny_ir.columns(dtype, n, v)
        else:
            ir = skinny_ir.transpose(dtype)
        compiled = jit.compile_ir(ir, symbol)
        got = _functions[key] = (compiled.address, KERNEL_CFUNC(compiled.address), compiled)
    return got[:2]


def plan(a, b):
    """``'rows'``, ``'columns'`` or None: how ``a @ b`` (2-d, one float dtype) runs here."""
    if not ENABLED or a.dtype != b.dtype or a.dtype.kind != "f" or a.dtype.itemsize not in (4, 8):
        return None
    (m, k), n = a.shape, b.shape[1]
    size, v = a.itemsize, lanes(a.dtype)
    if not (m and k and 0 < n and n + 2 <= _machine()[1]) or \
            any(s % size for s in (*a.strides, *b.strides)):
        return None
    if a.strides[1] == size and k >= MIN_ROW_VECTORS * v:
        return "rows"
    if a.strides[0] == size and m >= v:
        return "columns"
    return None


class Product:
    """One call of ``out = a @ b`` by :func:`plan`'s ``form``: the entries to run in order,
    each ``(function address, ctypes function, shape, data, strides (addresses), end,
    chunk bounds)``, their words in one array; ``pointers``: ``(address, pointer)`` of each
    word that holds a data pointer (a replay patches them)."""

    def __init__(self, form, a, b, out):
        dtype, n, size = a.dtype, b.shape[1], a.itemsize
        m, k = a.shape
        self.scratch = None
        words, entries = [], []

        def entry(symbol, shape, data, strides, end, work, least=1):
            at = len(words)
            words.extend([*shape, *data, *strides])
            entries.append((_function(symbol, dtype, n), at, len(shape), len(data), end, work, least))

        if form == "rows":
            bt = b.T
            if not bt.flags.c_contiguous:  # (B's transpose, contiguous, made first)
                bt = self.scratch = np.empty((n, k), dtype)
                entry(skinny_ir.TRANSPOSE, (k, n), (data_pointer(b), data_pointer(bt)),
                      (b.strides[0] // size, b.strides[1] // size), k, n)
            entry(skinny_ir.ROWS, (k,), (data_pointer(a), data_pointer(bt), data_pointer(out)),
                  (a.strides[0] // size,), m, k * n)
        else:
            entry(skinny_ir.COLUMNS, (k,), (data_pointer(a), data_pointer(b), data_pointer(out)),
                  (a.strides[1] // size, b.strides[0] // size, b.strides[1] // size), m, k * n,
                  lanes(dtype))
        self.words = np.array(words, np.int64)
        base = self.words.ctypes.data
        self.entries, self.pointers = [], []
        for (address, fn), at, n_shape, n_data, end, work, least in entries:
            shape, data = base + 8 * at, base + 8 * (at + n_shape)
            self.pointers += [(data + 8 * j, int(self.words[at + n_shape + j])) for j in range(n_data)]
            chunks = chunk_bounds(end, work, least) if end * work >= MIN_SPLIT_WORK else (None, None, 1)
            self.entries.append((address, fn, shape, data, data + 8 * n_data, end, chunks))

    def run(self):
        for address, fn, shape, data, strides, end, (_, bounds, n) in self.entries:
            pool = native_pool() if n > 1 else None
            if pool is None:
                fn(shape, data, strides, 0, end)
            else:
                pool.run(address, (shape, data, strides), bounds, n)


def product(a, b, out):
    """``out[...] = a @ b`` by a skinny kernel; False (nothing done) where :func:`plan`
    says BLAS."""
    form = plan(a, b)
    if form is None:
        return False
    Product(form, a, b, out).run()
    return True
