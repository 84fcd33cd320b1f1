"""Theano's ``theano.scan_module``: ``scan`` and ``until`` where Theano-era code
imports them (``from arignote.scan_module import until``)."""
from arignote.ops.scan import Scan, foldl, foldr, map, reduce, scan, until  # noqa: A004

__all__ = ["scan", "until", "map", "reduce", "foldl", "foldr", "Scan"]
