"""Decomposition: NumPy's trickier scalar semantics, written once as primitive IR ops.

A renderer should be a table from IR op to instruction. Some elementwise ops
are not one instruction anywhere: NumPy's integer ``//`` and ``%`` (floor
rounding, the sign of the divisor, ``x // 0 == 0``, ``MIN // -1 == MIN``), its
float ``//`` and ``%`` (``npy_divmod``), integer ``**`` (wrapping square and
multiply; a negative exponent is an error), float16 arithmetic (computed in
float32 and rounded after each op), comparisons of int64 with uint64 (exact,
where NumPy 2 promotes to float64), float to integer casts (x86-64's
``cvtt``: docs/design.md, "Float to integer casts"), the choice between +0.0
and -0.0 of ``maximum``/``minimum``/``clip``, ``sign``. Rather than have every
renderer re-derive them, :func:`decompose` rewrites a Kernel so that they are
gone, leaving ops every target has: arithmetic, compares, ``switch``
(select), bit ops, casts between registers, and the primitives of
:data:`~arignote.compiler.kernel.PRIMITIVE_OPS` (truncating ``div_trunc`` /
``rem_trunc`` on a divisor made safe, ``ftoi`` on a value made in range,
``fmod``, ``copysign``). NumPy's errors become values too: a
:class:`~arignote.compiler.kernel.Check`.

The rewrite is IR to IR and changes no value: a decomposed kernel gives the
interpreter's values of the original bit for bit (tests/compiler/test_decompose.py),
so the interpreter stays the oracle of both. Each instruction keeps its
level; what it expands to is emitted at that level (constants at level 0),
equal new instructions are emitted once, and computed values nothing stores or
checks are dropped. Loads, stores, reductions and the schedule are unchanged.
Decomposing a decomposed kernel changes nothing.
"""
import dataclasses

import numpy as np

from arignote.compiler import kernel as K

_COMPARE = frozenset({"eq", "neq", "lt", "le", "gt", "ge"})


def decompose(kernel):
    """``kernel`` with every composite scalar op and float-to-integer cast rewritten into
    primitive ops (see the module docstring)."""
    b = _Builder()
    new = {}
    for k, ins in enumerate(kernel.body):
        b.level = ins.level
        args = [new[a] for a in K.args_of(ins)]
        if isinstance(ins, K.ScalarOp):
            new[k] = b.scalar(ins.dtype, ins.op, args)
        elif isinstance(ins, K.Cast):
            new[k] = b.cast(ins.dtype, args[0])
        elif isinstance(ins, (K.Store, K.Reduce)):  # (their implicit float -> int made explicit)
            new[k] = b.put(K.with_args(ins, [b.to_int(args[0], ins.dtype)]))
        else:
            new[k] = b.put(K.with_args(ins, args))
    # (loads stay: their axis maps give the index space its extents)
    return dataclasses.replace(kernel, body=K.live_body(tuple(b.body), (K.Load, K.Reduce, K.Store, K.Check)))


class _Builder:
    """The new body, built instruction by instruction at ``level``; pure instructions
    are made once (equal ones share an id)."""

    def __init__(self):
        self.body, self.memo, self.level = [], {}, 0

    def put(self, ins):
        pure = isinstance(ins, (K.Const, K.ScalarOp, K.Cast))
        if pure and ins in self.memo:
            return self.memo[ins]
        self.body.append(ins)
        if pure:
            self.memo[ins] = len(self.body) - 1
        return len(self.body) - 1

    def dtype(self, v):
        return self.body[v].dtype

    def const(self, dtype, value):
        return self.put(K.Const(dtype, value, 0))

    def op(self, dtype, name, *args):
        return self.scalar(dtype, name, list(args))

    def cast(self, dtype, v):
        src = self.dtype(v)
        if src == dtype:
            return v
        if _kind(dtype) in "iub" and K.const_int(self.body, v, dtype) is not None:
            return self.const(dtype, K.const_int(self.body, v, dtype))  # (wrapping: exact)
        if _kind(src) == "f" and _kind(dtype) in "iu":
            return _float_to_int(self, v, src, dtype)
        return self.put(K.Cast(dtype, v, self.level))

    def to_int(self, v, dtype):
        """``v`` converted to ``dtype`` where that is a float to integer conversion, which
        is not a primitive; other conversions stay implicit (renderers convert)."""
        return self.cast(dtype, v) if _kind(self.dtype(v)) == "f" and _kind(dtype) in "iu" else v

    def scalar(self, dtype, op, args):
        """ScalarOp ``op`` on the new values ``args``: decomposed, or emitted as it is."""
        dtypes = [self.dtype(a) for a in args]
        loop = K.loop_dtype(op, dtype, dtypes)
        if op == "switch":
            args = [args[0]] + [self.to_int(a, dtype) for a in args[1:]]
        elif op == "second":
            args = [args[0], self.to_int(args[1], dtype)]
        elif op not in K.PREDICATES and op != "ftoi":
            args = [self.to_int(a, loop) for a in args]
        rule = _rule(op, loop, dtypes)
        if rule is not None:
            return rule(self, dtype, op, args)
        return self.put(K.ScalarOp(dtype, op, tuple(args), self.level))


def _kind(dtype):
    return np.dtype(dtype).kind


def _rule(op, loop, dtypes):
    """The decomposition of ``op`` computing in ``loop`` (None: ``op`` is primitive there)."""
    if op in ("switch", "second", "identity") or op in K.PRIMITIVE_OPS:
        return None
    if loop == "float16":
        return _half
    kind = _kind(loop)
    if op in _COMPARE and kind == "f" and all(_kind(d) in "iub" for d in dtypes):
        return _mixed_compare
    return _RULES.get((op, "iu" if kind in "iu" else kind)) or _RULES.get((op, "*"))


# ------------------------------------------------------------ float16

def _half(b, dtype, op, args):
    """NumPy's float16 loops: the arguments (rounded to float16) in float32, the result
    rounded to float16 once per op; between equal values (+0.0 and -0.0) its maximum
    and minimum keep the first."""
    args = [b.cast("float32", b.cast("float16", a)) for a in args]
    if op in K.PREDICATES:
        return b.op(dtype, op, *args)
    if op in _TIES:
        return b.cast(dtype, _TIES[op](b, "float32", args, first=True))
    return b.cast(dtype, b.op("float32", op, *args))


# ------------------------------------------------------------ integers

def _int_divmod(b, dtype, op, args):
    """Python's floor division and modulo on ``dtype``'s wrapping integers: ``x // 0`` and
    ``x % 0`` are 0, ``MIN // -1`` is MIN (no trap): the truncating primitives on a divisor
    made safe, then the floor correction where the remainder's sign differs from ``b``'s."""
    a, d = (b.cast(dtype, v) for v in args)
    zero = b.op("bool", "eq", d, b.const(dtype, 0))
    bad = zero
    if _kind(dtype) == "i":
        lowest = b.op("bool", "eq", a, b.const(dtype, np.iinfo(dtype).min))
        minus_one = b.op("bool", "eq", d, b.const(dtype, -1))
        bad = b.op("bool", "or_", zero, b.op("bool", "and_", lowest, minus_one))
    safe = b.op(dtype, "switch", bad, b.const(dtype, 1), d)
    q = b.op(dtype, "div_trunc", a, safe)
    m = b.op(dtype, "rem_trunc", a, safe)
    if _kind(dtype) == "i":
        signs_differ = b.op("bool", "lt", b.op(dtype, "xor", m, d), b.const(dtype, 0))
        adjust = b.op("bool", "and_", b.op("bool", "neq", m, b.const(dtype, 0)), signs_differ)
        q = b.op(dtype, "switch", adjust, b.op(dtype, "sub", q, b.const(dtype, 1)), q)
        m = b.op(dtype, "switch", adjust, b.op(dtype, "add", m, d), m)
    zeros = b.const(dtype, 0)
    return b.op(dtype, "switch", zero, zeros, q if op == "floor_div" else m)


def _int_pow(b, dtype, op, args):
    """Square and multiply, wrapping like NumPy: a constant exponent multiplies exactly as
    often as it needs; otherwise one step per bit of the exponent (branch free, so it
    vectorizes). A negative signed exponent is NumPy's error: a Check."""
    x, e = (b.cast(dtype, v) for v in args)
    signed = _kind(dtype) == "i"
    n = K.const_int(b.body, e, dtype)
    if n is not None:
        if n < 0:
            b.put(K.Check("bool", b.const("bool", True), K.NEGATIVE_POWER, b.level))
            return b.const(dtype, 0)
        bits = [int(c) for c in reversed(bin(n)[2:])]
    else:
        if signed:
            b.put(K.Check("bool", b.op("bool", "lt", e, b.const(dtype, 0)), K.NEGATIVE_POWER, b.level))
        bits = [None] * (8 * np.dtype(dtype).itemsize - signed)
    result = None  # (1)
    for i, bit in enumerate(bits):
        times = x if result is None else b.op(dtype, "mul", result, x)
        if bit is None:  # a run-time bit: multiply where it is set
            one = b.const(dtype, 1) if result is None else result
            mask = b.const(dtype, 1 << i)  # (wrapped to the dtype, as every integer Const)
            on = b.op("bool", "neq", b.op(dtype, "and_", e, mask), b.const(dtype, 0))
            result = b.op(dtype, "switch", on, times, one)
        elif bit:
            result = times
        if i < len(bits) - 1:
            x = b.op(dtype, "mul", x, x)
    return b.const(dtype, 1) if result is None else result


def _int_reciprocal(b, dtype, op, args):
    """NumPy computes ``1.0 / x`` in float64 and casts back (1 / 0 is inf: int32 MIN)."""
    q = b.op("float64", "true_div", b.const("float64", 1.0), b.cast("float64", args[0]))
    return b.cast(dtype, q)


def _mixed_compare(b, dtype, op, args):
    """int64-like against uint64 (NumPy 2 compares exactly, where the dtypes promote to
    float64): a negative signed value is below every unsigned one; otherwise both compare
    as uint64."""
    signed = [n for n, a in enumerate(args) if _kind(b.dtype(a)) == "i"]
    if not signed:  # (bool against uint64 promotes to uint64, never here)
        raise NotImplementedError(f"no exact comparison of {[b.dtype(a) for a in args]}")
    s = signed[0]
    negative = b.op("bool", "lt", b.cast("int64", args[s]), b.const("int64", 0))
    unsigned = [b.cast("uint64", b.cast("int64", a) if n == s else a) for n, a in enumerate(args)]
    known = _PYTHON_COMPARE[op](-1, 0) if s == 0 else _PYTHON_COMPARE[op](0, -1)
    return b.op(dtype, "switch", negative, b.const("bool", known), b.op(dtype, op, *unsigned))


_PYTHON_COMPARE = {"eq": lambda a, c: a == c, "neq": lambda a, c: a != c, "lt": lambda a, c: a < c,
                   "le": lambda a, c: a <= c, "gt": lambda a, c: a > c, "ge": lambda a, c: a >= c}


# ------------------------------------------------------------ floats

def _float_divmod(b, dtype, op, args):
    """NumPy's ``npy_divmod``: the floor quotient and the remainder with the sign of the
    divisor, from C's ``fmod``; ``x // 0`` is ``x / 0`` and ``x % 0`` is ``fmod(x, 0)``."""
    a, d = (b.cast(dtype, v) for v in args)
    zero, one = b.const(dtype, 0.0), b.const(dtype, 1.0)
    mod = b.op(dtype, "fmod", a, d)
    quot = b.op(dtype, "true_div", a, d)
    if op == "mod":
        nonzero = b.op("bool", "neq", mod, zero)
        adjust = b.op("bool", "and_", nonzero, b.op("bool", "xor", b.op("bool", "lt", d, zero),
                                                   b.op("bool", "lt", mod, zero)))
        mod = b.op(dtype, "switch", adjust, b.op(dtype, "add", mod, d), mod)
        mod = b.op(dtype, "switch", nonzero, mod, b.op(dtype, "copysign", zero, d))
        return b.op(dtype, "switch", b.op("bool", "eq", d, zero), b.op(dtype, "fmod", a, d), mod)
    div = b.op(dtype, "true_div", b.op(dtype, "sub", a, mod), d)
    nonzero = b.op("bool", "neq", mod, zero)
    adjust = b.op("bool", "and_", nonzero, b.op("bool", "xor", b.op("bool", "lt", d, zero),
                                               b.op("bool", "lt", mod, zero)))
    div = b.op(dtype, "switch", adjust, b.op(dtype, "sub", div, one), div)
    floor = b.op(dtype, "floor", div)
    up = b.op("bool", "gt", b.op(dtype, "sub", div, floor), b.const(dtype, 0.5))
    floor = b.op(dtype, "switch", up, b.op(dtype, "add", floor, one), floor)
    floordiv = b.op(dtype, "switch", b.op("bool", "neq", div, zero), floor,
                    b.op(dtype, "copysign", zero, quot))
    return b.op(dtype, "switch", b.op("bool", "eq", d, zero), quot, floordiv)


def _minmax(b, dtype, which, a, c, first):
    """NumPy's maximum/minimum of floats: NaN propagates; of two equal values (+0.0 and
    -0.0) the second, or the first when ``first``."""
    pred = {"max": "gt", "min": "lt"}[which]
    if first:
        pred = pred[0] + "e"  # ge / le
    take = b.op("bool", "or_", b.op("bool", pred, a, c), b.op("bool", "isnan", a))
    return b.op(dtype, "switch", take, a, c)


#: float ops whose choice between +0.0 and -0.0 is NumPy's: fn(builder, dtype, args, first)
_TIES = {
    "maximum": lambda b, dtype, args, first: _minmax(b, dtype, "max", *args, first),
    "minimum": lambda b, dtype, args, first: _minmax(b, dtype, "min", *args, first),
    # np.clip keeps x between equal bounds, for every float dtype
    "clip": lambda b, dtype, args, first: _minmax(b, dtype, "min", _minmax(b, dtype, "max", *args[:2], True),
                                                  args[2], True),
}


def _float_ties(b, dtype, op, args):
    return _TIES[op](b, dtype, [b.cast(dtype, a) for a in args], first=False)


def _sign(b, dtype, op, args):
    """-1, 0 or 1 (0.0 for -0.0; NaN stays NaN)."""
    x = b.cast(dtype, args[0])
    zero, kind = b.const(dtype, 0), _kind(dtype)
    if kind == "u":
        return b.op(dtype, "switch", b.op("bool", "neq", x, zero), b.const(dtype, 1), zero)
    v = zero if kind != "f" else b.op(dtype, "switch", b.op("bool", "eq", x, zero), zero, x)
    v = b.op(dtype, "switch", b.op("bool", "lt", x, zero), b.const(dtype, -1), v)
    return b.op(dtype, "switch", b.op("bool", "gt", x, zero), b.const(dtype, 1), v)


# ------------------------------------------------------------ small ones

def _clip(b, dtype, op, args):
    x, lo, hi = (b.cast(dtype, a) for a in args)
    return b.op(dtype, "minimum", b.op(dtype, "maximum", x, lo), hi)


def _same(b, dtype, op, args):
    return b.cast(dtype, args[0])


def _sqr(b, dtype, op, args):
    x = b.cast(dtype, args[0])
    return b.op(dtype, "mul", x, x)


def _invert(b, dtype, op, args):
    return b.op(dtype, "xor", b.cast(dtype, args[0]), b.const(dtype, True if dtype == "bool" else -1))


def _logical_not(b, dtype, op, args):
    return b.op(dtype, "eq", args[0], b.const(b.dtype(args[0]), 0))


def _float_class(b, dtype, op, args):
    return b.const(dtype, op == "isfinite")  # an integer is finite and a number


#: (op, kind of its loop dtype: f, iu, b or * for any) -> fn(builder, dtype, op, args)
_RULES = {
    ("floor_div", "iu"): _int_divmod, ("mod", "iu"): _int_divmod,
    ("floor_div", "f"): _float_divmod, ("mod", "f"): _float_divmod,
    ("pow", "iu"): _int_pow, ("reciprocal", "iu"): _int_reciprocal,
    ("maximum", "f"): _float_ties, ("minimum", "f"): _float_ties, ("clip", "f"): _float_ties,
    ("clip", "iu"): _clip, ("clip", "b"): _clip,
    ("sign", "f"): _sign, ("sign", "iu"): _sign,
    ("sqr", "*"): _sqr, ("invert", "iu"): _invert, ("invert", "b"): _invert,
    ("logical_not", "*"): _logical_not,
    ("isnan", "iu"): _float_class, ("isinf", "iu"): _float_class, ("isfinite", "iu"): _float_class,
    ("isnan", "b"): _float_class, ("isinf", "b"): _float_class, ("isfinite", "b"): _float_class,
    ("abs", "b"): _same,
    **{(op, k): _same for op in ("floor", "ceil", "trunc", "round") for k in ("iu", "b")},
}


# ------------------------------------------------------------ float -> int
# NumPy's astype from float to int is a C cast, which x86-64 compiles to cvtt*2si: truncation,
# and the "integer indefinite" MIN for NaN and anything out of range (docs/design.md, "Float to
# integer casts"). ``ftoi`` is only ever given a value in range.

def _cvtt(b, v, src, bits):
    """x86's cvtt*2si to ``bits``-bit integers of the float ``v`` (dtype ``src``): trunc(v),
    or the signed minimum where that is out of range or ``v`` is NaN."""
    ity = f"int{bits}"
    lo = -2.0 ** (bits - 1)
    below = lo - 1.0  # the largest value that truncates out of range, where src holds it
    if float(np.array(below, src)) == below:
        above_lo = b.op("bool", "gt", v, b.const(src, below))
    else:
        above_lo = b.op("bool", "ge", v, b.const(src, lo))
    ok = b.op("bool", "and_", above_lo, b.op("bool", "lt", v, b.const(src, -lo)))
    w = b.op(ity, "ftoi", b.op(src, "switch", ok, v, b.const(src, 0.0)))
    return b.op(ity, "switch", ok, w, b.const(ity, int(lo)))


def _float_to_int(b, v, src, dst):
    """NumPy's (x86-64) ``astype`` of the float ``v`` to the integer ``dst``:

    - int8..int32, uint8, uint16: cvtt to int32, then the low bits;
    - int64: cvtt to int64;
    - uint32, uint64: ``v >= 2**(b-1) ? cvtt(v - 2**(b-1)) ^ MIN : cvtt(v)`` in b bits, as
      NumPy's SIMD loops do; float16 to uint32 has no SIMD loop: the low 32 bits of cvtt
      to int64.
    """
    half = src == "float16"
    if half:
        v, src = b.cast("float32", v), "float32"
    bits = 8 * np.dtype(dst).itemsize
    if _kind(dst) == "i" or bits < 32:
        w = _cvtt(b, v, src, max(bits, 32))
    elif half and bits == 32:
        w = _cvtt(b, v, src, 64)
    else:
        big = b.const(src, 2.0 ** (bits - 1))
        ity = f"int{bits}"
        high = _cvtt(b, b.op(src, "sub", v, big), src, bits)
        high = b.op(ity, "xor", high, b.const(ity, -(1 << (bits - 1))))
        w = b.op(ity, "switch", b.op("bool", "ge", v, big), high, _cvtt(b, v, src, bits))
    return b.cast(dst, w)  # (integer to integer: the low bits)
