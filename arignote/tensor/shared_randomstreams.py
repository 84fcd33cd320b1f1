"""Theano's ``theano.tensor.shared_randomstreams``: :class:`RandomStreams` under its old
name (:mod:`arignote.tensor.random` is the module to import)."""
from arignote.tensor.random import RandomStreams  # noqa: F401

__all__ = ["RandomStreams"]
