"""Theano's ``theano.ifelse``: lazy branching (``from arignote.ifelse import ifelse``).

``ifelse(condition, then_branch, else_branch)`` computes only the branch the
scalar ``condition`` chooses; ``T.switch`` computes both, elementwise. See
:mod:`arignote.ops.ifelse`."""
from arignote.ops.ifelse import IfElse, ifelse

__all__ = ["ifelse", "IfElse"]
