"""The transcendental functions as C source: :mod:`arignote.compiler.mathlib`'s bodies
through :class:`CEmitter`, for C-like renderers (the CUDA renderer will use it).

Each function is ``static inline float ag_exp_f32(float x)`` (``double``, ``_f64``
for float64), one ``const`` variable per value, callees defined before their callers.
The C needs ``<math.h>`` (``fma``, ``fabs``, ``sqrt``, ``rint``, ``floor``,
``copysign`` and their ``f`` forms, ``INFINITY``, ``NAN``), ``<stdint.h>`` and
``<string.h>`` (``memcpy`` for bit casts: :data:`PRELUDE`), and must be compiled
without floating-point contraction or fast-math (``-ffp-contract=off``, no
``-ffast-math``): every fused multiply-add is an explicit ``fma``, every other
op must round as IEEE says, so a function gives the bits of the LLVM
version (tests/compiler/test_c_math.py). Integer ops wrap through unsigned
arithmetic (signed overflow is undefined in C); ``>>`` of a negative integer is
taken to be arithmetic, as on every compiler Arignote targets.

A CUDA renderer subclasses :class:`CEmitter`: a ``__device__`` :attr:`~CEmitter.QUALIFIER`
and its intrinsics for bit casts (``__float_as_int``...) in :attr:`~CEmitter.BITCASTS`.
"""
import math

import numpy as np

from arignote.compiler.mathlib import Emitter, emit_function, function_name, spec

__all__ = ["CEmitter", "PRELUDE", "math_c"]

#: what the functions need before them (the bit casts of :attr:`CEmitter.BITCASTS`)
PRELUDE = """#include <math.h>
#include <stdint.h>
#include <string.h>
static inline int32_t ag_f32_bits(float x) { int32_t i; memcpy(&i, &x, 4); return i; }
static inline float ag_bits_f32(int32_t i) { float x; memcpy(&x, &i, 4); return x; }
static inline int64_t ag_f64_bits(double x) { int64_t i; memcpy(&i, &x, 8); return i; }
static inline double ag_bits_f64(int64_t i) { double x; memcpy(&x, &i, 8); return x; }
"""

#: float compare predicate -> C expression (ordered ones are false on NaN, as C's are)
_CMP = {"olt": "{a} < {b}", "ogt": "{a} > {b}", "ole": "{a} <= {b}", "oge": "{a} >= {b}",
        "oeq": "{a} == {b}", "one": "({a} < {b} || {a} > {b})", "une": "{a} != {b}",
        "ult": "!({a} >= {b})", "ugt": "!({a} <= {b})", "ule": "!({a} > {b})", "uge": "!({a} < {b})",
        "ueq": "!({a} < {b} || {a} > {b})"}
_ICMP = {"eq": "==", "ne": "!=", "slt": "<", "sgt": ">", "sle": "<=", "sge": ">="}
#: integer op -> (C operator, through unsigned arithmetic?)
_IOP = {"add": ("+", True), "sub": ("-", True), "shl": ("<<", True), "ashr": (">>", False),
        "and": ("&", False), "xor": ("^", False)}


class CEmitter(Emitter):
    """C statements for one function body: each primitive declares one ``const`` variable."""

    #: how each function is declared
    QUALIFIER = "static inline"
    #: dtype -> (float to integer bits, integer bits to float)
    BITCASTS = {"float32": ("ag_f32_bits", "ag_bits_f32"), "float64": ("ag_f64_bits", "ag_bits_f64")}

    def __init__(self, spec):
        super().__init__(spec)
        single = spec.dtype == "float32"
        self.ty, self.fsuffix = ("float", "f") if single else ("double", "")
        self.ity, self.uty = ("int32_t", "uint32_t") if single else ("int64_t", "uint64_t")
        self.lines, self.n = [], 0

    def f(self, v):
        """A float value: a name, or a Python number as a literal of the dtype."""
        if isinstance(v, str):
            return v
        v = float(self.s.np(v))
        if math.isnan(v):
            text = "NAN"
        elif math.isinf(v):
            text = "INFINITY"
        else:
            text = abs(v).hex() + self.fsuffix
        return f"({'-' if math.copysign(1.0, v) < 0 else ''}{text})"

    def i(self, v):
        """An integer value: a name, or a Python int as a literal of the integer type."""
        if isinstance(v, str):
            return v
        bits = self.s.bits
        v = int(np.array(v & ((1 << bits) - 1), f"uint{bits}").astype(f"int{bits}"))
        if v >= 0:
            return f"{v}" if bits == 32 else f"INT64_C({v})"
        return f"(({self.ity}){v & ((1 << bits) - 1)}u{'ll' if bits == 64 else ''})"

    def let(self, ty, expr):
        self.n += 1
        self.lines.append(f"  const {ty} t{self.n} = {expr};")
        return f"t{self.n}"

    def add(self, a, b):
        return self.let(self.ty, f"{self.f(a)} + {self.f(b)}")

    def sub(self, a, b):
        return self.let(self.ty, f"{self.f(a)} - {self.f(b)}")

    def mul(self, a, b):
        return self.let(self.ty, f"{self.f(a)} * {self.f(b)}")

    def div(self, a, b):
        return self.let(self.ty, f"{self.f(a)} / {self.f(b)}")

    def libm(self, name, *args):
        return self.let(self.ty, f"{name}{self.fsuffix}({', '.join(map(self.f, args))})")

    def fma(self, a, b, c):
        return self.libm("fma", a, b, c)

    def neg(self, a):
        return self.let(self.ty, f"-{self.f(a)}")

    def fabs(self, a):
        return self.libm("fabs", a)

    def sqrt(self, a):
        return self.libm("sqrt", a)

    def rint(self, a):
        return self.libm("rint", a)

    def floor(self, a):
        return self.libm("floor", a)

    def copysign(self, a, b):
        return self.libm("copysign", a, b)

    def cmp(self, pred, a, b):
        return self.let("int", _CMP[pred].format(a=self.f(a), b=self.f(b)))

    def sel(self, c, a, b):
        return self.let(self.ty, f"{c} ? {self.f(a)} : {self.f(b)}")

    def iop(self, opc, a, b):
        op, wrapping = _IOP[opc]
        a, b = self.i(a), self.i(b)
        if wrapping:
            rhs = b if opc == "shl" else f"({self.uty}){b}"
            return self.let(self.ity, f"({self.ity})(({self.uty}){a} {op} {rhs})")
        return self.let(self.ity, f"{a} {op} {b}")

    def icmp(self, pred, a, b):
        return self.let("int", f"{self.i(a)} {_ICMP[pred]} {self.i(b)}")

    def isel(self, c, a, b):
        return self.let(self.ity, f"{c} ? {self.i(a)} : {self.i(b)}")

    def to_int(self, a):
        return self.let(self.ity, f"{self.BITCASTS[self.s.dtype][0]}({self.f(a)})")

    def to_float(self, a):
        return self.let(self.ty, f"{self.BITCASTS[self.s.dtype][1]}({self.i(a)})")

    def call_function(self, name, a):
        return self.let(self.ty, f"{name}({self.f(a)})")


def _define(emitter_class, op, dtype):
    """(C text of one function, the ops it calls)."""
    e = emitter_class(spec(dtype))
    res = emit_function(e, op, "x")
    head = f"{e.QUALIFIER} {e.ty} {function_name(op, dtype)}({e.ty} x) {{"
    return "\n".join([head, *e.lines, f"  return {e.f(res)};", "}", ""]), tuple(dict.fromkeys(e.deps))


def math_c(names_and_dtypes, emitter_class=CEmitter):
    """C source defining the functions for ``(op, dtype)`` pairs and what they call, each
    once, every callee before its callers (without :data:`PRELUDE`)."""
    texts = {}

    def visit(op, dtype):
        if (op, dtype) not in texts:
            texts[op, dtype] = None  # (being defined: the bodies call no cycle)
            text, deps = _define(emitter_class, op, dtype)
            for d in deps:
                visit(d, dtype)
            del texts[op, dtype]
            texts[op, dtype] = text
    for op, dtype in names_and_dtypes:
        visit(op, spec(dtype).dtype)
    return "\n".join(texts.values())
