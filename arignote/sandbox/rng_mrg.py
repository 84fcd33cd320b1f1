"""Theano's ``theano.sandbox.rng_mrg``: ``MRG_RandomStreams`` is Arignote's
:class:`~arignote.tensor.random.RandomStreams` (a Philox generator, not MRG31k3p: the
same API, other numbers)."""
from arignote.tensor.random import MRG_RandomStreams, RandomStreams  # noqa: F401

__all__ = ["MRG_RandomStreams", "RandomStreams"]
