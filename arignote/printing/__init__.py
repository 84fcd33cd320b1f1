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

One module a view: :mod:`~arignote.printing.tree` (``debugprint``),
:mod:`~arignote.printing.pretty` (``pprint``, ``pp``),
:mod:`~arignote.printing.dot` (``to_dot``, ``pydotprint``),
:mod:`~arignote.printing.export` (``to_networkx``, ``d3viz``), over what
they share in :mod:`~arignote.printing.parts` (the parts of a printable
object and how its variables and ops read).
"""
from arignote.printing.dot import pydotprint, to_dot
from arignote.printing.export import d3viz, to_networkx
from arignote.printing.pretty import FORMATTERS, pp, pprint  # noqa: F401  (FORMATTERS: as before)
from arignote.printing.tree import debugprint, node_id  # noqa: F401  (node_id: as before)

__all__ = ["d3viz", "debugprint", "pp", "pprint", "pydotprint", "to_dot", "to_networkx"]
