"""What users read: ``debugprint`` (an indented tree), ``pprint`` and ``pp`` (one
line of math), ``to_dot`` and ``pydotprint`` (Graphviz drawings), ``d3viz`` (an
interactive page, see :mod:`arignote.viz`) and ``to_networkx`` (for analysis).

``debugprint`` follows Theano's layout, so its output reads the way Theano
users expect::

    Elemwise{add} [id A] 'z' <float64[?]>
     |x [id B] <float64[?]>
     |Elemwise{mul} [id C] <float64[?]>
       |y [id D] <float64[?]>
       |TensorConstant{2.0} [id E] <float64>

A node used twice is expanded once and later shown as its line alone (same
id). Every printer walks the graph with explicit stacks, never recursion, so
graphs of thousands of nodes (deep nets and their gradients) print fine.
"""
import itertools
import os
import re
import reprlib
import shutil
import subprocess
import sys

import numpy as np

from arignote.errors import ArignoteError, ArignoteTypeError, ArignoteValueError, built_at
from arignote.graph.basic import Apply, Constant, Variable, graph_inputs, toposort
from arignote.ops.inner import InnerGraphOp

__all__ = ["d3viz", "debugprint", "pp", "pprint", "pydotprint", "to_dot", "to_networkx"]


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
    k = 0
    while k < len(printer.inner):  # each inner-graph op's inner graph (nested ones included)
        node = printer.inner[k]
        lines += ["", "Inner graphs:"] if k == 0 else []
        lines += ["", f"{node.op} [id {printer.ids[node]}]"]
        for out in node.op.outputs:
            printer.tree(out, None, depth, lines, indent=" >")
        k += 1
    text = "".join(line + "\n" for line in lines)
    if file == "str":
        return text
    out = sys.stdout if file is None else file
    out.write(text)
    return out


def _printable_roots(obj):
    """(variable, label) pairs: what the top-level trees of ``obj`` are."""
    outputs, updates = _graph_parts(obj, "debugprint")
    return [(o, None) for o in outputs] + [
        (expr, f"update of {_root_name(sv)}") for sv, expr in updates]


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
        self.inner = []  # nodes of inner-graph ops met, whose inner graphs print after the trees

    def tree(self, root, label, depth, lines, indent=""):
        # (variable, line prefix, prefix of its children's lines, levels left, label)
        stack = [(root, indent, indent, depth, label)]
        while stack:
            var, prefix, child_prefix, levels, label = stack.pop()
            node = var.owner
            key = node if node is not None else var
            seen = key in self.ids
            if not seen:
                self.ids[key] = node_id(len(self.ids))
                if node is not None and isinstance(node.op, InnerGraphOp):
                    self.inner.append(node)
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


# ------------------------------------------------------------ pprint

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


# ------------------------------------------------------------ Graphviz DOT

#: fill styles of the variable ellipses, by role (outputs also get a double border)
_VAR_STYLE = {
    "input": 'style=filled, fillcolor="#c7e9c0"',
    "shared": 'style=filled, fillcolor="#bdd7ee"',
    "constant": 'style=filled, fillcolor="#e5e5e5", fontsize=9',
    "output": 'style=filled, fillcolor="#fdd49e"',
    "intermediate": "",
    "inner-input": "style=dashed",
}
#: output formats that need the ``dot`` program (any other suffix gets the DOT text)
_RENDERED = ("svg", "png", "pdf", "ps", "eps", "jpg", "jpeg", "gif", "json")


def to_dot(obj, path=None, format=None, clusters=False):
    """The graph of ``obj`` as Graphviz DOT text, optionally written or rendered.

    ``obj`` is what :func:`debugprint` takes; for a compiled function this is
    the optimized graph, with a dashed edge from each update expression to
    its shared variable. Ops are boxes, variables ellipses coloured by role
    (inputs green, shared variables blue, constants grey, outputs orange with
    a double border). The text depends only on the graph's structure, so the
    same graph always gives the same text.

    With ``path`` the text is written there, or, when ``path`` ends in
    ``.svg``/``.png``/``.pdf`` (or ``format`` names one), written next to it as
    ``.dot`` and rendered by Graphviz's ``dot`` program.

    With ``clusters``, each op carrying an inner graph (a fused kernel, a loop,
    a branch) is drawn as a cluster holding that graph.
    """
    outputs, updates = _graph_parts(obj, "to_dot")
    title = _title(obj)
    text = _DotWriter(outputs, updates, clusters).text(title)
    if path is not None:
        _write_dot(text, path, format)
    elif format is not None:
        raise ArignoteValueError(f"to_dot(format={format!r}) needs a path to write the file to")
    return text


def _title(obj):
    if _is_function(obj):
        return f"function {obj.name!r}" if getattr(obj, "name", None) else "function"
    return None


def _quote(text):
    """A DOT double-quoted string that reads back as ``text``.

    Quoted labels on box and ellipse nodes are literal, so braces, ``|`` and
    angle brackets need no escape there (they only mean something in record
    shapes and ``<...>`` HTML labels, which are never used here). Backslashes
    are doubled, otherwise Graphviz would expand ``\\N``, ``\\G``, ``\\l``...
    """
    text = str(text).replace("\\", "\\\\").replace('"', '\\"')
    return '"' + re.sub(r"\r\n|\r|\n", r"\\n", text) + '"'


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


class _DotWriter:
    """Numbers nodes in the order a topological walk meets them (never by
    memory address or creation counter), which makes the text reproducible.

    With ``clusters``, each inner-graph op (a fused kernel, a loop, a branch) is
    drawn as a cluster holding its inner graph instead of one box: dashed edges
    bring the outer inputs to the inner graph's inputs, and its outputs out."""

    def __init__(self, outputs, updates, clusters=False):
        self.outputs = list(outputs)
        self.updates = list(updates)
        self.clusters = clusters
        self.out_index = {}
        for k, var in enumerate(self.outputs):
            self.out_index.setdefault(var, k)
        self.update_of = {expr: sv for sv, expr in self.updates}
        self.ids = {}  # variable -> DOT id, in the graph level being written
        self.n_vars = self.n_ops = 0
        self.lines = []

    def text(self, title):
        lines = self.lines
        lines.append("digraph arignote {")
        if title:
            lines.append(f"  graph [label={_quote(title)}, labelloc=t];")
        lines.append('  node [fontname="Helvetica", fontsize=11];')
        lines.append('  edge [fontname="Helvetica", fontsize=9];')
        exprs = [expr for _, expr in self.updates]
        self.level(toposort(self.outputs + exprs), "  ")
        for var in self.outputs + exprs:  # roots computed by no node still show
            self.declare(var)
        for sv, expr in self.updates:
            self.declare(sv)
            lines.append(f"  {self.ids[expr]} -> {self.ids[sv]} [style=dashed, color=\"#3a75c4\", "
                         f"fontcolor=\"#3a75c4\", label={_quote('update')}, constraint=false];")
        lines.append("}")
        return "\n".join(lines) + "\n"

    def level(self, nodes, indent):
        """One graph level: its ops (boxes, or clusters) and the edges between them."""
        lines = self.lines
        for node in nodes:
            for var in node.inputs:
                self.declare(var, indent)
            ident = f"a{self.n_ops}"
            self.n_ops += 1
            if self.clusters and isinstance(node.op, InnerGraphOp):
                self.cluster(node, ident, indent)
                continue
            tooltip = f"{node.op}{built_at(node)}"
            lines.append(f"{indent}{ident} [label={_quote(_op_label(node.op))}, shape=box, "
                         f"tooltip={_quote(tooltip)}];")
            many_in, many_out = len(node.inputs) > 1, len(node.outputs) > 1
            for i, var in enumerate(node.inputs):
                port = f" [label={i}]" if many_in else ""
                lines.append(f"{indent}{self.ids[var]} -> {ident}{port};")
            for i, var in enumerate(node.outputs):
                self.declare(var, indent)
                port = f" [label={i}]" if many_out else ""
                lines.append(f"{indent}{ident} -> {self.ids[var]}{port};")

    def cluster(self, node, ident, indent):
        op, lines, inner = node.op, self.lines, indent + "  "
        lines.append(f"{indent}subgraph cluster_{ident} {{")
        lines.append(f"{inner}label={_quote(str(op))}; tooltip={_quote(f'{op}{built_at(node)}')};")
        lines.append(f'{inner}style="rounded,dashed"; color="#bf8700"; fontsize=10;')
        outer, self.ids = self.ids, {}  # (the inner graph's variables are its own)
        for k, var in enumerate(op.inputs):
            self.declare(var, inner, f"input {k} of the inner graph")
        entries = [self.ids[var] for var in op.inputs]
        self.level(op.nodes, inner)
        for var in op.outputs:
            self.declare(var, inner)
        exits = [self.ids[var] for var in op.outputs]
        self.ids = outer
        lines.append(f"{indent}}}")
        # (edges across the border are written outside it: a node named inside a
        # subgraph would be drawn inside the cluster)
        for var, entry in zip(node.inputs, entries):
            lines.append(f"{indent}{self.ids[var]} -> {entry} [style=dashed];")
        for var, exit_ in zip(node.outputs, exits):
            self.declare(var, indent)
            lines.append(f"{indent}{exit_} -> {self.ids[var]} [style=dashed];")

    def declare(self, var, indent="  ", inner_input=None):
        if var in self.ids:
            return
        ident = self.ids[var] = f"v{self.n_vars}"
        self.n_vars += 1
        role = "inner-input" if inner_input else _var_role(var, self.out_index)
        attrs = [f"label={_quote(_var_label(var))}"]
        style = _VAR_STYLE[role]
        tooltip = f"update of {_root_name(self.update_of[var])}" if var in self.update_of else (
            inner_input or role)
        if var in self.out_index:
            style = style or _VAR_STYLE["output"]
            attrs.append("peripheries=2")
            tooltip = f"output {self.out_index[var]}" + ("" if role == "output" else f" ({role})")
        if style:
            attrs.append(style)
        attrs.append(f"tooltip={_quote(tooltip)}")
        self.lines.append(f"{indent}{ident} [{', '.join(attrs)}];")


#: Theano's pydotprint options about its own drawing style, accepted and without effect here
_PYDOT_STYLE_OPTIONS = ("compact", "with_ids", "high_contrast", "cond_highlight", "colorCodes",
                        "max_label_size", "scan_graphs", "var_with_name_simple", "return_image")


def pydotprint(fct, outfile=None, format=None, print_output_file=True, **theano_options):
    """Theano's ``pydotprint``: draw ``fct`` (what :func:`to_dot` takes) through
    Graphviz into ``outfile`` (default ``graph.<format>``), each fused kernel,
    loop and branch as a cluster holding its inner graph.

    ``format`` ('png', 'svg', 'pdf'...) defaults to the extension of
    ``outfile``, else 'png'; the DOT text is kept beside it as ``.dot``.
    Theano's style options (``compact``, ``with_ids``...) are accepted and
    ignored. Returns the path written.
    """
    unknown = sorted(set(theano_options) - set(_PYDOT_STYLE_OPTIONS))
    if unknown:
        raise ArignoteTypeError(f"pydotprint() got unexpected options {unknown}; it takes outfile, "
                                f"format, print_output_file and Theano's {list(_PYDOT_STYLE_OPTIONS)}")
    if format is None:
        ext = os.path.splitext(os.fspath(outfile))[1][1:].lower() if outfile is not None else ""
        format = ext if ext in _RENDERED else "png"
    outfile = os.fspath(outfile) if outfile is not None else f"graph.{format}"
    if os.path.splitext(outfile)[1] == "":
        outfile = f"{outfile}.{format}"
    to_dot(fct, outfile, format=format, clusters=True)
    if print_output_file:
        print(f"The output file is available at {outfile}")
    return outfile


def d3viz(fct, outfile, profile=None, view="optimized", title=None, copy_deps=True):
    """Theano's ``d3viz``: write an interactive HTML view of the compiled
    function(s) ``fct`` at ``outfile``: one self-contained page (no network),
    the graph after the rewrites and before them, each fused kernel a cluster
    to open (its kernel IR and generated source a click away), the compile
    report, and with ``profile`` (``arignote.profile(fn, *args)``, or a list of
    them) nodes coloured by their share of the time. ``copy_deps`` is Theano's
    and has no effect: there are no files to copy. Returns the path written.
    """
    from arignote.viz import write_html  # (the viewer sits beside this module, in the public layer)

    return write_html(fct, outfile, profiles=profile, view=view, title=title)


def _write_dot(text, path, format):
    """Write ``text`` at ``path``, or render it with ``dot`` (see :func:`to_dot`)."""
    path = os.fspath(path)
    stem, ext = os.path.splitext(path)
    ext = ext[1:].lower()
    if format is not None:
        format = str(format).lower()
        if not format.isalnum():
            raise ArignoteValueError(f"to_dot(format={format!r}): expected a Graphviz output "
                                     f"format such as 'svg', 'png' or 'pdf'")
    fmt = format or ext
    if fmt in ("dot", "gv") or (format is None and fmt not in _RENDERED):
        _write_text(path, text)
        return
    if ext in ("", "dot", "gv"):  # to_dot(f, "graph.dot", format="svg") -> graph.svg too
        dot_path, target = (path if ext else stem + ".dot"), f"{stem}.{fmt}"
    else:
        dot_path, target = stem + ".dot", path
    _write_text(dot_path, text)
    exe = shutil.which("dot")
    if exe is None:
        raise ArignoteError(
            f"to_dot: rendering {target!r} needs the 'dot' program of Graphviz, which is not "
            f"installed (not found on PATH). The DOT text was written to {dot_path!r}. Install "
            f"Graphviz (apt-get install graphviz, brew install graphviz, conda install graphviz, "
            f"or https://graphviz.org/download/), or render it elsewhere with: "
            f"dot -T{fmt} {dot_path} -o {target}")
    done = subprocess.run([exe, f"-T{fmt}", dot_path, "-o", target], capture_output=True,
                          text=True)
    if done.returncode != 0:
        raise ArignoteError(f"to_dot: 'dot -T{fmt}' failed (exit status {done.returncode}) while "
                            f"rendering {dot_path!r} to {target!r}: "
                            f"{done.stderr.strip()[-2000:] or 'no message'}")


def _write_text(path, text):
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


# ------------------------------------------------------------ networkx

def to_networkx(obj):
    """The graph of ``obj`` as a networkx DiGraph, for programmatic analysis.

    Nodes are Apply nodes and variables (keyed by ``id()`` of the object,
    which ``obj`` attribute holds); every node has ``kind`` ('apply' or
    'variable'), ``op``, ``type``, ``name`` (None where they do not apply),
    ``label`` (as in :func:`to_dot`), and variables a ``role`` (input, shared,
    constant, output, intermediate). Edges follow data flow (``kind='data'``);
    a compiled function adds an edge from each update expression to its
    shared variable (``kind='update'``).
    """
    outputs, updates = _graph_parts(obj, "to_networkx")
    exprs = [expr for _, expr in updates]
    fgraph = getattr(obj, "fgraph", None) if _is_function(obj) else (
        obj if hasattr(obj, "outputs") and hasattr(obj, "clients") else None)
    if fgraph is None:  # a view over the caller's graph: no copy, nothing in it changes
        from arignote.graph.fg import FunctionGraph
        roots = [v for v in graph_inputs(outputs + exprs)
                 if not isinstance(v, Constant) and not getattr(v, "is_shared", False)]
        fgraph = FunctionGraph(roots, outputs + exprs, clone=False)
    g = fgraph.to_networkx()
    out_set = set(outputs)
    objects = {}
    for node in fgraph.toposort():
        objects[id(node)] = node
        for var in node.inputs + node.outputs:
            objects[id(var)] = var
    for var in outputs + exprs + [sv for sv, _ in updates]:
        objects[id(var)] = var
    for key, item in objects.items():
        if isinstance(item, Apply):
            attrs = dict(kind="apply", op=str(item.op), type=None, name=None,
                         label=_op_label(item.op))
        else:
            attrs = dict(kind="variable", op=None, type=str(item.type), name=item.name,
                         label=_var_label(item), role=_var_role(item, out_set))
        g.add_node(key, obj=item, **attrs)
    for u, v in g.edges:
        g.edges[u, v].setdefault("kind", "data")
    for sv, expr in updates:
        g.add_edge(id(expr), id(sv), kind="update")
    return g
