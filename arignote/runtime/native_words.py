"""The words of a native program: how a recorded run's steps are laid out for
:func:`~arignote.compiler.helper_ir.sequence` (:mod:`arignote.runtime.native_call`).

A :class:`Builder` turns each step of the recording into the sequence's entries --
a kernel's packed arguments, a BLAS ``gemm``'s operands, a copy, the patches of this
call's data pointers -- or into a host item run in Python between native segments,
and raises :class:`Unsupported` for what a replay cannot pin down.
"""
import ctypes

import numpy as np

from arignote.compiler.bind import static_view
from arignote.compiler.helper_ir import SEQUENCE_CODES
from arignote.compiler.unsafe import data_pointer
from arignote.ops.blas import Gemm, MatMul
from arignote.runtime import blas, cpu_skinny
from arignote.runtime.threads import native_pool

_KERNEL, _GEMM, _COPY, _PATCH, _PARALLEL = (
    SEQUENCE_CODES[k] for k in ("kernel", "gemm", "copy", "patch", "parallel"))
_ROW_MAJOR_TRANS = {False: 111, True: 112}


class Mismatch(Exception):
    """A host step's output no longer fits the held array (the call runs normally)."""


class Unsupported(Exception):
    """The recorded run has something a replay cannot redo (the signature runs normally)."""


def bounds(a):
    """``(lo, hi, pointer)``: the bytes ``a`` may touch, and its data pointer."""
    p = data_pointer(a)
    lo = hi = p
    for n, s in zip(a.shape, a.strides):
        if s < 0:
            lo += (n - 1) * s
        else:
            hi += (n - 1) * s
    return lo, hi + a.itemsize, p


def native_kind(node, run, args):
    """How a step runs natively on ``args``: 'kernel', 'gemm' (a Gemm's library step),
    'skinny' (MatMul's by :mod:`~arignote.runtime.cpu_skinny`, as its normal run does),
    'matmul' (MatMul's, as a gemm), or None (a host step). A product NumPy computes
    otherwise than by ``gemm`` (a matrix times a vector: ``gemv``; ``a.T @ a``: ``syrk``)
    stays NumPy's, so a replay gives the very bits a normal run gives."""
    launcher = getattr(run, "launcher", None)
    if launcher is not None and getattr(launcher, "compiled", None) is not None and \
            hasattr(launcher, "_n_shape"):
        return "kernel"
    if isinstance(node.op, Gemm) and hasattr(run, "take"):
        return "gemm"
    if isinstance(node.op, MatMul) and getattr(run, "trusted", False):
        a, b = args
        if getattr(run, "skinny", False) and cpu_skinny.plan(a, b) is not None:
            return "skinny"
        if a.ndim == b.ndim == 2 and a.shape[0] > 1 and b.shape[1] > 1 and \
                not np.may_share_memory(a, b):
            return "matmul"
    return None


class Native:
    """A native segment: its entries, ended by opcode 0, in memory of its own."""

    __slots__ = ("array", "address")

    def __init__(self, words):
        self.array = np.array(words + [0], np.int64)
        self.address = self.array.ctypes.data


class Builder:
    """Lays out the items of a replay: native entries (patched where they hold a
    root's or a fresh array's pointer), host items in between."""

    def __init__(self, patched, held, keep):
        self.patched, self.keep = patched, keep
        self.held = [bounds(a) for a in held if a.size]
        self.items, self.words, self.relocs = [], [], []  # relocs: (word index, base, delta)
        self.patches = []  # (absolute address, base, delta), or (item, word index, base, delta)

    def _pointer(self, p, where):
        """Note pointer ``p`` found at ``where`` (an address, or a word of this segment)."""
        for b, (lo, hi, start) in enumerate(self.patched):
            if lo <= p < hi:
                self.patches.append((where, b, p - start))
                return
        if not any(lo <= p < hi for lo, hi, _ in self.held):
            raise Unsupported("a pointer into memory the replay does not hold")

    def _word(self, value, pointer=False):
        if pointer:
            self._pointer(value, ("word", len(self.words)))
        self.words.append(int(value))

    def native(self, native, run, args, outputs, commit=False):
        if native == "kernel":
            self._kernel(run, args, outputs, commit)
        elif native == "skinny":
            self._skinny(args, outputs[0])
        else:
            self._gemm(native, run, args, outputs[0])

    def _skinny(self, args, out):
        """A skinny product's entries: its kernels (the transpose of ``B`` first, where it
        needs one), split among threads as its normal run splits them."""
        a, b = args
        product = cpu_skinny.Product(cpu_skinny.plan(a, b), a, b, out)
        self.keep.append(product)
        if product.scratch is not None:
            self.held.append(bounds(product.scratch))
        for where, pointer in product.pointers:
            self._pointer(pointer, where)
        pool = native_pool()
        for address, _, shape, data, strides, end, (array, chunks, n) in product.entries:
            if n > 1 and pool is not None:
                self.keep.append(array)
                for w in (_PARALLEL, pool.run_address, pool.address, address, shape, data, strides,
                          chunks, n, 0):
                    self._word(w)
            else:
                for w in (_KERNEL, address, shape, data, strides, end, 0):
                    self._word(w)

    def _kernel(self, run, args, outputs, commit):
        la = run.launcher
        if la.kernel.extents or not all(static_view(steps) for _, (_, steps) in la.views):
            raise Unsupported("a kernel whose extents or views follow values")  # (x[i:i + n])
        call = la.prepare(list(args), outputs=list(outputs))
        arrays, buf, base = call._keep
        self.keep.append(call)
        flag = la.compiled.error_flag
        if commit and flag is not None:
            raise Unsupported("a commit that can raise")
        if any(a is not o for a, o in zip(arrays[len(arrays) - len(outputs):], outputs)):
            raise Unsupported("a kernel that did not write into the given outputs")
        n_shape = la._n_shape
        for j in range(len(arrays)):
            self._pointer(buf[n_shape + j], base + 8 * (n_shape + j))
        call._keep = (None, buf, base)  # (the replay holds what it reads: not the recorded roots)
        runner, limit = getattr(run, "runner", None), getattr(run, "parallel_work", None)
        if runner is not None and limit is not None and call.end > 1 and \
                call.end * max(call.work // call.end, 1) >= limit:
            job = getattr(runner, "native_job", lambda call: None)(call)
            if job is None:  # (no native pool: the runner splits it from Python)
                self.host(threaded_item(la, call, runner))
                return
            run_address, pool, bounds, bounds_address, n = job
            self.keep.append(bounds)
            self._word(_PARALLEL)
            for w in (run_address, pool, la.compiled.address, *call.args, bounds_address, n):
                self._word(w)
            self._word(ctypes.addressof(flag) if flag is not None else 0)
            return
        self._word(_KERNEL)
        for w in (la.compiled.address, *call.args):
            self._word(w)
        self._word(call.end)
        self._word(ctypes.addressof(flag) if flag is not None else 0)

    def _gemm(self, native, run, args, out):
        fns = blas._FNS
        if fns is None or blas.gemm is None or out.dtype not in blas._CHAR or out.ndim != 2:
            raise Unsupported("no BLAS to call")
        fn = fns[blas._CHAR[out.dtype]]
        if fn.argtypes[3] is not ctypes.c_int64:
            raise Unsupported("a BLAS with 32-bit sizes")
        if native == "matmul":
            (a, b), alpha, beta = args, self._constant(1.0), self._constant(0.0)
        else:
            c, alpha, a, b, beta = args
            if c is not out:  # (not in place: the product's C copied into the output first)
                if not c.flags.c_contiguous or c.shape != out.shape or c.dtype != out.dtype:
                    raise Unsupported("a Gemm whose C is broadcast")
                self.copy(out, c)
        m, n = out.shape
        k = a.shape[1]
        if not (m and n and k) or not out.flags.c_contiguous or a.dtype != out.dtype or \
                b.dtype != out.dtype:
            raise Unsupported("an empty or mixed product")
        ops = [_operand(x) for x in (a, b)]
        if None in ops:
            raise Unsupported("an operand neither C- nor F-ordered")
        self._word(_GEMM)
        self._word(ctypes.cast(fn, ctypes.c_void_p).value)
        self._word(out.dtype == np.float64)
        self._word(ops[0][0])
        self._word(ops[1][0])
        for w in (m, n, k):
            self._word(w)
        self._scalar(alpha)
        self._word(data_pointer(a), pointer=True)
        self._word(ops[0][1])
        self._word(data_pointer(b), pointer=True)
        self._word(ops[1][1])
        self._scalar(beta)
        self._word(data_pointer(out), pointer=True)
        self._word(n)

    def _scalar(self, x):
        """Two words: a float or double's address, and whether it is a double."""
        if x.__class__ is not np.ndarray or x.ndim != 0 or x.dtype not in (np.float32, np.float64):
            raise Unsupported("a gemm scale that is not a float or double")
        self._word(data_pointer(x), pointer=True)
        self._word(x.dtype == np.float64)

    def _constant(self, value):
        a = np.array(value, np.float64)
        self.keep.append(a)
        self.held.append(bounds(a))
        return a

    def copy(self, dst, src):
        self._word(_COPY)
        self._word(data_pointer(dst), pointer=True)
        self._word(data_pointer(src), pointer=True)
        self._word(dst.nbytes)

    def host(self, item):
        self._close()
        self.items.append(item)

    def _close(self):
        if self.words:
            segment = Native(self.words)
            self.items.append(segment)
            for where, b, delta in self.patches:
                if where.__class__ is tuple:
                    where = segment.address + 8 * where[1]
                self.relocs.append((where, b, delta))
            self.words, self.patches = [], []
        elif self.patches:
            self.relocs += self.patches
            self.patches = []

    def finish(self):
        """The items laid out since the last ``finish``."""
        self._close()
        items, self.items = self.items, []
        return items

    def patch_program(self):
        """The segment that writes every patched pointer (run first, each call)."""
        words = []
        for where, b, delta in self.relocs:
            words += [_PATCH, where, b, delta]
        segment = Native(words)
        self.keep.append(segment)
        return segment.address


def _operand(x):
    """(transpose flag, leading dimension) as BLAS reads ``x``, None if it must be copied."""
    if x.flags.c_contiguous and x.shape[1] > 0:
        return _ROW_MAJOR_TRANS[False], x.shape[1]
    if x.flags.f_contiguous and x.shape[0] > 0:
        return _ROW_MAJOR_TRANS[True], x.shape[0]
    return None


def host_item(node, run, ins, held):
    """A host step rerun each call, its outputs copied into the held arrays."""
    def item(storage):
        results = run([storage[i] for i in ins])
        for r, h in zip(results, held):
            if r.__class__ is not np.ndarray or r.shape != h.shape or r.dtype != h.dtype:
                raise Mismatch(str(node.op))
            if r is not h:
                np.copyto(h, r)
    return item


def view_item(run, ins, outs):
    """A view rerun each call for the host steps that read it."""
    def item(storage):
        for i, r in zip(outs, run([storage[i] for i in ins])):
            storage[i] = r
    return item


def threaded_item(la, call, runner):
    """A kernel split among threads, on its kept argument buffer."""
    flag = la.compiled.error_flag

    def item(storage):
        if flag is not None:
            flag.value = 0
        runner(call)
        if flag is not None and flag.value:
            raise Mismatch(la.kernel.name)
    return item
