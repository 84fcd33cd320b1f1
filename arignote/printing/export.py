"""The graph for other tools: ``to_networkx`` (a DiGraph, for analysis) and
Theano's ``d3viz`` (the interactive HTML page of :mod:`arignote.viz`)."""
from arignote.graph.basic import Apply, Constant, graph_inputs
from arignote.printing.parts import _graph_parts, _is_function, _op_label, _var_label, _var_role


def d3viz(fct, outfile, profile=None, view="optimized", title=None, copy_deps=True):
    """Theano's ``d3viz``: write an interactive HTML view of the compiled
    function(s) ``fct`` at ``outfile``: one self-contained page (no network),
    the graph after the rewrites and before them, each fused kernel a cluster
    to open (its kernel IR and generated source a click away), the compile
    report, and with ``profile`` (``arignote.profile(fn, *args)``, or a list of
    them) nodes coloured by their share of the time. ``copy_deps`` is Theano's
    and has no effect: there are no files to copy. Returns the path written.
    """
    from arignote.viz import write_html  # (the viewer sits beside this package, in the public layer)

    return write_html(fct, outfile, profiles=profile, view=view, title=title)


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
