"""The kernel IR: backend-neutral, what every renderer (LLVM, CUDA) consumes.

A :class:`Kernel` iterates over an *index space* of ``ndim`` axes whose
extents come at run time. Some axes are *reduced* (``reduce_axes``); the
others are parallel. Buffer parameters (:class:`Param`) are plain strided
arrays: each :class:`Load` and :class:`Store` says which index-space axis
each of the buffer's dimensions follows (``axes``; None for a size-1 dimension),
so broadcasting and dimshuffles are index arithmetic and never copies.

The body is SSA: instruction ``k`` defines value ``k``. Each instruction has
a *level*, which is where a renderer places it:

* level 0: once per point of the parallel axes, before any reduction
  (loads that do not move along reduced axes, and what depends only on them);
* level 1: inside the loop over the reduced axes (the prologue of a
  reduction, its accumulation, and stores of full-space outputs);
* level 2: after that loop (the epilogue: what uses a reduction's result).

A kernel without reduced axes uses level 0 only.
"""
from dataclasses import dataclass, field

LEVELS = (0, 1, 2)


@dataclass(frozen=True)
class Param:
    """A buffer argument: ``role`` is 'in' or 'out'."""
    name: str
    dtype: str
    ndim: int
    role: str


@dataclass(frozen=True)
class Const:
    dtype: str
    value: object
    level: int = 0


@dataclass(frozen=True)
class Load:
    """The element of buffer ``param`` at the current index."""
    dtype: str
    param: int
    axes: tuple
    level: int = 0


@dataclass(frozen=True)
class ScalarOp:
    """An elementwise scalar op by name (the names of arignote.ops.elemwise)."""
    dtype: str
    op: str
    args: tuple
    level: int = 0


@dataclass(frozen=True)
class Cast:
    dtype: str
    arg: int
    level: int = 0


@dataclass(frozen=True)
class Reduce:
    """Accumulate ``arg`` with ``combiner`` over the reduced axes, starting at
    ``init``; the value is the result, usable at level 2. ``needs_elements``:
    reducing an empty axis is an error (max and min without an initial value,
    as in NumPy)."""
    dtype: str
    combiner: str
    arg: int
    init: object
    level: int = 1
    needs_elements: bool = False


@dataclass(frozen=True)
class Store:
    """Write value ``arg`` into buffer ``param`` at the current index."""
    dtype: str
    param: int
    axes: tuple
    arg: int
    level: int = 0


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

    @property
    def inputs(self):
        return [p for p in self.params if p.role == "in"]

    @property
    def outputs(self):
        return [p for p in self.params if p.role == "out"]

    def pretty(self):
        """The kernel for humans."""
        space = ", ".join(f"{'reduce' if a in self.reduce_axes else 'parallel'} i{a}"
                          for a in range(self.ndim))
        lines = [f"kernel {self.name}({', '.join(_param(p) for p in self.params)})",
                 f"  index space: [{space}]"]
        lines += [f"  in place: {self.params[o].name} over {self.params[i].name}" for o, i in self.inplace]
        for k, ins in enumerate(self.body):
            lines.append(f"  L{ins.level} %{k}: {ins.dtype} = {_instr(ins)}")
        return "\n".join(lines)

    def key(self):
        """A stable text identity (for caches): everything but the name."""
        return repr((self.params, self.ndim, self.reduce_axes, self.body, self.inplace))

    def check_inplace(self):
        """Raise unless every in-place pair reads and writes each element at one index."""
        for o, i in self.inplace:
            if self.params[o].role != "out" or self.params[i].role != "in" or \
                    self.params[o].dtype != self.params[i].dtype:
                raise ValueError(f"{self.name}: cannot write {self.params[o].name} over {self.params[i].name}")
            maps = {ins.axes for ins in self.body if isinstance(ins, (Load, Store)) and ins.param in (o, i)}
            if len(maps) != 1:
                raise ValueError(f"{self.name}: {self.params[o].name} over {self.params[i].name} needs "
                                 f"one axis map for both, got {sorted(maps, key=repr)}")


def _param(p):
    return f"{p.role} {p.name}: {p.dtype}[{p.ndim}d]"


def _axes(axes):
    return "[" + ",".join("_" if a is None else f"i{a}" for a in axes) + "]"


def _instr(ins):
    if isinstance(ins, Const):
        return f"const {ins.value!r}"
    if isinstance(ins, Load):
        return f"load p{ins.param}{_axes(ins.axes)}"
    if isinstance(ins, ScalarOp):
        return f"{ins.op}({', '.join(f'%{a}' for a in ins.args)})"
    if isinstance(ins, Cast):
        return f"cast %{ins.arg}"
    if isinstance(ins, Reduce):
        return f"reduce {ins.combiner}(%{ins.arg}) init {ins.init!r}"
    if isinstance(ins, Store):
        return f"store p{ins.param}{_axes(ins.axes)} <- %{ins.arg}"
    raise TypeError(ins)
