"""The cpu backend's kernel steps: a Fused group compiled to native code.

Each :class:`~arignote.ops.fused.Fused` node is lowered to a Kernel and
compiled (through the disk cache) when the function is compiled; a call
runs it in chunks of its outermost parallel axis on the thread pool when the
work is large enough. When a kernel refuses its inputs, the group is rerun
node by node on the reference implementation, whose error names the exact
op and the user's line that built it. A group that cannot be lowered gets no
kernel step: the Program runs its inner graph as a cpu Program of its own.

A step may write outputs in place over inputs (``inplace``: output index ->
input index, planned by the Program for shared-variable updates). It then
runs in two halves, :meth:`KernelStep.prepare` (every check) and
:meth:`KernelStep.finish` (the writes), so a Program can check all its
in-place writes before it makes any.
"""
import dataclasses
from functools import partial

import numpy as np

from arignote.compiler import jit, llvm
from arignote.compiler.split_launch import launcher_for
from arignote.compiler.lower import LoweringError, lower
from arignote.errors import ArignoteError, describe
from arignote.ops.fused import Fused
from arignote.runtime.memory import MIN_POOLED_SIZE, BufferPool, overlaps
from arignote.runtime.program import Program
from arignote.runtime.threads import MIN_PARALLEL_WORK, parallel_for


class KernelStep:
    """``step(args)`` -> outputs of ``node``'s compiled kernel.

    ``allocs``: per output, ``(shape, dtype) -> array`` (the memory plan); the
    kernel's in-place pairs become ``inplace``, {output index: input index}."""

    #: outputs have exactly the promised types (the Program need not check them)
    trusted = True
    #: ``(kernel, labels=...) -> launcher`` (the interp backend's steps interpret instead)
    make_launcher = staticmethod(launcher_for)

    def __init__(self, node, kernel, allocs=None):
        self.node, self.kernel, self.allocs = node, kernel, allocs
        n_in = len(kernel.params) - len(node.outputs)
        self.inplace = {o - n_in: i for o, i in kernel.inplace}
        self.launcher = self.make_launcher(kernel, labels=[describe(v) for v in node.inputs])
        self.runner = _runner(kernel)
        #: outputs that are new arrays nothing else refers to (np.empty or the pool;
        #: not the reused storage of a borrowed output, which the caller may pass back)
        self.fresh = () if self.inplace else tuple(
            n for n, take in enumerate(allocs or [None] * len(node.outputs))
            if take is None or getattr(take, "__func__", None) is BufferPool.take)
        #: ``call(args)`` is ``step(args)`` without the method call in between: the
        #: launcher's specialized runner once the first call has made it
        self.call = self._first_call
        #: whether a call may pass Python floats for its 0-d float64 inputs (kernels
        #: read them in place; the general path converts them)
        self.takes_floats = not self.inplace

    def __call__(self, args):
        return self.call(args)

    def _first_call(self, args):
        """Make the specialized launch (on the first call: compiling stays lean), then run."""
        fast = self.launcher.fast_runner(self._general, _fast_allocs(self.allocs, self.launcher),
                                         MIN_PARALLEL_WORK)
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


def kernel_step(node, allocs=None, inplace=None):
    """A step running ``node``'s Fused group as one compiled kernel; None when the
    group cannot be lowered (the Program then compiles its inner graph on cpu)."""
    kernel = choose_kernel(node, inplace)
    if kernel is None:  # the fusion pass only forms lowerable groups; stay correct anyway
        return None
    return KernelStep(node, kernel, allocs)


def _reference_program(fgraph):
    """An inner graph's run on the reference backend (for error messages)."""
    return Program(fgraph, fgraph.inputs).run


def choose_kernel(node, inplace=None):
    """The Kernel of ``node``'s group, None if it cannot be lowered. Offered in-place
    writes are declined when the input and output index maps differ, and for
    kernels that can raise after writing (integer powers check a flag at the end)."""
    try:
        kernel = lower(node.op, name=_kernel_name(node))
    except LoweringError:
        return None
    if inplace:
        n_in = len(kernel.params) - len(node.outputs)
        over = dataclasses.replace(kernel, inplace=tuple((n_in + o, i) for o, i in sorted(inplace.items())))
        try:
            over.check_inplace()
        except ValueError:  # an input and its output follow different index maps
            return kernel
        if not jit.raises(over):
            return over
    return kernel


def prefetch(nodes, inplace):
    """Start compiling the kernels of ``nodes`` side by side (``inplace``: node ->
    offered in-place writes); each step then waits for its own kernel only."""
    jit.prefetch([k for k in (choose_kernel(n, inplace.get(n)) for n in nodes if isinstance(n.op, Fused))
                  if k is not None])


def matmul_step(node, allocs):
    """A matrix product through NumPy's BLAS into the memory plan's storage (no
    fresh pages per call); other products (batched, mixed dtypes) use ``perform``."""
    (out,) = node.outputs
    dtype = out.type.numpy_dtype
    if out.ndim != 2 or any(v.type.numpy_dtype != dtype or v.ndim != 2 for v in node.inputs) \
            or dtype.kind != "f":
        return partial(node.op.perform, node)
    (take,) = allocs

    def run(args):
        a, b = args
        if a.shape[1] != b.shape[0]:
            return node.op.perform(node, args)  # its error names the shapes
        return [np.matmul(a, b, out=take((a.shape[0], b.shape[1]), dtype))]

    run.trusted = True
    run.call = run
    return run


_asarray = np.asarray


def _fast_allocs(allocs, launcher):
    """``allocs`` for :meth:`Launcher.fast_runner`: None (``np.empty``) where the pool
    would allocate anyway (outputs of static size 1, below its minimum size)."""
    if allocs is None:
        return None
    return [None if getattr(take, "__func__", None) is BufferPool.take and
            all(a is None for a in axes) and MIN_POOLED_SIZE > 1 else take
            for take, (_, axes) in zip(allocs, launcher._out_specs)]


def _run_chunks(call, min_items=1):
    end = call.end
    per_item = max(call.work, 1) // max(end, 1)
    if end <= 1 or end * max(per_item, 1) < MIN_PARALLEL_WORK:  # one chunk: skip the pool
        call.fn(*call.args, 0, end)
        return
    parallel_for(call.run, end, per_item, min_items)


def _runner(kernel):
    """How a kernel's calls are chunked: a column-tiled kernel whose tiles run along
    its chunked axis gets chunks of whole tiles (a narrower chunk walks every row
    for a few columns, a new page per row: slower on one thread than no split)."""
    parallel = [a for a in range(kernel.ndim) if a not in kernel.reduce_axes]
    if parallel and llvm.tile_axis(kernel) == parallel[0]:
        return partial(_run_chunks, min_items=llvm.TILE)
    return _run_chunks


def _kernel_name(node):
    names = [getattr(n.op, "scalar_op", None) or type(n.op).__name__.lower() for n in node.op.nodes]
    return "k_" + "_".join(str(n) for n in names[:6])
