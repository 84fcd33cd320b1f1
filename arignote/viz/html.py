"""Compiled functions to the viewer's JSON document, and the document to a page.

The page draws the document without asking anything back, so everything it
shows is decided here, once::

    {"title": str, "view": "optimized" | "raw",
     "functions": [{"name", "backend", "fusion", "mode", "report", "profile",
                    "views": {"optimized": GRAPH, "raw": GRAPH}}]}
    GRAPH = {"nodes": [NODE], "edges": [EDGE]}
    NODE  = {"id", "kind", "label", "parent", "rows": [[key, text]], "code": [[title, text]],
             "inner": {"inputs": [[node id]], "outputs": [[node id, port] | null]}  (inner-graph ops),
             "share": fraction of a call's time (with a profile)}
    EDGE  = {"s", "sp", "t", "tp", "type"}: output ``sp`` of node ``s`` is input ``tp`` of ``t``

Nodes are the ops and the variables a reader looks for (inputs, shared
variables, constants, outputs, updates, an inner graph's inputs); every other
variable is an edge. ``parent`` is the node of the inner-graph op (a fused
kernel, a loop, a branch) whose graph holds a node: the page draws that graph
as a collapsible cluster, and an edge into or out of a cluster is rerouted
through ``inner``: which inner inputs each outer input feeds (a fused kernel:
one each; a loop: a sequence feeds one per tap, the step count none), and
where each outer output comes from.
"""
import html
import json
import os
import pathlib
import re

from arignote.errors import ArignoteError, ArignoteTypeError, ArignoteValueError, format_trace
from arignote.graph.basic import toposort
from arignote.ops.fused import Fused
from arignote.ops.inner import InnerGraphOp
from arignote.printing.parts import (_graph_parts, _is_function, _op_label, _root_name, _value_str,
                                     _var_role)
from arignote.runtime.backends import get, traits
from arignote.runtime.kernels import KernelBackend

TEMPLATE = pathlib.Path(__file__).with_name("template.html")

#: op class name -> node kind, for ops carrying an inner graph (others: "inner")
INNER_KINDS = {"Fused": "kernel", "Scan": "loop", "IfElse": "branch"}
def _scan_entries(op):
    """A loop: its step count feeds no inner input, a sequence one per tap, an initial
    value one per row its step reads, a carried or invariant value one."""
    seqs, recs, carried, invariant = op.layout.inner_inputs(list(range(len(op.inputs))))
    return [[]] + seqs + recs + [[k] for k in carried + invariant]


#: op class name -> (op -> for each outer input, the indices of the inner inputs it feeds),
#: for ops whose outer and inner inputs differ (others: one to one, or none where counts differ)
ENTRIES = {"Scan": _scan_entries}
#: backend name -> what its kernel source is written in (others: "<name> source")
SOURCE_LANGUAGES = {"cpu": "LLVM IR", "cuda": "CUDA C", "cuda-emulated": "CUDA C"}


def document(functions, profiles=None, view="optimized", title=None):
    """The JSON-ready document of ``functions`` (a compiled function, a list of
    them, or of ``(label, function)`` pairs); ``profiles`` are
    :func:`arignote.profile` results of some of them, which colour their nodes."""
    if view not in ("optimized", "raw"):
        raise ArignoteValueError(f"d3viz(view={view!r}): expected 'optimized' or 'raw'")
    labelled = _labelled(functions)
    by_name = _match_profiles(labelled, profiles)
    docs = [_function_doc(label, fn, by_name.get(k)) for k, (label, fn) in enumerate(labelled)]
    if title is None:
        title = docs[0]["name"] if len(docs) == 1 else f"{len(docs)} functions"
    return {"title": title, "view": view, "functions": docs}


def page(doc):
    """The HTML page showing ``doc``: the template with the document embedded."""
    data = json.dumps(doc, separators=(",", ":"), allow_nan=False)
    # (nothing in the script element may read as markup; JSON reads the escapes back)
    data = re.sub(r"[<>&\u2028\u2029]", lambda m: f"\\u{ord(m.group()):04x}", data)
    fills = {"TITLE": html.escape(str(doc["title"])), "DATA": data}
    return re.sub(r"/\*@(TITLE|DATA)@\*/", lambda m: fills[m.group(1)],
                  TEMPLATE.read_text(encoding="utf-8"))


def write_html(functions, outfile, profiles=None, view="optimized", title=None):
    """Write the page of ``functions`` (see :func:`document`) at ``outfile``; return its path."""
    text = page(document(functions, profiles, view, title))
    path = os.fspath(outfile)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path


# ------------------------------------------------------------ functions

def _labelled(functions):
    items = functions if isinstance(functions, (list, tuple)) else [functions]
    labelled = []
    for k, item in enumerate(items):
        label, fn = item if isinstance(item, tuple) and len(item) == 2 else (None, item)
        if not _is_function(fn) or not hasattr(fn, "program"):
            raise ArignoteTypeError(f"d3viz() takes compiled functions (arignote.function), got "
                                    f"{type(fn).__name__} at position {k}")
        labelled.append((label or (f"function {fn.name!r}" if fn.name else f"function #{k + 1}"), fn))
    if not labelled:
        raise ArignoteValueError("d3viz() was given no function to show")
    return labelled


def _match_profiles(labelled, profiles):
    """{function index: profile}: each profile goes to the function it timed."""
    if profiles is None:
        return {}
    profiles = list(profiles) if isinstance(profiles, (list, tuple)) else [profiles]
    found = {}
    for prof in profiles:
        k = next((k for k, (_, fn) in enumerate(labelled)
                  if k not in found and _steps_match(fn, prof)), None)
        if k is None:
            raise ArignoteValueError(
                f"d3viz: the profile of {prof.name} matches none of the functions shown "
                f"({', '.join(label for label, _ in labelled)}): its steps are "
                f"{[s.op for s in prof.steps if not s.within][:8]}; profile the function "
                f"itself, with arignote.profile(fn, *args)")
        found[k] = prof
    return found


def _steps_match(fn, prof):
    top = [s for s in prof.steps if not s.within]  # (a profile lists the top steps first, in order)
    return len(top) == len(fn.program.steps) and all(
        str(node.op) == s.op for (node, *_), s in zip(fn.program.steps, top))


def _function_doc(label, fn, prof):
    steps = {node: run for node, run, *_ in fn.program.steps}
    timing = {}
    if prof is not None:
        top = [s for s in prof.steps if not s.within]
        timing = {node: s for (node, *_), s in zip(fn.program.steps, top)}
    kernels = _Kernels(fn, steps)
    optimized = _GraphDoc(kernels, timing, prof.call_seconds if prof else None)
    optimized.graph(*_graph_parts(fn, "d3viz"))
    raw = _GraphDoc(kernels, {}, None)
    raw.graph([o.variable for o in fn.outs], list(fn.updates))
    return {"name": label, "backend": fn.backend, "fusion": bool(fn.fusion), "mode": str(fn.mode),
            "report": fn.compile_report(), "profile": str(prof) if prof is not None else None,
            "views": {"optimized": optimized.doc(), "raw": raw.doc()}}


class _Kernels:
    """Each fused node's kernel IR and generated source: the kernel the function
    runs, or, where its backend compiles none, the one backend 'cpu' would."""

    def __init__(self, fn, steps):
        self.steps = steps
        own = get(fn.backend)
        self.backend = own if isinstance(own, KernelBackend) and own.name in SOURCE_LANGUAGES else get("cpu")
        self.note = "" if self.backend is own else (
            f" (backend {fn.backend!r} compiles no source: shown as backend 'cpu' would)")

    def code(self, node):
        """[[title, text]]: ``node``'s kernel IR and source, or why it has none."""
        kernel = traits(self.steps[node]).kernel if node in self.steps else None
        try:
            kernel = kernel or self.backend.kernel(node)
            if kernel is None:
                return [["kernel", "this group is not lowered to a kernel: its inner graph runs "
                                   "as a program of its own"]]
            language = SOURCE_LANGUAGES.get(self.backend.name, f"{self.backend.name} source")
            return [["kernel IR", kernel.pretty().rstrip("\n")],
                    [language + self.note, self.backend.render(kernel).rstrip("\n")]]
        except (ArignoteError, NotImplementedError) as e:  # (a viewer shows what it can)
            return [["kernel", f"no kernel: {e}"]]



# ------------------------------------------------------------ graphs

def _where(obj):
    trace = getattr(obj, "trace", None)
    return format_trace(trace) if trace else None


def _type_rows(var, prefix=""):
    t = var.type
    shape = getattr(t, "shape", None)
    if shape is None or not hasattr(t, "dtype"):
        return [[f"{prefix}type", str(t)]]
    dims = ", ".join("?" if s is None else str(s) for s in shape)
    return [[f"{prefix}dtype", str(t.dtype)],
            [f"{prefix}static shape", f"({dims}{',' if len(shape) == 1 else ''})"]]


class _GraphDoc:
    """Builds one GRAPH of the document, inner graphs included (walked with a
    work list per graph level, never recursion on the depth of the graph)."""

    def __init__(self, kernels, timing, call_seconds):
        self.kernels, self.timing, self.call_seconds = kernels, timing, call_seconds
        self.nodes, self.edges = [], []

    def doc(self):
        return {"nodes": self.nodes, "edges": self.edges}

    def add(self, kind, label, parent, rows, **more):
        node = {"id": len(self.nodes), "kind": kind, "label": label, "parent": parent,
                "rows": [r for r in rows if r[1] is not None], **more}
        self.nodes.append(node)
        return node["id"]

    def graph(self, outputs, updates):
        exprs = [expr for _, expr in updates]
        pending = []  # (node id, op) of inner-graph ops whose graphs are still to add
        made = self.level(toposort(outputs + exprs), {}, None, pending)
        for k, out in enumerate(outputs):
            name = f" {out.name}" if out.name else ""
            ident = self.add("output", f"output {k}{name}", None, [["role", f"output {k} of the function"]]
                             + _type_rows(out))
            self.edge(self.source(out, made, None), ident, 0, out)
        for sv, expr in updates:
            name = _root_name(sv)
            ident = self.add("update", f"{name} \u2190", None,
                             [["role", f"the new value of shared variable {name}"]] + _type_rows(expr))
            self.edge(self.source(expr, made, None), ident, 0, expr)
        while pending:
            ident, op, n_in, n_out = pending.pop(0)
            entries = ENTRIES.get(type(op).__name__) or (
                lambda op: [[k] if len(op.inputs) == n_in else [] for k in range(n_in)])
            made = {}
            ins = []
            for k, var in enumerate(op.inputs):
                label = var.name or f"in {k}"
                ins.append(self.add("inner-input", label, ident,
                                    [["role", f"input {k} of the inner graph"]] + _type_rows(var)))
                made[var] = (ins[-1], 0)
            self.level(op.nodes, made, ident, pending)
            outs = [list(self.source(o, made, ident)) for o in op.outputs]
            self.nodes[ident]["inner"] = {"inputs": [[ins[k] for k in group] for group in entries(op)],
                                          "outputs": outs[:n_out] + [None] * (n_out - len(outs))}

    def level(self, nodes, made, parent, pending):
        """Add ``nodes`` (one graph level, in order) under ``parent``; ``made`` maps
        each variable to (node id, output index) and grows."""
        for node in nodes:
            sources = [self.source(v, made, parent) for v in node.inputs]
            ident = self.op_node(node, parent)
            for k, (src, var) in enumerate(zip(sources, node.inputs)):
                self.edge(src, ident, k, var)
            for k, out in enumerate(node.outputs):
                made[out] = (ident, k)
            if isinstance(node.op, InnerGraphOp):
                pending.append((ident, node.op, len(node.inputs), len(node.outputs)))
        return made

    def source(self, var, made, parent):
        """Where ``var`` comes from: its op's node, or a node of its own for a root."""
        if var not in made:
            role = _var_role(var, ())
            rows = [["role", role], ["name", var.name]] + _type_rows(var)
            if role == "constant":
                rows.append(["value", _value_str(var.data)])
            rows.append(["built at", _where(var)])
            label = (var.name or _value_str(var.data)) if role == "constant" else _root_name(var)
            made[var] = (self.add(role, label, parent, rows), 0)
        return made[var]

    def edge(self, src, target, port, var):
        (s, sp) = src
        self.edges.append({"s": s, "sp": sp, "t": target, "tp": port,
                           "type": (f"{var.name}: " if var.name else "") + str(var.type)})

    def op_node(self, node, parent):
        op = node.op
        kind = INNER_KINDS.get(type(op).__name__, "inner") if isinstance(op, InnerGraphOp) else "op"
        rows = [["op", str(op)], ["class", f"{type(op).__module__}.{type(op).__name__}"]]
        for k, out in enumerate(node.outputs):
            rows += _type_rows(out, f"output {k} " if len(node.outputs) > 1 else "")
        rows.append(["inputs", ", ".join(str(v.type) for v in node.inputs) or "none"])
        rows.append(["built at", self.built_at(node)])
        more = {}
        step = self.timing.get(node)
        if step is not None:
            more["share"] = step.seconds / self.call_seconds if self.call_seconds else 0.0
            rows.append(["time", f"{step.seconds * 1e6:.1f} us per call, {more['share']:.1%} of the "
                                 f"call (runs as {step.runner})"])
        if isinstance(op, InnerGraphOp):
            rows.append(["inner graph", f"{len(op.nodes)} nodes, {len(op.inputs)} inputs, "
                                        f"{len(op.outputs)} outputs"])
        if isinstance(op, Fused):
            more["code"] = self.kernels.code(node)
        label = _op_label(op) if kind == "op" else str(op)
        return self.add(kind, label, parent, rows, **more)

    @staticmethod
    def built_at(node):
        """The user's line; for an inner-graph op, the lines of the ops it holds."""
        if not isinstance(node.op, InnerGraphOp) or node.trace:
            return _where(node)
        lines = []
        for inner in node.op.nodes:
            where = _where(inner)
            if where and where not in lines:
                lines.append(where)
        return "\n".join(lines) or None
