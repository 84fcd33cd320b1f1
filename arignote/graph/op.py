"""The Op base class: an operation is a value defined by its parameters.

An Op lists its parameters in ``__props__``; equality and hashing come from
them, so merging equal subgraphs is a dictionary lookup. Subclasses provide:

* ``make_node(*inputs)``: check inputs, infer output types (static shapes
  included), raise a clear error at build time;
* ``perform(node, inputs)``: NumPy semantics, the oracle; returns a list of
  arrays and never writes into its inputs;
* ``L_op(inputs, outputs, output_grads)``: the gradient as graph nodes,
  one entry per input (``None`` where the input is not differentiable);
* ``infer_shape(node, input_shapes)``: output shapes as symbolic scalars;
* ``fusion_kind``: the fuser's first question ('elemwise', 'reduce', 'view' or
  'opaque'); a 'view' fuses where lowering can apply it as index arithmetic.
"""
from arignote.graph.props import Props


class Op(Props):
    """An operation of the graph (see the module's docstring for what a subclass gives)."""

    fusion_kind = "opaque"
    #: {output index: [input index]} for outputs that may be views of inputs.
    view_map = {}

    def __str__(self):
        name = type(self).__name__
        if not self.__props__:
            return name
        return f"{name}{{{', '.join(f'{p}={getattr(self, p)!r}' for p in self.__props__)}}}"

    __repr__ = __str__

    def make_node(self, *inputs):
        raise NotImplementedError(f"{type(self).__name__}.make_node")

    def __call__(self, *inputs):
        node = self.make_node(*inputs)
        return node.outputs[0] if len(node.outputs) == 1 else node.outputs

    def perform(self, node, inputs):
        raise NotImplementedError(f"{self} has no perform (NumPy implementation)")

    def L_op(self, inputs, outputs, output_grads):
        raise NotImplementedError(f"the gradient of {self} is not implemented")

    def infer_shape(self, node, input_shapes):
        raise NotImplementedError(f"{self} has no infer_shape")
