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

*Column tiles* (``schedule.tile_axis``): the tiled axis, the innermost parallel
one, is cut into tiles of ``schedule.tile`` points inside the other parallel
loops (inside ``[start, end)`` when it is the only parallel one, so chunking is
unchanged). Per tile: one loop over
the tile's points initializes a ``[tile x ty]`` accumulator array per Reduce and
stores the level-0 values the pass uses into per-tile arrays; the reduced axes'
loops hold a loop over the tile's points doing level 1 (contiguous, independent
accumulators: it vectorizes, in the same order per point as the untiled nest);
a last loop over the tile's points recomputes level 0 and runs level 2.

*Groups* (``schedule.unroll``, a random draw's rows): the innermost parallel loop
walks groups of ``unroll`` points that start at multiples of it (the body copied
once per point, offsets ``or disjoint``), between a plain loop up to the first
multiple and one after the last group; the groups' loop comes in two copies, one
for unit strides along the axis (a run-time test), which LLVM vectorizes across
groups, one for any strides. LLVM then computes a value that depends on the point
only through ``index div unroll`` (a Philox block) once per group.

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


# ------------------------------------------------------------ the renderer

class _Renderer:
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
        #: module-level metadata lines (the loops LLVM must leave as they are)
        self.metadata = []
        self.sched = kernel.schedule
        self.tile = self.sched.tile_axis
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

    # ---- per-tile arrays (column tiles): element ``%j`` of ``[tile x reg]``, bool as i8
    def slot(self, array, reg):
        mem = "i8" if reg == "i1" else reg
        return mem, self.emit(f"getelementptr inbounds [{self.sched.tile} x {mem}], ptr {array}, i64 0, "
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
            mem = "i8" if reg[i] == "i1" else reg[i]
            self.allocas.append(f"  %{name}{i} = alloca [{self.sched.tile} x {mem}], "
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
        if self.errors:
            lines.append(f"@{error_symbol(k)} = global i32 0, align 4")
        lines += sorted(set(self.decls.values()))
        if self.vector_math:
            lines.append(llvm_math.math_ir(sorted(self.vector_math)))
        lines += self.wrapper()
        lines += self.body_function() if self.tile is None else self.tiled_function()
        return "\n".join(lines + self.metadata) + "\n"

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
        parallel = self.sched.loop_order
        reduced = sorted(k.reduce_axes)
        nest = _Nest([f"define internal void @{symbol(k.name + '.body')}({', '.join(self.body_args())}) {{",
                      "entry:", *self.allocas])
        out = nest.out
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
        strides = sorted({f"%s{self.over.get(ins.param, ins.param)}.{d}" for ins in self.k.body
                          if isinstance(ins, (K.Load, K.Store)) for d, x in enumerate(ins.axes) if x == a})
        unit = "true"
        for n, st in enumerate(strides):
            out += [f"  %u{a}.one{n} = icmp eq i64 {st}, 1",
                    f"  %u{a}.unit{n} = and i1 {unit}, %u{a}.one{n}"]
            unit = f"%u{a}.unit{n}"
        names = re.compile(r"(%t\d+|%i" + str(a) + r"|%s\d+\.\d+)(?![\w.])")

        def copy(tag, unit_strides=False):
            def rename(m):
                name = m.group(0)
                if name.startswith("%s"):
                    return "1" if unit_strides and name in strides else name
                return f"%i{a}{tag}" if name == f"%i{a}" else name + tag
            out.extend(names.sub(rename, line) for line in self.sections[0])

        def loop(first, last, tag, step=1, unit_strides=False):
            nest.open(a, first, last, tag, step)
            if step == 1:
                copy(tag)
            else:
                for g in range(step):
                    out.append(f"  %i{a}{tag}{g} = or disjoint i64 %i{a}{tag}, {g}")
                    copy(f"{tag}{g}", unit_strides)
            nest.close("" if unit_strides else self.plain_loop())

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

    def plain_loop(self):
        """Loop metadata (``, !llvm.loop !N``) asking LLVM neither to vectorize nor to unroll
        the loop: the few points around a draw's groups, and the groups of any strides
        (which do not vectorize), cost compile time only."""
        if not self.metadata:
            self.metadata = ['!1 = !{!"llvm.loop.vectorize.width", i32 1}',
                             '!2 = !{!"llvm.loop.interleave.count", i32 1}',
                             '!3 = !{!"llvm.loop.unroll.disable"}']
        n = 1 + len(self.metadata)
        self.metadata.append(f"!{n} = distinct !{{!{n}, !1, !2, !3}}")
        return f", !llvm.loop !{n}"

    def tiled_function(self):
        """The body of a column-tiled kernel: the other parallel axes, the tiles of the last
        one, per tile the three per-point loops (the pass's inside the reduced axes' loops)."""
        k, t, tile = self.k, self.tile, self.sched.tile
        nest = _Nest([f"define internal void @{symbol(k.name + '.body')}({', '.join(self.body_args())}) {{",
                      "entry:", *self.allocas])
        out = nest.out
        for a in self.sched.loop_order[:-1]:
            chunked = a == self.sched.chunk_axis
            nest.open(a, "%start" if chunked else "0", "%end" if chunked else f"%n{a}")
        chunked = t == self.sched.chunk_axis
        hi = "%end" if chunked else f"%n{t}"
        nest.open("T", "%start" if chunked else "0", hi, step=tile)
        out += [f"  %tile.rest = sub nsw i64 {hi}, %iT",
                f"  %tile.full = icmp sgt i64 %tile.rest, {tile}",
                f"  %tile.n = select i1 %tile.full, i64 {tile}, i64 %tile.rest",
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
        return out + self.raise_checks()


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

    def close(self, meta=""):
        """End the innermost open loop; ``meta``: metadata of its back edge."""
        a, tag, step = self.exits.pop()
        i, L = f"%i{a}{tag}", f"L{a}{tag}"
        self.out.extend([f"  br label %{L}.latch", f"{L}.latch:",
                         f"  {i}.next = add nuw nsw i64 {i}, {step}",
                         f"  br label %{L}.head{meta}", f"{L}.exit:"])
        self.block = f"{L}.exit"

    def close_all(self):
        while self.exits:
            self.close()


def symbol(name):
    """The kernel's name as a plain global symbol (other characters become _)."""
    name = re.sub(r"[^A-Za-z0-9_.]", "_", name)
    return name if name[:1].isalpha() or name[:1] == "_" else "k" + name


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


#: the symbol of :func:`sequence`'s function
SEQUENCE = "arignote_sequence"
#: the entries :func:`sequence` runs: opcode -> its fields after the opcode
SEQUENCE_OPS = {
    "kernel": ("fn", "shape", "data", "strides", "end", "flag"),
    "gemm": ("fn", "double", "ta", "tb", "m", "n", "k", "alpha", "alpha_double", "a", "lda",
             "b", "ldb", "beta", "beta_double", "c", "ldc"),
    "copy": ("dst", "src", "nbytes"),
    "patch": ("dst", "base", "delta"),
}
SEQUENCE_CODES = {name: code for code, name in enumerate(SEQUENCE_OPS, 1)}


def sequence():
    """IR of ``i64 arignote_sequence(i64* prog, i64* bases)``: run the entries of ``prog``
    in order until an opcode 0, one native call for a whole program's steps (see
    :mod:`arignote.runtime.native_call`). ``kernel``: reset its error flag (an i32, if its
    address is not 0), call ``fn(shape, data, strides, 0, end)`` as the trampoline does,
    and stop there if the flag is set: the result is then the entry's position + 1 (else 0).
    ``gemm``: a row-major CBLAS ``?gemm`` with 64-bit sizes, float or ``double``, its
    alpha and beta read from memory (float or double each). ``copy``: ``nbytes`` bytes.
    ``patch``: ``*dst = bases[base] + delta`` (a data pointer of this call's arrays)."""
    codes = SEQUENCE_CODES
    out = [f"define i64 @{SEQUENCE}(ptr noalias %prog, ptr noalias readonly %bases) {{",
           "entry:", "  br label %loop", "loop:",
           "  %pos = phi i64 " + ", ".join(f"[{v}, %{b}]" for v, b in
                                          [("0", "entry")] + [(f"%{n}.next", f"{n}.done") for n in codes]),
           "  %op.at = getelementptr inbounds i64, ptr %prog, i64 %pos",
           "  %op = load i64, ptr %op.at, align 8",
           "  switch i64 %op, label %stop [" +
           " ".join(f"i64 {c}, label %{n}" for n, c in codes.items()) + "]",
           "stop:", "  ret i64 0"]

    def fields(name, types):
        lines = []
        for j, (field, ty) in enumerate(zip(SEQUENCE_OPS[name], types), 1):
            lines += [f"  %{name}.{field}.at = getelementptr inbounds i64, ptr %prog, i64 %{name}.{j}",
                      f"  %{name}.{j} = add i64 %pos, {j}"][::-1]
            lines.append(f"  %{name}.{field} = load {ty}, ptr %{name}.{field}.at, align 8")
        return lines

    def real(value, double, want):
        """``%gemm.<value>.<want>.v``: the float or double at pointer ``%gemm.<value>``
        (a double where ``%gemm.<double>`` is not 0), as ``want``."""
        v, other = f"%gemm.{value}.{want}", "float" if want == "double" else "double"
        return [f"  {v}.own = load {want}, ptr %gemm.{value}, align 4",
                f"  {v}.other = load {other}, ptr %gemm.{value}, align 4",
                f"  {v}.cast = fp{'ext' if want == 'double' else 'trunc'} {other} {v}.other to {want}",
                f"  {v}.is.d = icmp ne i64 %gemm.{double}, 0",
                f"  {v}.v = select i1 {v}.is.d, {want} {v}.{'own' if want == 'double' else 'cast'}, "
                f"{want} {v}.{'cast' if want == 'double' else 'own'}"]

    # a kernel, then its flag
    out += ["kernel:", *fields("kernel", ["ptr", "ptr", "ptr", "ptr", "i64", "ptr"]),
            "  %kernel.flagged = icmp ne ptr %kernel.flag, null",
            "  br i1 %kernel.flagged, label %kernel.reset, label %kernel.run",
            "kernel.reset:", "  store i32 0, ptr %kernel.flag, align 4", "  br label %kernel.run",
            "kernel.run:",
            "  call void %kernel.fn(ptr %kernel.shape, ptr %kernel.data, ptr %kernel.strides, "
            "i64 0, i64 %kernel.end)",
            "  br i1 %kernel.flagged, label %kernel.check, label %kernel.done",
            "kernel.check:", "  %kernel.raised = load i32, ptr %kernel.flag, align 4",
            "  %kernel.ok = icmp eq i32 %kernel.raised, 0",
            "  %kernel.failed = add i64 %pos, 1",
            "  br i1 %kernel.ok, label %kernel.done, label %kernel.fail",
            "kernel.fail:", "  ret i64 %kernel.failed",
            "kernel.done:", f"  %kernel.next = add i64 %pos, {len(SEQUENCE_OPS['kernel']) + 1}",
            "  br label %loop"]
    # gemm: float or double
    gemm_types = ["ptr", "i64", "i64", "i64", "i64", "i64", "i64", "ptr", "i64", "ptr", "i64",
                  "ptr", "i64", "ptr", "i64", "ptr", "i64"]
    args = ("i32 101, i32 %gemm.ta32, i32 %gemm.tb32, i64 %gemm.m, i64 %gemm.n, i64 %gemm.k, "
            "{t} %gemm.alpha.{t}.v, ptr %gemm.a, i64 %gemm.lda, ptr %gemm.b, i64 %gemm.ldb, "
            "{t} %gemm.beta.{t}.v, ptr %gemm.c, i64 %gemm.ldc")
    out += ["gemm:", *fields("gemm", gemm_types),
            "  %gemm.ta32 = trunc i64 %gemm.ta to i32", "  %gemm.tb32 = trunc i64 %gemm.tb to i32",
            "  %gemm.is.d = icmp ne i64 %gemm.double, 0",
            "  br i1 %gemm.is.d, label %gemm.d, label %gemm.s"]
    for t, block in (("double", "gemm.d"), ("float", "gemm.s")):
        out += [f"{block}:", *real("alpha", "alpha_double", t), *real("beta", "beta_double", t),
                f"  call void %gemm.fn({args.format(t=t)})", "  br label %gemm.done"]
    out += ["gemm.done:", f"  %gemm.next = add i64 %pos, {len(SEQUENCE_OPS['gemm']) + 1}",
            "  br label %loop"]
    out += ["copy:", *fields("copy", ["ptr", "ptr", "i64"]),
            "  call void @llvm.memcpy.p0.p0.i64(ptr %copy.dst, ptr %copy.src, i64 %copy.nbytes, i1 false)",
            "  br label %copy.done", "copy.done:",
            f"  %copy.next = add i64 %pos, {len(SEQUENCE_OPS['copy']) + 1}", "  br label %loop"]
    out += ["patch:", *fields("patch", ["ptr", "i64", "i64"]),
            "  %patch.src = getelementptr inbounds i64, ptr %bases, i64 %patch.base",
            "  %patch.at = load i64, ptr %patch.src, align 8",
            "  %patch.value = add i64 %patch.at, %patch.delta",
            "  store i64 %patch.value, ptr %patch.dst, align 8",
            "  br label %patch.done", "patch.done:",
            f"  %patch.next = add i64 %pos, {len(SEQUENCE_OPS['patch']) + 1}", "  br label %loop"]
    out += ["}", "", "declare void @llvm.memcpy.p0.p0.i64(ptr, ptr, i64, i1)", ""]
    return "\n".join(out)
