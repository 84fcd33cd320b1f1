"""Shared variables: graph inputs whose value lives between function calls.

A :class:`SharedVariable` holds a value of any type, a lock, and maybe a
``default_update``; it belongs to the graph layer because the runtime reads and
writes it whatever its type. The tensor kind, which has a tensor variable's
operators, and the constructor ``shared()`` are in :mod:`arignote.tensor.sharedvar`.

Each shared variable has a lock, held by every function call that reads or
updates it and by ``get_value``/``set_value``: calls from several threads
run one at a time where they share a variable, and no update is lost.
"""
import copy
import threading
from collections import OrderedDict

from arignote.errors import ArignoteTypeError, ArignoteValueError, describe
from arignote.graph.basic import Variable, clone_graph, graph_inputs, user_trace


class SharedVariable(Variable):
    """A variable with a value held between calls; updated by ``function(updates=...)``
    or by its ``default_update``. The base of both kinds ``shared()`` makes: a
    ``TensorSharedVariable`` (:mod:`arignote.tensor.sharedvar`) for numbers and arrays,
    a :class:`GenericSharedVariable` for any other object."""

    is_shared = True
    #: an expression that ``function`` uses as this variable's update when the call gives
    #: none and does not pass ``no_default_updates`` (Theano's contract; random streams
    #: advance their state this way). None: no default update.
    default_update = None

    def __init__(self, type, value, name=None):
        super().__init__(type, name=name)
        self._value = value
        self._trace = user_trace()
        #: held while a call reads or writes the value (see arignote.runtime.function)
        self.lock = threading.RLock()

    @staticmethod
    def _copy(value):
        """A copy of a value of this variable's kind (a generic object: a deep copy)."""
        return copy.deepcopy(value)

    def get_value(self, borrow=False):
        """The current value (a copy unless ``borrow``: then the value itself, which a
        later update may write over in place)."""
        if borrow:
            return self._value
        with self.lock:  # (never a copy of a value half written by a call in another thread)
            return self._copy(self._value)

    def set_value(self, value, borrow=False):
        """Replace the value; it must fit the variable's type."""
        value = self.type.filter(value, what=f"shared variable {describe(self)}")
        if not borrow:
            value = self._copy(value)
        with self.lock:  # (not in the middle of a call that reads or updates it)
            self._value = value

    value = property(lambda self: self.get_value(), set_value)

    def clone(self):
        """Shared variables are state, not structure: clones share the value holder."""
        return self

    def __getstate__(self):
        state = dict(self.__dict__)
        del state["lock"]  # (a lock does not pickle; the loaded variable gets its own)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.lock = threading.RLock()

    def copy_with_value(self):
        """A new shared variable of the same type holding a copy of the value (its
        default update, if any, reads the copy: see :func:`copy_default_updates`)."""
        new = type(self)(self.type, self._copy(self._value), name=self.name)
        copy_default_updates({self: new})
        return new

    def __deepcopy__(self, memo):
        return self.copy_with_value()

    def __repr__(self):
        return self.name or f"<shared {self.type}>"


class GenericSharedVariable(SharedVariable):
    """A shared value of a type other than tensors (``shared(obj)`` of any object)."""


def copy_default_updates(swap):
    """Give each copy in ``swap`` (old shared variable -> its copy) the default update of
    the original, rewritten to read the copies where it read the originals."""
    for old, new in swap.items():
        expr = old.default_update
        if expr is not None and isinstance(expr, Variable):
            expr = clone_graph([expr], replace=swap, keep=graph_inputs([expr]))[0][0]
        new.default_update = expr


class OrderedUpdates(OrderedDict):
    """New values of shared variables, in order (Theano's ``OrderedUpdates``): what
    ``scan`` returns. Add to it (``u[p] = e``, ``u.update(pairs)``, ``u + v``) and pass
    it to ``function(updates=...)``; it is empty, and false, when there is nothing to
    update."""

    def __setitem__(self, var, value):
        if not isinstance(var, SharedVariable):
            raise ArignoteTypeError(f"updates are for shared variables; got {describe(var)} "
                                    f"({type(var).__name__})")
        super().__setitem__(var, value)

    def update(self, other=(), **kwargs):
        """Add ``other`` (a dict or pairs); a variable given two different updates raises."""
        if kwargs:
            raise ArignoteTypeError("OrderedUpdates.update() takes a dict or (variable, update) "
                                    "pairs, not keywords")
        for var, value in (other.items() if isinstance(other, dict) else other):
            if var in self and self[var] is not value:
                raise ArignoteValueError(f"two different updates for shared variable "
                                         f"{describe(var)}: {self[var]} and {value}")
            self[var] = value

    def __add__(self, other):
        merged = OrderedUpdates(self)
        merged.update(other)
        return merged

    __or__ = __add__


__all__ = ["SharedVariable", "GenericSharedVariable", "OrderedUpdates", "copy_default_updates"]
