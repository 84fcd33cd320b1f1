"""The kernel IR: backend-neutral, what every renderer (LLVM, CUDA) consumes.

A :class:`Kernel` iterates over an *index space* of ``ndim`` axes whose
extents come at run time. Some axes are *reduced* (``reduce_axes``); the
others are parallel. Buffer parameters (:class:`Param`) are plain strided
arrays: each :class:`Load` and :class:`Store` says which index-space axis
each of the buffer's dimensions follows (``axes``; None for a size-1 dimension),
so broadcasting and dimshuffles are index arithmetic and never copies.

Other views (slices, integer indices, reshapes) are *view params*: an 'in'
:class:`Param` whose ``view`` is ``(source, steps)`` is the buffer of param
``source`` seen through NumPy basic-indexing, dimshuffle and reshape steps
(:data:`VIEW_STEPS`), applied by the launcher at call time. A view is a new
pointer and new strides into the same memory -- index arithmetic, never a
copy (a reshape NumPy cannot view copies, as NumPy's own reshape does) -- and
NumPy's clipping of slice bounds holds exactly. Loads of a view param carry
an axis map like any other; the extents of the index space come from the
views' shapes (the sliced lengths). Params are ordered: the group's inputs,
constants, view params, outputs.

For each point of the parallel axes, a kernel with reduced axes runs
``passes`` loops over them, one after the other (a *row kernel*: softmax is
max, then exp and sum, then the division). The body is SSA: instruction ``k``
defines value ``k``. Each instruction has a *level*, which is where a
renderer places it:

* level ``2p`` (p = 0..passes): once per parallel point, after pass ``p - 1``
  and before pass ``p`` (level 0: before any pass);
* level ``2p + 1``: inside pass ``p``'s loop over the reduced axes.

A :class:`Reduce` at level ``2p + 1`` accumulates over pass ``p``; its value is
usable from level ``2p + 2`` on. A value inside a pass uses per-point values
of earlier levels and values of the same pass (full-space values needed again
in a later pass are recomputed there). A Load whose param is an output
*reads back* what an earlier pass stored there (softmax stores ``exp(x - max)``
into its output in pass 1 and rescales it in place in pass 2: one exp per
element). A kernel without reduced axes uses level 0 only.
"""
import dataclasses
from dataclasses import dataclass, field

import numpy as np


#: the steps of a view param, applied in order (a value is None, an int, or ``("ref", k)``:
#: the run-time value of 'in' param ``k``, an int scalar or for a reshape an int vector):
#: ``("index", entries)`` basic indexing, entries ``("int", v)``, ``("slice", start, stop,
#: step)``, ``("newaxis",)``; ``("dimshuffle", input_ndim, new_order)``;
#: ``("reshape", ndim, shape)``, shape a tuple of ints or a ref.
VIEW_STEPS = ("index", "dimshuffle", "reshape")


@dataclass(frozen=True)
class Param:
    """A buffer argument: ``role`` is 'in' or 'out'; ``view``: ``(source param, steps)``
    for a view param (see the module docstring), else None."""
    name: str
    dtype: str
    ndim: int
    role: str
    view: tuple = None


class _SignedZeros:
    """Equality that tells 0.0 from -0.0 in float fields: equal numbers, different constants
    (``x + 0.0`` and ``x + -0.0`` differ at ``x = -0.0``), so kernels that differ only there
    must not share a rendering or a cache entry."""

    def _key(self):
        return tuple((v, bool(np.signbit(v))) if isinstance(v, (float, np.floating)) else v
                     for v in (getattr(self, f.name) for f in dataclasses.fields(self)))

    def __eq__(self, other):
        return type(self) is type(other) and self._key() == other._key()

    def __hash__(self):
        return hash((type(self), self._key()))


@dataclass(frozen=True, eq=False)
class Const(_SignedZeros):
    dtype: str
    value: object
    level: int = 0


@dataclass(frozen=True)
class Load:
    """The element of buffer ``param`` at the current index (an output param: the value an
    earlier pass stored there)."""
    dtype: str
    param: int
    axes: tuple
    level: int = 0


@dataclass(frozen=True)
class Index:
    """The current index along index-space axis ``axis`` (an int64 range variable): what
    a value computed from its element's position reads (random draws, see
    :mod:`arignote.ops.random`). Inside a pass when ``axis`` is reduced."""
    dtype: str
    axis: int
    level: int = 0


@dataclass(frozen=True)
class Extent:
    """The extent of index-space axis ``axis`` (int64): what a value that knows its own
    shape (a random draw's sizes) checks against the space it is computed over."""
    dtype: str
    axis: int
    level: int = 0


@dataclass(frozen=True)
class ScalarOp:
    """An elementwise scalar op by name: the names of arignote.ops.elemwise, or a
    primitive of :data:`PRIMITIVE_OPS` (decomposition's vocabulary); its arguments are
    converted to its :func:`loop_dtype` first."""
    dtype: str
    op: str
    args: tuple
    level: int = 0


#: scalar ops that compare or classify: they compute in their arguments' promoted dtype
#: (NumPy 2: int64 against uint64 exactly), not their output's (bool)
PREDICATES = frozenset({"eq", "neq", "lt", "le", "gt", "ge", "isnan", "isinf", "isfinite",
                        "logical_not"})
#: the ops :mod:`arignote.compiler.decompose` adds to the elementwise table's, with their
#: meaning in :mod:`arignote.compiler.interp`: C's truncating integer ``/`` and ``%``, C's
#: ``fmod`` and ``copysign``, and ``ftoi`` (a float in range truncated to a signed integer)
PRIMITIVE_OPS = frozenset({"div_trunc", "rem_trunc", "fmod", "copysign", "ftoi"})


def loop_dtype(op, dtype, arg_dtypes):
    """The dtype scalar op ``op`` (output ``dtype``) computes in: its output's, but for the
    predicates (the arguments' promoted dtype) and ``ftoi`` (its argument's)."""
    if op in PREDICATES or op == "ftoi":
        return np.result_type(*arg_dtypes).name
    return dtype


@dataclass(frozen=True)
class Cast:
    dtype: str
    arg: int
    level: int = 0


@dataclass(frozen=True, eq=False)
class Reduce(_SignedZeros):
    """Accumulate ``arg`` with ``combiner`` over the reduced axes in the pass of its
    level ``2p + 1``, starting at ``init``; the value is the result, usable from level
    ``2p + 2`` on. ``needs_elements``:
    reducing an empty axis is an error (max and min without an initial value,
    as in NumPy). ``sign_blind`` (a float max/min): no use tells the sign of a zero
    result (:mod:`arignote.compiler.zero_signs`), so a renderer may return either zero."""
    dtype: str
    combiner: str
    arg: int
    init: object
    level: int = 1
    needs_elements: bool = False
    sign_blind: bool = False


@dataclass(frozen=True)
class Store:
    """Write value ``arg`` into buffer ``param`` at the current index."""
    dtype: str
    param: int
    axes: tuple
    arg: int
    level: int = 0


@dataclass(frozen=True)
class Check:
    """Raise ``error`` (a message) if value ``arg`` (a bool) is true at any point of its
    level. The kernel may run to its end first: it must not write over its inputs."""
    dtype: str
    arg: int
    error: str
    level: int = 0


NEGATIVE_POWER = "integers to negative integer powers are not allowed"


def _negative_power(body, ins):
    """Whether ``ins``, a signed integer power, may raise: unless its exponent is a
    constant that is not negative."""
    e = const_int(body, ins.args[1], ins.dtype)
    return e is None or e < 0


#: what a kernel can raise besides its Checks: (op, dtype kind) -> (message, may it raise?)
RAISING_OPS = {("pow", "i"): (NEGATIVE_POWER, _negative_power)}


def const_int(body, k, dtype):
    """The value of ``%k`` as the integer dtype ``dtype`` (wrapped), if it is an integer or
    bool constant; else None."""
    ins = body[k]
    if not isinstance(ins, Const) or np.dtype(ins.dtype).kind not in "iub":
        return None
    return int(np.asarray(ins.value).astype(ins.dtype).astype(dtype))


@dataclass(frozen=True)
class Schedule:
    """How renderers and launchers walk a kernel's index space (chosen by
    :func:`arignote.compiler.schedule.schedule`). Annotations only: a schedule changes the
    order of float sums, which the IR leaves open, and no other value.

    ``loop_order``: the parallel axes, outermost loop first (the reduced axes always run
    in C order, the order the IR folds in). ``chunk_axis``: the parallel axis a launch
    cuts into ``[start, end)`` chunks (the outermost loop), or None. ``tile_axis``: the
    parallel axis cut into column tiles of ``tile`` points (the innermost loop), or None.
    ``min_chunk``: chunks hold a multiple of this many points (whole tiles).
    ``split_axis``: the reduced axis a launcher may cut into per-chunk partials when the
    extents make it worth it (:mod:`arignote.compiler.split`), or None. ``unroll``: the
    innermost parallel loop runs in groups of this many points starting at multiples of
    it (a plain loop before and after), so a value that depends on the point only
    through ``index div unroll`` is computed once per group (a random draw's block).
    ``row_tile``: a row kernel over one parallel axis (the chunked one) whose reduced
    extents hold at most ``short_rows`` points in all (known at run time) walks its rows
    in tiles of ``row_tile`` (the rest of a chunk one by one): per tile, each pass's
    reduced loops outside and a loop over the tile's rows inside, so the per-row work
    runs across rows, in vector lanes, instead of once per row on short vectors."""
    loop_order: tuple
    chunk_axis: int = None
    tile_axis: int = None
    tile: int = 0
    min_chunk: int = 1
    split_axis: int = None
    unroll: int = 1
    row_tile: int = 0
    short_rows: int = 0

    def pretty(self):
        parts = ["loops " + (", ".join(f"i{a}" for a in self.loop_order) or "none")]
        if self.chunk_axis is not None:
            parts.append(f"chunks of i{self.chunk_axis}"
                         + (f" by {self.min_chunk}" if self.min_chunk > 1 else ""))
        if self.tile_axis is not None:
            parts.append(f"column tiles of {self.tile} over i{self.tile_axis}")
        if self.split_axis is not None:
            parts.append(f"may split i{self.split_axis}")
        if self.unroll > 1:
            parts.append(f"i{self.loop_order[-1]} in aligned groups of {self.unroll}")
        if self.row_tile:
            parts.append(f"rows of up to {self.short_rows} points in tiles of {self.row_tile}")
        return "; ".join(parts)


@dataclass(frozen=True)
class Kernel:
    name: str
    params: tuple
    ndim: int
    reduce_axes: tuple
    body: tuple
    #: arrays for the trailing 'in' params that hold non-scalar constants
    constants: tuple = field(default=(), compare=False, hash=False)
    #: (out param, in param) pairs: the output is written over the input's buffer.
    #: Every load of the input and every store of the output use the same axis map,
    #: so each element is read before it is overwritten, whatever the chunking.
    inplace: tuple = ()
    #: how the index space is walked (None: not scheduled yet)
    schedule: Schedule = None
    #: (axis, extent) pairs for axes no load follows (a random draw's, alone): the extent is
    #: an int or ``("ref", k)``, the value of the int scalar 'in' param ``k`` (its size)
    extents: tuple = ()

    @property
    def inputs(self):
        return [p for p in self.params if p.role == "in"]

    @property
    def outputs(self):
        return [p for p in self.params if p.role == "out"]

    @property
    def passes(self):
        """How many loops over the reduced axes run per parallel point (0 without reduced axes)."""
        if not self.reduce_axes:
            return 0
        return max(1, (max((ins.level for ins in self.body), default=0) + 1) // 2)

    @property
    def errors(self):
        """The messages this kernel may raise, each once, in body order: its Checks', and
        those of ops that raise before they are decomposed (:data:`RAISING_OPS`)."""
        found = []
        for ins in self.body:
            if isinstance(ins, Check):
                found.append(ins.error)
            elif isinstance(ins, ScalarOp) and (ins.op, np.dtype(ins.dtype).kind) in RAISING_OPS:
                error, may_raise = RAISING_OPS[ins.op, np.dtype(ins.dtype).kind]
                if may_raise(self.body, ins):
                    found.append(error)
        return tuple(dict.fromkeys(found))

    @property
    def can_raise(self):
        """Whether a run may raise after it ran (so it must not write over its inputs)."""
        return bool(self.errors)

    def pretty(self):
        """The kernel for humans."""
        space = ", ".join(f"{'reduce' if a in self.reduce_axes else 'parallel'} i{a}"
                          for a in range(self.ndim))
        lines = [f"kernel {self.name}({', '.join(_param(p, self.params) for p in self.params)})",
                 f"  index space: [{space}]"]
        if self.passes > 1:
            lines.append(f"  passes: {self.passes}")
        if self.schedule is not None:
            lines.append(f"  schedule: {self.schedule.pretty()}")
        if self.extents:
            lines.append("  extents: " + ", ".join(
                f"i{a} = {self.params[e[1]].name if isinstance(e, tuple) else e}" for a, e in self.extents))
        lines += [f"  in place: {self.params[o].name} over {self.params[i].name}" for o, i in self.inplace]
        for k, ins in enumerate(self.body):
            text = _instr(ins, self.params)
            if isinstance(ins, Load) and self.params[ins.param].role == "out":
                text += f"  ; reads back {self.params[ins.param].name}"
            lines.append(f"  L{ins.level} %{k}: {ins.dtype} = {text}")
        return "\n".join(lines)

    def key(self):
        """A stable text identity (for caches): everything but the name."""
        return repr((self.params, self.ndim, self.reduce_axes, self.body, self.inplace, self.schedule,
                     self.extents))

    def check_inplace(self):
        """Raise unless every in-place pair reads and writes each element at one index, and
        every read of the input comes no later than the first write of the output (levels
        run in order: in a multi-pass kernel an input read again after a pass stored the
        output would see the output's value)."""
        for o, i in self.inplace:
            if self.params[o].role != "out" or self.params[i].role != "in" or \
                    self.params[o].dtype != self.params[i].dtype:
                raise ValueError(f"{self.name}: cannot write {self.params[o].name} over "
                                 f"{self.params[i].name}")
            if any(p.view is not None and p.view[0] == i for p in self.params):
                raise ValueError(f"{self.name}: cannot write {self.params[o].name} over "
                                 f"{self.params[i].name}, which is also read through a view")
            maps = {ins.axes for ins in self.body if isinstance(ins, (Load, Store)) and ins.param in (o, i)}
            if len(maps) != 1:
                raise ValueError(f"{self.name}: {self.params[o].name} over {self.params[i].name} needs "
                                 f"one axis map for both, got {sorted(maps, key=repr)}")
            read = max((ins.level for ins in self.body if isinstance(ins, Load) and ins.param == i),
                       default=-1)
            written = min((ins.level for ins in self.body if isinstance(ins, Store) and ins.param == o),
                          default=read)
            if read > written:
                raise ValueError(f"{self.name}: {self.params[o].name} over {self.params[i].name}: the "
                                 f"input is read at level {read}, after the output is written at "
                                 f"level {written}")


def args_of(ins):
    """The value ids an instruction reads."""
    if isinstance(ins, ScalarOp):
        return list(ins.args)
    if isinstance(ins, (Cast, Reduce, Store, Check)):
        return [ins.arg]
    return []


def with_args(ins, args, level=None):
    """``ins`` reading the values ``args`` instead (at ``level``, if given)."""
    changes = {} if level is None else {"level": level}
    if isinstance(ins, ScalarOp):
        changes["args"] = tuple(args)
    elif isinstance(ins, (Cast, Reduce, Store, Check)):
        changes["arg"] = args[0]
    return dataclasses.replace(ins, **changes) if changes else ins


def live_body(body, keep=(Store, Check)):
    """``body`` without the values no instruction of a ``keep`` class needs, renumbered."""
    live = set()
    for k in range(len(body) - 1, -1, -1):
        if isinstance(body[k], keep) or k in live:
            live.add(k)
            live.update(args_of(body[k]))
    new_id = {k: n for n, k in enumerate(sorted(live))}
    return tuple(with_args(body[k], [new_id[a] for a in args_of(body[k])]) for k in sorted(live))


def _name(k, params):
    """Param ``k`` as the signature names it (``p{k}`` without the params at hand)."""
    return params[k].name if params and 0 <= k < len(params) else f"p{k}"


def _param(p, params=None):
    text = f"{p.role} {p.name}: {p.dtype}[{p.ndim}d]"
    if p.view is None:
        return text
    return f"{text} = {_name(p.view[0], params)}{''.join(_step(s, params) for s in p.view[1])}"


def _step(step, params=None):
    def val(v):
        return "" if v is None else _name(v[1], params) if isinstance(v, tuple) else str(v)
    if step[0] == "index":
        items = [val(e[1]) if e[0] == "int" else "newaxis" if e[0] == "newaxis" else
                 ":".join(map(val, e[1:3])) + (f":{val(e[3])}" if e[3] is not None else "")
                 for e in step[1]]
        return f"[{', '.join(items)}]"
    if step[0] == "dimshuffle":
        return f".dimshuffle{step[2]}"
    return f".reshape({val(step[2]) if step[2][:1] == ('ref',) else step[2]})"


def _axes(axes):
    return "[" + ",".join("_" if a is None else f"i{a}" for a in axes) + "]"


def _instr(ins, params=None):
    """One instruction as text; params are named as in the kernel's signature."""
    if isinstance(ins, Const):
        return f"const {ins.value!r}"
    if isinstance(ins, Load):
        return f"load {_name(ins.param, params)}{_axes(ins.axes)}"
    if isinstance(ins, Index):
        return f"index i{ins.axis}"
    if isinstance(ins, Extent):
        return f"extent i{ins.axis}"
    if isinstance(ins, ScalarOp):
        return f"{ins.op}({', '.join(f'%{a}' for a in ins.args)})"
    if isinstance(ins, Cast):
        return f"cast %{ins.arg}"
    if isinstance(ins, Reduce):
        blind = " sign-blind" if ins.sign_blind else ""
        return f"reduce {ins.combiner}(%{ins.arg}) init {ins.init!r}{blind}"
    if isinstance(ins, Store):
        return f"store {_name(ins.param, params)}{_axes(ins.axes)} <- %{ins.arg}"
    if isinstance(ins, Check):
        return f"check %{ins.arg}: {ins.error}"
    raise TypeError(ins)
