"""What ``function()`` is given, normalized and checked: its inputs (``In``), outputs
(``Out``), updates, default updates and givens. Each bad argument raises an Arignote
error naming it, before anything is compiled."""
import warnings

from arignote.errors import ArignoteTypeError, ArignoteValueError, built_at, describe
from arignote.graph.basic import Constant, Variable
from arignote.graph.shared import SharedVariable
from arignote.graph.type import TensorType
from arignote.ops.basic import as_tensor_variable


class In:
    """A function input with options: a default ``value`` and a keyword ``name``."""

    _NO_DEFAULT = object()

    def __init__(self, variable, name=None, value=_NO_DEFAULT, borrow=False):
        if not isinstance(variable, Variable):
            raise ArignoteTypeError(f"In() wraps a symbolic variable, got {type(variable).__name__}")
        self.variable = variable
        self.name = name if name is not None else variable.name
        self.value = value
        self.borrow = borrow

    @property
    def has_default(self):
        return self.value is not In._NO_DEFAULT


class Out:
    """A function output; with ``borrow=True`` its storage may be reused by the next call."""

    def __init__(self, variable, borrow=False):
        self.variable = variable
        self.borrow = borrow


def _normalize_inputs(inputs):
    if isinstance(inputs, (Variable, In)):
        inputs = [inputs]
    if not isinstance(inputs, (list, tuple)):
        raise ArignoteTypeError(f"function() inputs must be a list of variables, got "
                                f"{type(inputs).__name__}")
    result, seen = [], set()
    for k, inp in enumerate(inputs):
        inp = inp if isinstance(inp, In) else In(inp) if isinstance(inp, Variable) else None
        if inp is None:
            raise ArignoteTypeError(f"function() input {k} is a {type(inputs[k]).__name__}, "
                                    f"not a symbolic variable")
        v = inp.variable
        if isinstance(v, SharedVariable):
            raise ArignoteTypeError(
                f"shared variable {describe(v)} cannot be an explicit input: every function that "
                f"uses it reads it implicitly; use givens to replace it")
        if isinstance(v, Constant):
            raise ArignoteTypeError(f"function() input {k} is a constant ({v}); inputs must be "
                                    f"symbolic variables such as T.matrix('x')")
        if v.owner is not None:
            raise ArignoteTypeError(
                f"function() input {describe(v)} is computed by {v.owner.op}{built_at(v)}; inputs "
                f"must be root variables (use givens to replace an intermediate)")
        if v in seen:
            raise ArignoteValueError(f"function() input {describe(v)} is given twice")
        seen.add(v)
        if inp.has_default:
            inp.value = v.type.filter(inp.value, what=f"the default value of input {describe(v)}")
        result.append(inp)
    names = [i.name for i in result if i.name]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        warnings.warn(f"several function inputs are named {sorted(dup)}; they can only be passed "
                      f"by position", stacklevel=4)
    return result


def _normalize_outputs(outputs):
    if outputs is None:
        return []
    single = not isinstance(outputs, (list, tuple))
    outs = [outputs] if single else list(outputs)
    result = []
    for k, o in enumerate(outs):
        out = o if isinstance(o, Out) else Out(o)
        if not isinstance(out.variable, Variable):
            raise ArignoteTypeError(
                f"function() output {k} is a {type(out.variable).__name__} ({out.variable!r}), not "
                f"a graph variable; wrap fixed values with T.constant")
        result.append(out)
    return result


def _pairs(x, what):
    if x is None:
        return []
    if isinstance(x, dict):
        return list(x.items())
    try:
        pairs = [tuple(p) for p in x]
    except TypeError:
        raise ArignoteTypeError(f"function() {what} must be a dict or a list of pairs, got "
                                f"{type(x).__name__}") from None
    if any(len(p) != 2 for p in pairs):
        raise ArignoteTypeError(f"function() {what} must be (variable, value) pairs")
    return pairs


def _normalize_updates(updates):
    result, seen = [], set()
    for sv, new in _pairs(updates, "updates"):
        if not isinstance(sv, SharedVariable):
            raise ArignoteTypeError(f"updates: {describe(sv) if isinstance(sv, Variable) else repr(sv)}"
                                    f" is not a shared variable; only shared variables can be updated")
        if sv in seen:
            raise ArignoteValueError(f"updates: shared variable {describe(sv)} is updated twice")
        seen.add(sv)
        result.append((sv, _update(sv, new, f"updates: the new value of shared variable "
                                            f"{describe(sv)}")))
    return result


def _update(sv, new, what):
    """``new`` as the update of ``sv`` (an expression or a value), checked against its type."""
    new = _as_variable(new, what, sv.type)
    if not sv.type.compatible(new.type):
        tensors = isinstance(sv.type, TensorType) and isinstance(new.type, TensorType)
        hint = (f"; cast it with T.cast(update, '{sv.dtype}')"
                if tensors and new.dtype != sv.dtype else "")
        raise ArignoteTypeError(f"{what} has type {new.type} but the variable has type "
                                f"{sv.type}{built_at(new)}{hint}")
    return new


def _default_updates(outputs, updates, givens, no_default_updates):
    """The (shared variable, default update) pairs a function adds: those of the shared
    variables the ``outputs`` and ``updates`` read (through ``givens``) that no update
    names and ``no_default_updates`` does not exclude, and of those a default update
    reads in turn, until none is left (Theano's contract)."""
    if no_default_updates is True:
        return []
    excluded = set(_no_default_list(no_default_updates))
    updated = {sv for sv, _ in updates}
    found, seen = [], set()
    stack = list(outputs) + [new for _, new in updates]
    while stack:
        v = stack.pop()
        if v in seen:
            continue
        seen.add(v)
        if v in givens:  # (the graph reads the replacement, never v itself)
            stack.append(givens[v])
        elif v.owner is not None:
            stack.extend(v.owner.inputs)
        elif isinstance(v, SharedVariable) and v.default_update is not None and \
                v not in updated and v not in excluded:
            new = _update(v, v.default_update, f"the default_update of shared variable {describe(v)}")
            updated.add(v)
            found.append((v, new))
            stack.append(new)
    return found


def _no_default_list(no_default_updates):
    """The shared variables ``no_default_updates`` excludes (False/None: none)."""
    if no_default_updates is False or no_default_updates is None:
        return []
    if isinstance(no_default_updates, Variable) or not isinstance(no_default_updates,
                                                                  (list, tuple, set, frozenset)):
        raise ArignoteTypeError(f"function(): no_default_updates must be True, False or a list of "
                                f"shared variables, got {no_default_updates!r}")
    for v in no_default_updates:
        if not isinstance(v, SharedVariable):
            raise ArignoteTypeError(f"function(): no_default_updates lists "
                                    f"{describe(v) if isinstance(v, Variable) else repr(v)}, which "
                                    f"is not a shared variable")
    return no_default_updates


def _as_variable(value, what, like):
    """``value`` as a variable to stand for one of type ``like``: a variable as it is,
    else a tensor (numbers, arrays), or a constant of ``like`` when that is another kind."""
    if isinstance(value, Variable):
        return value
    try:
        return as_tensor_variable(value) if isinstance(like, TensorType) else like.make_constant(value)
    except ArignoteTypeError as e:
        raise ArignoteTypeError(f"{what}: {e}") from None


def _normalize_givens(givens):
    result = {}
    for old, new in _pairs(givens, "givens"):
        if not isinstance(old, Variable) or isinstance(old, Constant):
            raise ArignoteTypeError(f"givens: {old!r} cannot be replaced; keys must be symbolic "
                                    f"variables")
        new = _as_variable(new, f"givens: the replacement of {describe(old)}", old.type)
        if not old.type.compatible(new.type):
            raise ArignoteTypeError(
                f"givens: {describe(old)} of type {old.type} cannot be replaced by "
                f"{describe(new)} of type {new.type}{built_at(new)}")
        result[old] = new
    return result
