"""Graph rewrites, grouped in phases: merge, canonicalize, stabilize,
specialize, fuse, cleanup. Each rewrite family lives in its own module and
registers itself with :mod:`arignote.passes.rewriting`; a mode names the
phases it runs."""
from arignote.passes import expand  # noqa: F401,I001  (before fusion: its fuse-phase pass runs first)
from arignote.passes import (algebraic, constant_folding, fusion, merge,  # noqa: F401
                             pool_fusion, row_pick, scan, shape_inference, specialize,
                             stabilize, tiling)  # (imported to register their rewrites)
from arignote.passes.rewriting import MODES, PHASES, Stats, run_phases


def optimize(fgraph, mode, exclude=()):
    """Rewrite ``fgraph`` in place for ``mode``; returns the :class:`Stats`."""
    return run_phases(fgraph, MODES[mode], exclude=exclude)


__all__ = ["optimize", "MODES", "PHASES", "Stats", "run_phases"]
