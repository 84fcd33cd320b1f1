"""Fused: a group of nodes the compiler turns into one kernel.

The fusion pass (``fuse`` phase) replaces a connected group of elementwise
ops, views and reductions by one :class:`Fused` node holding the group as an
inner graph. The compiler lowers that inner graph to one Kernel; ``perform``
runs it node by node, so every backend (the reference one included) can
execute a fused graph and fused and unfused compilation can be compared.

Two Fused ops are equal when their inner graphs are the same computation,
so equal groups merge and share one compiled kernel.
"""
from arignote.errors import ArignoteTypeError
from arignote.graph.basic import Apply, Constant, clone_graph, toposort
from arignote.graph.op import Op


class Fused(Op):
    """One kernel's worth of graph: ``inputs`` (root variables) to ``outputs``."""

    fusion_kind = "kernel"

    def __init__(self, inputs, outputs):
        self.inputs, self.outputs = list(inputs), list(outputs)
        self.nodes = toposort(self.outputs, blockers=self.inputs)
        self._signature = self._compute_signature()
        self._program = None

    def _compute_signature(self):
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
                    raise ArignoteTypeError(f"Fused: {v} is neither an input nor computed inside")
            rows.append((node.op, tuple(args)))
            for k, out in enumerate(node.outputs):
                index[out] = ("node", n, k)
        return tuple(rows), tuple(index[o] for o in self.outputs)

    def _props(self):
        return self._signature

    def __str__(self):
        names = [getattr(n.op, "scalar_op", None) or type(n.op).__name__ for n in self.nodes]
        return f"Fused{{{','.join(map(str, names))}}}"

    def make_node(self, *inputs):
        if len(inputs) != len(self.inputs):
            raise ArignoteTypeError(f"{self} takes {len(self.inputs)} inputs, got {len(inputs)}")
        for k, (inner, outer) in enumerate(zip(self.inputs, inputs)):
            if not inner.type.accepts(outer.type):
                raise ArignoteTypeError(f"{self}: input {k} must be {inner.type}, got {outer.type}")
        return Apply(self, list(inputs), [o.type for o in self.outputs])

    def perform(self, node, inputs):
        if self._program is None:
            from arignote.graph.fg import FunctionGraph
            from arignote.runtime.program import Program
            fg = FunctionGraph(self.inputs, self.outputs, clone=False)
            self._program = Program(fg, self.inputs)
        return self._program.run(list(inputs))

    def inline(self, inputs):
        """The inner graph rebuilt over ``inputs``: its outputs."""
        outs, _ = clone_graph(self.outputs, replace=dict(zip(self.inputs, inputs)))
        return outs

    def L_op(self, inputs, outputs, output_grads):
        from arignote.gradient import grad
        inner_outputs = self.inline(inputs)
        known = {o: g for o, g in zip(inner_outputs, output_grads) if g is not None}
        wrt = [i for i in inputs if i.type.is_float]
        grads = iter(grad(None, wrt, known_grads=known, disconnected_inputs="ignore",
                          return_disconnected="none"))
        return [next(grads) if i.type.is_float else None for i in inputs]

    def infer_shape(self, node, input_shapes):
        from arignote.tensor.basic import constant
        shapes = dict(zip(self.inputs, input_shapes))
        for inner in self.nodes:
            for v in inner.inputs:
                if v not in shapes:  # a constant
                    shapes[v] = tuple(constant(s) for s in v.type.shape)
            out_shapes = inner.op.infer_shape(inner, [shapes[v] for v in inner.inputs])
            for out, shp in zip(inner.outputs, out_shapes):
                shapes[out] = tuple(shp)
        return [shapes[o] for o in self.outputs]

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_program"] = None
        state.pop("_lowered", None)  # the compiler's lowering, redone on demand
        return state
