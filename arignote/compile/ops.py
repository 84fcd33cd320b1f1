"""Theano's ``as_op``: a Python function on arrays used as an op of the graph.

The op runs the function on every backend (its ``perform``: the compiled
backends call it as a step of their program) and has no gradient, as in
Theano; its output types are declared, and each result is checked against
them like any op's.
"""
from arignote.errors import ArignoteTypeError
from arignote.graph.basic import Apply, Variable
from arignote.graph.op import Op
from arignote.graph.type import Type
from arignote.ops.basic import as_tensor_variable


def _as_type(t, what):
    """A type, or a constructor such as ``T.dmatrix`` (Theano's types were callable)."""
    if isinstance(t, Type):
        return t
    if callable(t):
        made = t()
        if isinstance(made, Variable):
            return made.type
    raise ArignoteTypeError(f"as_op: {what} must be types (T.TensorType('float64', (False,)) or "
                            f"T.dvector), got {t!r}")


class FromFunctionOp(Op):
    """An op that runs ``fn`` on NumPy arrays (see :func:`as_op`)."""

    __props__ = ("fn", "itypes", "otypes")

    def __init__(self, fn, itypes, otypes, infer_shape=None):
        self.fn, self.itypes, self.otypes = fn, tuple(itypes), tuple(otypes)
        self._infer_shape = infer_shape

    def __str__(self):
        return f"FromFunctionOp{{{getattr(self.fn, '__name__', self.fn)}}}"

    def make_node(self, *inputs):
        if len(inputs) != len(self.itypes):
            raise ArignoteTypeError(f"{self} takes {len(self.itypes)} inputs, got {len(inputs)}")
        inputs = [as_tensor_variable(x) for x in inputs]
        for k, (x, t) in enumerate(zip(inputs, self.itypes)):
            if not t.accepts(x.type):
                raise ArignoteTypeError(f"{self}: input {k} ({x}) has type {x.type}, expected {t}")
        return Apply(self, inputs, list(self.otypes))

    def perform(self, node, inputs):
        out = self.fn(*inputs)
        outs = list(out) if len(self.otypes) > 1 else [out]
        return [t.filter(o, what=f"output {k} of {self}", allow_downcast=True)
                for k, (o, t) in enumerate(zip(outs, self.otypes))]

    def infer_shape(self, node, input_shapes):
        if self._infer_shape is None:
            raise NotImplementedError(f"{self} has no infer_shape (pass infer_shape= to as_op)")
        return self._infer_shape(node, input_shapes)


def as_op(itypes, otypes, infer_shape=None):
    """Decorator: the function becomes an op taking inputs of ``itypes`` and giving
    outputs of ``otypes`` (Theano's ``theano.compile.ops.as_op``)."""
    itypes = [_as_type(t, "itypes") for t in itypes]
    otypes = [_as_type(t, "otypes") for t in otypes]

    def make(fn):
        return FromFunctionOp(fn, itypes, otypes, infer_shape)
    return make


__all__ = ["as_op", "FromFunctionOp"]
