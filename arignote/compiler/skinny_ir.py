"""IR of the skinny matrix products: ``A @ B`` where ``B`` has a few columns.

A classifier's last layer (``X @ W`` with ``W`` 784x10) and its weight gradient
(``X.T @ g``) are matrix products with 10 output columns, where BLAS's kernels,
made for wide tiles, run at a fraction of the machine's speed (OpenBLAS: about
45 GFLOP/s on one core of the EPYC measured, against twice that here). Two
forms cover them, both with the kernel calling convention
(``void f(ptr shape, ptr data, ptr strides, i64 start, i64 end)``, chunks of
``[start, end)`` run on any thread) and each output element summed by one
thread in a fixed order, so the bits never depend on the chunks:

* **rows** (``A``'s rows contiguous): ``P[i, j] = sum_k A[i, k] * Bt[j, k]``, a
  dot product along contiguous rows; ``r`` rows at a time share each load of a
  row of ``Bt`` (``B`` transposed, contiguous: :data:`TRANSPOSE` makes it), each
  of the ``r * n`` accumulators a vector of lanes along ``k``, summed across its
  lanes at the end. ``shape = [K]``, ``data = [A, Bt, P]``, ``strides = [lda]``;
  ``[start, end)`` rows.
* **columns** (``A``'s columns contiguous, ``A = X.T``): ``P[p, j] = sum_i
  X[i, p] * B[i, j]``, a vector of lanes along ``p`` per output column, each
  ``B[i, j]`` broadcast; the lanes go to ``P``'s column by a scatter.
  ``shape = [K]`` (the summed length), ``data = [X, B, P]``, ``strides = [ldx,
  ldb, sbj]``; ``[start, end)`` output rows.

``P`` is C-contiguous with ``n`` columns; strides are in elements. A partial
vector (the end of a row, of a chunk) is read and written under a mask.
"""
import numpy as np

from arignote.compiler.llvm_tiles import PLAIN, LoopHints, Nest

#: the symbols of the helpers (one module each, per dtype and column count)
ROWS, COLUMNS, TRANSPOSE = "arignote_skinny_rows", "arignote_skinny_columns", "arignote_skinny_transpose"

_SIGNATURE = "(ptr noalias readonly %shape, ptr noalias readonly %data, ptr noalias readonly %strides, " \
             "i64 %start, i64 %end)"


def _scalar(dtype):
    return {np.dtype("float32"): ("float", "f32"), np.dtype("float64"): ("double", "f64")}[np.dtype(dtype)]


class _Emitter:
    """Lines of one function, its vector type and the intrinsics it declares."""

    def __init__(self, dtype, lanes):
        self.t, suffix = _scalar(dtype)
        self.size = np.dtype(dtype).itemsize
        self.lanes, self.v = lanes, f"<{lanes} x {self.t}>"
        self.vs = f"v{lanes}{suffix}"
        self.lines, self.n = [], 0
        self.hints = LoopHints()
        self.nest = Nest(self.lines)
        self.declares = {
            f"declare {self.v} @llvm.fma.{self.vs}({self.v}, {self.v}, {self.v})",
            f"declare {self.t} @llvm.vector.reduce.fadd.{self.vs}({self.t}, {self.v})",
            f"declare {self.v} @llvm.masked.load.{self.vs}.p0(ptr, i32, <{lanes} x i1>, {self.v})",
            f"declare void @llvm.masked.scatter.{self.vs}.v{lanes}p0({self.v}, <{lanes} x ptr>, i32, "
            f"<{lanes} x i1>)"}

    def __call__(self, text):
        """Emit ``%tN = text``; returns ``%tN``."""
        self.n += 1
        self.lines.append(f"  %t{self.n} = {text}")
        return f"%t{self.n}"

    def put(self, *lines):
        self.lines.extend(lines)

    def word(self, array, k):
        """The i64 word ``k`` of the argument ``array`` (shape, strides)."""
        return self(f"load i64, ptr {self(f'getelementptr inbounds i64, ptr %{array}, i64 {k}')}, align 8")

    def pointer(self, k):
        return self(f"load ptr, ptr {self(f'getelementptr inbounds ptr, ptr %data, i64 {k}')}, align 8")

    def at(self, base, offset):
        return self(f"getelementptr inbounds {self.t}, ptr {base}, i64 {offset}")

    def splat(self, value, ty="i64"):
        one = self(f"insertelement <{self.lanes} x {ty}> poison, {ty} {value}, i64 0")
        return self(f"shufflevector <{self.lanes} x {ty}> {one}, <{self.lanes} x {ty}> poison, "
                    f"<{self.lanes} x i32> zeroinitializer")

    def lanes_below(self, first, bound):
        """The mask of the lanes ``first + l < bound``."""
        iota = "<" + ", ".join(f"i64 {k}" for k in range(self.lanes)) + ">"
        index = self(f"add <{self.lanes} x i64> {self.splat(first)}, {iota}")
        return self(f"icmp slt <{self.lanes} x i64> {index}, {self.splat(bound)}")

    def load(self, pointer, mask=None):
        if mask is None:
            return self(f"load {self.v}, ptr {pointer}, align {self.size}")
        return self(f"call {self.v} @llvm.masked.load.{self.vs}.p0(ptr {pointer}, i32 {self.size}, "
                    f"<{self.lanes} x i1> {mask}, {self.v} zeroinitializer)")

    def fma(self, a, b, c):
        return self(f"call {self.v} @llvm.fma.{self.vs}({self.v} {a}, {self.v} {b}, {self.v} {c})")

    def loop(self, name, lo, hi, step, body, hints=()):
        """``body(index)`` for each index from ``lo`` on by ``step`` while ``index + step <=
        hi`` (a :class:`~arignote.compiler.llvm_tiles.Nest` loop, asking LLVM for ``hints``,
        names of :data:`~arignote.compiler.llvm_tiles.LOOP_HINTS`); the first index past the
        loop."""
        bound = hi if step == 1 else self(f"sub nsw i64 {hi}, {step - 1}")
        self.nest.open(name, lo, bound, step=step)
        body(f"%i{name}")
        self.nest.close(self.hints.hint(*hints))
        return f"%i{name}"

    def when(self, label, condition, body):
        """``if (condition) body()``."""
        self.put(f"  br i1 {condition}, label %{label}.then, label %{label}.done", f"{label}.then:")
        self.nest.block = f"{label}.then"
        body()
        self.put(f"  br label %{label}.done", f"{label}.done:")
        self.nest.block = f"{label}.done"

    def module(self, name, allocas=()):
        return "\n".join(sorted(self.declares) + [f"define void @{name}{_SIGNATURE} {{", "entry:",
                                                   *allocas, *self.lines, "  ret void", "}", "",
                                                   *self.hints.lines])


def rows(dtype, n, lanes, r):
    """IR of :data:`ROWS` for ``n`` columns, vectors of ``lanes``, ``r`` rows at a time: a
    chunk's last rows, fewer than ``r``, run the same block with the missing rows read as
    its last row and not stored (a copy of the block for them doubled the IR LLVM compiles
    at the first call; each row's sums are the same either way)."""
    e = _Emitter(dtype, lanes)
    K, lda = e.word("shape", 0), e.word("strides", 0)
    A, Bt, P = e.pointer(0), e.pointer(1), e.pointer(2)
    last = e("sub nsw i64 %end, 1")
    allocas = [f"  %acc{b}.{j} = alloca {e.v}, align {lanes * e.size}" for b in range(r) for j in range(n)]

    def body(i):
        at = [i] + [e(f"add nsw i64 {i}, {b}") for b in range(1, r)]
        real = [None] + [e(f"icmp slt i64 {row}, %end") for row in at[1:]]
        read = [i] + [e(f"select i1 {ok}, i64 {row}, i64 {last}") for row, ok in zip(at[1:], real[1:])]
        rows_at = [e.at(A, e(f"mul nsw i64 {row}, {lda}")) for row in read]
        for b in range(r):
            for j in range(n):
                e.put(f"  store {e.v} zeroinitializer, ptr %acc{b}.{j}, align {lanes * e.size}")

        def step(k, mask=None):
            xs = [e.load(e.at(row, k), mask) for row in rows_at]
            for j in range(n):
                w = e.load(e.at(Bt, e(f"add nsw i64 {e(f'mul nsw i64 {j}, {K}')}, {k}")), mask)
                for b, x in enumerate(xs):
                    acc = e(f"load {e.v}, ptr %acc{b}.{j}, align {lanes * e.size}")
                    e.put(f"  store {e.v} {e.fma(x, w, acc)}, ptr %acc{b}.{j}, align {lanes * e.size}")
        k = e.loop("k", "0", K, lanes, step)
        rest = e(f"icmp slt i64 {k}, {K}")
        e.when("tail", rest, lambda: step(k, e.lanes_below(k, K)))

        def store(b):
            out = e(f"mul nsw i64 {at[b]}, {n}")
            for j in range(n):
                acc = e(f"load {e.v}, ptr %acc{b}.{j}, align {lanes * e.size}")
                total = e(f"call reassoc {e.t} @llvm.vector.reduce.fadd.{e.vs}({e.t} -0.0, {e.v} {acc})")
                e.put(f"  store {e.t} {total}, ptr {e.at(P, e(f'add nsw i64 {out}, {j}'))}, align {e.size}")
        store(0)
        for b in range(1, r):
            e.when(f"row{b}", real[b], lambda b=b: store(b))

    e.loop("i", "%start", e(f"add nsw i64 %end, {r - 1}"), r, body)
    return e.module(ROWS, allocas)


def columns(dtype, n, lanes):
    """IR of :data:`COLUMNS` for ``n`` columns, vectors of ``lanes`` output rows."""
    e = _Emitter(dtype, lanes)
    K, ldx, ldb, sbj = e.word("shape", 0), e.word("strides", 0), e.word("strides", 1), e.word("strides", 2)
    X, B, P = e.pointer(0), e.pointer(1), e.pointer(2)
    allocas = [f"  %acc{j} = alloca {e.v}, align {lanes * e.size}" for j in range(n)]
    iota = "<" + ", ".join(f"i64 {k * n}" for k in range(lanes)) + ">"

    def block(p, mask=None):
        for j in range(n):
            e.put(f"  store {e.v} zeroinitializer, ptr %acc{j}, align {lanes * e.size}")

        def summand(i):
            x = e.load(e.at(X, e(f"add nsw i64 {e(f'mul nsw i64 {i}, {ldx}')}, {p}")), mask)
            row = e.at(B, e(f"mul nsw i64 {i}, {ldb}"))
            for j in range(n):
                b = e(f"load {e.t}, ptr {e.at(row, e(f'mul nsw i64 {j}, {sbj}'))}, align {e.size}")
                acc = e(f"load {e.v}, ptr %acc{j}, align {lanes * e.size}")
                e.put(f"  store {e.v} {e.fma(x, e.splat(b, e.t), acc)}, ptr %acc{j}, align {lanes * e.size}")
        e.loop(f"i{'.m' if mask else ''}", "0", K, 1, summand)
        where = e(f"add <{lanes} x i64> {e.splat(e(f'mul nsw i64 {p}, {n}'))}, {iota}")
        every = mask or "<" + ", ".join("i1 true" for _ in range(lanes)) + ">"
        for j in range(n):
            acc = e(f"load {e.v}, ptr %acc{j}, align {lanes * e.size}")
            at = e(f"getelementptr inbounds {e.t}, ptr {P}, <{lanes} x i64> "
                   f"{e(f'add <{lanes} x i64> {where}, {e.splat(j)}')}")
            e.put(f"  call void @llvm.masked.scatter.{e.vs}.v{lanes}p0({e.v} {acc}, <{lanes} x ptr> {at}, "
                  f"i32 {e.size}, <{lanes} x i1> {every})")

    p = e.loop("p", "%start", "%end", lanes, block)
    e.when("tail", e(f"icmp slt i64 {p}, %end"), lambda: block(p, e.lanes_below(p, "%end")))
    return e.module(COLUMNS, allocas)


def transpose(dtype):
    """IR of :data:`TRANSPOSE`: ``Bt[j, k] = B[k, j]`` for the rows ``k`` of ``[start,
    end)``; ``shape = [K, n]``, ``data = [B, Bt]``, ``strides = [ldb, sbj]``."""
    e = _Emitter(dtype, 1)
    e.declares = set()
    K, n, ldb, sbj = e.word("shape", 0), e.word("shape", 1), e.word("strides", 0), e.word("strides", 1)
    B, Bt = e.pointer(0), e.pointer(1)

    def row(k):
        src = e.at(B, e(f"mul nsw i64 {k}, {ldb}"))

        def column(j):
            v = e(f"load {e.t}, ptr {e.at(src, e(f'mul nsw i64 {j}, {sbj}'))}, align {e.size}")
            to = e(f"add nsw i64 {e(f'mul nsw i64 {j}, {K}')}, {k}")
            e.put(f"  store {e.t} {v}, ptr {e.at(Bt, to)}, align {e.size}")
        e.loop("j", "0", n, 1, column, PLAIN)
    # plain loops: vectorized and unrolled, the transpose took 29 ms to compile instead of 8,
    # and ran in 6.7 us instead of 3.2 on W3's 784x10
    e.loop("k", "%start", "%end", 1, row, PLAIN)
    return e.module(TRANSPOSE)
