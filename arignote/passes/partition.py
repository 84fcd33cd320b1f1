"""The fusion pass's partition: which fusible nodes go into which kernel, by the
rules the docstring of :mod:`arignote.passes.fusion` lists (consumers first,
one index space per group, cuts, recomputed copies, no cycles)."""
import itertools
import math

from arignote.graph.basic import Constant
from arignote.graph.fg import OUTPUT
from arignote.graph.type import TensorType
from arignote.ops.shape import DimShuffle, Reshape
from arignote.passes.equal_dims import EqualDims
from arignote.passes.fusible import EXPENSIVE, MAX_PASSES, SOURCE, is_view


#: how deep a chain of recomputed elementwise nodes may go
RECOMPUTE_DEPTH = 3
#: group-graph nodes the cycle search may visit before it gives up (and refuses the merge)
SEARCH_BUDGET = 4096
REDUCE_COMBINERS = frozenset({"sum", "prod", "max", "min", "all", "any"})


def fusible_kind(node):
    """'elemwise', 'source' (a random draw), 'view' (DimShuffle, basic indexing, reshape),
    'reduce' or None (opaque to fusion; so is every node reading or making a value that is
    not a tensor)."""
    op = node.op
    kind = op.fusion_kind  # (what the op says it is; then what lowering can apply)
    if kind == "opaque" or any(not isinstance(v.type, TensorType) or v.type.dtype.startswith("complex")
                               for v in node.inputs + node.outputs):
        return None
    if kind in ("elemwise", SOURCE):
        return kind
    if kind == "view" and is_view(node):
        return "view"
    if (kind == "reduce" and op.combiner in REDUCE_COMBINERS
            and any(node.inputs[0].type.shape[a] != 1 for a in op.axis)):
        return "reduce"  # (folding only size-1 axes is a copy: left to the reference)
    return None


class _Group:
    """A kernel being formed. ``role`` maps each member to 'full' (full index space),
    'kept' (kept space of the reductions) or 'reduce'; ``copies`` are members
    recomputed here (other groups may hold them too); ``succ`` are nodes that
    may read the group's outputs."""

    __slots__ = ("gid", "role", "space", "raxes", "kept_members", "copies", "succ", "lo", "hi")

    def __init__(self, gid, space, index):
        self.gid, self.space, self.raxes = gid, space, None
        self.role, self.kept_members, self.copies, self.succ = {}, set(), set(), set()
        self.lo = self.hi = index


class Partitioner:
    """The groups of one FunctionGraph: :meth:`partition` gives each group's members and
    copies; ``dims`` (the graph's :class:`EqualDims`) stays valid for building them."""

    def __init__(self, fgraph, max_group=None):
        self.fg = fgraph
        self.order = fgraph.toposort()
        self.index = {n: k for k, n in enumerate(self.order)}
        self.dims = EqualDims(self.order)
        self.max_group = max_group or math.inf
        self.groups, self.merged, self.ids = {}, {}, itertools.count()
        self.node_groups = {}     # fusible node -> gids of the groups computing it
        self.standalone = set()   # views also left in the graph for readers outside groups
        self.depth = {}           # recompute depth of copied nodes
        self._view_kinds = {}     # view node -> view_kinds()
        self.recomputed = 0
        self.merged_reductions = 0

    # ---------------------------------------------------------- queries

    def find(self, gid):
        while gid in self.merged:
            gid = self.merged[gid]
        return gid

    def clients(self, node):
        """The nodes reading any output of ``node`` (an opaque node may have several)."""
        seen = {}
        for out in node.outputs:
            for c, _ in self.fg.clients.get(out, []):
                if c != OUTPUT:
                    seen[c] = None
        return list(seen)

    def is_output(self, var):
        return any(c == OUTPUT for c, _ in self.fg.clients.get(var, []))

    def units(self, node):
        """Where ``node`` runs: ('g', gid) per group holding it, ('n', node) if it runs on its own."""
        gids = self.node_groups.get(node)
        if gids is None:
            return {("n", node)}
        units = {("g", self.find(g)) for g in gids}
        if node in self.standalone:
            units.add(("n", node))
        return units

    def shared_copies(self):
        """Copies that run in more than one unit (several groups, or a group and the graph,
        as a view left standing): a member a copy reads is then needed outside its group,
        as :meth:`external` counts it, and the group outputs it."""
        return {n for n in self.node_groups if len(self.units(n)) > 1}

    def external(self, node, gids):
        """Does ``node``'s value have a reader outside the groups ``gids``?"""
        inside = {("g", g) for g in gids}
        return self.is_output(node.outputs[0]) or any(
            not self.units(c) <= inside for c in self.clients(node))

    # ---------------------------------------------------------- partition

    def partition(self):
        """(members, copies) per group: node lists in topological order."""
        for node in reversed(self.order):
            kind = fusible_kind(node)
            if kind is None:
                continue
            if self.max_group == 1:
                if kind != "view":
                    self.new_group(node)
                continue
            self.place(node, kind)
        if self.max_group > 1:
            self.merge_reductions()
        groups = sorted(self.groups.values(), key=lambda g: g.hi)
        return [(sorted(g.role, key=self.index.__getitem__), g.copies) for g in groups]

    def view_kinds(self, v):
        """The kinds of view ('dimshuffle', 'index', 'reshape') on the view-only paths
        from the view node ``v`` to its readers (``v`` included)."""
        kinds = self._view_kinds.get(v)
        if kinds is None:
            op = v.op
            kinds = {"dimshuffle" if isinstance(op, DimShuffle) else
                     "reshape" if isinstance(op, Reshape) else "index"}
            for r in self.clients(v):
                if fusible_kind(r) == "view" and r.inputs[0] is v.outputs[0]:
                    kinds |= self.view_kinds(r)
            self._view_kinds[v] = kinds
        return kinds

    def blocked(self, p, c):
        """Must ``p``'s value reach its reader ``c`` (a view) as a group input, never computed
        in ``c``'s group? Yes for an index or shape of a view (the launcher reads it), a
        reduction read through a slice or reshape, and an elementwise value reshaped (the
        lowering applies views to group inputs; it pushes slices through elementwise ops,
        not reshapes, which a broadcast input could not follow)."""
        if fusible_kind(c) != "view" or isinstance(c.op, DimShuffle):
            return False
        out = p.outputs[0]
        if any(i is out for i in c.inputs[1:]):
            return True
        kind = fusible_kind(p)
        if kind == "view":
            return False
        kinds = self.view_kinds(c)
        return "reshape" in kinds or kind == "reduce"

    def blocked_between(self, groups):
        """Would merging ``groups`` put both ends of a blocked edge in one group?"""
        for g in groups:
            for m in g.role:
                for c in self.clients(m):
                    if any(h is not g and c in h.role for h in groups) and self.blocked(m, c):
                        return True
        return False

    def place(self, p, kind):
        cs = self.clients(p)
        blocked = [c for c in cs if self.blocked(p, c)]
        units = set().union(*(self.units(c) for c in cs if c not in blocked)) if cs else set()
        banned = {u[1] for c in blocked for u in self.units(c) if u[0] == "g"}
        gids = sorted({u[1] for u in units if u[0] == "g"} - banned,
                      key=lambda g: (self.groups[g].raxes is None, -len(self.groups[g].role)))
        outside = self.is_output(p.outputs[0]) or any(u[0] == "n" for u in units) or bool(blocked)
        if kind == "view":
            self.copy_into(p, gids, cs, outside)
            return
        if gids and self.try_join(p, kind, gids, cs):
            return
        scalar = p.outputs[0].ndim == 0  # (once per launch: free to copy, and not counted)
        depth = int(not scalar) + max((self.depth.get(c, 0) for c in cs), default=0)
        if (kind == "elemwise" and len(gids) > 1 and not outside
                and (scalar or p.op.scalar_op.name not in EXPENSIVE) and depth <= RECOMPUTE_DEPTH
                and all(len(self.groups[g].role) < self.max_group for g in gids)):
            self.depth[p] = depth
            self.recomputed += 1
            self.copy_into(p, gids, cs, False)
            return
        for g in gids if len(gids) > 1 else ():
            if self.try_join(p, kind, [g], cs):
                return
        self.new_group(p)

    def new_group(self, p):
        kind = fusible_kind(p)
        x = p.inputs[0] if kind == "reduce" else p.outputs[0]
        g = _Group(next(self.ids), self.dims.cls(x), self.index[p])
        self.groups[g.gid] = g
        if kind == "reduce":
            g.raxes = p.op.axis
            g.kept_members.add(p)
        g.role[p] = "reduce" if kind == "reduce" else "full"
        g.succ.update(self.clients(p))
        self.node_groups[p] = [g.gid]

    def _role(self, p, group, cs=None):
        """'kept' if ``p``'s value is constant along ``group``'s reduced axes, else 'full'."""
        if group.raxes is None:
            return "full"
        return "kept" if self.kept(p.outputs[0], group.space, group.raxes) else "full"

    def kept(self, var, space, raxes):
        """Is ``var`` constant along the reduced axes ``raxes`` of ``space``: of static size
        1 there (keepdims-like), or with them dropped (the kept classes, in order)?"""
        one = self.dims.find(("static", 1))
        if var.ndim == len(space):
            return all(var.type.shape[a] == 1 for a in raxes if self.dims.find(space[a]) != one)
        kept = [self.dims.find(space[a]) for a in range(len(space)) if a not in raxes]
        return var.ndim == 0 or var.ndim == len(kept) and all(
            var.type.shape[d] == 1 or self.dims.find(c) == kept[d]
            for d, c in enumerate(self.dims.cls(var)))

    def set_roles(self, g):
        """Roles of every member of the reduction group ``g`` from its space and axes."""
        for m in g.role:
            r = "reduce" if fusible_kind(m) == "reduce" else self._role(m, g)
            g.role[m] = r
            (g.kept_members.discard if r == "full" else g.kept_members.add)(m)

    def passes(self, members, space, raxes):
        """How many passes over ``raxes`` the group of ``members`` takes, as the lowering
        counts them: a full-space value runs in the pass after the reductions it reads."""
        level = {}
        for m in sorted(members, key=self.index.__getitem__):
            lv = max((level.get(i.owner, 0) for i in m.inputs), default=0)
            if fusible_kind(m) == "reduce":
                lv = 2 * (lv // 2) + 2
            elif lv % 2 == 0 and not self.kept(m.outputs[0], space, raxes):
                lv += 1
            level[m] = lv
        return (max(level.values(), default=0) + 1) // 2

    def copy_into(self, p, gids, cs, outside):
        """Recompute ``p`` in each group of ``gids`` (a view is always copied)."""
        placed = []
        for gid in gids:
            g = self.groups[gid]
            if len(g.role) >= self.max_group:
                outside = True
                continue
            role = self._role(p, g, cs)
            g.role[p] = role
            g.copies.add(p)
            if role != "full":
                g.kept_members.add(p)
            g.lo = min(g.lo, self.index[p])
            placed.append(gid)
        self.depth.setdefault(p, max((self.depth.get(c, 0) for c in cs), default=0))
        self.node_groups[p] = placed
        if outside:
            self.standalone.add(p)

    def try_join(self, p, kind, gids, cs):
        groups = [self.groups[g] for g in gids]
        if sum(len(g.role) for g in groups) + 1 > self.max_group:
            return False
        out = p.outputs[0]
        external = self.external(p, gids)
        if len(groups) > 1 and self.blocked_between(groups):
            return False
        if kind == "reduce":
            # each group: p's epilogue (kept space), full space reading p back, or a
            # group reducing the same axes of the same space
            x_cls, o_cls = self.dims.cls(p.inputs[0]), self.dims.cls(out)
            for g in groups:
                if g.raxes is None and g.space == o_cls:
                    post = self.downstream(p, g)
                    if any(m not in g.copies and m not in post and self.external(m, [g.gid])
                           for m in g.role):
                        return False  # a kept-space output that no reduction computed
                elif g.space != x_cls or g.raxes not in (None, p.op.axis):
                    return False  # another index space, or other reduced axes
            members = {p}.union(*(g.role for g in groups))
            if self.passes(members, x_cls, p.op.axis) > MAX_PASSES:
                return False
            if (external or len(groups) > 1) and not self.acyclic(p, groups):
                return False
            g = self.merge(groups)
            g.space, g.raxes = x_cls, p.op.axis
            self._add(p, g, "reduce", cs)
            self.set_roles(g)
            return True
        reductions = [g for g in groups if g.raxes is not None]
        space = (reductions or groups)[0].space
        if any(g.space != space for g in groups):
            return False
        raxes = reductions[0].raxes if reductions else None
        if reductions and (any(g.raxes != raxes for g in reductions) or (
                len(groups) > 1 and self.passes({p}.union(*(g.role for g in groups)),
                                                space, raxes) > MAX_PASSES)):
            return False
        role = "kept" if reductions and self.kept(out, space, raxes) else "full"
        if external and (role == "kept" or self.dims.cls(out) != space):
            return False
        if (external or len(groups) > 1) and not self.acyclic(p, groups):
            return False
        base = self.merge(groups)
        base.space, base.raxes = space, raxes
        self._add(p, base, role, cs)
        if len(groups) > 1 and reductions:
            self.set_roles(base)
        return True

    def _add(self, p, g, role, cs):
        g.role[p] = role
        if role != "full":
            g.kept_members.add(p)
        g.succ.update(cs)
        g.lo = min(g.lo, self.index[p])
        self.node_groups[p] = [g.gid]

    def merge(self, groups):
        base = max(groups, key=lambda g: len(g.role))
        for g in groups:
            if g is base:
                continue
            for m, r in g.role.items():  # a copy held by both stays one copy
                r = "full" if "full" in (r, base.role.get(m)) else r
                base.role[m] = r
                (base.kept_members.discard if r == "full" else base.kept_members.add)(m)
            base.copies |= g.copies
            base.succ |= g.succ
            base.lo, base.hi = min(base.lo, g.lo), max(base.hi, g.hi)
            self.merged[g.gid] = base.gid
            del self.groups[g.gid]
        return base

    def downstream(self, p, g):
        """Members of ``g`` computed from ``p``'s value."""
        seen, stack = set(), [c for c in self.clients(p) if c in g.role]
        while stack:
            n = stack.pop()
            if n not in seen:
                seen.add(n)
                stack.extend(c for c in self.clients(n) if c in g.role)
        return seen

    def merge_reductions(self):
        """Merge reduction groups over the same axes of the same space where one reads what
        the other computes or both read a same value, as passes and acyclicity allow.

        The consumers-first walk leaves a reduction read by groups that cannot all take it
        in a group of its own: the stable cross-entropy's row max, its log-sum-exp, the
        cost and the one-hot sum of its gradient are read by the gradient's column sum
        too, and made four row kernels over the same rows, each a launch and a compile.
        Groups are visited in order; each is offered to the earlier groups it shares a
        value with (a union of groups, so near-linear)."""
        seen = {}  # (space, axes, variable) -> gids of the groups reading or computing it
        for g in sorted(self.groups.values(), key=lambda g: g.hi):
            if g.raxes is None or g.gid not in self.groups:
                continue
            key = (g.space, g.raxes)
            values = {v for m in g.role for v in (*m.inputs, *m.outputs) if not isinstance(v, Constant)}
            partners = {self.find(gid) for v in values for gid in seen.get((key, v), ())}
            for gid in sorted(partners):
                other, mine = self.groups.get(gid), self.groups[self.find(g.gid)]
                if other is not None and other is not mine and self.try_merge(other, mine):
                    self.merged_reductions += 1
            gid = self.find(g.gid)
            for v in values:
                seen.setdefault((key, v), []).append(gid)

    def try_merge(self, a, b):
        """Merge the reduction groups ``a`` and ``b`` (same space and axes) if the result is
        one kernel: within the group size, no blocked edge inside, at most ``MAX_PASSES``
        passes, no path leaving it and coming back."""
        members = set(a.role) | set(b.role)
        if (len(members) > self.max_group or self.blocked_between([a, b])
                or self.passes(members, a.space, a.raxes) > MAX_PASSES
                or not self.acyclic(None, [a, b])):
            return False
        self.set_roles(self.merge([a, b]))
        return True

    def acyclic(self, p, groups):
        """Can ``p`` (None: no node) and ``groups`` become one kernel without a path leaving
        it and coming back?"""
        inside = {("g", g.gid) for g in groups}
        hi = max(g.hi for g in groups)
        starts = set(self.clients(p) if p is not None else ()).union(*(g.succ for g in groups))
        seen, frontier = set(), []
        for c in starts:
            for u in self.units(c) - inside:
                if u not in seen:
                    seen.add(u)
                    frontier.append(u)
        budget = SEARCH_BUDGET
        while frontier:
            kind, ref = frontier.pop()
            budget -= 1
            if budget < 0:
                return False
            if kind == "g":
                g = self.groups[self.find(ref)]
                if g.lo > hi:
                    continue
                succ = g.succ
            else:
                if self.index[ref] > hi:
                    continue
                succ = self.clients(ref)
            for c in succ:
                for u in self.units(c):
                    if u in inside:
                        return False
                    if u not in seen:
                        seen.add(u)
                        frontier.append(u)
        return True
