"""The transcendental functions, written once over a small :class:`Emitter` interface.

Each body (``_exp``, ``_log_any``, ``_erfc``...) computes one function of
:data:`MATH_FUNCTIONS` for float32 or float64 with only what every target
has and a vectorizer widens: float arithmetic, ``fma``, ``fabs``, ``sqrt``,
``rint``, ``floor``, ``copysign``, compares and selects, bit casts and
integer ops on the float's bits (no libm call, no float-to-int conversion:
the shifter trick instead). An emitter turns each call into target text:
:class:`~arignote.compiler.llvm_math.LLVMEmitter` LLVM IR for the cpu
backend, :class:`~arignote.compiler.c_math.CEmitter` C (which the CUDA
renderer will use), so the polynomials, reductions and edge cases are
decided once. Every fused multiply-add is an explicit ``fma`` (correctly
rounded on every target) and every other op rounds as IEEE says: a function
gives the same bits on every target, in a vector loop or not (docs/design.md,
"A value has one value"); the compensated sums (Cody-Waite, TwoSum) need
that strictness too. Methods, accuracy, timings: docs/transcendentals.md.
Every number in :data:`_COEFFS` (polynomials, split constants) is generated
by :mod:`arignote.compiler.llvm_math_fit` (``--fit``).
"""
import functools
import math
import struct

import numpy as np

__all__ = ["Emitter", "MATH_FUNCTIONS", "SPECS", "function_name", "spec"]


class _Spec:
    """What the bodies need to know about a float dtype."""

    def __init__(self, dtype, mant, bias):
        self.dtype, self.np = dtype, np.dtype(dtype).type
        self.mant, self.bias = mant, bias
        self.bits, self.sfx = (64, "f64") if mant > 30 else (32, "f32")
        self.shifter = 1.5 * 2.0 ** mant  # x + shifter: round to integer, integer in the low bits

    def ibits(self, v):
        """Bit pattern of float ``v`` in this dtype, as a signed integer."""
        fmt, ifmt = ("<d", "<q") if self.sfx == "f64" else ("<f", "<i")
        return struct.unpack(ifmt, struct.pack(fmt, v))[0]


SPECS = {"float32": _Spec("float32", 23, 127), "float64": _Spec("float64", 52, 1023)}


def spec(dtype):
    """The :class:`_Spec` of float32 or float64 (ValueError for any other dtype)."""
    try:
        return SPECS[np.dtype(dtype).name]
    except (KeyError, TypeError):
        raise ValueError(f"no vectorized math for dtype {dtype!r}: float32 and float64 only") from None


def function_name(op, dtype):
    """The symbol computing ``op`` on ``dtype`` on every target, e.g. ``ag_exp_f32``."""
    if op not in MATH_FUNCTIONS:
        raise ValueError(f"no vectorized math function {op!r}; known: {sorted(MATH_FUNCTIONS)}")
    return f"ag_{op}_{spec(dtype).sfx}"


# ------------------------------------------------------------ the emitter interface

class Emitter:
    """What the bodies are written over: one function body of one dtype (``self.s``).

    Values are whatever an emitter hands back (names of SSA values, C variables);
    Python floats are float constants and Python ints integer constants, rounded /
    wrapped to the dtype (integers: the signed integer of the float's width).
    A subclass implements the primitives below; the idioms after them are written
    over the primitives, once. Compare predicates are LLVM's: ``o``-rdered ones
    (``olt``, ``ogt``, ``oeq``, ``oge``, ``ole``, ``one``) are false when an operand
    is NaN, ``u``-nordered ones (``ult``, ``ugt``, ``ueq``, ``uge``, ``ule``,
    ``une``) true; integer ones are ``eq``, ``ne``, ``slt``, ``sgt``, ``sle``, ``sge``.
    Integer ops (``iop``) are ``add``, ``sub`` and ``shl`` (wrapping), ``ashr``
    (arithmetic), ``and``, ``xor``."""

    def __init__(self, spec):
        self.s, self.deps = spec, []

    # ---- primitives
    def add(self, a, b): raise NotImplementedError
    def sub(self, a, b): raise NotImplementedError
    def mul(self, a, b): raise NotImplementedError
    def div(self, a, b): raise NotImplementedError
    def fma(self, a, b, c): raise NotImplementedError  # a * b + c, rounded once
    def neg(self, a): raise NotImplementedError
    def fabs(self, a): raise NotImplementedError
    def sqrt(self, a): raise NotImplementedError
    def rint(self, a): raise NotImplementedError  # to the nearest integer, ties to even
    def floor(self, a): raise NotImplementedError
    def copysign(self, a, b): raise NotImplementedError
    def cmp(self, pred, a, b): raise NotImplementedError  # floats -> condition
    def sel(self, c, a, b): raise NotImplementedError  # c ? a : b, floats
    def iop(self, opc, a, b): raise NotImplementedError  # integers
    def icmp(self, pred, a, b): raise NotImplementedError  # integers -> condition
    def isel(self, c, a, b): raise NotImplementedError  # c ? a : b, integers
    def to_int(self, a): raise NotImplementedError  # the float's bits as an integer
    def to_float(self, a): raise NotImplementedError  # an integer's bits as a float
    def call_function(self, name, a): raise NotImplementedError  # another function, by symbol

    def call(self, op, a):
        """``op`` of this library on ``a`` (its definition is a dependency)."""
        self.deps.append(op)
        return self.call_function(function_name(op, self.s.dtype), a)

    # ---- idioms, over the primitives
    def horner(self, x, coeffs):
        acc = coeffs[-1]
        for c in reversed(coeffs[:-1]):
            acc = self.fma(acc, x, c)
        return acc

    def clamp(self, x, lo=None, hi=None):
        """Clamp keeping NaN (minnum/maxnum would drop it)."""
        if lo is not None:
            x = self.sel(self.cmp("olt", x, lo), lo, x)
        if hi is not None:
            x = self.sel(self.cmp("ogt", x, hi), hi, x)
        return x

    def imin(self, a, b):
        """Signed min of two integers."""
        return self.isel(self.icmp("sgt", a, b), b, a)

    def ismax(self, a, b):
        """Signed max of two integers."""
        return self.isel(self.icmp("sgt", a, b), a, b)

    def round_int(self, x):
        """(rint(x) as float, as integer) for |x| < 2**(mant-1): the shifter trick."""
        sh = self.add(x, self.s.shifter)
        return self.sub(sh, self.s.shifter), self.iop("sub", self.to_int(sh), self.s.ibits(self.s.shifter))

    def int_to_float(self, i):
        """Small integer to float: the shifter trick backwards."""
        return self.sub(self.to_float(self.iop("add", i, self.s.ibits(self.s.shifter))), self.s.shifter)

    def pow2(self, ki):
        """2**ki for an integer ki in [1-bias, bias] (exponent field)."""
        return self.to_float(self.iop("shl", self.iop("add", ki, self.s.bias), self.s.mant))

    def xor_sign(self, v, ibits):
        return self.to_float(self.iop("xor", self.to_int(v), ibits))

    def sign_of(self, x):
        return self.iop("and", self.to_int(x), self.s.ibits(-0.0))


def emit_function(emitter, op, x):
    """Run ``op``'s body on ``emitter`` with the argument ``x``: its result value."""
    return MATH_FUNCTIONS[op](emitter, x)


def _c(e, name):
    return _COEFFS[f"{name}_{e.s.sfx}"]


def _k(e, name):
    """A constant split into dtype values (Cody-Waite: the head's low bits are zero)."""
    return _COEFFS[f"consts_{e.s.sfx}"][name]


# ------------------------------------------------------------ exp family

def _exp_reduce(e, x, lo=None):
    """x = k ln2 + r, |r| <= ln2/2 (+ an exact low part ``lo`` of x); x must be clamped."""
    kf, ki = e.round_int(e.mul(x, _k(e, "inv_ln2")[0]))
    hi, mid = _k(e, "ln2")
    r = e.fma(kf, -hi, x)
    r = e.fma(kf, -mid, r)
    if lo is not None:
        r = e.add(r, lo)
    return kf, ki, r


def _em1(e, r):
    """expm1(r) for |r| <= ln2/2: r + r^2 P(r)."""
    return e.fma(e.mul(r, r), e.horner(r, _c(e, "em1")), r)


def _scale(e, p, ki, shift=0):
    """p * 2**(ki+shift) in two exact steps: overflow to inf, one rounding into denormals."""
    if shift:
        ki = e.iop("add", ki, shift)
    k1 = e.iop("ashr", ki, 1)
    return e.mul(e.mul(p, e.pow2(k1)), e.pow2(e.iop("sub", ki, k1)))


def _exp_bounds(s):
    """Clamp limits beyond which exp is inf / 0 (and 2**k stays in _scale's range)."""
    ln2 = math.log(2)
    return -(s.bias + s.mant + 2) * ln2 - 1, (s.bias + 1) * ln2 + 1


def _exp(e, x, shift=0):
    lo, hi = _exp_bounds(e.s)
    xc = e.clamp(x, lo, hi)
    kf, ki, r = _exp_reduce(e, xc)
    return _scale(e, e.add(_em1(e, r), 1.0), ki, shift)


def _exp2(e, x):
    s = e.s
    xc = e.clamp(x, -(s.bias + s.mant + 3), s.bias + 2)
    kf, ki = e.round_int(xc)
    r = e.mul(e.sub(xc, kf), math.log(2))
    return _scale(e, e.add(_em1(e, r), 1.0), ki)


def _expm1_core(e, x, hi_k):
    """expm1(x) for x clamped to [-(mant+3) ln2, (hi_k + 0.4) ln2], hi_k <= bias + 1."""
    s = e.s
    kf, ki, r = _exp_reduce(e, x)
    em = _em1(e, r)
    if hi_k > s.bias:  # k == bias+1: 2**k overflows, use 2**(k-1) * (2 em + 1) + 2**(k-1) - 1
        big = e.icmp("sgt", ki, s.bias)
        ki = e.isel(big, s.bias, ki)
        em = e.sel(big, e.fma(em, 2.0, 1.0), em)
    p2 = e.pow2(ki)
    return e.fma(p2, em, e.sub(p2, 1.0))


def _expm1(e, x):
    s = e.s
    ln2 = math.log(2)
    xc = e.clamp(x, -(s.mant + 3) * ln2, (s.bias + 1.4) * ln2)
    res = _expm1_core(e, xc, s.bias + 1)
    return e.sel(e.cmp("oeq", x, 0.0), x, res)  # keep the sign of zero


def _tanh(e, x):
    a = e.clamp(e.fabs(x), hi=(e.s.mant + 4) * math.log(2) / 2)  # beyond: tanh rounds to 1
    em = _expm1_core(e, e.add(a, a), 0)  # tanh a = expm1(2a) / (expm1(2a) + 2)
    return e.copysign(e.div(em, e.add(em, 2.0)), x)


def _sigmoid(e, x):
    t = _exp(e, e.neg(e.fabs(x)))
    num = e.sel(e.cmp("oge", x, 0.0), 1.0, t)
    return e.div(num, e.add(t, 1.0))


def _cosh(e, x):
    a = e.clamp(e.fabs(x), hi=(e.s.bias + 3) * math.log(2))
    h = _exp(e, a, shift=-1)  # e**a / 2
    return e.add(h, e.div(0.25, h))


def _sinh(e, x):
    s = e.s
    a = e.clamp(e.fabs(x), hi=(s.bias + 3) * math.log(2))
    kf, ki, r = _exp_reduce(e, a)
    em1r = _em1(e, r)
    large = _scale(e, e.add(em1r, 1.0), ki, -1)
    p2 = e.pow2(e.imin(ki, s.mant + 4))
    em = e.fma(p2, em1r, e.sub(p2, 1.0))  # expm1(a): no cancellation in (em + em/(em+1))/2
    small = e.mul(e.add(em, e.div(em, e.add(em, 1.0))), 0.5)
    res = e.sel(e.cmp("olt", a, (s.mant + 4) * math.log(2) / 2), small, large)
    return e.copysign(res, x)


# ------------------------------------------------------------ log family

def _log_core(e, u, c=None, denormals=True):
    """u = 2**E m, m in [sqrt(1/2), sqrt(2)): (E as float, hi, lo), log m = hi + lo.

    ``c`` is an exact low part of the argument (u + c), folded into m - 1.
    """
    s = e.s
    if denormals:
        tiny = e.cmp("olt", u, 2.0 ** (1 - s.bias))
        u = e.sel(tiny, e.mul(u, 2.0 ** s.mant), u)
    bits = e.to_int(u)
    ei = e.iop("ashr", e.iop("sub", bits, s.ibits(math.sqrt(0.5))), s.mant)
    m = e.to_float(e.iop("sub", bits, e.iop("shl", ei, s.mant)))
    ef = e.int_to_float(ei)
    if denormals:
        ef = e.sub(ef, e.sel(tiny, float(s.mant), 0.0))
    f = e.sub(m, 1.0)                       # exact
    d = e.add(f, 2.0)
    derr = e.add(e.sub(2.0, d), f)          # exact: d + derr = 2 + f
    sq = e.div(f, d)
    res = e.fma(e.neg(sq), d, f)            # exact residual f - sq d
    if c is not None:
        negE = e.ismax(e.iop("sub", 0, ei), 2 - s.bias)  # clamped: 2**-E stays a normal number
        fc = e.mul(c, e.pow2(negE))
        derr = e.add(derr, fc)
        res = e.add(res, fc)
    res = e.fma(e.neg(sq), derr, res)       # (f + fc) - sq (d + derr)
    z = e.mul(sq, sq)
    lo = e.fma(res, e.sub(1.0, sq), e.mul(e.mul(sq, z), e.horner(z, _c(e, "log"))))
    return ef, e.add(sq, sq), lo


#: base -> (E's factor log_b 2, or None for 1; the factor 1/ln b of log m, or None for 1), split
_LOG_BASES = {"log": ("ln2", None), "log2": (None, "inv_ln2"), "log10": ("log10_2", "inv_ln10")}


def _log_finish(e, ef, hi, lo, base):
    """E L + (hi + lo) C for log base b: L = log_b 2, C = 1/ln b, both split."""
    mult, div = _LOG_BASES[base]
    if div is not None:
        c_hi, c_lo = _k(e, div)
        t = e.mul(hi, c_hi)
        lo = e.fma(hi, c_lo, e.fma(lo, c_hi, e.fma(hi, c_hi, e.neg(t))))
        hi = t
    head = ef
    if mult is not None:
        l_hi, l_lo = _k(e, mult)
        head = e.mul(ef, l_hi)
        lo = e.fma(ef, l_lo, lo)
    return e.add(e.add(head, hi), lo)


def _log_specials(e, x, res, zero_at=0.0):
    res = e.sel(e.cmp("oeq", x, zero_at), -math.inf, res)
    res = e.sel(e.cmp("ult", x, zero_at), math.nan, res)   # below the domain, or NaN
    return e.sel(e.cmp("oeq", x, math.inf), math.inf, res)


def _log_any(e, x, base):
    return _log_specials(e, x, _log_finish(e, *_log_core(e, x), base))


def _log1p(e, x, checks=True):
    u = e.add(x, 1.0)                        # TwoSum: u + c = 1 + x exactly
    bb = e.sub(u, x)
    c = e.add(e.sub(x, e.sub(u, bb)), e.sub(1.0, bb))
    res = _log_finish(e, *_log_core(e, u, c, denormals=False), "log")
    if not checks:
        return res
    res = _log_specials(e, x, res, -1.0)
    return e.sel(e.cmp("oeq", x, 0.0), x, res)


def _softplus(e, x):
    t = _exp(e, e.neg(e.fabs(x)))
    return e.add(_log1p(e, t, checks=False), e.sel(e.cmp("ogt", x, 0.0), x, 0.0))


# ------------------------------------------------------------ trigonometric

def _trig_core(e, a):
    """a >= 0: (quadrant q as integer, sin r, cos r) with a = q pi/2 + r."""
    c_hi, c_lo = _k(e, "two_over_pi")
    y = e.mul(a, c_hi)
    y_lo = e.fma(a, c_lo, e.fma(a, c_hi, e.neg(y)))  # a 2/pi = y + y_lo
    kf = e.rint(y)
    kf = e.add(kf, e.rint(e.add(e.sub(y, kf), y_lo)))  # nearest to the exact a 2/pi
    r = a
    for part in _k(e, "pio2"):
        r = e.fma(kf, -part, r)
    z = e.mul(r, r)
    sin_r = e.fma(e.mul(z, r), e.horner(z, _c(e, "sin")), r)
    cos_r = e.fma(z, e.fma(z, e.horner(z, _c(e, "cos")), -0.5), 1.0)
    q = e.sub(kf, e.mul(e.floor(e.mul(kf, 0.25)), 4.0))  # k mod 4, exact for any k
    return e.round_int(q)[1], sin_r, cos_r


def _sincos(e, x, which):
    s = e.s
    q, sin_r, cos_r = _trig_core(e, e.fabs(x))
    if which == "cos":
        q = e.iop("add", q, 1)
    odd = e.icmp("ne", e.iop("and", q, 1), 0)
    res = e.sel(odd, cos_r, sin_r)
    flip = e.iop("shl", e.iop("and", q, 2), s.bits - 2)
    if which == "sin":
        flip = e.iop("xor", flip, e.sign_of(x))
    return e.clamp(e.xor_sign(res, flip), -1.0, 1.0)  # past the accurate range: still in [-1, 1]


def _tan(e, x):
    s = e.s
    q, sin_r, cos_r = _trig_core(e, e.fabs(x))
    sin_r, cos_r = e.clamp(sin_r, -1.0, 1.0), e.clamp(cos_r, -1.0, 1.0)  # no inf/inf past the range
    odd = e.icmp("ne", e.iop("and", q, 1), 0)
    res = e.div(e.sel(odd, cos_r, sin_r), e.sel(odd, sin_r, cos_r))
    flip = e.iop("shl", e.iop("and", q, 1), s.bits - 1)
    return e.xor_sign(res, e.iop("xor", flip, e.sign_of(x)))


def _arctan(e, x):
    a = e.fabs(x)
    c, b_hi, b_lo, last = 0.0, 0.0, 0.0, None
    for thr, ci, hi, lo in _c(e, "atan_sectors"):  # atan a = atan c + atan((a-c)/(1+ac))
        gt = e.cmp("ogt", a, thr)
        if ci == math.inf:
            last = gt
        else:
            c = e.sel(gt, ci, c)
        b_hi, b_lo = e.sel(gt, hi, b_hi), e.sel(gt, lo, b_lo)
    num = e.sel(last, -1.0, e.sub(a, c))
    den = e.sel(last, a, e.fma(a, c, 1.0))
    t = e.div(num, den)
    z = e.mul(t, t)
    res = e.add(b_hi, e.add(b_lo, e.fma(e.mul(t, z), e.horner(z, _c(e, "atan")), t)))
    return e.copysign(res, x)


def _arcsin(e, x):
    a = e.fabs(x)
    w = e.sel(e.cmp("olt", a, 0.5), e.fma(e.neg(a), a, 1.0), e.mul(e.sub(1.0, a), e.add(a, 1.0)))
    return e.copysign(e.call("arctan", e.div(a, e.sqrt(w))), x)


def _arccos(e, x):
    t = e.sqrt(e.div(e.sub(1.0, x), e.add(x, 1.0)))
    at = e.call("arctan", t)
    return e.add(at, at)


# ------------------------------------------------------------ hyperbolic inverses

def _big_log(e, a):
    """log(2a) for large a: log(a) + ln2."""
    return e.add(e.call("log", a), math.log(2))


def _arcsinh(e, x):
    s = e.s
    a = e.fabs(x)
    z = e.mul(a, a)
    small = e.call("log1p", e.add(a, e.div(z, e.add(e.sqrt(e.add(z, 1.0)), 1.0))))
    big = e.cmp("ogt", a, 2.0 ** (s.mant // 2 + 2))
    return e.copysign(e.sel(big, _big_log(e, a), small), x)


def _arccosh(e, x):
    """Computed on max(x, 1) (no -inf from log1p(-1) for x = -2**31 and the like), NaN below 1."""
    xc = e.clamp(x, lo=1.0)
    t = e.sub(xc, 1.0)
    small = e.call("log1p", e.add(t, e.sqrt(e.mul(t, e.add(t, 2.0)))))
    res = e.sel(e.cmp("ogt", xc, 2.0 ** (e.s.mant // 2 + 2)), _big_log(e, xc), small)
    return e.sel(e.cmp("oge", x, 1.0), res, math.nan)


def _arctanh(e, x):
    a = e.fabs(x)
    res = e.mul(e.call("log1p", e.div(e.add(a, a), e.sub(1.0, a))), 0.5)
    return e.copysign(res, x)


# ------------------------------------------------------------ erf family

#: break points (in a) between the pieces of erfc's G; fitted pieces in t = 1/(1+a)
_ERFC_BREAKS = {"f32": (2.0,), "f64": (2.0, 4.0)}


def _erfc_pos(e, a):
    """erfc(a) for a >= 1/2: exp(-a^2) t G(t), t = 1/(1+a) carried to twice the precision."""
    s = e.s
    ac = e.clamp(a, hi=10.1 if s.sfx == "f32" else 27.3)  # erfc underflows to 0 beyond
    d = e.add(ac, 1.0)                       # TwoSum: d + d_lo = 1 + a
    bb = e.sub(d, ac)
    d_lo = e.add(e.sub(ac, e.sub(d, bb)), e.sub(1.0, bb))
    t = e.div(1.0, d)
    t_lo = e.mul(t, e.fma(e.neg(t), d_lo, e.fma(e.neg(t), d, 1.0)))
    pieces = _c(e, "erfc")

    def piecewise(get):  # per-lane choice of the piece's constant
        v = get(pieces[-1])
        for lim, p in reversed(list(zip(_ERFC_BREAKS[s.sfx], pieces[:-1]))):
            v = e.sel(e.cmp("olt", ac, lim), get(p), v)
        return v
    u = e.add(e.sub(t, piecewise(lambda p: p[0])), t_lo)
    n = max(len(p[1]) for p in pieces)
    g = e.horner(u, [piecewise(lambda p, j=j: p[1][j] if j < len(p[1]) else 0.0) for j in range(n)])
    h = e.mul(ac, ac)
    lo = e.fma(ac, ac, e.neg(h))             # a^2 = h + lo exactly
    lim_lo, _ = _exp_bounds(s)
    kf, ki, r = _exp_reduce(e, e.clamp(e.neg(h), lim_lo), e.neg(lo))
    g = e.fma(_em1(e, r), g, g)              # G e^r, then (t + t_lo) G e^r: two roundings
    return _scale(e, e.fma(t, g, e.mul(t_lo, g)), ki)


def _erf_small(e, a):
    return e.mul(a, e.horner(e.mul(a, a), _c(e, "erf")))


def _erf(e, x):
    a = e.fabs(x)
    res = e.sel(e.cmp("olt", a, 1.0), _erf_small(e, a), e.sub(1.0, _erfc_pos(e, a)))
    return e.copysign(res, x)


def _erfc(e, x):
    a = e.fabs(x)
    pos = e.sel(e.cmp("olt", a, 0.5), e.sub(1.0, _erf_small(e, a)), _erfc_pos(e, a))
    return e.sel(e.cmp("olt", x, 0.0), e.sub(2.0, pos), pos)


# ------------------------------------------------------------ the table and the API

#: Arignote's elementwise op name -> body generator
MATH_FUNCTIONS = {
    "exp": _exp, "exp2": _exp2, "expm1": _expm1,
    "log": functools.partial(_log_any, base="log"), "log2": functools.partial(_log_any, base="log2"),
    "log10": functools.partial(_log_any, base="log10"), "log1p": _log1p,
    "tanh": _tanh, "sigmoid": _sigmoid, "softplus": _softplus, "sinh": _sinh, "cosh": _cosh,
    "sin": functools.partial(_sincos, which="sin"), "cos": functools.partial(_sincos, which="cos"),
    "tan": _tan, "arctan": _arctan, "arcsin": _arcsin, "arccos": _arccos,
    "arcsinh": _arcsinh, "arccosh": _arccosh, "arctanh": _arctanh, "erf": _erf, "erfc": _erfc,
}


# ------------------------------------------------------------ fitted coefficients
# generated by `python -m arignote.compiler.llvm_math_fit --fit`
_COEFFS = {
    'em1_f32': (0.5, 0.1666666716337204, 0.04166645556688309, 0.00833331048488617, 0.0013934532180428505,
        0.00019891970441676676),
    'em1_f64': (0.5, 0.1666666666666667, 0.04166666666666666, 0.008333333333325369, 0.001388888888888342,
        0.00019841269877288246, 2.480158733702706e-05, 2.7557252408768636e-06, 2.755725611658459e-07,
        2.5106424518256023e-08, 2.0922086175704963e-09),
    'log_f32': (0.6666668653488159, 0.3998833894729614, 0.2959977388381958),
    'log_f64': (0.666666666666667, 0.3999999999988708, 0.285714286315476, 0.22222210234996834,
        0.18182953995596943, 0.15329587458982902, 0.14642562425477032),
    'sin_f32': (-0.166666641831398, 0.008332722820341587, -0.00019582523964345455),
    'sin_f64': (-0.16666666666666663, 0.008333333333330679, -0.0001984126983635719, 2.7557315896936533e-06,
        -2.5051089504685238e-08, 1.5915114376977183e-10),
    'cos_f32': (0.0416666641831398, -0.0013888278044760227, 2.4542563551221974e-05),
    'cos_f64': (0.041666666666666664, -0.0013888888888887222, 2.480158729850464e-05,
        -2.7557317138726054e-07, 2.0876118997041628e-09, -1.1380697167007456e-11),
    'atan_f32': (-0.3333333134651184, 0.199991837143898, -0.14229953289031982, 0.09873301535844803),
    'atan_f64': (-0.33333333333333237, 0.19999999999611243, -0.14285714029189758, 0.11111049132090782,
        -0.09084125999060552, 0.07348428665738818),
    'erf_f32': (1.1283791065216064, -0.37612342834472656, 0.11280316859483719, -0.026715055108070374,
        0.004921761807054281, -0.0005648059886880219),
    'erf_f64': (1.1283791670955126, -0.3761263890318354, 0.11283791670944841, -0.02686617064321682,
        0.005223977607003087, -0.0008548325972324924, 0.00012055294865893444, -1.4924736867520197e-05,
        1.6447430028302772e-06, -1.62085525445832e-07, 1.3720431013553025e-08, -7.796643330948427e-10),
    'erfc_f32': ((0.5, (0.8551671504974365, 0.47536182403564453, -0.3822290003299713, -0.11127039045095444,
        0.40690863132476807, -0.3056372106075287, -0.11111241579055786, 0.4816865622997284)),
        (0.21180953085422516, (0.6923495531082153, 0.6220993995666504, -0.047177478671073914,
        -0.6241176128387451, 0.1366008073091507, 1.0531210899353027, -0.8081969618797302,
        -1.765877604484558))),
    'erfc_f64': ((0.5, (0.855167152311614, 0.47536181364796015, -0.3822258999372285, -0.11127155815468395,
        0.4063572522441254, -0.30542427016658397, -0.07943823896686344, 0.468847337680341,
        -0.5794557471136923, 0.26939077252292076, 0.3744388481633215, -1.0385807514127956,
        1.2901252263936014, -0.7799183040974316, -0.6271193226143722, 2.8847495588567926,
        -3.9254530998912727)), (0.26666666666666666, (0.7262328610465075, 0.6114240643122,
        -0.14580904613193058, -0.5657176326827399, 0.3770556127254815, 0.6734010663234412,
        -1.2702673052924733, -0.0896239804366078, 3.068307912190638, -4.057450686949539,
        -2.0494217098918197, 14.9913495811213, -19.95208534237157)), (0.11810563380281691,
        (0.6341581514089499, 0.6144839255550075, 0.12612790023182088, -0.5743813896877107,
        -0.40605708840770477, 1.0804292070144308, 1.0152912375768155, -3.293318401585137,
        -2.341315930442193, 13.381018395166052, 1.423171506699981, -61.11187816619136, 46.901241309740534,
        248.82834440915448, -468.77772577810356))),
    'atan_sectors_f32': ((0.2679491937160492, 0.5773502588272095, 0.5235987901687622,
        -2.234227558517432e-08), (1.0, 1.7320507764816284, 1.0471975803375244, -3.691273775530135e-08),
        (3.732050895690918, math.inf, 1.5707963705062866, -4.371138828673793e-08)),
    'consts_f32': {'ln2': (0.693115234375, 3.194618329871446e-05), 'inv_ln2': (1.4426950216293335,
        1.925963033500011e-08), 'log10_2': (0.301025390625, 4.605039066518657e-06), 'inv_ln10':
        (0.4342944920063019, -1.0103049952192578e-08), 'pio2': (1.5707963705062866, -4.371138828673793e-08,
        -1.7151245100058819e-15), 'two_over_pi': (0.6366197466850281, 2.5682552973194106e-08)},
    'atan_sectors_f64': ((0.13165249758739583, 0.2679491924311227, 0.2617993877991494, 1.8752499114174e-17),
        (0.41421356237309503, 0.5773502691896257, 0.5235987755982988, 3.2330503585443845e-17),
        (0.7673269879789604, 0.9999999999999999, 0.7853981633974483, -2.4894981252574e-17),
        (1.3032253728412055, 1.7320508075688767, 1.0471975511965976, -2.1273584737110735e-17),
        (2.414213562373095, 3.7320508075688776, 1.3089969389957472, 3.8186159775540476e-20),
        (7.5957541127251424, math.inf, 1.5707963267948966, 6.123233995736766e-17)),
    'consts_f64': {'ln2': (0.6931471805601177, -1.7239444525614835e-13), 'inv_ln2': (1.4426950408889634,
        2.0355273740931033e-17), 'log10_2': (0.3010299956640665, -8.532344317057107e-14), 'inv_ln10':
        (0.4342944819032518, 1.098319650216765e-17), 'pio2': (1.5707963267948966, 6.123233995736766e-17,
        -1.4973849048591698e-33), 'two_over_pi': (0.6366197723675814, -3.935735335036497e-17)},
}

