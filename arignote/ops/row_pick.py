"""One entry per row, ``M[arange(n), y]``, and its scatter, as row-wise masks.

The tutorials' cross-entropy reads each row's true-class log-probability
with a gather, and its gradient scatters into zeros with the same index.
Both need ``M`` stored. As a masked reduction over each row,

    M[arange(n), y]                   ->  sum(switch(cols == lab[:, None], M, -0.0), axis=1)[:n]
    inc_subtensor(Z[arange(n), y], v) ->  switch(cols == lab[:, None], Z + v[:, None], Z)

they are one more reduction in the row kernel that computes ``M``, and one
more elementwise step of the softmax gradient's kernel: ``M`` and the zeros
are never stored. ``lab`` (:class:`RowLabels`) is ``y`` checked as NumPy's
indexing checks it, negatives wrapped, padded with -1 (no column) to every
row of ``M``; the sum is exact (the other terms are -0.0, which leave every
value, and the sign of a zero, as they are).
"""
import numpy as np

from arignote.errors import ArignoteValueError, ShapeError
from arignote.graph.basic import Apply, Constant
from arignote.graph.op import Op
from arignote.graph.type import TensorType
from arignote.ops.basic import as_tensor_variable, constant
from arignote.ops.construct import ARange, arange
from arignote.ops.elemwise import cast, eq, switch
from arignote.ops.indexing import AdvancedSubtensor
from arignote.ops.reduce import sum as _sum
from arignote.ops.static_shape import Shape_i, shape_i

__all__ = ["RowLabels", "PadRows", "Head", "pick_rows", "scatter_rows", "is_len", "ROW_PICK"]

#: the ``idx_list`` of ``m[rows, labels]``
ROW_PICK = _PAIR = (("array",), ("array",))


def _rows_fit(n, rows, what):
    if n > rows:
        raise ArignoteValueError(f"index {rows} is out of bounds for axis 0 of a matrix of {rows} "
                                 f"rows: {what} picks one entry from each of {n} rows")


class _Rows(Op):
    """A vector padded to ``rows`` entries: the host-side half of a row pick (a few
    integers a row, computed once per call)."""

    __props__ = ("what",)

    def __init__(self, what):
        self.what = what

    def _node(self, v, rows, *more):
        v, rows = as_tensor_variable(v), as_tensor_variable(rows)
        static = int(rows.data) if isinstance(rows, Constant) else None
        return Apply(self, [v, rows, *more], [TensorType(self.dtype(v), (static,))])

    def infer_shape(self, node, input_shapes):
        return [(node.inputs[1],)]

    def L_op(self, inputs, outputs, output_grads):
        return [None] * len(inputs)


class RowLabels(_Rows):
    """The column row ``i`` picks, ``y[i]`` wrapped into ``[0, cols)``, or -1 for the rows
    past ``len(y)``; raises where NumPy's ``M[arange(len(y)), y]`` would."""

    def dtype(self, v):
        return "int64"

    def make_node(self, y, rows, cols):
        return self._node(y, rows, as_tensor_variable(cols))

    def perform(self, node, inputs):
        y, rows, cols = inputs[0], int(inputs[1]), int(inputs[2])
        n = len(y)
        _rows_fit(n, rows, self.what)
        out = np.empty(rows, np.int64)
        out[:n], out[n:] = y, -1
        # one pass finds a label below 0 or from cols on: as unsigned, both are >= cols
        if n and out[:n].view(np.uint64).max() >= cols:
            bad = (y >= cols) | (y < -cols)
            if bad.any():
                raise ArignoteValueError(f"index {y[bad][0]} (in the class labels {self.what}) is out "
                                         f"of bounds for axis 1 of the {rows}x{cols} matrix it picks from")
            out[:n][y < 0] += cols
        return [out]


class PadRows(_Rows):
    """``v``, one value per picked row (``n`` of them), followed by zeros up to ``rows``
    entries."""

    def dtype(self, v):
        return v.dtype

    def make_node(self, v, rows, n):
        return self._node(v, rows, as_tensor_variable(n))

    def perform(self, node, inputs):
        v, rows, n = inputs[0], int(inputs[1]), int(inputs[2])
        if len(v) != n:
            raise ShapeError(f"the value of shape {v.shape} cannot be broadcast to the indexed "
                             f"shape ({n},) of {self.what}")
        _rows_fit(n, rows, self.what)
        out = np.zeros(rows, v.dtype)
        out[:len(v)] = v
        return [out]


class Head(Op):
    """``v[:n]`` for a vector ``v`` of at least ``n`` entries (the rows a pick covers), taken
    on the host: a view no kernel computes, so the kernel reading it gets a plain array
    rather than a slice with a run-time bound to apply at every launch."""

    __props__ = ()
    fusion_kind = "view"  # (no data moves; not one of the views fusion applies in kernels)

    def make_node(self, v, n):
        v, n = as_tensor_variable(v), as_tensor_variable(n)
        return Apply(self, [v, n], [TensorType(v.dtype, (None,))])

    def perform(self, node, inputs):
        return [inputs[0][:int(inputs[1])]]

    def infer_shape(self, node, input_shapes):
        return [(node.inputs[1],)]


def _hits(m, y, what, shape):
    """``(cols == lab[:, None], rows)`` for the rows and columns of matrix ``m`` (its
    ``shape``, symbolic; by default read from ``m``), ``what`` naming the labels ``y`` in errors."""
    rows, cols = shape or (shape_i(m, 0), shape_i(m, 1))
    lab = RowLabels(what)(y, rows, cols)
    return eq(arange(cols).dimshuffle("x", 0), lab.dimshuffle(0, "x")), rows


def pick_rows(m, y, what, shape=None):
    """``m[arange(len(y)), y]`` as a masked row sum (``what`` names ``y`` in errors; a
    rewrite passes ``m``'s ``shape`` over the graph's inputs, so ``m`` is not read for it)."""
    hit, _ = _hits(m, y, what, shape)
    minus_zero = constant(np.array(-0.0, m.dtype))
    return Head()(_sum(switch(hit, m, minus_zero), axis=1, initial=-0.0), shape_i(y, 0))


def scatter_rows(z, v, y, what, set_instead_of_inc=False, shape=None):
    """``z`` with ``z[arange(len(y)), y]`` increased by ``v`` (set to it with
    ``set_instead_of_inc``), as an elementwise switch (``shape`` as for :func:`pick_rows`)."""
    hit, rows = _hits(z, y, what, shape)
    v = as_tensor_variable(v)
    if v.dtype != z.dtype:
        v = cast(v, z.dtype)
    if v.ndim > 1:
        raise ShapeError(f"scatter_rows: the value must be a vector or a scalar, got {v.type}")
    filled = _broadcast_of(v)
    if filled is not None and _one_per_label(filled[0], y):
        v = filled[1]  # (the cross-entropy's gradient: one value for every row)
    elif v.ndim == 1 and v.type.shape[0] != 1:
        v = PadRows(what)(v, rows, shape_i(y, 0))
    col = v.dimshuffle(0, "x") if v.ndim else v
    filled = _broadcast_of(z)
    if filled is not None and isinstance(filled[1], Constant):
        z = filled[1]  # (zeros_like: the mask gives the shape; reading `a` would compute it)
    return switch(hit, col if set_instead_of_inc else z + col, z)


def _broadcast_of(x):
    """``(a, c)`` with ``c`` 0-d if ``x`` is ``second(a, c)``, ``c`` of one element broadcast
    to ``a``'s shape (``zeros_like``, ``ones_like``, a mean's gradient), else None."""
    node = x.owner
    if node is None or getattr(node.op, "scalar_op", None) is None \
            or node.op.scalar_op.name != "second" or any(s != 1 for s in node.inputs[1].type.shape):
        return None
    a, c = node.inputs
    if isinstance(c, Constant):
        return a, constant(c.data.reshape(()).astype(x.dtype))
    c = c.dimshuffle() if c.ndim else c
    return a, (c if c.dtype == x.dtype else cast(c, x.dtype))


def _one_per_label(a, y):
    """Has ``a`` one entry per label of ``y`` by construction: a row pick by ``y``, gathered
    (``m[arange(len(y)), y]``) or masked (:func:`pick_rows`)?"""
    node = a.owner
    if a.type.shape[0] is not None and a.type.shape[0] == y.type.shape[0]:
        return True
    if node is None or a.ndim != 1:
        return False
    if isinstance(node.op, AdvancedSubtensor):
        rows = node.inputs[1].owner
        return node.op.idx_list == _PAIR and node.inputs[2] is y and rows is not None \
            and isinstance(rows.op, ARange) and is_len(rows.inputs[1], y)
    if not isinstance(node.op, Head):
        return False
    chain = [a]
    for k in (0, 0, 0, 1, 0):  # a = Head(w, n), w = sum(switch(eq(cols, lab[:, None]), m, -0.0))
        v = chain[-1].owner
        if v is None:
            return False
        chain.append(v.inputs[k])
    return is_len(a.owner.inputs[-1], y) and chain[-1].owner is not None \
        and isinstance(chain[-1].owner.op, RowLabels) and chain[-1].owner.inputs[0] is y


def is_len(n, y):
    """Is the int64 scalar ``n`` ``len(y)``?"""
    node = n.owner
    return (node is not None and isinstance(node.op, Shape_i) and node.op.i == 0
            and node.inputs[0] is y) or \
        (isinstance(n, Constant) and y.type.shape[0] is not None and n.data.item() == y.type.shape[0])
