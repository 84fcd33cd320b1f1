"""Per-chunk partial reductions: one reduction kernel becomes two, so a reduction
with no parallel axis (or too few parallel points) runs on every thread.

:func:`split_reduction` is an IR-to-IR transform of a single-pass kernel
(``passes == 1``) whose outermost reduced axis ``r`` is cut into chunks:

* the *partial* kernel has a new outermost PARALLEL axis ``c`` (axis 0, the
  chunk; every other axis moves up by one) and ``r`` spans one chunk. A load
  whose dimension ``d`` follows ``r`` reads a new param with one more
  dimension, ``(chunk, within chunk)`` in place of ``d`` (the launcher passes a
  strided view of the input: :mod:`arignote.compiler.split_launch`); loads that
  do not follow ``r`` read the same param, broadcast along ``c``. Each Reduce
  starts from its combiner's identity, and instead of the epilogue its
  accumulator is stored into a new 'out' param of partials, axes ``(c, kept
  axes...)``;
* the *combine* kernel has the original index space, where ``r`` now counts
  chunks (the other reduced axes have extent 1: no load follows them). It loads
  the partials and reduces them with the same combiner from the original
  ``init`` (an ``initial`` value counts once), in chunk order, then runs the
  original epilogue (level-0 values re-emitted, level-2 ones remapped) and the
  original output stores.

Both kernels take every input of the original as a plain 'in' param (views
and constants included, made by the launcher), so their param order is the
original inputs, then the chunked views (partial) or the partials (combine),
then the outputs. Combining is exact for max/min/all/any and for integer sums
and products (wrapping arithmetic is associative); float sums and products
round per chunk, like the vectorized accumulators of the plain kernel do.
"""
import dataclasses

from arignote.compiler import kernel as K
from arignote.compiler.lower import reduce_init
from arignote.compiler.zero_signs import mark_sign_blind


class NotSplittable(ValueError):
    """A kernel :func:`split_reduction` does not handle (the plain kernel runs)."""


def chunk_axis(kernel):
    """The axis cut into chunks: the outermost reduced one."""
    return min(kernel.reduce_axes)


def check_splittable(kernel):
    """Raise :class:`NotSplittable` unless ``kernel`` is a single-pass reduction whose
    stores are all kept-space and whose loads follow the chunk axis at most once."""
    if not kernel.reduce_axes or kernel.passes != 1:
        raise NotSplittable(f"{kernel.name}: not a single-pass reduction")
    if kernel.inplace:
        raise NotSplittable(f"{kernel.name}: writes in place")
    if any(isinstance(ins, K.Index) for ins in kernel.body):  # (a chunk would count from 0)
        raise NotSplittable(f"{kernel.name}: reads element indices")
    roles = [p.role for p in kernel.params]
    if roles != sorted(roles):  # 'in' < 'out': inputs first
        raise NotSplittable(f"{kernel.name}: outputs before inputs")
    r = chunk_axis(kernel)
    follows = False
    for ins in kernel.body:
        if ins.level not in (0, 1, 2):
            raise NotSplittable(f"{kernel.name}: level {ins.level}")
        if isinstance(ins, K.Store) and ins.level == 1:
            raise NotSplittable(f"{kernel.name}: a full-space output")
        if isinstance(ins, K.Load):
            if kernel.params[ins.param].role == "out":
                raise NotSplittable(f"{kernel.name}: reads an output back")
            if ins.axes.count(r) > 1:
                raise NotSplittable(f"{kernel.name}: a load follows axis {r} twice")
            follows = follows or r in ins.axes
        if isinstance(ins, K.Reduce) and ins.dtype == "float16":
            # (partials would round to half per chunk; the plain kernel accumulates in float)
            raise NotSplittable(f"{kernel.name}: a float16 reduction")
    if not follows:
        raise NotSplittable(f"{kernel.name}: no load follows axis {r}")


def chunked_loads(kernel):
    """``[(param, axes, d)]``: each distinct load following the chunk axis (at dimension
    ``d``), in the order of the partial kernel's chunked params."""
    r = chunk_axis(kernel)
    loads = {(ins.param, ins.axes) for ins in kernel.body if isinstance(ins, K.Load) and r in ins.axes}
    return [(j, axes, axes.index(r))
            for j, axes in sorted(loads, key=lambda ld: (ld[0], tuple(-1 if a is None else a
                                                                      for a in ld[1])))]


def split_reduction(kernel):
    """``(partial_kernel, combine_kernel)`` computing ``kernel``'s outputs by chunks (see
    the module docstring). Raises :class:`NotSplittable` for other kernels."""
    check_splittable(kernel)
    return _partial(kernel), _combine(kernel)


def _parts(kernel):
    """The Reduce instructions' ids and the partials' params (role ``role``)."""
    reduces = [k for k, ins in enumerate(kernel.body) if isinstance(ins, K.Reduce)]
    n_kept = kernel.ndim - len(kernel.reduce_axes)
    return reduces, [K.Param(f"part{i}", kernel.body[k].dtype, 1 + n_kept, "in")
                     for i, k in enumerate(reduces)]


def _plain_inputs(kernel):
    return [dataclasses.replace(p, view=None) for p in kernel.inputs]


def _partial(kernel):
    r = chunk_axis(kernel)
    n_in = len(kernel.inputs)
    parallel = [a for a in range(kernel.ndim) if a not in kernel.reduce_axes]
    chunked = chunked_loads(kernel)
    chunk_param = {(j, axes): n_in + i for i, (j, axes, _) in enumerate(chunked)}
    extra = [K.Param(f"{kernel.params[j].name}_chunks{i}", kernel.params[j].dtype,
                     kernel.params[j].ndim + 1, "in") for i, (j, _, _) in enumerate(chunked)]
    reduces, parts = _parts(kernel)
    first_part = n_in + len(extra)
    parts = [dataclasses.replace(p, role="out") for p in parts]

    def shift(axes):
        return tuple(None if a is None else a + 1 for a in axes)

    body, ids = [], {}
    for k, ins in enumerate(kernel.body):
        if ins.level == 2 or isinstance(ins, K.Store):
            continue  # the epilogue and the outputs are the combine kernel's
        if isinstance(ins, K.Load):
            if r in ins.axes:
                d = ins.axes.index(r)
                new = dataclasses.replace(ins, param=chunk_param[(ins.param, ins.axes)],
                                          axes=shift(ins.axes[:d]) + (0, r + 1) + shift(ins.axes[d + 1:]))
            else:
                new = dataclasses.replace(ins, axes=shift(ins.axes))
        elif isinstance(ins, K.Reduce):
            new = dataclasses.replace(ins, arg=ids[ins.arg], init=reduce_init(ins.combiner, ins.dtype),
                                      needs_elements=False)
        else:
            new = K.with_args(ins, [ids[a] for a in K.args_of(ins)])
        ids[k] = len(body)
        body.append(new)
    store_axes = (0,) + tuple(a + 1 for a in parallel)
    body += [K.Store(kernel.body[k].dtype, first_part + i, store_axes, ids[k], 2)
             for i, k in enumerate(reduces)]
    return K.Kernel(f"{kernel.name}_part", tuple(_plain_inputs(kernel) + extra + parts), kernel.ndim + 1,
                    tuple(a + 1 for a in kernel.reduce_axes), mark_sign_blind(K.live_body(body)))


def _combine(kernel):
    r = chunk_axis(kernel)
    n_in = len(kernel.inputs)
    parallel = [a for a in range(kernel.ndim) if a not in kernel.reduce_axes]
    reduces, parts = _parts(kernel)
    which = {k: i for i, k in enumerate(reduces)}
    part_axes = (r,) + tuple(parallel)
    body, ids = [], {}
    for k, ins in enumerate(kernel.body):
        if ins.level == 1:
            if not isinstance(ins, K.Reduce):
                continue  # the prologue is the partial kernel's
            body.append(K.Load(ins.dtype, n_in + which[k], part_axes, 1))
            new = K.Reduce(ins.dtype, ins.combiner, len(body) - 1, ins.init, 1, False)
        elif isinstance(ins, K.Store):
            new = dataclasses.replace(ins, param=ins.param + len(parts), arg=ids[ins.arg])
        else:
            new = K.with_args(ins, [ids[a] for a in K.args_of(ins)])
        ids[k] = len(body)
        body.append(new)
    return K.Kernel(f"{kernel.name}_combine", tuple(_plain_inputs(kernel) + parts + kernel.outputs),
                    kernel.ndim, kernel.reduce_axes, mark_sign_blind(K.live_body(body)))


