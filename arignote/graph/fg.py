"""FunctionGraph: a private, mutable copy of a user's graph.

``function`` builds one per compiled function so rewrites can replace nodes
without ever touching the user's graph. It tracks each variable's clients
(the nodes, or output slots, that read it) so a replacement updates every
reader at once.
"""
from arignote.errors import RewriteError
from arignote.graph.basic import clone_graph, graph_inputs, toposort

OUTPUT = "output"


class FunctionGraph:
    def __init__(self, inputs, outputs, clone=True, replace=None):
        """``inputs`` are the graph's explicit roots; with ``clone`` the graph is
        copied first and ``self.memo`` maps user variables to their copies."""
        inputs, outputs = list(inputs), list(outputs)
        if clone:
            memo = {i: i.clone() for i in inputs}
            if replace:  # the replacements are graphs too: clone them over the same inputs
                news, memo = clone_graph(list(replace.values()), replace=memo)
                memo.update(zip(replace, news))
            outputs, memo = clone_graph(outputs, replace=memo)
            inputs = [memo[i] for i in inputs]
            self.memo = memo
        else:
            self.memo = {}
        self.inputs = inputs
        self.outputs = outputs
        self._rebuild_clients()

    def _rebuild_clients(self):
        self.clients = {}
        for node in toposort(self.outputs):
            for i, inp in enumerate(node.inputs):
                self.clients.setdefault(inp, []).append((node, i))
        for i, out in enumerate(self.outputs):
            self.clients.setdefault(out, []).append((OUTPUT, i))

    def toposort(self):
        return toposort(self.outputs)

    @property
    def apply_nodes(self):
        return self.toposort()

    @property
    def variables(self):
        seen = {v for node in self.toposort() for v in node.inputs + node.outputs}
        return seen | set(self.outputs)

    def roots(self):
        return graph_inputs(self.outputs)

    def replace(self, old, new, reason=None):
        """Make every reader of ``old`` read ``new`` instead."""
        if not old.type.compatible(new.type):
            raise RewriteError(
                f"rewrite {reason or '?'} would replace {old} of type {old.type} by {new} "
                f"of type {new.type}")
        for client, i in self.clients.pop(old, []):
            if client == OUTPUT:
                self.outputs[i] = new
            else:
                client.inputs[i] = new
            self.clients.setdefault(new, []).append((client, i))

    def to_networkx(self):
        """A networkx DiGraph: variable and apply nodes, edges along data flow."""
        import networkx as nx

        g = nx.DiGraph()
        for node in self.toposort():
            g.add_node(id(node), kind="apply", op=str(node.op))
            for v in node.inputs:
                g.add_node(id(v), kind="variable", name=repr(v), type=str(v.type))
                g.add_edge(id(v), id(node))
            for v in node.outputs:
                g.add_node(id(v), kind="variable", name=repr(v), type=str(v.type))
                g.add_edge(id(node), id(v))
        return g

    def __repr__(self):
        return f"FunctionGraph({self.inputs} -> {self.outputs}, {len(self.toposort())} nodes)"
