"""Tensor variables: graph variables with NumPy's operators and methods.

Like Theano, ``==`` and ``!=`` keep Python's identity meaning (variables are
dictionary keys); use ``T.eq``/``T.neq`` for elementwise equality. Every other
operator builds a node with the function of its op family.

This module is the top of the ops layer: it imports every op family and
installs its classes as ``TensorType``'s variable and constant classes. A
family reaches a family above it (``reduce_to_broadcast`` a sum, ``Reshape``
an index) through these methods, so the families import each other in one
direction only. ``eval`` compiles a function: it is attached above the
runtime, by :mod:`arignote.tensor.variable`.
"""
import numpy as np

from arignote.errors import ArignoteTypeError
from arignote.graph.basic import Constant, Variable
from arignote.graph.type import TensorType
from arignote.ops import blas, construct, indexing, reduce, shape
from arignote.ops import elemwise as E


def _binary(fn, name, reflected=False):
    def method(self, other):
        try:
            return fn(other, self) if reflected else fn(self, other)
        except ArignoteTypeError:
            if not isinstance(other, (Variable, np.ndarray, np.generic, int, float, bool, complex,
                                      list, tuple)):
                return NotImplemented
            raise
    method.__name__ = f"__{'r' if reflected else ''}{name}__"
    return method


def _unary(fn):
    def method(self):
        return fn(self)
    return method


def _delegate(fn, name):
    def method(self, *args, **kwargs):
        return fn(self, *args, **kwargs)
    method.__name__ = name
    method.__doc__ = f"``T.{name}(self, ...)``."
    return method


BINARY = {"add": E.add, "sub": E.sub, "mul": E.mul, "truediv": E.true_div, "floordiv": E.floor_div,
          "mod": E.mod, "pow": E.pow, "matmul": blas.matmul, "and": E.and_, "or": E.or_, "xor": E.xor}
COMPARISONS = {"lt": E.lt, "le": E.le, "gt": E.gt, "ge": E.ge}
UNARY = {"neg": E.neg, "abs": E.abs, "invert": E.invert, "pos": E.identity}
# methods mirroring NumPy and Theano: name -> the function called with the variable first
METHODS = {**{name: getattr(reduce, name) for name in ["sum", "prod", "mean", "max", "min", "argmax",
                                                       "argmin", "var", "std", "all", "any",
                                                       "logsumexp"]},
           **{name: getattr(shape, name) for name in ["reshape", "dimshuffle", "flatten", "transpose",
                                                      "squeeze"]},
           **{name: getattr(E, name) for name in ["astype", "clip", "round", "exp", "log"]},
           "dot": blas.dot, "repeat": construct.repeat}


class _TensorOps:
    """Operators and NumPy-like methods shared by every tensor variable."""

    __array_ufunc__ = None  # make ``ndarray + variable`` call our __radd__

    for _dunder, _fn in BINARY.items():
        locals()[f"__{_dunder}__"] = _binary(_fn, _dunder)
        locals()[f"__r{_dunder}__"] = _binary(_fn, _dunder, reflected=True)
    for _dunder, _fn in COMPARISONS.items():
        locals()[f"__{_dunder}__"] = _binary(_fn, _dunder)
    for _dunder, _fn in UNARY.items():
        locals()[f"__{_dunder}__"] = _unary(_fn)
    for _dunder, _fn in METHODS.items():
        locals()[_dunder] = _delegate(_fn, _dunder)
    del _dunder, _fn

    __eq__ = object.__eq__
    __hash__ = object.__hash__

    def copy(self):
        return E.identity(self)

    def ravel(self):
        return shape.flatten(self)

    @property
    def ndim(self):
        return self.type.ndim

    @property
    def dtype(self):
        return self.type.dtype

    @property
    def broadcastable(self):
        return self.type.broadcastable

    @property
    def shape(self):
        return shape.shape(self)

    @property
    def size(self):
        return reduce.prod(self.shape)

    @property
    def T(self):
        return shape.transpose(self)

    def __getitem__(self, index):
        return indexing.getitem(self, index)

    def __bool__(self):
        raise ArignoteTypeError(
            f"the truth value of symbolic variable {self} is not known when the graph is built; "
            f"use T.switch / T.where for conditionals, or evaluate the graph first")

    def __len__(self):
        if self.ndim == 0:
            raise ArignoteTypeError(f"len() of a 0-d variable {self}")
        if self.type.shape[0] is None:
            raise ArignoteTypeError(
                f"len() of {self}: its first dimension is not known statically; use x.shape[0]")
        return self.type.shape[0]

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]


class TensorVariable(_TensorOps, Variable):
    """A symbolic tensor: an input or the output of an op."""


class TensorConstant(_TensorOps, Constant):
    """A tensor with a fixed value, known when the graph is built."""

    @property
    def value(self):
        return self.data


TensorType.variable_class = TensorVariable
TensorType.constant_class = TensorConstant
