"""What the printers share: the parts of a printable object (outputs and updates)
and how its variables, constants and ops read in every view (tree, DOT, networkx,
the HTML viewer), so that they all name a thing the same way."""
import re
import reprlib

import numpy as np

from arignote.errors import ArignoteTypeError
from arignote.graph.basic import Apply, Constant, Variable


def _is_function(obj):
    """A compiled Function, or anything shaped like one (``arignote dump``'s raw view)."""
    return all(hasattr(obj, a) for a in ("fgraph", "outs", "updates"))


def _graph_parts(obj, who):
    """(outputs, [(shared variable, update expression)]): what the graph of ``obj`` computes."""
    if isinstance(obj, Variable):
        return [obj], []
    if isinstance(obj, Apply):
        return list(obj.outputs), []
    if isinstance(obj, (list, tuple)):
        outputs, updates = [], []
        for item in obj:
            more, more_updates = _graph_parts(item, who)
            outputs += more
            updates += more_updates
        return outputs, updates
    if _is_function(obj):  # its graph computes the outputs, then one expression per update
        n_out, graph_outputs = len(obj.outs), obj.fgraph.outputs
        return list(graph_outputs[:n_out]), [
            (sv, expr) for (sv, _), expr in zip(obj.updates, graph_outputs[n_out:])]
    if hasattr(obj, "outputs") and hasattr(obj, "clients"):  # a FunctionGraph
        return list(obj.outputs), []
    raise ArignoteTypeError(
        f"{who}() takes a variable, a list of variables, a FunctionGraph or a compiled "
        f"function, got {type(obj).__name__}")


def _root_name(var):
    if isinstance(var, Constant):
        kind = "TensorConstant" if isinstance(var.data, np.ndarray) else "Constant"
        return var.name or f"{kind}{{{_value_str(var.data)}}}"
    if var.name:
        return var.name
    return "<shared>" if getattr(var, "is_shared", False) else "<input>"


def _value_str(data):
    if not isinstance(data, (np.ndarray, np.generic)):  # (a constant of a type other than tensors)
        return reprlib.repr(data)
    data = np.asarray(data)
    if data.size == 1:  # scalars, also once broadcast to shape (1, 1): the value is what reads
        return repr(data.item())
    text = np.array2string(data, separator=", ", threshold=8, edgeitems=2)
    return re.sub(r"\[ +", "[", re.sub(r"\s+", " ", text))  # one line, no column padding



def _op_label(op):
    """``exp`` for elementwise ops (what the user wrote), the op's own str otherwise."""
    scalar = getattr(op, "scalar_op", None)
    if type(op).__name__ == "Elemwise" and scalar is not None:
        return str(getattr(scalar, "name", scalar)).rstrip("_")
    return str(op)


def _var_label(var):
    if isinstance(var, Constant):
        head = var.name or _value_str(var.data)
    else:
        head = var.name or ("<shared>" if getattr(var, "is_shared", False) else "")
    return f"{head} {var.type}" if head else str(var.type)


def _var_role(var, outputs):
    if isinstance(var, Constant):
        return "constant"
    if getattr(var, "is_shared", False):
        return "shared"
    if var.owner is None:
        return "input"
    return "output" if var in outputs else "intermediate"
