"""The memory plan: where the outputs of compiled kernels live.

Fresh arrays cost more than their allocation: a new 64 MB output is touched
page by page, and those page faults halve the bandwidth of a memory-bound
kernel. So a Program hands its kernels storage from a :class:`BufferPool`:

* An array the pool made is handed out again once *nothing else refers to
  it* (its reference count is back to the pool's own). An intermediate
  freed by liveness is reused later in the same call; an output the user
  dropped, or the previous value of an updated shared variable, is reused by
  the next call. A view keeps its base alive, so an array that still has a
  view is never reused: the check is exact, not a guess about lifetimes.
* ``Out(var, borrow=True)`` outputs: the array the user got may be
  overwritten by a later call (Theano's contract: a borrowed output is valid
  until the next call). A :class:`Lender` alternates two arrays, so a call
  that fails leaves the one the user holds untouched.
* Shared-variable updates computed in place are planned by the Program (see
  :mod:`arignote.runtime.program`): the kernel writes over the old value.

Small arrays bypass the pool: allocating them is cheaper than looking. The
reference-count test is one of :mod:`arignote.compiler.unsafe`'s fast paths:
with ``ARIGNOTE_SAFE_CALLS=1`` the pool allocates every array afresh.
"""
import copy
import math

import numpy as np

from arignote.compiler.unsafe import REUSE, unreferenced

#: arrays of fewer elements are allocated, not pooled: malloc recycles blocks this small
#: (128 KB of float32) at once, for less than the pool's search (0.7 us against 2-3 us
#: with a few arrays held; a loop step's outputs are taken hundreds of times a call)
MIN_POOLED_SIZE = 1 << 15


_ndarray = np.ndarray


class BufferPool:
    """Arrays by (shape, dtype), each handed out again once unreferenced.

    ``cap`` bounds the arrays kept per key, so a user who keeps every result
    does not make the pool hold on to more than ``cap`` of them."""

    def __init__(self, cap=8):
        self.cap = cap
        self.held = {}

    def take(self, shape, dtype):
        """An array of ``shape`` and ``dtype`` nothing else refers to (contents undefined)."""
        if not REUSE or math.prod(shape) < MIN_POOLED_SIZE:
            return np.empty(shape, dtype)
        key = (shape, dtype)
        held = self.held.get(key)
        if held is None:
            held = self.held[key] = []
        for a in held:
            if unreferenced(a):
                return a
        a = np.empty(shape, dtype)
        if len(held) < self.cap:
            held.append(a)
        return a

    def clear(self):
        """Let go of every pooled array."""
        self.held.clear()

    @property
    def nbytes(self):
        return sum(a.nbytes for held in self.held.values() for a in held)


class Lender:
    """Storage of a borrowed output: two arrays, reused call after call.

    The array a call hands out stays the user's until the next call has
    *succeeded*: a call writes into the other array (the spare), and only
    :meth:`lend`, once nothing can fail any more, hands the spare out and
    takes the old array back as the next spare. A failing call leaves the
    array the user holds as it was (invariant 8), and a steady loop still
    touches no fresh pages."""

    __slots__ = ("lent", "spare", "taken")

    def __init__(self):
        self.lent = self.spare = None
        self.taken = False

    def protect(self, arrays):
        """Start a call reading ``arrays``: the spare is not written if it may share
        memory with one of them (an old borrowed output passed back in)."""
        self.taken = False
        if self.spare is not None and overlaps(self.spare, arrays):
            self.spare = None

    def take(self, shape, dtype):
        """The spare, made anew if it does not fit ``shape`` and ``dtype``."""
        a = self.spare
        if a is None or a.shape != shape or a.dtype != dtype:
            a = self.spare = np.empty(shape, dtype)
        self.taken = True
        return a

    def lend(self):
        """The call succeeded: the array it wrote is the user's, the one lent before the spare."""
        if self.taken:
            self.lent, self.spare = self.spare, self.lent
            self.taken = False


def overlaps(target, arrays):
    """Whether ``target`` may share memory with any of ``arrays`` (None entries skipped).
    Values of other types count too: a list through its items, any other object (a
    generic value) by being one of them."""
    if target.__class__ is not _ndarray and not isinstance(target, _ndarray):
        return _other_overlaps(target, arrays)
    own = target.base is None
    for a in arrays:
        if a is target:
            return True
        # (None is no array) two distinct arrays owning their memory never overlap: skip the test
        if a.__class__ is _ndarray or isinstance(a, _ndarray):
            if not (own and a.base is None) and np.may_share_memory(target, a):
                return True
        elif a.__class__ is list and overlaps(target, a):
            return True
    return False


def _other_overlaps(target, arrays):
    """:func:`overlaps` for a ``target`` that is not an array."""
    return any(a is target for a in arrays) or (
        target.__class__ is list and any(overlaps(v, arrays) for v in target))


def copy_value(value):
    """A copy of a result that shares no memory with anything: an array copied, any other
    value (a list, a generic object) deep-copied."""
    return value.copy() if isinstance(value, np.ndarray) else copy.deepcopy(value)
