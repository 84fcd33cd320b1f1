"""Lazy branching: ``ifelse(condition, then_branch, else_branch)`` computes one
branch, never both (Theano's ``ifelse``; ``switch`` computes both, elementwise).

Laziness cannot come from the runtime, which runs every step of a Program, so
it comes from the graph: :class:`IfElse` is an op with an inner graph (see
:mod:`arignote.ops.inner`) that holds both branches, and its step compiles
each branch as a Program of its own (the outer backend and mode, fused like
any graph) and runs only the chosen one. To the fuser and every rewrite of
the outer graph it is one opaque node, so nothing moves a branch's work out
of it.

Which work goes inside a branch is decided by :func:`ifelse` when the graph is
built: a node only one branch needs. What the condition needs, and what both
branches need, is computed anyway; it stays outside and enters as an input.
"""
import numpy as np

from arignote.errors import ArignoteTypeError, ArignoteValueError, describe, format_trace
from arignote.graph.basic import Apply, Constant, Variable, ancestors, clone_graph, toposort, user_trace
from arignote.graph.type import TensorType
from arignote.ops.basic import as_tensor_variable, constant
from arignote.ops.elemwise import cast, neq, switch, zeros_like
from arignote.ops.inner import InnerGraphOp, InnerStep


class IfElse(InnerGraphOp):
    """The then-outputs if ``inputs[0]`` (a scalar) is nonzero, else the else-outputs.

    The inner graph reads ``inputs`` (the condition, then what the branches read)
    and its outputs are the then-outputs followed by as many else-outputs; the
    outer outputs have the join of each pair's types. ``name`` is for printing."""

    fusion_kind = "opaque"  # (the fuser never looks inside: a branch's work stays in it)

    def __init__(self, inputs, then_outputs, else_outputs, name=None):
        if len(then_outputs) != len(else_outputs) or not inputs:
            raise ArignoteValueError(f"internal error: an IfElse needs a condition and as many "
                                     f"then-outputs as else-outputs, got {len(then_outputs)} "
                                     f"and {len(else_outputs)}")
        self.name = name
        super().__init__(inputs, list(then_outputs) + list(else_outputs))

    @property
    def n_outs(self):
        return len(self.outputs) // 2

    def __str__(self):
        return f"IfElse{{{self.name or 'ifelse'}, {len(self.nodes)} nodes}}"

    __repr__ = __str__

    # ---------------------------------------------------------- graph building

    def make_node(self, condition, *inputs):
        _check_condition(condition)
        node = super().make_node(condition, *inputs)
        n = self.n_outs
        types = [_join(k, a, b) for k, (a, b) in
                 enumerate(zip(self.outputs[:n], self.outputs[n:]))]
        return Apply(self, node.inputs, types)

    def inline(self, inputs):
        raise NotImplementedError(f"{self} has no equivalent in ordinary nodes: they would "
                                  f"compute both branches")

    def infer_shape(self, node, input_shapes):
        """Each output's shape as ``switch(condition, then-shape, else-shape)`` over the
        outer inputs' shapes (and values), so asking it computes neither branch. An entry
        that only a branch's own values decide leaves the shape to run time
        (NotImplementedError: ``Shape_i`` is then taken of the computed output)."""
        try:
            shapes = self.inner_shapes(input_shapes)
        except (TypeError, ArignoteValueError) as e:  # (an inner op that cannot say)
            raise NotImplementedError(f"{self}: {e}") from None
        n = self.n_outs
        outside = _Outside(self, node)
        result = []
        for k, out in enumerate(node.outputs):
            entries = []
            for d, static in enumerate(out.type.shape):
                if static is not None:
                    entries.append(constant(np.int64(static)))
                    continue
                a, b = outside(shapes[k][d]), outside(shapes[n + k][d])
                if a is None or b is None:
                    raise NotImplementedError(f"{self}: dimension {d} of output {k} depends on "
                                              f"values computed inside a branch")
                entries.append(a if _same(a, b) else switch(_truth(node.inputs[0]), a, b))
            result.append(tuple(entries))
        return result

    # ---------------------------------------------------------- gradient

    def L_op_inner(self, inputs, outputs, output_grads, grad):
        """An IfElse of the branches' gradients, each computed lazily inside its own
        branch (which recomputes that branch's forward values it needs); none for the
        condition."""
        cond_in, free_in = self.inputs[0], self.inputs[1:]
        wrt = [v for v in free_in if v.type.is_float]
        if not wrt:
            return [None] * len(inputs)
        given = [(k, g) for k, g in enumerate(output_grads) if g is not None]
        g_in = [g.type.make_variable(f"g{k}") for k, g in given]
        n = self.n_outs

        def branch_grads(outs):
            known = {}
            for (k, _), g in zip(given, g_in):
                o = outs[k]
                if isinstance(o, Constant) or not o.type.is_float:
                    continue
                known[o] = known[o] + g if o in known else g
            if not known:
                return [zeros_like(w) for w in wrt]
            gs = grad(None, wrt, known_grads=known, disconnected_inputs="ignore",
                      return_disconnected="zero")
            return [g if g.dtype == w.dtype else cast(g, w.dtype) for g, w in zip(gs, wrt)]

        then_g, else_g = branch_grads(self.outputs[:n]), branch_grads(self.outputs[n:])
        # a private copy: the new op owns its graph (the gradients read this op's nodes)
        own_in = [v.type.make_variable(v.name) for v in [cond_in, *free_in, *g_in]]
        own_out, _ = clone_graph(then_g + else_g,
                                 replace=dict(zip([cond_in, *free_in, *g_in], own_in)))
        op = IfElse(own_in, own_out[:len(wrt)], own_out[len(wrt):],
                    name=f"grad of {self.name or 'ifelse'}")
        outs = op(inputs[0], *inputs[1:], *[g for _, g in given])
        outs = iter(outs if isinstance(outs, list) else [outs])
        return [None] + [next(outs) if v.type.is_float else None for v in free_in]

    # ---------------------------------------------------------- running

    def make_step(self, node, compile_inner, alloc=None):
        """Two inner Programs, one per branch; a call runs the chosen one."""
        n = self.n_outs
        return InnerStep(self, (compile_inner(self.fgraph(self.outputs[:n])),
                                compile_inner(self.fgraph(self.outputs[n:]))))

    def run_inner(self, inner, inputs):
        outs = inner[0 if inputs[0] else 1](list(inputs))
        # an output that is (a view of) an input value is copied: the caller owns it
        arrays = [a for a in inputs[1:] if isinstance(a, np.ndarray)]
        return [o.copy() if isinstance(o, np.ndarray) and
                any(np.may_share_memory(o, a) for a in arrays) else o for o in outs]


class _Outside:
    """A shape entry written over the inner graph, over ``node``'s inputs instead;
    None if it reads values computed inside a branch."""

    def __init__(self, op, node):
        self.to_outer = dict(zip(op.inputs, node.inputs))
        self.computed = {o for n in op.nodes for o in n.outputs}

    def __call__(self, entry):
        entry = as_tensor_variable(entry)
        reached = ancestors([entry])
        if any(v in self.computed for v in reached):
            return None
        if not any(v in self.to_outer for v in reached):
            return entry
        keep = [v for v in reached if v.owner is None]
        return clone_graph([entry], replace=self.to_outer, keep=keep)[0][0]


def _same(a, b):
    if a is b:
        return True
    return isinstance(a, Constant) and isinstance(b, Constant) and a.signature() == b.signature()


def _truth(condition):
    """The condition as a bool scalar (nonzero is true)."""
    return condition if condition.dtype == "bool" else neq(condition, 0)


def _check_condition(condition, where=""):
    t = condition.type
    if not isinstance(t, TensorType) or t.ndim != 0 or t.dtype.startswith("complex"):
        raise ArignoteTypeError(
            f"ifelse(): the condition must be a scalar (bool, int or float; nonzero is true), got "
            f"{describe(condition)} of type {t}{where}; reduce it first (e.g. T.any(c), "
            f"T.all(c), c.sum() > 0)")


def _join(k, a, b, where=""):
    """The type of output ``k``, whose branches give ``a`` and ``b``: static sizes kept
    where they agree."""
    ta, tb = a.type, b.type
    if isinstance(ta, TensorType) and isinstance(tb, TensorType):
        if ta.dtype == tb.dtype and ta.ndim == tb.ndim:
            return TensorType(ta.dtype, tuple(s if s == o else None for s, o in zip(ta.shape, tb.shape)))
        hint = (f"cast one to the other's dtype, e.g. T.cast(x, {str(ta.dtype)!r})"
                if ta.ndim == tb.ndim else
                "give them one rank (e.g. with dimshuffle, reshape or flatten)")
        raise ArignoteTypeError(
            f"ifelse(): the branches of output {k} must have one dtype and rank: then-branch "
            f"{describe(a)} is {ta} ({ta.dtype}, {ta.ndim}-d), else-branch {describe(b)} is {tb} "
            f"({tb.dtype}, {tb.ndim}-d){where}; {hint}")
    if ta != tb:
        raise ArignoteTypeError(f"ifelse(): the branches of output {k} must have one type: "
                                f"then-branch {describe(a)} is {ta}, else-branch {describe(b)} "
                                f"is {tb}{where}")
    return ta


def ifelse(condition, then_branch, else_branch, name=None):
    """``then_branch`` if the scalar ``condition`` is nonzero, else ``else_branch``;
    only the chosen branch is computed.

    Each branch is a variable or a list (tuple) of them, paired in order, each pair
    of one dtype and rank (the result's static shape keeps the sizes the pair
    agrees on). Returns a variable, or a list (tuple) like ``then_branch``. The
    gradient flows into the chosen branch only; the condition gets none."""
    trace = user_trace()
    where = f" (at {format_trace(trace)})" if trace else ""
    condition = _as_variable(condition, "the condition", where)
    _check_condition(condition, where)
    many = isinstance(then_branch, (list, tuple))
    thens = [_as_variable(v, f"then_branch[{k}]", where)
             for k, v in enumerate(then_branch if many else [then_branch])]
    elses = [_as_variable(v, f"else_branch[{k}]", where) for k, v in
             enumerate(else_branch if isinstance(else_branch, (list, tuple)) else [else_branch])]
    if len(thens) != len(elses):
        raise ArignoteValueError(f"ifelse(): then_branch has {len(thens)} outputs and else_branch "
                                 f"{len(elses)}{where}; each output needs one value per branch")
    if not thens:
        raise ArignoteValueError(f"ifelse(): the branches are empty{where}")
    for k, (a, b) in enumerate(zip(thens, elses)):
        _join(k, a, b, where)
    free, inner_in, then_in, else_in = _close(condition, thens, elses)
    cond_in = condition.type.make_variable("condition")
    op = IfElse([cond_in, *inner_in], then_in, else_in, name=name)
    outs = op(condition, *free)
    outs = outs if isinstance(outs, list) else [outs]
    if name is not None:
        for o in outs:
            o.name = name
    if not many:
        return outs[0]
    return type(then_branch)(outs) if isinstance(then_branch, tuple) else outs


def _as_variable(v, what, where):
    if isinstance(v, Variable):
        return v
    try:
        return as_tensor_variable(v)
    except ArignoteTypeError as e:
        raise ArignoteTypeError(f"ifelse(): {what}: {e}{where}") from None


def _close(condition, thens, elses):
    """The branches as inner graphs: ``(free, inner, then, else)``, where the inner graphs
    read ``inner`` in place of the outer variables ``free``. A node goes inside when only
    one branch needs it; what the condition or both branches need stays outside."""
    outside = set(ancestors([condition]))
    both = {n for n in toposort(thens, blockers=outside)} & \
        {n for n in toposort(elses, blockers=outside)}
    outside |= {o for n in both for o in n.outputs}
    free = {}  # (a dict: ordered, and a set)
    for outs in (thens, elses):
        nodes = toposort(outs, blockers=outside)
        made = {o for n in nodes for o in n.outputs}
        for v in [i for n in nodes for i in n.inputs] + list(outs):
            if v not in made and not isinstance(v, Constant):
                free.setdefault(v)
    free = list(free)
    inner = [v.type.make_variable(v.name) for v in free]
    memo = dict(zip(free, inner))
    then_in, _ = clone_graph(thens, replace=memo)
    else_in, _ = clone_graph(elses, replace=memo)
    return free, inner, then_in, else_in


__all__ = ["IfElse", "ifelse"]
