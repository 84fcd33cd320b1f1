"""The graph IR: types, variables, applies, ops and function graphs."""
from arignote.graph.basic import (Apply, Constant, Variable, ancestors, clone_graph,
                                  graph_inputs, toposort)
from arignote.graph.fg import FunctionGraph
from arignote.graph.generic import GenericType, ListType, NoneConst, NoneType
from arignote.graph.op import Op
from arignote.graph.type import TensorType, Type

__all__ = ["Apply", "Constant", "Variable", "Op", "Type", "TensorType", "GenericType", "ListType",
           "NoneType", "NoneConst", "FunctionGraph",
           "ancestors", "graph_inputs", "toposort", "clone_graph"]
