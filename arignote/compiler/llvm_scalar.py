"""Scalar values and ops for the LLVM renderer (:mod:`arignote.compiler.llvm`).

The register and memory types of each dtype, constants, and the table from
each *primitive* scalar op to its instructions: the renderer renders
decomposed kernels (:mod:`arignote.compiler.decompose`), so NumPy's composite
semantics (integer ``//``, ``%``, ``**``, float16 rounding, int64 against
uint64, float to integer casts, signed zeros of max/min) are not written here.
An op computes in its loop dtype (``kernel.loop_dtype``: its output's, the
arguments' for predicates). Float ops get no fast-math flags (:data:`FLOAT`):
every op rounds as IEEE says, so a value has the same bits wherever it is
computed (docs/design.md, "A value has one value").

Transcendentals call the vectorizable functions of
:mod:`arignote.compiler.llvm_math` (``@ag_<op>_<f32|f64>``, defined once per
module by the renderer), except:

- sin, cos, tan: NumPy computes them exactly for any argument (sin(9.22e18) =
  -0.99993...), but llvm_math's Cody-Waite reduction is only accurate for
  |x| < 1e15 (f64) / 1e7 (f32), and integer inputs routinely reach 2**63; they
  stay on the LLVM intrinsic / libm (Payne-Hanek reduction), which does not
  vectorize;
- pow and arctan2 (two arguments): LLVM intrinsic / libm.

Table functions get the renderer ``r`` (``emit``, ``intrinsic``, ``fbin``,
``select``, ``call_math``, ``decls``), the register type, the kind and the
arguments already in the loop dtype.
"""
import struct

import numpy as np

from arignote.compiler import kernel as K
from arignote.compiler import llvm_math

# dtype: (memory type, register type, kind)
TYPES = {
    "bool": ("i8", "i1", "b"),
    "int8": ("i8", "i8", "i"), "int16": ("i16", "i16", "i"),
    "int32": ("i32", "i32", "i"), "int64": ("i64", "i64", "i"),
    "uint8": ("i8", "i8", "u"), "uint16": ("i16", "i16", "u"),
    "uint32": ("i32", "i32", "u"), "uint64": ("i64", "i64", "u"),
    "float16": ("half", "float", "f"), "float32": ("float", "float", "f"),
    "float64": ("double", "double", "f"),
}
BITS = {"i1": 1, "i8": 8, "i16": 16, "i32": 32, "i64": 64}
FSUFFIX = {"float": "f32", "double": "f64", "half": "f16"}
#: fast-math flags of ordinary float ops: none. A value recomputed in another kernel, another
#: pass or the scalar remainder loop must round the same way (ARCHITECTURE invariant 9), and
#: ``contract`` lets LLVM fuse a multiply-add in one copy and not in another.
FLOAT = ""
#: ... and of reduction accumulators, computed once: ``reassoc`` lets LLVM vectorize them
ACCUM = "reassoc"

PREDICATES = K.PREDICATES


def types(dtype):
    """(memory type, register type, kind) of ``dtype``."""
    try:
        return TYPES[dtype]
    except KeyError:
        raise NotImplementedError(f"the LLVM backend does not support dtype {dtype}") from None


def element_size(dtype):
    return np.dtype(dtype).itemsize


def const(value, dtype):
    """``value`` as an LLVM operand of ``dtype``'s register type."""
    mem, reg, kind = types(dtype)
    if kind == "b":
        return "true" if bool(value) else "false"
    if kind == "f":
        v = float(np.asarray(value).astype(dtype))  # rounded to the dtype, exact in a double
        return "0x%016X" % struct.unpack("<Q", struct.pack("<d", v))[0]
    v, bits = int(value), BITS[reg]
    v &= (1 << bits) - 1
    return str(v - (1 << bits) if v >= 1 << (bits - 1) else v)


# ------------------------------------------------------------ transcendentals
#: not from llvm_math (see the module docstring): op -> (LLVM intrinsic, or None, libm name)
_NOT_VECTOR_MATH = {"sin": ("sin", "sin"), "cos": ("cos", "cos"), "tan": (None, "tan"),
                    "pow": ("pow", "pow"), "arctan2": (None, "atan2")}
MATH_OPS = frozenset(llvm_math.MATH_FUNCTIONS) | frozenset(_NOT_VECTOR_MATH)


def math_function(op, reg):
    """(function name, declaration or None, llvm_math's (op, dtype) or None) computing ``op`` on
    the LLVM type ``reg`` (float16 computes in float, as NumPy's loops)."""
    if op not in _NOT_VECTOR_MATH:
        dtype = "float64" if reg == "double" else "float32"
        return llvm_math.function_name(op, dtype), None, (op, dtype)
    intrinsic, libm = _NOT_VECTOR_MATH[op]
    sig = ", ".join([reg] * (2 if op in ("pow", "arctan2") else 1))
    if intrinsic:
        name = f"llvm.{intrinsic}.{FSUFFIX[reg]}"
        return name, f"declare {reg} @{name}({sig})", None
    name = libm + ("f" if reg == "float" else "")
    return name, f"declare {reg} @{name}({sig}) nounwind willreturn memory(none)", None


# ------------------------------------------------------------ the ops
# (op, kind) -> fn(renderer, register type, kind, *args already in the loop dtype);
# kind is f(loat), i(nt), u(nsigned), b(ool) or * (any).

CMP = {"eq": ("oeq", "eq", "eq"), "neq": ("une", "ne", "ne"), "lt": ("olt", "slt", "ult"),
        "le": ("ole", "sle", "ule"), "gt": ("ogt", "sgt", "ugt"), "ge": ("oge", "sge", "uge")}


def _cmp(op):
    def fn(r, ty, kind, a, b):
        if kind == "f":
            return r.emit(f"fcmp {CMP[op][0]} {ty} {a}, {b}")
        return r.emit(f"icmp {CMP[op][1 if kind == 'i' else 2]} {ty} {a}, {b}")
    return fn


def _inst(opc, flags=None):
    def fn(r, ty, kind, a, b):
        return r.emit(f"{opc}{' ' + flags if flags else ''} {ty} {a}, {b}")
    return fn


def _intr(name):
    def fn(r, ty, kind, *args):
        base = name if kind == "f" else ("s" if kind == "i" else "u") + name[:3]
        return r.intrinsic(base, ty, *args)
    return fn


def _math(op):
    def fn(r, ty, kind, *args):
        return r.call_math(op, ty, *args)
    return fn


def _same(r, ty, kind, x):
    return x


def _iabs(r, ty, kind, x):
    if kind == "u":
        return x
    name = f"llvm.abs.{ty}"
    r.decls[name] = f"declare {ty} @{name}({ty}, i1)"
    return r.emit(f"call {ty} @{name}({ty} {x}, i1 false)")


def _float_class(op):
    def fn(r, ty, kind, x):
        a = r.intrinsic("fabs", ty, x)
        return r.emit(f"fcmp {'oeq' if op == 'isinf' else 'olt'} {ty} {a}, 0x7FF0000000000000")
    return fn


def minmax(r, ty, op, a, b, first):
    """NumPy's ``maximum``/``minimum`` (``op`` 'max'/'min') of the floats ``a`` and ``b``: a NaN
    propagates, and of two equal values (+0.0 and -0.0) the result is ``b``, or ``a`` when
    ``first`` (LLVM's ``llvm.maximum`` orders -0.0 below +0.0 instead)."""
    pred = {"max": "ogt", "min": "olt"}[op]
    if first:
        pred = pred.replace("t", "e")  # oge / ole
    take_a = r.emit(f"or i1 {r.emit(f'fcmp {pred} {ty} {a}, {b}')}, {r.emit(f'fcmp uno {ty} {a}, 0.0')}")
    return r.select(take_a, ty, a, b)


def first_wins(dtype):
    """Whether NumPy's maximum/minimum of ``dtype`` keep the first of two equal values (float16's
    scalar loops: ``a >= b ? a : b``) rather than the second (the SIMD loops of float32/64)."""
    return dtype == "float16"


def _convert_to(opc):
    def fn(r, ty, kind, x, dst):
        return r.emit(f"{opc} {ty} {x} to {dst}")
    return fn


def _table():
    t = {}
    F, I, B = ("f",), ("i", "u"), ("b",)

    def put(op, kinds, fn):
        for k in kinds:
            t[(op, k)] = fn
    for op, (fo, io) in {"add": ("fadd", "add"), "sub": ("fsub", "sub"), "mul": ("fmul", "mul")}.items():
        put(op, F, _inst(fo, FLOAT))
        put(op, I, _inst(io))
    put("add", B, _inst("or"))
    put("mul", B, _inst("and"))
    put("true_div", F, _inst("fdiv", FLOAT))
    put("div_trunc", ("i",), _inst("sdiv"))
    put("div_trunc", ("u",), _inst("udiv"))
    put("rem_trunc", ("i",), _inst("srem"))
    put("rem_trunc", ("u",), _inst("urem"))
    put("fmod", F, _inst("frem", FLOAT))
    put("copysign", F, lambda r, ty, kind, a, b: r.intrinsic("copysign", ty, a, b))
    for op, opc in {"and_": "and", "or_": "or", "xor": "xor"}.items():
        put(op, I + B, _inst(opc))
    put("neg", F, lambda r, ty, kind, x: r.emit(f"fneg {ty} {x}"))
    put("neg", I, lambda r, ty, kind, x: r.emit(f"sub {ty} 0, {x}"))
    put("abs", F, lambda r, ty, kind, x: r.intrinsic("fabs", ty, x))
    put("abs", I, _iabs)
    put("reciprocal", F, lambda r, ty, kind, x: r.fbin("fdiv", ty, "1.0", x))
    put("sqrt", F, lambda r, ty, kind, x: r.intrinsic("sqrt", ty, x))
    for op in MATH_OPS:
        put(op, F, _math(op))
    for op, fn in {"floor": "floor", "ceil": "ceil", "trunc": "trunc", "round": "rint"}.items():
        put(op, F, lambda r, ty, kind, x, fn=fn: r.intrinsic(fn, ty, x))
    put("identity", F + I + B, _same)
    put("maximum", I, _intr("maximum"))
    put("minimum", I, _intr("minimum"))
    put("maximum", B, _inst("or"))
    put("minimum", B, _inst("and"))
    for op in CMP:
        put(op, F + I + B, _cmp(op))
    put("isnan", F, lambda r, ty, kind, x: r.emit(f"fcmp uno {ty} {x}, 0.0"))
    for op in ("isinf", "isfinite"):
        put(op, F, _float_class(op))
    put("ftoi", F, _convert_to("fptosi"))  # (a value in range: decompose made it so)
    return t


_SCALAR = _table()


def scalar_op(r, ins):
    """Render the primitive scalar op ``ins`` (a :class:`~arignote.compiler.kernel.ScalarOp` of
    a decomposed kernel: :mod:`arignote.compiler.decompose`) for its loop dtype; returns the
    value."""
    op = ins.op
    dtypes = [r.k.body[a].dtype for a in ins.args]
    args = [r.vals[a] for a in ins.args]
    if op == "switch":
        cond = r.convert(args[0], dtypes[0], "bool")
        a, b = (r.convert(v, d, ins.dtype) for v, d in zip(args[1:], dtypes[1:]))
        return r.select(cond, types(ins.dtype)[1], a, b)
    if op == "second":
        return r.convert(args[1], dtypes[1], ins.dtype)
    cd = K.loop_dtype(op, ins.dtype, dtypes)
    args = [r.convert(v, d, cd) for v, d in zip(args, dtypes)]
    _, reg, kind = types(cd)
    fn = _SCALAR.get((op, kind))
    composite = (cd == "float16" and op != "identity") or (
        op in CMP and kind == "f" and all(types(d)[2] in "iub" for d in dtypes))
    if fn is None or composite:
        raise NotImplementedError(f"the LLVM backend cannot render the scalar op {op} on {cd} "
                                  "(composite ops are decomposed first: compiler/decompose.py)")
    if op == "ftoi":
        return fn(r, reg, kind, *args, types(ins.dtype)[1])
    return fn(r, reg, kind, *args)
