"""What the fusion pass and every kernel lowering agree on, below both.

The fusion pass forms groups that a backend lowers into kernels; both must
read the same rules, and the pass may not import the compiler (it is a
higher layer), so the rules live here: which views are index arithmetic,
which scalar ops are too costly to recompute, and how many passes over its
reduced axes one kernel may make. Whether a particular group can be lowered
is the backend's answer (``kernel_axes``, see :mod:`arignote.runtime.backends`).
"""
from arignote.ops.indexing import Subtensor
from arignote.ops.shape import DimShuffle, Reshape

#: scalar ops worth storing rather than recomputing (polynomial code, many cycles)
EXPENSIVE = frozenset({
    "exp", "exp2", "log", "log2", "log10", "log1p", "expm1", "sin", "cos", "tan", "arcsin",
    "arccos", "arctan", "sinh", "cosh", "tanh", "arcsinh", "arccosh", "arctanh", "erf", "erfc",
    "sigmoid", "softplus", "pow", "arctan2"})
#: a *source* op (``fusion_kind = 'source'``, a random draw) is elementwise in its element's
#: position: no tensor operand but scalars, its last ``ndim`` inputs the int64 sizes of its
#: shape, and ``op.source(em, scalars, index)`` writing its value at C-order index ``index``
#: over an emitter (:mod:`arignote.ops.random`). It joins the kernels that read it as an
#: elementwise value does; the lowering computes the index from the loop variables.
SOURCE = "source"
#: the most passes over the reduced axes one kernel makes (softmax and layer norm take 3)
MAX_PASSES = 4


def is_view(node):
    """Is ``node`` a view lowering can apply as index arithmetic (a DimShuffle, basic
    indexing, a reshape)?"""
    op = node.op
    return isinstance(op, (DimShuffle, Reshape)) or (type(op) is Subtensor and not op.advanced)
