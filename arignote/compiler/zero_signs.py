"""Which float max/min reductions no consumer can tell the zero sign of.

A float max/min returns NumPy's choice between +0.0 and -0.0 (the fold's,
:mod:`arignote.compiler.interp`), which costs a renderer an order-keeping
side reduction. Where every use of the result is blind to the sign of a
zero -- softmax's ``exp(x - max)``, a max gradient's mask ``eq(x, max)`` --
the plain form will do: :func:`mark_sign_blind` sets ``Reduce.sign_blind``
there, and only there, so outputs are the same bits either way.

A use is *blind* when its result does not change if the argument's zero flips
sign (comparisons, ``exp``, ``abs``, casts to int or bool, Checks); it
*passes the sign on* when its result can change only in the sign of a zero
(``add``, ``mul``, ``switch``'s branches, a float reduction, a float cast),
and then it is blind if its own result's uses are; any other use (a Store, a
divisor, ``log``...) sees the sign.
"""
import dataclasses

import numpy as np

from arignote.compiler import kernel as K

BLIND, PASS, SEEN = "blind", "pass", "seen"

#: f(-0.0) and f(+0.0) have the same bits
_BLIND_OPS = frozenset({"eq", "neq", "lt", "le", "gt", "ge", "isnan", "isinf", "isfinite",
                        "logical_not", "abs", "sqr", "exp", "exp2", "cos", "cosh"})
#: f(-0.0) == f(+0.0), bits differing at most in a zero's sign (an infinity times a zero
#: is NaN either way), for every argument
_PASS_OPS = frozenset({"add", "sub", "mul", "maximum", "minimum", "clip", "neg", "identity",
                       "floor", "ceil", "trunc", "round", "sqrt", "tanh", "sin"})
#: per-argument rules of the ops whose arguments differ: ``switch``'s condition is a bool,
#: a dividend's zero passes on (a divisor's is an infinity's sign), ``second`` returns its second
_PER_ARG = {"switch": (BLIND, PASS, PASS), "true_div": (PASS, SEEN), "second": (BLIND, PASS)}


def use(ins, position):
    """How ``ins`` uses its argument number ``position``: BLIND, PASS or SEEN (see the
    module docstring)."""
    if isinstance(ins, K.Check):
        return BLIND
    if isinstance(ins, K.Store):
        return SEEN if np.dtype(ins.dtype).kind == "f" else BLIND
    if isinstance(ins, (K.Cast, K.Reduce)):
        return PASS if np.dtype(ins.dtype).kind == "f" else BLIND
    if isinstance(ins, K.ScalarOp):
        if ins.op in _PER_ARG:
            return _PER_ARG[ins.op][position]
        if ins.op in _BLIND_OPS:
            return BLIND
        if ins.op in _PASS_OPS:
            return PASS
    return SEEN


def seen(body):
    """Per value of ``body``: whether some use tells the sign of its zeros (iterative, last
    to first: every use comes after its value)."""
    out = [False] * len(body)
    for k in range(len(body) - 1, -1, -1):
        for position, a in enumerate(K.args_of(body[k])):
            how = use(body[k], position)
            out[a] = out[a] or how == SEEN or (how == PASS and out[k])
    return out


def mark_sign_blind(body):
    """``body`` with ``sign_blind`` set on exactly the float max/min Reduces whose zero sign
    no use tells."""
    told = seen(body)
    return tuple(dataclasses.replace(ins, sign_blind=not told[k])
                 if isinstance(ins, K.Reduce) and ins.combiner in ("max", "min")
                 and np.dtype(ins.dtype).kind == "f" else ins
                 for k, ins in enumerate(body))
