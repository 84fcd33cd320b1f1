"""Graphviz drawings: ``to_dot`` (the DOT text, written or rendered by the
``dot`` program) and Theano's ``pydotprint`` over it. The text depends only on
the graph's structure, so the same graph always gives the same text."""
import os
import re
import shutil
import subprocess

from arignote.errors import ArignoteError, ArignoteTypeError, ArignoteValueError, built_at
from arignote.graph.basic import toposort
from arignote.ops.inner import InnerGraphOp
from arignote.printing.parts import (_graph_parts, _is_function, _op_label, _root_name, _var_label,
                                     _var_role)


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
