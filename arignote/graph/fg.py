"""FunctionGraph: a private, mutable copy of a user's graph.

``function`` builds one per compiled function so rewrites can replace nodes
without ever touching the user's graph. It tracks each variable's clients
(the nodes, or output slots, that read it): ``replace`` imports the new
subgraph, redirects every reader at once and drops the nodes nobody reads
any more, each in time proportional to the nodes it touches.

Only ``replace`` ever rewires a node's inputs, so only a rewrite can close a
cycle (a fresh node reads values that already exist). Each rewired input
slot remembers the rewrite and phase that rewired it: a cycle, found by any
topological sort, names who made it wherever it is found.
"""
from arignote.errors import CycleError, RewriteError
from arignote.graph.basic import clone_graph, graph_inputs, toposort

OUTPUT = "output"


class FunctionGraph:
    """The graph a function compiles: its inputs, outputs and the nodes between,
    with the readers of each variable, changed only through ``replace``."""

    def __init__(self, inputs, outputs, clone=True, replace=None):
        """``inputs`` are the graph's explicit roots; with ``clone`` the graph is
        copied first and ``self.memo`` maps user variables to their copies."""
        inputs, outputs = list(inputs), list(outputs)
        self.memo = {}
        if clone:
            roots = {i: i.clone() for i in inputs}
            memo = dict(roots)
            if replace:  # the replacements are graphs too: clone them over the same inputs
                news, memo = clone_graph(list(replace.values()), replace=memo)
                memo.update(zip(replace, news))
            outputs, memo = clone_graph(outputs, replace=memo)
            # an input stays a root even when givens replace it (it may appear in its own
            # replacement, x -> 2 * x, or go unused)
            inputs = [roots[i] for i in inputs]
            self.memo = memo
        self.inputs = inputs
        self.outputs = outputs
        self.nodes = set()
        self.clients = {}
        self.phase = None      # the pipeline phase running (set by passes.rewriting)
        self._rewired = {}     # (node, input slot) -> the rewrite that last rewired it
        for i, out in enumerate(outputs):
            self._import(out)
            self.clients.setdefault(out, []).append((OUTPUT, i))

    # ---------------------------------------------------------- structure

    def _import(self, var, trace=None):
        """Add the nodes computing ``var`` that the graph does not hold yet; with a
        ``trace``, they were built by a rewrite (the graph is a clone: any node new
        to it is), and they take the trace of the node they replace, so errors name
        the user's line, not the line that called ``function``."""
        stack = [var.owner] if var.owner is not None else []
        self.clients.setdefault(var, [])
        while stack:
            node = stack.pop()
            if node in self.nodes:
                continue
            self.nodes.add(node)
            if trace is not None:
                node.trace = trace
            for out in node.outputs:
                self.clients.setdefault(out, [])
            for i, inp in enumerate(node.inputs):
                self.clients.setdefault(inp, []).append((node, i))
                if inp.owner is not None and inp.owner not in self.nodes:
                    stack.append(inp.owner)

    def _prune(self, var):
        """Drop the nodes that only served ``var``, now that nobody reads it."""
        stack = [var]
        while stack:
            v = stack.pop()
            node = v.owner
            if node is None or node not in self.nodes or any(self.clients.get(o) for o in node.outputs):
                continue
            self.nodes.discard(node)
            for o in node.outputs:
                self.clients.pop(o, None)
            for i, inp in enumerate(node.inputs):
                self._rewired.pop((node, i), None)
                readers = self.clients.get(inp, [])
                if (node, i) in readers:
                    readers.remove((node, i))
                if not readers:
                    stack.append(inp)

    def replace(self, old, new, reason=None):
        """Make every reader of ``old`` read ``new`` instead.

        ``new`` must have ``old``'s dtype and broadcast pattern (its static
        sizes may be more or less precise); a rewrite breaking that is a bug
        and is reported with its name.
        """
        if old is new:
            return
        if not (old.type.compatible(new.type) and  # (a non-tensor type has no broadcast pattern)
                getattr(old.type, "broadcastable", None) == getattr(new.type, "broadcastable", None)):
            raise RewriteError(
                f"rewrite {reason or '?'} would replace {old} of type {old.type} by {new} "
                f"of type {new.type}")
        self._import(new, old.owner.trace if old.owner is not None else None)
        made_by = f"rewrite {reason or '?'}" + (f" in phase {self.phase}" if self.phase else "")
        for client, i in self.clients.pop(old, []):
            if client == OUTPUT:
                self.outputs[i] = new
            else:
                client.inputs[i] = new
                self._rewired[client, i] = made_by
            self.clients[new].append((client, i))
        self.clients[old] = []
        self._prune(old)

    def replace_all(self, pairs, reason=None):
        for old, new in pairs:
            self.replace(old, new, reason)

    # ---------------------------------------------------------- views

    def toposort(self):
        """The nodes in topological order; a cycle raises :class:`CycleError` naming the
        rewrite(s) that rewired its edges."""
        try:
            return toposort(self.outputs)
        except CycleError as e:
            raise CycleError(f"{e}; made by {self._cycle_makers(e.nodes)} (an internal error: "
                             f"a rewrite must never make a value depend on itself)", e.nodes) from None

    def _cycle_makers(self, cycle):
        """Who rewired the edges of ``cycle`` (each node feeding the next)."""
        makers = {}
        for producer, reader in zip(cycle, cycle[1:] + cycle[:1]):
            for i, inp in enumerate(reader.inputs):
                if inp.owner is producer and (reader, i) in self._rewired:
                    makers[self._rewired[reader, i]] = None
        return ", ".join(makers) or "no recorded rewrite (node inputs changed outside replace)"

    @property
    def apply_nodes(self):
        return self.toposort()

    @property
    def variables(self):
        seen = {v for node in self.nodes for v in node.inputs + node.outputs}
        return seen | set(self.outputs)

    def roots(self):
        return graph_inputs(self.outputs)

    def to_networkx(self):
        """A networkx DiGraph keyed by ``id()``: apply and variable nodes (``kind``,
        ``op``, ``type``, ``name``), edges along data flow; an edge's
        ``positions`` lists the input slots it feeds (``x * x`` feeds two)."""
        import networkx as nx

        g = nx.DiGraph()

        def add_var(v):
            g.add_node(id(v), kind="variable", op=None, type=str(v.type), name=v.name)

        for node in self.toposort():
            g.add_node(id(node), kind="apply", op=str(node.op), type=None, name=None)
            for k, v in enumerate(node.inputs):
                add_var(v)
                if g.has_edge(id(v), id(node)):
                    g.edges[id(v), id(node)]["positions"].append(k)
                else:
                    g.add_edge(id(v), id(node), positions=[k])
            for v in node.outputs:
                add_var(v)
                g.add_edge(id(node), id(v), positions=[v.index])
        for v in self.outputs:
            add_var(v)
        return g

    def __getstate__(self):
        """Pickles hold the graph, not the user's original (``memo`` is for compiling)."""
        state = dict(self.__dict__)
        state["memo"], state["_rewired"] = {}, {}
        return state

    def __setstate__(self, state):
        self.__dict__.update({"phase": None, "_rewired": {}, **state})

    def __repr__(self):
        return f"FunctionGraph({self.inputs} -> {self.outputs}, {len(self.nodes)} nodes)"
