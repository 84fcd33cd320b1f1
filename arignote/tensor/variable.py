"""Tensor variables: graph variables with NumPy's operators and methods.

Like Theano, ``==`` and ``!=`` keep Python's identity meaning (variables are
dictionary keys); use ``T.eq``/``T.neq`` for elementwise equality. Every other
operator builds a node. Methods delegate to the functions of
``arignote.tensor``, imported on first use.
"""
import numpy as np

from arignote.errors import ArignoteTypeError
from arignote.graph.basic import Constant, Variable
from arignote.graph.type import TensorType


def tensor_module():
    """``arignote.tensor``, imported on first use: the ops build graphs with its
    functions while the package imports the ops, so none can import it at load time."""
    import arignote.tensor as T
    return T


_T = tensor_module


def _binary(name, reflected=False):
    def method(self, other):
        fn = getattr(_T(), name)
        try:
            return fn(other, self) if reflected else fn(self, other)
        except ArignoteTypeError:
            if not isinstance(other, (Variable, np.ndarray, np.generic, int, float, bool, complex,
                                      list, tuple)):
                return NotImplemented
            raise
    method.__name__ = f"__{'r' if reflected else ''}{name}__"
    return method


def _unary(name):
    def method(self):
        return getattr(_T(), name)(self)
    return method


def _delegate(name):
    def method(self, *args, **kwargs):
        return getattr(_T(), name)(self, *args, **kwargs)
    method.__name__ = name
    method.__doc__ = f"``T.{name}(self, ...)``."
    return method


class _TensorOps:
    """Operators and NumPy-like methods shared by every tensor variable."""

    __array_ufunc__ = None  # make ``ndarray + variable`` call our __radd__

    # -- operators, generated from (dunder name, tensor function) pairs
    for _dunder, _fn in [("add", "add"), ("sub", "sub"), ("mul", "mul"), ("truediv", "true_div"),
                         ("floordiv", "floor_div"), ("mod", "mod"), ("pow", "pow"),
                         ("matmul", "matmul"), ("and", "and_"), ("or", "or_"), ("xor", "xor")]:
        locals()[f"__{_dunder}__"] = _binary(_fn)
        locals()[f"__r{_dunder}__"] = _binary(_fn, reflected=True)
    for _dunder, _fn in [("lt", "lt"), ("le", "le"), ("gt", "gt"), ("ge", "ge")]:
        locals()[f"__{_dunder}__"] = _binary(_fn)
    for _dunder, _fn in [("neg", "neg"), ("abs", "abs"), ("invert", "invert"), ("pos", "identity")]:
        locals()[f"__{_dunder}__"] = _unary(_fn)
    # -- methods mirroring NumPy and Theano
    for _fn in ["sum", "prod", "mean", "max", "min", "argmax", "argmin", "var", "std", "all", "any",
                "logsumexp", "reshape", "dimshuffle", "flatten", "astype", "dot", "transpose",
                "squeeze", "clip", "round", "repeat", "exp", "log"]:
        locals()[_fn] = _delegate(_fn)
    del _dunder, _fn

    __eq__ = object.__eq__
    __hash__ = object.__hash__

    def copy(self):
        return _T().identity(self)

    def ravel(self):
        return _T().flatten(self)

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
        return _T().shape(self)

    @property
    def size(self):
        return _T().prod(self.shape)

    @property
    def T(self):
        return _T().transpose(self)

    def __getitem__(self, index):
        return _T().getitem(self, index)

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

    def eval(self, inputs=None, **kwargs):
        """Compile a function of this variable's inputs and run it.

        ``inputs`` maps variables to values; compiled functions are cached on
        the variable so repeated calls stay cheap.
        """
        from arignote.runtime.function import function
        inputs = dict(inputs or {})
        keys = tuple(inputs)
        cache = self.__dict__.setdefault("_eval_cache", {})
        key = (tuple(id(k) for k in keys), tuple(sorted(kwargs.items())))
        if key not in cache:
            cache[key] = function(list(keys), self, on_unused_input="ignore", **kwargs)
        return cache[key](*[inputs[k] for k in keys])


class TensorVariable(_TensorOps, Variable):
    """A symbolic tensor: an input or the output of an op."""


class TensorConstant(_TensorOps, Constant):
    """A tensor with a fixed value, known when the graph is built."""

    @property
    def value(self):
        return self.data


TensorType.variable_class = TensorVariable
TensorType.constant_class = TensorConstant
