"""Linear algebra: matrix products and tensor contractions.

Two ops carry every product, both opaque to the fuser (they become BLAS /
GEMM calls):

* :class:`MatMul`: a (batched) matrix product of two tensors of the same rank
  >= 2, ``np.matmul`` semantics; batch dimensions broadcast where their static
  size is 1 (like elementwise ops, a ``None`` dimension never broadcasts).
* :class:`TensorDot`: ``np.tensordot`` over given axis pairs.

``dot``, ``matmul``, ``batched_dot`` and ``outer`` are dimshuffle compositions
around these, so their gradients come for free and their dtypes are NumPy's.
``dot`` of an n-d tensor and an m-d tensor (m >= 2) places the contracted
rows and columns in the last two axes and lets MatMul's batch broadcasting
pair every leading index of one with every leading index of the other.
"""
import numpy as np

from arignote.errors import ArignoteTypeError, ArignoteValueError, ShapeError, describe
from arignote.graph.basic import Apply
from arignote.graph.op import Op
from arignote.graph.type import TensorType, _fmt_shape
from arignote.ops.basic import as_tensor_variable, constant
from arignote.ops.elemwise import mul, reduce_to_broadcast
from arignote.ops.reduce import sum as _sum
from arignote.ops.shape import DimShuffle, dimshuffle, flatten


def _product_dtype(a, b, what):
    try:
        return np.matmul(np.zeros((1, 1), a.dtype), np.zeros((1, 1), b.dtype)).dtype
    except TypeError as e:
        raise ArignoteTypeError(f"{what}: no product of {describe(a)} ({a.dtype}) and "
                                f"{describe(b)} ({b.dtype}): {e}") from None


def _origin(v):
    """The variable a chain of DimShuffles started from: the one the user named."""
    while v.owner is not None and isinstance(v.owner.op, DimShuffle):
        v = v.owner.inputs[0]
    return v


def _shape_msg(a, b):
    a, b = _origin(a), _origin(b)
    return (f"{describe(a)} (shape {_fmt_shape(a.type.shape)}) and "
            f"{describe(b)} (shape {_fmt_shape(b.type.shape)})")


def _check_pairs(what, a, b, pairs, shape_a=None, shape_b=None):
    """Raise ShapeError unless a's axis i and b's axis j agree for each (i, j) in ``pairs``.

    Without ``shape_a``/``shape_b`` the static shapes are checked (build time)."""
    sa = a.type.shape if shape_a is None else shape_a
    sb = b.type.shape if shape_b is None else shape_b
    for i, j in pairs:
        if sa[i] is not None and sb[j] is not None and sa[i] != sb[j]:
            when = "" if shape_a is None else f" got values of shapes {tuple(sa)} and {tuple(sb)}"
            raise ShapeError(f"{what}: {_shape_msg(a, b)}{when}: contracted dimensions do not "
                             f"match (axis {i} of size {sa[i]} vs axis {j} of size {sb[j]})")


def _strong(x):
    """NumPy's products read Python scalars as full arrays (``np.dot(f32, 2.5)`` is
    float64), unlike elementwise ops: drop the weak flag."""
    x = as_tensor_variable(x)
    return constant(x.data) if getattr(x, "weak", False) else x


def _require_ndim(what, x, least):
    if x.ndim < least:
        raise ArignoteTypeError(f"{what} needs inputs of at least {least} dimension"
                                f"{'s' * (least != 1)}, got {describe(x)} of type {x.type}")


# ------------------------------------------------------------ ops

class MatMul(Op):
    """Batched matrix product of same-rank tensors (rank >= 2), ``np.matmul`` semantics."""

    fusion_kind = "opaque"

    def make_node(self, a, b):
        a, b = as_tensor_variable(a), as_tensor_variable(b)
        if a.ndim != b.ndim or a.ndim < 2:
            raise ArignoteTypeError(f"MatMul needs two tensors of the same rank >= 2, got "
                                    f"{describe(a)} ({a.type}) and {describe(b)} ({b.type})")
        dtype = _product_dtype(a, b, "MatMul")
        nd = a.ndim
        _check_pairs("matrix product", a, b, [(nd - 1, nd - 2)])
        batch = []
        for d, (x, y) in enumerate(zip(a.type.shape[:-2], b.type.shape[:-2])):
            if x is not None and y is not None and 1 not in (x, y) and x != y:
                raise ShapeError(f"matrix product: {_shape_msg(a, b)}: batch dimension {d} does not "
                                 f"broadcast ({x} vs {y})")
            batch.append(y if x == 1 else x if y == 1 else x if x is not None else y)
        shape = (*batch, a.type.shape[-2], b.type.shape[-1])
        return Apply(self, [a, b], [TensorType(dtype, shape)])

    def perform(self, node, inputs):
        a, b = inputs
        va, vb = node.inputs
        nd = a.ndim
        _check_pairs("matrix product", va, vb, [(nd - 1, nd - 2)], a.shape, b.shape)
        for d in range(nd - 2):
            if va.type.shape[d] != 1 and vb.type.shape[d] != 1 and a.shape[d] != b.shape[d]:
                raise ShapeError(
                    f"matrix product: {_shape_msg(va, vb)} got values of shapes {a.shape} and "
                    f"{b.shape}: batch dimension {d} differs ({a.shape[d]} vs {b.shape[d]}); only "
                    f"dimensions of static size 1 broadcast")
        return [np.asarray(np.matmul(a, b), dtype=node.outputs[0].dtype)]

    def L_op(self, inputs, outputs, output_grads):
        a, b = inputs
        (gz,) = output_grads
        return [_grad_or_none(a, lambda: reduce_to_broadcast(self(gz, _swap(b)), a)),
                _grad_or_none(b, lambda: reduce_to_broadcast(self(_swap(a), gz), b))]

    def infer_shape(self, node, input_shapes):
        (sa, sb), a = input_shapes, node.inputs[0]
        out = node.outputs[0].type.shape
        batch = [_static_or(out[d], sa[d] if a.type.shape[d] != 1 else sb[d]) for d in range(a.ndim - 2)]
        return [(*batch, _static_or(out[-2], sa[-2]), _static_or(out[-1], sb[-1]))]


class TensorDot(Op):
    """``np.tensordot(a, b, (axes_a, axes_b))``: contract each axes_a[i] with axes_b[i]."""

    __props__ = ("axes_a", "axes_b")
    fusion_kind = "opaque"

    def __init__(self, axes_a, axes_b):
        self.axes_a = tuple(int(i) for i in axes_a)
        self.axes_b = tuple(int(i) for i in axes_b)

    def make_node(self, a, b):
        a, b = as_tensor_variable(a), as_tensor_variable(b)
        for x, axes in ((a, self.axes_a), (b, self.axes_b)):
            if len(set(axes)) != len(axes) or any(not 0 <= i < x.ndim for i in axes):
                raise ArignoteValueError(f"{self}: axes {axes} are not distinct axes of "
                                         f"{describe(x)} ({x.type})")
        if len(self.axes_a) != len(self.axes_b):
            raise ArignoteValueError(f"{self}: as many axes of each input must be contracted")
        dtype = _product_dtype(a, b, "tensordot")
        _check_pairs("tensordot", a, b, zip(self.axes_a, self.axes_b))
        shape = ([s for i, s in enumerate(a.type.shape) if i not in self.axes_a]
                 + [s for i, s in enumerate(b.type.shape) if i not in self.axes_b])
        return Apply(self, [a, b], [TensorType(dtype, shape)])

    def perform(self, node, inputs):
        a, b = inputs
        _check_pairs("tensordot", *node.inputs, zip(self.axes_a, self.axes_b), a.shape, b.shape)
        out = np.tensordot(a, b, (self.axes_a, self.axes_b))
        return [np.asarray(out, dtype=node.outputs[0].dtype)]

    def L_op(self, inputs, outputs, output_grads):
        a, b = inputs
        (gz,) = output_grads
        free_a = [i for i in range(a.ndim) if i not in self.axes_a]
        free_b = [j for j in range(b.ndim) if j not in self.axes_b]
        nfa = len(free_a)

        def grad_a():
            # gz's b-part contracted with b's free axes leaves [free_a..., b's contracted axes
            # in b's order]; each of those stands for its partner axis of a.
            g = TensorDot(range(nfa, gz.ndim), free_b)(gz, b)
            order = free_a + [self.axes_a[self.axes_b.index(j)] for j in sorted(self.axes_b)]
            return dimshuffle(g, [order.index(i) for i in range(a.ndim)])

        def grad_b():
            g = TensorDot(free_a, range(nfa))(a, gz)
            order = [self.axes_b[self.axes_a.index(i)] for i in sorted(self.axes_a)] + free_b
            return dimshuffle(g, [order.index(j) for j in range(b.ndim)])

        return [_grad_or_none(a, grad_a), _grad_or_none(b, grad_b)]

    def infer_shape(self, node, input_shapes):
        sa, sb = input_shapes
        dims = ([d for i, d in enumerate(sa) if i not in self.axes_a]
                + [d for j, d in enumerate(sb) if j not in self.axes_b])
        return [tuple(_static_or(s, d) for s, d in zip(node.outputs[0].type.shape, dims))]



class Gemm(Op):
    """``beta * C + alpha * (A @ B)`` in one call, BLAS's GEMM.

    Users do not build it: the ``specialize`` phase turns a matrix product
    followed by a scale and a bias (or an SGD step ``W - lr * dot(x.T, g)``)
    into one Gemm. ``C`` broadcasts to the product's shape (a bias row);
    ``alpha`` and ``beta`` are 0-d.
    """

    fusion_kind = "opaque"

    def make_node(self, c, alpha, a, b, beta):
        c, alpha, a, b, beta = map(as_tensor_variable, (c, alpha, a, b, beta))
        if a.ndim != 2 or b.ndim != 2 or c.ndim != 2 or alpha.ndim or beta.ndim:
            raise ArignoteTypeError(f"Gemm needs matrices C, A, B and 0-d alpha, beta; got "
                                    f"{c.type}, {alpha.type}, {a.type}, {b.type}, {beta.type}")
        product = MatMul().make_node(a, b).outputs[0]
        dtype = np.result_type(c.dtype, product.dtype, alpha.dtype, beta.dtype)
        shape = tuple(p if cs == 1 else cs if p is None else p
                      for cs, p in zip(c.type.shape, product.type.shape))
        return Apply(self, [c, alpha, a, b, beta], [TensorType(dtype, shape)])

    def perform(self, node, inputs):
        c, alpha, a, b, beta = inputs
        vc, _, va, vb, _ = node.inputs
        _check_pairs("matrix product", va, vb, [(1, 0)], a.shape, b.shape)  # as MatMul says it
        want = (a.shape[0], b.shape[1])
        for d in range(2):
            if vc.type.shape[d] != 1 and c.shape[d] != want[d]:
                raise ShapeError(f"matrix product plus {describe(_origin(vc))}: the product of "
                                 f"{_shape_msg(va, vb)} has shape {want} (values of shapes "
                                 f"{a.shape} and {b.shape}), {describe(_origin(vc))} has shape "
                                 f"{c.shape}: dimension {d} does not match ({want[d]} vs "
                                 f"{c.shape[d]}); only dimensions of static size 1 broadcast")
        with np.errstate(all="ignore"):
            return [np.asarray(beta * c + alpha * np.matmul(a, b), dtype=node.outputs[0].dtype)]

    def L_op(self, inputs, outputs, output_grads):
        c, alpha, a, b, beta = inputs
        (gz,) = output_grads
        product = MatMul()(a, b)
        return [_grad_or_none(c, lambda: reduce_to_broadcast(gz * beta, c)),
                _grad_or_none(alpha, lambda: _sum(gz * product)),
                _grad_or_none(a, lambda: MatMul()(gz, _swap(b)) * alpha),
                _grad_or_none(b, lambda: MatMul()(_swap(a), gz) * alpha),
                _grad_or_none(beta, lambda: _sum(gz * c))]

    def infer_shape(self, node, input_shapes):
        sc, _, sa, sb, _ = input_shapes
        out = node.outputs[0].type.shape
        return [(_static_or(out[0], sa[0]), _static_or(out[1], sb[1]))]


def _grad_or_none(x, build):
    return build() if x.type.is_float or x.dtype.startswith("complex") else None


def _static_or(static, symbolic):
    return constant(np.int64(static)) if static is not None else symbolic


def _view(x, pattern):
    """dimshuffle(x, pattern), or x itself when the pattern changes nothing."""
    return x if list(pattern) == list(range(x.ndim)) else dimshuffle(x, pattern)


def _swap(x):
    """x with its last two axes exchanged (a view)."""
    nd = x.ndim
    return dimshuffle(x, [*range(nd - 2), nd - 1, nd - 2])


# ------------------------------------------------------------ public functions

def matmul(a, b):
    """``np.matmul`` (the ``@`` operator): batched matrix product, 1-d operands promoted."""
    a, b = _strong(a), _strong(b)
    _require_ndim("matmul", a, 1)
    _require_ndim("matmul", b, 1)
    _check_pairs("matmul", a, b, [(a.ndim - 1, max(b.ndim - 2, 0))])
    a2 = dimshuffle(a, ["x", 0]) if a.ndim == 1 else a
    b2 = dimshuffle(b, [0, "x"]) if b.ndim == 1 else b
    nd = max(a2.ndim, b2.ndim)
    a2, b2 = (_view(x, ["x"] * (nd - x.ndim) + list(range(x.ndim))) for x in (a2, b2))
    out = MatMul()(a2, b2)
    keep = [d for d in range(nd) if not (d == nd - 2 and a.ndim == 1 or d == nd - 1 and b.ndim == 1)]
    return _view(out, keep)


def _batched_product(what, a, b, nb):
    """``np.dot`` of a[i] and b[i] for each index i of the ``nb`` leading (batch) axes."""
    a, b = _strong(a), _strong(b)
    p, q = a.ndim - nb, b.ndim - nb
    if p < 0 or q < 0:
        raise ArignoteTypeError(f"{what} needs {nb} batch dimension(s) in both inputs, got "
                                f"{describe(a)} ({a.type}) and {describe(b)} ({b.type})")
    batch = list(range(nb))
    _check_pairs(what, a, b, [(d, d) for d in batch])
    if p == 0 or q == 0:  # a scalar per batch entry: an elementwise product
        ea = _view(a, batch + ["x"] * q) if p == 0 and nb else a
        eb = _view(b, batch + ["x"] * p) if q == 0 and nb else b
        return mul(ea, eb)
    _check_pairs(what, a, b, [(a.ndim - 1, b.ndim - 2 if q >= 2 else b.ndim - 1)])
    # a -> [batch, I..., 1 (x |J|), m, k]   b -> [batch, 1 (x |I|), J..., k, n]
    a_lead = list(range(nb, a.ndim - 2))        # I: a's axes before its rows
    b_lead = list(range(nb, b.ndim - 2))        # J: b's axes before its contracted axis
    rows = [a.ndim - 2] if p >= 2 else ["x"]
    cols = [b.ndim - 1] if q >= 2 else ["x"]
    kb = b.ndim - 2 if q >= 2 else b.ndim - 1
    a4 = _view(a, batch + a_lead + ["x"] * len(b_lead) + rows + [a.ndim - 1])
    b4 = _view(b, batch + ["x"] * len(a_lead) + b_lead + [kb] + cols)
    out = MatMul()(a4, b4)  # [batch, I..., J..., m, n]
    nd, ni, nj = out.ndim, len(a_lead), len(b_lead)
    m_axis = [nd - 2] if p >= 2 else []
    n_axis = [nd - 1] if q >= 2 else []
    order = (batch + list(range(nb, nb + ni)) + m_axis + list(range(nb + ni, nb + ni + nj)) + n_axis)
    return _view(out, order)


def dot(a, b):
    """``np.dot`` for every rank: scalars scale, 1-d.1-d is the inner product, n-d.m-d
    contracts the last axis of ``a`` with the second-to-last of ``b``."""
    return _batched_product("dot", a, b, 0)


def batched_dot(a, b):
    """Theano's ``batched_dot``: ``dot(a[i], b[i])`` for each i along the first axis."""
    return _batched_product("batched_dot", a, b, 1)


def _normalize_axes(a, b, axes):
    if isinstance(axes, (int, np.integer)):
        n = int(axes)
        if not 0 <= n <= min(a.ndim, b.ndim):
            raise ArignoteValueError(f"tensordot: axes={n} must be between 0 and the rank of both "
                                     f"inputs ({describe(a)}: {a.ndim}, {describe(b)}: {b.ndim})")
        return list(range(a.ndim - n, a.ndim)), list(range(n))
    try:
        axes_a, axes_b = axes
    except (TypeError, ValueError):
        raise ArignoteTypeError(f"tensordot: axes must be an int or a pair of axis lists, "
                                f"got {axes!r}") from None
    axes_a = [axes_a] if np.ndim(axes_a) == 0 else list(axes_a)
    axes_b = [axes_b] if np.ndim(axes_b) == 0 else list(axes_b)
    if len(axes_a) != len(axes_b):
        raise ArignoteValueError(f"tensordot: axes {axes_a} and {axes_b} must have the same length")
    for x, ax in ((a, axes_a), (b, axes_b)):
        for i in ax:
            if not -x.ndim <= int(i) < x.ndim:
                raise ArignoteValueError(f"tensordot: axis {i} is out of range for {describe(x)} "
                                         f"of rank {x.ndim}")
    return [int(i) % a.ndim for i in axes_a], [int(j) % b.ndim for j in axes_b]


def tensordot(a, b, axes=2):
    """``np.tensordot``: ``axes`` is an int n (last n of a with first n of b) or two axis lists."""
    a, b = as_tensor_variable(a), as_tensor_variable(b)
    axes_a, axes_b = _normalize_axes(a, b, axes)
    _check_pairs("tensordot", a, b, zip(axes_a, axes_b))
    return TensorDot(axes_a, axes_b)(a, b)


def outer(a, b):
    """``np.outer``: every element of (flattened) ``a`` times every element of ``b``."""
    a, b = _strong(a), _strong(b)
    a, b = (x if x.ndim == 1 else dimshuffle(x, ["x"]) if x.ndim == 0 else flatten(x) for x in (a, b))
    return mul(dimshuffle(a, [0, "x"]), dimshuffle(b, ["x", 0]))


__all__ = ["MatMul", "TensorDot", "Gemm", "dot", "matmul", "batched_dot", "tensordot", "outer"]
