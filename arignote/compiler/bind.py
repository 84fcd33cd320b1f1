"""Binding a kernel's arguments: the backend-neutral half of a launch.

Whatever runs a Kernel (native code through ctypes, a GPU, the NumPy
interpreter of the IR) must first do the same things, and raise the same
errors for the same mistakes, so they are done once, here, by a
:class:`Binder`: find the index-space extents from the input arrays through
the loads' axis maps (every axis must get the same size from every load that
follows it), check what NumPy would refuse (a max/min over an empty axis),
make the view params (``Param.view``: slices, integer indices, reshapes of a
group input) with NumPy's own basic indexing and reshape (:func:`apply_view`),
so their bounds clip exactly as in NumPy, and allocate the outputs unless
given. A bad index (out of range, a zero step, an impossible reshape) raises an
Arignote error, like the reference would.

What comes after is the backend's: the cpu launcher
(:class:`~arignote.compiler.launch.Launcher`) packs pointers and strides for
native code; the interpreter (:class:`~arignote.compiler.interp.Interpreter`)
runs the IR on the bound arrays. Every launcher has one interface:
``prepare(inputs, outputs=None, allocs=None)`` (every check, nothing written),
``finish(call, runner=None)`` (the run: the outputs), ``release(call)`` (give
up a prepared call), ``fast_runner(...)`` (None: no specialized path) and
``launcher(*inputs, outputs=None)``.
"""
import math

import numpy as np

from arignote.compiler import kernel as K
from arignote.errors import ArignoteTypeError, ArignoteValueError, ShapeError

_NO_IDENTITY = {"max": "maximum", "min": "minimum"}


class Bound:
    """A prepared call of a :class:`Binder`: the array of each param in order (the
    outputs last), the extents, and the outputs."""

    __slots__ = ("arrays", "ext", "outputs")

    def __init__(self, arrays, ext, n_out):
        self.arrays, self.ext = arrays, ext
        self.outputs = arrays[len(arrays) - n_out:]


class Binder:
    """``kernel``'s argument binding; a subclass runs the bound call (:meth:`finish`).

    ``labels`` name the inputs in error messages (the user's variables)."""

    def __init__(self, kernel, labels=None):
        self.kernel = kernel
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
        self.no_identity = sorted({_NO_IDENTITY[ins.combiner] for ins in kernel.body
                                   if isinstance(ins, K.Reduce) and ins.needs_elements})
        self._in_specs = [(p.dtype, p.ndim) for p in params[:self.n_user]]
        self._out_specs = [(np.dtype(params[j].dtype), self.stores[j]) for j in self.out_params]
        # output n -> the input whose buffer it is written over
        self._over = {self.out_params.index(o): i for o, i in kernel.inplace}
        # a 0-d index space whose loads are all 0-d: nothing to find or check
        self._no_extents = kernel.ndim == 0 and all(not axes for _, axes in self.loads)
        self._view_makers = [(source, view_maker(steps, self._what(source)))
                             for _, (source, steps) in self.views]

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
        for a, extent in k.extents:  # an axis a draw's size gives (no load follows it)
            size = int(arrays[extent[1]]) if isinstance(extent, tuple) else extent
            if size < 0 or ext[a] not in (None, size):
                what = self._what(extent[1]) if isinstance(extent, tuple) else "a constant"
                raise ShapeError(f"{k.name}: axis {a} has {size} points from {what}, "
                                 + ("which is negative" if size < 0 else f"but the outputs have {ext[a]}"))
            ext[a] = size
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
            return f"{self._what(p.view[0])} viewed as {K._param(p, self.kernel.params).split(' = ')[1]}"
        if p.role == "out":
            return f"output {j - self.out_params[0]}"
        if j >= self.n_user:
            return f"constant {p.name}"
        return self.labels[j] if self.labels else f"input {j}"

    def bind(self, inputs, outputs=None, allocs=None):
        """Check the inputs (and given outputs), make the view params and the outputs.
        Returns ``(arrays, ext, work)``: the array of each param in order, the
        index-space extents, the most elements in any input or output.

        ``allocs``: one ``(shape, dtype) -> array`` per output, for the outputs not
        given (default: fresh arrays)."""
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

    def prepare(self, inputs, outputs=None, allocs=None):
        """Check and bind the arguments: a :class:`Bound` call for :meth:`finish` (nothing
        runs yet)."""
        arrays, ext, _ = self.bind(inputs, outputs, allocs)
        return Bound(arrays, ext, len(self.out_params))

    def finish(self, call, runner=None):
        """Run a prepared call: its outputs."""
        raise NotImplementedError(f"{type(self).__name__} runs no kernel")

    def release(self, call):
        """Give up a prepared call without running it."""
        call.arrays = None

    def fast_runner(self, slow, allocs=None, max_work=None):
        """A launch specialized to this kernel, or None: every call takes :meth:`prepare`
        and :meth:`finish` (see the cpu :class:`~arignote.compiler.launch.Launcher`)."""
        return None

    def __call__(self, *inputs, outputs=None, runner=None, allocs=None):
        """Run on ``inputs``; ``runner(call)`` may split the call into chunks (threads)."""
        return self.finish(self.prepare(inputs, outputs, allocs), runner)


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


def static_view(steps):
    """Whether ``steps`` are basic indexing with constant entries only (no refs)."""
    return not any(step[0] != "index" or "('ref'," in repr(step) for step in steps)


def view_maker(steps, what="the array"):
    """``(a, arrays) -> apply_view(a, steps, arrays)``, with the NumPy index of static
    basic-indexing steps built once (a call then costs one ``a[index]`` per step)."""
    if not static_view(steps):
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


def _describe_array(o):
    if isinstance(o, np.ndarray):
        return f"a {o.dtype} array of shape {o.shape}"
    return type(o).__name__
