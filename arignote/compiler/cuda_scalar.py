"""The CUDA renderer's scalar level: register and memory types, literals, and the table
from (primitive op, kind) to a C expression (:mod:`arignote.compiler.cuda`)."""
import math

import numpy as np

from arignote.compiler.mathlib import MATH_FUNCTIONS, function_name

#: dtype -> (memory type, register type)
TYPES = {
    "bool": ("uint8_t", "bool"),
    "int8": ("int8_t", "int8_t"), "int16": ("int16_t", "int16_t"),
    "int32": ("int32_t", "int32_t"), "int64": ("int64_t", "int64_t"),
    "uint8": ("uint8_t", "uint8_t"), "uint16": ("uint16_t", "uint16_t"),
    "uint32": ("uint32_t", "uint32_t"), "uint64": ("uint64_t", "uint64_t"),
    "float16": ("uint16_t", "float"), "float32": ("float", "float"), "float64": ("double", "double"),
}


def kind_of(dtype):
    """``dtype``'s kind: f(loat), i(nt), u(nsigned) or b(ool)."""
    return np.dtype(dtype).kind


def literal(value, dtype):
    """``value`` as a C literal of ``dtype``'s register type."""
    kind = kind_of(dtype)
    if kind == "b":
        return "true" if bool(value) else "false"
    if kind == "f":
        reg = TYPES[dtype][1]
        v = np.asarray(value).astype(dtype).astype(reg == "float" and "float32" or "float64")
        bits = v.view(np.int32 if reg == "float" else np.int64)
        f = float(v)
        if math.isfinite(f):
            text = abs(f).hex() + ("f" if reg == "float" else "")
            return f"({'-' if math.copysign(1.0, f) < 0 else ''}{text})"
        fn = "ag_bits_f32" if reg == "float" else "ag_bits_f64"
        return f"{fn}({int(bits)}{'' if reg == 'float' else 'LL'})"
    bits = 8 * np.dtype(dtype).itemsize
    return f"(({TYPES[dtype][1]}){int(value) & ((1 << bits) - 1)}ull)"


# ------------------------------------------------------------ scalar ops
# (op, kind) -> fn(dtype, *argument expressions in the loop dtype) -> C expression;
# kind is f(loat), i(nt), u(nsigned) or b(ool).

def _wide(dtype):
    """The unsigned type integer arithmetic of ``dtype`` wraps in (no signed overflow,
    no promotion to int)."""
    return f"uint{max(32, 8 * np.dtype(dtype).itemsize)}_t"


def wrap(op):
    def fn(dtype, a, b):
        w = _wide(dtype)
        return f"({TYPES[dtype][1]})(({w}){a} {op} ({w}){b})"
    return fn


def _bin(op):
    return lambda dtype, a, b: f"({a} {op} {b})"


def _call(single, double=None):
    def fn(dtype, *args):
        name = single if TYPES[dtype][1] == "float" else (double or single[:-1])
        return f"{name}({', '.join(args)})"
    return fn


def _math(op):
    return lambda dtype, x: f"{function_name(op, math_dtype(dtype))}({x})"


def math_dtype(dtype):
    return "float32" if TYPES[dtype][1] == "float" else "float64"


#: float ops that are a C math function (the double one drops the ``f``); sin, cos, tan,
#: pow and arctan2 are CUDA's (exact range reduction, like the cpu's libm calls)
_FLOAT_CALLS = {"fmod": "fmodf", "copysign": "copysignf", "abs": "fabsf", "sqrt": "sqrtf",
                "sin": "sinf", "cos": "cosf", "tan": "tanf", "pow": "powf", "arctan2": "atan2f",
                "floor": "floorf", "ceil": "ceilf", "trunc": "truncf", "round": "rintf"}
#: infix operators: integers wrap (add, sub, mul) or keep their type (the rest)
_ARITH = {"add": "+", "sub": "-", "mul": "*"}
_INT_INFIX = {"div_trunc": "/", "rem_trunc": "%", "and_": "&", "or_": "|", "xor": "^"}
#: bool ops as bitwise operators
_BOOL_INFIX = {"add": "|", "mul": "&", "maximum": "|", "minimum": "&", "and_": "&", "or_": "|", "xor": "^"}
#: C's comparisons (on floats ordered, but != is true on NaN), for every kind
_COMPARE = {"eq": "==", "neq": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}


def _typed(c):
    return lambda dtype, a, b: f"({TYPES[dtype][1]})({a} {c} {b})"


def _table():
    rows = [*((op, "f", _bin(c)) for op, c in _ARITH.items()),
            *((op, k, wrap(c)) for op, c in _ARITH.items() for k in "iu"),
            *((op, k, _typed(c)) for op, c in _INT_INFIX.items() for k in "iu"),
            *((op, "b", _bin(c)) for op, c in _BOOL_INFIX.items()),
            *((op, k, _bin(c)) for op, c in _COMPARE.items() for k in "fiub"),
            *((op, "f", _call(fn)) for op, fn in _FLOAT_CALLS.items()),
            *((op, "f", _math(op)) for op in MATH_FUNCTIONS if op not in _FLOAT_CALLS),
            *(("identity", k, lambda dtype, x: x) for k in "fiub"),
            *(("maximum", k, lambda dtype, a, b: f"({a} > {b} ? {a} : {b})") for k in "iu"),
            *(("minimum", k, lambda dtype, a, b: f"({a} < {b} ? {a} : {b})") for k in "iu"),
            *(("neg", k, lambda dtype, x: wrap("-")(dtype, "0", x)) for k in "iu"),
            ("true_div", "f", _bin("/")),
            ("neg", "f", lambda dtype, x: f"(-{x})"),
            ("abs", "i", lambda dtype, x: f"({x} < 0 ? {wrap('-')(dtype, '0', x)} : {x})"),
            ("abs", "u", lambda dtype, x: x),
            ("reciprocal", "f", lambda dtype, x: f"({literal(1.0, dtype)} / {x})"),
            ("isnan", "f", lambda dtype, x: f"({x} != {x})"),
            ("isinf", "f", lambda dtype, x: f"({_call('fabsf')(dtype, x)} == INFINITY)"),
            ("isfinite", "f", lambda dtype, x: f"({_call('fabsf')(dtype, x)} < INFINITY)")]
    table = {(op, kind): fn for op, kind, fn in rows}
    assert len(table) == len(rows), "an (op, kind) row twice"
    return table


#: (op, kind) -> fn(dtype, *argument expressions) -> C expression
SCALAR = _table()
