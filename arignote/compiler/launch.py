"""Calling a compiled kernel on NumPy arrays: the cpu half of a launch.

A :class:`Launcher` binds a Kernel to its compiled code. The neutral half of
each call -- extents, checks, view params, outputs -- is its
:class:`~arignote.compiler.bind.Binder` base's (shared with every other way of
running a kernel); this module packs what it bound for the native calling
convention of :mod:`arignote.compiler.llvm`: data pointers and strides in
*elements* (negative and zero strides included, so views such as ``x[::-1]``
and ``x.T`` are never copied) in one int64 buffer, the kernel called as
``fn(shape*, data**, strides**, start, end)``, and the error flag read after
the run.

``prepare`` does everything but the call and returns a :class:`Call`, whose
``run(start, end)`` executes a chunk of the outermost parallel axis; a thread
pool can split ``[0, call.end)`` among threads.

Per-call cost matters for small arrays, so the packed argument buffers are
kept in a per-launcher free list (their stride pointers written once) and
data pointers are read straight from the array object when that layout
checks out at import (``ndarray.ctypes`` costs microseconds; the layout
readers live in :mod:`arignote.compiler.unsafe`, which
``ARIGNOTE_SAFE_CALLS=1`` turns off). For the common
call, :meth:`Launcher.fast_runner` generates straight-line Python specialized
to the kernel (its checks, extents, pointer and stride writes spelled out)
that calls the kernel through a one-argument trampoline (ctypes converts one
argument instead of five); anything unusual goes to the general path above.
"""
import ctypes

import numpy as np

from arignote.compiler.bind import Binder, static_view
from arignote.compiler.schedule import scheduled
from arignote.compiler.unsafe import FLOAT_VALUE, MEMORY, POINTER_EXPR, data_pointer
from arignote.errors import ArignoteValueError


class Call:
    """A prepared launch: arguments kept alive while chunks run."""

    __slots__ = ("fn", "args", "outputs", "end", "work", "address", "_keep")

    def __init__(self, fn, args, outputs, end, keep, work=0, address=None):
        self.fn, self.args, self.outputs, self.end, self._keep = fn, args, outputs, end, keep
        #: the most elements in any input or output, times the kernel's passes (how a
        #: runner sizes its chunks)
        self.work = work
        #: the kernel's native address (a native thread pool calls it), None if unknown
        self.address = address

    def run(self, start=0, end=None):
        """Execute ``[start, end)`` of the outermost parallel axis (all of it by default)."""
        self.fn(*self.args, start, self.end if end is None else end)


class Launcher(Binder):
    """``kernel`` with its compiled code: ``launcher(*inputs, outputs=None)`` -> outputs.

    ``outputs`` may give arrays to write into (None entries are allocated); an
    output the kernel writes in place (``Kernel.inplace``) is its input's array.

    ``labels`` name the inputs in error messages (the user's variables)."""

    def __init__(self, kernel, compiled=None, labels=None, **compile_options):
        kernel = scheduled(kernel)
        if compiled is None:
            from arignote.compiler.jit import compile_kernel
            compiled = compile_kernel(kernel, **compile_options)
        super().__init__(kernel, labels)
        self.compiled = compiled
        params = kernel.params
        #: the axis ``[start, end)`` bounds, as the schedule says (empty: none, end is 1)
        self.parallel = [kernel.schedule.chunk_axis] if kernel.schedule.chunk_axis is not None else []
        # one int64 buffer per call: [shape | data pointers | stride pointers | strides]
        self._n_shape, n = max(kernel.ndim, 1), len(params)
        self._strides_at = self._n_shape + 2 * n
        offsets = np.cumsum([0] + [p.ndim for p in params])[:-1]
        self._stride_ptr_offsets = [8 * (self._strides_at + int(o)) for o in offsets]
        self._buf_len = self._strides_at + max(sum(p.ndim for p in params), 1)
        self._const_ptrs = [data_pointer(c) for c in self.constants]
        self._const_strides = [st // c.itemsize for c in self.constants for st in c.strides]
        self._buffers = []  # free list of (ctypes buffer, its address)

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

    def prepare(self, inputs, outputs=None, allocs=None):
        """Check, allocate (:meth:`~arignote.compiler.bind.Binder.bind`) and pack the
        arguments: a :class:`Call` (not yet run)."""
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
        return Call(self.compiled.fn, args, outs, end, (arrays, buf, base), work * self._passes,
                    getattr(self.compiled, "address", None))

    def fast_runner(self, slow, allocs=None, max_work=None, split=None):
        """``run(inputs) -> outputs``: the whole launch specialized to this kernel, for
        the calls that need no checking beyond what it inlines. It runs single-threaded
        what takes one chunk (work below ``max_work``, as a runner would decide), calls
        with more work through ``split(fn, shape, data, strides, end, work)`` where given
        (a runner's native split: the kernel's address and packed arguments), and
        hands every other call to ``slow(inputs)`` (the general path, which raises the
        proper errors): inputs that are not exact aligned ndarrays of the kernel's
        dtypes and ranks, shapes that disagree, max/min over an empty axis, large work
        without ``split``.
        ``allocs[n]`` makes output ``n`` (None: ``np.empty``); an in-place output is its
        input's array. None for the kernels it does not cover (views, an error flag).

        Its ``floats`` attribute says whether it also takes Python floats for 0-d
        float64 inputs (read in place; ``slow`` may get them too)."""
        return _fast_runner(self, slow, allocs, max_work, split)

    def release(self, call):
        """Give ``call``'s argument buffer back to the free list (the call is over)."""
        _, buf, base = call._keep
        call._keep = None
        self._buffers.append((buf, base))

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
            raise ArignoteValueError(f"{self.kernel.name}: {self.kernel.errors[flag.value - 1]}")
        return call.outputs


def _trampoline():
    """ctypes' handle on :func:`~arignote.compiler.helper_ir.trampoline` (compiled once per
    process), or None if it cannot be had (kernels are then called directly)."""
    from arignote.compiler.jit import helper_function
    from arignote.compiler.helper_ir import TRAMPOLINE, trampoline
    return helper_function(trampoline, TRAMPOLINE, None, ctypes.c_void_p)


def _fast_runner(la, slow, allocs, max_work, split):
    """Generate :meth:`Launcher.fast_runner`'s function: straight-line Python with
    each check, shape, pointer and stride write of this kernel spelled out, and
    the kernel called through the trampoline (one ctypes argument: the call's
    header at the end of the packed buffer, written once per buffer but ``end``)."""
    k = la.kernel
    # views of the inputs by static basic indexing are made here, as the binder makes
    # them (its own view makers); others (refs, reshapes, views of views) go slow
    views = {j: (source, make) for (j, (source, steps)), (_, make) in zip(la.views, la._view_makers)
             if source < la.n_user and static_view(steps)}
    if len(views) != len(la.views) or la.compiled.error_flag is not None or k.extents:
        return None  # (extents from a draw's size: the binder's)
    over = dict(la._over)  # an in-place output is its input's array (which must be writeable)
    written = set(over.values())
    params, n_in, n_shape, at = k.params, la.n_user, la._n_shape, la._strides_at
    tramp = _trampoline()
    env = {"slow": slow, "ndarray": np.ndarray, "empty": np.empty, "mem": MEMORY,
           "call": tramp or la.compiled.fn, "split": split,
           "FN": split and la.compiled.address}
    xs = [f"x{j}" for j in range(n_in)]
    bail = "        return slow(inputs)"
    lines = ["def run(inputs, pop=free.pop, push=free.append):", f"    if len(inputs) != {n_in}:", bail]
    if n_in:
        lines.append(f"    {', '.join(xs)}{',' * (n_in == 1)} = inputs")
    ptr = POINTER_EXPR
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
        if not ndim and dtype == np.float64 and FLOAT_VALUE is not None and j not in written:
            # (or a Python float)
            floats = True
            block = [f"if x{j}.__class__ is float:", f"    p{j} = id(x{j}) + {FLOAT_VALUE}",
                     "else:", *["    " + line for line in block]]
        if ndim:
            block.append(f"s{j} = x{j}.shape")
        lines += ["    " + line for line in block]
    for j, (source, make) in views.items():
        env[f"view{j}"] = make
        lines += ["    try:", f"        v{j} = view{j}(x{source}, None)", "    except Exception:",
                  "    " + bail, f"    s{j} = v{j}.shape"]
    # the extents, checked as extents() does (a mismatch goes to slow, which names it)
    ext = {}
    for j, axes in la.loads:
        for d, a in enumerate(axes):
            size = f"s{j}[{d}]" if j < n_in or j in views else \
                str(la.constants[j - n_in].shape[d])
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
    splits = max_work is not None and bool(sizes) and end != "1"
    if splits:
        work = sizes.pop() if len(sizes) == 1 else f"max({', '.join(sorted(sizes))})"
        lines += [f"    work = {work}" + (f" * {la._passes}" if la._passes > 1 else ""),
                  f"    big = {end} > 1 and {end} * max(work // {end}, 1) >= {max_work}"]
        if split is None:
            lines += ["    if big:", bail]
        splits = split is not None
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
    arrays = xs + [None] * len(la.constants) + [f"v{j}" for j in sorted(views)] + outs
    assert len(arrays) == len(params) and all(n_in + len(la.constants) + k == j
                                              for k, j in enumerate(sorted(views)))
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
    if splits:  # (from the header's addresses: shape, data, strides)
        lines += ["    if big:", f"        split(FN, head - {8 * head}, head - {8 * (head - n_shape)}, "
                  f"head - {8 * (head - n_shape - len(params))}, {end}, work)", "    else:"]
    if tramp is None:  # pragma: no cover
        whole = [f"    call(head - {8 * head}, head - {8 * (head - n_shape)}, head - "
                 f"{8 * (head - n_shape - len(params))}, 0, {end})"]
    else:
        whole = [f"    buf[{head + 5}] = {end}"] * (end != "1") + ["    call(head)"]
    lines += ["    " * splits + line for line in whole]
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


def _pack(a, ptrs, strides):
    """Append ``a``'s data pointer to ``ptrs`` and its strides, in elements, to ``strides``."""
    ptrs.append(data_pointer(a))
    if a.ndim:
        size = a.itemsize
        strides += [st // size for st in a.strides]


def launch(kernel, inputs, outputs=None, **compile_options):
    """Compile (cached) and run ``kernel`` on ``inputs``: the list of outputs."""
    return Launcher(kernel, **compile_options)(*inputs, outputs=outputs)
