"""The LLVM renderer (cpu backend): a :class:`~arignote.compiler.kernel.Kernel`
becomes the text of one LLVM IR module.

The module defines ``void @<name>(ptr %shape, ptr %data, ptr %strides, i64
%start, i64 %end)``: ``shape`` holds the index-space extents, ``data[k]`` the
base pointer of param ``k``, ``strides[k]`` a pointer to its strides in
*elements*; ``[start, end)`` bounds the outermost parallel axis (the thread
pool chunks it; a kernel without parallel axes ignores it). It unpacks them
and calls an internal body whose buffer pointers are ``noalias`` and aligned,
so LLVM knows outputs never alias inputs and can vectorize.

The body is a loop nest: parallel axes (outermost first), then the reduced
axes. Level-0 instructions sit at the innermost parallel level, level 1 in
the innermost reduce loop, level 2 after it; accumulators live in allocas
(promoted to registers by LLVM). Values are kept in *register types*: bool is
``i1`` (``i8`` in memory), float16 is ``float`` (``half`` in memory, every
float16 result rounded through ``half`` as NumPy does).

Scalar ops follow NumPy's loops: an op computes in its output dtype (NumPy
casts the inputs to the loop type), except predicates (comparisons, isnan...)
that compute in the promoted input dtype. Floats get ``contract`` (FMA);
``reassoc`` is reserved to reduction accumulators; never ``nnan``/``ninf``.
Kernels whose values can raise in NumPy (integer power to a negative
exponent) define ``@<name>.error``, an ``i32`` flag the launcher checks.
"""
import re
import struct

import numpy as np

from arignote.compiler import kernel as K

# dtype: (memory type, register type, kind)
_TYPES = {
    "bool": ("i8", "i1", "b"),
    "int8": ("i8", "i8", "i"), "int16": ("i16", "i16", "i"),
    "int32": ("i32", "i32", "i"), "int64": ("i64", "i64", "i"),
    "uint8": ("i8", "i8", "u"), "uint16": ("i16", "i16", "u"),
    "uint32": ("i32", "i32", "u"), "uint64": ("i64", "i64", "u"),
    "float16": ("half", "float", "f"), "float32": ("float", "float", "f"),
    "float64": ("double", "double", "f"),
}
_BITS = {"i1": 1, "i8": 8, "i16": 16, "i32": 32, "i64": 64}
_FSUFFIX = {"float": "f32", "double": "f64", "half": "f16"}
FLOAT = "contract"  # fast-math flags of ordinary float ops
ACCUM = "reassoc contract"  # ... and of reduction accumulators

PREDICATES = frozenset({"eq", "neq", "lt", "le", "gt", "ge", "isnan", "isinf", "isfinite",
                        "logical_not"})


def _types(dtype):
    try:
        return _TYPES[dtype]
    except KeyError:
        raise NotImplementedError(f"the LLVM backend does not support dtype {dtype}") from None


def element_size(dtype):
    return np.dtype(dtype).itemsize


def const(value, dtype):
    """``value`` as an LLVM operand of ``dtype``'s register type."""
    mem, reg, kind = _types(dtype)
    if kind == "b":
        return "true" if bool(value) else "false"
    if kind == "f":
        v = float(np.asarray(value).astype(dtype))  # rounded to the dtype, exact in a double
        return "0x%016X" % struct.unpack("<Q", struct.pack("<d", v))[0]
    v, bits = int(value), _BITS[reg]
    v &= (1 << bits) - 1
    return str(v - (1 << bits) if v >= 1 << (bits - 1) else v)


# ------------------------------------------------------------ transcendentals
# ONE lookup decides how a transcendental is computed: the vectorizable
# polynomial code of arignote.compiler.llvm_math where it has the function
# (USE_VECTOR_MATH), else an LLVM intrinsic or a libm call resolved in-process.
USE_VECTOR_MATH = False  # switched on once llvm_math.py is tested
_INTRINSIC_MATH = {"exp": "exp", "exp2": "exp2", "log": "log", "log2": "log2", "log10": "log10",
                   "sin": "sin", "cos": "cos", "pow": "pow"}
_LIBM_MATH = {"log1p": "log1p", "expm1": "expm1", "tan": "tan", "arcsin": "asin",
              "arccos": "acos", "arctan": "atan", "sinh": "sinh", "cosh": "cosh", "tanh": "tanh",
              "arcsinh": "asinh", "arccosh": "acosh", "arctanh": "atanh", "erf": "erf",
              "erfc": "erfc", "arctan2": "atan2"}
MATH_OPS = frozenset(_INTRINSIC_MATH) | frozenset(_LIBM_MATH)


def _vector_math():
    if not USE_VECTOR_MATH:
        return None
    try:
        from arignote.compiler import llvm_math
    except ImportError:
        return None
    return llvm_math


def has_vector_math(op):
    vm = _vector_math()
    return vm is not None and op in vm.MATH_FUNCTIONS


def math_function(op, reg):
    """(function name, declaration or None, (op, dtype) of llvm_math or None) computing
    ``op`` on LLVM type ``reg``."""
    vm = _vector_math()
    dtype = "float64" if reg == "double" else "float32"
    if vm is not None and op in vm.MATH_FUNCTIONS:
        return vm.function_name(op, dtype), None, (op, dtype)
    nargs = 2 if op in ("pow", "arctan2") else 1
    sig = ", ".join([reg] * nargs)
    if op in _INTRINSIC_MATH:
        name = f"llvm.{_INTRINSIC_MATH[op]}.{_FSUFFIX[reg]}"
        return name, f"declare {reg} @{name}({sig})", None
    name = _LIBM_MATH[op] + ("f" if reg == "float" else "")
    return name, f"declare {reg} @{name}({sig}) nounwind willreturn memory(none)", None


# ------------------------------------------------------------ the renderer

class _Renderer:
    def __init__(self, kernel):
        self.k = kernel
        self.decls, self.helpers = {}, {}
        self.n = 0
        self.out = None
        self.allocas = []
        self.vals = {}
        self.error = False
        self.vector_math = set()

    # ---- emission helpers
    def emit(self, text):
        self.n += 1
        t = f"%t{self.n}"
        self.out.append(f"  {t} = {text}")
        return t

    def intrinsic(self, base, ty, *args):
        suffix = _FSUFFIX.get(ty) or ty
        name = f"llvm.{base}.{suffix}"
        self.decls[name] = f"declare {ty} @{name}({', '.join([ty] * len(args))})"
        return self.emit(f"call {ty} @{name}({', '.join(f'{ty} {a}' for a in args)})")

    def call_math(self, op, ty, *args):
        name, decl, vector = math_function(op, ty)
        if decl:
            self.decls[name] = decl
        if vector:
            self.vector_math.add(vector)
        return self.emit(f"call {FLOAT} {ty} @{name}({', '.join(f'{ty} {a}' for a in args)})")

    def fbin(self, opc, ty, a, b, flags=FLOAT):
        return self.emit(f"{opc} {flags} {ty} {a}, {b}")

    def select(self, c, ty, a, b):
        return self.emit(f"select i1 {c}, {ty} {a}, {ty} {b}")

    # ---- conversions between register values
    def convert(self, v, src, dst):
        """NumPy's ``astype`` from ``src`` to ``dst`` on register values."""
        if src == dst:
            return v
        _, sr, sk = _types(src)
        dm, dr, dk = _types(dst)
        if dk == "b":
            if sk == "f":
                return self.emit(f"fcmp une {sr} {v}, 0.0")
            return self.emit(f"icmp ne {sr} {v}, 0")
        if dk == "f":
            if sk == "f":
                if dm == "half":  # round once, from the source precision
                    return self.to_half(v, sr)
                if sr == dr:
                    return v
                return self.emit(f"{'fpext' if dr == 'double' else 'fptrunc'} {sr} {v} to {dr}")
            opc = "sitofp" if sk == "i" else "uitofp"
            if dm == "half":  # exact in float up to 2**24, beyond which half is inf anyway
                wide = "double" if _BITS[sr] == 64 else "float"
                return self.to_half(self.emit(f"{opc} {sr} {v} to {wide}"), wide)
            return self.emit(f"{opc} {sr} {v} to {dr}")
        if sk == "f":  # float -> int: undefined out of range in NumPy too; freeze keeps it a value
            if dst == "uint64":
                big = const(2.0 ** 63, "float64" if sr == "double" else "float32")
                low = self.emit(f"fptosi {sr} {v} to i64")
                shifted = self.fbin("fsub", sr, v, big, "")
                high = self.emit(f"fptosi {sr} {shifted} to i64")
                high = self.emit(f"xor i64 {high}, -9223372036854775808")
                small = self.emit(f"fcmp olt {sr} {v}, {big}")
                return self.emit(f"freeze i64 {self.select(small, 'i64', low, high)}")
            w = self.emit(f"freeze i64 {self.emit(f'fptosi {sr} {v} to i64')}")
            return w if dr == "i64" else self.emit(f"trunc i64 {w} to {dr}")
        sb, db = _BITS[sr], _BITS[dr]
        if sb == db:
            return v
        if sb > db:
            return self.emit(f"trunc {sr} {v} to {dr}")
        return self.emit(f"{'sext' if sk == 'i' else 'zext'} {sr} {v} to {dr}")

    def to_half(self, v, ty):
        """``v`` (float or double) rounded to half, back in a float register. Double
        goes through float rounded to odd, which makes the second rounding exact
        (LLVM would call __truncdfhf2, which the process may not have)."""
        if ty == "double":
            f = self.emit(f"fptrunc double {v} to float")
            back = self.emit(f"fpext float {f} to double")
            bits = self.emit(f"bitcast float {f} to i32")
            over = self.emit(f"fcmp ogt double {self.intrinsic('fabs', 'double', back)}, "
                             f"{self.intrinsic('fabs', 'double', v)}")
            bits = self.select(over, "i32", self.emit(f"sub i32 {bits}, 1"), bits)
            inexact = self.emit(f"fcmp one double {back}, {v}")
            bits = self.select(inexact, "i32", self.emit(f"or i32 {bits}, 1"), bits)
            v = self.emit(f"bitcast i32 {bits} to float")
        h = self.emit(f"fptrunc float {v} to half")
        return self.emit(f"fpext half {h} to float")

    def round_half(self, v, dtype):
        """A float16 result: computed in float, rounded to half like NumPy."""
        return self.to_half(v, "float") if dtype == "float16" else v

    # ---- instructions
    def render_instr(self, k, ins):
        if isinstance(ins, K.Const):
            return const(ins.value, ins.dtype)
        if isinstance(ins, K.Load):
            return self.load(ins)
        if isinstance(ins, K.Cast):
            return self.convert(self.vals[ins.arg], self.k.body[ins.arg].dtype, ins.dtype)
        if isinstance(ins, K.ScalarOp):
            return self.scalar(ins)
        if isinstance(ins, K.Store):
            self.store(ins)
            return None
        if isinstance(ins, K.Reduce):
            return self.reduce(k, ins)
        raise NotImplementedError(f"the LLVM backend cannot render {type(ins).__name__}")

    def address(self, param, axes):
        mem = _types(self.k.params[param].dtype)[0]
        off = None
        for d, a in enumerate(axes):
            if a is None:
                continue
            term = self.emit(f"mul nsw i64 %i{a}, %s{param}.{d}")
            off = term if off is None else self.emit(f"add nsw i64 {off}, {term}")
        if off is None:
            return f"%p{param}"
        return self.emit(f"getelementptr inbounds {mem}, ptr %p{param}, i64 {off}")

    def load(self, ins):
        mem, reg, kind = _types(ins.dtype)
        ptr = self.address(ins.param, ins.axes)
        v = self.emit(f"load {mem}, ptr {ptr}, align {element_size(ins.dtype)}")
        if kind == "b":
            return self.emit(f"icmp ne i8 {v}, 0")
        if mem == "half":
            return self.emit(f"fpext half {v} to float")
        return v

    def store(self, ins):
        mem, reg, kind = _types(ins.dtype)
        v = self.convert(self.vals[ins.arg], self.k.body[ins.arg].dtype, ins.dtype)
        if kind == "b":
            v = self.emit(f"zext i1 {v} to i8")
        elif mem == "half":
            v = self.emit(f"fptrunc float {v} to half")
        ptr = self.address(ins.param, ins.axes)
        self.out.append(f"  store {mem} {v}, ptr {ptr}, align {element_size(ins.dtype)}")

    def reduce(self, k, ins):
        _, reg, kind = _types(ins.dtype)
        acc = f"%acc{k}"
        self.allocas.append(f"  {acc} = alloca {reg}")
        self.sections[0].append(f"  store {reg} {const(ins.init, ins.dtype)}, ptr {acc}")
        self.out = self.sections[1]
        cur = self.emit(f"load {reg}, ptr {acc}")
        x = self.convert(self.vals[ins.arg], self.k.body[ins.arg].dtype, ins.dtype)
        new = self.combine(ins.combiner, reg, kind, cur, x)
        self.out.append(f"  store {reg} {new}, ptr {acc}")
        self.out = self.sections[2]
        return self.emit(f"load {reg}, ptr {acc}")

    def combine(self, combiner, reg, kind, a, b):
        if kind == "f":
            if combiner in ("sum", "prod"):
                return self.fbin("fadd" if combiner == "sum" else "fmul", reg, a, b, ACCUM)
            if combiner in ("max", "min"):
                return self.intrinsic("maximum" if combiner == "max" else "minimum", reg, a, b)
        elif kind == "b":
            if combiner in ("all", "min", "prod"):
                return self.emit(f"and i1 {a}, {b}")
            if combiner in ("any", "max", "sum"):
                return self.emit(f"or i1 {a}, {b}")
        else:
            if combiner in ("sum", "prod"):
                return self.emit(f"{'add' if combiner == 'sum' else 'mul'} {reg} {a}, {b}")
            if combiner in ("max", "min"):
                return self.intrinsic(("s" if kind == "i" else "u") + combiner, reg, a, b)
        raise NotImplementedError(f"the LLVM backend cannot render the reduction {combiner} "
                                  f"over {reg} ({kind})")

    def scalar(self, ins):
        """A scalar op with NumPy's semantics for its loop dtype."""
        op = ins.op
        dtypes = [self.k.body[a].dtype for a in ins.args]
        args = [self.vals[a] for a in ins.args]
        if op == "switch":
            cond = self.convert(args[0], dtypes[0], "bool")
            a, b = (self.convert(v, d, ins.dtype) for v, d in zip(args[1:], dtypes[1:]))
            return self.select(cond, _types(ins.dtype)[1], a, b)
        if op == "second":
            return self.convert(args[1], dtypes[1], ins.dtype)
        if op in PREDICATES:
            cd = np.result_type(*dtypes).name
            if op in _CMP and all(_types(d)[2] in "iub" for d in dtypes) and _types(cd)[2] == "f":
                # int64 vs uint64: NumPy 2 compares exactly; so do we, in i128
                wide = [self.emit(f"{'sext' if _types(d)[2] == 'i' else 'zext'} {_types(d)[1]} {v} to i128")
                        for v, d in zip(args, dtypes)]
                return self.emit(f"icmp {_CMP[op][1]} i128 {wide[0]}, {wide[1]}")
        else:
            cd = ins.dtype
        args = [self.convert(v, d, cd) for v, d in zip(args, dtypes)]
        _, reg, kind = _types(cd)
        fn = _SCALAR.get((op, kind)) or _SCALAR.get((op, "*"))
        if fn is None:
            raise NotImplementedError(f"the LLVM backend cannot render the scalar op {op} on {cd}")
        v = fn(self, reg, kind, *args)
        return self.round_half(v, ins.dtype)

    # ---- the module
    def module(self):
        k = self.k
        self.sections = {0: [], 1: [], 2: []}
        for i, ins in enumerate(k.body):
            self.out = self.sections[ins.level]
            if not k.reduce_axes and ins.level != 0:
                raise NotImplementedError(f"{k.name}: level {ins.level} without reduced axes")
            self.vals[i] = self.render_instr(i, ins)
        return self.assemble()

    def assemble(self):
        k = self.k
        lines = ["; arignote kernel " + k.name, ""]
        if self.error:
            lines.append(f"@{symbol(k.name + '.error')} = global i32 0, align 4")
        lines += sorted(set(self.decls.values()))
        lines += list(self.helpers.values())
        if self.vector_math:
            lines.append(_vector_math().math_ir(sorted(self.vector_math)))
        lines += self.wrapper()
        lines += self.body_function()
        return "\n".join(lines) + "\n"

    def body_args(self):
        k = self.k
        args = []
        for j, p in enumerate(k.params):
            ro = " readonly" if p.role == "in" else ""
            args.append(f"ptr noalias{ro} align {element_size(p.dtype)} %p{j}")
        args += [f"i64 %n{a}" for a in range(k.ndim)]
        args += [f"i64 %s{j}.{d}" for j, p in enumerate(k.params) for d in range(p.ndim)]
        return args + ["i64 %start", "i64 %end"]

    def wrapper(self):
        k = self.k
        out = [f"define void @{symbol(k.name)}(ptr noalias readonly %shape, ptr noalias readonly %data, "
               "ptr noalias readonly %strides, i64 %start, i64 %end) {", "entry:"]
        args = []
        for j in range(len(k.params)):
            out += [f"  %dp{j} = getelementptr inbounds ptr, ptr %data, i64 {j}",
                    f"  %p{j} = load ptr, ptr %dp{j}, align 8",
                    f"  %sp{j}.addr = getelementptr inbounds ptr, ptr %strides, i64 {j}",
                    f"  %sp{j} = load ptr, ptr %sp{j}.addr, align 8"]
            args.append(f"ptr %p{j}")
        for a in range(k.ndim):
            out += [f"  %na{a} = getelementptr inbounds i64, ptr %shape, i64 {a}",
                    f"  %n{a} = load i64, ptr %na{a}, align 8"]
            args.append(f"i64 %n{a}")
        for j, p in enumerate(k.params):
            for d in range(p.ndim):
                out += [f"  %sa{j}.{d} = getelementptr inbounds i64, ptr %sp{j}, i64 {d}",
                        f"  %s{j}.{d} = load i64, ptr %sa{j}.{d}, align 8"]
                args.append(f"i64 %s{j}.{d}")
        args += ["i64 %start", "i64 %end"]
        out += [f"  call void @{symbol(k.name + '.body')}({', '.join(args)})", "  ret void", "}", ""]
        return out

    def body_function(self):
        k = self.k
        parallel = [a for a in range(k.ndim) if a not in k.reduce_axes]
        reduced = sorted(k.reduce_axes)
        out = [f"define internal void @{symbol(k.name + '.body')}({', '.join(self.body_args())}) {{",
               "entry:", *self.allocas]
        state = {"block": "entry"}
        exits = []

        def open_loop(a, lo, hi):
            pred = state["block"]
            out.extend([f"  br label %L{a}.head", f"L{a}.head:",
                        f"  %i{a} = phi i64 [ {lo}, %{pred} ], [ %i{a}.next, %L{a}.latch ]",
                        f"  %c{a} = icmp slt i64 %i{a}, {hi}",
                        f"  br i1 %c{a}, label %L{a}.body, label %L{a}.exit", f"L{a}.body:"])
            state["block"] = f"L{a}.body"
            exits.append(a)

        def close_loop():
            a = exits.pop()
            out.extend([f"  br label %L{a}.latch", f"L{a}.latch:",
                        f"  %i{a}.next = add nuw nsw i64 %i{a}, 1",
                        f"  br label %L{a}.head", f"L{a}.exit:"])
            state["block"] = f"L{a}.exit"

        for n, a in enumerate(parallel):
            open_loop(a, "%start" if n == 0 else "0", "%end" if n == 0 else f"%n{a}")
        out += self.sections[0]
        if reduced:
            for a in reduced:
                open_loop(a, "0", f"%n{a}")
            out += self.sections[1]
            for _ in reduced:
                close_loop()
            out += self.sections[2]
        while exits:
            close_loop()
        out += ["  ret void", "}", ""]
        return out


def symbol(name):
    """The kernel's name as a plain global symbol (other characters become _)."""
    name = re.sub(r"[^A-Za-z0-9_.]", "_", name)
    return name if name[:1].isalpha() or name[:1] == "_" else "k" + name


def render(kernel):
    """The LLVM IR module text of ``kernel`` (see the module docstring for the ABI)."""
    return _Renderer(kernel).module()


def error_symbol(kernel):
    """The name of the kernel's error flag (defined only by kernels that can raise)."""
    return symbol(kernel.name) + ".error"


# ------------------------------------------------------------ scalar ops
# (op, kind) -> fn(renderer, register type, kind, *args already in the loop dtype);
# kind is f(loat), i(nt), u(nsigned), b(ool) or * (any).

_CMP = {"eq": ("oeq", "eq", "eq"), "neq": ("une", "ne", "ne"), "lt": ("olt", "slt", "ult"),
        "le": ("ole", "sle", "ule"), "gt": ("ogt", "sgt", "ugt"), "ge": ("oge", "sge", "uge")}


def _cmp(op):
    def fn(r, ty, kind, a, b):
        if kind == "f":
            return r.emit(f"fcmp {_CMP[op][0]} {ty} {a}, {b}")
        return r.emit(f"icmp {_CMP[op][1 if kind == 'i' else 2]} {ty} {a}, {b}")
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
    """NumPy computes 1.0 / x in double and casts back."""
    d = r.emit(f"{'sitofp' if kind == 'i' else 'uitofp'} {ty} {x} to double")
    q = r.fbin("fdiv", "double", "1.0", d)
    w = r.emit(f"freeze i64 {r.emit(f'fptosi double {q} to i64')}")
    return w if ty == "i64" else r.emit(f"trunc i64 {w} to {ty}")


def _sigmoid(r, ty, kind, x):
    """exp(-|x|) based, as NumPy's reference: no overflow either side."""
    if has_vector_math("sigmoid"):
        return r.call_math("sigmoid", ty, x)
    e = r.call_math("exp", ty, r.emit(f"fneg {ty} {r.intrinsic('fabs', ty, x)}"))
    den = r.fbin("fadd", ty, "1.0", e)
    pos = r.emit(f"fcmp oge {ty} {x}, 0.0")
    num = r.select(pos, ty, "1.0", e)
    return r.fbin("fdiv", ty, num, den)


def _softplus(r, ty, kind, x):
    if has_vector_math("softplus"):
        return r.call_math("softplus", ty, x)
    e = r.call_math("exp", ty, r.emit(f"fneg {ty} {r.intrinsic('fabs', ty, x)}"))
    return r.fbin("fadd", ty, r.call_math("log1p", ty, e), r.intrinsic("maximum", ty, x, "0.0"))


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
        bits = _BITS[ty]
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
        r.error = True
        flag = symbol(r.k.name + ".error")
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
    put("sigmoid", F, _sigmoid)
    put("softplus", F, _softplus)
    put("floor_div", F + I, _floor_div)
    put("mod", F + I, _mod)
    put("pow", I, _ipow)
    put("maximum", F + I, _intr("maximum"))
    put("minimum", F + I, _intr("minimum"))
    put("maximum", B, _inst("or"))
    put("minimum", B, _inst("and"))
    put("clip", F + I + B, _clip)
    for op in _CMP:
        put(op, F + I + B, _cmp(op))
    for op in ("isnan", "isinf", "isfinite"):
        put(op, F + I + B, _float_class(op))
    put("logical_not", F + I + B, _logical_not)
    return t


_SCALAR = _table()
