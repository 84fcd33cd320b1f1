"""Shape inference (``canonicalize`` phase): the shape of an intermediate is
computed from the shapes of the inputs, never by computing the intermediate.

``x.shape[i]`` becomes ``Shape_i(i)(x)``; a ``Shape_i`` of a static size
becomes a constant; a ``Shape_i`` of an op's output becomes that entry of
the op's ``infer_shape``, written over ``Shape_i`` of the op's inputs, so the
rewrite walks shape questions back to the function's inputs. A whole
``x.shape`` of an intermediate becomes the stack of its entries. Later
rewrites ask :func:`inferred_shape_i` for the shapes of what they build on.
"""
import numpy as np

from arignote.ops.basic import as_tensor_variable, constant
from arignote.ops.elemwise import cast
from arignote.ops.indexing import Subtensor
from arignote.ops.join import stacked
from arignote.ops.shape import stack
from arignote.ops.static_shape import Shape, Shape_i, shape_i
from arignote.passes.rewriting import node_rewriter, register


def _shape_entries(v):
    """v's shape as int64 scalars: constants where static, else Shape_i nodes."""
    return tuple(constant(np.int64(s)) if s is not None else Shape_i(d)(v)
                 for d, s in enumerate(v.type.shape))


@register("canonicalize", "shape")
@node_rewriter([Subtensor], name="shape_subscript")
def shape_subscript(fgraph, node):
    """``shape(x)[i] -> Shape_i(i)(x)`` for a constant ``i``."""
    src = node.inputs[0]
    if type(node.op) is not Subtensor or src.owner is None or not isinstance(src.owner.op, Shape):
        return None
    if len(node.op.idx_list) != 1 or node.op.idx_list[0][0] != "int":
        return None
    x = src.owner.inputs[0]
    return [_shape_entries(x)[node.op.idx_list[0][1] % x.ndim]]


@register("canonicalize", "shape")
@node_rewriter([Subtensor], name="subscript_of_stack")
def subscript_of_stack(fgraph, node):
    """``stack([a, b, ...])[i] -> a, b, ...`` for a constant ``i``: ``y.shape[0]`` of an
    intermediate ``y`` once its shape became a stack (``shape_of_intermediate``)."""
    if type(node.op) is not Subtensor or len(node.op.idx_list) != 1 or node.op.idx_list[0][0] != "int":
        return None
    entries = stacked(node.inputs[0])
    if entries is None:
        return None
    k = node.op.idx_list[0][1]
    if not -len(entries) <= k < len(entries):
        return None  # (out of range: the Subtensor's own error stays)
    entry = entries[k]
    return [entry if entry.type == node.outputs[0].type else cast(entry, node.outputs[0].dtype)]


def inferred_shape_i(x, i):
    """``x.shape[i]`` as an int64 scalar written over the shapes of the graph's inputs
    (as far as ``infer_shape`` tells), never over ``x`` or another intermediate."""
    entry = shape_i(x, i)
    for _ in range(64):  # (each step walks one op back; the bound only guards the loop)
        node = entry.owner
        step = None if node is None or not isinstance(node.op, Shape_i) else _from_inputs(node)
        if step is None:
            return entry
        entry = step
    return entry


@register("canonicalize", "shape")
@node_rewriter([Shape_i], name="shape_i_from_inputs")
def shape_i_from_inputs(fgraph, node):
    """``Shape_i(i)(op(...).out)`` -> entry ``i`` of ``op.infer_shape`` (or a constant)."""
    new = _from_inputs(node)
    return None if new is None else [new]


def _from_inputs(node):
    (x,) = node.inputs
    i = node.op.i
    if x.type.shape[i] is not None:
        return constant(np.int64(x.type.shape[i]))
    if x.owner is None:
        return None
    try:
        shapes = x.owner.op.infer_shape(x.owner, [_shape_entries(v) for v in x.owner.inputs])
    except NotImplementedError:
        return None
    if shapes[x.index][i] is None:  # (an entry the op cannot tell: a loop ended by until)
        return None
    entry = as_tensor_variable(shapes[x.index][i])
    if entry.ndim != 0:
        return None
    return cast(entry, "int64")


@register("canonicalize", "shape")
@node_rewriter([Shape], name="shape_of_intermediate")
def shape_of_intermediate(fgraph, node):
    """``shape(op(...).out)`` -> the stack of its entries (constant when static)."""
    (x,) = node.inputs
    if all(s is not None for s in x.type.shape):
        return [constant(np.asarray(x.type.shape, dtype="int64"))]
    if x.owner is None or x.ndim == 0:
        return None
    return [stack(list(_shape_entries(x)))]
