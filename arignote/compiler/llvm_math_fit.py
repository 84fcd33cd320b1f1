"""How the transcendentals (:mod:`arignote.compiler.mathlib`) were made, and how to check them.

- exact constants (ln2, ln10, pi, sqrt(pi) by integer series), their Cody-Waite
  splits into dtype values, exact atan for the arctan sectors;
- longdouble references (erf, erfc, erfcx) and the polynomial fit: Chebyshev
  interpolants of series / reference functions evaluated in ``np.longdouble``
  (x87), converted to monomials exactly and rounded to the dtype;
- a standalone JIT of one ``apply`` loop per function (tests, benchmarks).

``python -m arignote.compiler.llvm_math_fit --fit [-v]`` prints the source of
``mathlib._COEFFS`` (polynomials, split constants, arctan sectors);
``--bench`` times float32 exp/tanh/sigmoid/erf loops against NumPy on one thread.
"""
import functools
import math
import sys
import textwrap
from fractions import Fraction

import numpy as np

from arignote.compiler.llvm_math import LLVM_TYPES, math_ir
from arignote.compiler.mathlib import SPECS, function_name, spec

__all__ = ["apply_kernel_ir", "atan_exact", "atan_sectors", "erf_ld", "erfc_ld", "exact_constants", "fit",
           "fit_all", "fit_source", "jit_apply", "split", "split_constants"]

_LD = np.longdouble
_VERBOSE = False


# ------------------------------------------------------------ exact references

@functools.lru_cache(None)
def exact_constants():
    """ln2, ln10, pi, sqrt(pi) as Fractions good to 2**-320 (integer series)."""
    one = 1 << 330

    def series(n, alternate):  # atan(1/n) or atanh(1/n) in fixed point
        total, term, k, n2 = 0, one // n, 1, n * n
        while term:
            total += -(term // k) if alternate and k % 4 == 3 else term // k
            term //= n2
            k += 2
        return total
    pi = 16 * series(5, True) - 4 * series(239, True)
    ln2 = 2 * series(3, False)
    ln10 = 3 * ln2 + 2 * series(9, False)  # ln(10/8) = 2 atanh(1/9)
    sqrt_pi = math.isqrt(pi * one)
    return {k: Fraction(v, one) for k, v in
            {"ln2": ln2, "ln10": ln10, "pi": pi, "sqrt_pi": sqrt_pi}.items()}


def _round_bits(x, bits):
    """Fraction ``x`` rounded to ``bits`` significant bits (a float)."""
    if x == 0:
        return 0.0
    e = math.floor(math.log2(abs(float(x))))
    scale = Fraction(2) ** (bits - 1 - e)
    return float(Fraction(round(x * scale)) / scale)


def split(x, spec, parts=2, head_bits=None):
    """``x`` as a sum of dtype values (Cody-Waite): the first one with ``head_bits`` bits."""
    out = []
    for i in range(parts):
        v = float(spec.np(_round_bits(x, head_bits if i == 0 and head_bits else spec.mant + 1)))
        out.append(v)
        x -= Fraction(v)
    return tuple(out)


def split_constants(sfx):
    """The constants of the bodies, split into dtype values; the heads multiplied by k must be
    exact (``mant - 11`` bits) where the reduction subtracts k times them."""
    s = SPECS["float32" if sfx == "f32" else "float64"]
    k = exact_constants()
    ln2, ln10, pio2 = k["ln2"], k["ln10"], k["pi"] / 2
    return {"ln2": split(ln2, s, 2, s.mant - 11), "inv_ln2": split(1 / ln2, s),
            "log10_2": split(ln2 / ln10, s, 2, s.mant - 11), "inv_ln10": split(1 / ln10, s),
            "pio2": split(pio2, s, 3), "two_over_pi": split(1 / pio2, s)}


def atan_exact(c):
    """atan of a float as a Fraction (2**-290): Euler's series, ratio y^2/(1+y^2) <= 1/2."""
    y = Fraction(c)
    flip = y > 1
    y = 1 / y if flip else y
    one = 1 << 330
    q = y * y / (1 + y * y)
    qf, term, total, n = int(q * one), int(y / (1 + y * y) * one), 0, 0
    while term:
        total += term
        n += 1
        term = term * qf * (2 * n) // ((2 * n + 1) * one)
    total = Fraction(total, one)
    return exact_constants()["pi"] / 2 - total if flip else total


def atan_sectors(sfx):
    """(threshold, c, atan(c) hi, lo) per sector of arctan: atan a = atan c + atan((a-c)/(1+ac));
    the last sector (c = inf) uses atan a = pi/2 + atan(-1/a)."""
    s = SPECS["float32" if sfx == "f32" else "float64"]
    n = 3 if sfx == "f32" else 6
    rows = []
    for i in range(1, n + 1):
        c = math.inf if i == n else float(s.np(math.tan(i * math.pi / (2 * n))))
        base = exact_constants()["pi"] / 2 if i == n else atan_exact(c)
        rows.append((float(s.np(math.tan((2 * i - 1) * math.pi / (4 * n)))), c, *split(base, s)))
    return tuple(rows)


def _ld(fr):
    """A Fraction as a longdouble (64 bits, 63 where the exponent estimate is one low: the table
    was fitted with this rounding, keep it so that ``--fit`` reproduces the table)."""
    fr = Fraction(fr)
    if fr == 0:
        return _LD(0)
    e = abs(fr).numerator.bit_length() - abs(fr).denominator.bit_length()
    q = round(fr * Fraction(2) ** (63 - e))
    sign, q = (-1 if q < 0 else 1), abs(q)
    return sign * np.ldexp(_LD(q >> 32) * _LD(2.0 ** 32) + _LD(q & 0xFFFFFFFF), e - 63)


def _poly_ld(coeffs, z):
    acc = np.zeros_like(z) + _ld(coeffs[-1])
    for c in reversed(coeffs[:-1]):
        acc = acc * z + _ld(c)
    return acc


def _erfcx_ld(a):
    """exp(a^2) erfc(a) for a >= 0 in longdouble: a series below 1, a continued fraction above."""
    a = np.asarray(a, _LD)
    k = exact_constants()
    two_sqrt_pi, inv_sqrt_pi = _ld(2 / k["sqrt_pi"]), _ld(1 / k["sqrt_pi"])
    lo = np.minimum(a, 1)
    term, total = lo.copy(), np.zeros_like(lo)
    for n in range(200):  # erf(a) e^(a^2) = 2/sqrt(pi) sum 2^n a^(2n+1) / (2n+1)!!
        total += term
        term = term * 2 * lo * lo / (2 * n + 3)
    series = np.exp(lo * lo) - two_sqrt_pi * total
    hi = np.maximum(a, 1)
    f = np.zeros_like(hi)
    for j in range(2000, 0, -1):
        f = (_LD(j) / 2) / (hi + f)
    return np.where(a < 1, series, inv_sqrt_pi / (hi + f))


def _exp_neg_sq_ld(a):
    """exp(-a^2) in longdouble for float64 a, with a^2 split into exactly representable parts."""
    a = np.minimum(np.abs(np.asarray(a, np.float64)), 1e300)
    ah = (a.view(np.int64) & ~np.int64((1 << 27) - 1)).view(np.float64)
    al = a - ah
    ah, al = ah.astype(_LD), al.astype(_LD)
    return np.exp(-ah * ah) * np.exp(-2 * ah * al) * np.exp(-al * al)


def erf_ld(x):
    """Reference erf in longdouble (float64 inputs)."""
    x = np.asarray(x, np.float64)
    a = np.abs(x).astype(_LD)
    coeffs = _FIT_TARGETS["erf"][0]
    small = a * _poly_ld(coeffs, a * a)
    big = 1 - _erfcx_ld(np.maximum(a, 1)) * _exp_neg_sq_ld(np.maximum(np.abs(x), 1))
    return np.copysign(np.where(a < 1, small, big), x)


def erfc_ld(x):
    """Reference erfc in longdouble (float64 inputs)."""
    x = np.asarray(x, np.float64)
    a = np.abs(x)
    pos = np.where(a < 0.5, 1 - np.abs(erf_ld(np.minimum(a, 0.5))),
                   _erfcx_ld(a) * _exp_neg_sq_ld(a))
    return np.where(x < 0, 2 - pos, pos)


def _fact(n):
    return math.factorial(n)


def _series_coeffs(fn, n=60):
    return [fn(i) for i in range(n)]


#: name -> (series coefficients in z, or None, weight(z, g) of the error, intervals per dtype)
_FIT_TARGETS = {
    "em1": (_series_coeffs(lambda n: Fraction(1, _fact(n + 2)), 40),
            lambda z, g: z * z / np.abs(np.expm1(z)), {"f32": (-0.35, 0.35), "f64": (-0.35, 0.35)}),
    "log": (_series_coeffs(lambda n: Fraction(2, 2 * n + 3)),
            lambda z, g: z / 2, {"f32": (0.0, 0.03), "f64": (0.0, 0.03)}),
    "sin": (_series_coeffs(lambda n: Fraction((-1) ** (n + 1), _fact(2 * n + 3)), 30),
            lambda z, g: z, {"f32": (0.0, 0.63), "f64": (0.0, 0.63)}),
    "cos": (_series_coeffs(lambda n: Fraction((-1) ** n, _fact(2 * n + 4)), 30),
            lambda z, g: z * z / np.cos(np.sqrt(z)), {"f32": (0.0, 0.63), "f64": (0.0, 0.63)}),
    "atan": (_series_coeffs(lambda n: Fraction((-1) ** (n + 1), 2 * n + 3), 80),
             lambda z, g: z, {"f32": (0.0, 0.074), "f64": (0.0, 0.0177)}),
    "erf": (_series_coeffs(lambda n: 2 / exact_constants()["sqrt_pi"]
                           * Fraction((-1) ** n, _fact(n) * (2 * n + 1)), 70),
            lambda z, g: 1 / g, {"f32": (0.0, 1.0), "f64": (0.0, 1.0)}),
    # G(t) = erfcx(1/t - 1) / t, t = 1/(1+a), one interval per piece of a
    "erfc": (None, lambda z, g: 1 / g,
             {"f32": ((1 / 3 - 1e-3, 2 / 3 + 1e-3), (1 / 11.2, 1 / 3 + 1e-3)),
              "f64": ((1 / 3 - 1e-3, 2 / 3 + 1e-3), (0.2 - 1e-3, 1 / 3 + 1e-3), (1 / 28.4, 0.2 + 1e-3))}),
}

_DEGREES = {"em1": {"f32": (2, 8), "f64": (6, 13)}, "log": {"f32": (0, 5), "f64": (3, 10)},
            "sin": {"f32": (1, 6), "f64": (4, 10)}, "cos": {"f32": (1, 6), "f64": (4, 10)},
            "atan": {"f32": (1, 8), "f64": (4, 14)}, "erf": {"f32": (3, 10), "f64": (8, 20)},
            "erfc": {"f32": (4, 16), "f64": (8, 24)}}


def _target(name):
    coeffs = _FIT_TARGETS[name][0]
    if coeffs is not None:
        return lambda z: _poly_ld(coeffs, z)
    return lambda t: _erfcx_ld(1 / t - 1) / t


def _cheb_interp(g, lo, hi, deg):
    """Monomial coefficients (Fractions, exact) of g's interpolant at deg+1 Chebyshev nodes."""
    n = deg + 1
    pi = _ld(exact_constants()["pi"])
    th = pi * (np.arange(n, dtype=_LD) + _LD(0.5)) / n
    lo_f, hi_f = Fraction(lo), Fraction(hi)
    z = _ld((lo_f + hi_f) / 2) + _ld((hi_f - lo_f) / 2) * np.cos(th)
    gz = g(z)
    cheb = [Fraction(*(_LD(2) / n * np.sum(gz * np.cos(k * th))).as_integer_ratio()) for k in range(n)]
    cheb[0] /= 2
    # sum c_k T_k(u) in powers of u, then u = alpha z + beta
    t_prev, t_cur, mono = [Fraction(1)], [Fraction(0), Fraction(1)], [Fraction(0)] * n
    for k in range(n):
        tk = t_prev if k == 0 else t_cur
        for i, v in enumerate(tk):
            mono[i] += cheb[k] * v
        if k >= 1:
            t_prev, t_cur = t_cur, [-v for v in t_prev] + [Fraction(0)] * 2
            for i, v in enumerate(t_prev):
                t_cur[i + 1] += 2 * v
    alpha, beta = 2 / (hi_f - lo_f), -(hi_f + lo_f) / (hi_f - lo_f)
    out = [Fraction(0)]
    for c in reversed(mono):  # Horner on polynomials: out = out * (alpha z + beta) + c
        nxt = [Fraction(0)] * (len(out) + 1)
        for i, v in enumerate(out):
            nxt[i] += v * beta
            nxt[i + 1] += v * alpha
        nxt[0] += c
        out = nxt
    return out[:n]


def fit(name, sfx):
    """Dtype-rounded coefficients of the smallest degree whose weighted error is small enough.

    Multi-piece targets give ``((center, coeffs), ...)``: each piece is a polynomial in t - center
    (monomials about a far-away 0 would lose everything to cancellation).
    """
    spec = SPECS["float32" if sfx == "f32" else "float64"]
    intervals = _FIT_TARGETS[name][2][sfx]
    pieces = intervals if isinstance(intervals[0], tuple) else (intervals,)
    g, w = _target(name), _FIT_TARGETS[name][1]
    unit = 2.0 ** -(spec.mant + 1)
    out = []
    for lo, hi in pieces:
        center = float(spec.np((lo + hi) / 2)) if len(pieces) > 1 else 0.0
        zs = np.linspace(_LD(lo), _LD(hi), 2001)
        gz = g(zs)
        best = None
        for deg in range(*_DEGREES[name][sfx]):
            fr = _cheb_interp(lambda u: g(u + _LD(center)), lo - center, hi - center, deg)
            c = tuple(float(spec.np(float(v))) for v in fr)
            with np.errstate(invalid="ignore"):  # 0/0 weights at z = 0
                err = float(np.nanmax(np.abs(w(zs, gz) * (_poly_ld(c, zs - _LD(center)) - gz)))) / unit
            if _VERBOSE:
                print(name, sfx, lo, deg, err, file=sys.stderr)
            if best is None or err < best[0] * 0.7:
                best = (err, c)
            if err <= 0.25:
                break
        out.append((center, best[1]))
    return tuple(out) if len(pieces) > 1 else out[0][1]


def fit_all():
    """Every entry of ``mathlib._COEFFS``: the fitted polynomials, the arctan sectors and the
    split constants."""
    table = {f"{name}_{sfx}": fit(name, sfx) for name in _FIT_TARGETS for sfx in ("f32", "f64")}
    for sfx in ("f32", "f64"):
        table[f"atan_sectors_{sfx}"] = atan_sectors(sfx)
        table[f"consts_{sfx}"] = split_constants(sfx)
    return table


def fit_source():
    """The ``_COEFFS`` table as Python source."""
    def fmt(v):
        if isinstance(v, float):
            return "math.inf" if v == math.inf else repr(v)
        if isinstance(v, dict):
            return "{" + ", ".join(f"{k!r}: {fmt(x)}" for k, x in v.items()) + "}"
        return "(" + ", ".join(fmt(x) for x in v) + ("," if len(v) == 1 else "") + ")"
    lines = ["_COEFFS = {"]
    for key, v in fit_all().items():
        lines += textwrap.wrap(f"{key!r}: {fmt(v)},", 108, initial_indent=" " * 4, subsequent_indent=" " * 8)
    return "\n".join(lines) + "\n}\n"


# ------------------------------------------------------------ a standalone JIT (tests, --bench)

def apply_kernel_ir(op, dtype):
    """``void apply_<fn>(T* noalias in, T* noalias out, i64 n)``: out[i] = op(in[i])."""
    ty, fn = LLVM_TYPES[spec(dtype).dtype][0], function_name(op, dtype)
    return f"""define void @apply_{fn}(ptr noalias %in, ptr noalias %out, i64 %n) {{
entry:
  %c = icmp sgt i64 %n, 0
  br i1 %c, label %loop, label %done
loop:
  %i = phi i64 [0, %entry], [%i1, %loop]
  %p = getelementptr inbounds {ty}, ptr %in, i64 %i
  %x = load {ty}, ptr %p
  %y = call {ty} @{fn}({ty} %x)
  %q = getelementptr inbounds {ty}, ptr %out, i64 %i
  store {ty} %y, ptr %q
  %i1 = add nuw nsw i64 %i, 1
  %e = icmp eq i64 %i1, %n
  br i1 %e, label %done, label %loop
done:
  ret void
}}
"""


def jit_apply(pairs):
    """Compile ``apply`` kernels for ``(op, dtype)`` pairs at O3 for the host CPU.

    Returns (engine, optimized IR text, {(op, dtype): f(array) -> array}); keep the engine alive.
    """
    import ctypes

    import llvmlite.binding as llvm
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    pairs = [(op, spec(dt).dtype) for op, dt in pairs]
    mod = llvm.parse_assembly(math_ir(pairs) + "\n".join(apply_kernel_ir(*p) for p in pairs))
    mod.verify()
    tm = llvm.Target.from_default_triple().create_target_machine(
        cpu=llvm.get_host_cpu_name(), features=llvm.get_host_cpu_features().flatten(), opt=3, jit=True)
    pto = llvm.create_pipeline_tuning_options(speed_level=3)
    pto.loop_vectorization = pto.slp_vectorization = True
    pb = llvm.create_pass_builder(tm, pto)
    pb.getModulePassManager().run(mod, pb)
    engine = llvm.create_mcjit_compiler(mod, tm)
    engine.finalize_object()
    proto = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64)
    fns = {}
    for op, dt in pairs:
        cfn = proto(engine.get_function_address(f"apply_{function_name(op, dt)}"))

        def run(x, cfn=cfn, dt=dt, out=None):
            x = np.ascontiguousarray(x, dt)
            out = np.empty_like(x) if out is None else out
            cfn(x.ctypes.data, out.ctypes.data, x.size)
            return out
        fns[op, dt] = run
    return engine, str(mod), fns


def _bench(sizes=(2 ** 22, 2 ** 16), repeat=25):
    """Our vectorized exp/tanh vs NumPy's (single thread): memory-bound and in-cache sizes."""
    import time
    engine, _, fns = jit_apply([(op, "float32") for op in ("exp", "tanh", "sigmoid", "erf")])
    for n in sizes:
        x = np.random.default_rng(0).uniform(-10, 10, n).astype(np.float32)
        out = np.empty_like(x)
        inner = max(1, 2 ** 22 // n)

        def median(fn):
            times = []
            for _ in range(repeat):
                t = time.perf_counter()
                for _ in range(inner):
                    fn()
                times.append((time.perf_counter() - t) / inner)
            return float(np.median(times))
        print(f"n = {n} float32, one thread, median of {repeat}")
        refs = {"exp": lambda: np.exp(x, out=out), "tanh": lambda: np.tanh(x, out=out),
                "sigmoid": lambda: np.divide(1, np.add(1, np.exp(np.negative(x, out=out), out=out), out=out),
                                             out=out)}
        for op, ref in refs.items():
            ours, theirs = median(lambda: fns[op, "float32"](x, out=out)), median(ref)
            print(f"  {op:8s} ours {ours / n * 1e9:6.3f} ns/elt   numpy {theirs / n * 1e9:6.3f} ns/elt"
                  f"   speed-up {theirs / ours:4.1f}x")
        ours = median(lambda: fns["erf", "float32"](x, out=out))
        print(f"  {'erf':8s} ours {ours / n * 1e9:6.3f} ns/elt   (NumPy has no erf)")
    del engine


if __name__ == "__main__":
    if "--fit" in sys.argv:
        _VERBOSE = "-v" in sys.argv
        print(fit_source())
    elif "--bench" in sys.argv:
        _bench()
    else:
        print("usage: python -m arignote.compiler.llvm_math_fit --bench | --fit [-v]")
