"""W9: dropout forward with fresh random numbers on every call, twice: NumPy's
``default_rng().random`` and a multiply, and an Arignote graph over a
:class:`~arignote.tensor.random.RandomStreams` uniform.

Both compute ``x * (u < keep) / keep`` for float32 ``x``; Arignote's uniforms are
made inside the one fused kernel (never stored), and its state advances per call
(a ``default_update``), so neither side reuses a mask.
"""
import numpy as np

import arignote.tensor as T
from arignote.tensor.random import RandomStreams

KEEP = 0.8


def problem(n=1 << 24, seed=0):
    """The float32 input of ``n`` elements."""
    return np.random.default_rng(seed).standard_normal(n, dtype=np.float32)


def numpy_step(keep=KEEP, seed=1):
    """A NumPy dropout: ``x -> x * (u < keep) / keep`` with new float32 uniforms per call."""
    gen, keep32 = np.random.default_rng(seed), np.float32(keep)

    def step(x):
        return x * (gen.random(x.shape, dtype=np.float32) < keep32) / keep32
    return step


def graph(keep=KEEP, seed=1):
    """(inputs, output) of the symbolic dropout over a float32 vector."""
    x = T.fvector("x")
    u = RandomStreams(seed).uniform(size=x.shape, dtype="float32")
    return [x], x * (u < keep) / keep


def bytes_moved(n):
    """One float32 read and one float32 write per element (the mask is never stored)."""
    return 2 * 4 * n


__all__ = ["problem", "numpy_step", "graph", "bytes_moved", "KEEP"]
