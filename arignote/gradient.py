"""Reverse-mode differentiation.

``grad`` walks the graph from the cost back to the variables asked for and
asks each op for its ``L_op``: the gradient is built from ordinary nodes, so
it is optimized and compiled like any graph, and ``grad`` of a gradient works.
On top of it: ``Lop`` (vector-Jacobian products), ``Rop`` (Jacobian-vector
products, by two reverse passes), ``jacobian`` and ``hessian`` (one reverse
pass per output element), and the gradient-shaping identities ``zero_grad``,
``disconnected_grad``, ``grad_clip`` and ``consider_constant``.
(``verify_grad`` compiles functions, so it lives above the runtime:
:mod:`arignote.verify`.)

Conventions: integer and boolean variables carry no gradient. An op returns
``None`` for an input its output does not differentiably depend on; when no
path carrying a gradient joins the cost to a ``wrt``, that ``wrt`` is
*disconnected* (``disconnected_inputs`` says what then happens).
"""
import warnings
from collections import namedtuple

import numpy as np

from arignote.errors import (ArignoteTypeError, ArignoteValueError, DisconnectedInputError,
                             ShapeError, built_at, describe)
from arignote.graph.basic import Apply, Variable, toposort
from arignote.graph.op import Op
from arignote.graph.type import TensorType
from arignote.ops.inner import InnerGraphOp
from arignote.ops.basic import as_tensor_variable, constant
from arignote.ops.elemwise import cast, clip, zeros_like
from arignote.ops.construct import alloc, arange
from arignote.ops.indexing import set_subtensor
from arignote.ops.nnet import Softmax, written_softmax
from arignote.ops.scan import scan
from arignote.ops.shape import stack

_DISCONNECTED = ("raise", "warn", "ignore")
_RETURN_DISCONNECTED = ("zero", "none", "disconnected")


def _is_differentiable(v):
    """Float and complex tensors carry gradients; other dtypes and non-tensor values
    (lists, generic objects) are disconnected."""
    t = v.type
    return isinstance(t, TensorType) and (t.is_float or t.dtype.startswith("complex"))


def _kind(v):
    """'dtype int64' for a tensor, 'type list of float64' for any other value."""
    return f"dtype {v.type.dtype}" if isinstance(v.type, TensorType) else f"type {v.type}"


def _as_list(x):
    """(list of items, how to format a result like ``x``): Theano's format_as."""
    if isinstance(x, list):
        return list(x), list
    if isinstance(x, tuple):
        return list(x), tuple
    return [x], (lambda r: r[0])


def _check_choice(fn, name, value, choices):
    if str(value).lower() not in choices:
        raise ArignoteValueError(f"{fn}(): {name} must be one of {choices}, got {value!r}")
    return str(value).lower()


# ------------------------------------------------------------ grad

def grad(cost, wrt, consider_constant=None, disconnected_inputs="raise", known_grads=None,
         return_disconnected="zero"):
    """Symbolic gradient of the scalar ``cost`` with respect to ``wrt``.

    ``wrt`` is a variable or a list/tuple (which gives a list/tuple back).
    ``known_grads`` maps variables to gradients already known, seeding the
    backward pass (``cost`` may then be None). Variables in
    ``consider_constant`` pass no gradient back. ``disconnected_inputs``
    ('raise', 'warn', 'ignore') says what happens when the cost does not
    depend on a ``wrt``; ``return_disconnected`` what is returned for it:
    'zero' (zeros like it) or 'none' ('disconnected' is read as 'none':
    there is no disconnected type).
    """
    disconnected_inputs = _check_choice("grad", "disconnected_inputs", disconnected_inputs,
                                        _DISCONNECTED)
    return_disconnected = _check_choice("grad", "return_disconnected", return_disconnected,
                                        _RETURN_DISCONNECTED)
    wrt, fmt = _as_list(wrt)
    for w in wrt:
        if not isinstance(w, Variable):
            raise ArignoteTypeError(f"grad(): wrt must hold symbolic variables, got "
                                    f"{type(w).__name__} {w!r}")
        if not _is_differentiable(w):
            raise ArignoteTypeError(
                f"grad(): cannot differentiate with respect to {describe(w)} of {_kind(w)}; "
                f"gradients are defined for float tensors only{built_at(w)}")
    seeds = _seeds(cost, known_grads)
    blocked = set(consider_constant or ())
    for c in blocked:
        if not isinstance(c, Variable):
            raise ArignoteTypeError(f"grad(): consider_constant must hold symbolic variables, "
                                    f"got {type(c).__name__}")

    nodes = toposort(list(seeds), blockers=blocked)
    connected = set(wrt)
    for node in nodes:
        if any(i in connected and i not in blocked for i in node.inputs):
            connected.update(node.outputs)

    grads = {v: [g] for v, g in seeds.items() if v in connected}
    for node in reversed(nodes):
        if not any(o in grads for o in node.outputs):
            continue
        if not any(i in connected and i not in blocked and _is_differentiable(i) for i in node.inputs):
            continue
        out_grads = [_total(grads[o]) if o in grads else
                     (zeros_like(o) if _is_differentiable(o) else None) for o in node.outputs]
        node = _stands_for(node, blocked)
        try:
            if isinstance(node.op, InnerGraphOp):  # (its gradient differentiates the inner graph)
                input_grads = node.op.L_op_inner(node.inputs, node.outputs, out_grads, grad)
            else:
                input_grads = node.op.L_op(node.inputs, node.outputs, out_grads)
        except NotImplementedError as e:
            raise NotImplementedError(f"grad(): {e}{built_at(node)}") from None
        if len(input_grads) != len(node.inputs):
            raise ArignoteValueError(f"internal error: {node.op}.L_op returned {len(input_grads)} "
                                     f"gradients for {len(node.inputs)} inputs")
        for inp, g in zip(node.inputs, input_grads):
            if g is None or inp not in connected or inp in blocked or not _is_differentiable(inp):
                continue
            grads.setdefault(inp, []).append(_conform(as_tensor_variable(g), inp, node))

    result = []
    for w in wrt:
        if w in grads:
            result.append(_total(grads[w]))
            continue
        msg = (f"grad(): the cost does not depend on {describe(w)}{built_at(w)} (no path that "
               f"carries a gradient joins them); pass disconnected_inputs='ignore' (or 'warn') "
               f"if that is intended")
        if disconnected_inputs == "raise":
            raise DisconnectedInputError(msg)
        if disconnected_inputs == "warn":
            warnings.warn(msg, stacklevel=2)
        result.append(zeros_like(w) if return_disconnected == "zero" else None)
    return fmt(result)


#: a node as :func:`grad` differentiates it: an op applied to inputs, giving outputs
_Standing = namedtuple("_Standing", "op inputs outputs trace")


def _stands_for(node, blocked):
    """The node to differentiate in place of ``node``: itself, or the one op a
    subgraph written by hand stands for. A softmax by hand,
    ``exp(x - max(x)) / sum(exp(x - max(x)))``, is differentiated as
    :class:`~arignote.ops.nnet.Softmax` of ``x``, straight to ``x``: through its
    pieces, the gradient would read the exponentials and their sum and divide by
    them, so the stabilizer, which turns the forward pass into ``softmax`` (and
    ``log`` of it into ``log_softmax``), could not turn it into the stable form,
    and huge logits would give NaN."""
    found = written_softmax(node.outputs[0])
    if found is None:
        return node
    x, axis, e, s = found
    if blocked and any(v in blocked for v in _between(node.outputs[0], x)):
        return node  # (a piece is held constant: its gradient is not softmax's)
    return _Standing(Softmax(axis), [x], node.outputs, node.trace)


def _between(v, x):
    """The variables on the paths from ``x`` (excluded) up to ``v``."""
    seen, todo = set(), [v]
    while todo:
        u = todo.pop()
        if u is x or u in seen or u.owner is None:
            continue
        seen.add(u)
        todo.extend(u.owner.inputs)
    return seen


def _seeds(cost, known_grads):
    seeds = {}
    if cost is not None:
        if not isinstance(cost, Variable):
            raise ArignoteTypeError(f"grad(): cost must be a symbolic scalar, got {type(cost).__name__}")
        if not isinstance(cost.type, TensorType):
            raise ArignoteTypeError(f"grad(): cost must be a float scalar, got {describe(cost)} of "
                                    f"{_kind(cost)}, which is not a tensor{built_at(cost)}")
        if cost.ndim != 0:
            raise ArignoteTypeError(
                f"grad(): cost must be a scalar, got {describe(cost)} with {cost.ndim} dimensions "
                f"({cost.type}){built_at(cost)}; reduce it first (e.g. cost.sum() or cost.mean()) "
                f"or pass known_grads")
        if not _is_differentiable(cost):
            raise ArignoteTypeError(f"grad(): cost {describe(cost)} has {_kind(cost)}; only "
                                    f"float costs can be differentiated{built_at(cost)}")
        seeds[cost] = constant(np.ones((), cost.dtype))
    for var, g in (known_grads or {}).items():
        if not isinstance(var, Variable):
            raise ArignoteTypeError(f"grad(): known_grads keys must be symbolic variables, got "
                                    f"{type(var).__name__}")
        if not _is_differentiable(var):
            raise ArignoteTypeError(f"grad(): known_grads gives a gradient for {describe(var)} of "
                                    f"{_kind(var)}; only float tensors have gradients")
        g = as_tensor_variable(g)
        if g.ndim != var.ndim:
            raise ArignoteTypeError(f"grad(): the known gradient of {describe(var)} has {g.ndim} "
                                    f"dimensions, the variable has {var.ndim}")
        if not g.type.clone(dtype=var.dtype).compatible(var.type):
            raise ShapeError(f"grad(): the known gradient of {describe(var)} has static shape "
                             f"{g.type.shape}, the variable has {var.type.shape}")
        if not _is_differentiable(g):
            raise ArignoteTypeError(f"grad(): the known gradient of {describe(var)} has dtype "
                                    f"{g.dtype}; give a float gradient")
        seeds[var] = cast(g, var.dtype) if g.dtype != var.dtype else g
    if not seeds:
        raise ArignoteValueError("grad(): give a cost, or known_grads to start from")
    return seeds


def _total(contributions):
    """The sum of gradient contributions, added as a balanced tree."""
    while len(contributions) > 1:
        pairs = [contributions[k] + contributions[k + 1] for k in range(0, len(contributions) - 1, 2)]
        contributions = pairs + contributions[len(pairs) * 2:]
    return contributions[0]


def _conform(g, inp, node):
    """Check an op's gradient has its input's rank; give it the input's dtype."""
    if g.ndim != inp.ndim or not g.type.clone(dtype=inp.dtype).compatible(inp.type):
        raise ArignoteValueError(
            f"internal error: {node.op}.L_op gave a gradient of type {g.type} for an input of "
            f"type {inp.type}{built_at(node)}")
    if g.dtype != inp.dtype:
        g = cast(g, inp.dtype)
    return g


# ------------------------------------------------------------ gradient-shaping identities

class GradOverride(Op):
    """The identity on values, with a chosen gradient.

    ``kind`` is 'zero' (the gradient is zeros), 'disconnected' (no gradient:
    inputs reached only through it are disconnected) or 'clip' (the gradient
    flowing back is clipped to ``[lower, upper]``). A view: it costs nothing.
    """

    __props__ = ("kind", "lower", "upper")
    fusion_kind = "view"
    view_map = {0: [0]}
    KINDS = ("zero", "disconnected", "clip")

    def __init__(self, kind, lower=None, upper=None):
        if kind not in self.KINDS:
            raise ArignoteValueError(f"GradOverride: kind must be one of {self.KINDS}, got {kind!r}")
        if (kind == "clip") != (lower is not None):
            raise ArignoteValueError("GradOverride: bounds go with kind='clip' only")
        if kind == "clip":
            lower, upper = float(lower), float(upper)
            if not lower <= upper:
                raise ArignoteValueError(f"grad_clip(): the lower bound {lower} exceeds the upper "
                                         f"bound {upper}")
        self.kind, self.lower, self.upper = kind, lower, upper

    def __str__(self):
        bounds = f"{{{self.lower}, {self.upper}}}" if self.kind == "clip" else ""
        return f"GradOverride{{{self.kind}}}{bounds}"

    def make_node(self, x):
        x = as_tensor_variable(x)
        return Apply(self, [x], [x.type])

    def perform(self, node, inputs):
        return [inputs[0]]

    def L_op(self, inputs, outputs, output_grads):
        (x,), (gz,) = inputs, output_grads
        if self.kind == "zero":
            return [zeros_like(x)]
        if self.kind == "disconnected":
            return [None]
        return [clip(gz, self.lower, self.upper)]

    def infer_shape(self, node, input_shapes):
        return [input_shapes[0]]


def zero_grad(x):
    """``x`` itself, whose gradient is zero: what flows back through it is dropped."""
    return GradOverride("zero")(x)


def disconnected_grad(x):
    """``x`` itself, with no gradient: a ``wrt`` reached only through it is disconnected."""
    return GradOverride("disconnected")(x)


def consider_constant(x):
    """Theano's older name for :func:`zero_grad` (its gradient is truncated to zeros)."""
    return GradOverride("zero")(x)


def grad_clip(x, lower, upper):
    """``x`` itself; the gradient flowing back through it is clipped to ``[lower, upper]``.

    Reverse mode only: ``Rop`` sees the plain derivative (when the bounds hold 0).
    """
    for name, b in (("lower", lower), ("upper", upper)):
        if isinstance(b, Variable) or np.ndim(b) != 0:
            raise ArignoteTypeError(f"grad_clip(): {name} must be a number, got {b!r}")
    return GradOverride("clip", lower, upper)(x)


# ------------------------------------------------------------ products and derivatives

def Lop(f, wrt, eval_points, consider_constant=None, disconnected_inputs="raise"):
    """The vector-Jacobian product ``v^T (df/dwrt)``: ``eval_points`` are the ``v``, one per ``f``."""
    fs, _ = _as_list(f)
    points, _ = _as_list(eval_points)
    if len(fs) != len(points):
        raise ArignoteValueError(f"Lop(): {len(fs)} expressions but {len(points)} eval_points")
    return grad(None, wrt, consider_constant=consider_constant,
                disconnected_inputs=disconnected_inputs, known_grads=dict(zip(fs, points)))


def Rop(f, wrt, eval_points, disconnected_outputs="raise", return_disconnected="zero"):
    """The Jacobian-vector product ``(df/dwrt) v``: ``eval_points`` are the ``v``, one per ``wrt``.

    Forward mode from two reverse passes: ``g(u) = J^T u`` is linear in the
    cotangent ``u``, so the gradient of ``v . g(u)`` with respect to ``u`` is
    ``J v`` whatever ``u`` is (zeros here: any value of the right shape).
    """
    disconnected_outputs = _check_choice("Rop", "disconnected_outputs", disconnected_outputs,
                                         _DISCONNECTED)
    return_disconnected = _check_choice("Rop", "return_disconnected", return_disconnected,
                                        _RETURN_DISCONNECTED)
    fs, fmt = _as_list(f)
    wrt, _ = _as_list(wrt)
    points, _ = _as_list(eval_points)
    if len(wrt) != len(points):
        raise ArignoteValueError(f"Rop(): {len(wrt)} wrt but {len(points)} eval_points")
    fs = [as_tensor_variable(fi) for fi in fs]
    points = [_eval_point(w, v) for w, v in zip(wrt, points)]
    live = [fi for fi in fs if _is_differentiable(fi)]
    u = {fi: zeros_like(fi) for fi in live}
    transposed = grad(None, wrt, disconnected_inputs="ignore", known_grads=u,
                      return_disconnected="none") if live else [None] * len(wrt)
    seeds = {}
    for g, v in zip(transposed, points):
        if g is not None:
            seeds[g] = seeds[g] + v if g in seeds else v
    forward = {}
    if seeds:
        forward = grad(None, [u[fi] for fi in live], disconnected_inputs="ignore",
                       known_grads=seeds, return_disconnected="none")
        forward = dict(zip(live, forward))
    result = []
    for fi in fs:
        r = forward.get(fi)
        if r is None:
            msg = (f"Rop(): {describe(fi)}{built_at(fi)} does not depend on any of wrt; pass "
                   f"disconnected_outputs='ignore' (or 'warn') if that is intended")
            if disconnected_outputs == "raise":
                raise DisconnectedInputError(msg)
            if disconnected_outputs == "warn":
                warnings.warn(msg, stacklevel=2)
            r = zeros_like(fi) if return_disconnected == "zero" else None
        result.append(r)
    return fmt(result)


def _eval_point(w, v):
    if not isinstance(w, Variable):
        raise ArignoteTypeError(f"Rop(): wrt must hold symbolic variables, got {type(w).__name__}")
    if not isinstance(w.type, TensorType):
        raise ArignoteTypeError(f"Rop(): wrt must hold tensors, got {describe(w)} of {_kind(w)}"
                                f"{built_at(w)}")
    v = as_tensor_variable(v)
    if v.ndim != w.ndim or not v.type.clone(dtype=w.dtype).compatible(w.type):
        raise ShapeError(f"Rop(): the eval point for {describe(w)} ({w.type}) has type {v.type}; "
                         f"it must have the shape of the variable")
    return cast(v, w.dtype) if v.dtype != w.dtype else v


def jacobian(expression, wrt, consider_constant=None, disconnected_inputs="raise"):
    """The Jacobian of a vector ``expression``: for each ``wrt``, a tensor of shape
    ``(len(expression),) + wrt.shape`` whose row ``i`` is the gradient of ``expression[i]``.

    A scalar expression gives its gradient. One reverse pass per element,
    seeded with a basis vector: unrolled where the length is static, the
    steps of a ``scan`` where it is known only at run time.
    """
    expression = as_tensor_variable(expression)
    wrt_list, fmt = _as_list(wrt)
    if expression.ndim == 0:
        return fmt(grad(expression, wrt_list, consider_constant=consider_constant,
                        disconnected_inputs=disconnected_inputs))
    if expression.ndim > 1:
        raise ArignoteTypeError(f"jacobian(): the expression must be a vector, got "
                                f"{describe(expression)} with {expression.ndim} dimensions; "
                                f"flatten it first{built_at(expression)}")
    return fmt(_jacobian(expression, expression.type.shape[0], wrt_list, consider_constant,
                         disconnected_inputs))


def _jacobian(expression, n, wrt, consider_constant, disconnected_inputs):
    if not _is_differentiable(expression):
        raise ArignoteTypeError(f"jacobian(): {describe(expression)} has dtype {expression.dtype}; "
                                f"only float expressions can be differentiated")
    if n is None:
        return _jacobian_by_scan(expression, wrt, consider_constant, disconnected_inputs)
    rows = [[] for _ in wrt]
    for i in range(n):
        basis = np.zeros(n, expression.dtype)
        basis[i] = 1
        gs = grad(None, wrt, consider_constant=consider_constant,
                  disconnected_inputs=disconnected_inputs if i == 0 else "ignore",
                  known_grads={expression: constant(basis)}, return_disconnected="none")
        for r, g in zip(rows, gs):
            r.append(g)
    out = []
    for w, r in zip(wrt, rows):
        if n == 0 or all(g is None for g in r):
            out.append(_no_rows(w, constant(np.int64(n))))
        else:
            out.append(stack(r))
    return out


def _jacobian_by_scan(expression, wrt, consider_constant, disconnected_inputs):
    """A run-time length: one reverse pass per element, as the steps of a ``scan``
    over the element indices (what the graph outside the step needs is computed once)."""
    n = expression.shape[0]
    grad(None, wrt, consider_constant=consider_constant, disconnected_inputs=disconnected_inputs,
         known_grads={expression: zeros_like(expression)}, return_disconnected="none")  # (checks)

    def row(i):
        basis = set_subtensor(zeros_like(expression)[i], constant(np.ones((), expression.dtype)))
        gs = grad(None, wrt, consider_constant=consider_constant, disconnected_inputs="ignore",
                  known_grads={expression: basis}, return_disconnected="zero")
        return list(gs)

    rows, _ = scan(row, sequences=arange(n, dtype="int64"), return_list=True, name="jacobian")
    return rows


def _no_rows(w, n):
    """The Jacobian of an expression no element of which depends on ``w``: zeros."""
    empty = alloc(constant(np.zeros((), w.dtype)), n, *[w.shape[d] for d in range(w.ndim)])
    return empty


def hessian(cost, wrt, consider_constant=None, disconnected_inputs="raise"):
    """The matrix of second derivatives of the scalar ``cost`` for each vector ``wrt``:
    the Jacobian of its gradient."""
    wrt_list, fmt = _as_list(wrt)
    out = []
    for w in wrt_list:
        if not isinstance(w, Variable) or not isinstance(w.type, TensorType) or w.ndim != 1:
            raise ArignoteTypeError(f"hessian(): wrt must be vectors, got {describe(w)} of type "
                                    f"{getattr(w, 'type', type(w).__name__)}; flatten the "
                                    f"parameters into one vector first")
        g = grad(cost, w, consider_constant=consider_constant,
                 disconnected_inputs=disconnected_inputs)
        n = w.type.shape[0] if w.type.shape[0] is not None else g.type.shape[0]
        out.append(_jacobian(g, n, [w], consider_constant, "ignore")[0])
    return fmt(out)


__all__ = ["grad", "Lop", "Rop", "jacobian", "hessian", "zero_grad", "disconnected_grad",
           "consider_constant", "grad_clip", "GradOverride"]
