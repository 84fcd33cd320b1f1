"""What users read: ``debugprint`` (an indented tree) and ``pprint`` (one line of math).

``debugprint`` follows Theano's layout, so its output reads the way Theano
users expect::

    Elemwise{add} [id A] 'z' <float64[?]>
     |x [id B] <float64[?]>
     |Elemwise{mul} [id C] <float64[?]>
       |y [id D] <float64[?]>
       |TensorConstant{2.0} [id E] <float64>

A node used twice is expanded once and later shown as its line alone (same
id). Both printers walk the graph with explicit stacks, never recursion, so
graphs of thousands of nodes (deep nets and their gradients) print fine.
"""
import re
import sys

import numpy as np

from arignote.errors import ArignoteTypeError
from arignote.graph.basic import Apply, Constant, Variable, toposort

__all__ = ["debugprint", "pprint"]


# ------------------------------------------------------------ debugprint

def debugprint(obj, file=None, print_type=True, ids=True, depth=-1):
    """Print the graph of ``obj`` as an indented tree.

    ``obj`` is a variable, an Apply node, a list of them, a FunctionGraph or a
    compiled function (its outputs, then each update labelled with its shared
    variable). ``depth`` limits how many levels are expanded (-1: all). With
    ``file="str"`` the text is returned instead of printed (Theano's
    convention); otherwise it is written to ``file`` (default stdout).
    """
    printer = _TreePrinter(print_type, ids)
    lines = []
    for var, label in _printable_roots(obj):
        printer.tree(var, label, depth, lines)
    text = "".join(line + "\n" for line in lines)
    if file == "str":
        return text
    out = sys.stdout if file is None else file
    out.write(text)
    return out


def _printable_roots(obj):
    """(variable, label) pairs: what the top-level trees of ``obj`` are."""
    if isinstance(obj, Variable):
        return [(obj, None)]
    if isinstance(obj, Apply):
        return [(o, None) for o in obj.outputs]
    if isinstance(obj, (list, tuple)):
        return [pair for item in obj for pair in _printable_roots(item)]
    fgraph = getattr(obj, "fgraph", None)
    if fgraph is not None and hasattr(obj, "outs") and hasattr(obj, "updates"):  # a Function
        n_out = len(obj.outs)
        labels = [None] * n_out + [f"update of {_root_name(sv)}" for sv, _ in obj.updates]
        return list(zip(fgraph.outputs, labels))
    if hasattr(obj, "outputs") and hasattr(obj, "clients"):  # a FunctionGraph
        return [(o, None) for o in obj.outputs]
    raise ArignoteTypeError(
        f"debugprint() takes a variable, a list of variables, a FunctionGraph or a compiled "
        f"function, got {type(obj).__name__}")


def node_id(n):
    """A, B, ..., Z, AA, AB, ...: Theano-style ids, short for small graphs."""
    letters = ""
    n += 1
    while n:
        n, r = divmod(n - 1, 26)
        letters = chr(65 + r) + letters
    return letters


class _TreePrinter:
    """Keeps the ids across the trees of one call, so shared nodes print once."""

    def __init__(self, print_type, ids):
        self.print_type, self.show_ids = print_type, ids
        self.ids = {}

    def tree(self, root, label, depth, lines):
        # (variable, line prefix, prefix of its children's lines, levels left, label)
        stack = [(root, "", "", depth, label)]
        while stack:
            var, prefix, child_prefix, levels, label = stack.pop()
            node = var.owner
            key = node if node is not None else var
            seen = key in self.ids
            if not seen:
                self.ids[key] = node_id(len(self.ids))
            lines.append(prefix + self.line(var, self.ids[key], label))
            if node is None or seen or levels == 0:
                continue
            last = len(node.inputs) - 1
            for k in range(last, -1, -1):
                stack.append((node.inputs[k], child_prefix + " |",
                              child_prefix + ("  " if k == last else " |"), levels - 1, None))

    def line(self, var, ident, label):
        node = var.owner
        if node is None:
            parts = [_root_name(var)]
        else:
            head = str(node.op)
            if len(node.outputs) > 1:
                head += f".{var.index}"
            parts = [head]
        if self.show_ids:
            parts.append(f"[id {ident}]")
        if node is not None and var.name:
            parts.append(repr(var.name))
        if self.print_type:
            parts.append(f"<{var.type}>")
        if label:
            parts.append(f"({label})")
        return " ".join(parts)


def _root_name(var):
    if isinstance(var, Constant):
        return var.name or f"TensorConstant{{{_value_str(var.data)}}}"
    if var.name:
        return var.name
    return "<shared>" if getattr(var, "is_shared", False) else "<input>"


def _value_str(data):
    data = np.asarray(data)
    if data.size == 1:  # scalars, also once broadcast to shape (1, 1): the value is what reads
        return repr(data.item())
    text = np.array2string(data, separator=", ", threshold=8, edgeitems=2)
    return re.sub(r"\[ +", "[", re.sub(r"\s+", " ", text))  # one line, no column padding


# ------------------------------------------------------------ pprint

def pprint(var, max_len=100_000):
    """``var`` as one line of math: ``(x + (y * 2.0))``, ``exp(x)``, ``sum(x, axis=(1,))``.

    Every op prints, known or not (unknown ones as ``name(args, props)``).
    Subexpressions longer than ``max_len`` characters are cut with ``...``
    so that graphs reusing a node many times stay printable.
    """
    if isinstance(var, (list, tuple)):
        return "\n".join(pprint(v, max_len) for v in var)
    if not isinstance(var, Variable):
        raise ArignoteTypeError(f"pprint() takes a graph variable, got {type(var).__name__}")
    nodes = toposort([var])
    uses = {}
    for node in nodes:
        for i in node.inputs:
            uses[i] = uses.get(i, 0) + 1
    text = {}
    for node in nodes:
        args = [text[i] if i in text else _leaf(i) for i in node.inputs]
        for i in node.inputs:  # free strings no later node needs: chains stay linear in memory
            uses[i] -= 1
            if uses[i] == 0 and i is not var:
                text.pop(i, None)
        for out in node.outputs:
            s = _format(node, out, args)
            text[out] = s if len(s) <= max_len else s[:max_len - 3] + "..."
    return text.get(var) or _leaf(var)


def _leaf(var):
    if var.owner is not None:  # only reached for an unformatted output; keep it printable
        return f"{var.owner.op}.{var.index}"
    if isinstance(var, Constant):
        return var.name or _value_str(var.data)
    if var.name:
        return var.name
    return f"<shared {var.type}>" if getattr(var, "is_shared", False) else f"<{var.type}>"


_BINARY = {"add": "+", "sub": "-", "mul": "*", "true_div": "/", "floor_div": "//", "mod": "%",
           "pow": "**", "lt": "<", "le": "<=", "gt": ">", "ge": ">=", "eq": "==", "neq": "!=",
           "and_": "&", "or_": "|", "xor": "^"}
_UNARY = {"neg": "-", "invert": "~"}


def _call(name, args, **kwargs):
    extra = [f"{k}={v!r}" for k, v in kwargs.items() if v is not None and v is not False]
    return f"{name}({', '.join(list(args) + extra)})"


def _fmt_elemwise(op, node, out, args):
    name = op.scalar_op.name
    if name in _BINARY and len(args) == 2:
        return f"({args[0]} {_BINARY[name]} {args[1]})"
    if name in _UNARY:
        return f"{_UNARY[name]}{args[0]}"
    if name == "identity":
        return args[0]
    if name.startswith("cast_"):
        return _call("cast", args, dtype=name[len("cast_"):])
    return _call(name.rstrip("_"), args)


def _fmt_dimshuffle(op, node, out, args):
    order, n = op.new_order, op.input_ndim
    kept = [o for o in order if o != "x"]
    if kept == sorted(kept):  # only adds or drops size-1 axes (implicit broadcasting): no math
        return args[0]
    if order == tuple(range(n - 1, -1, -1)):
        return f"{args[0]}.T"
    return f"{args[0]}.dimshuffle({', '.join(map(repr, order))})"


def _fmt_reduce(op, node, out, args):
    axis = None if len(op.axis) == node.inputs[0].ndim else op.axis
    return _call(op.combiner, args, axis=axis, keepdims=op.keepdims, dtype=op.dtype,
                 initial=op.initial)


def _fmt_matmul(op, node, out, args):
    return _call("dot" if node.outputs[0].ndim == 2 else "matmul", args)


def _fmt_tensordot(op, node, out, args):
    a, b = node.inputs
    if op.axes_a == (a.ndim - 1,) and op.axes_b == (max(b.ndim - 2, 0),):
        return _call("dot", args)
    return _call("tensordot", args, axes=(op.axes_a, op.axes_b))


def _index_str(idx_list, index_args):
    """``0:2, i, ::-1``: an indexing op's entries, with its symbolic parts filled in."""
    items = iter(index_args)

    def bound(p):
        return "" if p is None else next(items) if p == "?" else str(p)

    parts = []
    for entry in idx_list:
        kind = entry[0]
        if kind == "int":
            parts.append(bound(entry[1]))
        elif kind == "slice":
            start, stop, step = (bound(p) for p in entry[1:])
            parts.append(f"{start}:{stop}" + (f":{step}" if step else ""))
        elif kind in ("array", "mask"):
            parts.append(next(items))
        else:
            parts.append({"newaxis": "None", "ellipsis": "..."}.get(kind, kind))
    return ", ".join(parts)


def _fmt_subtensor(op, node, out, args):
    return f"{args[0]}[{_index_str(op.idx_list, args[1:])}]"


def _fmt_inc_subtensor(op, node, out, args):
    fn = "set_subtensor" if op.set_instead_of_inc else "inc_subtensor"
    return f"{fn}({args[0]}[{_index_str(op.idx_list, args[2:])}], {args[1]})"


#: op class name -> formatter(op, node, output, argument strings)
FORMATTERS = {
    "Elemwise": _fmt_elemwise,
    "DimShuffle": _fmt_dimshuffle,
    "Shape": lambda op, node, out, args: f"{args[0]}.shape",
    "Reduce": _fmt_reduce,
    "MatMul": _fmt_matmul,
    "TensorDot": _fmt_tensordot,
    "Subtensor": _fmt_subtensor,
    "AdvancedSubtensor": _fmt_subtensor,
    "IncSubtensor": _fmt_inc_subtensor,
}


def _format(node, out, args):
    op = node.op
    try:
        fmt = FORMATTERS.get(type(op).__name__)
        if fmt is not None:
            return fmt(op, node, out, args)
        props = {p: getattr(op, p) for p in getattr(op, "__props__", ())}
        text = _call(_op_name(op), args, **props)
    except Exception:  # a printer must print: fall back on the op's own str
        text = f"{op}({', '.join(args)})"
    return text if len(node.outputs) == 1 else f"{text}[{out.index}]"


def _op_name(op):
    """CrossEntropy -> cross_entropy: how the tensor API spells its functions."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", type(op).__name__).lower()
