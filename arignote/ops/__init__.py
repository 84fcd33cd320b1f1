"""Op families, one module each: elemwise, reduce, shape, indexing, blas, nnet.

Importing any of them loads :mod:`arignote.ops.variable`, the top of this
layer, which gives tensor variables their operators and methods.
"""
from arignote.ops import variable  # noqa: F401
