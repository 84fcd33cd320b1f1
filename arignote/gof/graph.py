"""Theano's ``theano.gof.graph``: walking and copying graphs, under its names.

``inputs`` is :func:`arignote.graph.basic.graph_inputs`; ``clone_replace``
(``arignote.clone``) copies a graph with some variables replaced, sharing its
inputs, as ``theano.clone`` did.
"""
from arignote.errors import ArignoteTypeError, describe
from arignote.graph.basic import (Apply, Constant, Variable, ancestors, clone_graph, graph_inputs,
                                  toposort)
from arignote.ops.basic import as_tensor_variable


def inputs(variables, blockers=None):
    """The roots (inputs, shared variables, constants) the ``variables`` depend on,
    stopping at ``blockers``."""
    return graph_inputs(list(variables), blockers or ())


def variables(i, o):
    """Every variable on a path from the inputs ``i`` to the outputs ``o``."""
    return [v for v in ancestors(list(o), blockers=i)][::-1]


def ops(i, o):
    """The Apply nodes between the inputs ``i`` and the outputs ``o``."""
    return io_toposort(i, o)


def io_toposort(inputs, outputs):
    """The Apply nodes computing ``outputs`` from ``inputs``, each after those it needs."""
    return toposort(list(outputs), blockers=list(inputs))


def clone(i, o, copy_inputs=True):
    """``(new inputs, new outputs)``: a copy of the graph from ``i`` to ``o`` (the inputs
    themselves copied too unless ``copy_inputs`` is False)."""
    replace = {v: v.clone() for v in i} if copy_inputs else {v: v for v in i}
    new_outputs, memo = clone_graph(list(o), replace=replace, keep=i)
    return [memo[v] for v in i], new_outputs


def clone_replace(output, replace=None, strict=True, share_inputs=True):
    """A copy of the graph computing ``output`` (a variable or a list) in which each
    key of ``replace`` (a dict or pairs) is replaced by its value. The graph's inputs
    are shared with the original unless ``share_inputs`` is False; with ``strict``
    a replacement must have its variable's type (Theano's ``theano.clone``)."""
    pairs = list(replace.items()) if isinstance(replace, dict) else list(replace or ())
    memo = {}
    for old, new in pairs:
        if not isinstance(old, Variable):
            raise ArignoteTypeError(f"clone: replace keys must be graph variables, got {old!r}")
        new = new if isinstance(new, Variable) else as_tensor_variable(new)
        fits = old.type.accepts(new.type) if strict else old.type.compatible(new.type)
        if not fits and (strict or getattr(old.type, "ndim", None) != getattr(new.type, "ndim", 0)):
            raise ArignoteTypeError(
                f"clone: {describe(old)} of type {old.type} cannot be replaced by {describe(new)} of "
                f"type {new.type}" + ("" if not strict else "; pass strict=False to allow another "
                                      "static shape or dtype of the same rank"))
        memo[old] = new
    single = not isinstance(output, (list, tuple))
    outputs = [output] if single else list(output)
    keep = [] if not share_inputs else [v for v in graph_inputs(outputs, memo) if v not in memo]
    new_outputs, _ = clone_graph(outputs, replace=memo, keep=keep)
    return new_outputs[0] if single else new_outputs


__all__ = ["inputs", "ancestors", "variables", "ops", "io_toposort", "clone", "clone_replace",
           "Apply", "Variable", "Constant"]
