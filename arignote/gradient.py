"""Reverse-mode differentiation and gradient checking.

``grad`` walks the graph from the cost back to the variables asked for and
asks each op for its ``L_op``: the gradient is built from ordinary nodes, so
it is optimized and compiled like any graph, and ``grad`` of a gradient works.
``verify_grad`` checks an op's gradient against central finite differences.
"""
import warnings

import numpy as np

from arignote.errors import (ArignoteTypeError, ArignoteValueError, DisconnectedInputError,
                             GradientError, built_at, describe)
from arignote.graph.basic import Variable, toposort
from arignote.tensor.basic import as_tensor_variable, constant

_DISCONNECTED = ("raise", "warn", "ignore")
_RETURN_DISCONNECTED = ("zero", "none", "disconnected")


def _T():
    import arignote.tensor as T
    return T


def _is_differentiable(v):
    return v.type.is_float or v.dtype.startswith("complex")


def grad(cost, wrt, consider_constant=None, disconnected_inputs="raise", known_grads=None,
         return_disconnected="zero"):
    """Symbolic gradient of the scalar ``cost`` with respect to ``wrt``.

    ``wrt`` is a variable or a list (a list gives a list). ``known_grads``
    maps variables to gradients already known (seeding the backward pass, so
    ``cost`` may then be None); ``consider_constant`` lists variables treated
    as constants. ``disconnected_inputs`` ('raise', 'warn', 'ignore') says
    what happens when the cost does not depend on a ``wrt``, and
    ``return_disconnected`` ('zero', 'none') what is returned for it.
    """
    if disconnected_inputs not in _DISCONNECTED:
        raise ArignoteValueError(f"grad(): disconnected_inputs must be one of {_DISCONNECTED}, "
                                 f"got {disconnected_inputs!r}")
    if str(return_disconnected).lower() not in _RETURN_DISCONNECTED:
        raise ArignoteValueError(f"grad(): return_disconnected must be one of "
                                 f"{_RETURN_DISCONNECTED}, got {return_disconnected!r}")
    single = not isinstance(wrt, (list, tuple))
    wrt = [wrt] if single else list(wrt)
    for w in wrt:
        if not isinstance(w, Variable):
            raise ArignoteTypeError(f"grad(): wrt must hold symbolic variables, got "
                                    f"{type(w).__name__}")
        if not _is_differentiable(w):
            raise ArignoteTypeError(
                f"grad(): cannot differentiate with respect to {describe(w)} of dtype {w.dtype}; "
                f"gradients are defined for float variables only{built_at(w)}")
    seeds = _seeds(cost, known_grads)
    blocked = set(consider_constant or ())

    roots = list(seeds)
    nodes = toposort(roots, blockers=blocked)
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
                     (_T().zeros_like(o) if _is_differentiable(o) else None) for o in node.outputs]
        input_grads = node.op.L_op(node.inputs, node.outputs, out_grads)
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
        msg = (f"grad(): the cost does not depend on {describe(w)}{built_at(w)}; pass "
               f"disconnected_inputs='ignore' (or 'warn') if that is intended")
        if disconnected_inputs == "raise":
            raise DisconnectedInputError(msg)
        if disconnected_inputs == "warn":
            warnings.warn(msg, stacklevel=2)
        result.append(_T().zeros_like(w) if str(return_disconnected).lower() == "zero" else None)
    return result[0] if single else result


def _seeds(cost, known_grads):
    seeds = {}
    if cost is not None:
        if not isinstance(cost, Variable):
            raise ArignoteTypeError(f"grad(): cost must be a symbolic scalar, got {type(cost).__name__}")
        if cost.ndim != 0:
            raise ArignoteTypeError(
                f"grad(): cost must be a scalar, got {describe(cost)} with {cost.ndim} dimensions "
                f"({cost.type}){built_at(cost)}; reduce it first (e.g. cost.sum() or cost.mean()) "
                f"or pass known_grads")
        if not _is_differentiable(cost):
            raise ArignoteTypeError(f"grad(): cost {describe(cost)} has dtype {cost.dtype}; only "
                                    f"float costs can be differentiated")
        seeds[cost] = constant(np.ones((), cost.dtype))
    for var, g in (known_grads or {}).items():
        g = as_tensor_variable(g)
        if g.ndim != var.ndim:
            raise ArignoteTypeError(f"grad(): known gradient of {describe(var)} has {g.ndim} "
                                    f"dimensions, the variable has {var.ndim}")
        seeds[var] = _T().cast(g, var.dtype) if g.dtype != var.dtype else g
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
        g = _T().cast(g, inp.dtype)
    return g


# ------------------------------------------------------------ checking

_EPS = {"float64": 1e-7, "float32": 3e-4, "float16": 1e-1}
_TOL = {"float64": 1e-4, "float32": 1e-2, "float16": 5e-2}


def numeric_grad(f, pt, eps):
    """Central finite differences of the scalar function ``f`` at the arrays ``pt``."""
    grads = []
    for k, x in enumerate(pt):
        g = np.zeros(x.shape, dtype="float64")
        for idx in np.ndindex(*x.shape):
            orig = x[idx]
            x[idx] = orig + eps
            hi = float(f(*pt))
            x[idx] = orig - eps
            lo = float(f(*pt))
            x[idx] = orig
            g[idx] = (hi - lo) / (2 * eps)
        grads.append(g)
    return grads


def verify_grad(fn, pt, n_tests=2, rng=None, eps=None, abs_tol=None, rel_tol=None, mode=None):
    """Check the symbolic gradient of ``fn`` at the point ``pt`` numerically.

    ``fn`` maps symbolic inputs (one per array of ``pt``) to one symbolic
    output. Its output is projected on a random direction to get a scalar;
    the gradient of that scalar is compared with central differences.
    Raises :class:`GradientError` naming the input and the element where the
    two disagree beyond both tolerances (chosen per dtype unless given).
    """
    from arignote.runtime.function import function
    T = _T()
    rng = rng if rng is not None else np.random.default_rng(42)
    pt = [np.array(p, dtype=p.dtype if isinstance(p, np.ndarray) else "float64", copy=True) for p in pt]
    for k, p in enumerate(pt):
        if p.dtype.name not in _EPS:
            raise ArignoteTypeError(f"verify_grad(): point {k} has dtype {p.dtype}; float arrays only")
    inputs = [T.tensor(p.dtype, tuple(1 if s == 1 else None for s in p.shape), name=f"input{k}")
              for k, p in enumerate(pt)]
    out = fn(*inputs)
    if isinstance(out, (list, tuple)):
        raise ArignoteTypeError("verify_grad(): fn must return one variable")
    out = as_tensor_variable(out)
    dtype = max((p.dtype.name for p in pt), key=_EPS.get)  # the least precise input decides
    eps = eps if eps is not None else _EPS[dtype]
    abs_tol = abs_tol if abs_tol is not None else _TOL[dtype]
    rel_tol = rel_tol if rel_tol is not None else _TOL[dtype]
    f_out = function(inputs, out, mode=mode, on_unused_input="ignore")
    out_shape = np.shape(f_out(*pt))
    for _ in range(n_tests):
        proj = T.constant(rng.uniform(0.5, 1.5, out_shape).astype(out.dtype) if out_shape else
                          np.asarray(rng.uniform(0.5, 1.5), dtype=out.dtype))
        cost = T.sum(out * proj) if out.ndim else out * proj
        sym = grad(cost, inputs, disconnected_inputs="ignore")
        f_cost = function(inputs, cost, mode=mode, on_unused_input="ignore")
        f_grad = function(inputs, sym, mode=mode, on_unused_input="ignore")
        analytic = f_grad(*pt)
        numeric = numeric_grad(f_cost, [p.copy() for p in pt], eps)
        for k, (a, n) in enumerate(zip(analytic, numeric)):
            a = np.asarray(a, dtype="float64")
            abs_err = np.abs(a - n)
            rel_err = abs_err / np.maximum(np.abs(a) + np.abs(n), 1e-8)
            bad = (abs_err > abs_tol) & (rel_err > rel_tol)
            if bad.any():
                idx = tuple(int(i) for i in np.argwhere(bad)[0])
                raise GradientError(
                    f"verify_grad: the gradient with respect to input {k} (shape {pt[k].shape}) "
                    f"disagrees with finite differences at index {idx}: symbolic {a[idx]!r}, "
                    f"numeric {n[idx]!r} (abs error {abs_err[idx]:.3g} > {abs_tol}, rel error "
                    f"{rel_err[idx]:.3g} > {rel_tol}); max abs error {abs_err.max():.3g}",
                    arg=k, abs_err=float(abs_err.max()), rel_err=float(rel_err.max()))
