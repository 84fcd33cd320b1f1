"""The LLVM renderer (cpu backend): a :class:`~arignote.compiler.kernel.Kernel`
becomes the text of one LLVM IR module.

The module defines ``void @<name>(ptr %shape, ptr %data, ptr %strides, i64
%start, i64 %end)``: ``shape`` holds the index-space extents, ``data[k]`` the
base pointer of param ``k``, ``strides[k]`` a pointer to its strides in
*elements*; ``[start, end)`` bounds the outermost parallel axis (the thread
pool chunks it; a kernel without parallel axes ignores it). It unpacks them
and calls an internal body whose buffer pointers are ``noalias`` and aligned,
so LLVM knows outputs never alias inputs and can vectorize. An output written
in place over an input (``Kernel.inplace``) is stored through the input's
pointer: the one buffer stays one ``noalias`` pointer (no longer ``readonly``).

The body is a loop nest: parallel axes (outermost first), then, per
parallel point, one loop nest over the reduced axes per pass, in order.
Level-``2p`` instructions sit at the innermost parallel level before pass
``p``'s loops, level ``2p + 1`` in its innermost reduce loop (its index
variables and labels carry a ``.p<p>`` suffix from pass 1 on); accumulators
live in allocas (promoted to registers by LLVM), initialized before their
pass. An output read back by a later pass (a Load of an 'out' param) is one
``noalias`` pointer read and written by this function only.

The loop order, the chunked loop and column tiles are the kernel's schedule
(``Kernel.schedule``, :mod:`arignote.compiler.schedule`), which the renderer
reads; it makes no such choice itself. The parallel loops run in the
schedule's ``loop_order``, the outermost one bounded by ``[start, end)``.

*Column tiles* and *row tiles* (``schedule.tile_axis``, ``schedule.row_tile``):
:mod:`arignote.compiler.llvm_tiles`, whose :class:`~arignote.compiler.llvm_tiles.Tiles`
the renderer derives from.

*Groups* (``schedule.unroll``, a random draw's rows): the innermost parallel loop
walks groups of ``unroll`` points that start at multiples of it (the body copied
once per point, offsets ``or disjoint``), between a plain loop up to the first
multiple and one after the last group; the groups' loop comes in two copies, one
for unit strides along the axis (a run-time test), which LLVM vectorizes across
groups, one for any strides. LLVM then computes a value that depends on the point
only through ``index div unroll`` (a Philox block) once per group.

*Compile time* (the cold compile a user waits for): the body and the row tiles'
function are ``noinline`` (inlined into the wrapper, LLVM optimized their code a second
time), and every loop carries ``!llvm.loop`` hints (:class:`~arignote.compiler.llvm_tiles.LoopHints`):
no runtime unrolling (a loop that matters is vectorized, and LLVM does not unroll a
vectorized loop further), no unrolling at all in the row tiles' function (its loops
over a tile's rows vectorize into a few iterations), none of either for the plain
loops (:meth:`_Renderer.plain_loop`). Together a fifth less LLVM time for the
W4 step's kernels (``docs/benchmarks.md``, "Compile time").

*Flat loops* (:meth:`_Renderer.flattens`, elementwise kernels whose loads and
stores cover the whole index space): the body also runs as one loop over the
flat index ``[start * rest, end * rest)``, taken when every such buffer is
C-contiguous (a run-time test), so a short last axis costs no loop per row.

Values are kept in *register types*: bool is ``i1`` (``i8`` in memory),
float16 is ``float`` (``half`` in memory, every float16 result rounded
through ``half`` as NumPy does; a float16 reduction accumulates in float and
is rounded once, where its result is read, so the value a kernel uses is the
value it stores).

Scalar ops are rendered by :mod:`arignote.compiler.llvm_scalar` with NumPy's
semantics. Transcendentals call the vectorizable functions of
:mod:`arignote.compiler.llvm_math`, whose IR is appended once per module (sin,
cos, tan, pow and arctan2 stay on intrinsics / libm; llvm_scalar says why).
*A value has one value* (docs/design.md): ordinary float ops get no fast-math
flags, so a value recomputed in another kernel, another pass, a column tile's
last loop or a loop's scalar remainder has the same bits; ``reassoc`` is
reserved to reduction accumulators (a reduction is computed once, never
recomputed); never ``contract``, ``nnan`` or ``ninf``, and no flags at all on
math calls (their fused multiply-adds are explicit ``llvm.fma``, the same on
every path).
The renderer renders the kernel decomposed (:mod:`arignote.compiler.decompose`):
its scalar ops are primitives, each a row of :mod:`arignote.compiler.llvm_scalar`'s
table. A kernel that can raise (``Kernel.can_raise``: its Checks) defines
``@<name>.error``, an ``i32`` flag: each Check ors its value into an ``i1``
of its own over the loops (an ``or`` reduction, which vectorizes) and at the
end a set one stores ``1 + `` its error's index in ``Kernel.errors`` (of the
kernel as given: decomposing may prove an error impossible) into the flag,
which the launcher reads after the run.
"""
import re

import numpy as np

from arignote.compiler import kernel as K
from arignote.compiler import llvm_math
from arignote.compiler.decompose import decompose
from arignote.compiler.schedule import scheduled, tile_axis
from arignote.compiler.llvm_scalar import ACCUM, BITS, FLOAT, FSUFFIX, const, element_size, \
    first_wins, math_function, minmax, scalar_op
from arignote.compiler.llvm_scalar import types as _types
from arignote.compiler.llvm_tiles import PLAIN, LoopHints, Tiles, renamed, symbol, unit_test
from arignote.compiler.llvm_tiles import Nest as _Nest


# ------------------------------------------------------------ the renderer

class _Renderer(Tiles):
    def __init__(self, kernel, errors=None):
        self.k = kernel
        #: the flag's codes: 1 + the index in these (the launcher reads the undecomposed kernel's)
        self.errors = kernel.errors if errors is None else errors
        self.decls = {}
        self.n = 0
        self.out = None
        self.allocas = []
        self.vals = {}
        self.checks = set()  # the error codes a Check of the kernel sets
        self.vector_math = set()
        kernel.check_inplace()
        self.over = dict(kernel.inplace)
        #: the index variable of each axis where it is not ``%i<axis>`` (column tiles)
        self.index = {}
        #: the module's loop metadata (shared with the rows renderer)
        self.hints = LoopHints()
        self.sched = kernel.schedule
        self.tile = self.sched.tile_axis
        #: points per tile (column tiles; row tiles: the rows renderer's)
        self.tile_size = self.sched.tile
        #: row tiles: {(param, dim): the [tile x i64] array of each row's offset along dim}
        self.row_offsets = None
        #: row tiles: rendering a pass (the rows' offsets come from tables)
        self.in_pass = False
        #: the lines of the flat loop (:meth:`flattens`), while and once rendered
        self.flat = None
        order = self.sched.loop_order
        if sorted(order) != [a for a in range(kernel.ndim) if a not in kernel.reduce_axes] or \
                self.sched.chunk_axis not in (*order[:1], None) or \
                (self.tile is not None and (self.tile != order[-1] or self.tile != tile_axis(kernel))):
            raise NotImplementedError(f"{kernel.name}: the LLVM backend cannot render the schedule "
                                      f"{self.sched}")

    # ---- emission helpers
    def emit(self, text):
        self.n += 1
        t = f"%t{self.n}"
        self.out.append(f"  {t} = {text}")
        return t

    def intrinsic(self, base, ty, *args):
        suffix = FSUFFIX.get(ty) or ty
        name = f"llvm.{base}.{suffix}"
        self.decls[name] = f"declare {ty} @{name}({', '.join([ty] * len(args))})"
        return self.emit(f"call {ty} @{name}({', '.join(f'{ty} {a}' for a in args)})")

    def call_math(self, op, ty, *args):
        """A transcendental (llvm_scalar.math_function decides which function). No fast-math
        flags: llvm_math's compensated arithmetic needs strict IEEE."""
        name, decl, vector = math_function(op, ty)
        if decl:
            self.decls[name] = decl
        if vector:
            self.vector_math.add(vector)
        return self.emit(f"call {ty} @{name}({', '.join(f'{ty} {a}' for a in args)})")

    def fbin(self, opc, ty, a, b, flags=FLOAT):
        return self.emit(f"{opc}{' ' + flags if flags else ''} {ty} {a}, {b}")

    def select(self, c, ty, a, b):
        return self.emit(f"select i1 {c}, {ty} {a}, {ty} {b}")

    # ---- conversions between register values
    def convert(self, v, src, dst):
        """NumPy's ``astype`` from ``src`` to ``dst`` on register values."""
        if src == dst:
            return v
        _, sr, sk = _types(src)
        dm, dr, dk = _types(dst)
        if dk == "b":
            if sk == "f":
                return self.emit(f"fcmp une {sr} {v}, 0.0")
            return self.emit(f"icmp ne {sr} {v}, 0")
        if dk == "f":
            if sk == "f":
                if dm == "half":  # round once, from the source precision
                    return self.to_half(v, sr)
                if sr == dr:
                    return v
                return self.emit(f"{'fpext' if dr == 'double' else 'fptrunc'} {sr} {v} to {dr}")
            opc = "sitofp" if sk == "i" else "uitofp"
            if dm == "half":  # exact in float up to 2**24, beyond which half is inf anyway
                wide = "double" if BITS[sr] == 64 else "float"
                return self.to_half(self.emit(f"{opc} {sr} {v} to {wide}"), wide)
            return self.emit(f"{opc} {sr} {v} to {dr}")
        if sk == "f":  # (decompose makes every float -> int an ftoi of a value in range)
            raise NotImplementedError(f"the LLVM backend renders no cast from {src} to {dst}: "
                                      "decompose the kernel first")
        sb, db = BITS[sr], BITS[dr]
        if sb == db:
            return v
        if sb > db:
            return self.emit(f"trunc {sr} {v} to {dr}")
        return self.emit(f"{'sext' if sk == 'i' else 'zext'} {sr} {v} to {dr}")

    def to_half(self, v, ty):
        """``v`` (float or double) rounded to half, back in a float register. Double
        goes through float rounded to odd, which makes the second rounding exact
        (LLVM would call __truncdfhf2, which the process may not have)."""
        if ty == "double":
            f = self.emit(f"fptrunc double {v} to float")
            back = self.emit(f"fpext float {f} to double")
            bits = self.emit(f"bitcast float {f} to i32")
            over = self.emit(f"fcmp ogt double {self.intrinsic('fabs', 'double', back)}, "
                             f"{self.intrinsic('fabs', 'double', v)}")
            bits = self.select(over, "i32", self.emit(f"sub i32 {bits}, 1"), bits)
            inexact = self.emit(f"fcmp one double {back}, {v}")
            bits = self.select(inexact, "i32", self.emit(f"or i32 {bits}, 1"), bits)
            v = self.emit(f"bitcast i32 {bits} to float")
        h = self.emit(f"fptrunc float {v} to half")
        return self.emit(f"fpext half {h} to float")

    def round_half(self, v, dtype):
        """A float16 result: computed in float, rounded to half like NumPy."""
        return self.to_half(v, "float") if dtype == "float16" else v

    # ---- instructions
    def render_instr(self, k, ins):
        if isinstance(ins, K.Const):
            return const(ins.value, ins.dtype)
        if isinstance(ins, K.Load):
            return self.load(ins)
        if isinstance(ins, K.Index):  # (a later pass's copy is renamed with its loop's: body_function)
            return self.index.get(ins.axis, f"%i{ins.axis}")
        if isinstance(ins, K.Extent):
            return f"%n{ins.axis}"
        if isinstance(ins, K.Cast):
            return self.convert(self.vals[ins.arg], self.k.body[ins.arg].dtype, ins.dtype)
        if isinstance(ins, K.ScalarOp):
            return scalar_op(self, ins)
        if isinstance(ins, K.Store):
            self.store(ins)
            return None
        if isinstance(ins, K.Reduce):
            return self.reduce(k, ins)
        if isinstance(ins, K.Check):
            self.check(ins)
            return None
        raise NotImplementedError(f"the LLVM backend cannot render {type(ins).__name__}")

    def check(self, ins):
        """Or the Check's value into its error's ``i1`` (see the module docstring)."""
        code = self.errors.index(ins.error) + 1
        seen = f"%chk{code}"
        if code not in self.checks:
            self.checks.add(code)
            self.allocas += [f"  {seen} = alloca i1", f"  store i1 false, ptr {seen}"]
        c = self.convert(self.vals[ins.arg], self.k.body[ins.arg].dtype, "bool")
        now = self.emit(f"or i1 {self.emit(f'load i1, ptr {seen}')}, {c}")
        self.out.append(f"  store i1 {now}, ptr {seen}")

    def raise_checks(self):
        """The end of the body: the flag set to the code of each error seen (last wins)."""
        out = []
        for code in sorted(self.checks):
            out += [f"  %chk{code}.seen = load i1, ptr %chk{code}",
                    f"  br i1 %chk{code}.seen, label %raise{code}, label %raised{code}", f"raise{code}:",
                    f"  store atomic i32 {code}, ptr @{error_symbol(self.k)} monotonic, align 4",
                    f"  br label %raised{code}", f"raised{code}:"]
        return out + ["  ret void", "}", ""]

    def address(self, param, axes):
        param = self.over.get(param, param)  # an in-place output is addressed through its input
        mem = _types(self.k.params[param].dtype)[0]
        if self.flat is not None and any(a is not None for a in axes):  # (the whole space)
            return self.emit(f"getelementptr inbounds {mem}, ptr %p{param}, i64 %iF")
        off = None
        for d, a in enumerate(axes):
            if a is None:
                continue
            if a == self.tile and self.in_pass:
                term = self.get(self.row_offsets.setdefault((param, d), f"%off{param}.{d}"), "i64")
            else:
                term = self.emit(f"mul nsw i64 {self.index.get(a, f'%i{a}')}, %s{param}.{d}")
            off = term if off is None else self.emit(f"add nsw i64 {off}, {term}")
        if off is None:
            return f"%p{param}"
        return self.emit(f"getelementptr inbounds {mem}, ptr %p{param}, i64 {off}")

    def load(self, ins):
        mem, reg, kind = _types(ins.dtype)
        ptr = self.address(ins.param, ins.axes)
        v = self.emit(f"load {mem}, ptr {ptr}, align {element_size(ins.dtype)}")
        if kind == "b":
            return self.emit(f"icmp ne i8 {v}, 0")
        if mem == "half":
            return self.emit(f"fpext half {v} to float")
        return v

    def store(self, ins):
        mem, reg, kind = _types(ins.dtype)
        v = self.convert(self.vals[ins.arg], self.k.body[ins.arg].dtype, ins.dtype)
        if kind == "b":
            v = self.emit(f"zext i1 {v} to i8")
        elif mem == "half":
            v = self.emit(f"fptrunc float {v} to half")
        ptr = self.address(ins.param, ins.axes)
        self.out.append(f"  store {mem} {v}, ptr {ptr}, align {element_size(ins.dtype)}")

    def reduce(self, k, ins):
        _, reg, kind = _types(ins.dtype)
        if self.tile is not None:  # one accumulator per point of the tile (column or row tiles)
            x = self.convert(self.vals[ins.arg], self.k.body[ins.arg].dtype, ins.dtype)
            self.put(f"%acc{k}", reg, self.combine(ins, self.get(f"%acc{k}", reg), x))
            return None
        if kind == "f" and ins.combiner in ("max", "min") and not ins.sign_blind:
            return self.round_half(self.float_minmax(k, ins), ins.dtype)
        acc = f"%acc{k}"
        self.allocas.append(f"  {acc} = alloca {reg}")
        self.sections[ins.level - 1].append(f"  store {reg} {const(ins.init, ins.dtype)}, ptr {acc}")
        self.out = self.sections[ins.level]
        cur = self.emit(f"load {reg}, ptr {acc}")
        x = self.convert(self.vals[ins.arg], self.k.body[ins.arg].dtype, ins.dtype)
        new = self.combine(ins, cur, x)
        self.out.append(f"  store {reg} {new}, ptr {acc}")
        self.out = self.sections[ins.level + 1]
        return self.round_half(self.emit(f"load {reg}, ptr {acc}"), ins.dtype)

    def combine(self, ins, a, b):
        """The accumulator ``a`` of Reduce ``ins`` combined with the next element ``b``."""
        combiner = ins.combiner
        _, reg, kind = _types(ins.dtype)
        if kind == "f":
            if combiner in ("sum", "prod"):
                return self.fbin("fadd" if combiner == "sum" else "fmul", reg, a, b, ACCUM)
            if combiner in ("max", "min") and ins.sign_blind:  # NaN propagates; either zero will do
                return self.intrinsic("maximum" if combiner == "max" else "minimum", reg, a, b)
            if combiner in ("max", "min"):  # in order: NumPy's choice between +0.0 and -0.0
                return minmax(self, reg, combiner, a, b, first_wins(ins.dtype))
        elif kind == "b":
            if combiner in ("all", "min", "prod"):
                return self.emit(f"and i1 {a}, {b}")
            if combiner in ("any", "max", "sum"):
                return self.emit(f"or i1 {a}, {b}")
        else:
            if combiner in ("sum", "prod"):
                return self.emit(f"{'add' if combiner == 'sum' else 'mul'} {reg} {a}, {b}")
            if combiner in ("max", "min"):
                return self.intrinsic(("s" if kind == "i" else "u") + combiner, reg, a, b)
        raise NotImplementedError(f"the LLVM backend cannot render the reduction {combiner} "
                                  f"over {reg} ({kind})")

    def float_minmax(self, k, ins):
        """A float max/min over the reduced loops, in a form LLVM vectorizes, with NumPy's result:
        ``combine``'s in-order select is a loop-carried choice LLVM will not vectorize, so the
        value is reduced with ``llvm.maximum``/``minimum`` (NaN propagates; -0.0 < +0.0) and,
        beside it, an integer max (min for float16, :func:`first_wins`) of ``2 * position +
        sign bit`` over the elements equal to zero: a zero result takes the sign of the last
        (first) zero, as the in-order select would. Positions count from 1 (C order over the
        reduced axes): an ``initial`` zero is position 0, before every element; an i64 key holds
        those of any reduction (an i32 one, a third cheaper, would wrap past 2**30 elements).
        Only where some use tells the zero's sign: a ``sign_blind`` Reduce is ``combine``'s
        ``llvm.maximum`` alone, twice as fast."""
        _, reg, _ = _types(ins.dtype)
        first = first_wins(ins.dtype)
        acc, key, none = f"%acc{k}", f"%key{k}", (1 << 63) - 1 if first else -1
        init_key = int(np.signbit(ins.init)) if ins.init == 0 else none
        self.allocas += [f"  {acc} = alloca {reg}", f"  {key} = alloca i64"]
        self.sections[ins.level - 1] += [f"  store {reg} {const(ins.init, ins.dtype)}, ptr {acc}",
                                         f"  store i64 {init_key}, ptr {key}"]
        self.out = self.sections[ins.level]
        x = self.convert(self.vals[ins.arg], self.k.body[ins.arg].dtype, ins.dtype)
        new = self.intrinsic("maximum" if ins.combiner == "max" else "minimum", reg,
                             self.emit(f"load {reg}, ptr {acc}"), x)
        self.out.append(f"  store {reg} {new}, ptr {acc}")
        pos = "0"  # C order over the reduced axes, from 1
        for a in sorted(self.k.reduce_axes):
            pos = self.emit(f"add nsw i64 {self.emit(f'mul nsw i64 {pos}, %n{a}')}, %i{a}")
        pos = self.emit(f"add nsw i64 {pos}, 1")
        bits = BITS["i64" if reg == "double" else "i32"]
        sign = self.emit(f"lshr i{bits} {self.emit(f'bitcast {reg} {x} to i{bits}')}, {bits - 1}")
        if bits != 64:
            sign = self.emit(f"zext i{bits} {sign} to i64")
        mine = self.emit(f"or i64 {self.emit(f'shl nsw i64 {pos}, 1')}, {sign}")
        mine = self.select(self.emit(f"fcmp oeq {reg} {x}, 0.0"), "i64", mine, str(none))
        mine = self.intrinsic("smin" if first else "smax", "i64", self.emit(f"load i64, ptr {key}"), mine)
        self.out.append(f"  store i64 {mine}, ptr {key}")
        self.out = self.sections[ins.level + 1]
        m = self.emit(f"load {reg}, ptr {acc}")
        neg = self.emit(f"trunc i64 {self.emit(f'load i64, ptr {key}')} to i1")
        zero = self.select(neg, reg, const(-0.0, "float64"), "0.0")
        return self.select(self.emit(f"fcmp oeq {reg} {m}, 0.0"), reg, zero, m)

    # ---- the module
    def module(self):
        k = self.k
        if self.tile is not None:
            return self.tiled_module()
        self.sections = {level: [] for level in range(2 * max(k.passes, 1) + 1)}
        for i, ins in enumerate(k.body):
            self.out = self.sections[ins.level]
            if not k.reduce_axes and ins.level != 0:
                raise NotImplementedError(f"{k.name}: level {ins.level} without reduced axes")
            self.vals[i] = self.render_instr(i, ins)
        if self.flattens():  # the body again, addressed by one flat index
            self.flat = self.out = []
            for i, ins in enumerate(k.body):
                self.vals[i] = self.render_instr(i, ins)
        rows = []
        if self.sched.row_tile:  # the same body in row tiles, its own function (own names)
            tiles = _Renderer(k, self.errors)
            tiles.hints = self.hints
            rows = tiles.rows_function()
            self.decls.update(tiles.decls)
            self.vector_math |= tiles.vector_math
        return self.assemble(rows)

    def assemble(self, rows=()):
        k = self.k
        lines = ["; arignote kernel " + k.name, ""]
        if self.errors:
            lines.append(f"@{error_symbol(k)} = global i32 0, align 4")
        lines += sorted(set(self.decls.values()))
        if self.vector_math:
            lines.append(llvm_math.math_ir(sorted(self.vector_math)))
        lines += self.wrapper()
        lines += self.body_function() if self.tile is None else self.tiled_function()
        lines += rows
        return "\n".join(lines + self.hints.lines) + "\n"

    def body_args(self):
        k = self.k
        args = []
        for j, p in enumerate(k.params):
            ro = " readonly" if p.role == "in" and j not in self.over.values() else ""
            args.append(f"ptr noalias{ro} align {element_size(p.dtype)} %p{j}")
        args += [f"i64 %n{a}" for a in range(k.ndim)]
        args += [f"i64 %s{j}.{d}" for j, p in enumerate(k.params) for d in range(p.ndim)]
        return args + ["i64 %start", "i64 %end"]

    def wrapper(self):
        k = self.k
        out = [f"define void @{symbol(k.name)}(ptr noalias readonly %shape, ptr noalias readonly %data, "
               "ptr noalias readonly %strides, i64 %start, i64 %end) {", "entry:"]
        args = []
        for j in range(len(k.params)):
            out += [f"  %dp{j} = getelementptr inbounds ptr, ptr %data, i64 {j}",
                    f"  %p{j} = load ptr, ptr %dp{j}, align 8",
                    f"  %sp{j}.addr = getelementptr inbounds ptr, ptr %strides, i64 {j}",
                    f"  %sp{j} = load ptr, ptr %sp{j}.addr, align 8"]
            args.append(f"ptr %p{j}")
        for a in range(k.ndim):
            out += [f"  %na{a} = getelementptr inbounds i64, ptr %shape, i64 {a}",
                    f"  %n{a} = load i64, ptr %na{a}, align 8"]
            args.append(f"i64 %n{a}")
        for j, p in enumerate(k.params):
            for d in range(p.ndim):
                out += [f"  %sa{j}.{d} = getelementptr inbounds i64, ptr %sp{j}, i64 {d}",
                        f"  %s{j}.{d} = load i64, ptr %sa{j}.{d}, align 8"]
                args.append(f"i64 %s{j}.{d}")
        start = "%start"
        if self.sched.row_tile:  # whole row tiles of short rows, then the rest row by row
            size = "1"
            for n, a in enumerate(sorted(k.reduce_axes)):
                out.append(f"  %rows.size{n} = mul nsw i64 {size}, %n{a}")
                size = f"%rows.size{n}"
            out += [f"  %rows.short = icmp sle i64 {size}, {self.sched.short_rows}",
                    "  %rows.len = sub nsw i64 %end, %start",
                    f"  %rows.whole = and i64 %rows.len, {-self.sched.row_tile}",
                    "  %rows.at = add nsw i64 %start, %rows.whole",
                    "  %rows.mid = select i1 %rows.short, i64 %rows.at, i64 %start",
                    f"  call void @{symbol(k.name + '.rows')}({', '.join(args)}, i64 %start, i64 %rows.mid)"]
            start = "%rows.mid"
        args += [f"i64 {start}", "i64 %end"]
        out += [f"  call void @{symbol(k.name + '.body')}({', '.join(args)})", "  ret void", "}", ""]
        return out

    def flattens(self):
        """Whether the kernel also gets a flat loop: elementwise over two or more axes in C
        order (the first chunked), every load and store over the whole index space or over
        none of it (a scalar). When every buffer of the whole space is C-contiguous (a
        run-time test) one loop over the flat index replaces the nest, so a short last axis
        (784x10) costs no loop per row."""
        k, s = self.k, self.sched
        return not k.reduce_axes and k.ndim > 1 and s.unroll == 1 and s.loop_order == tuple(range(k.ndim)) \
            and s.chunk_axis == 0 and not k.extents and \
            all(ins.axes == s.loop_order or all(a is None for a in ins.axes)
                for ins in k.body if isinstance(ins, (K.Load, K.Store))) and \
            not any(isinstance(ins, (K.Index, K.Extent)) for ins in k.body)

    def flat_loop(self, nest):
        """The flat loop over ``[start, end)``'s elements when every buffer is C-contiguous
        (else a branch to the nest, whose end ``F.nest`` then continues)."""
        k, out = self.k, nest.out
        size, ok = "1", "true"
        for a in range(k.ndim - 1, 0, -1):
            out.append(f"  %F.size{a} = mul nsw i64 {size}, %n{a}")
            size = f"%F.size{a}"
        params = sorted({self.over.get(ins.param, ins.param) for ins in k.body
                         if isinstance(ins, (K.Load, K.Store)) and ins.axes == self.sched.loop_order})
        for j in params:
            step = "1"
            for d in range(k.ndim - 1, -1, -1):
                out += [f"  %F.c{j}.{d} = icmp eq i64 %s{j}.{d}, {step}",
                        f"  %F.ok{j}.{d} = and i1 {ok}, %F.c{j}.{d}"]
                ok, step = f"%F.ok{j}.{d}", f"%F.size{d}" if d else step
        out += [f"  br i1 {ok}, label %F.go, label %F.nest", "F.go:",
                f"  %F.lo = mul nsw i64 %start, {size}", f"  %F.hi = mul nsw i64 %end, {size}"]
        nest.block = "F.go"
        nest.open("F", "%F.lo", "%F.hi")
        out += self.flat
        nest.close()
        out += ["  br label %F.done", "F.nest:"]
        nest.block = "F.nest"

    def body_function(self):
        k = self.k
        parallel = self.sched.loop_order
        reduced = sorted(k.reduce_axes)
        nest = _Nest([self.define(".body"), "entry:", *self.allocas], self.loop_meta)
        out = nest.out
        if self.flat is not None:
            self.flat_loop(nest)
        for a in parallel[:-1] if self.sched.unroll > 1 else parallel:
            chunked = a == self.sched.chunk_axis
            nest.open(a, "%start" if chunked else "0", "%end" if chunked else f"%n{a}")
        if self.sched.unroll > 1:
            self.grouped(nest, parallel[-1])
        else:
            out += self.sections[0]
        for p in range(k.passes if reduced else 0):
            section = self.sections[2 * p + 1]
            if not section:
                continue
            tag = f".p{p}" if p else ""
            if tag:  # this pass's own index variables (SSA names are unique per function)
                index = re.compile(r"%i(" + "|".join(map(str, reduced)) + r")(?![\w.])")
                section = [index.sub(lambda m: m.group(0) + tag, line) for line in section]
            for a in reduced:
                nest.open(a, "0", f"%n{a}", tag)
            out += section
            for _ in reduced:
                nest.close()
            out += self.sections[2 * p + 2]
        nest.close_all()
        if self.flat is not None:
            out += ["  br label %F.done", "F.done:"]
        return out + self.raise_checks()

    def grouped(self, nest, a):
        """The innermost parallel loop, over axis ``a``, in groups of ``u = schedule.unroll``
        points starting at multiples of ``u`` (LLVM then knows ``i div u`` is the same
        for the group and computes what depends on it once): a plain loop up to the first
        multiple, the groups, a plain loop over the rest. The groups' loop comes twice:
        for unit strides along ``a`` (checked at run time; LLVM vectorizes it across
        groups) and for any strides. Each copy of the body has its own value names."""
        u, out = self.sched.unroll, nest.out
        chunked = a == self.sched.chunk_axis
        lo, hi = ("%start", "%end") if chunked else ("0", f"%n{a}")
        # first: the first multiple of u from lo on (past hi when the groups are empty: LLVM
        # must see it aligned); the plain loop before runs up to min(first, hi)
        out += [f"  %u{a}.up = add nsw i64 {lo}, {u - 1}", f"  %u{a}.first = and i64 %u{a}.up, {-u}",
                f"  %u{a}.in = icmp slt i64 %u{a}.first, {hi}",
                f"  %u{a}.pre = select i1 %u{a}.in, i64 %u{a}.first, i64 {hi}",
                f"  %u{a}.len = sub nsw i64 {hi}, %u{a}.pre", f"  %u{a}.whole = and i64 %u{a}.len, {-u}",
                f"  %u{a}.last = add nsw i64 %u{a}.first, %u{a}.whole"]
        strides = self.strides_along(a)
        unit = unit_test(strides, f"%u{a}", out)

        def copy(tag, unit_strides=False):
            out.extend(renamed(self.sections[0], tag, {f"%i{a}": f"%i{a}{tag}"},
                               strides if unit_strides else ()))

        def loop(first, last, tag, step=1, unit_strides=False):
            nest.open(a, first, last, tag, step)
            if step == 1:
                copy(tag)
            else:
                for g in range(step):
                    out.append(f"  %i{a}{tag}{g} = or disjoint i64 %i{a}{tag}, {g}")
                    copy(f"{tag}{g}", unit_strides)
            nest.close(None if unit_strides else self.plain_loop())

        loop(lo, f"%u{a}.pre", ".pre")
        out += [f"  br i1 {unit}, label %U{a}.unit, label %U{a}.any", f"U{a}.unit:"]
        nest.block = f"U{a}.unit"
        loop(f"%u{a}.first", f"%u{a}.last", ".gu", u, unit_strides=True)
        out += [f"  br label %U{a}.join", f"U{a}.any:"]
        nest.block = f"U{a}.any"
        loop(f"%u{a}.first", f"%u{a}.last", ".g", u)
        out += [f"  br label %U{a}.join", f"U{a}.join:"]
        nest.block = f"U{a}.join"
        loop(f"%u{a}.last", hi, ".post")

    def strides_along(self, a, level=None):
        """The stride variables along axis ``a`` of the loads and stores (at ``level``, or
        at any)."""
        return sorted({f"%s{self.over.get(ins.param, ins.param)}.{d}" for ins in self.k.body
                       if isinstance(ins, (K.Load, K.Store)) and level in (None, ins.level)
                       for d, x in enumerate(ins.axes) if x == a})

    def plain_loop(self):
        """Loop metadata (``, !llvm.loop !N``) asking LLVM neither to vectorize nor to unroll
        the loop: the few points around a draw's groups, and the groups of any strides
        (which do not vectorize), cost compile time only."""
        return self.hints.hint(*PLAIN)

    def loop_meta(self):
        """The metadata of the other loops: no runtime unrolling (copies of a loop for an
        unknown trip count cost compile time; the loops that matter are vectorized, and a
        vectorized loop is not runtime-unrolled either)."""
        return self.hints.hint("no_runtime_unroll")

    def define(self, suffix):
        """The first line of an internal function of the kernel's: ``noinline``, as each is
        called once per chunk, and inlined into the wrapper LLVM optimizes its code again."""
        args = ", ".join(self.body_args())
        return f"define internal void @{symbol(self.k.name + suffix)}({args}) noinline {{"


def render(kernel):
    """The LLVM IR module text of ``kernel`` (see the module docstring for the ABI):
    decomposed, walked as its schedule says (scheduled for the cpu target if it has
    none)."""
    flat = decompose(scheduled(kernel))
    if not set(flat.errors) <= set(kernel.errors):
        raise AssertionError(f"{kernel.name}: decomposing changed the errors {kernel.errors} "
                             f"to {flat.errors}")
    return _Renderer(flat, kernel.errors).module()


def error_symbol(kernel):
    """The name of the kernel's error flag (defined only by kernels that can raise)."""
    return symbol(kernel.name) + ".error"
