"""The cpu backend's kernel steps: a Fused group compiled to native code.

Each :class:`~arignote.ops.fused.Fused` node is lowered to a Kernel and
compiled (through the disk cache) when the function is compiled; a call
runs it in chunks of its outermost parallel axis on the thread pool when the
work is large enough. When a kernel refuses its inputs, the group is rerun
node by node on the reference implementation, whose error names the exact
op and the user's line that built it.
"""
from functools import partial

from arignote.compiler.launch import Launcher
from arignote.compiler.lower import LoweringError, lower
from arignote.errors import ArignoteError, describe
from arignote.runtime.threads import MIN_PARALLEL_WORK, parallel_for


def kernel_step(node):
    """A step running ``node``'s Fused group as one compiled kernel."""
    try:
        kernel = lower(node.op, name=_kernel_name(node))
    except LoweringError:  # the fusion pass only forms lowerable groups; stay correct anyway
        return partial(node.op.perform, node)
    launcher = Launcher(kernel, labels=[describe(v) for v in node.inputs])

    def run(args):
        try:
            return launcher(*args, runner=_run_chunks)
        except ArignoteError as kernel_error:
            # Rerun the group node by node: its error names the very op and line at fault.
            node.op.perform(node, args)
            raise kernel_error

    run.kernel = kernel
    run.launcher = launcher
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
