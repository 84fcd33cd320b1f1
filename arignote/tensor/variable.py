"""Tensor variables as users see them, and ``eval``.

The classes, with their operators and NumPy-like methods, belong to the ops
layer (:mod:`arignote.ops.variable`), where the ops and rewrites that build
graphs with them live. ``eval`` compiles a function, so it is attached here,
above the runtime.
"""
from arignote.ops.variable import TensorConstant, TensorVariable, _TensorOps
from arignote.runtime.function import function


def eval(self, inputs=None, **kwargs):
    """Compile a function of this variable's inputs and run it.

    ``inputs`` maps variables to values; compiled functions are cached on
    the variable so repeated calls stay cheap.
    """
    inputs = dict(inputs or {})
    keys = tuple(inputs)
    cache = self.__dict__.setdefault("_eval_cache", {})
    key = (tuple(id(k) for k in keys), tuple(sorted(kwargs.items())))
    if key not in cache:
        cache[key] = function(list(keys), self, on_unused_input="ignore", **kwargs)
    return cache[key](*[inputs[k] for k in keys])


_TensorOps.eval = eval

__all__ = ["TensorVariable", "TensorConstant"]
