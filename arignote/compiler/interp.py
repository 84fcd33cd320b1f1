"""The kernel-IR interpreter: what each instruction of a Kernel means, run with NumPy.

This module is the definition of the IR (:mod:`arignote.compiler.kernel`)
and the oracle of every renderer: a generated kernel must give the same
integer and boolean outputs bit for bit, and floats within the ulps that
``tests/compiler/test_interp.py`` documents per case. It runs a whole
kernel at once, vectorized over the index space: each value is an array
with one dimension per index-space axis, of the axis's extent where the
value varies along it and of size 1 elsewhere (NumPy broadcasting does the
rest). A renderer instead loops over the points; the two agree because every
instruction is a function of the current point only.

The index space has ``ndim`` axes, the extents ``ext``; ``reduce_axes`` are
reduced, the others parallel. Level ``2p`` runs once per parallel point
(its values have size 1 along the reduced axes), level ``2p + 1`` at every
point of pass ``p`` over the reduced axes. Levels run in order, and inside a
level the instructions in body order; :func:`check` states what a well-formed
body may refer to. Per instruction:

* ``Const(dtype, value)``: ``value`` as a ``dtype`` scalar: floats rounded to
  the dtype, integers wrapped to its width, bools ``bool(value)``.
* ``Load(dtype, param, axes)``: element ``[i[axes[0]], i[axes[1]], ...]`` of
  the param's array at point ``i`` (a None axis reads index 0 of a size-1
  dimension; an axis named twice reads a diagonal). A view param's array is
  its source seen through NumPy's own basic indexing / reshape
  (:func:`~arignote.compiler.bind.apply_view`). Loading an output, or an
  input an output is written over, reads what the kernel stored there so
  far: a snapshot at the load.
* ``Index(dtype, axis)``: the point's index along ``axis`` (int64);
  ``Extent(dtype, axis)``: the axis's extent.
* ``ScalarOp(dtype, op, args)``: the NumPy oracle of :data:`SCALAR_OPS`
  ``[op]`` (the table of :mod:`arignote.ops.elemwise`) on the arguments cast
  to the *loop dtype*, the result cast to ``dtype``. The loop dtype is
  ``dtype``, except for the predicates (:data:`PREDICATES`), which compare in
  the arguments' promoted dtype as NumPy 2 does (int64 against uint64
  exactly). ``switch(c, a, b)``: ``c`` cast to bool, ``a``/``b`` to ``dtype``;
  ``second(a, b)``: ``b`` cast to ``dtype``. float16 computes as NumPy's
  float16 loops do: in float32, rounded to float16 after each op. Integer
  arithmetic wraps; ``x // 0`` and ``x % 0`` are 0 and ``MIN // -1`` is MIN;
  an integer to a negative integer power is an error (the kernel raises
  ArignoteValueError "integers to negative integer powers are not allowed"
  if it happens at any point). Floating-point exceptions are silent.
  The primitives decomposition adds (:data:`PRIMITIVES`,
  :mod:`arignote.compiler.decompose`): ``div_trunc`` / ``rem_trunc``, C's
  truncating integer ``/`` and ``%``; ``fmod`` and ``copysign``, C's;
  ``ftoi``, a float (its loop dtype is its argument's) truncated toward zero
  to a signed integer. ``div_trunc`` / ``rem_trunc`` by 0 (or of MIN by -1)
  and ``ftoi`` of a value out of range (or NaN) are ill-formed: the
  decomposition never emits them, and this interpreter raises ValueError.
* ``Check(arg, error)``: if ``arg`` (cast to bool) is true at any point of
  its level, the kernel raises ArignoteValueError ``error`` (compiled code
  raises after its run; either way the kernel must not write over its
  inputs).
* ``Cast(dtype, arg)``: NumPy's ``astype`` (unsafe casting): to bool is
  ``!= 0`` (NaN is True); a float out of the target integer's range (NaN and
  inf included) gives exactly what NumPy's ``astype`` gives on the host.
* ``Reduce(dtype, combiner, arg, init, needs_elements)``: ``arg`` cast to
  ``dtype``, combined over every point of its pass (in C order of the
  reduced axes) with ``init`` counted once, as NumPy's ``ufunc.reduce``
  with ``initial=init``: ``sum``/``prod``/``max``/``min`` are add /
  multiply / maximum / minimum, on bool ``sum``/``max``/``any`` are *or*
  and ``prod``/``min``/``all`` *and*. A float max/min is the fold of NumPy's
  binary maximum/minimum in that order (NaN propagates; of +0.0 and -0.0 the
  fold keeps the last zero, the first for float16, whose loops keep the first
  of two equal values), also where NumPy's own reduce of a long contiguous
  run would pick some SIMD lane's zero; ``sign_blind`` changes nothing here (no
  use tells that zero's sign: a renderer may return either). Integer sums and
  products wrap, so they are exact in any order. Float sums and products are not associative
  and the IR leaves their order open (renderers may reassociate reduction
  accumulators, and only those): this interpreter uses NumPy's (pairwise
  summation along the innermost reduced axis), the LLVM renderer vectorized
  partial accumulators, split reductions per-chunk partials. They agree
  within a few ulps of ``n * max|x|`` for ``n`` terms, not bitwise. float16
  sums and products accumulate in float32; the result is rounded to float16
  once. ``needs_elements`` (max / min without an initial value): an empty
  reduced axis is an error, raised when the arguments are bound, before any
  store.
* ``Store(dtype, param, axes, arg)``: ``arg`` cast to ``dtype`` written at
  element ``[i[axes[0]], ...]`` of the output at each point ``i`` of its level
  (nothing when the level has no points). Points that map to one element
  must store the same value (a value varying along an axis the store does
  not follow is an ill-formed kernel: this interpreter raises). An output
  written in place (``Kernel.inplace``) is its input's very array.

The arguments are bound by the launcher's neutral part
(:meth:`~arignote.compiler.bind.Binder.bind`): the same checks, extents,
views and output allocation, and so the same errors, as compiled code.
"""
import numpy as np

from arignote.compiler import kernel as K
from arignote.compiler.bind import Binder
from arignote.errors import ArignoteValueError
from arignote.ops.elemwise import SCALAR_OPS

#: scalar ops computing in their arguments' promoted dtype, not their output's
PREDICATES = K.PREDICATES

#: (combiner, bool?) -> the NumPy ufunc that combines
COMBINERS = {("sum", False): np.add, ("prod", False): np.multiply,
             ("max", False): np.maximum, ("min", False): np.minimum,
             ("sum", True): np.logical_or, ("max", True): np.logical_or, ("any", True): np.logical_or,
             ("prod", True): np.logical_and, ("min", True): np.logical_and,
             ("all", True): np.logical_and}

def check(kernel):
    """Raise ValueError unless ``kernel`` is well formed: SSA order; levels within
    ``0..2 * passes`` (0 only without reduced axes); loads and stores with one axis
    (or None) per dimension of their param, following a reduced axis only inside a
    pass (odd level); stores into outputs; a Reduce inside a pass, with a combiner
    of :data:`COMBINERS`. A value is usable at its own level and later ones, except
    a value inside a pass (usable in that pass only: a later pass recomputes it) and
    a Reduce (usable after its pass only). In-place pairs as
    :meth:`~arignote.compiler.kernel.Kernel.check_inplace` requires."""
    body, params, red = kernel.body, kernel.params, set(kernel.reduce_axes)
    top = 2 * kernel.passes

    def bad(k, why):
        raise ValueError(f"{kernel.name}: %{k} ({K._instr(body[k], kernel.params)}) {why}")

    for k, ins in enumerate(body):
        if not 0 <= ins.level <= top:
            bad(k, f"is at level {ins.level}, outside 0..{top}")
        if isinstance(ins, (K.Load, K.Store)):
            if not 0 <= ins.param < len(params):
                bad(k, "names no param")
            p = params[ins.param]
            if len(ins.axes) != p.ndim or any(a is not None and not 0 <= a < kernel.ndim for a in ins.axes):
                bad(k, f"has axes {ins.axes} for {p.name}, a {p.ndim}-d param in a {kernel.ndim}-d space")
            if ins.level % 2 == 0 and red.intersection(ins.axes):
                bad(k, "follows a reduced axis outside a pass")
            if isinstance(ins, K.Store) and p.role != "out":
                bad(k, f"stores into {p.name}, which is not an output")
        if isinstance(ins, K.Extent) and not 0 <= ins.axis < kernel.ndim:
            bad(k, "names no axis")
        if isinstance(ins, K.Index) and (not 0 <= ins.axis < kernel.ndim or
                                         (ins.axis in red and ins.level % 2 == 0)):
            bad(k, "names no axis, or a reduced axis outside a pass")
        if isinstance(ins, K.ScalarOp) and ins.op not in SCALAR_OPS and ins.op not in PRIMITIVES:
            bad(k, "names no scalar op")
        if isinstance(ins, K.Reduce):
            if ins.level % 2 == 0:
                bad(k, "reduces outside a pass")
            if (ins.combiner, ins.dtype == "bool") not in COMBINERS:
                bad(k, f"has no combiner {ins.combiner} on {ins.dtype}")
        for a in K.args_of(ins):
            if not 0 <= a < k:
                bad(k, f"reads %{a}, not defined before it")
            src = body[a]
            if isinstance(src, K.Const):
                continue
            if isinstance(src, K.Reduce):
                ok = ins.level > src.level
            elif src.level % 2:
                ok = ins.level == src.level
            else:
                ok = ins.level >= src.level
            if not ok:
                bad(k, f"at level {ins.level} reads %{a} of level {src.level}")
    kernel.check_inplace()


def evaluate(kernel, arrays, ext):
    """Run ``kernel`` over the index space of extents ``ext`` on ``arrays`` (one per
    param, outputs included, as :meth:`Binder.bind` makes them): the outputs' arrays
    are written. Assumes a well-formed kernel (:func:`check`)."""
    body, nd = kernel.body, kernel.ndim
    red = kernel.reduce_axes
    written = {j for j, p in enumerate(kernel.params) if p.role == "out"} | {i for _, i in kernel.inplace}
    parallel_points = int(np.prod([e for a, e in enumerate(ext) if a not in red]))
    points = {True: int(np.prod(ext)), False: parallel_points}  # inside a pass?
    vals = [None] * len(body)
    with np.errstate(all="ignore"):
        for k in sorted(range(len(body)), key=lambda k: (body[k].level, k)):
            ins = body[k]
            inside = ins.level % 2 == 1
            if isinstance(ins, K.Const):
                vals[k] = _const(ins.value, ins.dtype).reshape((1,) * nd)
            elif isinstance(ins, K.Load):
                v = _space_view(arrays[ins.param], ins.axes, ext)[0]
                vals[k] = np.array(v) if ins.param in written else v  # (a snapshot)
            elif isinstance(ins, K.Extent):
                vals[k] = np.full((1,) * nd, ext[ins.axis], dtype=ins.dtype)
            elif isinstance(ins, K.Index):
                vals[k] = np.arange(ext[ins.axis], dtype=ins.dtype).reshape(
                    [-1 if a == ins.axis else 1 for a in range(nd)])
            elif isinstance(ins, K.Cast):
                vals[k] = _cast(vals[ins.arg], ins.dtype)
            elif isinstance(ins, K.ScalarOp):
                vals[k] = _scalar(kernel, ins, [vals[a] for a in ins.args], points[inside] > 0)
            elif isinstance(ins, K.Reduce):
                vals[k] = _reduce(ins, vals[ins.arg], red, ext)
            elif isinstance(ins, K.Check):
                if points[inside] and _cast(vals[ins.arg], "bool").any():
                    raise ArignoteValueError(f"{kernel.name}: {ins.error}")
            elif points[inside]:  # a Store
                _scatter(kernel, k, arrays[ins.param], ins.axes, _cast(vals[ins.arg], ins.dtype), ext)


def _const(value, dtype):
    dt = np.dtype(dtype)
    if dt.kind == "b":
        return np.array(bool(value))
    if dt.kind in "iu":
        bits = 8 * dt.itemsize
        return np.array(int(value) & ((1 << bits) - 1), dtype=f"uint{bits}").view(dt)
    return np.asarray(value).astype(dt)


def _cast(v, dtype):
    return v if v.dtype == dtype else v.astype(dtype)


def _point_index(axes, ext):
    """The NumPy (advanced) index of the element each index-space point reads through
    ``axes``: any axis map, an axis named twice included (a diagonal)."""
    nd = len(ext)
    return tuple(0 if x is None else np.arange(ext[x]).reshape([-1 if y == x else 1 for y in range(nd)])
                 for x in axes)


def _space_view(a, axes, ext):
    """``a`` (whose dimensions follow ``axes``) as an array over the index space, and
    whether that is a view of ``a`` (distinct axes) rather than a gathered copy."""
    followed = [x for x in axes if x is not None]
    if len(set(followed)) != len(followed):
        return a[_point_index(axes, ext)], False
    v = a[tuple(0 if x is None else slice(None) for x in axes) + (Ellipsis,)]
    v = v.transpose(np.argsort(followed))
    return np.expand_dims(v, [x for x in range(len(ext)) if x not in followed]), True


def _scatter(kernel, k, out, axes, v, ext):
    """Write ``v`` (an array over the index space) into ``out`` through ``axes``."""
    for x in range(len(ext)):
        if x not in axes and v.shape[x] != 1:
            raise ValueError(f"{kernel.name}: %{k} stores values varying along axis {x} into one "
                             f"element (its axes are {axes})")
    target, is_view = _space_view(out, axes, ext)
    if is_view:
        np.copyto(target, v)
    else:
        out[_point_index(axes, ext)] = np.broadcast_to(v, target.shape)


def _scalar(kernel, ins, args, any_points):
    op = ins.op
    if op == "switch":
        return np.where(_cast(args[0], "bool"), _cast(args[1], ins.dtype), _cast(args[2], ins.dtype))
    if op == "second":
        return _cast(args[1], ins.dtype)
    loop = K.loop_dtype(op, ins.dtype, [a.dtype for a in args])
    if op not in PREDICATES:  # (predicates: NumPy itself compares in the promoted dtype)
        args = [_cast(a, loop) for a in args]
        if op == "pow" and np.dtype(ins.dtype).kind == "i" and any_points and (args[1] < 0).any():
            raise ArignoteValueError(f"{kernel.name}: {K.NEGATIVE_POWER}")
    if op in PRIMITIVES:
        return _cast(np.asarray(PRIMITIVES[op](kernel, ins, *args)), ins.dtype)
    return _cast(np.asarray(SCALAR_OPS[op].impl(*args)), ins.dtype)


def _ill_formed(kernel, ins, why):
    raise ValueError(f"{kernel.name}: {K._instr(ins, kernel.params)} {why} (an ill-formed kernel)")


def _div_trunc(kernel, ins, a, b):
    """C's integer division: truncated toward zero."""
    _check_divisor(kernel, ins, a, b)
    if a.dtype.kind == "u":
        return a // b
    return (a - np.fmod(a, b)) // b  # (an exact quotient: floor and truncation agree)


def _rem_trunc(kernel, ins, a, b):
    """C's integer remainder: the sign of the dividend."""
    _check_divisor(kernel, ins, a, b)
    return np.fmod(a, b)


def _check_divisor(kernel, ins, a, b):
    bad = b == 0
    if a.dtype.kind == "i":
        bad = bad | ((a == np.iinfo(a.dtype).min) & (b == -1))
    if np.any(bad):
        _ill_formed(kernel, ins, "divides by 0 (or MIN by -1)")


def _ftoi(kernel, ins, x):
    """A float in range, truncated toward zero to the signed integer ``ins.dtype``."""
    bits = 8 * np.dtype(ins.dtype).itemsize
    t = np.trunc(x.astype("float64") if x.dtype.itemsize < 8 else x)
    if not np.all((t >= -2.0 ** (bits - 1)) & (t < 2.0 ** (bits - 1))):
        _ill_formed(kernel, ins, f"converts a value out of the range of {ins.dtype}")
    return t.astype(ins.dtype)


#: the primitives of :data:`~arignote.compiler.kernel.PRIMITIVE_OPS`: fn(kernel, ins, *args)
PRIMITIVES = {"div_trunc": _div_trunc, "rem_trunc": _rem_trunc, "ftoi": _ftoi,
              "fmod": lambda kernel, ins, a, b: np.fmod(a, b),
              "copysign": lambda kernel, ins, a, b: np.copysign(a, b)}


def _reduce(ins, v, red, ext):
    x = _cast(v, ins.dtype)
    shape = list(x.shape)
    for a in red:  # every point of the pass counts, whether the value varies there or not
        shape[a] = ext[a]
    x = np.ascontiguousarray(np.broadcast_to(x, shape))  # (C order: NumPy's order of combining)
    acc = ins.dtype
    if ins.dtype == "float16" and ins.combiner in ("sum", "prod"):
        x, acc = x.astype("float32"), "float32"
    ufunc = COMBINERS[(ins.combiner, ins.dtype == "bool")]
    init = np.asarray(ins.init).astype(acc)[()]
    out = np.asarray(ufunc.reduce(x, axis=tuple(red), keepdims=True, dtype=acc, initial=init))
    if x.dtype.kind == "f" and ins.combiner in ("max", "min"):
        out = _signed_zeros(ufunc, x, red, init, out)
    return _cast(out, ins.dtype)


def _second_wins(ufunc, dtype):
    """Whether NumPy's ``ufunc`` (maximum / minimum) keeps the second of two equal values
    of ``dtype`` (+0.0 and -0.0), rather than the first."""
    plus, minus = np.zeros(1, dtype), -np.zeros(1, dtype)
    return bool(np.signbit(ufunc(plus, minus))[0]) and not np.signbit(ufunc(minus, plus))[0]


def _signed_zeros(ufunc, x, red, init, out):
    """A float max/min reduction ``out`` as the fold of ``ufunc`` in C order, ``init``
    first: where it is a zero, every element equal to it is a zero of either sign and
    the fold keeps the last of them (the first where NumPy keeps the first of two equal
    values). (NumPy's own reduce of a long contiguous run picks some SIMD lane's zero.)"""
    zero = out == 0
    if not zero.any():
        return out
    kept = [a for a in range(x.ndim) if a not in red]
    flat = np.moveaxis(x, sorted(red), list(range(len(kept), x.ndim)))
    flat = flat.reshape(flat.shape[:len(kept)] + (-1,))
    flat = np.concatenate([np.broadcast_to(init, flat.shape[:-1] + (1,)), flat], axis=-1)
    zeros = flat == 0
    if _second_wins(ufunc, x.dtype):
        pos = flat.shape[-1] - 1 - np.argmax(zeros[..., ::-1], axis=-1)
    else:
        pos = np.argmax(zeros, axis=-1)
    negative = np.signbit(np.take_along_axis(flat, pos[..., None], axis=-1)).reshape(out.shape)
    return np.where(zero, np.where(negative, -np.zeros((), out.dtype), np.zeros((), out.dtype)), out)


class Interpreter(Binder):
    """A launcher that interprets its kernel: the neutral binding of
    :class:`~arignote.compiler.bind.Binder` (the same checks and errors as compiled
    code, every other launcher interface), then :func:`evaluate`."""

    def __init__(self, kernel, labels=None):
        check(kernel)
        super().__init__(kernel, labels)

    def finish(self, call, runner=None):
        """Interpret the kernel on a prepared call (``runner`` is ignored): its outputs."""
        arrays, call.arrays = call.arrays, None
        evaluate(self.kernel, arrays, call.ext)
        return call.outputs


def run_kernel(kernel, inputs, outputs=None, labels=None):
    """Interpret ``kernel`` on ``inputs`` (its user inputs, as for a Launcher): the outputs."""
    return Interpreter(kernel, labels=labels)(*inputs, outputs=outputs)
