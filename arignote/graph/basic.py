"""The graph IR: variables joined by applications of ops.

A :class:`Variable` is a typed value in the graph. It is produced by an
:class:`Apply` (its ``owner``) or is a root: an input, a :class:`Constant` or a
shared variable. Every Apply records where the user built it so errors can
point at the user's own line. All traversals are iterative, pickling
included: graphs of thousands of nodes (deep nets and their gradients) must
not hit Python's recursion limit.
"""
import itertools
import reprlib

import numpy as np

from arignote.errors import ArignoteTypeError, CycleError, NotATensorError, built_at, describe
from arignote.errors import user_trace  # noqa: F401  (re-exported: graph code asks it here)
from arignote.graph import pickling

_ids = itertools.count()


def _tensor_only(name):
    """A property tensor variables override; asked of another variable (a list, a generic
    value), it says that this one is not a tensor. (Properties, not ``__getattr__``:
    that would slow down every attribute access on variables.)"""
    def get(self):
        raise NotATensorError(f"{describe(self)} of type {self.type} is not a tensor: it has no "
                              f"{name}; a tensor is expected here{built_at(self)}")
    return property(get)


class Variable:
    """A typed symbolic value. Compared and hashed by identity (dict keys)."""

    dtype, ndim, shape, broadcastable = map(_tensor_only, ("dtype", "ndim", "shape", "broadcastable"))

    def __init__(self, type, owner=None, index=None, name=None):
        self.type = type
        self.owner = owner
        self.index = index
        self.name = name
        self.id = next(_ids)

    @property
    def trace(self):
        return self.owner.trace if self.owner is not None else getattr(self, "_trace", None)

    def clone(self):
        """A new root variable of the same type and name (no owner)."""
        return type(self)(self.type, name=self.name)

    def __reduce_ex__(self, protocol):  # iterative at any depth: see graph/pickling.py
        return pickling.reduce_variable(self, protocol)

    def __repr__(self):
        return self.name or (f"{self.owner.op}.{self.index}" if self.owner is not None
                             else f"<{self.type}>")

    def __str__(self):
        return self.__repr__()


class Constant(Variable):
    """A root variable with a fixed value. ``weak`` marks Python scalars,
    which follow NumPy 2's weak promotion (``float32_x * 0.5`` stays float32)."""

    def __init__(self, type, data, name=None, weak=False):
        super().__init__(type, name=name)
        self.data = data
        self.weak = weak

    def signature(self):
        """What makes two constants interchangeable (for merging)."""
        return (self.type, self.type.constant_signature(self.data), self.weak)

    def clone(self):
        return type(self)(self.type, self.data, name=self.name, weak=self.weak)

    def __repr__(self):
        if self.name:
            return self.name
        if not isinstance(self.data, np.ndarray):  # (a constant of a type other than tensors)
            return reprlib.repr(self.data)
        if self.data.size <= 8:
            return np.array2string(self.data, separator=",").replace("\n", "")
        return f"Constant{{{self.type}}}"


class Apply:
    """One application of ``op`` to ``inputs``, producing ``outputs``."""

    def __init__(self, op, inputs, output_types, trace=None):
        for i, inp in enumerate(inputs):
            if not isinstance(inp, Variable):
                raise ArignoteTypeError(f"{op}: input {i} is a {type(inp).__name__}, not a graph variable")
        self.op = op
        self.inputs = list(inputs)
        self.outputs = [t.make_variable() for t in output_types]
        for i, out in enumerate(self.outputs):
            out.owner, out.index = self, i
        self.trace = trace if trace is not None else user_trace()

    @property
    def out(self):
        (out,) = self.outputs
        return out

    def clone_with_new_inputs(self, inputs):
        """Re-apply the same op to new inputs (types re-inferred), keeping the trace."""
        node = self.op.make_node(*inputs)
        node.trace = self.trace
        return node

    def __reduce_ex__(self, protocol):  # ancestors first, so depth never matters
        return pickling.reduce_apply(self)

    def __setstate__(self, state):
        pickling.setstate_apply(self, state)

    def __repr__(self):
        return f"{self.op}({', '.join(map(repr, self.inputs))})"


# ---------------------------------------------------------------- traversal

def ancestors(outputs, blockers=()):
    """Every variable the outputs depend on (outputs included), stopping at ``blockers``."""
    blockers = set(blockers)
    seen, stack = set(), list(outputs)
    order = []
    while stack:
        v = stack.pop()
        if v in seen:
            continue
        seen.add(v)
        order.append(v)
        if v.owner is not None and v not in blockers:
            stack.extend(v.owner.inputs)
    return order


def graph_inputs(outputs, blockers=()):
    """The root variables (no owner, or a blocker) the outputs depend on."""
    blockers = set(blockers)
    return [v for v in ancestors(outputs, blockers) if v.owner is None or v in blockers]


def toposort(outputs, blockers=()):
    """The Apply nodes computing ``outputs``, each after the nodes it needs.

    A graph that reaches itself (only a buggy rewrite can make one) raises
    :class:`CycleError` at once instead of growing the stack without end."""
    blockers = set(blockers)
    order, done, open_ = [], set(), set()  # open_: nodes whose inputs are being sorted
    stack = [(v, False) for v in reversed(list(outputs))]
    while stack:
        v, expanded = stack.pop()
        node = v.owner
        if node is None or v in blockers or node in done:
            continue
        if expanded:
            open_.discard(node)
            done.add(node)
            order.append(node)
            continue
        if node in open_:
            raise _cycle_error(node, stack)
        open_.add(node)
        stack.append((v, True))
        for inp in reversed(node.inputs):
            if inp.owner is not None and inp.owner not in done:
                stack.append((inp, False))
    return order


def _cycle_error(node, stack):
    """The open nodes on the stack from ``node`` up are a path, each reading the next,
    and the last reads ``node``: the cycle, reported in data-flow order."""
    path = [v.owner for v, expanded in stack if expanded]
    path = path[path.index(node):][::-1]
    return CycleError("the graph has a cycle: " + " -> ".join(str(n.op) for n in path + path[:1]),
                      path)


def clone_graph(outputs, replace=None, keep=()):
    """Copy the graph computing ``outputs``; returns (new outputs, memo).

    ``replace`` maps old variables to the variables that take their place;
    roots in ``keep`` (and shared variables and constants) are reused, other
    roots are cloned.
    """
    memo = dict(replace or {})
    keep = set(keep)
    for v in graph_inputs(outputs, blockers=memo):
        if v not in memo:
            reuse = v in keep or isinstance(v, Constant) or getattr(v, "is_shared", False)
            memo[v] = v if reuse else v.clone()
    for node in toposort(outputs, blockers=memo):
        new_inputs = [memo[i] for i in node.inputs]
        if all(n is o for n, o in zip(new_inputs, node.inputs)):
            new_node = Apply.__new__(Apply)
            new_node.op, new_node.inputs, new_node.trace = node.op, new_inputs, node.trace
            new_node.outputs = [o.type.make_variable(o.name) for o in node.outputs]
            for i, o in enumerate(new_node.outputs):
                o.owner, o.index = new_node, i
        else:
            new_node = node.clone_with_new_inputs(new_inputs)
            for o, n in zip(node.outputs, new_node.outputs):
                n.name = o.name
        for o, n in zip(node.outputs, new_node.outputs):
            memo.setdefault(o, n)
    return [memo[o] for o in outputs], memo
