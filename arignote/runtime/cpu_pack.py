"""Compiled window loops of the cpu convolution and pooling steps: im2col, col2im, max
pooling and its gradient, JIT-compiled (LLVM, O3: the inner loop vectorizes) and
called through ctypes, which releases the GIL.

NumPy does each of these as one strided copy (or add, or compare) per filter
offset over the whole batch: 25 passes for a 5x5 filter, each with an 8- to
24-element inner loop (col2im took longer than the matrix product it follows). Here one pass per image and
channel does every offset while the plane is in cache, and padding is a bound
on the loop (no padded copy of the input).

Every loop is over ``(image, channel)`` planes ``[start, end)``, so the steps
split them over the thread pool; each plane is written by one call, and each
output element sums its terms in the NumPy code's order (offset by offset),
so the values are the NumPy fallback's to the bit. The geometry (sizes, strides
in elements, and the per-offset bounds of the valid columns and rows:
:func:`geometry`) is compiled into the code as constants, one function per
geometry (kept in the disk cache): the short inner loops (8 to 24 columns)
then unroll and vectorize without run-time stride checks, which with the
geometry read at run time made these loops no faster than NumPy's. For other
dtypes (float16) :func:`kernel` returns None and the steps use NumPy.
"""
import contextlib
import ctypes
import functools
import hashlib

import numpy as np
from llvmlite import ir

from arignote.compiler.jit import compile_ir

__all__ = ["LoopBuilder", "geometry", "kernel", "for_geometry", "call", "element_strides"]

_I64 = ir.IntType(64)
#: points per strip of a loop along rows (:meth:`LoopBuilder.strips`): one AVX2 vector of float32
LANES = 8
_TYPES = {np.dtype("float32"): (ir.FloatType(), "f32"), np.dtype("float64"): (ir.DoubleType(), "f64")}

# the geometry record: sizes, then image-side strides, then column-side strides, then tables
(_C, _H, _W, _KH, _KW, _HO, _WO, _S1, _FLAG) = range(9)
_A = 9          # image side (n, c, h, w) strides
_B = _A + 4     # column side (n, c, u, v, i, j) strides
_M = _B + 6     # a third tensor's (n, c, i, j) strides (the pooled max, and gz)
_TABLES = _M + 4


def geometry(shape, kshape, out_hw, stride, dilation, pads, a_strides, b_strides,
             m_strides=(0, 0, 0, 0), flag=0):
    """The int64 record the kernels read. ``shape``: (C, H, W) of the image side;
    strides in elements. The tables: per column offset ``v``, the first and past-last
    output column ``j`` whose input column ``j s1 + v d1 - p1`` lies inside the image,
    and that offset ``v d1 - p1``; per (row offset ``u``, output row ``i``) the input
    row ``i s0 + u d0 - p0``, or -1 outside the image."""
    c, h, w = shape
    (kh, kw), (ho, wo), (s0, s1), (d0, d1), (p0, p1) = kshape, out_hw, stride, dilation, pads
    coff = np.arange(kw) * d1 - p1
    j = np.arange(wo)
    cols = j[None, :] * s1 + coff[:, None]  # (kw, wo)
    inside = (cols >= 0) & (cols < w)
    lo = np.where(inside.any(1), inside.argmax(1), wo)
    hi = np.maximum(lo, wo - inside[:, ::-1].argmax(1))
    hi = np.where(inside.any(1), hi, wo)
    rows = np.arange(ho)[None, :] * s0 + (np.arange(kh) * d0 - p0)[:, None]  # (kh, ho)
    rows = np.where((rows >= 0) & (rows < h), rows, -1)
    head = [c, h, w, kh, kw, ho, wo, s1, flag, *a_strides, *b_strides, *m_strides]
    return np.concatenate([np.asarray(head, np.int64), lo, hi, coff, rows.ravel()]).astype(np.int64)


class LoopBuilder:
    """An IR builder with counted loops (loop variables in allocas: mem2reg lifts them)."""

    def __init__(self, fn):
        self.entry = fn.append_basic_block("entry")
        self.b = ir.IRBuilder(self.entry)
        self.fn = fn

    def var(self):
        with self.b.goto_block(self.entry):
            self.b.position_at_start(self.entry)
            return self.b.alloca(_I64)

    @contextlib.contextmanager
    def loop(self, lo, hi):
        b, var = self.b, self.var()
        b.store(lo, var)
        test, body, done = (self.fn.append_basic_block(s) for s in ("test", "body", "done"))
        b.branch(test)
        b.position_at_end(test)
        i = b.load(var)
        b.cbranch(b.icmp_signed("<", i, hi), body, done)
        b.position_at_end(body)
        yield i
        b.store(b.add(i, ir.Constant(_I64, 1), flags=["nsw"]), var)
        b.branch(test)
        b.position_at_end(done)

    def opaque(self, value, tag):
        """``value`` as LLVM cannot know it (loaded at entry from a writable global of its
        own, ``tag`` naming it): a loop to it is not unrolled whole (and the loop around
        it then vectorized with gathers); SLP-vectorized strips of constant width inside
        it do the vector work instead."""
        module = self.fn.module
        name = f"{self.fn.name}.{tag}"
        if name not in module.globals:
            cell = ir.GlobalVariable(module, _I64, name)
            cell.initializer = ir.Constant(_I64, int(value))
        with self.b.goto_block(self.entry):
            self.b.position_at_start(self.entry)
            return self.b.load(module.globals[name])

    def strips(self, extent, body, lanes=LANES):
        """``body(j)`` for ``j`` in ``[0, extent)`` (a constant): strips of ``lanes``
        points unrolled (LLVM's SLP vectorizer makes each strip vector code), then the
        rest one by one."""
        b, whole = self.b, extent // lanes * lanes
        with self.loop(ir.Constant(_I64, 0), self.opaque(whole // lanes, f"strips{extent}")) as s:
            first = b.mul(s, ir.Constant(_I64, lanes), flags=["nsw"])
            for lane in range(lanes):
                body(b.add(first, ir.Constant(_I64, lane), flags=["nsw"]))
        if whole < extent:
            with self.loop(ir.Constant(_I64, whole), ir.Constant(_I64, extent)) as j:
                body(j)

    def at(self, base, *terms):
        """``base + sum(i * s)`` over the (index, stride) pairs ``terms``."""
        b = self.b
        for i, s in terms:
            base = b.add(base, b.mul(i, s, flags=["nsw"]), flags=["nsw"])
        return base


def _function(name, real, n_ptrs, record):
    """(module, function, builder): ``void name(real* x n_ptrs, i64 start, i64 end)``, the
    geometry ``record`` a constant array in the module."""
    module = ir.Module(name=name)
    ptr = real.as_pointer()
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [ptr] * n_ptrs + [_I64, _I64]), name)
    for arg in fn.args[:n_ptrs]:
        arg.add_attribute("noalias")
    table = ir.GlobalVariable(module, ir.ArrayType(_I64, len(record)), name + ".geometry")
    table.global_constant, table.linkage = True, "internal"
    table.initializer = ir.Constant(ir.ArrayType(_I64, len(record)), [int(v) for v in record])
    k = LoopBuilder(fn)
    k.table, k.record = table, [int(v) for v in record]
    return module, fn, k


def _planes(k, start, end, body):
    """Shared frame: for each plane ``(n, c)`` of ``[start, end)``, ``body(n, c, P)`` with
    ``P(index)`` the geometry record's entry (a constant where ``index`` is one)."""
    b = k.b
    head = k.record

    def P(index):
        if not isinstance(index, ir.Value):
            return ir.Constant(_I64, head[index])
        return b.load(b.gep(k.table, [ir.Constant(_I64, 0), index]))

    channels = P(_C)
    with k.loop(start, end) as idx:
        body(b.sdiv(idx, channels), b.srem(idx, channels), P)
    b.ret_void()


def _plane_at(k, P, field, n, c):
    """The offset of plane (n, c) in the array whose strides start at parameter ``field``."""
    return k.at(ir.Constant(_I64, 0), (n, P(field)), (c, P(field + 1)))


def _offsets(k, P, each):
    """``each(u, v, i, h, lo, hi, coff)`` for each offset (u, v) and output row ``i``: ``h``
    the input row (-1 outside, and then ``lo == hi``), ``[lo, hi)`` the output columns
    inside, ``coff`` the offset of their input columns."""
    kh, kw, ho = P(_KH), P(_KW), P(_HO)
    tables = ir.Constant(_I64, _TABLES)
    b = k.b
    with k.loop(ir.Constant(_I64, 0), kh) as u:
        with k.loop(ir.Constant(_I64, 0), kw) as v:
            lo = P(b.add(tables, v))
            hi = P(b.add(b.add(tables, kw), v))
            coff = P(b.add(b.add(tables, b.mul(kw, ir.Constant(_I64, 2))), v))
            with k.loop(ir.Constant(_I64, 0), ho) as i:
                row_at = b.add(b.add(tables, b.mul(kw, ir.Constant(_I64, 3))), b.add(b.mul(u, ho), i))
                h = P(row_at)
                inside_lo = b.select(b.icmp_signed("<", h, ir.Constant(_I64, 0)), hi, lo)
                each(u, v, i, h, inside_lo, hi, coff)


def _tables(record):
    """The geometry record's tables (see :func:`geometry`), as int arrays: per column
    offset the first and past-last output column inside and the offset, and the input
    row of each (row offset, output row)."""
    record = np.asarray(record)
    kh, kw, ho = (int(record[f]) for f in (_KH, _KW, _HO))
    lo, hi, coff = (record[_TABLES + n * kw:_TABLES + (n + 1) * kw] for n in range(3))
    rows = record[_TABLES + 3 * kw:_TABLES + 3 * kw + kh * ho].reshape(kh, ho)
    return lo, hi, coff, rows


def _windows_inside(record):
    """Does every window lie inside the input (no padding read, no partial window)? Then
    the loops run over output points with every offset unrolled, all bounds constants."""
    lo, hi, _, rows = _tables(record)
    return bool((lo == 0).all() and (hi == record[_WO]).all() and (rows >= 0).all())


def _covers(record):
    """Do the windows cover every input point (so a gradient need not zero its plane)?"""
    lo, _, coff, rows = _tables(record)
    wo, s1 = int(record[_WO]), int(record[_S1])
    cols = {j * s1 + int(c) for c, first in zip(coff, lo) for j in range(int(first), wo)}
    return len(set(rows.ravel().tolist())) == record[_H] and len(cols) == record[_W]


def _window_points(k, each):
    """``each(i, j, at)`` for each output point (i, j) of the plane, ``at(u, v)`` the
    input (row, column) of offset (u, v) of its window (windows inside the input)."""
    b, record = k.b, k.record
    ho, wo, s1 = (record[f] for f in (_HO, _WO, _S1))
    _, _, coff, rows = _tables(record)
    with k.loop(ir.Constant(_I64, 0), ir.Constant(_I64, ho)) as i:
        # the input rows of each row offset: i s0 + u d0 (a line through the table's values)
        step = int(rows[0][1] - rows[0][0]) if ho > 1 else 0
        h = [b.add(b.mul(i, ir.Constant(_I64, step)), ir.Constant(_I64, int(first))) for first in rows[:, 0]]

        def point(j):
            js = b.mul(j, ir.Constant(_I64, s1))
            each(i, j, lambda u, v: (h[u], b.add(js, ir.Constant(_I64, int(coff[v])))))

        k.strips(wo, point)


def _make_im2col(name, real, record):
    """cols[n, c, u, v, i, j] = x[n, c, i s0 + u d0 - p0, j s1 + v d1 - p1], 0 outside."""
    module, fn, k = _function(name, real, 2, record)
    x, cols, start, end = fn.args
    b, zero = k.b, ir.Constant(real, 0)

    def plane(n, c, P):
        a_base = _plane_at(k, P, _A, n, c)
        b_base = _plane_at(k, P, _B, n, c)
        ah, aw, bu, bv, bi, bj, s1, wo = (P(_A + 2), P(_A + 3), P(_B + 2), P(_B + 3), P(_B + 4),
                                          P(_B + 5), P(_S1), P(_WO))

        def each(u, v, i, h, lo, hi, coff):
            row = k.at(b_base, (u, bu), (v, bv), (i, bi))
            src = k.at(a_base, (h, ah))
            for first, last in ((ir.Constant(_I64, 0), lo), (hi, wo)):
                with k.loop(first, last) as j:
                    b.store(zero, b.gep(cols, [k.at(row, (j, bj))]))
            with k.loop(lo, hi) as j:
                value = b.load(b.gep(x, [k.at(src, (b.add(b.mul(j, s1), coff), aw))]))
                b.store(value, b.gep(cols, [k.at(row, (j, bj))]))

        _offsets(k, P, each)

    _planes(k, start, end, plane)
    return module


def _zero_plane(k, P, out, base, strides, real):
    b = k.b
    with k.loop(ir.Constant(_I64, 0), P(_H)) as h:
        with k.loop(ir.Constant(_I64, 0), P(_W)) as w:
            b.store(ir.Constant(real, 0), b.gep(out, [k.at(base, (h, strides[0]), (w, strides[1]))]))


def _make_col2im(name, real, record):
    """gx[n, c, h, w] = the sum of cols[n, c, u, v, i, j] over the (u, v, i, j) that read
    (h, w) in im2col, added offset by offset."""
    module, fn, k = _function(name, real, 2, record)
    gx, cols, start, end = fn.args
    b = k.b

    def plane(n, c, P):
        a_base = _plane_at(k, P, _A, n, c)
        b_base = _plane_at(k, P, _B, n, c)
        ah, aw, bu, bv, bi, bj, s1 = (P(_A + 2), P(_A + 3), P(_B + 2), P(_B + 3), P(_B + 4),
                                      P(_B + 5), P(_S1))
        _zero_plane(k, P, gx, a_base, (ah, aw), real)

        def each(u, v, i, h, lo, hi, coff):
            row = k.at(b_base, (u, bu), (v, bv), (i, bi))
            dst = k.at(a_base, (h, ah))
            with k.loop(lo, hi) as j:
                at = b.gep(gx, [k.at(dst, (b.add(b.mul(j, s1), coff), aw))])
                b.store(b.fadd(b.load(at), b.load(b.gep(cols, [k.at(row, (j, bj))]))), at)

        _offsets(k, P, each)

    _planes(k, start, end, plane)
    return module


def _make_max_pool_grad_inside(k, real, gx, x, mx, gz, start, end):
    """MaxPoolGrad of disjoint windows inside the input: one pass over the outputs, each
    window's points set to its ``gz`` where they equal its max and to 0 elsewhere (the
    plane zeroed first where the windows leave points out)."""
    b, record = k.b, k.record
    kh, kw = record[_KH], record[_KW]
    covered = _covers(record)

    def plane(n, c, P):
        out_base = _plane_at(k, P, _B, n, c)
        x_base = _plane_at(k, P, _A, n, c)
        m_base = _plane_at(k, P, _M, n, c)
        oh, ow, xh, xw, mi, mj = (P(_B + 2), P(_B + 3), P(_A + 2), P(_A + 3), P(_M + 2), P(_M + 3))
        if not covered:
            _zero_plane(k, P, gx, out_base, (oh, ow), real)

        def each(i, j, at):
            m_at = k.at(m_base, (i, mi), (j, mj))
            top, g = b.load(b.gep(mx, [m_at])), b.load(b.gep(gz, [m_at]))
            for u in range(kh):
                for v in range(kw):
                    h, w = at(u, v)
                    hit = b.fcmp_ordered("==", b.load(b.gep(x, [k.at(x_base, (h, xh), (w, xw))])), top)
                    b.store(b.select(hit, g, ir.Constant(real, 0)),
                            b.gep(gx, [k.at(out_base, (h, oh), (w, ow))]))

        _window_points(k, each)

    _planes(k, start, end, plane)


def _make_max_pool_grad(name, real, record):
    """gx[n, c, h, w]: the ``gz`` of each window whose max ``x[n, c, h, w]`` equals, copied
    (windows disjoint: the flag 1) or added offset by offset (overlapping)."""
    module, fn, k = _function(name, real, 4, record)
    gx, x, mx, gz, start, end = fn.args
    if record[_FLAG] and _windows_inside(record):
        _make_max_pool_grad_inside(k, real, gx, x, mx, gz, start, end)
        return module
    b = k.b

    def plane(n, c, P):
        out_base = _plane_at(k, P, _B, n, c)
        x_base = _plane_at(k, P, _A, n, c)
        m_base = _plane_at(k, P, _M, n, c)
        oh, ow, xh, xw, mi, mj, s1 = (P(_B + 2), P(_B + 3), P(_A + 2), P(_A + 3), P(_M + 2),
                                      P(_M + 3), P(_S1))
        disjoint = b.icmp_signed("!=", P(_FLAG), ir.Constant(_I64, 0))
        _zero_plane(k, P, gx, out_base, (oh, ow), real)

        def each(u, v, i, h, lo, hi, coff):
            m_row = k.at(m_base, (i, mi))
            with k.loop(lo, hi) as j:
                w = b.add(b.mul(j, s1), coff)
                at = b.gep(gx, [k.at(out_base, (h, oh), (w, ow))])
                m_at = k.at(m_row, (j, mj))
                hit = b.fcmp_ordered("==", b.load(b.gep(x, [k.at(x_base, (h, xh), (w, xw))])),
                                     b.load(b.gep(mx, [m_at])))
                g, old = b.load(b.gep(gz, [m_at])), b.load(at)
                b.store(b.select(hit, b.select(disjoint, g, b.fadd(old, g)), old), at)

        _offsets(k, P, each)

    _planes(k, start, end, plane)
    return module


def _maximum(b, acc, value):
    """NumPy's ``maximum(acc, value)``: ``acc`` where it is at least ``value`` or NaN
    (so a NaN propagates and the first of equal values is kept), else ``value``."""
    keep = b.or_(b.fcmp_ordered(">=", acc, value), b.fcmp_unordered("uno", acc, acc))
    return b.select(keep, acc, value)


def _make_max_pool_inside(k, out, x, start, end):
    """Max pooling when every window lies inside: one pass over the outputs, each the
    max of its window's points in NumPy's offset order (u, v), so ties and NaN come out
    as the general loop's (and NumPy's) do."""
    b, record = k.b, k.record
    kh, kw = record[_KH], record[_KW]

    def plane(n, c, P):
        out_base = _plane_at(k, P, _B, n, c)
        x_base = _plane_at(k, P, _A, n, c)
        oi, oj, xh, xw = P(_B + 2), P(_B + 3), P(_A + 2), P(_A + 3)

        def each(i, j, at):
            acc = None
            for u in range(kh):
                for v in range(kw):
                    h, w = at(u, v)
                    value = b.load(b.gep(x, [k.at(x_base, (h, xh), (w, xw))]))
                    if acc is None:
                        acc = value
                        continue
                    acc = _maximum(b, acc, value)
            b.store(acc, b.gep(out, [k.at(out_base, (i, oi), (j, oj))]))

        _window_points(k, each)

    _planes(k, start, end, plane)


def _make_max_pool(name, real, record):
    """out[n, c, i, j] = the max of x over window (i, j), NumPy's ``maximum`` offset by
    offset (a NaN in the window gives NaN), -inf for a window with nothing inside."""
    module, fn, k = _function(name, real, 2, record)
    out, x, start, end = fn.args
    if _windows_inside(record):
        _make_max_pool_inside(k, out, x, start, end)
        return module
    b = k.b

    def plane(n, c, P):
        out_base = _plane_at(k, P, _B, n, c)
        x_base = _plane_at(k, P, _A, n, c)
        oi, oj, xh, xw, s1 = P(_B + 2), P(_B + 3), P(_A + 2), P(_A + 3), P(_S1)
        with k.loop(ir.Constant(_I64, 0), P(_HO)) as i:
            with k.loop(ir.Constant(_I64, 0), P(_WO)) as j:
                b.store(ir.Constant(real, float("-inf")), b.gep(out, [k.at(out_base, (i, oi), (j, oj))]))

        def each(u, v, i, h, lo, hi, coff):
            with k.loop(lo, hi) as j:
                at = b.gep(out, [k.at(out_base, (i, oi), (j, oj))])
                acc = b.load(at)
                value = b.load(b.gep(x, [k.at(x_base, (h, xh), (b.add(b.mul(j, s1), coff), xw))]))
                b.store(_maximum(b, acc, value), at)

        _offsets(k, P, each)

    _planes(k, start, end, plane)
    return module


_MAKERS = {"im2col": (_make_im2col, 2), "col2im": (_make_col2im, 2),
           "max_pool_grad": (_make_max_pool_grad, 4), "max_pool": (_make_max_pool, 2)}


@functools.lru_cache(maxsize=256)
def _compiled(what, dtype, record_bytes):
    """(ctypes function, its CompiledKernel)."""
    real, suffix = _TYPES[dtype]
    make, n_ptrs = _MAKERS[what]
    record = np.frombuffer(record_bytes, np.int64)
    name = f"arignote_{what}_{suffix}_{hashlib.sha1(record_bytes).hexdigest()[:16]}"
    done = compile_ir(str(make(name, real, record)), name)
    fn = ctypes.CFUNCTYPE(None, *([ctypes.c_void_p] * n_ptrs), ctypes.c_int64,
                          ctypes.c_int64)(done.address)
    fn.code = done  # (whoever holds the handle holds the code: a cache may drop it meanwhile)
    return fn, done


def kernel(what, dtype, record):
    """The ctypes function ``what`` (im2col, col2im, max_pool, max_pool_grad) for ``dtype``
    and the geometry ``record``, compiled on first use; None for a dtype it has none for."""
    return _compiled(what, dtype, record.tobytes())[0] if dtype in _TYPES else None


@functools.lru_cache(maxsize=256)
def _for_geometry(what, dtype, *geometry_args):
    dtype = np.dtype(dtype)
    return _compiled(what, dtype, geometry(*geometry_args).tobytes()) if dtype in _TYPES else (None,)


def for_geometry(what, dtype, *geometry_args):
    """:func:`kernel` for the record ``geometry(*geometry_args)`` (tuples), memoized: a
    step asks on every call."""
    return _for_geometry(what, dtype, *geometry_args)[0]


def element_strides(a):
    """``a``'s strides in elements (what the loops' records hold)."""
    return tuple(s // a.itemsize for s in a.strides)


def call(fn, arrays, start, end):
    """``fn`` over planes ``[start, end)`` of ``arrays`` (their data pointers)."""
    fn(*(a.ctypes.data for a in arrays), start, end)
