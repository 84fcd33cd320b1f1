"""``T.xlogx``: Theano's module of ``xlogx(x)`` and ``xlogy0(x, y)``, both 0 where
``x`` is 0 (they live in :mod:`arignote.ops.nnet`)."""
from arignote.ops.nnet import xlogx, xlogy0  # noqa: F401

__all__ = ["xlogx", "xlogy0"]
