"""``debugprint``: the graph as an indented tree, in Theano's layout.

A node used twice is expanded once and later shown as its line alone (same
id); the inner graph of every inner-graph op (a fused kernel, a loop, a
branch) prints after the trees. The walk uses an explicit stack, never
recursion, so graphs of thousands of nodes print fine.
"""
import sys

from arignote.ops.inner import InnerGraphOp
from arignote.printing.parts import _graph_parts, _root_name


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
