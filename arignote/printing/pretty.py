"""``pprint`` and ``pp``: a graph as one line of math, each op by a formatter
of the :data:`FORMATTERS` table (any other op as ``name(args, props)``)."""
import itertools
import re

from arignote.errors import ArignoteTypeError
from arignote.graph.basic import Constant, Variable, toposort
from arignote.printing.parts import _value_str


def pprint(var, max_len=100_000, let=False):
    """``var`` as one line of math: ``(x + (y * 2.0))``, ``exp(x)``, ``sum(x, axis=(1,))``.

    Every op prints, known or not (unknown ones as ``name(args, props)``).
    Subexpressions longer than ``max_len`` characters are cut with ``...``
    so that graphs reusing a node many times stay printable. With ``let``, a
    subexpression used more than once is written once, as a let-binding:
    ``let t1 = exp(x) in ((t1 * t1) + t1)``.
    """
    if isinstance(var, (list, tuple)):
        return "\n".join(pprint(v, max_len, let) for v in var)
    if not isinstance(var, Variable):
        raise ArignoteTypeError(f"pprint() takes a graph variable, got {type(var).__name__}")
    nodes = toposort([var])
    uses = {}
    for node in nodes:
        for i in node.inputs:
            uses[i] = uses.get(i, 0) + 1
    names = _LetNames(nodes) if let else None
    text = {}
    for node in nodes:
        args = [text[i] if i in text else _leaf(i) for i in node.inputs]
        for i in node.inputs:  # free strings no later node needs: chains stay linear in memory
            uses[i] -= 1
            if uses[i] == 0 and i is not var:
                text.pop(i, None)
        for out in node.outputs:
            s = _format(node, out, args)
            s = s if len(s) <= max_len else s[:max_len - 3] + "..."
            text[out] = names.bind(out, s) if names is not None else s
    result = text.get(var) or _leaf(var)
    return names.wrap(result) if names is not None else result


class _LetNames:
    """The let-bindings of one :func:`pprint`: ``t1``, ``t2``... (skipping any name a
    variable of the graph has) for each non-trivial value used more than once."""

    #: texts this short are clearer repeated than named
    SHORT = 10

    def __init__(self, nodes):
        self.uses = {}
        taken = set()
        for node in nodes:
            for v in node.inputs + node.outputs:
                taken.add(v.name)
            for i in node.inputs:
                self.uses[i] = self.uses.get(i, 0) + 1
        self.names = (f"t{k}" for k in itertools.count(1) if f"t{k}" not in taken)
        self.bindings = []

    def bind(self, out, text):
        if self.uses.get(out, 0) < 2 or len(text) <= self.SHORT:
            return text
        name = next(self.names)
        self.bindings.append(f"{name} = {text}")
        return name

    def wrap(self, text):
        return f"let {'; '.join(self.bindings)} in {text}" if self.bindings else text


def pp(var, max_len=100_000):
    """Theano's ``pp``: :func:`pprint` with each value used more than once written
    once, as a let-binding (``let t1 = softmax(...) in ...``), so the line stays short."""
    return pprint(var, max_len, let=True)


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
