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

*Column tiles*: a one-pass kernel whose last axis (the contiguous one in C order)
is parallel while a reduced axis precedes it (``sum(x, axis=0)``, bias gradients)
would walk the strided reduced axis one scalar at a time. It renders instead
(:func:`tile_axis`) with the last axis cut into tiles of :data:`TILE` points
inside the other parallel loops (inside ``[start, end)`` when the last axis is
the outermost parallel one, so chunking is unchanged). Per tile: one loop over
the tile's points initializes a ``[TILE x ty]`` accumulator array per Reduce and
stores the level-0 values the pass uses into per-tile arrays; the reduced axes'
loops hold a loop over the tile's points doing level 1 (contiguous, independent
accumulators: it vectorizes, in the same order per point as the untiled nest);
a last loop over the tile's points recomputes level 0 and runs level 2.

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
Kernels whose values can raise in NumPy (integer power to a negative
exponent) define ``@<name>.error``, an ``i32`` flag the launcher checks.
"""
import re

import numpy as np

from arignote.compiler import kernel as K
from arignote.compiler import llvm_math
from arignote.compiler.llvm_scalar import ACCUM, BITS, FLOAT, FSUFFIX, const, element_size, \
    first_wins, float_to_int, math_function, minmax, scalar_op
from arignote.compiler.llvm_scalar import types as _types


# ------------------------------------------------------------ the renderer

class _Renderer:
    def __init__(self, kernel):
        self.k = kernel
        self.decls, self.helpers = {}, {}
        self.n = 0
        self.out = None
        self.allocas = []
        self.vals = {}
        self.error = False
        self.vector_math = set()
        kernel.check_inplace()
        self.over = dict(kernel.inplace)
        #: the index variable of each axis where it is not ``%i<axis>`` (column tiles)
        self.index = {}
        self.tile = tile_axis(kernel)

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

    def error_flag(self):
        """The kernel's error flag (an i32 global), defined because something can raise."""
        self.error = True
        return error_symbol(self.k)

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
        if sk == "f":  # float -> int: NumPy's x86-64 results out of range too
            return float_to_int(self, v, src, dst)
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
        if isinstance(ins, K.Cast):
            return self.convert(self.vals[ins.arg], self.k.body[ins.arg].dtype, ins.dtype)
        if isinstance(ins, K.ScalarOp):
            return scalar_op(self, ins)
        if isinstance(ins, K.Store):
            self.store(ins)
            return None
        if isinstance(ins, K.Reduce):
            return self.reduce(k, ins)
        raise NotImplementedError(f"the LLVM backend cannot render {type(ins).__name__}")

    def address(self, param, axes):
        param = self.over.get(param, param)  # an in-place output is addressed through its input
        mem = _types(self.k.params[param].dtype)[0]
        off = None
        for d, a in enumerate(axes):
            if a is None:
                continue
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
        if self.tile is not None:  # one accumulator per point of the tile
            x = self.convert(self.vals[ins.arg], self.k.body[ins.arg].dtype, ins.dtype)
            self.put(f"%acc{k}", reg, self.combine(ins.combiner, ins.dtype, self.get(f"%acc{k}", reg), x))
            return None
        if kind == "f" and ins.combiner in ("max", "min"):
            return self.round_half(self.float_minmax(k, ins), ins.dtype)
        acc = f"%acc{k}"
        self.allocas.append(f"  {acc} = alloca {reg}")
        self.sections[ins.level - 1].append(f"  store {reg} {const(ins.init, ins.dtype)}, ptr {acc}")
        self.out = self.sections[ins.level]
        cur = self.emit(f"load {reg}, ptr {acc}")
        x = self.convert(self.vals[ins.arg], self.k.body[ins.arg].dtype, ins.dtype)
        new = self.combine(ins.combiner, ins.dtype, cur, x)
        self.out.append(f"  store {reg} {new}, ptr {acc}")
        self.out = self.sections[ins.level + 1]
        return self.round_half(self.emit(f"load {reg}, ptr {acc}"), ins.dtype)

    def combine(self, combiner, dtype, a, b):
        """The accumulator ``a`` combined with the next element ``b``."""
        _, reg, kind = _types(dtype)
        if kind == "f":
            if combiner in ("sum", "prod"):
                return self.fbin("fadd" if combiner == "sum" else "fmul", reg, a, b, ACCUM)
            if combiner in ("max", "min"):  # in order: NumPy's choice between +0.0 and -0.0
                return minmax(self, reg, combiner, a, b, first_wins(dtype))
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
        reduced axes): an ``initial`` zero is position 0, before every element."""
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

    # ---- per-tile arrays (column tiles): element ``%j`` of ``[TILE x reg]``, bool as i8
    def slot(self, array, reg):
        mem = "i8" if reg == "i1" else reg
        return mem, self.emit(f"getelementptr inbounds [{TILE} x {mem}], ptr {array}, i64 0, "
                              f"i64 %j{self.part}")

    def get(self, array, reg):
        mem, ptr = self.slot(array, reg)
        v = self.emit(f"load {mem}, ptr {ptr}")
        return self.emit(f"icmp ne i8 {v}, 0") if reg == "i1" else v

    def put(self, array, reg, v):
        mem, ptr = self.slot(array, reg)
        if reg == "i1":
            v = self.emit(f"zext i1 {v} to i8")
        self.out.append(f"  store {mem} {v}, ptr {ptr}")

    def part_start(self, part):
        """Open a per-point loop of the tile: its lines, its index variable and ``%j``."""
        self.part, self.out = part, self.sections[part]
        self.index[self.tile] = f"%i{self.tile}.{part}"
        self.out.append(f"  %j{part} = sub nsw i64 %i{self.tile}.{part}, %iT")

    def tiled_module(self):
        """Render the three per-point loops of a tile (see the module docstring)."""
        body = self.k.body
        reg = {i: _types(ins.dtype)[1] for i, ins in enumerate(body)}
        reduces = [i for i, ins in enumerate(body) if isinstance(ins, K.Reduce)]
        kept = sorted({a for ins in body if ins.level == 1 for a in K.args_of(ins)
                       if body[a].level == 0 and not isinstance(body[a], K.Const)})
        needed = set(kept)
        for i in reversed(range(len(body))):
            if i in needed:
                needed.update(K.args_of(body[i]))
        for name, i in [("acc", i) for i in reduces] + [("lv", i) for i in kept]:
            self.allocas.append(f"  %{name}{i} = alloca [{TILE} x {'i8' if reg[i] == 'i1' else reg[i]}], "
                                "align 64")
        for i, ins in enumerate(body):
            if isinstance(ins, K.Const):
                self.vals[i] = const(ins.value, ins.dtype)
        self.sections = {"a": [], "b": [], "c": []}
        self.part_start("a")  # accumulators' initial values, level 0 that the pass uses
        for i in reduces:
            self.put(f"%acc{i}", reg[i], const(body[i].init, body[i].dtype))
        for i in sorted(needed):
            self.vals[i] = self.render_instr(i, body[i])
        for i in kept:
            self.put(f"%lv{i}", reg[i], self.vals[i])
        self.part_start("b")  # the pass
        for i in kept:
            self.vals[i] = self.get(f"%lv{i}", reg[i])
        for i, ins in enumerate(body):
            if ins.level == 1:
                self.vals[i] = self.render_instr(i, ins)
        self.part_start("c")  # results, level 0 again, level 2
        for i in reduces:
            self.vals[i] = self.round_half(self.get(f"%acc{i}", reg[i]), body[i].dtype)
        for level in (0, 2):
            for i, ins in enumerate(body):
                if ins.level == level and not isinstance(ins, K.Const):
                    self.vals[i] = self.render_instr(i, ins)
        return self.assemble()

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
        return self.assemble()

    def assemble(self):
        k = self.k
        lines = ["; arignote kernel " + k.name, ""]
        if self.error:
            lines.append(f"@{symbol(k.name + '.error')} = global i32 0, align 4")
        lines += sorted(set(self.decls.values()))
        lines += list(self.helpers.values())
        if self.vector_math:
            lines.append(llvm_math.math_ir(sorted(self.vector_math)))
        lines += self.wrapper()
        lines += self.body_function() if self.tile is None else self.tiled_function()
        return "\n".join(lines) + "\n"

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
        args += ["i64 %start", "i64 %end"]
        out += [f"  call void @{symbol(k.name + '.body')}({', '.join(args)})", "  ret void", "}", ""]
        return out

    def body_function(self):
        k = self.k
        parallel = [a for a in range(k.ndim) if a not in k.reduce_axes]
        reduced = sorted(k.reduce_axes)
        nest = _Nest([f"define internal void @{symbol(k.name + '.body')}({', '.join(self.body_args())}) {{",
                      "entry:", *self.allocas])
        out = nest.out
        for n, a in enumerate(parallel):
            nest.open(a, "%start" if n == 0 else "0", "%end" if n == 0 else f"%n{a}")
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
        out += ["  ret void", "}", ""]
        return out

    def tiled_function(self):
        """The body of a column-tiled kernel: the other parallel axes, the tiles of the last
        one, per tile the three per-point loops (the pass's inside the reduced axes' loops)."""
        k, t = self.k, self.tile
        parallel = [a for a in range(k.ndim) if a not in k.reduce_axes and a != t]
        nest = _Nest([f"define internal void @{symbol(k.name + '.body')}({', '.join(self.body_args())}) {{",
                      "entry:", *self.allocas])
        out = nest.out
        for n, a in enumerate(parallel):
            nest.open(a, "%start" if n == 0 else "0", "%end" if n == 0 else f"%n{a}")
        hi = f"%n{t}" if parallel else "%end"
        nest.open("T", "0" if parallel else "%start", hi, step=TILE)
        out += [f"  %tile.rest = sub nsw i64 {hi}, %iT",
                f"  %tile.full = icmp sgt i64 %tile.rest, {TILE}",
                f"  %tile.n = select i1 %tile.full, i64 {TILE}, i64 %tile.rest",
                "  %tile.end = add nsw i64 %iT, %tile.n"]

        def points(part):
            nest.open(t, "%iT", "%tile.end", f".{part}")
            out.extend(self.sections[part])
            nest.close()

        points("a")
        for a in sorted(k.reduce_axes):
            nest.open(a, "0", f"%n{a}")
        points("b")
        for _ in k.reduce_axes:
            nest.close()
        points("c")
        nest.close_all()
        out += ["  ret void", "}", ""]
        return out


class _Nest:
    """Counted loops as basic blocks, opened and closed in order: loop ``a`` (tag ``t``)
    has the index ``%i<a><t>`` and the blocks ``L<a><t>.head/.body/.latch/.exit``."""

    def __init__(self, out):
        self.out, self.block, self.exits = out, "entry", []

    def open(self, a, lo, hi, tag="", step=1):
        i, L = f"%i{a}{tag}", f"L{a}{tag}"
        self.out.extend([f"  br label %{L}.head", f"{L}.head:",
                         f"  {i} = phi i64 [ {lo}, %{self.block} ], [ {i}.next, %{L}.latch ]",
                         f"  %c{a}{tag} = icmp slt i64 {i}, {hi}",
                         f"  br i1 %c{a}{tag}, label %{L}.body, label %{L}.exit", f"{L}.body:"])
        self.block = f"{L}.body"
        self.exits.append((a, tag, step))

    def close(self):
        a, tag, step = self.exits.pop()
        i, L = f"%i{a}{tag}", f"L{a}{tag}"
        self.out.extend([f"  br label %{L}.latch", f"{L}.latch:",
                         f"  {i}.next = add nuw nsw i64 {i}, {step}",
                         f"  br label %{L}.head", f"{L}.exit:"])
        self.block = f"{L}.exit"

    def close_all(self):
        while self.exits:
            self.close()


#: points of the last axis per column tile: wide, so each row of a tile is a long run of
#: pages the hardware prefetcher streams (narrow tiles touch a new page per row: twice as
#: slow on a (4096, 1024) float32 column sum), while the accumulators stay in L1/L2
TILE = 4096


def tile_axis(kernel):
    """The axis a kernel is column-tiled over (see the module docstring), or None: one
    pass, the last axis parallel and after a reduced axis, level 2 using only the
    reductions of level 1, no output read back."""
    last = kernel.ndim - 1
    if not kernel.reduce_axes or kernel.passes != 1 or last in kernel.reduce_axes:
        return None
    body = kernel.body
    for ins in body:
        if isinstance(ins, K.Load) and kernel.params[ins.param].role == "out":
            return None
        if ins.level == 2 and any(body[a].level == 1 and not isinstance(body[a], (K.Reduce, K.Const))
                                  for a in K.args_of(ins)):
            return None
    return last


def symbol(name):
    """The kernel's name as a plain global symbol (other characters become _)."""
    name = re.sub(r"[^A-Za-z0-9_.]", "_", name)
    return name if name[:1].isalpha() or name[:1] == "_" else "k" + name


def render(kernel):
    """The LLVM IR module text of ``kernel`` (see the module docstring for the ABI)."""
    return _Renderer(kernel).module()


def error_symbol(kernel):
    """The name of the kernel's error flag (defined only by kernels that can raise)."""
    return symbol(kernel.name) + ".error"


#: the symbol of :func:`trampoline`'s function
TRAMPOLINE = "arignote_trampoline"


def trampoline():
    """IR of ``void arignote_trampoline(i64* call)``, which calls ``call[0]`` (a kernel's
    wrapper) on ``call[1:6]`` (shape, data, strides, start, end). One argument for
    ctypes to convert instead of five: a third of the cost of a tiny kernel's call."""
    loads = [f"  %a{n} = getelementptr inbounds i64, ptr %call, i64 {n}\n"
             f"  %v{n} = load {ty}, ptr %a{n}, align 8"
             for n, ty in enumerate(["ptr", "ptr", "ptr", "ptr", "i64", "i64"])]
    return "\n".join([f"define void @{TRAMPOLINE}(ptr noalias readonly %call) {{", "entry:", *loads,
                      "  call void %v0(ptr %v1, ptr %v2, ptr %v3, i64 %v4, i64 %v5)",
                      "  ret void", "}", ""])
