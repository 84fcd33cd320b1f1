"""Tiles of the LLVM renderer (:mod:`arignote.compiler.llvm`): the kernels whose points
run in groups that share per-tile arrays, and the loop nest both renderers' parts write.

*Column tiles* (``schedule.tile_axis``): the tiled axis, the innermost parallel
one, is cut into tiles of ``schedule.tile`` points inside the other parallel
loops (inside ``[start, end)`` when it is the only parallel one, so chunking is
unchanged). Per tile: one loop over
the tile's points initializes a ``[tile x ty]`` accumulator array per Reduce and
stores the level-0 values the pass uses into per-tile arrays; the reduced axes'
loops hold a loop over the tile's points doing level 1 (contiguous, independent
accumulators: it vectorizes, in the same order per point as the untiled nest);
a last loop over the tile's points recomputes level 0 and runs level 2.

*Row tiles* (``schedule.row_tile``, a row kernel over one parallel axis): the
module also defines ``@<name>.rows``, the same body over whole tiles of
``row_tile`` rows: per level, a loop over the tile's rows (a pass's inside its
reduced loops), each Reduce's accumulators and each value a later level reads
in ``[row_tile x ty]`` arrays, each row's offset inside the passes read from a
per-tile table. The wrapper calls it on the whole tiles of ``[start, end)`` when
the reduced extents hold at most ``schedule.short_rows`` points, then the body
on the rest.
"""
import re

from arignote.compiler import kernel as K
from arignote.compiler.llvm_scalar import const
from arignote.compiler.llvm_scalar import types as _types


class Tiles:
    """The tile parts of the renderer (a mixin of its ``_Renderer``: ``emit``,
    ``render_instr``, ``round_half``, ``assemble``, ``body_args``, ``raise_checks`` and
    the per-kernel state come from there)."""

    # ---- per-tile arrays (column tiles): element ``%j`` of ``[tile x reg]``, bool as i8
    def slot(self, array, reg):
        mem = "i8" if reg == "i1" else reg
        return mem, self.emit(f"getelementptr inbounds [{self.tile_size} x {mem}], ptr {array}, i64 0, "
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
        if self.row_offsets is None:
            self.out.append(f"  %j{part} = sub nsw i64 %i{self.tile}.{part}, %iT")
        else:  # (row tiles count the tile's rows from 0: a constant trip count)
            self.out += [f"  %j{part} = add nuw nsw i64 %ij.{part}, 0",
                         f"  %i{self.tile}.{part} = add nsw i64 %iT, %j{part}"]

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
            self.allocas.append(f"  %{name}{i} = alloca [{self.tile_size} x {mem}], "
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

    # ---- row tiles
    def rows_function(self):
        """``@<name>.rows``: whole tiles of ``row_tile`` rows in ``[start, end)`` (see the
        module docstring): per level, a loop over the tile's rows (a pass's inside its
        reduced loops), each Reduce's accumulators and each value a later level reads in
        ``[row_tile x ty]`` arrays."""
        k, body = self.k, self.k.body
        self.tile, self.tile_size = self.sched.loop_order[0], self.sched.row_tile
        self.row_offsets = {}
        reg = {i: _types(ins.dtype)[1] for i, ins in enumerate(body)}
        kept = sorted({a for ins in body for a in K.args_of(ins) if body[a].level != ins.level
                       and not isinstance(body[a], (K.Const, K.Reduce))})
        for name, i in [("acc", i) for i, ins in enumerate(body) if isinstance(ins, K.Reduce)] + \
                [("lv", i) for i in kept]:
            mem = "i8" if reg[i] == "i1" else reg[i]
            self.allocas.append(f"  %{name}{i} = alloca [{self.tile_size} x {mem}], align 64")
        for i, ins in enumerate(body):
            if isinstance(ins, K.Const):
                self.vals[i] = const(ins.value, ins.dtype)
        levels = range(2 * k.passes + 1)
        self.sections = {f"l{level}": [] for level in levels}
        for level in levels:
            self.in_pass = level % 2 == 1
            if self.in_pass:  # this pass's reduced index variables
                self.index.update({a: f"%i{a}.p{level // 2}" for a in k.reduce_axes})
            self.part_start(f"l{level}")
            mine = [i for i, ins in enumerate(body) if ins.level == level and not isinstance(ins, K.Const)]
            for a in sorted({a for i in mine for a in K.args_of(body[i])
                             if body[a].level != level and not isinstance(body[a], K.Const)}):
                got = self.get(f"%{'acc' if isinstance(body[a], K.Reduce) else 'lv'}{a}", reg[a])
                self.vals[a] = self.round_half(got, body[a].dtype) if isinstance(body[a], K.Reduce) else got
            for i in mine:
                self.vals[i] = self.render_instr(i, body[i])
            for i in mine:
                if i in kept:
                    self.put(f"%lv{i}", reg[i], self.vals[i])
            for i, ins in enumerate(body):
                if isinstance(ins, K.Reduce) and ins.level == level + 1:
                    self.put(f"%acc{i}", reg[i], const(ins.init, ins.dtype))
        # each row's offsets, read inside the passes from a table: an address affine in the row
        # would have LLVM version the loop on a unit row stride (a gather is what it needs)
        self.in_pass, self.sections["off"] = False, []
        self.part_start("off")
        for (param, d), table in self.row_offsets.items():
            self.allocas.append(f"  {table} = alloca [{self.tile_size} x i64], align 64")
            self.put(table, "i64", self.emit(f"mul nsw i64 %i{self.tile}.off, %s{param}.{d}"))
        # (not unrolled: a loop over the tile's rows vectorizes into a few iterations, and
        # unrolling them, or the reduced loops around, cost compile time only)
        nest = Nest([self.define(".rows"), "entry:", *self.allocas], lambda: self.hints.hint("no_unroll"))
        out = nest.out
        nest.open("T", "%start", "%end", step=self.tile_size)
        for level in ["off", *levels]:
            part = level if level == "off" else f"l{level}"
            inner = level != "off" and level % 2
            if len(self.sections[part]) <= 2:  # (its indices only)
                continue
            if inner:
                for a in sorted(k.reduce_axes):
                    nest.open(a, "0", f"%n{a}", f".p{level // 2}")
            nest.open("j", "0", str(self.tile_size), f".{part}")
            out.extend(self.sections[part])
            nest.close()
            for _ in range(len(k.reduce_axes) if inner else 0):
                nest.close()
        nest.close_all()
        return out + self.raise_checks()

    def tiled_function(self):
        """The body of a column-tiled kernel: the other parallel axes, the tiles of the last
        one, per tile the three per-point loops (the pass's inside the reduced axes' loops)."""
        k, t, tile = self.k, self.tile, self.sched.tile
        nest = Nest([self.define(".body"), "entry:", *self.allocas], self.loop_meta)
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

        def points(part, lines, tag="", meta=None):
            nest.open(t, "%iT", "%tile.end", f".{part}{tag}")
            out.extend(lines)
            nest.close(meta)

        def the_pass(lines, tag="", meta=None):
            for a in sorted(k.reduce_axes):
                nest.open(a, "0", f"%n{a}", tag)
            points("b", lines, tag, meta)
            for _ in k.reduce_axes:
                nest.close()

        points("a", self.sections["a"])
        strides = self.strides_along(t, level=1)
        if strides:  # the pass twice: for unit strides along the tile (a run-time test), which
            # LLVM vectorizes without checks of its own (a short tile: its few points), and any
            # (a plain loop: LLVM would only copy it again for unit strides)
            unit = unit_test(strides, "%TB", out)
            out += [f"  br i1 {unit}, label %TB.unit, label %TB.any", "TB.unit:"]
            nest.block = "TB.unit"
            indices = {f"%i{a}": f"%i{a}.u" for a in k.reduce_axes}
            indices.update({f"%i{t}.b": f"%i{t}.b.u", "%jb": "%jb.u"})
            the_pass(renamed(self.sections["b"], ".u", indices, strides), ".u")
            out += ["  br label %TB.join", "TB.any:"]
            nest.block = "TB.any"
            the_pass(self.sections["b"], meta=self.plain_loop())
            out += ["  br label %TB.join", "TB.join:"]
            nest.block = "TB.join"
        else:
            the_pass(self.sections["b"])
        points("c", self.sections["c"])
        nest.close_all()
        return out + self.raise_checks()



def renamed(lines, tag, indices, unit=()):
    """``lines`` for another copy of their loop: each value ``%tN`` renamed ``%tN<tag>``,
    each index variable of ``indices`` (old name -> new), each stride variable of
    ``unit`` replaced by 1."""
    unit = set(unit)
    own = "|".join(re.escape(name) for name in sorted(indices, key=len, reverse=True))
    names = re.compile(r"(%t\d+|%s\d+\.\d+" + (f"|{own}" if own else "") + r")(?![\w.])")

    def rename(m):
        name = m.group(0)
        if name.startswith("%t"):
            return name + tag
        if name in indices:
            return indices[name]
        return "1" if name in unit else name
    return [names.sub(rename, line) for line in lines]


def unit_test(strides, prefix, out):
    """Append to ``out`` the test that every stride of ``strides`` is 1 (names from
    ``prefix``); the ``i1`` it gives."""
    unit = "true"
    for n, st in enumerate(strides):
        out += [f"  {prefix}.one{n} = icmp eq i64 {st}, 1",
                f"  {prefix}.unit{n} = and i1 {unit}, {prefix}.one{n}"]
        unit = f"{prefix}.unit{n}"
    return unit


#: what a loop may ask of LLVM's loop passes (``!llvm.loop`` properties), by name
LOOP_HINTS = {
    "scalar": '!{!"llvm.loop.vectorize.width", i32 1}',
    "no_interleave": '!{!"llvm.loop.interleave.count", i32 1}',
    "no_unroll": '!{!"llvm.loop.unroll.disable"}',
    "no_runtime_unroll": '!{!"llvm.loop.unroll.runtime.disable"}',
}
#: the hints of a plain loop, which LLVM leaves as it is (neither vectorized nor unrolled)
PLAIN = ("scalar", "no_interleave", "no_unroll")


class LoopHints:
    """A module's loop metadata: ``hint(*names)`` is the ``, !llvm.loop !N`` suffix of a
    loop's back edge asking for those :data:`LOOP_HINTS`; ``lines`` defines the nodes."""

    def __init__(self):
        self.lines, self.nodes = [], {}

    def node(self, text):
        if text not in self.nodes:
            self.nodes[text] = n = len(self.lines) + 1
            self.lines.append(f"!{n} = {text}")
        return self.nodes[text]

    def hint(self, *names):
        if not names:
            return ""
        refs = [f"!{self.node(LOOP_HINTS[name])}" for name in names]
        n = len(self.lines) + 1  # a loop's own node: distinct, naming itself
        self.lines.append(f"!{n} = distinct !{{!{n}, {', '.join(refs)}}}")
        return f", !llvm.loop !{n}"


class Nest:
    """Counted loops as basic blocks, opened and closed in order: loop ``a`` (tag ``t``)
    has the index ``%i<a><t>`` and the blocks ``L<a><t>.head/.body/.latch/.exit``.

    ``meta()`` gives the back-edge metadata of a loop closed without its own."""

    def __init__(self, out, meta=str):
        self.out, self.block, self.exits, self.meta = out, "entry", [], meta

    def open(self, a, lo, hi, tag="", step=1):
        i, L = f"%i{a}{tag}", f"L{a}{tag}"
        self.out.extend([f"  br label %{L}.head", f"{L}.head:",
                         f"  {i} = phi i64 [ {lo}, %{self.block} ], [ {i}.next, %{L}.latch ]",
                         f"  %c{a}{tag} = icmp slt i64 {i}, {hi}",
                         f"  br i1 %c{a}{tag}, label %{L}.body, label %{L}.exit", f"{L}.body:"])
        self.block = f"{L}.body"
        self.exits.append((a, tag, step))

    def close(self, meta=None):
        """End the innermost open loop; ``meta``: metadata of its back edge."""
        meta = self.meta() if meta is None else meta
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


