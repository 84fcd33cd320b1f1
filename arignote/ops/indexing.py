"""Indexing: ``x[...]`` with NumPy's rules, and writing through an index.

An index is parsed once into ``idx_list``, a tuple of hashable entries (the
op's props); the parts only known at run time become extra inputs, in order:

* ``("int", k)``: an integer, ``k`` an int or ``"?"`` (a symbolic int scalar);
* ``("slice", start, stop, step)``: each None, an int or ``"?"``;
* ``("newaxis",)``: a new axis of size 1 (``None`` in the index);
* ``("array",)``: an integer index array (an input);
* ``("mask", k)``: a boolean mask covering ``k`` dimensions (an input);
* ``("ellipsis",)``: an Ellipsis standing for zero dimensions, kept only where
  it separates advanced indices (NumPy then puts their dimensions first).

Basic indexes (ints, slices, new axes) give a :class:`Subtensor`, a view;
any array or mask gives an :class:`AdvancedSubtensor`, a copy. Writing goes
through :class:`IncSubtensor` (``set_subtensor`` / ``inc_subtensor``),
which copies ``x`` and sets or adds ``y`` (accumulating repeated indices like
``np.add.at``). Entries are filled with values by :func:`_fill`; one layout
function (:func:`_layout`) serves static shapes, symbolic shapes
(``infer_shape``) and the separated-advanced-indices-go-first rule.
"""
import numpy as np

from arignote.errors import ArignoteTypeError, ArignoteValueError, ShapeError, describe
from arignote.graph.basic import Apply, Constant, Variable
from arignote.graph.op import Op
from arignote.graph.type import TensorType
from arignote.ops.basic import as_tensor_variable, constant
from arignote.ops.elemwise import (cast, eq, gt, lt, maximum, minimum, reduce_to_broadcast, switch,
                                   zeros_like)
from arignote.ops.reduce import sum as _sum

SYM = "?"
_FULL = ("slice", None, None, None)
_ADVANCED = ("array", "mask")


def _width(entry):
    """How many dimensions of ``x`` an entry consumes."""
    return entry[1] if entry[0] == "mask" else int(entry[0] in ("int", "slice", "array"))


def _fill(entries, items):
    """Entries with each placeholder replaced by the next of ``items``."""
    items = iter(items)
    out = []
    for e in entries:
        if e[0] == "int":
            out.append(("int", next(items) if e[1] == SYM else e[1]))
        elif e[0] == "slice":
            out.append(("slice", *(next(items) if p == SYM else p for p in e[1:])))
        elif e[0] == "array":
            out.append(("array", next(items)))
        elif e[0] == "mask":
            out.append(("mask", e[1], next(items)))
        else:
            out.append(e)
    return out


def _placeholders(entries):
    """The kind of input each placeholder expects, in input order."""
    kinds = []
    for e in entries:
        if e[0] in ("int", "slice"):
            kinds += ["scalar"] * sum(p == SYM for p in e[1:])
        elif e[0] in _ADVANCED:
            kinds.append(e)
    return kinds


def _layout(filled, dims, slice_dim, adv_block, one):
    """Result dims of indexing ``dims`` by ``filled`` (NumPy's rules).

    Advanced indices (arrays, masks, and ints among them) contribute the
    broadcast of their shapes, ``adv_block(list of (entry, dims consumed))``;
    that block goes where the first one stood if they are adjacent, else first.
    """
    advanced = any(e[0] in _ADVANCED for e in filled)
    out, adv, pos, adjacent, prev, axis = [], [], None, True, False, 0
    for e in filled:
        width = _width(e)
        is_adv = e[0] in _ADVANCED or (e[0] == "int" and advanced)
        if is_adv:
            if pos is None:
                pos = len(out)
            elif not prev:
                adjacent = False
            adv.append((e, dims[axis:axis + width]))
        elif e[0] == "slice":
            out.append(slice_dim(e, dims[axis]))
        elif e[0] == "newaxis":
            out.append(one)
        axis += width
        prev = is_adv
    out.extend(dims[axis:])
    if adv:
        pos = pos if adjacent else 0
        out[pos:pos] = adv_block(adv)
    return out


def _fmt(entry):
    kind = entry[0]
    if kind == "int":
        return str(entry[1])
    if kind == "slice":
        a, b, c = ("" if p is None else str(p) for p in entry[1:])
        return f"{a}:{b}" + (f":{c}" if c else "")
    return {"newaxis": "newaxis", "ellipsis": "...", "array": "[array]"}.get(kind, f"[mask{entry[-1]}]")


# ------------------------------------------------------------ static checks and shapes

def _known(v):
    return not isinstance(v, Variable)


def _shape_of(v):
    return v.type.shape if isinstance(v, Variable) else np.shape(v)


def _distinct_rows(idx):
    """Whether ``idx`` is integer index vectors of one length, one of them strictly
    increasing from 0 or more (negative entries could wrap onto others): the positions
    it names are then distinct (no ``np.add.at`` needed)."""
    if not all(i.__class__ is np.ndarray and i.ndim == 1 and i.dtype.kind in "iu" for i in idx):
        return False
    n = len(idx[0])
    return n > 0 and all(len(i) == n for i in idx) and \
        any(i[0] >= 0 and bool((i[1:] > i[:-1]).all()) for i in idx)


def _check_values(filled, shape, x):
    """Bounds of ints and index arrays, zero steps, mask shapes: at build time
    (where values and dims are known) and at run time."""
    axis = 0
    for e in filled:
        n = shape[axis] if axis < len(shape) else None
        if e[0] == "int" and _known(e[1]) and n is not None and not -n <= int(e[1]) < n:
            raise ArignoteValueError(f"index {int(e[1])} is out of bounds for axis {axis} of "
                                     f"{describe(x)} with shape {tuple(shape)}")
        if e[0] == "slice" and _known(e[3]) and e[3] is not None and int(e[3]) == 0:
            raise ArignoteValueError(f"slice step cannot be zero (indexing axis {axis} of {describe(x)})")
        if e[0] == "array" and _known(e[1]) and n is not None and np.size(e[1]):
            bad = e[1][(e[1] >= n) | (e[1] < -n)]
            if bad.size:
                raise ArignoteValueError(f"index {bad.flat[0]} (in an index array) is out of bounds for "
                                         f"axis {axis} of {describe(x)} with shape {tuple(shape)}")
        if e[0] == "mask":
            for d, (m, s) in enumerate(zip(_shape_of(e[2]), shape[axis:axis + e[1]])):
                if m is not None and s is not None and m != s:
                    raise ShapeError(
                        f"boolean index of shape {tuple(_shape_of(e[2]))} does not match "
                        f"{describe(x)} of shape {tuple(shape)} at axis {axis + d} ({m} vs {s})")
        axis += _width(e)


def _static_slice_len(entry, n):
    start, stop, step = (int(p) if p is not None and _known(p) else p for p in entry[1:])
    if any(isinstance(p, Variable) for p in (start, stop, step)):
        return 0 if n == 0 else None
    if n is not None:
        return len(range(*slice(start, stop, step).indices(n)))
    step = 1 if step is None else step
    start = (0 if step > 0 else -1) if start is None else start
    # with both bounds of one sign, a slice empty for large n is empty for every n
    if stop is not None and (start < 0) == (stop < 0) and (stop - start) * step <= 0:
        return 0
    return None


def _broadcast_static(shapes):
    ndim = max((len(s) for s in shapes), default=0)
    out = []
    for d in range(ndim):
        sizes = {s[len(s) - ndim + d] for s in shapes if len(s) - ndim + d >= 0} - {1}
        known = sizes - {None}
        if len(known) > 1:
            raise ShapeError(f"indexing arrays of static shapes {', '.join(map(str, shapes))} "
                             f"cannot be broadcast together")
        out.append(known.pop() if known else (None if None in sizes else 1))
    return out


def _static_adv_block(adv):
    shapes = []
    for e, dims in adv:
        if e[0] == "int":
            shapes.append(())
        elif e[0] == "array":
            shapes.append(tuple(_shape_of(e[1])))
        else:
            mask = e[2]
            shapes.append((int(np.count_nonzero(mask)) if _known(mask) else
                           0 if 0 in (*mask.type.shape, *dims) else None,))
    return _broadcast_static(shapes)


def _static_shape(filled, shape):
    return tuple(_layout(filled, list(shape), lambda e, n: _static_slice_len(e, n), _static_adv_block, 1))


# ------------------------------------------------------------ symbolic shapes

def _max(a, b):
    return max(a, b) if isinstance(a, int) and isinstance(b, int) else maximum(a, b)


def _clamp(s, n, lo, hi):
    """Python's normalization of a slice bound: wrap negatives, clip to [lo, hi]."""
    wrapped = (s + n if s < 0 else s) if isinstance(s, int) else switch(lt(s, 0), s + n, s)
    return minimum(_max(wrapped, lo), hi)


def _sym_len_dir(start, stop, step, n, forward):
    lo, hi = (0, n) if forward else (-1, n - 1)
    first = (lo if forward else hi) if start is None else _clamp(start, n, lo, hi)
    last = (hi if forward else lo) if stop is None else _clamp(stop, n, lo, hi)
    span, mag = (last - first, step) if forward else (first - last, -step)
    return maximum((span + mag - 1) // mag, 0)


def _sym_slice_len(entry, n):
    start, stop, step = entry[1:]
    step = 1 if step is None else step
    if isinstance(step, int):
        return _sym_len_dir(start, stop, step, n, step > 0)
    return switch(gt(step, 0), _sym_len_dir(start, stop, step, n, True),
                  _sym_len_dir(start, stop, step, n, False))


def _sym_adv_block(adv):
    shapes = []
    for e, _ in adv:
        if e[0] == "int":
            shapes.append(())
        elif e[0] == "array":
            shapes.append(tuple(e[1][1]))
        else:
            shapes.append((_sum(cast(e[2][0], "int64")),))
    ndim = max(len(s) for s in shapes)
    out = []
    for d in range(ndim):
        sizes = [s[len(s) - ndim + d] for s in shapes if len(s) - ndim + d >= 0]
        size = sizes[0]
        for s in sizes[1:]:
            size = switch(eq(size, 1), s, size)
        out.append(size)
    return out


# ------------------------------------------------------------ the ops

class _IndexOp(Op):
    """What the indexing ops share: ``idx_list`` and its three readings."""

    __props__ = ("idx_list",)

    def __init__(self, idx_list):
        self.idx_list = tuple(tuple(e) for e in idx_list)
        self.advanced = any(e[0] in _ADVANCED for e in self.idx_list)

    def __str__(self):
        return f"{type(self).__name__}{{{', '.join(map(_fmt, self.idx_list))}}}"

    def _check_inputs(self, x, index):
        """Validate the index inputs; returns the entries filled for static analysis."""
        kinds = _placeholders(self.idx_list)
        if len(index) != len(kinds):
            raise ArignoteTypeError(f"{self} takes {len(kinds)} index input(s), got {len(index)}")
        for kind, v in zip(kinds, index):
            if kind == "scalar":
                ok, want = v.ndim == 0 and v.dtype != "bool" and v.type.is_integer, "an integer scalar"
            elif kind[0] == "array":
                ok, want = v.ndim >= 1 and v.dtype != "bool" and v.type.is_integer, "an integer array"
            else:
                ok, want = v.ndim == kind[1] and v.dtype == "bool", f"a {kind[1]}-d boolean mask"
            if not ok:
                raise ArignoteTypeError(f"{self}: an index must be {want}, got {describe(v)} "
                                        f"of type {v.type}")
        consumed = sum(_width(e) for e in self.idx_list)
        if consumed > x.ndim:
            raise ArignoteTypeError(f"too many indices for {describe(x)}: it has {x.ndim} dimension(s) "
                                    f"({x.type}) but the index [{', '.join(map(_fmt, self.idx_list))}] "
                                    f"uses {consumed}")
        filled = _fill(self.idx_list, [v.data if isinstance(v, Constant) else v for v in index])
        _check_values(filled, x.type.shape, x)
        return filled

    def _numpy_index(self, x_var, x, index):
        """The NumPy index for the run-time values. Unchecked: NumPy checks as it
        indexes, and :meth:`_explain` turns its complaint into a named error."""
        filled = _fill(self.idx_list, index)
        out = []
        for e in filled:
            if e[0] == "int":
                out.append(int(e[1]))
            elif e[0] == "slice":
                out.append(slice(*(None if p is None else int(p) for p in e[1:])))
            else:
                out.append({"newaxis": None, "ellipsis": Ellipsis}.get(e[0], e[-1]))
        return tuple(out) if self.advanced else (*out, Ellipsis)  # '...' keeps 0-d results views

    def _explain(self, x_var, x, index):
        """Raise the named error for the index values NumPy refused (if we know it)."""
        _check_values(_fill(self.idx_list, index), x.shape, x_var)

    def _indexed_shape(self, node, x_shape, index_vars, index_shapes):
        """Symbolic shape of ``x[idx]``, constants where the static shape knows."""
        items = [(cast(v, "int64"), ()) if v.ndim == 0 else (v, s)
                 for v, s in zip(index_vars, index_shapes)]
        filled = [("slice", *(p[0] if isinstance(p, tuple) else p for p in e[1:])) if e[0] == "slice" else e
                  for e in _fill(self.idx_list, items)]
        dims = _layout(filled, list(x_shape), _sym_slice_len, _sym_adv_block, constant(np.int64(1)))
        static = node.outputs[0].type.shape
        return tuple(constant(np.int64(s)) if s is not None else d for s, d in zip(static, dims))


class Subtensor(_IndexOp):
    """Basic indexing (ints, slices, new axes): a view of ``x``."""

    fusion_kind = "view"
    view_map = {0: [0]}

    def __init__(self, idx_list):
        super().__init__(idx_list)
        if self.advanced and type(self) is Subtensor:
            raise ArignoteValueError("Subtensor takes basic indices only; use AdvancedSubtensor")

    def make_node(self, x, *index):
        x = as_tensor_variable(x)
        index = [as_tensor_variable(i) for i in index]
        filled = self._check_inputs(x, index)
        return Apply(self, [x, *index], [TensorType(x.dtype, _static_shape(filled, x.type.shape))])

    def perform(self, node, inputs):
        x, *index = inputs
        try:
            return [np.asarray(x[self._numpy_index(node.inputs[0], x, index)])]
        except (IndexError, ValueError):
            self._explain(node.inputs[0], x, index)
            raise

    def L_op(self, inputs, outputs, output_grads):
        x, *index = inputs
        gx = IncSubtensor(self.idx_list)(zeros_like(x), output_grads[0], *index)
        return [gx] + [None] * len(index)

    def infer_shape(self, node, input_shapes):
        return [self._indexed_shape(node, input_shapes[0], node.inputs[1:], input_shapes[1:])]


class AdvancedSubtensor(Subtensor):
    """Indexing with integer arrays or boolean masks (and basic entries): a copy."""

    fusion_kind = "opaque"
    view_map = {}

    def __init__(self, idx_list):
        super().__init__(idx_list)
        if not self.advanced:
            raise ArignoteValueError("AdvancedSubtensor needs an index array or mask; use Subtensor")


class IncSubtensor(_IndexOp):
    """``x`` with ``x[idx]`` set to ``y`` or increased by ``y`` (a copy).

    ``y`` broadcasts to the indexed shape like an elementwise operand: only
    its static size-1 dimensions (and missing leading ones) broadcast.
    Repeated advanced indices accumulate when incrementing (``np.add.at``).
    """

    __props__ = ("idx_list", "set_instead_of_inc")
    fusion_kind = "opaque"

    def __init__(self, idx_list, set_instead_of_inc=False):
        super().__init__(idx_list)
        self.set_instead_of_inc = bool(set_instead_of_inc)

    def __str__(self):
        return (f"{'Set' if self.set_instead_of_inc else 'Inc'}Subtensor"
                f"{{{', '.join(map(_fmt, self.idx_list))}}}")

    def make_node(self, x, y, *index):
        x = as_tensor_variable(x)
        y = _conform_value(as_tensor_variable(y), x, self)
        index = [as_tensor_variable(i) for i in index]
        target = _static_shape(self._check_inputs(x, index), x.type.shape)
        if y.ndim > len(target):
            raise ArignoteTypeError(f"{self}: the value {describe(y)} has {y.ndim} dimensions, more than "
                                    f"the {len(target)} of the indexed region of {describe(x)}")
        for d, (ys, ts) in enumerate(zip(y.type.shape, target[len(target) - y.ndim:])):
            if ys not in (None, 1) and ts is not None and ys != ts:
                raise ShapeError(f"{self}: the value {describe(y)} of static shape {y.type.shape} cannot "
                                 f"be broadcast to the indexed shape {target} (dimension {d})")
        return Apply(self, [x, y, *index], [x.type])

    def perform(self, node, inputs):
        x, y, *index = inputs
        try:
            return [self._update(node, x, y, self._numpy_index(node.inputs[0], x, index))]
        except (IndexError, ValueError):
            self._explain(node.inputs[0], x, index)
            raise

    def _update(self, node, x, y, idx, out=None):
        """``x`` with the region ``idx`` set or increased by ``y``: into ``out`` (a copy of
        ``x`` the caller made) or a new copy."""
        out = x.copy() if out is None else out
        if not self.advanced:
            region = out[idx]
            _check_value_shape(node, y, region.shape)
            if self.set_instead_of_inc:
                region[...] = y
            else:
                region += y
        elif self.set_instead_of_inc:
            _check_value_shape(node, y, np.broadcast_to(np.zeros((), "int8"), x.shape)[idx].shape)
            out[idx] = y
        elif _distinct_rows(idx):  # (the cross-entropy gradient) no repeats: a plain fancy add
            _check_value_shape(node, y, idx[0].shape + x.shape[len(idx):])
            out[idx] += y
        else:  # flat positions of the region, so repeated entries accumulate
            flat = np.arange(x.size).reshape(x.shape)[idx]
            _check_value_shape(node, y, flat.shape)
            values = np.broadcast_to(y, flat.shape).reshape(-1)
            flat, target = flat.reshape(-1), out.reshape(-1)
            if flat.size < 2 or (flat[1:] > flat[:-1]).all():  # distinct: a fancy add is add.at, faster
                target[flat] += values
            else:
                np.add.at(target, flat, values)
        return out

    def L_op(self, inputs, outputs, output_grads):
        x, y, *index = inputs
        (gz,) = output_grads
        gx = (IncSubtensor(self.idx_list, True)(gz, constant(np.zeros((), gz.dtype)), *index)
              if self.set_instead_of_inc else gz)
        getter = AdvancedSubtensor if self.advanced else Subtensor
        gy = getter(self.idx_list)(gz, *index)
        lead = tuple(range(gy.ndim - y.ndim))
        if lead:
            gy = _sum(gy, axis=lead)
        return [gx, reduce_to_broadcast(gy, y)] + [None] * len(index)

    def infer_shape(self, node, input_shapes):
        return [input_shapes[0]]


_KIND_RANK = {"b": 0, "i": 1, "u": 1, "f": 2, "c": 3}


def _conform_value(y, x, op):
    """``y`` in ``x``'s dtype: Python scalars if they fit, arrays if the cast keeps their kind."""
    if isinstance(y, Constant) and getattr(y, "weak", False):
        value = y.data.item()
        data = None
        if _KIND_RANK[y.data.dtype.kind] <= _KIND_RANK[np.dtype(x.dtype).kind]:
            try:
                data = np.asarray(value, dtype=x.dtype)
            except OverflowError:
                pass
        if data is None or (data.dtype.kind in "biu" and data.item() != value):
            raise ArignoteTypeError(f"{op}: the Python value {value!r} does not fit the dtype "
                                    f"{x.dtype} of {describe(x)}")
        return constant(data)
    if y.dtype != x.dtype:
        if not np.can_cast(y.dtype, x.dtype, "same_kind"):
            raise ArignoteTypeError(f"{op}: cannot write {describe(y)} of dtype {y.dtype} into "
                                    f"{describe(x)} of dtype {x.dtype}; cast it first")
        y = cast(y, x.dtype)
    return y


def _check_value_shape(node, y, target):
    static = node.inputs[1].type.shape
    tail = target[len(target) - y.ndim:]
    if any(s != 1 and a != t for s, a, t in zip(static, y.shape, tail)):
        raise ShapeError(f"{node.op}: the value of shape {y.shape} cannot be broadcast to the indexed "
                         f"shape {tuple(target)} of {describe(node.inputs[0])}; only dimensions of "
                         f"static size 1 broadcast")


# ------------------------------------------------------------ parsing and public functions

def _bound(p, x):
    """A slice bound or step: None, a static int, or a symbolic integer scalar."""
    if p is None:
        return None, []
    if isinstance(p, (bool, np.bool_)):
        raise ArignoteTypeError(f"a slice of {describe(x)} has a boolean bound {p!r}; use integers")
    if isinstance(p, (int, np.integer)):
        return int(p), []
    v = as_tensor_variable(p)
    if v.ndim != 0 or v.dtype == "bool" or not v.type.is_integer:
        raise ArignoteTypeError(f"slice bounds of {describe(x)} must be integer scalars, got "
                                f"{describe(v)} of type {v.type}")
    return (int(v.data), []) if isinstance(v, Constant) else (SYM, [v])


def _parse_item(item, x):
    """One index item -> (entry, inputs)."""
    if item is None:
        return ("newaxis",), []
    if isinstance(item, slice):
        parts = [_bound(p, x) for p in (item.start, item.stop, item.step)]
        return ("slice", *(p for p, _ in parts)), [v for _, vs in parts for v in vs]
    if isinstance(item, (bool, np.bool_)):
        raise ArignoteTypeError(f"indexing {describe(x)} with the boolean {item!r} is not supported; "
                                f"use None to add an axis or a boolean array as a mask")
    if isinstance(item, (int, np.integer)):
        return ("int", int(item)), []
    if isinstance(item, (list, tuple)) and not any(isinstance(e, Variable) for e in _flat(item)):
        arr = np.asarray(item)
        item = arr.astype(np.intp) if arr.size == 0 and arr.dtype.kind == "f" else arr
    v = as_tensor_variable(item)
    if v.dtype == "bool":
        if v.ndim == 0:
            raise ArignoteTypeError(f"a 0-d boolean index of {describe(x)} is not supported")
        return ("mask", v.ndim), [v]
    if not v.type.is_integer:
        raise ArignoteTypeError(f"indices of {describe(x)} must be integers, slices, None, Ellipsis, "
                                f"integer arrays or boolean masks; got {describe(v)} of type {v.type}")
    if v.ndim == 0:
        return (("int", int(v.data)), []) if isinstance(v, Constant) else (("int", SYM), [v])
    return ("array",), [v]


def _flat(x):
    for e in x:
        yield from (_flat(e) if isinstance(e, (list, tuple)) else [e])


def _parse(x, index):
    """A Python index -> (idx_list, index inputs), Ellipsis expanded."""
    items = index if isinstance(index, tuple) else (index,)
    if sum(i is Ellipsis for i in items) > 1:
        raise ArignoteValueError(f"an index of {describe(x)} may hold only one Ellipsis (...)")
    parsed = [(("ellipsis",), []) if i is Ellipsis else _parse_item(i, x) for i in items]
    consumed = sum(_width(e) for e, _ in parsed if e[0] != "ellipsis")
    entries, inputs = [], []
    for e, vs in parsed:
        if e[0] == "ellipsis":
            entries += [_FULL] * max(x.ndim - consumed, 0) or [e]
        else:
            entries.append(_canonical_slice(e) if e[0] == "slice" else e)
        inputs += vs
    advanced = any(e[0] in _ADVANCED for e in entries)
    kinds = ["adv" if e[0] in _ADVANCED or (e[0] == "int" and advanced) else e[0] for e in entries]
    # a zero-width Ellipsis matters only between advanced indices
    entries = [e for k, e in enumerate(entries) if e[0] != "ellipsis" or
               ("adv" in kinds[:k] and "adv" in kinds[k + 1:])]
    if ("ellipsis",) not in entries:
        while entries and entries[-1] == _FULL:
            entries.pop()
    return tuple(entries), inputs


def _canonical_slice(e):
    _, start, stop, step = e
    step = None if step == 1 else step
    start = None if start == 0 and step is None else start
    return ("slice", start, stop, step)


def getitem(x, index):
    """``x[index]`` with NumPy's semantics (what ``x[...]`` calls)."""
    x = as_tensor_variable(x)
    idx_list, inputs = _parse(x, index)
    op = AdvancedSubtensor if any(e[0] in _ADVANCED for e in idx_list) else Subtensor
    return op(idx_list)(x, *inputs)


def _split_indexed(xi, fn):
    xi = as_tensor_variable(xi)
    if xi.owner is None or not isinstance(xi.owner.op, Subtensor):
        raise ArignoteTypeError(f"{fn}() takes an indexed expression such as x[i] or x[idx] as its "
                                f"first argument, got {describe(xi)}")
    return xi.owner.op.idx_list, xi.owner.inputs[0], xi.owner.inputs[1:]


def set_subtensor(xi, y):
    """Theano's ``set_subtensor(x[idx], y)``: a copy of ``x`` with ``x[idx] = y``."""
    idx_list, x, index = _split_indexed(xi, "set_subtensor")
    return IncSubtensor(idx_list, True)(x, y, *index)


def inc_subtensor(xi, y, set_instead_of_inc=False):
    """Theano's ``inc_subtensor(x[idx], y)``: a copy of ``x`` with ``x[idx] += y``;
    repeated indices accumulate (``np.add.at``)."""
    idx_list, x, index = _split_indexed(xi, "inc_subtensor")
    return IncSubtensor(idx_list, set_instead_of_inc)(x, y, *index)


__all__ = ["getitem", "set_subtensor", "inc_subtensor", "Subtensor", "AdvancedSubtensor", "IncSubtensor"]
