"""A launcher that runs a large reduction as per-chunk partials on every thread.

:class:`SplitLauncher` has the interface of :class:`~arignote.compiler.launch.Launcher`
(``prepare`` / ``finish`` / ``release`` / ``__call__``, ``fast_runner``,
``kernel``, ``compiled.error_flag``, ``labels``, ``allocs`` for the real
outputs). From the problem size ONLY (never the thread count) each call
decides whether to split (:func:`plan`): when the outermost parallel axis is
short (fewer than :data:`SPLIT_BELOW` points, so the thread pool would get few
chunks) and an array read along the chunk axis holds at least
:data:`SPLIT_MIN_WORK` elements (fewer when the prologue computes a
transcendental). The chunk length ``C`` depends on the extents only, so the
same inputs give bitwise the same results for any number of threads. Calls
that do not split, given outputs and inputs the plain launcher would refuse
are the plain launcher's, so every check and error is the plain kernel's; a
split has every reduced axis non-empty (max/min of nothing cannot arise).

A split call runs the partial kernel of :func:`~arignote.compiler.split.split_reduction`
on ``n = R // C`` full chunks, whose inputs are strided views ``(chunk, within
chunk)`` of the leading ``n * C`` elements (a reshape: never a copy), split
by the thread pool along the chunk axis; the remaining ``R - n * C`` elements,
if any, are one more call on one chunk of that length, into the last row of
the partials; then the combine kernel reduces the ``n`` (+1) partials in chunk
order and runs the epilogue into the real outputs. The partial and combine
kernels are compiled on the first call that splits.
"""
import math
import threading

import numpy as np

from arignote.compiler import kernel as K
from arignote.compiler.bind import view_maker
from arignote.compiler.launch import Launcher
from arignote.compiler.schedule import scheduled
from arignote.compiler.split import NotSplittable, check_splittable, chunk_axis, chunked_loads, \
    split_reduction
from arignote.passes.fusible import EXPENSIVE

#: an array read along the chunk axis must hold this many elements for a split (divided
#: by :data:`EXPENSIVE_WEIGHT` when the prologue computes a transcendental): below, the
#: cost of three launches instead of one (some 20-40 us) outweighs what threads gain
SPLIT_MIN_WORK = 1 << 21
EXPENSIVE_WEIGHT = 4
#: split only when the outermost parallel axis has fewer points than this
SPLIT_BELOW = 32
#: about this many index-space points per chunk: each chunk is one item of the thread
#: pool's work, whose Python-level cost (about 1 us a part) stays small beside it
CHUNK_WORK = 1 << 18
#: at least this many elements of the chunk axis per chunk (the partials stay small)
MIN_CHUNK = 8
#: at most this many chunks (beyond, chunks grow)
MAX_SPLIT_CHUNKS = 4096


def plan(ext, r, parallel):
    """``(n, C)``: ``n`` full chunks of ``C`` along axis ``r`` for extents ``ext``, or None
    for no split. Depends on the extents only (the caller checks the work)."""
    if parallel and ext[parallel[0]] >= SPLIT_BELOW:
        return None
    R = ext[r]
    rest = math.prod(e for a, e in enumerate(ext) if a != r)
    if R == 0 or rest == 0:
        return None
    C = max(-(-CHUNK_WORK // rest), MIN_CHUNK, -(-R // MAX_SPLIT_CHUNKS))
    n = R // C
    return (n, C) if n >= 2 else None


def launcher_for(kernel, compiled=None, labels=None, **compile_options):
    """A :class:`SplitLauncher` for the kernels whose schedule allows a split, else a plain
    Launcher."""
    kernel = scheduled(kernel)
    if kernel.schedule.split_axis is None:
        return Launcher(kernel, compiled, labels, **compile_options)
    return SplitLauncher(kernel, compiled, labels, **compile_options)


class SplitCall:
    """A prepared split launch: the partial call(s) and the combine call."""

    __slots__ = ("main", "tail", "combine", "outputs", "partials", "_keep")

    def __init__(self, main, tail, combine, partials, keep):
        self.main, self.tail, self.combine, self.partials = main, tail, combine, partials
        self.outputs = combine.outputs
        self._keep = keep


class SplitLauncher:
    """``kernel`` (a single-pass reduction) with its compiled code, split into per-chunk
    partials when the problem is large (see the module docstring)."""

    def __init__(self, kernel, compiled=None, labels=None, **compile_options):
        kernel = scheduled(kernel)
        check_splittable(kernel)
        if kernel.schedule.split_axis != chunk_axis(kernel):
            raise NotSplittable(f"{kernel.name}: split along axis {kernel.schedule.split_axis}")
        self.plain = Launcher(kernel, compiled, labels, **compile_options)
        self.kernel, self.compiled, self.labels = kernel, self.plain.compiled, self.plain.labels
        self._options = compile_options
        self._lock = threading.Lock()
        self._split = None  # (partial Launcher, combine Launcher), made on the first split
        self.r = chunk_axis(kernel)
        self.split_parallel = [a for a in range(kernel.ndim) if a not in kernel.reduce_axes]
        self.chunked = chunked_loads(kernel)
        self.n_in = len(kernel.inputs)
        self.n_parts = sum(isinstance(ins, K.Reduce) for ins in kernel.body)
        self.n_user = self.plain.n_user
        # the params read along the chunk axis (whose sizes gate a split), and the views
        self._sources = sorted({j for j, _, _ in self.chunked})
        expensive = any(isinstance(ins, K.ScalarOp) and ins.op in EXPENSIVE and ins.level == 1
                        for ins in kernel.body)
        #: a split needs an array read along the chunk axis of at least this many elements
        self.min_work = max(1, SPLIT_MIN_WORK // (EXPENSIVE_WEIGHT if expensive else 1))
        self._in_specs = [(np.dtype(p.dtype), p.ndim) for p in kernel.params[:self.n_user]]
        stores = {ins.param: ins.axes for ins in kernel.body if isinstance(ins, K.Store)}
        self._out_specs = [(np.dtype(p.dtype), stores[j]) for j, p in enumerate(kernel.params)
                           if p.role == "out"]
        self._views = [(j, p.view[0], view_maker(p.view[1], self.plain._what(j)))
                       for j, p in enumerate(kernel.params) if p.view is not None]

    def __getattr__(self, name):  # anything else a runner reads is the plain launcher's
        if name == "plain":
            raise AttributeError(name)
        return getattr(self.plain, name)

    def _launchers(self):
        with self._lock:
            if self._split is None:
                partial, combine = split_reduction(self.kernel)
                self._split = (Launcher(partial, **self._options), Launcher(combine, **self._options))
            return self._split

    def _arrays(self, inputs):
        """The arrays of every 'in' param (inputs, constants, views), as the plain launcher
        makes them; None where it would refuse the inputs (it then names the fault)."""
        if len(inputs) != len(self._in_specs):
            return None
        arrays = []
        for x, (dtype, ndim) in zip(inputs, self._in_specs):
            if type(x) is not np.ndarray:
                x = np.asarray(x)
            if x.dtype != dtype or x.ndim != ndim:
                return None
            arrays.append(x if x.flags.aligned else x.copy())
        arrays += self.plain.constants
        for _, source, make in self._views:
            arrays.append(make(arrays[source], arrays))
        return arrays

    def prepare(self, inputs, outputs=None, allocs=None):
        """Check (as the plain launcher does), allocate and pack: a call to :meth:`finish`.
        Anything unusual (given outputs, inputs the plain launcher refuses) and every call
        that does not split is the plain launcher's."""
        how = None
        if outputs is None:
            try:
                arrays = self._arrays(inputs)
                if arrays is not None and max(arrays[j].size for j in self._sources) >= self.min_work:
                    ext = self.plain.extents(arrays)
                    how = plan(ext, self.r, self.split_parallel)
            except Exception:  # (the plain launcher raises it again, in its own words)
                how = None
        if how is None:
            return self.plain.prepare(inputs, outputs, allocs)
        # (a split has every reduced axis non-empty: nothing else to check)
        outs = []
        for n, (dtype, axes) in enumerate(self._out_specs):
            shape = tuple(1 if a is None else ext[a] for a in axes)
            outs.append(np.empty(shape, dtype) if allocs is None or allocs[n] is None
                        else allocs[n](shape, dtype))
        return self._prepare_split(arrays, ext, how, outs)

    def _prepare_split(self, arrays, ext, how, outs):
        part, comb = self._launchers()
        n, C = how
        rest = ext[self.r] - n * C
        kept = tuple(ext[a] for a in self.split_parallel)
        partials = [np.empty((n + (rest > 0),) + kept, p.dtype)
                    for p in comb.kernel.params[self.n_in:self.n_in + self.n_parts]]
        todo = [(part, arrays + [_chunks(arrays[j], d, 0, n, C) for j, _, d in self.chunked],
                 [p[:n] for p in partials])]
        if rest:
            todo.append((part, arrays + [_chunks(arrays[j], d, n * C, 1, rest) for j, _, d in self.chunked],
                         [p[n:] for p in partials]))
        todo.append((comb, arrays + partials, outs))
        calls = []
        try:
            for la, ins, o in todo:
                calls.append((la, la.prepare(ins, o)))
        except BaseException:
            for la, c in calls:
                la.release(c)
            raise
        return SplitCall(calls[0][1], calls[1][1] if rest else None, calls[-1][1], partials, arrays)

    def finish(self, call, runner=None):
        """Run a prepared call: its outputs."""
        if not isinstance(call, SplitCall):
            return self.plain.finish(call, runner)
        part, comb = self._split
        pending = [(part, call.main), (part, call.tail), (comb, call.combine)]
        try:
            while pending:
                la, c = pending.pop(0)
                if c is not None:
                    la.finish(c, runner)
        finally:
            for la, c in pending:
                if c is not None:
                    la.release(c)
            call._keep = None
        return call.outputs

    def release(self, call):
        """Give up a prepared call without running it."""
        if not isinstance(call, SplitCall):
            return self.plain.release(call)
        part, comb = self._split
        for la, c in ((part, call.main), (part, call.tail), (comb, call.combine)):
            if c is not None:
                la.release(c)
        call._keep = None

    def __call__(self, *inputs, outputs=None, runner=None, allocs=None):
        """Run on ``inputs``; ``runner(call)`` may split the chunks among threads."""
        return self.finish(self.prepare(inputs, outputs, allocs), runner)

    def fast_runner(self, slow, allocs=None, max_work=None, split=None):
        """The plain launcher's fast runner, for the calls that cannot split (every array
        read along the chunk axis below ``min_work`` elements); the others go
        to ``slow``. None where the plain launcher has none."""
        fast = self.plain.fast_runner(slow, allocs, max_work, split)
        if fast is None:
            return None
        n_user, min_work = self.plain.n_user, self.min_work
        # (a view is read along the chunk axis where its input is: its size bounds the view's)
        viewed = {j: source for j, (source, _) in self.plain.views}
        user = sorted({viewed.get(j, j) for j in self._sources if viewed.get(j, j) < n_user})
        if any(self.plain.constants[j - n_user].size >= min_work
               for j in self._sources if j >= n_user and j not in viewed):
            return None  # a large constant: every call may split

        def run(inputs):
            try:
                for j in user:
                    if inputs[j].size >= min_work:
                        return slow(inputs)
            except (AttributeError, IndexError, TypeError):
                return slow(inputs)
            return fast(inputs)
        run.__dict__.update(fast.__dict__)  # (what the plain runner tells its callers)
        return run


def _chunks(a, d, start, n, C):
    """``a``'s elements ``[start, start + n * C)`` along dimension ``d`` seen as ``n``
    chunks of ``C``: dimension ``d`` becomes ``(n, C)``. Splitting one axis in two is
    always a view in NumPy (strides ``(st * C, st)``), never a copy."""
    part = a[(slice(None),) * d + (slice(start, start + n * C),)]
    return part.reshape(a.shape[:d] + (n, C) + a.shape[d + 1:])
