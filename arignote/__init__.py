"""Arignote: a symbolic computation-graph compiler for Python.

Build a typed graph with ``arignote.tensor``, differentiate it with ``grad``,
and compile it with ``function``::

    import arignote as ag, arignote.tensor as T
    x = T.dvector('x')
    f = ag.function([x], (x ** 2).sum())
"""
from arignote.config import config
from arignote.errors import (ArignoteError, ArignoteTypeError, ArignoteValueError,
                             ArignoteWarning, CacheWarning, DisconnectedInputError, GradientError,
                             MissingInputError, ShapeError, UnusedInputError)
from arignote import tensor
from arignote.tensor.sharedvar import SharedVariable, shared
from arignote.runtime.function import Function, In, Out, function
from arignote.runtime.serialize import load, save
from arignote.runtime.profile import profile
from arignote.gradient import (Lop, Rop, consider_constant, disconnected_grad, grad, grad_clip,
                               hessian, jacobian, zero_grad)
from arignote.verify import verify_grad
from arignote.graph.shared import OrderedUpdates
from arignote.ops.scan import foldl, foldr, map, reduce, scan  # noqa: A004  (Theano's names)
from arignote import scan_module  # noqa: E402
from arignote import backends, gradient, printing
from arignote.printing import pp  # noqa: E402  (theano.pp)
from arignote import ifelse  # (the module, as theano.ifelse: ifelse.ifelse, ifelse.IfElse)
from arignote import updates  # noqa: E402  (Lasagne's rules; theano.updates.OrderedUpdates)
from arignote import init  # noqa: E402  (Lasagne-style initializers)
from arignote import compile, gof, scalar  # noqa: E402,A004  (Theano's module names)
from arignote.compile.mode import Mode  # noqa: E402
from arignote.gof.graph import clone_replace  # noqa: E402

clone = clone_replace  # (Theano's name: theano.clone)

__version__ = "0.1.0"

__all__ = ["backends", "config", "function", "Function", "In", "Out", "load", "save", "profile", "shared",
           "SharedVariable", "grad",
           "Lop", "Rop", "jacobian", "hessian", "zero_grad", "disconnected_grad", "grad_clip",
           "consider_constant", "verify_grad", "scan", "map", "reduce", "foldl", "foldr", "scan_module",
           "OrderedUpdates", "ifelse", "updates", "init", "compile", "gof", "scalar", "Mode", "clone",
           "clone_replace",
           "gradient", "printing", "pp", "tensor", "ArignoteError", "ArignoteTypeError",
           "ArignoteValueError", "ShapeError", "MissingInputError", "UnusedInputError",
           "DisconnectedInputError", "GradientError", "ArignoteWarning", "CacheWarning"]
