"""Backend 'cuda''s launch path: Programs whose values are device arrays.

A :class:`DeviceProgram` copies a call's host inputs to the device, runs its
steps on :class:`~arignote.runtime.cuda_device.DeviceArray` values and copies
the outputs back: transfers at the function's boundaries only. The updates of
shared variables resident on the device (``shared(value, target='cuda')``)
stay there. Its steps (:func:`register_steps`):

* a Fused group: its kernel, launched by a :class:`DeviceLauncher`;
* a matrix product (2-d, float32/float64): the device's ``gemm`` (cuBLAS);
* an op that only makes a view (``view_map``: DimShuffle, Reshape, Subtensor,
  ...): the view of the same device memory, no copy;
* ``Shape``/``Shape_i``: computed on the host from the array's shape;
* every other op: the **host fallback**, which copies its inputs to the host,
  runs the op's ``perform`` there and copies the outputs back, each copy
  counted as 'fallback' and each op in ``Device.fallbacks`` (the tests list
  which ops still need a CUDA kernel or library step); ops with an inner graph
  (scan, ifelse) too, whole.

Binding a kernel's arguments is the backend-neutral
:class:`~arignote.compiler.bind.Binder`'s, unchanged: it runs on *shadows*,
NumPy arrays with a device array's shape and strides over scratch host memory
that is never read (:class:`Shadows`); the arrays it returns (inputs, views,
outputs) are mapped back to device addresses by where they lie in the
scratch. A value the Binder must read (a size taken from an input, an index)
is copied into its shadow first ('scalar'), as is a host value a kernel reads
(a size computed on the host: copied to the device once per distinct value,
:meth:`~arignote.runtime.cuda_device.Device.scalar`).

A reduction with few parallel points and many reduced ones splits into a partial
and a combine kernel, as on the emulator
(:class:`~arignote.compiler.cuda_launch.SplitReduction`, its partials new
device memory) with the GPU's limits (:data:`SPLIT`, for every device alike).

Nothing is written in place: every step's outputs are new device memory (the
device reuses freed blocks), so values never alias in a way a later write
could see.
"""
import threading

import numpy as np

from arignote.compiler.bind import Binder
from arignote.compiler.cuda import CUDA
from arignote.compiler.cuda_launch import GPU_SPLIT, SplitReduction, gemm_args, launch_config, \
    pack_args, split_plan
from arignote.compiler.schedule import scheduled
from arignote.errors import ArignoteValueError, describe
from arignote.graph.op import Op
from arignote.ops.blas import MatMul
from arignote.ops.fused import Fused
from arignote.ops.inner import InnerGraphOp
from arignote.ops.static_shape import Shape, Shape_i
from arignote.runtime.cuda_device import DeviceArray
from arignote.runtime.kernels import KernelStep
from arignote.runtime.program import Program


class Shadows:
    """Host stand-ins for device arrays, for code that only computes shapes, strides and
    views (the Binder, a view op's ``perform``): per allocation, scratch host memory of
    its size that nothing reads; :meth:`device` maps an array lying in it back."""

    def __init__(self, base=None):
        #: id(allocation) -> (scratch, allocation); ``base``'s too (a launcher's constants)
        self._scratch = dict(base._scratch) if base is not None else {}

    def of(self, d, contents=None):
        """A NumPy array with ``d``'s shape, dtype and strides over scratch memory; holding
        ``contents`` (a host copy of ``d``'s values) where given, for code that reads them."""
        entry = self._scratch.get(id(d.alloc))
        if entry is None:
            entry = self._scratch[id(d.alloc)] = (np.empty(d.alloc.nbytes, np.uint8), d.alloc)
        a = np.ndarray(d.shape, d.dtype, buffer=entry[0], offset=d.offset, strides=d.strides)
        if contents is not None:
            a[...] = contents
        return a

    def device(self, a):
        """The DeviceArray that ``a`` (a view of some scratch) stands for, None if ``a`` lies
        in none (NumPy made a copy)."""
        if not isinstance(a, np.ndarray):
            return None
        addr = a.ctypes.data
        for scratch, alloc in self._scratch.values():
            lo = scratch.ctypes.data
            if np.may_share_memory(a, scratch) or (a.size == 0 and lo <= addr <= lo + scratch.nbytes):
                return DeviceArray(alloc, a.shape, a.dtype, a.strides, addr - lo)
        return None


def as_device(device, value, kind):
    """``value`` on ``device``: itself if a DeviceArray, else copied there (``kind``)."""
    return value if isinstance(value, DeviceArray) else device.to_device(value, kind)


def as_host(value, kind):
    """``value`` on the host: a DeviceArray copied (``kind``), anything else as it is."""
    return value.get(kind) if isinstance(value, DeviceArray) else value


def metadata(value):
    """A NumPy array with ``value``'s shape and dtype and no memory (for type checks), or
    ``value`` itself if it is no DeviceArray."""
    if not isinstance(value, DeviceArray):
        return value
    return np.lib.stride_tricks.as_strided(np.zeros((), value.dtype), value.shape, (0,) * value.ndim)


#: when a reduction splits on a device (tests lower them)
SPLIT = GPU_SPLIT


class DeviceLauncher(Binder):
    """Launches a kernel on a device: the Binder's checks on shadows, then the packed
    ``ag_args`` (:func:`~arignote.compiler.cuda_launch.pack_args`) with the grid and
    block of :func:`~arignote.compiler.cuda_launch.launch_config` for the device's
    occupancy-based block size. ``compile_split`` (kernels -> their functions) builds a
    split reduction's kernels on the first call that splits (None: no call splits)."""

    def __init__(self, kernel, device, function, labels=None, compile_split=None):
        kernel = scheduled(kernel, CUDA)
        super().__init__(kernel, labels)
        self.device, self.function = device, function
        self.block, self.max_grid = device.block_size(function)
        self._compile_split, self._split = compile_split, None
        self._split_lock = threading.Lock()
        # the constants on the device, the Binder's own stand-ins holding their values
        self._constants = Shadows()
        self.constants = [self._constants.of(device.to_device(c, "constant"), c) for c in self.constants]
        #: inputs whose values the Binder reads (sizes, indices of views)
        self._read = {e[1] for _, e in kernel.extents if isinstance(e, tuple)} | \
            {j for _, (_, steps) in self.views for j in _refs(steps)}
        self._flag = device.to_device(np.zeros((), np.int32), "constant")

    def prepare(self, inputs, outputs=None, allocs=None):
        """Check and bind ``inputs`` (DeviceArrays, or host values: copied over as
        'scalar'); ``allocs`` (the host memory plan's) are not used: outputs are new
        device arrays."""
        if outputs is not None:
            raise ArignoteValueError(f"{self.kernel.name}: a device launch makes its own outputs")
        shadows, host = Shadows(self._constants), []
        for j, x in enumerate(inputs):
            if isinstance(x, DeviceArray):
                host.append(shadows.of(x, x.get("scalar") if j in self._read else None))
            else:  # (a value computed on the host: a size, mostly)
                x = np.asarray(x)
                d = self.device.scalar(x) if x.ndim == 0 else self.device.to_device(x, "fallback")
                host.append(shadows.of(d, x))

        def alloc(shape, dtype):
            return shadows.of(self.device.empty(shape, dtype))
        arrays, ext, _ = self.bind(host, None, [alloc] * len(self.out_params))
        bound = []
        for j, a in enumerate(arrays):
            d = shadows.device(a)
            if d is None:
                raise NotImplementedError(
                    f"{self.kernel.name}: {self._what(j)} needs a copy (a reshape of a non-contiguous "
                    f"array); backend 'cuda' makes no copies inside a kernel's arguments yet")
            bound.append(d)
        return _DeviceCall(bound, ext, len(self.out_params), shadows, arrays)

    def finish(self, call, runner=None):
        """Launch a prepared call (split: :data:`SPLIT`): its outputs (DeviceArrays)."""
        how = split_plan(self.kernel, call.ext, SPLIT) if self._compile_split else None
        if how is None:
            self._launch(self.kernel, (self.function, self.block, self.max_grid), call.arrays, call.ext)
            return call.outputs
        split, functions = self._kernels()
        shadows = call.shadows

        def alloc(shape, dtype):
            return shadows.of(self.device.empty(shape, dtype))
        for which, bound, ext in split.launches(call.host, call.ext, how, alloc):
            self._launch(split.kernels[which], functions[which], [shadows.device(a) for a in bound], ext)
        return call.outputs

    def _kernels(self):
        """The split kernels, and each one's ``(function, block, max_grid)``."""
        with self._split_lock:
            if self._split is None:
                split = SplitReduction(self.kernel)
                functions = self._compile_split(split.kernels)
                self._split = split, [(f, *self.device.block_size(f)) for f in functions]
            return self._split

    def _launch(self, k, how, arrays, ext):
        """Launch kernel ``k`` (``how``: its function, block and most blocks) on ``arrays``
        (DeviceArrays of every param) over ``ext``; raise its error if a Check fired."""
        function, block, max_grid = how
        grid, block = launch_config(k, ext, block, max_grid)
        if grid:
            strides = [tuple(s // d.itemsize for s in d.strides) for d in arrays]
            packed = pack_args(k, ext, [d.ptr for d in arrays], strides, self._flag.ptr)
            self.device.launch(function, grid, block, 0, packed)
        if k.errors:  # (one int read back: the kernel's error flag)
            flag = np.zeros((), np.int32)
            self.device.copy_dtoh(flag, self._flag.ptr, "flag")
            if flag:
                self.device.copy_htod(self._flag.ptr, np.zeros((), np.int32), "flag")
                raise ArignoteValueError(f"{k.name}: {k.errors[int(flag) - 1]}")


class _DeviceCall:
    """A prepared launch: the DeviceArrays of every param, the extents, the outputs, and
    the shadows (``host``: every param's) a split call binds its kernels on."""
    __slots__ = ("arrays", "ext", "outputs", "shadows", "host")

    def __init__(self, arrays, ext, n_out, shadows, host):
        self.arrays, self.ext, self.shadows, self.host = arrays, ext, shadows, host
        self.outputs = arrays[len(arrays) - n_out:]


def _refs(steps):
    """The params a view's steps read values from (``('ref', j)`` entries)."""
    found = set()

    def walk(v):
        if isinstance(v, tuple):
            if len(v) == 2 and v[0] == "ref" and isinstance(v[1], int):
                found.add(v[1])
            else:
                for e in v:
                    walk(e)
    walk(tuple(steps))
    return found


class DeviceKernelStep(KernelStep):
    """A Fused group's kernel on the device; a failing call is explained on the host."""

    def _explain(self, args):
        super()._explain([as_host(a, "fallback") for a in args])


def kernel_step(backend, node, allocs=None, inplace=None):
    """The kernel of ``node``'s group on the device (no in-place writes), None if the group
    cannot be lowered (its inner graph then runs as a Program on the device)."""
    kernel = backend.kernel(node)
    if kernel is None:
        return None
    launcher = backend.launcher(kernel, backend.compile(kernel), [describe(v) for v in node.inputs])
    step = DeviceKernelStep(node, kernel, launcher)
    step.takes_floats = False
    return step


def matmul_step(backend, node, allocs=None, inplace=None):
    """A 2-d float32/float64 matrix product through the device's gemm (cuBLAS); other
    products run on the host fallback."""
    (out,) = node.outputs
    dtype = out.type.numpy_dtype
    if out.ndim != 2 or dtype.kind != "f" or dtype.itemsize not in (4, 8) or \
            any(v.type.numpy_dtype != dtype or v.ndim != 2 for v in node.inputs):
        return host_step(backend, node)
    device = backend.device

    def run(args):
        a, b = (as_device(device, x, "scalar") for x in args)
        if a.shape[1] != b.shape[0]:
            node.op.perform(node, [metadata(a), metadata(b)])  # (its error names the shapes)
        c = device.empty((a.shape[0], b.shape[1]), dtype)
        if c.size:
            matmul(device, a, b, c)
        return [c]

    run.trusted = True
    run.call = run
    return run


def matmul(device, a, b, c, alpha=1.0, beta=0.0):
    """``c = alpha a @ b + beta c`` on ``device`` (``c`` C-contiguous); an operand that
    cuBLAS cannot read as it lies (no contiguous dimension) is made contiguous on the host."""
    args = gemm_args(*((x.shape, x.strides, x.itemsize) for x in (a, b, c)))
    if args is None:
        a, b = (x if x.c_contiguous else device.to_device(x.get("fallback"), "fallback") for x in (a, b))
        args = gemm_args(*((x.shape, x.strides, x.itemsize) for x in (a, b, c)))
    transb, transa, n, m, k, ldb, lda, ldc = args
    device.gemm(c.dtype, transb, transa, n, m, k, alpha, b.ptr, ldb, a.ptr, lda, beta, c.ptr, ldc)


def shape_step(backend, node, allocs=None, inplace=None):
    """Shape and Shape_i: from the arrays' shapes, on the host (no copy)."""
    def run(args):
        return node.op.perform(node, [metadata(a) for a in args])
    run.trusted = True
    return run


def view_step(backend, node, allocs=None, inplace=None):
    """An op whose outputs are views of an input (``view_map``): ``perform`` on shadows,
    its outputs mapped back to the same device memory. Where NumPy had to copy, or a
    non-view output or a large non-viewed input is involved, the host fallback."""
    sources = {i for ins in node.op.view_map.values() for i in ins}
    fallback = host_step(backend, node)
    if set(node.op.view_map) != set(range(len(node.outputs))):
        return fallback

    def run(args):
        if any(isinstance(a, DeviceArray) and i not in sources and a.size > 16 for i, a in enumerate(args)):
            return fallback(args)
        shadows = Shadows()
        host = [shadows.of(a) if isinstance(a, DeviceArray) and i in sources else as_host(a, "scalar")
                for i, a in enumerate(args)]
        outs = [shadows.device(o) for o in node.op.perform(node, host)]
        return fallback(args) if None in outs else outs

    run.trusted = True
    return run


def host_step(backend, node, allocs=None, inplace=None):
    """The host fallback: the op's ``perform`` on host copies of its inputs, its array
    outputs copied back (0-d ones stay on the host: the kernels reading them copy them
    over as 'scalar'). Each copy counted 'fallback', each run in ``Device.fallbacks``."""
    device, name = backend.device, type(node.op).__name__

    def run(args):
        device.fallbacks[name] += 1
        outs = node.op.perform(node, [as_host(a, "fallback") for a in args])
        for v, r in zip(node.outputs, outs):
            if not v.type.is_valid_value(r):
                raise ArignoteValueError(f"internal error: {node.op} promised {v.type}, computed "
                                         f"{type(r).__name__}")
        return [device.to_device(r, "fallback") if isinstance(r, np.ndarray) and r.ndim else r
                for r in outs]

    run.trusted = True
    return run


def any_op_step(backend, node, allocs=None, inplace=None):
    """A view step for ops that only make views, the host fallback for the rest."""
    if getattr(node.op, "view_map", None):
        return view_step(backend, node)
    return host_step(backend, node)


def register_steps(backend_class):
    """The device steps of ``backend_class`` (see the module docstring)."""
    backend_class.step_for(Fused)(kernel_step)
    backend_class.step_for(MatMul)(matmul_step)
    backend_class.step_for(Shape, Shape_i)(shape_step)
    backend_class.step_for(Op)(any_op_step)
    backend_class.step_for(InnerGraphOp)(host_step)  # (scan, ifelse: their reference, on the host)


class DeviceProgram(Program):
    """A Program on a device (the backend's ``device``): host inputs copied over at the
    start of a run, outputs copied back at the end, except those at the positions
    ``resident`` (the Function's updates of shared variables resident on the device),
    which stay there. No in-place commits and no borrowed storage (``inplace`` and
    ``borrow`` are declined): the steps write new device memory."""

    def __init__(self, fgraph, roots, backend=None, inplace=(), borrow=(), checks=(),
                 compile_inner=None, resident=()):
        self.device = backend.device
        super().__init__(fgraph, roots, backend, checks=checks, compile_inner=compile_inner)
        #: positions of the outputs left on the device (updates of device-resident shared variables)
        self.resident = frozenset(resident)
        for i, data in self.constants:  # (once: graph constants live on the device)
            if isinstance(data, np.ndarray) and data.ndim:
                self._template[i] = self.device.to_device(data, "constant")
        self._tail = self._template[self.n_roots:]
        self.takes_floats = False
        self._direct = None  # (no call may skip run(): it makes the copies)

    def run(self, root_values, settle=None):
        """Inputs to the device, the steps, outputs back ('boundary' copies). ``settle`` is
        not needed: outputs are fresh host copies, device values are never written over."""
        device = self.device
        values = [v if isinstance(v, DeviceArray) or not isinstance(v, (np.ndarray, np.generic, float, int))
                  else device.to_device(v, "boundary") for v in root_values]
        results = super().run(values)
        return [r if k in self.resident else as_host(r, "boundary") for k, r in enumerate(results)]

    def _check(self, results):
        super()._check([metadata(r) for r in results])
