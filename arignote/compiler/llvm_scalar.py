"""Scalar values and ops for the LLVM renderer (:mod:`arignote.compiler.llvm`).

The register and memory types of each dtype, constants, and the table that
renders each scalar op with NumPy's semantics for its loop dtype: an op
computes in its output dtype (NumPy casts the inputs to the loop type), except
predicates (comparisons, isnan...) that compute in the promoted input dtype.
Float ops get no fast-math flags (:data:`FLOAT`): every op rounds as IEEE says, so
a value has the same bits wherever it is computed (docs/design.md, "A value has
one value").

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
``select``, ``call_math``, ``decls``, ``helpers``, ``error_flag``), the
register type, the kind and the arguments already in the loop dtype.
"""
import struct

import numpy as np

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

PREDICATES = frozenset({"eq", "neq", "lt", "le", "gt", "ge", "isnan", "isinf", "isfinite",
                        "logical_not"})


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


# ------------------------------------------------------------ float -> int
# NumPy's astype from float to int is a C cast, which x86-64 compiles to cvtt*2si: truncation,
# and the "integer indefinite" MIN for NaN and anything out of range (docs/design.md, "Float to
# integer casts"). fptosi out of range is poison, so the range is checked first.

def _cvtt(r, v, ty, bits):
    """x86's cvtt*2si to i<bits> of the float register ``v``: trunc(v), or the signed minimum
    where that is out of range or ``v`` is NaN."""
    fdt = "float64" if ty == "double" else "float32"
    lo = -2.0 ** (bits - 1)
    below = lo - 1.0  # the largest value that truncates out of range, where ty holds it
    if float(np.array(below, fdt)) == below:
        above_lo = r.emit(f"fcmp ogt {ty} {v}, {const(below, fdt)}")
    else:
        above_lo = r.emit(f"fcmp oge {ty} {v}, {const(lo, fdt)}")
    ok = r.emit(f"and i1 {above_lo}, {r.emit(f'fcmp olt {ty} {v}, {const(-lo, fdt)}')}")
    w = r.emit(f"fptosi {ty} {r.select(ok, ty, v, '0.0')} to i{bits}")
    return r.select(ok, f"i{bits}", w, str(-(1 << (bits - 1))))


def float_to_int(r, v, src, dst):
    """NumPy's (x86-64) ``astype`` of the ``src`` float register ``v`` to the integer ``dst``:

    - int8..int32, uint8, uint16: cvtt to i32, then the low bits;
    - int64: cvtt to i64;
    - uint32, uint64: ``v >= 2**(b-1) ? cvtt(v - 2**(b-1)) ^ MIN : cvtt(v)`` in b bits, as NumPy's
      SIMD loops do; float16 to uint32 has no SIMD loop: the low 32 bits of cvtt to i64.
    """
    _, sr, _ = types(src)
    _, dr, dk = types(dst)
    bits = BITS[dr]
    if dk == "i" or bits < 32:
        w, wide = _cvtt(r, v, sr, max(bits, 32)), max(bits, 32)
    elif src == "float16" and bits == 32:
        w, wide = _cvtt(r, v, sr, 64), 64
    else:
        big = const(2.0 ** (bits - 1), "float64" if sr == "double" else "float32")
        high = _cvtt(r, r.emit(f"fsub {sr} {v}, {big}"), sr, bits)
        high = r.emit(f"xor {dr} {high}, {-(1 << (bits - 1))}")
        w = r.select(r.emit(f"fcmp oge {sr} {v}, {big}"), dr, high, _cvtt(r, v, sr, bits))
        wide = bits
    return w if wide == bits else r.emit(f"trunc i{wide} {w} to {dr}")


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


def _fsign(r, ty, kind, x):
    pos, neg = r.emit(f"fcmp ogt {ty} {x}, 0.0"), r.emit(f"fcmp olt {ty} {x}, 0.0")
    zero = r.emit(f"fcmp oeq {ty} {x}, 0.0")
    v = r.select(zero, ty, "0.0", x)  # NaN stays NaN, -0.0 becomes 0.0 like NumPy
    v = r.select(neg, ty, const(-1.0, "float64"), v)
    return r.select(pos, ty, const(1.0, "float64"), v)


def _isign(r, ty, kind, x):
    if kind == "u":
        return r.emit(f"zext i1 {r.emit(f'icmp ne {ty} {x}, 0')} to {ty}")
    pos = r.emit(f"zext i1 {r.emit(f'icmp sgt {ty} {x}, 0')} to {ty}")
    neg = r.emit(f"zext i1 {r.emit(f'icmp slt {ty} {x}, 0')} to {ty}")
    return r.emit(f"sub {ty} {pos}, {neg}")


def _iabs(r, ty, kind, x):
    if kind == "u":
        return x
    name = f"llvm.abs.{ty}"
    r.decls[name] = f"declare {ty} @{name}({ty}, i1)"
    return r.emit(f"call {ty} @{name}({ty} {x}, i1 false)")


def _ireciprocal(r, ty, kind, x):
    """NumPy computes 1.0 / x in double and casts back (1 / 0 = inf: int32 gives INT_MIN)."""
    d = r.emit(f"{'sitofp' if kind == 'i' else 'uitofp'} {ty} {x} to double")
    q = r.fbin("fdiv", "double", "1.0", d)
    return float_to_int(r, q, "float64", f"{'' if kind == 'i' else 'u'}int{BITS[ty]}")


def _fdivmod(r, ty, a, b):
    """NumPy's npy_divmod: (floor quotient, remainder with the sign of b)."""
    mod = r.emit(f"frem {ty} {a}, {b}")
    quot = r.fbin("fdiv", ty, a, b)
    div = r.fbin("fdiv", ty, r.fbin("fsub", ty, a, mod), b)
    nonzero = r.emit(f"fcmp une {ty} {mod}, 0.0")
    bneg, mneg = r.emit(f"fcmp olt {ty} {b}, 0.0"), r.emit(f"fcmp olt {ty} {mod}, 0.0")
    adj = r.emit(f"and i1 {nonzero}, {r.emit(f'xor i1 {bneg}, {mneg}')}")
    mod = r.select(adj, ty, r.fbin("fadd", ty, mod, b), mod)
    div = r.select(adj, ty, r.fbin("fsub", ty, div, "1.0"), div)
    mod = r.select(nonzero, ty, mod, r.intrinsic("copysign", ty, "0.0", b))
    floor = r.intrinsic("floor", ty, div)
    up = r.emit(f"fcmp ogt {ty} {r.fbin('fsub', ty, div, floor)}, 0x3FE0000000000000")
    floor = r.select(up, ty, r.fbin("fadd", ty, floor, "1.0"), floor)
    divnz = r.emit(f"fcmp une {ty} {div}, 0.0")
    floordiv = r.select(divnz, ty, floor, r.intrinsic("copysign", ty, "0.0", quot))
    bzero = r.emit(f"fcmp oeq {ty} {b}, 0.0")
    rawmod = r.emit(f"frem {ty} {a}, {b}")
    return r.select(bzero, ty, quot, floordiv), r.select(bzero, ty, rawmod, mod)


def _idivmod(r, ty, kind, a, b):
    """Python's floor division and modulo; x // 0 and x % 0 are 0 like NumPy, and
    MIN // -1 wraps to MIN (no trap)."""
    zero = r.emit(f"icmp eq {ty} {b}, 0")
    bad = zero
    if kind == "i":
        bits = BITS[ty]
        amin = r.emit(f"icmp eq {ty} {a}, {-(1 << (bits - 1))}")
        mone = r.emit(f"icmp eq {ty} {b}, -1")
        bad = r.emit(f"or i1 {zero}, {r.emit(f'and i1 {amin}, {mone}')}")
    safe = r.select(bad, ty, "1", b)
    q = r.emit(f"{'sdiv' if kind == 'i' else 'udiv'} {ty} {a}, {safe}")
    m = r.emit(f"{'srem' if kind == 'i' else 'urem'} {ty} {a}, {safe}")
    if kind == "i":
        sign_differs = r.emit(f"icmp slt {ty} {r.emit(f'xor {ty} {m}, {b}')}, 0")
        adj = r.emit(f"and i1 {r.emit(f'icmp ne {ty} {m}, 0')}, {sign_differs}")
        q = r.select(adj, ty, r.emit(f"sub {ty} {q}, 1"), q)
        m = r.select(adj, ty, r.emit(f"add {ty} {m}, {b}"), m)
        q = r.select(zero, ty, "0", q)  # MIN // -1 keeps q = MIN (as a // 1)
    else:
        q = r.select(zero, ty, "0", q)
    return q, r.select(zero, ty, "0", m)


def _floor_div(r, ty, kind, a, b):
    return (_fdivmod(r, ty, a, b) if kind == "f" else _idivmod(r, ty, kind, a, b))[0]


def _mod(r, ty, kind, a, b):
    return (_fdivmod(r, ty, a, b) if kind == "f" else _idivmod(r, ty, kind, a, b))[1]


def _ipow(r, ty, kind, a, b):
    """Square-and-multiply in a helper (wrapping like NumPy); a negative exponent
    raises in NumPy, so it sets the kernel's error flag."""
    name = f"ag.ipow.{kind}{ty}"
    if kind == "i":
        flag = r.error_flag()
        check = [f"  %neg = icmp slt {ty} %b, 0", "  br i1 %neg, label %bad, label %loop",
                 "bad:", f"  store atomic i32 1, ptr @{flag} monotonic, align 4", f"  ret {ty} 0"]
    else:
        check = ["  br label %loop"]
    r.helpers[name] = "\n".join([
        f"define internal {ty} @{name}({ty} %a, {ty} %b) alwaysinline {{", "entry:", *check,
        "loop:", f"  %r = phi {ty} [ 1, %entry ], [ %r2, %body ]",
        f"  %x = phi {ty} [ %a, %entry ], [ %x2, %body ]",
        f"  %e = phi {ty} [ %b, %entry ], [ %e2, %body ]",
        f"  %done = icmp eq {ty} %e, 0", "  br i1 %done, label %exit, label %body", "body:",
        f"  %odd = trunc {ty} %e to i1", f"  %rx = mul {ty} %r, %x",
        f"  %r2 = select i1 %odd, {ty} %rx, {ty} %r", f"  %x2 = mul {ty} %x, %x",
        f"  %e2 = lshr {ty} %e, 1", "  br label %loop", "exit:", f"  ret {ty} %r", "}", ""])
    return r.emit(f"call {ty} @{name}({ty} {a}, {ty} {b})")


def _clip(r, ty, kind, x, lo, hi):
    if kind == "b":
        return r.emit(f"and i1 {r.emit(f'or i1 {x}, {lo}')}, {hi}")
    mx, mn = _intr("maximum"), _intr("minimum")
    return mn(r, ty, kind, mx(r, ty, kind, x, lo), hi)


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


#: float ops whose result between +0.0 and -0.0 depends on the dtype: fn(r, ty, first, *args)
_TIES = {
    "maximum": lambda r, ty, first, a, b: minmax(r, ty, "max", a, b, first),
    "minimum": lambda r, ty, first, a, b: minmax(r, ty, "min", a, b, first),
    # np.clip keeps x between equal bounds, for every float dtype
    "clip": lambda r, ty, first, x, lo, hi: minmax(r, ty, "min", minmax(r, ty, "max", x, lo, True),
                                                   hi, True),
}


def _float_class(op):
    def fn(r, ty, kind, x):
        if kind != "f":
            return "true" if op == "isfinite" else "false"
        if op == "isnan":
            return r.emit(f"fcmp uno {ty} {x}, 0.0")
        a = r.intrinsic("fabs", ty, x)
        return r.emit(f"fcmp {'oeq' if op == 'isinf' else 'olt'} {ty} {a}, 0x7FF0000000000000")
    return fn


def _logical_not(r, ty, kind, x):
    if kind == "f":
        return r.emit(f"fcmp oeq {ty} {x}, 0.0")
    if kind == "b":
        return r.emit(f"xor i1 {x}, true")
    return r.emit(f"icmp eq {ty} {x}, 0")


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
    for op, opc in {"and_": "and", "or_": "or", "xor": "xor"}.items():
        put(op, I + B, _inst(opc))
    put("invert", I + B, lambda r, ty, kind, x: r.emit(f"xor {ty} {x}, {'true' if kind == 'b' else -1}"))
    put("neg", F, lambda r, ty, kind, x: r.emit(f"fneg {ty} {x}"))
    put("neg", I, lambda r, ty, kind, x: r.emit(f"sub {ty} 0, {x}"))
    put("abs", F, lambda r, ty, kind, x: r.intrinsic("fabs", ty, x))
    put("abs", I, _iabs)
    put("sqr", F, lambda r, ty, kind, x: r.fbin("fmul", ty, x, x))
    put("sqr", I, lambda r, ty, kind, x: r.emit(f"mul {ty} {x}, {x}"))
    put("reciprocal", F, lambda r, ty, kind, x: r.fbin("fdiv", ty, "1.0", x))
    put("reciprocal", I, _ireciprocal)
    put("sqrt", F, lambda r, ty, kind, x: r.intrinsic("sqrt", ty, x))
    for op in MATH_OPS:
        put(op, F, _math(op))
    for op, fn in {"floor": "floor", "ceil": "ceil", "trunc": "trunc", "round": "rint"}.items():
        put(op, F, lambda r, ty, kind, x, fn=fn: r.intrinsic(fn, ty, x))
        put(op, I + B, _same)
    put("identity", F + I + B, _same)
    put("abs", B, _same)
    put("sign", F, _fsign)
    put("sign", I, _isign)
    put("floor_div", F + I, _floor_div)
    put("mod", F + I, _mod)
    put("pow", I, _ipow)
    put("maximum", I, _intr("maximum"))  # floats: _TIES
    put("minimum", I, _intr("minimum"))
    put("maximum", B, _inst("or"))
    put("minimum", B, _inst("and"))
    put("clip", I + B, _clip)
    for op in CMP:
        put(op, F + I + B, _cmp(op))
    for op in ("isnan", "isinf", "isfinite"):
        put(op, F + I + B, _float_class(op))
    put("logical_not", F + I + B, _logical_not)
    return t


_SCALAR = _table()


def scalar_op(r, ins):
    """Render the scalar op ``ins`` (a :class:`~arignote.compiler.kernel.ScalarOp`) with
    NumPy's semantics for its loop dtype; returns the value."""
    op = ins.op
    dtypes = [r.k.body[a].dtype for a in ins.args]
    args = [r.vals[a] for a in ins.args]
    if op == "switch":
        cond = r.convert(args[0], dtypes[0], "bool")
        a, b = (r.convert(v, d, ins.dtype) for v, d in zip(args[1:], dtypes[1:]))
        return r.select(cond, types(ins.dtype)[1], a, b)
    if op == "second":
        return r.convert(args[1], dtypes[1], ins.dtype)
    if op in PREDICATES:
        cd = np.result_type(*dtypes).name
        if op in CMP and all(types(d)[2] in "iub" for d in dtypes) and types(cd)[2] == "f":
            # int64 vs uint64: NumPy 2 compares exactly; so do we, in i128
            wide = [r.emit(f"{'sext' if types(d)[2] == 'i' else 'zext'} {types(d)[1]} {v} to i128")
                    for v, d in zip(args, dtypes)]
            return r.emit(f"icmp {CMP[op][1]} i128 {wide[0]}, {wide[1]}")
    else:
        cd = ins.dtype
    args = [r.convert(v, d, cd) for v, d in zip(args, dtypes)]
    _, reg, kind = types(cd)
    if kind == "f" and op in _TIES:
        return r.round_half(_TIES[op](r, reg, first_wins(cd), *args), ins.dtype)
    fn = _SCALAR.get((op, kind)) or _SCALAR.get((op, "*"))
    if fn is None:
        raise NotImplementedError(f"the LLVM backend cannot render the scalar op {op} on {cd}")
    return r.round_half(fn(r, reg, kind, *args), ins.dtype)
