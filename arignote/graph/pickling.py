"""Pickling (and deep-copying) graphs of any depth.

The pickler recurses: left to itself it follows ``Variable.owner`` ->
``Apply.inputs`` -> ``owner`` ... and a chain deeper than a few hundred nodes
raises RecursionError. The fix is to hand it the nodes in topological order,
so that whenever it reaches a node the node's inputs are already in its memo
and the recursion stops after one step:

* A variable with an owner reduces to ``(owner, index)``; roots (inputs,
  constants, shared variables) pickle as ordinary objects.
* An Apply reduces to an empty shell (memoized at once) whose state is
  ``(ahead, inputs, outputs' attributes, rest of __dict__)``. ``ahead`` lists,
  in topological order, the node's ancestors this pickle has not met yet; the
  pickler writes them first, each one shallow (its own inputs are earlier in
  ``ahead``), so by the time it writes ``inputs`` they are all memo
  references. Loading is a flat stack machine: depth never matters there.

"Not met yet" is what keeps the pickle linear: each pickle (or deepcopy)
has a :class:`_Session` recording the nodes it has met, so a node walks only
its new ancestors and every node is walked once however many entry points
(``[y, z]``, a FunctionGraph's dicts and sets) reach it.

The session is a hint, never a source of truth: identity and sharing come
from pickle's own memo, and a wrong hint could only cost depth. It is kept
honest three ways. It cannot outlive its pickle: the thread-local holds a
weak reference, and the one strong reference is the pickler's (or
deepcopy's) memo, since the session itself is written into the pickle as a
tiny token the first time a node is met. It notices when it is not the
current pickler's (a Pickler kept open while other pickles or deepcopies run
on the thread, a pickle nested in another): a pickler asks each object for
its reduction once, so a node asked twice proves the session belongs to
another memo, and a fresh one takes over right there. And nothing is cached
on the nodes, so ``FunctionGraph.replace`` rewiring ``Apply.inputs`` between
two pickles cannot leave anything stale.
"""
import threading
import weakref

_local = threading.local()


class _Session:
    """The nodes one pickle or deepcopy has met (scheduled or written) and
    written. Pickles as an empty token; the pickler's memo keeps it alive."""

    __slots__ = ("met", "written", "__weakref__")

    def __init__(self):
        self.met, self.written = set(), set()

    def __reduce__(self):
        return _Session, ()


def _session(node):
    """(session of the pickle writing ``node``, token to write or None)."""
    ref = getattr(_local, "session", None)
    session = ref() if ref is not None else None
    token = None
    if session is None or node in session.written:  # none yet, or another memo's
        session = token = _Session()
        _local.session = weakref.ref(session)
    session.written.add(node)
    return session, token


def _ahead(node, met):
    """``node``'s ancestors not in ``met``, inputs before their users; marks them met."""
    met.add(node)
    order, stack = [], [(node, iter(node.inputs))]
    while stack:
        current, inputs = stack[-1]
        for v in inputs:
            owner = v.owner
            if owner is not None and owner not in met:
                met.add(owner)
                stack.append((owner, iter(owner.inputs)))
                break
        else:
            stack.pop()
            order.append(current)
    order.pop()  # ``node`` itself: the pickler is writing it now
    return tuple(order)


def reduce_apply(node):
    """``Apply.__reduce_ex__``: a shell now, the state (ancestors first) after."""
    session, token = _session(node)
    state = dict(node.__dict__)
    inputs, outputs = state.pop("inputs"), state.pop("outputs")
    outs = [(type(o), {k: v for k, v in vars(o).items() if k not in ("owner", "index")})
            for o in outputs]
    return _shell, (type(node), token), (_ahead(node, session.met), inputs, outs, state)


def _shell(cls, token=None):
    return cls.__new__(cls)


def setstate_apply(node, state):
    """``Apply.__setstate__``: inputs, the rest of the attributes, fresh outputs."""
    _ahead_nodes, inputs, outs, rest = state
    node.__dict__.update(rest)
    node.inputs = list(inputs)
    node.outputs = []
    for i, (cls, attrs) in enumerate(outs):
        out = cls.__new__(cls)
        out.__dict__.update(attrs)
        out.owner, out.index = node, i
        node.outputs.append(out)


def reduce_variable(var, protocol):
    """``Variable.__reduce_ex__``: an owned variable is its owner's output ``index``."""
    owner = var.owner
    outputs = owner.outputs if owner is not None else ()
    if isinstance(var.index, int) and 0 <= var.index < len(outputs) and outputs[var.index] is var:
        return _output, (owner, var.index)
    return object.__reduce_ex__(var, protocol)


def _output(owner, index):
    return owner.outputs[index]
