"""Loops: ``scan`` and its op.

One small module per phase, as the loop's layout is the only thing they share:
:mod:`~.layout` (where each argument sits), :mod:`~.build` (the user API: ``scan``,
``map``, ``reduce``, ``foldl``, ``foldr``, ``until``), :mod:`~.op` (the op and how
it runs) and :mod:`~.grad` (backpropagation through time).
"""
from arignote.ops.scan.build import foldl, foldr, map, reduce, scan, until
from arignote.ops.scan.layout import ScanLayout
from arignote.ops.scan.op import Scan

__all__ = ["scan", "map", "reduce", "foldl", "foldr", "until", "Scan", "ScanLayout"]
