"""A Scan node taken apart, for the loop rewrites to edit and rebuild.

Each argument becomes one small record holding its outer variable(s), inner
variable(s) and outer output, whatever its kind, so a rewrite edits lists
(drop an unused output, move a computation out of the loop, turn a carried
sum into a product outside it) and :meth:`ScanParts.build` makes the new
node and says which new output replaces which old one. The op's own inner
graph is never changed: an edit of the inner graph works on a copy.
"""
from dataclasses import dataclass, field

from arignote.graph.basic import clone_graph
from arignote.ops.scan.layout import ScanLayout
from arignote.ops.scan.op import Scan


def placeholder(outer, depth=2):
    """An inner input standing for the outer value ``outer``, named after it so that
    ``debugprint`` of the step shows what comes from outside (``DimShuffle{1,0}(W)``:
    a transpose computed once, before the loop)."""
    return outer.type.make_variable(_label(outer, depth))


def _label(v, depth):
    if v.name or v.owner is None or depth == 0:
        return v.name or ("..." if v.owner is not None else None)
    args = ", ".join(_label(i, depth - 1) or "?" for i in v.owner.inputs)
    return f"{v.owner.op}({args})"


@dataclass(eq=False)
class Seq:
    outer: object
    taps: tuple
    inner: list


@dataclass(eq=False)
class Rec:
    init: object          # the initial rows
    taps: tuple
    inner: list
    update: object        # the inner output: the new row
    out: object = None    # the outer output it replaces (None: a new one)
    keep: int = 0         # how many last rows it outputs (0: all)


@dataclass(eq=False)
class Mapped:
    update: object
    out: object = None


@dataclass(eq=False)
class Carried:
    init: object
    inner: object
    update: object
    out: object = None


@dataclass(eq=False)
class Invariant:
    outer: object
    inner: object


@dataclass(eq=False)
class ScanParts:
    op: Scan
    n_steps: object
    seqs: list = field(default_factory=list)
    recs: list = field(default_factory=list)
    mapped: list = field(default_factory=list)
    carried: list = field(default_factory=list)
    invariants: list = field(default_factory=list)
    cond: object = None

    @classmethod
    def of(cls, node):
        op, lay = node.op, node.op.layout
        n, seqs, inits, carried, invariant = lay.outer_inputs(node.inputs)
        i_seqs, i_recs, i_carried, i_inv = lay.inner_inputs(op.inputs)
        o_recs, o_mapped, o_carried, cond = lay.inner_outputs(op.outputs)
        y, z, f = lay.outer_outputs(node.outputs)
        return cls(op, n,
                   [Seq(*a) for a in zip(seqs, lay.seq_taps, i_seqs)],
                   [Rec(*a, lay.keep(j)) for j, a in enumerate(zip(inits, lay.rec_taps, i_recs,
                                                                  o_recs, y))],
                   [Mapped(*a) for a in zip(o_mapped, z)],
                   [Carried(*a) for a in zip(carried, i_carried, o_carried, f)],
                   [Invariant(*a) for a in zip(invariant, i_inv)], cond)

    # ---------------------------------------------------------- inner graph

    @property
    def inner_inputs(self):
        return ([v for s in self.seqs for v in s.inner] + [v for r in self.recs for v in r.inner] +
                [c.inner for c in self.carried] + [i.inner for i in self.invariants])

    @property
    def inner_outputs(self):
        return ([r.update for r in self.recs] + [m.update for m in self.mapped] +
                [c.update for c in self.carried] + ([self.cond] if self.cond is not None else []))

    def replace_inner(self, replace):
        """Rewrite every inner output over a copy of the inner graph in which each key of
        ``replace`` (an inner variable) is its value (an inner input)."""
        keep = {v: v for v in self.inner_inputs}
        keep.update(replace)
        new, _ = clone_graph(self.inner_outputs, replace=keep)
        new = iter(new)
        for r in self.recs:
            r.update = next(new)
        for m in self.mapped:
            m.update = next(new)
        for c in self.carried:
            c.update = next(new)
        if self.cond is not None:
            self.cond = next(new)

    # ---------------------------------------------------------- rebuilding

    def build(self):
        """The new Scan node's outputs: ({old outer output: new one}, [new outputs of the
        records without an old one, in record order])."""
        layout = ScanLayout(seq_taps=tuple(s.taps for s in self.seqs),
                            rec_taps=tuple(r.taps for r in self.recs),
                            n_mapped=len(self.mapped), n_carried=len(self.carried),
                            n_invariant=len(self.invariants), until=self.cond is not None,
                            truncate_gradient=self.op.layout.truncate_gradient,
                            rec_keep=tuple(r.keep for r in self.recs)
                            if any(r.keep for r in self.recs) else ())
        op = Scan(self.inner_inputs, self.inner_outputs, layout, name=self.op.name)
        node = op.make_node(self.n_steps, *[s.outer for s in self.seqs],
                            *[r.init for r in self.recs], *[c.init for c in self.carried],
                            *[i.outer for i in self.invariants])
        replaced, added = {}, []
        for record, new in zip(self.recs + self.mapped + self.carried, node.outputs):
            if record.out is None:
                added.append(new)
            else:
                replaced[record.out] = new
        return replaced, added
