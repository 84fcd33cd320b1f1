"""Vectorizable transcendental functions as LLVM IR text, for the CPU backend.

The functions are written once, over an emitter interface, in
:mod:`arignote.compiler.mathlib`; :class:`LLVMEmitter` is its LLVM
implementation. Each function is an ``internal alwaysinline`` scalar function
such as ``@ag_exp_f32(float)``, written only with arithmetic, compares,
selects, bitcasts, integer ops and intrinsics the loop vectorizer widens
(``fma``, ``fabs``, ``rint``, ``floor``, ``sqrt``, ``copysign``): no libm
call, so a loop calling it vectorizes. Edge cases follow NumPy. Methods,
accuracy, timings: docs/transcendentals.md.

API: :func:`math_ir` (IR of the needed functions and their dependencies, each
once), :func:`function_name`, :data:`MATH_FUNCTIONS` (the op names covered).
The IR calls intrinsics undeclared (LLVM >= 19 declares them) and must be
compiled without fast-math flags: the compensated sums need strict IEEE. That
also makes a function give the same bits for an argument in a vectorized
loop, its scalar remainder and any kernel (docs/design.md, "A value has one
value"): every fused multiply-add is an explicit ``llvm.fma`` (exact, never
``fmuladd``, which LLVM may or may not fuse), every other op rounds as IEEE
says.
"""
import functools
import struct

from arignote.compiler.mathlib import MATH_FUNCTIONS, SPECS, Emitter, emit_function, function_name, spec

__all__ = ["LLVM_TYPES", "LLVMEmitter", "MATH_FUNCTIONS", "SPECS", "function_name", "math_ir"]

#: dtype -> (LLVM float type, integer type of its width)
LLVM_TYPES = {"float32": ("float", "i32"), "float64": ("double", "i64")}


class LLVMEmitter(Emitter):
    """SSA text for one function body: each primitive is one instruction (or intrinsic
    call); Python numbers become constants."""

    def __init__(self, spec):
        super().__init__(spec)
        self.ty, self.ity = LLVM_TYPES[spec.dtype]
        self.lines, self.n = [], 0

    def f(self, v):
        if isinstance(v, str):
            return v
        v = float(self.s.np(v))
        return "0x%016X" % struct.unpack("<Q", struct.pack("<d", v))[0]

    def emit(self, text):
        self.n += 1
        self.lines.append(f"  %t{self.n} = {text}")
        return f"%t{self.n}"

    def fop(self, opc, a, b):
        return self.emit(f"{opc} {self.ty} {self.f(a)}, {self.f(b)}")

    add = functools.partialmethod(fop, "fadd")
    sub = functools.partialmethod(fop, "fsub")
    mul = functools.partialmethod(fop, "fmul")
    div = functools.partialmethod(fop, "fdiv")

    def intr(self, name, *args):
        return self.emit(f"call {self.ty} @llvm.{name}.{self.s.sfx}("
                         + ", ".join(f"{self.ty} {self.f(a)}" for a in args) + ")")

    fma = functools.partialmethod(intr, "fma")
    fabs = functools.partialmethod(intr, "fabs")
    sqrt = functools.partialmethod(intr, "sqrt")
    rint = functools.partialmethod(intr, "rint")
    floor = functools.partialmethod(intr, "floor")
    copysign = functools.partialmethod(intr, "copysign")

    def neg(self, a):
        return self.emit(f"fneg {self.ty} {a}")

    def cmp(self, pred, a, b):
        return self.emit(f"fcmp {pred} {self.ty} {self.f(a)}, {self.f(b)}")

    def sel(self, c, a, b):
        return self.emit(f"select i1 {c}, {self.ty} {self.f(a)}, {self.ty} {self.f(b)}")

    def iop(self, opc, a, b):
        return self.emit(f"{opc} {self.ity} {a}, {b}")

    def icmp(self, pred, a, b):
        return self.emit(f"icmp {pred} {self.ity} {a}, {b}")

    def isel(self, c, a, b):
        return self.emit(f"select i1 {c}, {self.ity} {a}, {self.ity} {b}")

    def to_int(self, a):
        return self.emit(f"bitcast {self.ty} {a} to {self.ity}")

    def to_float(self, a):
        return self.emit(f"bitcast {self.ity} {a} to {self.ty}")

    def call_function(self, name, a):
        return self.emit(f"call {self.ty} @{name}({self.ty} {a})")


@functools.lru_cache(None)
def _define(op, dtype):
    """(IR text of one function, the ops it calls)."""
    e = LLVMEmitter(spec(dtype))
    res = emit_function(e, op, "%x")
    head = (f"define internal {e.ty} @{function_name(op, dtype)}({e.ty} %x) "
            "alwaysinline nounwind willreturn memory(none) {\nentry:\n")
    return head + "\n".join(e.lines) + f"\n  ret {e.ty} {e.f(res)}\n}}\n", tuple(dict.fromkeys(e.deps))


def math_ir(names_and_dtypes):
    """IR text defining the functions for ``(op, dtype)`` pairs and what they call, each once."""
    texts = {}

    def visit(op, dtype):
        if (op, dtype) not in texts:
            texts[op, dtype], deps = _define(op, dtype)
            for d in deps:
                visit(d, dtype)
    for op, dtype in names_and_dtypes:
        visit(op, spec(dtype).dtype)
    return "\n".join(texts.values())
