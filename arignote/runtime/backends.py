"""Backends: the contract between the runtime and what runs a program's nodes.

A backend is a :class:`Backend` registered by name (:func:`register`, listed
by :func:`available`, found by :func:`get`; :mod:`arignote.backends` is the
public face of this module, and the built-in backends register through it
like any other). The runtime asks a backend:

* ``step(node, allocs, inplace)``: each node's *step*, a callable from the
  list of input values to the list of output values. Steps are made per op
  class from the backend's table (:meth:`Backend.step_for`), looked up along
  the op's class hierarchy, the most specific class first, so a backend adds
  or overrides one op without touching it: ops never import backends. The
  base table runs ``perform`` (the reference) for every op and makes no step
  (None) for an op with an inner graph: the Program then compiles the inner
  graph on this same backend. ``runs_natively(op)`` says whether the table
  has a step of its own for ``op``.
* ``compiles``: whether ``function`` fuses the graph for it and gives its
  steps a memory plan (``allocs``: storage per output; ``inplace``: outputs it
  may write over inputs).
* ``kernel_axes(fused)``: the fusion pass's question, whether a fused group
  can run as one kernel (None: no; see :func:`arignote.compiler.lower.kernel_axes`).
* ``prefetch(nodes, inplace)``: a chance to start compiling every step at once.

Backends that run the kernel IR derive from
:class:`~arignote.runtime.kernels.KernelBackend` and supply ``render``,
``compile`` and ``launcher`` for kernels instead of a Fused step.

Besides being called, a step may say what :class:`Traits` lists (attributes,
read through :func:`traits` when the Program is built).
"""
from functools import partial
from typing import NamedTuple

from arignote.config import SETTINGS
from arignote.errors import ArignoteTypeError, ArignoteValueError
from arignote.graph.op import Op
from arignote.ops.inner import InnerGraphOp

class Traits(NamedTuple):
    """What a step may say of itself, and what a plain callable says."""

    #: its outputs have exactly the promised types (the Program does not check them)
    trusted: bool = False
    #: the same call without a method call in between
    call: object = None
    #: indices of the outputs that are new arrays nothing else refers to
    fresh: tuple = ()
    #: Python floats are accepted for 0-d float64 inputs
    takes_floats: bool = False
    #: {output index: input index} written in place; then the step also has
    #: ``prepare(args, keep)`` (every check), ``finish(call)`` (the writes), ``release(call)``
    inplace: dict = None
    #: the Kernel it runs (for printing and profiles)
    kernel: object = None


def traits(step):
    """The :class:`Traits` of ``step``: its attributes, defaults where it has none."""
    return Traits(*(getattr(step, field, default) for field, default in Traits._field_defaults.items()))


#: name -> registered Backend (read it through :func:`get` and :func:`available`)
BACKENDS = {}


class Backend:
    """What a backend supplies; subclass it, set ``name``, fill in what differs, and
    :func:`register` an instance. This base is the reference: every op's ``perform``."""

    #: the name ``function(..., backend=name)`` and ``config.backend`` use
    name = None
    #: whether ``function`` fuses for this backend and plans memory for its steps
    compiles = False
    #: {op class: ``maker(backend, node, allocs, inplace) -> step or None``}, this class's own
    _steps = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls._steps = {}  # (entries of the bases stay visible: see _maker)

    @classmethod
    def step_for(cls, *op_classes):
        """Decorator: ``maker(backend, node, allocs, inplace)`` makes the steps of the
        nodes whose op is an instance of ``op_classes``, on this backend class and the
        classes derived from it. A maker may return None: no step (see the module)."""
        def add(maker):
            for op_class in op_classes:
                cls._steps[op_class] = maker
            return maker
        return add

    def _maker(self, op_class):
        """The maker for ``op_class``: the entry of its most specific class (any backend
        class of this one's hierarchy, the most derived first)."""
        for oc in op_class.__mro__:
            for bc in type(self).__mro__:
                maker = vars(bc).get("_steps", {}).get(oc)
                if maker is not None:
                    return maker
        raise ArignoteValueError(f"backend {self.name!r} has no step for {op_class.__name__}")

    def step(self, node, allocs=None, inplace=None):
        """``node``'s step. ``allocs`` (storage of each output) and ``inplace``
        ({output index: input index} it may overwrite) are the memory plan's
        offers, for backends that compile. None: the Program compiles the node's
        inner graph on this backend."""
        return self._maker(type(node.op))(self, node, allocs, inplace)

    def runs_natively(self, op):
        """Whether this backend has a step of its own for ``op`` (not the reference's
        ``perform``, nor its inner graph compiled on this backend)."""
        return self._maker(type(op)) not in (perform_step, inner_graph_step)

    def prefetch(self, nodes, inplace):
        """Get ready to make the steps of ``nodes`` (a compiling backend may start
        compiling them all at once); ``inplace`` maps nodes to the offers of ``step``."""

    def kernel_axes(self, fused):
        """None if this backend cannot run the Fused group ``fused`` as one kernel; else
        what each index axis of that kernel follows (see
        :func:`~arignote.compiler.lower.kernel_axes`). The base runs no kernels."""
        return None

    def __repr__(self):
        return f"<arignote backend {self.name!r}>"


@Backend.step_for(Op)
def perform_step(backend, node, allocs=None, inplace=None):
    """The reference step: the op's own ``perform``."""
    return partial(node.op.perform, node)


@Backend.step_for(InnerGraphOp)
def inner_graph_step(backend, node, allocs=None, inplace=None):
    """No step: the Program compiles the inner graph on the same backend."""
    return None


class NumpyBackend(Backend):
    """The reference: one ``perform`` per node, nothing compiled."""

    name = "numpy"


def register(backend, replace=False):
    """Make ``backend`` (a :class:`Backend`) available by its name; returns it. A name
    already taken by another backend raises unless ``replace``."""
    if not isinstance(backend, Backend):
        raise ArignoteTypeError(f"register() takes a Backend (a subclass of arignote.backends."
                                f"Backend), got {type(backend).__name__}")
    name = backend.name
    if not isinstance(name, str) or not name:
        raise ArignoteValueError(f"a backend's name must be a non-empty string, got {name!r} "
                                 f"({type(backend).__name__})")
    taken = BACKENDS.get(name)
    if taken is not None and taken is not backend and not replace:
        raise ArignoteValueError(f"a backend named {name!r} is already registered ({taken!r}); "
                                 f"pass replace=True to replace it")
    BACKENDS[name] = backend
    SETTINGS["backend"][2].add(name)
    return backend


def unregister(name):
    """Remove the backend registered as ``name`` (functions compiled for it keep it)."""
    get(name)
    del BACKENDS[name]
    SETTINGS["backend"][2].discard(name)


def available():
    """The names of the registered backends, in the order they were registered."""
    return tuple(BACKENDS)


def get(name):
    """The backend registered as ``name``."""
    try:
        return BACKENDS[name]
    except (KeyError, TypeError):
        raise ArignoteValueError(f"no backend named {name!r}; available: {', '.join(available())} "
                                 f"(arignote.backends.register adds one)") from None


register(NumpyBackend())
