"""Calling a compiled kernel on NumPy arrays.

A :class:`Launcher` binds a Kernel to its compiled code. Each call finds the
index-space extents from the input arrays through the loads' axis maps
(every axis must get the same size from every load that follows it), checks
what NumPy would refuse (a max/min over an empty axis, an integer power to a
negative exponent), allocates the outputs unless given, and passes data
pointers and strides in *elements* (negative and zero strides included, so
views such as ``x[::-1]`` and ``x.T`` are never copied). View params
(``Param.view``: slices, integer indices, reshapes of a group input) are
made here with NumPy's own basic indexing and reshape (:func:`apply_view`), so
their bounds clip exactly as in NumPy; their shapes are the sliced lengths,
from which the extents come like from any load. A bad index (out of range,
a zero step, an impossible reshape) raises an Arignote error, like the
reference would.

``prepare`` does everything but the call and returns a :class:`Call`, whose
``run(start, end)`` executes a chunk of the outermost parallel axis; a thread
pool can split ``[0, call.end)`` among threads.

Per-call cost matters for small arrays, so the packed argument buffers are
kept in a per-launcher free list (their stride pointers written once) and
data pointers are read straight from the array object when that layout
checks out at import (``ndarray.ctypes`` costs microseconds). For the common
call, :meth:`Launcher.fast_runner` generates straight-line Python specialized
to the kernel (its checks, extents, pointer and stride writes spelled out)
that calls the kernel through a one-argument trampoline (ctypes converts one
argument instead of five); anything unusual goes to the general path above.
"""
import ctypes
import math

import numpy as np

from arignote.compiler import kernel as K
from arignote.errors import ArignoteTypeError, ArignoteValueError, ShapeError

_NO_IDENTITY = {"max": "maximum", "min": "minimum"}


def _slow_data_pointer(a):
    return a.ctypes.data


def _fast_pointer_reader():
    """``a -> address of a's data``, read from the PyArrayObject (``data``
    follows the object header); None unless it agrees with ``ndarray.ctypes``."""
    offset = object.__basicsize__
    read = ctypes.c_void_p.from_address

    def data_pointer(a):
        return read(id(a) + offset).value or 0

    base = np.arange(24.0).reshape(4, 6)
    samples = [base, base[1:, 2:], base.T[::-1], np.asarray(1.5), np.empty(0), base[2, 3:4]]
    try:
        ok = all(data_pointer(a) == a.ctypes.data for a in samples)
    except Exception:  # pragma: no cover - exotic interpreters
        ok = False
    return data_pointer if ok else None


def _memory_reader():
    """``mem`` such that ``mem[id(a) >> 3]`` is the address of ``a``'s data: an int64
    array spanning the address space from the PyArrayObject's ``data`` field on
    (objects are 8-aligned), a third of the cost of ``from_address``; None unless
    it agrees with ``ndarray.ctypes``."""
    offset = object.__basicsize__  # where ``data`` follows the object header
    if offset % 8:  # pragma: no cover - exotic interpreters
        return None
    try:
        mem = (ctypes.c_int64 * (1 << 58)).from_address(offset)  # mem[i]: the word at 8 * i + offset
        base = np.arange(24.0).reshape(4, 6)
        samples = [base, base[1:, 2:], base.T[::-1], np.asarray(1.5), np.empty(0), base[2, 3:4]]
        if all(id(a) % 8 == 0 and mem[id(a) >> 3] == a.ctypes.data for a in samples):
            return mem
    except Exception:  # pragma: no cover - exotic interpreters
        pass
    return None  # pragma: no cover


def _float_value_offset():
    """Where a Python float keeps its double (``ob_fval``, after the object header):
    a kernel may read a float64 0-d input straight from a float object. None
    unless reading there gives the float's value."""
    offset = float.__basicsize__ - 8
    try:
        values = [1.5, -0.0, 2.0 ** -1074, float("inf"), 1e300]
        if all(ctypes.c_double.from_address(id(v) + offset).value == v for v in values):
            return offset
    except Exception:  # pragma: no cover - exotic interpreters
        pass
    return None  # pragma: no cover


_MEMORY = _memory_reader()
_FLOAT_VALUE = _float_value_offset()
if _MEMORY is not None:
    def _data_pointer(a, _mem=_MEMORY):
        return _mem[id(a) >> 3]
else:  # pragma: no cover - exotic interpreters
    _data_pointer = _fast_pointer_reader() or _slow_data_pointer


class Call:
    """A prepared launch: arguments kept alive while chunks run."""

    __slots__ = ("fn", "args", "outputs", "end", "work", "_keep")

    def __init__(self, fn, args, outputs, end, keep, work=0):
        self.fn, self.args, self.outputs, self.end, self._keep = fn, args, outputs, end, keep
        #: the most elements in any input or output, times the kernel's passes (how a
        #: runner sizes its chunks)
        self.work = work

    def run(self, start=0, end=None):
        """Execute ``[start, end)`` of the outermost parallel axis (all of it by default)."""
        self.fn(*self.args, start, self.end if end is None else end)


class Launcher:
    """``kernel`` with its compiled code: ``launcher(*inputs, outputs=None)`` -> outputs.

    ``outputs`` may give arrays to write into (None entries are allocated); an
    output the kernel writes in place (``Kernel.inplace``) is its input's array.

    ``labels`` name the inputs in error messages (the user's variables)."""

    def __init__(self, kernel, compiled=None, labels=None, **compile_options):
        if compiled is None:
            from arignote.compiler.jit import compile_kernel
            compiled = compile_kernel(kernel, **compile_options)
        self.kernel, self.compiled = kernel, compiled
        self.labels = list(labels) if labels is not None else None
        params = kernel.params
        self.views = [(j, p.view) for j, p in enumerate(params) if p.view is not None]
        self.n_user = len(kernel.inputs) - len(kernel.constants) - len(self.views)
        self.constants = [np.asarray(c, dtype=params[self.n_user + j].dtype)
                          for j, c in enumerate(kernel.constants)]
        self.loads = sorted({(ins.param, ins.axes) for ins in kernel.body  # (not outputs read back)
                             if isinstance(ins, K.Load) and params[ins.param].role == "in"},
                            key=lambda load: (load[0], tuple(-1 if a is None else a for a in load[1])))
        self.stores = {ins.param: ins.axes for ins in kernel.body if isinstance(ins, K.Store)}
        self._passes = max(kernel.passes, 1)  # a row kernel reads its rows once per pass
        self.out_params = [j for j, p in enumerate(params) if p.role == "out"]
        self.parallel = [a for a in range(kernel.ndim) if a not in kernel.reduce_axes]
        self.no_identity = sorted({_NO_IDENTITY[ins.combiner] for ins in kernel.body
                                   if isinstance(ins, K.Reduce) and ins.needs_elements})
        # one int64 buffer per call: [shape | data pointers | stride pointers | strides]
        self._n_shape, n = max(kernel.ndim, 1), len(params)
        self._strides_at = self._n_shape + 2 * n
        offsets = np.cumsum([0] + [p.ndim for p in params])[:-1]
        self._stride_ptr_offsets = [8 * (self._strides_at + int(o)) for o in offsets]
        self._buf_len = self._strides_at + max(sum(p.ndim for p in params), 1)
        self._in_specs = [(p.dtype, p.ndim) for p in params[:self.n_user]]
        self._out_specs = [(np.dtype(params[j].dtype), self.stores[j]) for j in self.out_params]
        self._const_ptrs = [_data_pointer(c) for c in self.constants]
        self._const_strides = [st // c.itemsize for c in self.constants for st in c.strides]
        self._buffers = []  # free list of (ctypes buffer, its address)
        # output n -> the input whose buffer it is written over
        self._over = {self.out_params.index(o): i for o, i in kernel.inplace}
        # a 0-d index space whose loads are all 0-d: nothing to find or check
        self._no_extents = kernel.ndim == 0 and all(not axes for _, axes in self.loads)
        self._view_makers = [(source, view_maker(steps, self._what(source)))
                             for _, (source, steps) in self.views]

    def _take_buffer(self):
        """A packed-argument buffer whose stride pointers are already written."""
        try:
            return self._buffers.pop()
        except IndexError:
            buf = (ctypes.c_int64 * self._buf_len)()
            base = ctypes.addressof(buf)
            start = self._n_shape + len(self.kernel.params)
            buf[start:start + len(self._stride_ptr_offsets)] = [
                base + o for o in self._stride_ptr_offsets]
            return buf, base

    def extents(self, arrays, outputs=None):
        """The index-space extents, checked against every load (and given output)."""
        k = self.kernel
        ext, source = [None] * k.ndim, [None] * k.ndim
        maps = [(j, axes, arrays[j]) for j, axes in self.loads]
        if outputs is not None:
            maps += [(j, self.stores[j], o) for j, o in zip(self.out_params, outputs) if o is not None]
        for j, axes, arr in maps:
            for d, a in enumerate(axes):
                size = arr.shape[d]
                if a is None:
                    if size != 1:
                        raise ShapeError(f"{k.name}: {self._what(j)} has shape {arr.shape}, but its "
                                         f"dimension {d} is broadcast and must have size 1")
                elif ext[a] is None:
                    ext[a], source[a] = size, (j, d, arr.shape)
                elif ext[a] != size:
                    j0, d0, shape0 = source[a]
                    where = (f"in dimension {d} ({ext[a]} vs {size})" if d == d0 else
                             f"(dimension {d0} of the first, {ext[a]}, and dimension {d} of the "
                             f"second, {size}, follow the same axis)")
                    raise ShapeError(
                        f"{k.name}: inputs {self._what(j0)} of shape {shape0}, {self._what(j)} of shape "
                        f"{arr.shape} do not match {where}. Only dimensions of static size 1 "
                        f"broadcast")
        # an axis no load follows is one every input broadcasts along: it has extent 1
        return [1 if e is None else e for e in ext]

    def _make_views(self, arrays):
        """Append the view params' arrays; the largest view's size."""
        work = 0
        for source, make in self._view_makers:
            v = make(arrays[source], arrays)
            arrays.append(v)
            work = max(work, v.size)
        return work

    def _what(self, j):
        p = self.kernel.params[j]
        if p.view is not None:
            return f"{self._what(p.view[0])} viewed as {K._param(p).split(' = ')[1]}"
        if p.role == "out":
            return f"output {j - self.out_params[0]}"
        if j >= self.n_user:
            return f"constant {p.name}"
        return self.labels[j] if self.labels else f"input {j}"

    def prepare(self, inputs, outputs=None, allocs=None):
        """Check, allocate and pack the arguments: a :class:`Call` (not yet run).

        ``allocs``: one ``(shape, dtype) -> array`` per output, for the outputs not
        given (default: fresh arrays)."""
        arrays, ext, work = self.bind(inputs, outputs, allocs)
        ptrs, strides = [], []
        for a in arrays:
            _pack(a, ptrs, strides)
        buf, base = self._take_buffer()
        n_shape = self._n_shape
        buf[:n_shape] = ext or [0]
        buf[n_shape:n_shape + len(ptrs)] = ptrs
        if strides:
            buf[self._strides_at:self._strides_at + len(strides)] = strides
        end = ext[self.parallel[0]] if self.parallel else 1
        args = (base, base + 8 * n_shape, base + 8 * (n_shape + len(arrays)))
        outs = arrays[len(arrays) - len(self.out_params):]
        return Call(self.compiled.fn, args, outs, end, (arrays, buf, base), work * self._passes)

    def bind(self, inputs, outputs=None, allocs=None):
        """The backend-neutral part of :meth:`prepare`: check the inputs (and given outputs),
        make the view params and the outputs. Returns ``(arrays, ext, work)``: the array of
        each param in order, the index-space extents, the most elements in any input or
        output. (The kernel-IR interpreter runs a kernel on exactly these.)"""
        k = self.kernel
        if len(inputs) != self.n_user:
            raise ArignoteTypeError(f"{k.name} takes {self.n_user} inputs, got {len(inputs)}")
        arrays = []
        work = 0
        for j, (x, (dtype, ndim)) in enumerate(zip(inputs, self._in_specs)):
            if type(x) is not np.ndarray:
                x = np.asarray(x)
            if x.dtype != dtype or x.ndim != ndim:
                raise ArignoteTypeError(f"{k.name}: input {j} must be a {ndim}-d {dtype} array, "
                                        f"got a {x.ndim}-d {x.dtype} one")
            if not x.flags.aligned:
                x = x.copy()
            if x.size > work:
                work = x.size
            arrays.append(x)
        arrays += self.constants
        if self.views:
            work = max(work, self._make_views(arrays))
        if outputs is not None and len(outputs) != len(self.out_params):
            raise ArignoteTypeError(f"{k.name} has {len(self.out_params)} outputs, got {len(outputs)}")
        ext = [] if self._no_extents and outputs is None else self.extents(arrays, outputs)
        if self.no_identity and any(ext[a] == 0 for a in k.reduce_axes):
            raise ArignoteValueError(
                f"{k.name}: reduced axes {k.reduce_axes} have size 0 (extents {tuple(ext)}) and "
                f"{self.no_identity[0]} of nothing is undefined")
        outs = []
        for n, (dtype, axes) in enumerate(self._out_specs):
            shape = tuple([1 if a is None else ext[a] for a in axes]) if axes else ()
            o = None if outputs is None else outputs[n]
            if n in self._over:
                o = arrays[self._over[n]]
            if o is None:
                o = np.empty(shape, dtype) if allocs is None else allocs[n](shape, dtype)
            else:
                if not isinstance(o, np.ndarray) or o.dtype != dtype or o.shape != shape \
                        or not o.flags.writeable or not o.flags.aligned:
                    raise ArignoteValueError(f"{k.name}: output {n} must be a writeable aligned "
                                             f"{dtype} array of shape {shape}, got "
                                             f"{_describe_array(o)}")
            if o.size > work:
                work = o.size
            outs.append(o)
        return arrays + outs, ext, work

    def fast_runner(self, slow, allocs=None, max_work=None):
        """``run(inputs) -> outputs``: the whole launch specialized to this kernel, for
        the calls that need no checking beyond what it inlines. It runs single-threaded
        what takes one chunk (work below ``max_work``, as a runner would decide) and
        hands every other call to ``slow(inputs)`` (the general path, which raises the
        proper errors): inputs that are not exact aligned ndarrays of the kernel's
        dtypes and ranks, shapes that disagree, max/min over an empty axis, large work.
        ``allocs[n]`` makes output ``n`` (None: ``np.empty``); an in-place output is its
        input's array. None for the kernels it does not cover (views, an error flag).

        Its ``floats`` attribute says whether it also takes Python floats for 0-d
        float64 inputs (read in place; ``slow`` may get them too)."""
        return _fast_runner(self, slow, allocs, max_work)

    def release(self, call):
        """Give ``call``'s argument buffer back to the free list (the call is over)."""
        _, buf, base = call._keep
        call._keep = None
        self._buffers.append((buf, base))

    def __call__(self, *inputs, outputs=None, runner=None, allocs=None):
        """Run on ``inputs``; ``runner(call)`` may split the call into chunks (threads)."""
        return self.finish(self.prepare(inputs, outputs, allocs), runner)

    def finish(self, call, runner=None):
        """Run a prepared call: its outputs."""
        flag = self.compiled.error_flag
        if flag is not None:
            flag.value = 0
        try:
            if runner is None:
                call.fn(*call.args, 0, call.end)
            else:
                runner(call)
        finally:
            self.release(call)
        if flag is not None and flag.value:
            raise ArignoteValueError(f"{self.kernel.name}: integers to negative integer powers are "
                                     "not allowed")
        return call.outputs


_TRAMPOLINE = []


def _trampoline():
    """ctypes' handle on :func:`~arignote.compiler.llvm.trampoline` (compiled once per
    process), or None if it cannot be had."""
    if not _TRAMPOLINE:
        try:
            from arignote.compiler.jit import compile_ir
            from arignote.compiler.llvm import TRAMPOLINE, trampoline
            compiled = compile_ir(trampoline(), TRAMPOLINE, use_cache=False)
            _TRAMPOLINE.append((ctypes.CFUNCTYPE(None, ctypes.c_void_p)(compiled.address), compiled))
        except Exception:  # pragma: no cover - then kernels are called directly
            _TRAMPOLINE.append((None, None))
    return _TRAMPOLINE[0][0]


def _fast_runner(la, slow, allocs, max_work):
    """Generate :meth:`Launcher.fast_runner`'s function: straight-line Python with
    each check, shape, pointer and stride write of this kernel spelled out, and
    the kernel called through the trampoline (one ctypes argument: the call's
    header at the end of the packed buffer, written once per buffer but ``end``)."""
    k = la.kernel
    if la.views or la.compiled.error_flag is not None or _MEMORY is None:
        return None
    over = dict(la._over)  # an in-place output is its input's array (which must be writeable)
    written = set(over.values())
    params, n_in, n_shape, at = k.params, la.n_user, la._n_shape, la._strides_at
    tramp = _trampoline()
    env = {"slow": slow, "ndarray": np.ndarray, "empty": np.empty, "mem": _MEMORY,
           "call": tramp or la.compiled.fn}
    xs = [f"x{j}" for j in range(n_in)]
    bail = "        return slow(inputs)"
    lines = ["def run(inputs, pop=free.pop, push=free.append):", f"    if len(inputs) != {n_in}:", bail]
    if n_in:
        lines.append(f"    {', '.join(xs)}{',' * (n_in == 1)} = inputs")
    ptr = "mem[id({}) >> 3]"
    floats = False
    for j, (dtype, ndim) in enumerate(la._in_specs):
        env[f"D{j}"] = dtype = np.dtype(dtype)
        check = f"x{j}.__class__ is not ndarray or x{j}.dtype is not D{j} or x{j}.ndim != {ndim}"
        if ndim:  # (0-d: aligned is the data pointer's alignment, checked below)
            check += f" or not x{j}.flags.aligned"
        if j in written:
            check += f" or not x{j}.flags.writeable"
        block = [f"if {check}:", bail[4:], f"p{j} = {ptr.format(f'x{j}')}"]
        if not ndim and dtype.alignment > 1:
            block += [f"if p{j} & {dtype.alignment - 1}:", bail[4:]]
        if not ndim and dtype == np.float64 and _FLOAT_VALUE is not None and j not in written:
            # (or a Python float)
            floats = True
            block = [f"if x{j}.__class__ is float:", f"    p{j} = id(x{j}) + {_FLOAT_VALUE}",
                     "else:", *["    " + line for line in block]]
        if ndim:
            block.append(f"s{j} = x{j}.shape")
        lines += ["    " + line for line in block]
    # the extents, checked as extents() does (a mismatch goes to slow, which names it)
    ext = {}
    for j, axes in la.loads:
        for d, a in enumerate(axes):
            size = f"s{j}[{d}]" if j < n_in else str(la.constants[j - n_in].shape[d])
            if a is None:
                lines += [f"    if {size} != 1:", bail]
            elif a in ext:
                lines += [f"    if {size} != {ext[a]}:", bail]
            else:
                ext[a] = f"e{a}"
                lines.append(f"    e{a} = {size}")
    ext.update((a, "1") for a in range(k.ndim) if a not in ext)  # axes no load follows
    if la.no_identity and k.reduce_axes:
        lines += [f"    if {' or '.join(f'{ext[a]} == 0' for a in k.reduce_axes)}:", bail]
    # the work as prepare() counts it (the largest input or output): what a runner
    # would split goes to slow
    loaded = {j: axes for j, axes in reversed(la.loads)}
    sizes = {" * ".join(ext[a] for a in loaded[j] if a is not None) or "1" if j in loaded else
             f"x{j}.size" for j in range(n_in)}
    sizes |= {" * ".join(ext[a] for a in axes if a is not None) or "1" for _, axes in la._out_specs}
    sizes.discard("1")
    end = ext[la.parallel[0]] if la.parallel else "1"
    if max_work is not None and sizes and end != "1":
        work = sizes.pop() if len(sizes) == 1 else f"max({', '.join(sorted(sizes))})"
        lines += [f"    work = {work}" + (f" * {la._passes}" if la._passes > 1 else ""),
                  f"    if {end} > 1 and {end} * max(work // {end}, 1) >= {max_work}:", bail]
    outs = []
    for n, (dtype, axes) in enumerate(la._out_specs):
        env[f"O{n}"] = dtype
        shape = "(" + "".join(f"{'1' if a is None else ext[a]}, " for a in axes) + ")"
        make = "empty" if allocs is None or allocs[n] is None else f"alloc{n}"
        env[make] = np.empty if make == "empty" else allocs[n]
        lines.append(f"    o{n} = x{over[n]}" if n in over else f"    o{n} = {make}({shape}, O{n})")
        outs.append(f"o{n}")
    # the packed buffer: [shape | data pointers | stride pointers | strides | header]
    lines += ["    try:", "        buf, head = pop()", "    except IndexError:", "        buf, head = new()"]
    lines += [f"    buf[{a}] = {ext[a]}" for a in range(k.ndim) if ext[a] != "1"]
    arrays = xs + [None] * len(la.constants) + outs
    at_param = at
    for j, name in enumerate(arrays):
        ndim = params[j].ndim
        if name is not None:
            lines.append(f"    buf[{n_shape + j}] = " + (f"p{j}" if j < n_in else ptr.format(name)))
            if ndim:
                item = np.dtype(params[j].dtype).itemsize
                lines.append(f"    st = {name}.strides")
                lines += [f"    buf[{at_param + d}] = st[{d}] // {item}" for d in range(ndim)]
        at_param += ndim
    head = la._buf_len
    if tramp is None:  # pragma: no cover
        lines.append(f"    call(head - {8 * head}, head - {8 * (head - n_shape)}, head - "
                     f"{8 * (head - n_shape - len(params))}, 0, {end})")
    else:
        if end != "1":
            lines.append(f"    buf[{head + 5}] = {end}")
        lines.append("    call(head)")
    lines += ["    push((buf, head))", f"    return [{', '.join(outs)}]"]

    def new():
        """A buffer with what never changes written: stride pointers, constants, header."""
        buf = (ctypes.c_int64 * (head + 6))()
        base = ctypes.addressof(buf)
        first = n_shape + len(params)
        buf[first:first + len(la._stride_ptr_offsets)] = [base + o for o in la._stride_ptr_offsets]
        buf[:k.ndim] = [1] * k.ndim
        for j, p in enumerate(la._const_ptrs):
            buf[n_shape + n_in + j] = p
        first = at + sum(p.ndim for p in params[:n_in])
        buf[first:first + len(la._const_strides)] = la._const_strides
        buf[head:head + 6] = [la.compiled.address, base, base + 8 * n_shape,
                              base + 8 * (n_shape + len(params)), 0, 1]
        return buf, base + 8 * head
    free = []
    env.update(new=new, free=free)
    source = "\n".join(lines)
    namespace = {}
    exec(compile(source, f"<launch {k.name}>", "exec"), env, namespace)
    run = namespace["run"]
    run.source, run.floats = source, floats
    return run


def _ref(v, arrays):
    if isinstance(v, tuple):
        return arrays[v[1]]
    return v


def _int(v, arrays):
    return None if v is None else int(_ref(v, arrays))


def apply_view(a, steps, arrays=(), what="the array"):
    """``a`` seen through the view ``steps`` (see :data:`~arignote.compiler.kernel.VIEW_STEPS`):
    NumPy views, a copy only where NumPy's reshape needs one. Refs read ``arrays``."""
    for step in steps:
        try:
            if step[0] == "index":
                index = []
                for e in step[1]:
                    if e[0] == "int":
                        index.append(_int(e[1], arrays))
                    elif e[0] == "slice":
                        index.append(slice(*(_int(v, arrays) for v in e[1:])))
                    else:
                        index.append(None)
                a = a[(*index, Ellipsis)]  # '...' keeps 0-d results arrays
            elif step[0] == "dimshuffle":
                order = step[2]
                drop = tuple(d for d in range(a.ndim) if d not in order)
                b = np.squeeze(a, axis=drop) if drop else a
                b = b.transpose([o - sum(d < o for d in drop) for o in order if o != "x"])
                new = tuple(i for i, o in enumerate(order) if o == "x")
                a = np.expand_dims(b, new) if new else b
            else:
                a = _reshape(a, step[1], step[2], arrays, what)
        except IndexError as err:
            raise ArignoteValueError(f"indexing {what} of shape {a.shape}: {err}") from None
        except ValueError as err:
            if isinstance(err, ArignoteValueError):
                raise
            raise ArignoteValueError(f"viewing {what} of shape {a.shape}: {err}") from None
    return a


def view_maker(steps, what="the array"):
    """``(a, arrays) -> apply_view(a, steps, arrays)``, with the NumPy index of static
    basic-indexing steps built once (a call then costs one ``a[index]`` per step)."""
    if any(step[0] != "index" or "('ref'," in repr(step) for step in steps):
        return lambda a, arrays: apply_view(a, steps, arrays, what)
    indexes = [tuple(e[1] if e[0] == "int" else slice(*e[1:]) if e[0] == "slice" else None
                     for e in step[1]) + (Ellipsis,) for step in steps]

    def make(a, arrays):
        try:
            for index in indexes:
                a = a[index]
        except IndexError as err:
            raise ArignoteValueError(f"indexing {what} of shape {a.shape}: {err}") from None
        return a
    return make


def _reshape(a, ndim, shape, arrays, what):
    """``a.reshape(shape)`` with the reference Reshape's checks."""
    shape = tuple(int(s) for s in (_ref(shape, arrays) if shape[:1] == ("ref",) else shape))
    known = [s for s in shape if s != -1]
    size = math.prod(known)
    if (len(shape) != ndim or any(s < -1 for s in shape) or len(shape) - len(known) > 1
            or (len(known) == len(shape) and size != a.size)
            or (len(known) < len(shape) and (size == 0 or a.size % size))):
        raise ShapeError(f"cannot reshape {what} of shape {a.shape} (size {a.size}) into shape {shape}")
    return a.reshape(shape)


def _pack(a, ptrs, strides):
    """Append ``a``'s data pointer to ``ptrs`` and its strides, in elements, to ``strides``."""
    ptrs.append(_data_pointer(a))
    if a.ndim:
        size = a.itemsize
        strides += [st // size for st in a.strides]


def _describe_array(o):
    if isinstance(o, np.ndarray):
        return f"a {o.dtype} array of shape {o.shape}"
    return type(o).__name__


def launch(kernel, inputs, outputs=None, **compile_options):
    """Compile (cached) and run ``kernel`` on ``inputs``: the list of outputs."""
    return Launcher(kernel, **compile_options)(*inputs, outputs=outputs)
