"""The interactive graph viewer: compiled functions as one self-contained HTML page.

:func:`document` turns functions into a JSON document (graphs before and after
the rewrites, inner graphs, every node's details, kernels, profile shares);
:func:`write_html` embeds it in a static page (``template.html``: the layout,
drawing and interaction in plain JavaScript, no library, no network). Users
reach it as ``arignote.printing.d3viz`` and ``arignote dump --format html``.
"""
from arignote.viz.html import document, page, write_html

__all__ = ["document", "page", "write_html"]
