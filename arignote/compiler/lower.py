"""Lowering: a :class:`~arignote.ops.fused.Fused` group becomes one Kernel.

Every value of the group is emitted for an *axis map*: which index-space
axis each of its dimensions follows. Elementwise ops pass their map to their
inputs (a broadcast dimension follows no axis), a DimShuffle permutes it, a
reduction's input spans the whole index space. Loads carry the map, so views
cost nothing; a value needed under two maps (``x + x.T``) is recomputed for
each, as fusion wants for cheap elementwise values.
"""
import dataclasses

import numpy as np

from arignote.compiler import kernel as K
from arignote.errors import ArignoteError
from arignote.graph.basic import Constant
from arignote.ops.elemwise import Cast as CastScalar
from arignote.ops.elemwise import Elemwise
from arignote.ops.reduce import Reduce
from arignote.ops.shape import DimShuffle


class LoweringError(ArignoteError, NotImplementedError):
    """A group the kernel IR cannot express (the fusion pass should not form it)."""


def reduce_init(combiner, dtype, initial=None):
    """The value a reduction starts from."""
    if initial is not None:
        return np.asarray(initial).astype(dtype).item()
    dt = np.dtype(dtype)
    if combiner in ("max", "min"):
        if dt.kind == "f":
            return -np.inf if combiner == "max" else np.inf
        if dt.kind == "b":
            return combiner == "min"
        info = np.iinfo(dt)
        return int(info.min if combiner == "max" else info.max)
    return {"sum": 0, "prod": 1, "all": True, "any": False}[combiner]


class _Builder:
    def __init__(self, fused):
        self.fused = fused
        self.inputs = {v: k for k, v in enumerate(fused.inputs)}
        self.params = [K.Param(f"in{k}", v.dtype, v.ndim, "in") for k, v in enumerate(fused.inputs)]
        self.constants = []
        self.body, self.levels, self.memo = [], [], {}
        reduces = [n for n in fused.nodes if isinstance(n.op, Reduce)]
        if reduces:
            first = reduces[0]
            for r in reduces:
                if r.inputs[0].ndim != first.inputs[0].ndim or r.op.axis != first.op.axis:
                    raise LoweringError(f"{fused}: reductions over different index spaces")
                if r.op.combiner.startswith("arg"):
                    raise LoweringError(f"{fused}: {r.op.combiner} is not lowered")
            self.ndim, self.reduce_axes = first.inputs[0].ndim, first.op.axis
        else:
            self.ndim, self.reduce_axes = max(o.ndim for o in fused.outputs), ()

    def add(self, ins, value_level):
        self.body.append(ins)
        self.levels.append(value_level)
        return len(self.body) - 1

    def arg_level(self, args):
        levels = {self.levels[a] for a in args}
        if {1, 2} <= levels:
            raise LoweringError(f"{self.fused}: an epilogue value depends on the full index space")
        return max(levels, default=0)

    def load(self, param, dtype, axes):
        level = 1 if any(a in self.reduce_axes for a in axes if a is not None) else 0
        return self.add(K.Load(dtype, param, axes, level), level)

    def emit(self, var, axes):
        """The value id of ``var`` under the axis map ``axes`` (iterative: groups can be deep)."""
        stack = [(var, axes, False)]
        while stack:
            v, ax, ready = stack.pop()
            if (v, ax) in self.memo:
                continue
            children = self._children(v, ax)
            if not ready and any(c not in self.memo for c in children):
                stack.append((v, ax, True))
                stack.extend((c, cax, False) for c, cax in reversed(children))
                continue
            self.memo[(v, ax)] = self._emit(v, ax, [self.memo[c] for c in children])
        return self.memo[(var, axes)]

    def _children(self, var, axes):
        """The (variable, axis map) pairs ``var`` is computed from."""
        for d, a in enumerate(axes):
            if a is None and var.type.shape[d] != 1:
                raise LoweringError(f"{self.fused}: {var} would be broadcast along dimension {d}, "
                                    f"which is not of size 1")
        node = var.owner
        if var in self.inputs or isinstance(var, Constant):
            return []
        if isinstance(node.op, Elemwise):
            return [(i, tuple(None if i.type.shape[d] == 1 and var.type.shape[d] != 1 else a
                              for d, a in enumerate(axes))) for i in node.inputs]
        if isinstance(node.op, DimShuffle):
            op = node.op
            return [(node.inputs[0], tuple(None if i in op.drop else axes[op.new_order.index(i)]
                                           for i in range(op.input_ndim)))]
        if isinstance(node.op, Reduce):
            if axes != self.natural_axes(var):
                raise LoweringError(f"{self.fused}: a reduction's result is used under another axis map")
            return [(node.inputs[0], tuple(range(self.ndim)))]
        raise LoweringError(f"{self.fused}: {node.op} cannot be lowered into a kernel")

    def _emit(self, var, axes, args):
        """Emit ``var``'s instruction, its children's values being ``args``."""
        if var in self.inputs:
            return self.load(self.inputs[var], var.dtype, axes)
        if isinstance(var, Constant):
            if var.data.size == 1:
                return self.add(K.Const(var.dtype, var.data.reshape(()).item()), 0)
            self.constants.append(var.data)
            self.params.append(K.Param(f"const{len(self.constants) - 1}", var.dtype, var.ndim, "in"))
            return self.load(len(self.params) - 1, var.dtype, axes)
        op = var.owner.op
        if isinstance(op, Elemwise):
            level = self.arg_level(args)
            if isinstance(op.scalar_op, CastScalar):
                return self.add(K.Cast(var.dtype, args[0], level), level)
            return self.add(K.ScalarOp(var.dtype, op.scalar_op.name, tuple(args), level), level)
        if isinstance(op, DimShuffle):
            return args[0]
        (arg,) = args  # a reduction
        if self.levels[arg] == 2:
            raise LoweringError(f"{self.fused}: a reduction of a reduction")
        x = var.owner.inputs[0]
        if x.dtype != var.dtype:
            arg = self.add(K.Cast(var.dtype, arg, self.levels[arg]), self.levels[arg])
        init = reduce_init(op.combiner, var.dtype, op.initial)
        strict = op.combiner in ("max", "min") and op.initial is None
        return self.add(K.Reduce(var.dtype, op.combiner, arg, init, needs_elements=strict), 2)

    def natural_axes(self, var):
        """The axis map of a group output: the whole index space, or its kept part
        when the output is (computed elementwise from) a reduction's result."""
        stack, seen = [var], set()
        while stack:
            v = stack.pop()
            node = v.owner
            if node is None or v in self.inputs or v in seen:
                continue
            seen.add(v)
            if isinstance(node.op, Reduce):
                kept = tuple(a for a in range(self.ndim) if a not in node.op.axis)
                if node.op.keepdims:
                    kept = tuple(None if a in node.op.axis else a for a in range(self.ndim))
                if len(kept) != var.ndim:
                    raise LoweringError(f"{self.fused}: output {var} reshapes a reduction's result")
                return kept
            if isinstance(node.op, Elemwise):
                stack.extend(node.inputs)
        if var.ndim != self.ndim:
            raise LoweringError(f"{self.fused}: output {var} does not span the index space")
        return tuple(range(self.ndim))


def lower(fused, name="kernel"):
    """The Kernel computing ``fused``'s outputs from its inputs.

    The result is kept on the Fused op: the fusion pass lowers each group to
    check it, and the backend then reuses that work (only the name differs).
    A group that cannot be lowered raises each time."""
    done = fused.__dict__.get("_lowered")
    if done is None:
        done = fused.__dict__["_lowered"] = _lower(fused)
    return done if done.name == name else dataclasses.replace(done, name=name)


def _lower(fused, name="kernel"):
    b = _Builder(fused)
    stores = []
    for k, out in enumerate(fused.outputs):
        axes = b.natural_axes(out)
        value = b.emit(out, axes)
        stores.append((k, out, axes, value))
    out_params = [K.Param(f"out{k}", out.dtype, out.ndim, "out") for k, out, _, _ in stores]
    # constant params were appended after the inputs; outputs come last
    params = b.params + out_params
    for k, out, axes, value in stores:
        level = b.levels[value]
        b.add(K.Store(out.dtype, len(b.params) + k, axes, value, level), level)
    return K.Kernel(name, tuple(params), b.ndim, tuple(b.reduce_axes), tuple(b.body),
                    tuple(b.constants))
