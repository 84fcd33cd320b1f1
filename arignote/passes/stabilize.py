"""Numerical stabilization (the ``stabilize`` phase): rewrite expressions
that lose precision or overflow into forms that do not.

``log(1 + x) -> log1p(x)`` keeps the digits of a tiny ``x``;
``log(sigmoid(x)) -> -softplus(-x)`` stays finite for large ``|x|``.
"""
from arignote.passes.algebraic import SafePattern, _is_float
from arignote.passes.rewriting import register

# (input pattern, output pattern)
PATTERNS = [
    (("log", ("add", 1, "x")), ("log1p", "x")),
    (("log", ("sub", 1, "x")), ("log1p", ("neg", "x"))),
    (("sub", ("exp", "x"), 1), ("expm1", "x")),
    (("log", ("sigmoid", "x")), ("neg", ("softplus", ("neg", "x")))),
    (("log", ("sub", 1, ("sigmoid", "x"))), ("neg", ("softplus", "x"))),
    (("sub", 1, ("sigmoid", "x")), ("sigmoid", ("neg", "x"))),
    (("log", ("exp", "x")), "x"),
    (("log1p", ("exp", "x")), ("softplus", "x")),
]

for _in, _out in PATTERNS:
    register("stabilize", "stabilize")(SafePattern(_in, _out, condition=_is_float))
