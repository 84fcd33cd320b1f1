"""Theano's ``theano.scalar``: dtype arithmetic under its names.

Arignote has no separate scalar types (a scalar is a 0-d tensor, ``T.scalar``);
what Theano-era code asks of this module is the dtype bookkeeping.
"""
import numpy as np

from arignote.graph.type import DTYPES, FLOAT_DTYPES, INT_DTYPES

#: Theano's dtype groups (strings)
int_dtypes = tuple(d for d in INT_DTYPES if d.startswith("int"))
uint_dtypes = tuple(d for d in INT_DTYPES if d.startswith("uint"))
float_dtypes = FLOAT_DTYPES
complex_dtypes = tuple(d for d in DTYPES if d.startswith("complex"))
discrete_dtypes = ("bool", *INT_DTYPES)
continuous_dtypes = (*FLOAT_DTYPES, *complex_dtypes)
all_dtypes = DTYPES


def upcast(dtype, *dtypes):
    """The dtype (a string) of an operation mixing arrays of these dtypes, by NumPy 2's
    promotion, which Arignote's ops follow (Theano: ``upcast('int32', 'float32')``
    is 'float64' by either rule)."""
    return np.result_type(*(np.dtype(d) for d in (dtype, *dtypes))).name


def upgrade_to_float(dtype):
    """The float dtype an integer ``dtype`` becomes in a float operation (as NumPy's
    ``sqrt`` gives): int8/uint8/bool -> float16, int16 -> float32, wider -> float64."""
    return np.result_type(np.sqrt(np.zeros((), dtype=dtype))).name


__all__ = ["upcast", "upgrade_to_float", "int_dtypes", "uint_dtypes", "float_dtypes",
           "complex_dtypes", "discrete_dtypes", "continuous_dtypes", "all_dtypes"]
