"""Ops that carry an inner graph: :class:`InnerGraphOp`, the base of ``Fused``
(and of the loop and branch ops to come).

Such an op holds a closed graph, ``inputs`` (root variables) to ``outputs``,
and says how its outer outputs follow from it (``Fused``: one application;
a loop: one application per step). The base gives every such op the same
answers to the questions the rest of Arignote asks of any op:

* **value**: equality and hash come from a canonical key of the inner graph
  (ops, types, constants, wiring; never variable identities), so two ops
  with equal inner graphs are equal and the merge pass merges their nodes;
* **ownership**: the op owns the graph it is given and nothing ever rewires
  it; :meth:`clone` makes an equal op over a private copy, and the graph
  handed to a compiler (:meth:`fgraph`) is a copy too;
* **pickling**: the graph pickles (at any depth: see ``graph/pickling.py``),
  what was derived or compiled from it (``cache``) does not;
* **shapes**: ``infer_shape`` walks the inner graph's own ``infer_shape``;
* **gradient**: :meth:`L_op_inner` differentiates :meth:`inline`'s graph
  with the ``grad`` the gradient module passes in (ops sit below it);
* **running**: :meth:`make_step` compiles the inner graph with a
  ``compile_inner`` the runtime passes in (a Program on the outer backend,
  rewritten in the outer mode), so ops never import the runtime; ``perform``
  (the oracle) passes :func:`reference`, which runs each inner node's
  ``perform``.
"""
from arignote.errors import ArignoteTypeError
from arignote.graph.basic import Apply, Constant, clone_graph, toposort
from arignote.graph.fg import FunctionGraph
from arignote.graph.op import Op
from arignote.ops.static_shape import _i64


class InnerGraphOp(Op):
    """An op computing its outputs from a closed inner graph ``inputs -> outputs``.

    Subclasses say how, three ways that must agree: :meth:`run_inner` (given the
    compiled inner graph), :meth:`inline` (as ordinary nodes) and
    :meth:`inner_shapes`; and ``make_node`` when their outputs do not have the
    inner outputs' types."""

    def __init__(self, inputs, outputs):
        self._set_inner(inputs, outputs)

    def _set_inner(self, inputs, outputs):
        self.inputs, self.outputs = list(inputs), list(outputs)
        self.nodes = toposort(self.outputs, blockers=self.inputs)
        self._key = self._inner_key()
        self._hash = None
        #: what was derived from the inner graph (a lowered kernel, a compiled step):
        #: never pickled, never shared with a clone
        self.cache = {}

    def _inner_key(self):
        """The inner computation as nested tuples: ops, types, constants, wiring."""
        index = {v: ("in", k, v.type) for k, v in enumerate(self.inputs)}
        rows = []
        for n, node in enumerate(self.nodes):
            args = []
            for v in node.inputs:
                if v in index:
                    args.append(index[v])
                elif isinstance(v, Constant):
                    args.append(("const", v.signature()))
                else:
                    raise ArignoteTypeError(
                        f"{type(self).__name__}: the inner graph reads {v} ({v.type}), which is "
                        f"neither one of its inputs {self.inputs} nor a constant")
            rows.append((node.op, tuple(args)))
            for k, out in enumerate(node.outputs):
                index[out] = ("node", n, k)
        for out in self.outputs:
            if out not in index:  # an output that is a constant
                index[out] = ("const", out.signature())
        return tuple(rows), tuple(index[o] for o in self.outputs)

    # ---------------------------------------------------------- value semantics

    def _props(self):
        return super()._props() + (self._key,)

    def __eq__(self, other):
        return self is other or (type(self) is type(other) and hash(self) == hash(other)
                                 and self._props() == other._props())

    def __hash__(self):
        if self._hash is None:  # (the key is a deep tuple: hash it once)
            self._hash = hash((type(self), self._props()))
        return self._hash

    def __str__(self):
        names = [getattr(n.op, "scalar_op", None) or type(n.op).__name__ for n in self.nodes]
        return f"{type(self).__name__}{{{','.join(map(str, names))}}}"

    __repr__ = __str__

    def clone(self):
        """An equal op over a private copy of the inner graph (nothing derived carried over)."""
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        fresh = [v.clone() for v in self.inputs]
        outputs, _ = clone_graph(self.outputs, replace=dict(zip(self.inputs, fresh)))
        new._set_inner(fresh, outputs)
        return new

    def fgraph(self, outputs=None):
        """The inner graph as a FunctionGraph of its own, free to rewrite and compile;
        with ``outputs`` (some of the inner outputs), only the part computing them
        (over all the inner inputs, so it is called with the same values)."""
        return FunctionGraph(self.inputs, self.outputs if outputs is None else outputs, clone=True)

    def __getstate__(self):
        state = dict(self.__dict__)
        for derived in ("nodes", "_key", "_hash", "cache"):
            state.pop(derived, None)
        return state

    def __setstate__(self, state):
        inputs, outputs = state.pop("inputs"), state.pop("outputs")
        self.__dict__.update(state)
        self._set_inner(inputs, outputs)

    # ---------------------------------------------------------- graph building

    def make_node(self, *inputs):
        """Outer inputs of the inner inputs' types; outputs of the inner outputs' types."""
        if len(inputs) != len(self.inputs):
            raise ArignoteTypeError(f"{self} takes {len(self.inputs)} inputs, got {len(inputs)}")
        for k, (inner, outer) in enumerate(zip(self.inputs, inputs)):
            if not inner.type.accepts(outer.type):
                raise ArignoteTypeError(f"{self}: input {k} must be {inner.type}, got {outer.type}")
        return Apply(self, list(inputs), [o.type for o in self.outputs])

    def inline(self, inputs):
        """The outer outputs as ordinary nodes over ``inputs``: here, the inner
        graph rebuilt once over them (a loop of known length would repeat it)."""
        outs, _ = clone_graph(self.outputs, replace=dict(zip(self.inputs, inputs)))
        return outs

    def inner_shapes(self, input_shapes):
        """The shapes of the inner outputs, given those of the inner inputs."""
        shapes = dict(zip(self.inputs, input_shapes))
        for v in self.outputs:
            if isinstance(v, Constant):
                shapes[v] = tuple(_i64(s) for s in v.type.shape)
        for inner in self.nodes:
            for v in inner.inputs:
                if v not in shapes:  # a constant: its shape is static
                    shapes[v] = tuple(_i64(s) for s in v.type.shape)
            out_shapes = inner.op.infer_shape(inner, [shapes[v] for v in inner.inputs])
            for out, shp in zip(inner.outputs, out_shapes):
                shapes[out] = tuple(shp)
        return [shapes[o] for o in self.outputs]

    def infer_shape(self, node, input_shapes):
        return self.inner_shapes(input_shapes)

    def L_op(self, inputs, outputs, output_grads):
        raise NotImplementedError(f"{self} is differentiated through L_op_inner (by arignote.gradient)")

    def L_op_inner(self, inputs, outputs, output_grads, grad):
        """The gradient, given ``grad`` (``arignote.gradient.grad``, passed in: the
        gradient layer sits above the ops): the gradient of :meth:`inline`'s graph."""
        inner_outputs = self.inline(inputs)
        known = {o: g for o, g in zip(inner_outputs, output_grads) if g is not None}
        wrt = [i for i in inputs if i.type.is_float]
        grads = iter(grad(None, wrt, known_grads=known, disconnected_inputs="ignore",
                          return_disconnected="none"))
        return [next(grads) if i.type.is_float else None for i in inputs]

    # ---------------------------------------------------------- running

    def run_inner(self, inner, inputs):
        """The outer outputs, given ``inner``, the compiled inner graph (a list of
        values to a list of values): here, one application."""
        return inner(list(inputs))

    def make_step(self, node, compile_inner, alloc=None):
        """``node``'s step (input values -> output values). ``compile_inner(fgraph)``
        compiles the inner graph (a list of values to a list of values): the runtime
        passes one building a Program with the outer backend and mode. ``alloc(shape,
        dtype)``, where given, is storage for what the step makes (the runtime's buffer
        pool, which hands an array out again once nothing refers to it)."""
        return InnerStep(self, compile_inner(self.fgraph()))

    def perform(self, node, inputs):
        step = self.cache.get("reference")
        if step is None:
            step = self.cache["reference"] = self.make_step(node, reference)
        return step(inputs)


class InnerStep:
    """A step running an inner-graph op over its compiled inner graph ``inner``."""

    __slots__ = ("op", "inner")

    def __init__(self, op, inner):
        self.op, self.inner = op, inner

    def __call__(self, args):
        return self.op.run_inner(self.inner, args)


def reference(fgraph):
    """A ``compile_inner`` needing no runtime: ``fgraph``'s nodes run one by one
    through their own ``perform`` (the NumPy oracle); constants are copied out."""
    nodes = fgraph.toposort()

    def run(values):
        env = dict(zip(fgraph.inputs, values))
        for node in nodes:
            args = [env[v] if v in env else v.data for v in node.inputs]
            env.update(zip(node.outputs, node.op.perform(node, args)))
        return [env[o] if o in env else o.data.copy() for o in fgraph.outputs]

    return run
