"""Theano's ``theano.compile``: compiling graphs into functions, under its names.

``Mode``/``get_mode`` (:mod:`arignote.compile.mode`), ``function``, ``In``,
``Out``, ``shared`` and ``as_op`` (:mod:`arignote.compile.ops`). Part of the
public API, the top layer.
"""
from arignote.compile import mode, ops
from arignote.compile.mode import FAST_COMPILE, FAST_RUN, Mode, get_default_mode, get_mode
from arignote.compile.ops import as_op
from arignote.runtime.function import Function, In, Out, function
from arignote.tensor.sharedvar import SharedVariable, shared

__all__ = ["mode", "ops", "Mode", "get_mode", "get_default_mode", "FAST_RUN", "FAST_COMPILE", "as_op",
           "function", "Function", "In", "Out", "shared", "SharedVariable"]
