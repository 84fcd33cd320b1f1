"""Scheduling: how a kernel's index space is walked, decided once, below the renderers.

A Kernel says *what* is computed; its :class:`~arignote.compiler.kernel.Schedule`
says in which order and in which pieces. The choice depends on the kernel and
on a few facts about the target (:class:`Target`), never on a renderer's
internals, so the LLVM renderer, the launcher that chunks calls for threads and
a future CUDA renderer read one decision instead of each making its own:

* loop order: the parallel axes in C order, the outermost one chunked for
  threads (the reduced axes always run in C order: the IR folds in that order);
* column tiles: a one-pass kernel whose last axis is parallel while a reduced
  axis precedes it (``sum(x, axis=0)``, bias gradients) would walk the strided
  reduced axis one scalar at a time. It is walked per tile of the last axis
  instead (the target's ``column_tile`` points): per tile, the reduced loops
  outside and a contiguous, vectorizable loop over the tile's points inside.
  When the tiled axis is the chunked one, chunks are whole tiles;
* row tiles: a row kernel over one parallel axis runs rows whose reduced extents are short
  (known per call) in tiles of rows, each pass's reduced loops outside and a loop over the
  tile's rows inside (it vectorizes across rows); the renderer keeps the plain nest for
  long rows and a chunk's last rows;
* per-chunk partials: a single-pass reduction may be split along its outermost
  reduced axis (:mod:`arignote.compiler.split`); the launcher decides per call,
  from the extents, whether it is worth it.

A schedule changes no value: only the order of float sums, which the IR leaves
open (docs/design.md, "Summation order").
"""
import dataclasses
from dataclasses import dataclass

from arignote.compiler import kernel as K
from arignote.compiler.split import NotSplittable, check_splittable, chunk_axis


@dataclass(frozen=True)
class Target:
    """What scheduling needs to know of a target. ``column_tile``: points per column tile
    (0: no tiles); ``chunks``: launches run ``[start, end)`` chunks of the outermost
    parallel loop on threads; ``splits``: large reductions may run as per-chunk partials;
    ``unroll``: its renderer walks a random draw's rows in aligned groups (``Schedule.unroll``);
    ``row_tile``, ``short_rows``: short rows run in tiles of rows (``Schedule.row_tile``; 0: never);
    ``short_stored_rows``: the bound instead for kernels whose passes store or read back whole
    rows (their tiles scatter and gather every element: worth it on shorter rows only)."""
    name: str
    column_tile: int = 0
    chunks: bool = True
    splits: bool = True
    unroll: bool = False
    row_tile: int = 0
    short_rows: int = 0
    short_stored_rows: int = 0


#: the cpu backend: wide tiles, so each row of a tile is a long run of pages the hardware
#: prefetcher streams (narrow tiles touch a new page per row: twice as slow on a (4096, 1024)
#: float32 column sum), while the accumulators stay in L1/L2
#: Short rows (a softmax over 10 classes) run 32 at a time: a row that short fills at most a
#: vector or two, and per row its reductions' horizontal steps, scalar remainders and scalar
#: per-row math (log, isfinite) cost several times its elements' work (measured on AVX-512:
#: a log-softmax of 256x10 runs 2.6x faster in tiles, of 256x64 1.5x slower; a softmax, which
#: stores whole rows, gains at 10 and loses at 16)
CPU = Target("cpu", column_tile=4096, unroll=True, row_tile=32, short_rows=32, short_stored_rows=12)


def tile_axis(kernel):
    """The axis a kernel can be column-tiled over, or None: one pass, the last axis
    parallel and after a reduced axis, level 2 using only the reductions of level 1,
    no output read back."""
    last = kernel.ndim - 1
    if not kernel.reduce_axes or kernel.passes != 1 or last in kernel.reduce_axes:
        return None
    body = kernel.body
    for ins in body:
        if isinstance(ins, K.Load) and kernel.params[ins.param].role == "out":
            return None
        if ins.level == 2 and any(body[a].level == 1 and not isinstance(body[a], (K.Reduce, K.Const))
                                  for a in K.args_of(ins)):
            return None
    return last


def schedule(kernel, target=CPU):
    """The :class:`~arignote.compiler.kernel.Schedule` of ``kernel`` on ``target``."""
    order = tuple(a for a in range(kernel.ndim) if a not in kernel.reduce_axes)
    chunk = order[0] if order and target.chunks else None
    tile = tile_axis(kernel) if target.column_tile else None
    split = None
    if target.splits:
        try:
            check_splittable(kernel)
            split = chunk_axis(kernel)
        except NotSplittable:
            pass
    unroll = unroll_groups(kernel, order) if target.unroll and tile is None else 1
    rows = target.row_tile if tile is None and unroll == 1 and kernel.reduce_axes and \
        order and order == (chunk,) else 0
    short = (target.short_stored_rows if _stores_rows(kernel) else target.short_rows) if rows else 0
    return K.Schedule(order, chunk, tile, target.column_tile if tile is not None else 0,
                      target.column_tile if tile is not None and tile == chunk else 1, split,
                      unroll, rows if short else 0, short)


def _stores_rows(kernel):
    """Does a pass of ``kernel`` store, or read back, an output along its reduced axes?"""
    return any(isinstance(ins, (K.Load, K.Store)) and ins.level % 2 and kernel.params[ins.param].role == "out"
               for ins in kernel.body)


#: points per group of a loop over a random draw's rows: the elements one Philox block serves
#: at most (:mod:`arignote.ops.random`)
DRAW_GROUP = 4


def unroll_groups(kernel, order):
    """The ``unroll`` of ``kernel``'s schedule: :data:`DRAW_GROUP` when the innermost
    parallel loop is a random draw's row (an element's Index of that axis: only draws
    read one), so each group computes each Philox block once; else 1."""
    if not order or kernel.reduce_axes:
        return 1
    inner = order[-1]
    return DRAW_GROUP if any(isinstance(ins, K.Index) and ins.axis == inner for ins in kernel.body) else 1


def scheduled(kernel, target=CPU):
    """``kernel`` with its schedule: the one it has, else the one :func:`schedule` chooses."""
    if kernel.schedule is not None:
        return kernel
    return dataclasses.replace(kernel, schedule=schedule(kernel, target))
