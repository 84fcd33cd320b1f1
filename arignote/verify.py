"""Checking gradients numerically: ``verify_grad`` and ``numeric_grad``.

``verify_grad`` compiles functions, so it sits above the runtime, in the
public API (``ag.verify_grad``, ``T.verify_grad``), not in
:mod:`arignote.gradient`, which the passes and the runtime build on.
"""
import numpy as np

from arignote.errors import ArignoteTypeError, ArignoteValueError, GradientError, describe
from arignote.gradient import _is_differentiable, grad
from arignote.ops.basic import as_tensor_variable
from arignote.runtime.function import function
from arignote.tensor.basic import tensor

_EPS = {"float64": 1e-7, "float32": 3e-4, "float16": 1e-1}
_TOL = {"float64": 1e-4, "float32": 1e-2, "float16": 5e-2}


def numeric_grad(f, pt, eps):
    """Central finite differences of the scalar function ``f`` at the arrays ``pt``.

    ``pt`` is perturbed in place (and restored): pass copies.
    """
    grads = []
    for x in pt:
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
    the gradient of that scalar is compared with central differences,
    ``n_tests`` times. ``rng`` is a NumPy Generator, RandomState or seed.
    Raises :class:`GradientError` naming the input and the element where the
    two disagree beyond both tolerances (chosen per dtype unless given: the
    least precise input decides).
    """
    rng = rng if hasattr(rng, "uniform") else np.random.default_rng(42 if rng is None else rng)
    pt = [np.array(p, dtype=p.dtype if isinstance(p, np.ndarray) else "float64", copy=True)
          for p in pt]
    if not pt:
        raise ArignoteValueError("verify_grad(): give at least one point")
    for k, p in enumerate(pt):
        if p.dtype.name not in _EPS:
            raise ArignoteTypeError(f"verify_grad(): point {k} has dtype {p.dtype}; float arrays only")
    inputs = [tensor(p.dtype, tuple(1 if s == 1 else None for s in p.shape), name=f"input{k}")
              for k, p in enumerate(pt)]
    out = fn(*inputs)
    if isinstance(out, (list, tuple)):
        raise ArignoteTypeError("verify_grad(): fn must return one variable")
    out = as_tensor_variable(out)
    if not _is_differentiable(out):
        raise ArignoteTypeError(f"verify_grad(): fn returned {describe(out)} of dtype {out.dtype}; "
                                f"only float outputs can be differentiated")
    dtype = max((p.dtype.name for p in pt), key=_EPS.get)
    eps = eps if eps is not None else _EPS[dtype]
    abs_tol = abs_tol if abs_tol is not None else _TOL[dtype]
    rel_tol = rel_tol if rel_tol is not None else _TOL[dtype]

    # the projection is an input, so each function compiles once for all n_tests
    proj = tensor(out.dtype, out.type.shape, name="projection")
    cost = (out * proj).sum() if out.ndim else out * proj
    sym = grad(cost, inputs, disconnected_inputs="ignore")
    f_out = function(inputs, out, mode=mode, on_unused_input="ignore")
    f_cost = function(inputs + [proj], cost, mode=mode, on_unused_input="ignore")
    f_grad = function(inputs + [proj], sym, mode=mode, on_unused_input="ignore")
    out_shape = np.shape(f_out(*pt))
    for _ in range(n_tests):
        p = np.asarray(rng.uniform(0.5, 1.5, out_shape), dtype=out.dtype)
        analytic = f_grad(*pt, p)
        numeric = numeric_grad(lambda *xs: f_cost(*xs, p), [x.copy() for x in pt], eps)
        for k, (a, n) in enumerate(zip(analytic, numeric)):
            _compare(k, pt[k].shape, np.asarray(a, dtype="float64"), n, abs_tol, rel_tol)


def _compare(k, shape, a, n, abs_tol, rel_tol):
    abs_err = np.abs(a - n)
    rel_err = abs_err / np.maximum(np.abs(a) + np.abs(n), 1e-8)
    bad = ((abs_err > abs_tol) & (rel_err > rel_tol)) | (np.isnan(a) != np.isnan(n))
    if not bad.any():
        return
    idx = tuple(int(i) for i in np.argwhere(bad)[0])
    raise GradientError(
        f"verify_grad: the gradient with respect to input {k} (shape {shape}) disagrees with "
        f"finite differences at index {idx}: symbolic {a[idx]!r}, numeric {n[idx]!r} (abs error "
        f"{abs_err[idx]:.3g} > {abs_tol}, rel error {rel_err[idx]:.3g} > {rel_tol}); "
        f"{int(bad.sum())} of {bad.size} entries disagree, max abs error {np.nanmax(abs_err):.3g}",
        arg=k, abs_err=float(np.nanmax(abs_err)), rel_err=float(np.nanmax(rel_err)))


__all__ = ["verify_grad", "numeric_grad"]
