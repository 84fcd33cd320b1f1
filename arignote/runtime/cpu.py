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
memory plan's storage (those of a few columns run by
:mod:`arignote.runtime.cpu_skinny`'s kernels), a :class:`Gemm` (an SGD step's
product and update) the same OpenBLAS's ``gemm`` directly, in place,
convolutions and pooling through
:mod:`arignote.runtime.cpu_conv`, joins, writes through an index and fills
through :mod:`arignote.runtime.cpu_copy`, ``argmax`` / ``argmin`` through
:mod:`arignote.runtime.cpu_index`; every other op runs its ``perform``.
"""
from functools import partial

import numpy as np

from arignote.compiler import cuda_compile, jit
from arignote.compiler.llvm import render as render_llvm
from arignote.compiler.schedule import CPU, scheduled
from arignote.compiler.split_launch import launcher_for
from arignote.ops.blas import Gemm, MatMul
from arignote.ops.fused import FusedPool
from arignote.runtime import blas, cpu_skinny
from arignote.runtime.backends import register
from arignote.runtime.cpu_conv import fused_pool_step
from arignote.runtime.cpu_conv import register_steps as register_conv_steps
from arignote.runtime.cpu_copy import register_steps as register_copy_steps
from arignote.runtime.cpu_index import register_steps as register_index_steps
from arignote.runtime.kernels import KernelBackend
from arignote.runtime.memory import overlaps
from arignote.runtime.threads import MIN_PARALLEL_WORK, KernelRunner


class CpuBackend(KernelBackend):
    name = "cpu"
    target = CPU
    parallel_work = MIN_PARALLEL_WORK
    #: GEMM with ``beta`` runs as one library call (:mod:`arignote.runtime.blas`): the
    #: ``specialize`` phase may then build a :class:`Gemm` of an SGD-like step
    gemm = blas.gemm is not None
    #: a pool after an elementwise group runs on the group's chunks (passes.pool_fusion)
    fuses_pool = True

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
        offered in-place writes); each step then waits for its own kernel only. (With
        ``$ARIGNOTE_CUDA_CHECK_DIR`` set, their CUDA C is also kept there to be checked:
        :func:`~arignote.compiler.cuda_compile.collect`.)"""
        kernels = self.kernels(nodes, inplace)
        jit.prefetch(kernels)
        cuda_compile.collect(kernels)


@CpuBackend.step_for(MatMul)
def matmul_step(backend, node, allocs=None, inplace=None):
    """A matrix product through NumPy's BLAS into the memory plan's storage (no
    fresh pages per call), or by the skinny kernels where ``B`` has a few columns
    (:mod:`arignote.runtime.cpu_skinny`); other products (batched, mixed dtypes) use
    ``perform``."""
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
        out = take((a.shape[0], b.shape[1]), dtype)
        if cpu_skinny.product(a, b, out):  # (a few columns: see cpu_skinny)
            return [out]
        return [np.matmul(a, b, out=out)]

    run.trusted = run.skinny = True
    run.call = run
    return run


@CpuBackend.step_for(Gemm)
def gemm_step(backend, node, allocs=None, inplace=None):
    """``beta * C + alpha * A @ B`` as one BLAS call; in place over ``C`` where the memory
    plan offers it (an update of a shared variable: ``W - lr * X.T @ g``)."""
    c, _, a, b, _ = node.inputs
    dtype = node.outputs[0].type.numpy_dtype
    if blas.gemm is None or not allocs or dtype.kind != "f" or dtype.itemsize not in (4, 8) or \
            any(v.type.numpy_dtype != dtype for v in (c, a, b)):
        return partial(node.op.perform, node)
    return _GemmStep(node, allocs[0], inplace)


class _GemmStep:
    """The Gemm library step: ``__call__`` into fresh storage, or, in place (a commit
    step), ``prepare`` (every check, and a copy of ``C`` it may not write) then ``finish``."""

    trusted = True

    def __init__(self, node, take, inplace):
        self.node, self.take = node, take
        self.inplace = {0: 0} if inplace == {0: 0} else None
        self.call = self.__call__

    def _checked(self, args):
        c, alpha, a, b, beta = args
        want = (a.shape[0], b.shape[1])
        static = self.node.inputs[0].type.shape
        if a.shape[1] != b.shape[0] or any(s != 1 and n != w for s, n, w in zip(static, c.shape, want)):
            self.node.op.perform(self.node, args)  # (its error names the shapes)
        return want, float(alpha), float(beta)

    def __call__(self, args):
        c, _, a, b, _ = args
        want, alpha, beta = self._checked(args)
        out = self.take(want, c.dtype)
        np.copyto(out, c)
        return [blas.gemm(alpha, a, b, beta, out)]

    def prepare(self, args, keep=()):
        c, _, a, b, _ = args
        want, alpha, beta = self._checked(args)
        if c.shape != want or not (c.flags.c_contiguous and c.flags.writeable and c.flags.aligned) \
                or overlaps(c, [a, b]) or overlaps(c, keep):
            c = np.array(c, order="C")
        return _GemmCall((alpha, a, b, beta, c))

    def finish(self, call):
        return [blas.gemm(*call.gemm)]

    def release(self, call):
        pass


class _GemmCall:
    """A prepared in-place Gemm: its arguments, and its output as it will be."""

    __slots__ = ("gemm", "outputs")

    def __init__(self, gemm):
        self.gemm, self.outputs = gemm, [gemm[-1]]


#: the runner of the kernels whose chunks may be any number of items
_run_chunks = KernelRunner()


def _runner(kernel):
    """How a kernel's calls are chunked: at least its schedule's ``min_chunk`` each
    (whole column tiles: a narrower chunk walks every row for a few columns, a new
    page per row: slower on one thread than no split); short rows in whole row tiles
    (see :class:`~arignote.runtime.threads.KernelRunner`)."""
    sched = scheduled(kernel, CPU).schedule
    if sched.min_chunk == 1 and not sched.row_tile:
        return _run_chunks
    return KernelRunner(sched.min_chunk, sched.row_tile, sched.short_rows * max(kernel.passes, 1))


register_conv_steps(CpuBackend)
CpuBackend.step_for(FusedPool)(fused_pool_step)  # (the backend that fuses_pool runs it)
register_copy_steps(CpuBackend)
register_index_steps(CpuBackend)
register(CpuBackend())

