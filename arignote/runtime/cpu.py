"""The cpu backend's kernel steps: a Fused group compiled to native code.

Each :class:`~arignote.ops.fused.Fused` node is lowered to a Kernel and
compiled (through the disk cache) when the function is compiled; a call
runs it in chunks of its outermost parallel axis on the thread pool when the
work is large enough. When a kernel refuses its inputs, the group is rerun
node by node on the reference implementation, whose error names the exact
op and the user's line that built it.

A step may write outputs in place over inputs (``inplace``: output index ->
input index, planned by the Program for shared-variable updates). It then
runs in two halves, :meth:`KernelStep.prepare` (every check) and
:meth:`KernelStep.finish` (the writes), so a Program can check all its
in-place writes before it makes any.
"""
import dataclasses
from functools import partial

import numpy as np

from arignote.compiler.launch import Launcher
from arignote.compiler.lower import LoweringError, lower
from arignote.errors import ArignoteError, describe
from arignote.runtime.memory import overlaps
from arignote.runtime.threads import MIN_PARALLEL_WORK, parallel_for


class KernelStep:
    """``step(args)`` -> outputs of ``node``'s compiled kernel.

    ``allocs``: per output, ``(shape, dtype) -> array`` (the memory plan); the
    kernel's in-place pairs become ``inplace``, {output index: input index}."""

    #: outputs have exactly the promised types (the Program need not check them)
    trusted = True

    def __init__(self, node, kernel, allocs=None):
        self.node, self.kernel, self.allocs = node, kernel, allocs
        n_in = len(kernel.params) - len(node.outputs)
        self.inplace = {o - n_in: i for o, i in kernel.inplace}
        self.launcher = Launcher(kernel, labels=[describe(v) for v in node.inputs])

    def __call__(self, args):
        call = self.prepare(args)
        try:
            return self.launcher.finish(call, _run_chunks)
        except ArignoteError as kernel_error:  # raised after the run (an error flag)
            self._explain(args)
            raise kernel_error

    def prepare(self, args, keep=()):
        """Check and pack ``args``: a call to :meth:`finish`. An input written in place
        that may share memory with another input or with ``keep`` is copied first."""
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
        """Rerun the group node by node: its error names the very op and line at fault."""
        self.node.op.perform(self.node, args)

    def finish(self, call):
        return self.launcher.finish(call, _run_chunks)

    def release(self, call):
        """Give up a prepared call without running it."""
        self.launcher.release(call)


def kernel_step(node, allocs=None, inplace=None):
    """A step running ``node``'s Fused group as one compiled kernel (the reference
    ``perform`` when the group cannot be lowered). Offered in-place writes are
    declined when the input and output index maps differ, and for kernels that
    can raise after writing (integer powers check a flag at the end)."""
    try:
        kernel = lower(node.op, name=_kernel_name(node))
    except LoweringError:  # the fusion pass only forms lowerable groups; stay correct anyway
        return partial(node.op.perform, node)
    if inplace:
        n_in = len(kernel.params) - len(node.outputs)
        over = dataclasses.replace(kernel, inplace=tuple((n_in + o, i) for o, i in sorted(inplace.items())))
        try:
            over.check_inplace()
        except ValueError:  # an input and its output follow different index maps
            over = None
        if over is not None:
            step = KernelStep(node, over, allocs)
            if step.launcher.compiled.error_flag is None:
                return step
    return KernelStep(node, kernel, allocs)


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
    return run


def _run_chunks(call):
    end = call.end
    per_item = max(call.work, 1) // max(end, 1)
    if end <= 1 or end * max(per_item, 1) < MIN_PARALLEL_WORK:  # one chunk: skip the pool
        call.fn(*call.args, 0, end)
        return
    parallel_for(call.run, end, per_item)


def _kernel_name(node):
    names = [getattr(n.op, "scalar_op", None) or type(n.op).__name__.lower() for n in node.op.nodes]
    return "k_" + "_".join(str(n) for n in names[:6])
