"""Kernel steps, the backend-neutral half: a Fused group run as one kernel.

A backend that runs the kernel IR (:class:`KernelBackend`) supplies three
things for kernels: ``render`` (the source text), ``compile`` (what its
launcher runs) and ``launcher`` (the launch: the neutral
:class:`~arignote.compiler.bind.Binder` interface). Everything around them
is the same for every such backend, and lives here: lowering each
:class:`~arignote.ops.fused.Fused` group (in-place offers accepted where the
index maps allow), the step that runs it, and the fusion pass's question
(``kernel_axes``).

When a kernel refuses its inputs, the group is rerun node by node on the
reference implementation, whose error names the exact op and the user's line
that built it. A group that cannot be lowered gets no kernel step: the
Program runs its inner graph as a Program of its own on the same backend.

A step may write outputs in place over inputs (``inplace``: output index ->
input index, planned by the Program for shared-variable updates). It then
runs in two halves, :meth:`KernelStep.prepare` (every check) and
:meth:`KernelStep.finish` (the writes), so a Program can check all its
in-place writes before it makes any.
"""
import dataclasses

import numpy as np

from arignote.compiler import lower
from arignote.compiler.schedule import scheduled
from arignote.errors import ArignoteError, describe
from arignote.ops.fused import Fused, FusedPool
from arignote.runtime.backends import Backend, inner_graph_step
from arignote.runtime.memory import MIN_POOLED_SIZE, BufferPool, overlaps
from arignote.runtime.program import Program


class KernelBackend(Backend):
    """A backend running each Fused group as one kernel of the kernel IR. A subclass
    supplies :meth:`render`, :meth:`compile` and :meth:`launcher`, and may set
    ``target`` (the :class:`~arignote.compiler.schedule.Target` its kernels are
    scheduled for), :meth:`runner` and ``parallel_work``."""

    compiles = True
    #: the schedule target of this backend's kernels (None: not scheduled)
    target = None
    #: the work from which a call may be split among threads (None: never); the
    #: launcher's fast path leaves such calls to the general path and its runner
    parallel_work = None

    def render(self, kernel):
        """``kernel``'s source text, as this backend compiles it."""
        raise NotImplementedError(f"backend {self.name!r} renders no kernels")

    def compile(self, kernel):
        """``kernel`` compiled: what :meth:`launcher` runs."""
        raise NotImplementedError(f"backend {self.name!r} compiles no kernels")

    def launcher(self, kernel, compiled, labels=None):
        """A launcher of ``kernel`` (a :class:`~arignote.compiler.bind.Binder`), running
        ``compiled``; ``labels`` name its inputs in errors."""
        raise NotImplementedError(f"backend {self.name!r} launches no kernels")

    def runner(self, kernel):
        """``runner(call)`` running a prepared call of ``kernel`` (in chunks, on threads),
        or None: the launcher runs it whole."""
        return None

    def kernel_axes(self, fused):
        return lower.kernel_axes(fused)

    def kernel(self, node, inplace=None):
        """The Kernel of ``node``'s group for this backend (None: not lowerable)."""
        group = node.op.kernel_node(node)  # (a FusedPool's is its elementwise group's, never in place)
        kernel = choose_kernel(group, inplace if group is node else None)
        if kernel is None or self.target is None:
            return kernel
        return scheduled(kernel, self.target)

    def kernels(self, nodes, inplace):
        """The Kernels of the Fused groups among ``nodes`` (``inplace``: node -> offers)."""
        return [k for k in (self.kernel(n, inplace.get(n)) for n in nodes if isinstance(n.op, Fused))
                if k is not None]


@KernelBackend.step_for(Fused)
def kernel_step(backend, node, allocs=None, inplace=None):
    """A step running ``node``'s Fused group as one kernel of ``backend``; None when the
    group cannot be lowered (the Program then compiles its inner graph)."""
    kernel = backend.kernel(node, inplace)
    if kernel is None:  # the fusion pass only forms lowerable groups; stay correct anyway
        return None
    launcher = backend.launcher(kernel, backend.compile(kernel), [describe(v) for v in node.inputs])
    return KernelStep(node, kernel, launcher, allocs, backend.runner(kernel), backend.parallel_work)


# a FusedPool's kernel does part of its work: its inner graph runs (the group's kernel, then
# the pool) where the backend has no step of its own for it (the cpu's: cpu_conv)
KernelBackend.step_for(FusedPool)(inner_graph_step)


class KernelStep:
    """``step(args)`` -> outputs of ``node``'s kernel, run by ``launcher``.

    ``allocs``: per output, ``(shape, dtype) -> array`` (the memory plan); the
    kernel's in-place pairs become ``inplace``, {output index: input index}.
    ``runner`` and ``parallel_work``: see :class:`KernelBackend`."""

    #: outputs have exactly the promised types (the Program need not check them)
    trusted = True

    def __init__(self, node, kernel, launcher, allocs=None, runner=None, parallel_work=None):
        self.node, self.kernel, self.allocs = node, kernel, allocs
        n_in = len(kernel.params) - len(node.outputs)
        self.inplace = {o - n_in: i for o, i in kernel.inplace}
        self.launcher, self.runner, self.parallel_work = launcher, runner, parallel_work
        #: outputs that are new arrays nothing else refers to (np.empty or the pool;
        #: not the reused storage of a borrowed output, which the caller may pass back)
        self.fresh = () if self.inplace else tuple(
            n for n, take in enumerate(allocs or [None] * len(node.outputs))
            if take is None or getattr(take, "__func__", None) is BufferPool.take)
        #: ``call(args)`` is ``step(args)`` without the method call in between: the
        #: launcher's specialized runner once the first call has made it
        self.call = self._first_call
        #: whether a call may pass Python floats for its 0-d float64 inputs (a fast
        #: runner reads them in place; the general path converts them)
        self.takes_floats = not self.inplace

    def __call__(self, args):
        return self.call(args)

    def _first_call(self, args):
        """Make the specialized launch (on the first call: compiling stays lean), then run."""
        split = getattr(self.runner, "split", None)  # (a runner's native split, if it has one)
        fast = self.launcher.fast_runner(self._general, _fast_allocs(self.allocs, self.launcher),
                                         self.parallel_work, **({"split": split} if split else {}))
        self.call = fast or self._general
        return self.call(args)

    def _general(self, args):
        if self.takes_floats:
            args = [_asarray(a) if a.__class__ is float else a for a in args]
        call = self._prepare(args)
        try:
            return self.launcher.finish(call, self.runner)
        except ArignoteError as kernel_error:  # raised after the run (an error flag)
            self._explain(args)
            raise kernel_error

    def prepare(self, args, keep=()):
        """Check and pack ``args``: a call to :meth:`finish`. An input written in place
        that may share memory with another input or with ``keep`` is copied first.

        Small in-place writes are not worth two phases: their inputs are copied and
        the kernel runs at once, on the copies (nothing shared is written)."""
        if self.inplace:
            args = list(args)
            targets = self.inplace.values()
            if all(args[i].size < MIN_INPLACE_SIZE for i in targets):
                for i in targets:
                    args[i] = args[i].copy()
                return _Done(self.call(args))
        return self._prepare(args, keep)

    def _prepare(self, args, keep=()):
        if self.inplace:
            args = list(args)
            for i in self.inplace.values():
                a = args[i]
                if not (a.flags.writeable and a.flags.aligned) or \
                        overlaps(a, args[:i] + args[i + 1:]) or overlaps(a, keep):
                    args[i] = a.copy()
        try:
            return self.launcher.prepare(args, allocs=self.allocs)
        except ArignoteError as kernel_error:
            self._explain(args)
            raise kernel_error

    def _explain(self, args):
        """Rerun the group node by node on the reference: its error names the very op
        and line at fault."""
        self.node.op.make_step(self.node, _reference_program)(args)

    def finish(self, call):
        if call.__class__ is _Done:
            return call.outputs
        return self.launcher.finish(call, self.runner)

    def release(self, call):
        """Give up a prepared call without running it."""
        if call.__class__ is not _Done:
            self.launcher.release(call)


class _Done:
    """A prepared call that already ran (on private copies): its outputs."""

    __slots__ = ("outputs",)

    def __init__(self, outputs):
        self.outputs = outputs


#: in-place writes over fewer elements run on a private copy, in one phase
MIN_INPLACE_SIZE = 1 << 15


def _reference_program(fgraph):
    """An inner graph's run on the reference backend (for error messages)."""
    return Program(fgraph, fgraph.inputs).run


def choose_kernel(node, inplace=None):
    """The Kernel of ``node``'s group, None if it cannot be lowered. Offered in-place
    writes are declined when the input and output index maps differ, and for
    kernels that can raise after writing (``Kernel.can_raise``)."""
    try:
        kernel = lower.lower(node.op, name=_kernel_name(node))
    except lower.LoweringError:
        return None
    if inplace:
        n_in = len(kernel.params) - len(node.outputs)
        over = dataclasses.replace(kernel, inplace=tuple((n_in + o, i) for o, i in sorted(inplace.items())))
        try:
            over.check_inplace()
        except ValueError:  # an input and its output follow different index maps
            over = kernel
        if not over.can_raise:
            kernel = over
    return kernel


_asarray = np.asarray


def _fast_allocs(allocs, launcher):
    """``allocs`` for a launcher's ``fast_runner``: None (``np.empty``) where the pool
    would allocate anyway (outputs of static size 1, below its minimum size)."""
    if allocs is None:
        return None
    return [None if getattr(take, "__func__", None) is BufferPool.take and
            all(a is None for a in axes) and MIN_POOLED_SIZE > 1 else take
            for take, (_, axes) in zip(allocs, launcher._out_specs)]


def _kernel_name(node):
    names = [getattr(n.op, "scalar_op", None) or type(n.op).__name__.lower() for n in node.op.nodes]
    return "k_" + "_".join(str(n) for n in names[:6])
