"""Graph rewrites. The rewrite pipeline (merge, canonicalize, stabilize,
specialize, fuse, cleanup) arrives with the optimization issue; until then
every mode compiles the graph as built."""


def optimize(fgraph, mode):
    """Rewrite ``fgraph`` in place according to ``mode``."""
    return fgraph
