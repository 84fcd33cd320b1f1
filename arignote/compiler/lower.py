"""Lowering: a :class:`~arignote.ops.fused.Fused` group becomes one Kernel.

Every value of the group is emitted for an *axis map*: which index-space
axis each of its dimensions follows. Elementwise ops pass their map to their
inputs (a broadcast dimension follows no axis), a DimShuffle permutes it, a
reduction's input spans the whole index space. Loads carry the map, so views
cost nothing; a value needed under two maps (``x + x.T``) is recomputed for
each, as fusion wants for cheap elementwise values.

Other views (basic indexing: slices, integer indices, new axes; reshapes) are
pushed down to the group's inputs as a *view chain*: a value is emitted as
``chain(var)`` under an axis map of the chain's result. A view prepends its
step to the chain (a DimShuffle too, once the chain is not empty);
elementwise ops pass the chain to their inputs, where a broadcast dimension
(read at index 0) keeps size 1 -- a slice there becomes ``:``, an integer 0
-- so ``(x + row)[1:]`` reads ``x[1:]`` and ``row``. A chain reaching an
input (or a constant) becomes a *view param* (``Param.view``, one per
distinct input and chain), which the launcher makes with NumPy at call time:
exact NumPy bounds and clipping, symbolic bounds read from the group's
inputs (an index computed inside the group is not lowered), extents from
the views' shapes. Not lowered: a chain reaching a reduction's result, and
a reshape of a value some elementwise op broadcasts (fusion does not form
these groups). ``follows`` records what each axis follows outside chains,
for the fusion pass's consistency check (:func:`kernel_axes`).

Row kernels (several passes over the reduced axes, see
:mod:`arignote.compiler.kernel`): each value is first emitted at the earliest
level its arguments allow (a Reduce's value is usable after its pass). A
full-space value needed by a later pass is re-emitted there (a clone of its
instructions at that pass's level, memoized per value and pass), except the
expensive case: a full-space output whose last-pass value needs an expensive
value (a transcendental, :data:`EXPENSIVE`) of an earlier pass stores that
value into the output buffer in the earlier pass and reads it back in the
last one, so softmax computes each ``exp`` once. Unused instructions are
dropped at the end.
"""
import dataclasses

import numpy as np

from arignote.compiler import kernel as K
from arignote.compiler.bind import apply_view
from arignote.compiler.zero_signs import mark_sign_blind
from arignote.errors import ArignoteError
from arignote.graph.basic import Constant
from arignote.ops.elemwise import Cast as CastScalar
from arignote.ops.elemwise import Elemwise
from arignote.ops.indexing import SYM
from arignote.ops.reduce import Reduce
from arignote.ops.shape import DimShuffle, Reshape
from arignote.passes.fusible import EXPENSIVE, MAX_PASSES, is_view


class LoweringError(ArignoteError, NotImplementedError):
    """A group the kernel IR cannot express (the fusion pass should not form it)."""


#: provisional param indices of view params, until the constants are all known
_VIEW_BASE = 1 << 30


def _refs(step):
    """Does a view step read run-time values (refs to params)?"""
    return "('ref'," in repr(step)


def _broadcast_chain(chain, flags, fused):
    """``chain`` for an elementwise input broadcast along the dimensions ``flags`` (it is
    read at index 0 there): those keep size 1 (a slice becomes ``:``, an integer 0) and
    stay broadcast. Returns the chain and the broadcast flags of its result."""
    out = []
    for step in chain:
        if step[0] == "index":
            entries, new, d = [], [], 0
            for e in step[1]:
                if e[0] == "newaxis":
                    entries.append(e)
                    new.append(False)
                    continue
                f, d = flags[d], d + 1
                if e[0] == "int":
                    entries.append(("int", 0) if f else e)
                else:
                    entries.append(("slice", None, None, None) if f else e)
                    new.append(f)
            step, new = ("index", tuple(entries)), new + list(flags[d:])
        elif step[0] == "dimshuffle":
            new = [False if o == "x" else flags[o] for o in step[2]]
        else:
            if any(flags):
                raise LoweringError(f"{fused}: a reshape of a value broadcast by an elementwise op")
            new = [False] * step[1]
        out.append(step)
        flags = tuple(new)
    return tuple(out), flags


#: the error of a kernel computing a source op over a space its sizes do not match
SOURCE_SHAPE = "a random draw's size does not match the shape of the values it is combined with"


class _Emitter:
    """Kernel IR at the builder's levels, for a source op's ``source(em, ...)``: the
    emitter interface of :mod:`arignote.ops.random` (``const``, ``op``, ``cast``)."""

    def __init__(self, builder):
        self.b = builder

    def const(self, value, dtype):
        return self.b.add(K.Const(dtype, float(value) if np.dtype(dtype).kind == "f" else int(value)), 0)

    def op(self, name, dtype, *args):
        level = self.b.arg_level(args)
        args = tuple(self.b.at_level(a, level) for a in args)
        return self.b.add(K.ScalarOp(dtype, name, args, level), level)

    def cast(self, x, dtype):
        level = self.b.levels[x]
        return self.b.add(K.Cast(dtype, x, level), level)


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
        self.axes_of = {}   # value id -> the axis map it was first emitted under
        self.origin = {}    # id of a value re-emitted in a later pass -> the first one
        self.clones = {}    # (first id, level) -> its re-emission at that level
        self.follows = set()  # (variable, dimension, axis): what each axis follows (for checks)
        self.views, self.view_specs = {}, []  # (source, chain) -> provisional index; view params
        self.extents = {}  # axis -> its extent from a draw's size (see Kernel.extents)
        reduces = [n for n in fused.nodes if isinstance(n.op, Reduce)]
        if reduces:
            first = reduces[0]
            for r in reduces:
                if r.inputs[0].ndim != first.inputs[0].ndim or r.op.axis != first.op.axis:
                    raise LoweringError(f"{fused}: reductions over different index spaces")
                if r.op.combiner.startswith("arg"):
                    raise LoweringError(f"{fused}: {r.op.combiner} is not lowered")
            self.ndim, self.reduce_axes = first.inputs[0].ndim, first.op.axis
            self.space_shape = first.inputs[0].type.shape
        else:
            self.ndim, self.reduce_axes = max(o.ndim for o in fused.outputs), ()
            self.space_shape = (None,) * self.ndim

    def add(self, ins, value_level):
        self.body.append(ins)
        self.levels.append(value_level)
        return len(self.body) - 1

    def arg_level(self, args):
        """The level of a value computed from ``args``: the latest of theirs, inside the
        next pass when one of them is a full-space value (an odd level)."""
        levels = [self.levels[a] for a in args]
        level = max(levels, default=0)
        if level % 2 == 0 and any(lv % 2 for lv in levels):
            level += 1
        return level

    def at_level(self, value, level):
        """``value`` usable at ``level``: itself, or for a full-space value of an earlier pass
        its re-emission in ``level``'s pass (iterative: chains can be long)."""
        stack = [value]
        while stack:
            v = stack[-1]
            if self.levels[v] % 2 == 0 or self.levels[v] == level or (v, level) in self.clones:
                stack.pop()
                continue
            ins = self.body[v]
            args = K.args_of(ins)
            todo = [a for a in args if self.levels[a] % 2 and self.levels[a] != level
                    and (a, level) not in self.clones]
            if todo:
                stack.extend(todo)
                continue
            stack.pop()
            new = K.with_args(ins, [self.at_level(a, level) for a in args] if args else [], level)
            self.clones[(v, level)] = k = self.add(new, level)
            self.origin[k] = self.origin.get(v, v)
            self.axes_of[k] = self.axes_of.get(v)
        return value if self.levels[value] % 2 == 0 or self.levels[value] == level \
            else self.clones[(value, level)]

    def load(self, param, dtype, axes):
        level = 1 if any(a in self.reduce_axes for a in axes if a is not None) else 0
        return self.add(K.Load(dtype, param, axes, level), level)

    def emit(self, var, axes, chain=()):
        """The value id of ``chain(var)`` under the axis map ``axes`` (iterative: groups can
        be deep); ``chain``: view steps still to apply (see :func:`_view_step`)."""
        stack = [((var, axes, chain), False)]
        while stack:
            key, ready = stack.pop()
            if key in self.memo:
                continue
            children = self._children(*key)
            if not ready and any(c not in self.memo for c in children):
                stack.append((key, True))
                stack.extend((c, False) for c in reversed(children))
                continue
            first = len(self.body)
            value = self.memo[key] = self._emit(*key, [self.memo[c] for c in children])
            if value >= first:
                self.axes_of.setdefault(value, key[1])
        return self.memo[(var, axes, chain)]

    def _children(self, var, axes, chain=()):
        """The (variable, axis map, view chain) triples ``chain(var)`` is computed from."""
        if not chain:
            for d, a in enumerate(axes):
                if a is None and var.type.shape[d] != 1:
                    raise LoweringError(f"{self.fused}: {var} would be broadcast along dimension {d}, "
                                        f"which is not of size 1")
                self.follows.add((var, d, a))
        node = var.owner
        if var in self.inputs or isinstance(var, Constant):
            return []
        if isinstance(node.op, Elemwise):
            children = []
            for i in node.inputs:
                flags = tuple(i.type.shape[d] == 1 and var.type.shape[d] != 1 for d in range(var.ndim))
                ch, flags = _broadcast_chain(chain, flags, self.fused) if chain else ((), flags)
                children.append((i, tuple(None if f else a for f, a in zip(flags, axes)), ch))
            return children
        if isinstance(node.op, DimShuffle) and not chain:
            op = node.op
            return [(node.inputs[0], tuple(None if i in op.drop else axes[op.new_order.index(i)]
                                           for i in range(op.input_ndim)), ())]
        if is_view(node):
            return [(node.inputs[0], axes, (self._view_step(node),) + chain)]
        if chain:
            raise LoweringError(f"{self.fused}: a view of {node.op}'s result")
        if node.op.fusion_kind == "source":  # (its inputs are scalars: read once per kernel)
            return [(i, (), ()) for i in node.inputs]
        if isinstance(node.op, Reduce):
            if not self.same_map(axes, self.natural_axes(var)):
                raise LoweringError(f"{self.fused}: a reduction's result is used under another axis map")
            return [(node.inputs[0], tuple(range(self.ndim)), ())]
        raise LoweringError(f"{self.fused}: {node.op} cannot be lowered into a kernel")

    def _view_step(self, node):
        """A view node as a step of :data:`~arignote.compiler.kernel.VIEW_STEPS`; its index
        inputs must be constants or group inputs (refs to their params)."""
        op = node.op
        if isinstance(op, DimShuffle):
            return ("dimshuffle", op.input_ndim, op.new_order)
        refs = []
        for v in node.inputs[1:]:
            if isinstance(v, Constant):
                refs.append(int(v.data) if v.ndim == 0 else tuple(int(s) for s in v.data))
            elif v in self.inputs:
                refs.append(("ref", self.inputs[v]))
            else:
                raise LoweringError(f"{self.fused}: the index {v} of {op} is computed inside the group")
        if isinstance(op, Reshape):
            return ("reshape", op.ndim, refs[0])
        refs = iter(refs)
        entries = []
        for e in op.idx_list:
            if e[0] in ("int", "slice"):
                entries.append((e[0], *(next(refs) if p == SYM else p for p in e[1:])))
            else:
                entries.append(e)
        return ("index", tuple(entries))

    def view_param(self, source, chain, dtype, ndim):
        """The (provisional) param index of buffer ``source`` seen through ``chain``: view
        params are numbered after the constants once all are known (:meth:`place_views`)."""
        key = (source, chain)
        if key not in self.views:
            self.views[key] = _VIEW_BASE + len(self.views)
            self.view_specs.append(K.Param(f"view{len(self.view_specs)}", dtype, ndim, "in", key))
        return self.views[key]

    def place_views(self):
        """Append the view params after the constants; loads get their final indices."""
        if not self.view_specs:
            return
        base = len(self.params)
        self.params += self.view_specs
        self.body = [dataclasses.replace(ins, param=base + ins.param - _VIEW_BASE)
                     if isinstance(ins, K.Load) and ins.param >= _VIEW_BASE else ins for ins in self.body]

    def _emit(self, var, axes, chain, args):
        """Emit ``chain(var)``'s instruction, its children's values being ``args``."""
        if var in self.inputs:
            param = self.inputs[var]
            if chain:
                param = self.view_param(param, chain, var.dtype, len(axes))
            return self.load(param, var.dtype, axes)
        if isinstance(var, Constant):
            static = not any(_refs(step) for step in chain)
            if var.data.size == 1 and static:
                return self.add(K.Const(var.dtype, var.data.reshape(()).item()), 0)
            data = apply_view(var.data, chain) if static else var.data
            self.constants.append(data)
            self.params.append(K.Param(f"const{len(self.constants) - 1}", var.dtype, data.ndim, "in"))
            param = len(self.params) - 1
            if not static:
                param = self.view_param(param, chain, var.dtype, len(axes))
            return self.load(param, var.dtype, axes)
        op = var.owner.op
        if isinstance(op, Elemwise):
            level = self.arg_level(args)
            args = [self.at_level(a, level) for a in args]
            if isinstance(op.scalar_op, CastScalar):
                return self.add(K.Cast(var.dtype, args[0], level), level)
            return self.add(K.ScalarOp(var.dtype, op.scalar_op.name, tuple(args), level), level)
        if is_view(var.owner):
            return args[0]
        if op.fusion_kind == "source":
            return self.source(var, axes, args)
        (arg,) = args  # a reduction, in the pass its argument is first known in
        level = self.levels[arg]
        x = var.owner.inputs[0]
        if x.dtype != var.dtype:
            arg = self.add(K.Cast(var.dtype, arg, level), level)
        init = reduce_init(op.combiner, var.dtype, op.initial)
        strict = op.combiner in ("max", "min") and op.initial is None
        p = level // 2
        return self.add(K.Reduce(var.dtype, op.combiner, arg, init, 2 * p + 1, strict), 2 * p + 2)

    def source(self, var, axes, args):
        """A source op's value (see :mod:`arignote.passes.fusible`) at each point: its
        element's place in the op's own shape (its last ``ndim`` inputs) -- the C-order
        index of its row (all axes but the last), its position in the row and the row's
        length -- from the range variables of the axes it follows; each size is checked
        against the extent of its axis (a mismatch is the reference's broadcasting error:
        a rerun finds it)."""
        op, sizes, em = var.owner.op, args[len(args) - var.ndim:], _Emitter(self)
        place = []
        for d, a in enumerate(axes):
            if a is None:
                place.append(em.const(0, "int64"))
                continue
            level = 1 if a in self.reduce_axes else 0
            place.append(self.add(K.Index("int64", a, level), level))
            extent = self._size_extent(sizes[d])
            if extent is not None:
                self.extents.setdefault(a, extent)
            differs = em.op("neq", "bool", sizes[d], self.add(K.Extent("int64", a, 0), 0))
            self.add(K.Check("bool", differs, SOURCE_SHAPE, 0), None)
        row = em.const(0, "int64")
        for d in range(var.ndim - 1):
            row = em.op("add", "int64", em.op("mul", "int64", row, sizes[d]), place[d])
        j, n = (place[-1], sizes[-1]) if var.ndim else (em.const(0, "int64"), em.const(1, "int64"))
        return op.source(em, args[:len(args) - var.ndim], *(em.cast(v, "uint64") for v in (row, j, n)))

    def _size_extent(self, value):
        """What value ``value`` (a draw's size) is as a kernel extent: an int for a
        constant, ``("ref", k)`` for a load of the scalar group input ``k``, else None."""
        ins = self.body[value]
        if isinstance(ins, K.Const):
            return int(ins.value)
        if isinstance(ins, K.Load) and not ins.axes and ins.param < len(self.inputs):
            return ("ref", ins.param)
        return None

    def natural_axes(self, var):
        """The axis map of a group output: the whole index space, or its kept part for a
        value constant along the reduced axes (of static size 1 there, or with them dropped)."""
        moving = [a for a in self.reduce_axes if self.space_shape[a] != 1]
        if not moving or (var.ndim == self.ndim and all(var.type.shape[a] != 1 for a in moving)):
            if var.ndim != self.ndim:
                raise LoweringError(f"{self.fused}: output {var} does not span the index space")
            return tuple(range(self.ndim))
        if var.ndim == self.ndim and all(var.type.shape[a] == 1 for a in moving):
            return tuple(None if a in self.reduce_axes else a for a in range(self.ndim))
        kept = tuple(a for a in range(self.ndim) if a not in self.reduce_axes)
        if var.ndim != len(kept) or not self._from_reduction(var):
            raise LoweringError(f"{self.fused}: output {var} spans part of the reduced axes, or "
                                f"not the index space, or reshapes a reduction's result")
        return kept

    def same_map(self, a, b):
        """Are axis maps ``a`` and ``b`` the same, up to axes of static extent 1 (following
        one or no axis there is the same)?"""
        unit = [x is None or self.space_shape[x] == 1 for x in a], \
            [x is None or self.space_shape[x] == 1 for x in b]
        return len(a) == len(b) and all(x == y or (ux and uy)
                                         for x, y, ux, uy in zip(a, b, *unit))

    def _from_reduction(self, var):
        """Is ``var`` computed elementwise from a reduction's result (so its dimensions
        are the kept axes, in order)?"""
        stack, seen = [var], set()
        while stack:
            v = stack.pop()
            node = v.owner
            if node is None or v in self.inputs or v in seen:
                continue
            seen.add(v)
            if isinstance(node.op, Reduce):
                return True
            if isinstance(node.op, Elemwise):
                stack.extend(node.inputs)
        return False

    def stash(self, value, level, out_param, dtype, axes):
        """The expensive case: if ``value`` (a full-space output's, at ``level``) needs an
        expensive value of an earlier pass re-emitted at ``level``, store that value into the
        output in its own pass and read it back here instead. One per output buffer."""
        stack, seen = [value], set()
        while stack:
            v = stack.pop()
            if v in seen or self.levels[v] != level:
                continue
            seen.add(v)
            ins = self.body[v]
            first = self.origin.get(v)
            if (first is not None and isinstance(ins, K.ScalarOp) and ins.op in EXPENSIVE
                    and ins.dtype == dtype and self.axes_of.get(first) == axes):
                self.body[v] = K.Load(dtype, out_param, axes, level)
                self.add(K.Store(dtype, out_param, axes, first, self.levels[first]), None)
                return
            stack.extend(reversed(K.args_of(ins)))


def lower(fused, name="kernel"):
    """The Kernel computing ``fused``'s outputs from its inputs.

    The result is kept in the Fused op's ``cache`` (dropped on pickling): the
    fusion pass lowers each group to check it, and the backend then reuses that
    work (only the name differs). A group that cannot be lowered raises each time."""
    done = fused.cache.get("lowered")
    if done is None:
        done = fused.cache["lowered"] = _lower(fused)
    return done if done.name == name else dataclasses.replace(done, name=name)


def kernel_axes(fused):
    """The index axes of ``fused``'s kernel, as what each follows: per axis, the
    dimensions of the group's values it runs along, ``(inner variable, d)`` or an int
    (a constant's dimension of that static size); None if the group cannot be lowered.

    The kernel is right only where the dimensions of each axis are equal at run
    time, which the caller decides (the fusion pass knows which dimensions the graph
    makes equal). Checked here: a broadcast load or store has size 1 there, a store
    sits inside a pass exactly when it writes along reduced axes, and some load
    follows every axis (the launcher takes the extents from the inputs), or a random
    draw's size gives its extent (``Kernel.extents``)."""
    try:
        kernel = lower(fused)
    except LoweringError:
        return None
    axes = [[] for _ in range(kernel.ndim)]
    for var, d, a in fused.cache["follows"]:  # every value outside view chains
        if a is not None:
            axes[a].append((var, d))
    n_user, n_in, loaded = len(fused.inputs), len(kernel.inputs), set()
    for ins in kernel.body:
        if isinstance(ins, K.Load):
            if kernel.params[ins.param].role == "out":
                continue  # an output read back: its stores are checked
            loaded.update(a for a in ins.axes if a is not None)
            if kernel.params[ins.param].view is not None:
                continue  # a view param: its dimensions are those of a value in ``follows``
            var = fused.inputs[ins.param] if ins.param < n_user else None
            shape = var.type.shape if var is not None else kernel.constants[ins.param - n_user].shape
        elif isinstance(ins, K.Store):
            var = fused.outputs[ins.param - n_in]
            shape = var.type.shape
            if any(a in kernel.reduce_axes for a in ins.axes if a is not None) != (ins.level % 2 == 1):
                return None
        else:
            continue
        for d, a in enumerate(ins.axes):
            if a is None:
                if shape[d] != 1:
                    return None
            else:
                axes[a].append((var, d) if var is not None else shape[d])
    if loaded | {a for a, _ in kernel.extents} != set(range(kernel.ndim)):
        return None
    return tuple(tuple(follows) for follows in axes)


def _lower(fused, name="kernel"):
    b = _Builder(fused)
    stores = []
    for k, out in enumerate(fused.outputs):
        axes = b.natural_axes(out)
        value = b.emit(out, axes)
        stores.append((k, out, axes, value))
    b.place_views()
    fused.cache["follows"] = frozenset(b.follows)
    out_params = [K.Param(f"out{k}", out.dtype, out.ndim, "out") for k, out, _, _ in stores]
    # constant params were appended after the inputs; outputs come last
    params = b.params + out_params
    for k, out, axes, value in stores:
        level = b.levels[value]
        if any(a in b.reduce_axes for a in axes if a is not None):
            level += 1 - level % 2  # a full-space output: inside a pass
            value = b.at_level(value, level)
            if level > 1:
                b.stash(value, level, len(b.params) + k, out.dtype, axes)
        elif level % 2:
            raise LoweringError(f"{fused}: output {out} is kept-space but varies along the reduced axes")
        b.add(K.Store(out.dtype, len(b.params) + k, axes, value, level), level)
    body = mark_sign_blind(K.live_body(b.body))
    loaded = {a for ins in body if isinstance(ins, K.Load) and params[ins.param].role == "in"
              for a in ins.axes if a is not None}
    kernel = K.Kernel(name, tuple(params), b.ndim, tuple(b.reduce_axes), body, tuple(b.constants),
                      extents=tuple(sorted((a, e) for a, e in b.extents.items() if a not in loaded)))
    if kernel.passes > MAX_PASSES:
        raise LoweringError(f"{fused}: {kernel.passes} passes over the reduced axes (at most {MAX_PASSES})")
    return kernel
