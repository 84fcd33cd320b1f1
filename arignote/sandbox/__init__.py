"""Theano's ``theano.sandbox`` names, kept so old imports work (``sandbox.rng_mrg``)."""
