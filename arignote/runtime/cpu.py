"""The cpu backend: each Fused group compiled to native code through LLVM.

Its kernels are lowered, scheduled for the cpu target, rendered as LLVM IR
(:mod:`arignote.compiler.llvm`), compiled through the disk cache
(:mod:`arignote.compiler.jit`, all of a Program's kernels side by side) and
launched through ctypes (:mod:`arignote.compiler.launch`, large single-pass
reductions as per-chunk partials: :mod:`arignote.compiler.split_launch`). A
call runs in chunks of its outermost parallel axis on the thread pool when
the work is large enough. Everything else about a kernel step (in-place
halves, the rerun on the reference for errors) is the neutral
:mod:`arignote.runtime.kernels`'. Matrix products call NumPy's BLAS into the
memory plan's storage, convolutions and pooling through
:mod:`arignote.runtime.cpu_conv`; every other op runs its ``perform``.
"""
from functools import partial

import numpy as np

from arignote.compiler import jit
from arignote.compiler.llvm import render as render_llvm
from arignote.compiler.schedule import CPU, scheduled
from arignote.compiler.split_launch import launcher_for
from arignote.ops.blas import MatMul
from arignote.runtime.backends import register
from arignote.runtime.cpu_conv import register_steps as register_conv_steps
from arignote.runtime.kernels import KernelBackend
from arignote.runtime.threads import MIN_PARALLEL_WORK, parallel_for


class CpuBackend(KernelBackend):
    name = "cpu"
    target = CPU
    parallel_work = MIN_PARALLEL_WORK

    def render(self, kernel):
        """The LLVM IR text of ``kernel``."""
        return render_llvm(scheduled(kernel, CPU))

    def compile(self, kernel):
        return jit.compile_kernel(scheduled(kernel, CPU))

    def launcher(self, kernel, compiled, labels=None):
        return launcher_for(kernel, compiled, labels)

    def runner(self, kernel):
        return _runner(kernel)

    def prefetch(self, nodes, inplace):
        """Start compiling the kernels of ``nodes`` side by side (``inplace``: node ->
        offered in-place writes); each step then waits for its own kernel only."""
        jit.prefetch(self.kernels(nodes, inplace))


@CpuBackend.step_for(MatMul)
def matmul_step(backend, node, allocs=None, inplace=None):
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


def _run_chunks(call, min_items=1):
    end = call.end
    per_item = max(call.work, 1) // max(end, 1)
    if end <= 1 or end * max(per_item, 1) < MIN_PARALLEL_WORK:  # one chunk: skip the pool
        call.fn(*call.args, 0, end)
        return
    parallel_for(call.run, end, per_item, min_items)


def _runner(kernel):
    """How a kernel's calls are chunked: in multiples of its schedule's ``min_chunk``
    (whole column tiles: a narrower chunk walks every row for a few columns, a new
    page per row: slower on one thread than no split)."""
    min_chunk = scheduled(kernel, CPU).schedule.min_chunk
    return partial(_run_chunks, min_items=min_chunk) if min_chunk > 1 else _run_chunks


register_conv_steps(CpuBackend)
register(CpuBackend())

