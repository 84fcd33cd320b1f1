"""The rewrite engine: node rewriters, pattern rewrites as data, an
equilibrium driver and a registry of named phases.

A *node rewriter* looks at one Apply and returns replacements for its outputs
(a list, or a dict old -> new) or None. It declares the ops it tracks so the
driver only offers it matching nodes: an Op class, or an elementwise scalar
op by name (``"mul"`` tracks ``Elemwise{mul}``). Replacements go through the
FunctionGraph, which keeps clients consistent and rejects a replacement that
changes a variable's type, naming the rewrite.

The equilibrium driver applies a set of rewriters until nothing changes. A
rewriter that keeps firing (more than ``max_use_ratio`` times the graph's
size) is reported with a RewriteError, never silently cut off.
"""
import time
from collections import Counter

from arignote.errors import RewriteError
from arignote.graph.basic import Constant, Variable
from arignote.ops.elemwise import Elemwise, scalar_op


def _track_key(op):
    """The key a node is tracked under: its scalar op name if elementwise, else its class."""
    scalar = getattr(op, "scalar_op", None)
    return scalar.name if scalar is not None else type(op)


class NodeRewriter:
    """``fn(fgraph, node)`` -> replacements or None, offered nodes whose op is in ``tracks``."""

    def __init__(self, fn, tracks=None, name=None):
        self.fn = fn
        self.tracks = tuple(tracks) if tracks is not None else None
        self.name = name or fn.__name__

    def transform(self, fgraph, node):
        return self.fn(fgraph, node)

    def __repr__(self):
        return self.name


def node_rewriter(tracks=None, name=None):
    """Decorator: ``@node_rewriter(["mul"])`` turns a function into a NodeRewriter."""
    def wrap(fn):
        return NodeRewriter(fn, tracks, name)
    return wrap


# ------------------------------------------------------------------ patterns

class PatternRewriter(NodeRewriter):
    """A rewrite written as data: ``(("mul", "x", 1), "x")``.

    Patterns are nested tuples ``(op, *args)``: ``op`` is an elementwise scalar
    op name or an Op class; an argument is a pattern variable (a string, bound
    to whatever input stands there; the same name must bind the same
    variable), a number (matches a constant whose every element equals it),
    or a nested pattern. ``commutative`` ops also match with their two inputs
    swapped. The output pattern uses the same syntax (a name builds that
    elementwise op); a callable in it receives the bindings. ``condition(bindings, node)`` may veto a match.
    """

    def __init__(self, in_pattern, out_pattern, name=None, condition=None):
        self.in_pattern, self.out_pattern, self.condition = in_pattern, out_pattern, condition
        super().__init__(self._apply, [in_pattern[0]], name or f"{_fmt(in_pattern)} -> {_fmt(out_pattern)}")

    def _apply(self, fgraph, node):
        bindings = match(self.in_pattern, node.outputs[0])
        if bindings is None or (self.condition is not None and not self.condition(bindings, node)):
            return None
        return [build(self.out_pattern, bindings)]


COMMUTATIVE = {"add", "mul", "maximum", "minimum", "eq", "neq", "and_", "or_", "xor"}


def match(pattern, var, bindings=None):
    """Bindings (name -> variable) if ``var`` matches ``pattern``, else None."""
    bindings = dict(bindings or {})
    if isinstance(pattern, str):
        if pattern in bindings and bindings[pattern] is not var:
            return None
        bindings[pattern] = var
        return bindings
    if isinstance(pattern, (int, float)):
        return bindings if constant_value(var) == pattern else None
    op_spec, *args = pattern
    node = var.owner
    if node is None or len(node.inputs) != len(args) or not _op_matches(op_spec, node.op):
        return None
    orders = [node.inputs]
    if op_spec in COMMUTATIVE and len(args) == 2:
        orders.append(node.inputs[::-1])
    for inputs in orders:
        b = bindings
        for sub, inp in zip(args, inputs):
            b = match(sub, inp, b)
            if b is None:
                break
        if b is not None:
            return b
    return None


def _op_matches(spec, op):
    return _track_key(op) == spec or (isinstance(spec, type) and isinstance(op, spec))


def build(pattern, bindings):
    """The variable an output pattern describes (a name is an elementwise op's, as in
    input patterns)."""
    if isinstance(pattern, str):
        return bindings[pattern]
    if callable(pattern):
        return pattern(bindings)
    if isinstance(pattern, (int, float)):
        return pattern
    op_spec, *args = pattern
    fn = Elemwise(scalar_op(op_spec)) if isinstance(op_spec, str) else op_spec
    return fn(*[build(a, bindings) for a in args])


def constant_value(var):
    """The single value every element of a constant holds, else None."""
    if isinstance(var, Constant) and var.data.size > 0:
        flat = var.data.reshape(-1)
        first = flat[0]
        if (flat == first).all():
            return first.item()
    return None


def add_terms(v):
    """The terms of a tree of elementwise additions of ``v``'s dtype and rank, left to
    right (iterative: a gradient's sums may be deeper than Python's recursion)."""
    terms, stack = [], [v]
    while stack:
        w = stack.pop()
        node = w.owner
        if node is not None and isinstance(node.op, Elemwise) and node.op.scalar_op.name == "add" \
                and all(i.dtype == v.dtype and i.ndim == v.ndim for i in node.inputs):
            stack.extend(reversed(node.inputs))
        else:
            terms.append(w)
    return terms


def _fmt(p):
    if isinstance(p, tuple):
        head = p[0] if isinstance(p[0], str) else p[0].__name__
        return f"{head}({', '.join(_fmt(a) for a in p[1:])})"
    return getattr(p, "__name__", str(p))


# ------------------------------------------------------------------ drivers

class Stats:
    """What a compilation did: per phase node counts and time, per rewrite fire counts."""

    def __init__(self):
        self.phases = []          # (phase name, nodes before, nodes after, seconds)
        self.fired = Counter()    # rewrite name -> times it fired

    def total_time(self):
        return sum(p[3] for p in self.phases)

    def format(self):
        lines = [f"{'phase':<14}{'nodes in':>10}{'nodes out':>11}{'ms':>10}"]
        for name, before, after, secs in self.phases:
            lines.append(f"{name:<14}{before:>10}{after:>11}{secs * 1e3:>10.2f}")
        lines.append(f"{'total':<14}{'':>21}{self.total_time() * 1e3:>10.2f}")
        if self.fired:
            lines.append("rewrites fired:")
            lines += [f"  {n:>6}  {name}" for name, n in self.fired.most_common()]
        return "\n".join(lines)


class Equilibrium:
    """Apply ``rewriters`` to every node, again and again, until nothing changes.

    ``between`` passes (merging, typically) run after every sweep that changed
    the graph, so a rewrite waiting for two equal subgraphs to become one
    node (``switch(c, x, x) -> x``) gets its chance in the same phase.
    """

    def __init__(self, rewriters, max_use_ratio=20, between=()):
        self.rewriters = list(rewriters)
        self.between = list(between)
        self.max_use_ratio = max_use_ratio
        self.by_key, self.general = {}, []
        for rw in self.rewriters:
            if rw.tracks is None:
                self.general.append(rw)
            for key in rw.tracks or ():
                self.by_key.setdefault(key, []).append(rw)

    def _candidates(self, op):
        """Rewriters tracking the op's scalar name (if elementwise) or any of its classes."""
        keys = [op.scalar_op.name] if getattr(op, "scalar_op", None) is not None else []
        found = [rw for key in keys + list(type(op).__mro__) for rw in self.by_key.get(key, [])]
        return found + self.general

    def apply(self, fgraph, stats):
        budget = self.max_use_ratio * max(len(fgraph.nodes), 10)
        changed = True
        while changed:
            changed = False
            for node in fgraph.toposort():
                if node not in fgraph.nodes:
                    continue
                for rw in self._candidates(node.op):
                    if self._try(rw, fgraph, node, stats):
                        changed = True
                        if stats.fired[rw.name] > budget:
                            raise RewriteError(
                                f"rewrite {rw.name} fired {stats.fired[rw.name]} times on a graph "
                                f"of {len(fgraph.nodes)} nodes: it probably undoes itself or another "
                                f"rewrite")
                        break
            if changed:
                for gp in self.between:
                    gp.apply(fgraph, stats)

    @staticmethod
    def _try(rw, fgraph, node, stats):
        result = rw.transform(fgraph, node)
        if not result:
            return False
        pairs = result.items() if isinstance(result, dict) else zip(node.outputs, result)
        pairs = [(old, new) for old, new in pairs if new is not None and new is not old]
        if not pairs:
            return False
        for _, new in pairs:
            if not isinstance(new, Variable):
                raise RewriteError(f"rewrite {rw.name} returned {type(new).__name__}, not a variable")
        fgraph.replace_all(pairs, reason=rw.name)
        stats.fired[rw.name] += 1
        return True


class GraphPass:
    """A whole-graph pass: ``fn(fgraph, stats)``."""

    def __init__(self, fn, name=None):
        self.fn, self.name = fn, name or fn.__name__

    def apply(self, fgraph, stats):
        self.fn(fgraph, stats)


# ------------------------------------------------------------------ registry

PHASES = ("merge", "canonicalize", "stabilize", "specialize", "fuse", "cleanup")
MODES = {
    "fast_run": PHASES,
    "fast_compile": ("merge", "cleanup"),
    "none": (),
}
_REGISTRY = {phase: [] for phase in PHASES}   # phase -> [(rewriter, tags)]
_GRAPH_PASSES = {phase: [] for phase in PHASES}


def register(phase, *tags):
    """Decorator registering a node rewriter (or a pattern) in ``phase`` with ``tags``."""
    if phase not in _REGISTRY:
        raise ValueError(f"unknown phase {phase!r}; phases: {PHASES}")

    def wrap(rw):
        _REGISTRY[phase].append((rw, set(tags) | {rw.name}))
        return rw
    return wrap


def register_pattern(phase, in_pattern, out_pattern, *tags, name=None, condition=None):
    return register(phase, *tags)(PatternRewriter(in_pattern, out_pattern, name, condition))


def register_pass(phase):
    """Decorator registering a whole-graph pass, run before the phase's node rewrites."""
    def wrap(fn):
        _GRAPH_PASSES[phase].append(GraphPass(fn))
        return fn
    return wrap


def rewriters(phase, exclude=()):
    return [rw for rw, tags in _REGISTRY[phase] if not tags & set(exclude)]


def run_phases(fgraph, phases, exclude=(), stats=None):
    """Run each phase (its graph passes, then its rewrites to equilibrium)."""
    stats = stats or Stats()
    for phase in phases:
        before, start = len(fgraph.nodes), time.perf_counter()
        fgraph.phase = phase  # recorded by each replacement: a cycle names its maker
        for gp in _GRAPH_PASSES[phase]:
            gp.apply(fgraph, stats)
        rws = rewriters(phase, exclude)
        if rws:
            Equilibrium(rws, between=_GRAPH_PASSES["merge"]).apply(fgraph, stats)
        stats.phases.append((phase, before, len(fgraph.nodes), time.perf_counter() - start))
    fgraph.phase = None
    return stats
