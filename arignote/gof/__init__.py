"""Theano's ``theano.gof``: the graph's classes under their old names
(``gof.Op``, ``gof.Apply``, ``gof.Variable``, ``gof.graph.inputs``, ...).
Everything here is :mod:`arignote.graph`; this package only adds the names."""
from arignote.gof import graph
from arignote.graph.basic import Apply, Constant, Variable
from arignote.graph.fg import FunctionGraph
from arignote.graph.generic import GenericType as Generic
from arignote.graph.op import Op
from arignote.graph.type import Type

__all__ = ["graph", "Apply", "Constant", "Variable", "FunctionGraph", "Generic", "Op", "Type"]
