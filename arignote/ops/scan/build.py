"""``scan`` with Theano's signature and meaning, and ``map``, ``reduce``, ``foldl``,
``foldr`` on top of it.

``scan`` calls the user's step function once, on placeholder variables (one per
sequence tap, per output tap, and the non-sequences themselves), and closes
the graph it returns over everything else it reads:

* a value that does not depend on the step's placeholders (``W.T``, ``b * 2``,
  a shared variable) is computed once, outside the loop, and read as an
  invariant: loop-invariant code never enters the loop;
* a shared variable the step updates (the ``updates`` it returns, or the
  ``default_update`` of a random stream's state it draws from) is carried
  from step to step; its final value comes back in scan's ``updates``.
"""
import inspect
from collections import OrderedDict

import numpy as np

from arignote.errors import ArignoteTypeError, ArignoteValueError, describe
from arignote.graph.basic import Constant, Variable, clone_graph, graph_inputs, toposort
from arignote.graph.shared import OrderedUpdates, SharedVariable
from arignote.graph.type import TensorType
from arignote.ops.basic import as_tensor_variable, constant
from arignote.ops.elemwise import cast, minimum, neq
from arignote.ops.scan.layout import ScanLayout
from arignote.ops.scan.op import Scan
from arignote.ops.scan.parts import placeholder
from arignote.ops.shape import dimshuffle, unbroadcast


class until:
    """Returned by a step with its outputs, ``until(cond)`` ends the loop after the
    first step where ``cond`` (a scalar) is true."""

    def __init__(self, condition):
        condition = as_tensor_variable(condition)
        if condition.ndim != 0:
            raise ArignoteTypeError(f"until(): the condition must be a scalar, got {describe(condition)} "
                                    f"of type {condition.type}")
        self.condition = condition


def scan(fn, sequences=None, outputs_info=None, non_sequences=None, n_steps=None,
         truncate_gradient=-1, go_backwards=False, mode=None, name=None, strict=False,
         return_list=False):
    """Apply ``fn`` step after step; returns ``(outputs, updates)``.

    ``fn`` receives, in order: the taps of each sequence (``s[t + tap]``; a sequence
    is a variable, tap 0, or ``dict(input=s, taps=[...])``), the taps of each
    output fed back (``outputs_info`` entries: None for an output not fed back, a
    variable for tap -1, or ``dict(initial=y0, taps=[-2, -1])`` where ``y0`` has
    one row per step reached back), then the non-sequences. It returns its outputs,
    optionally with an updates dict and an :class:`until`. Sequences are cut to
    the shortest; ``n_steps`` (an int or a symbolic scalar) sets the number of
    steps where there are no sequences. ``go_backwards`` walks the sequences
    from their end. ``truncate_gradient=k`` backpropagates through the last
    ``k`` steps only. ``mode`` is accepted for Theano's sake: the loop's step
    is compiled in the mode of the function that runs it."""
    where = _describe_fn(fn)
    seqs = [_sequence(s, k, where, go_backwards) for k, s in enumerate(_as_list(sequences))]
    infos = [_output_info(o, k, where) for k, o in enumerate(_as_list(outputs_info))]
    non_seqs = [v if isinstance(v, Variable) else as_tensor_variable(v)
                for v in _as_list(non_sequences)]
    n = _n_steps(n_steps, seqs, where)

    row_types = [None if info is None else info["row_type"] for info in infos]
    for _attempt in range(2):  # (a second time with looser placeholders, see _settle_types)
        step = _call_step(fn, seqs, infos, row_types, non_seqs, where)
        if not infos:
            infos = [None] * len(step.outputs)
        if len(step.outputs) != len(infos):
            raise ArignoteValueError(
                f"scan({where}): the step returned {len(step.outputs)} output(s), but "
                f"outputs_info describes {len(infos)}; give one outputs_info entry per output "
                f"(None for an output that is not fed back)")
        looser = _settle_types(step.outputs, infos, row_types, where)
        if looser is None:
            break
        row_types = looser

    layout, inner_in, inner_out, outer_in, carried_vars = _close(
        step, seqs, infos, n, truncate_gradient, strict, non_seqs, where)
    op = Scan(inner_in, inner_out, layout, name=name or getattr(fn, "__name__", None))
    outs = op.make_node(*outer_in).outputs
    rec_outs, mapped_outs, finals = layout.outer_outputs(outs)
    rec = iter(zip(rec_outs, layout.lags))
    mapped = iter(mapped_outs)
    results = []
    for info in infos:
        if info is None:
            results.append(next(mapped))
        else:
            buf, lag = next(rec)
            results.append(buf[lag:])
    updates = OrderedUpdates(zip(carried_vars, finals))
    if len(results) == 1 and not return_list:
        return results[0], updates
    if not results and not return_list:
        return None, updates
    return results, updates


# ------------------------------------------------------------ arguments

def _describe_fn(fn):
    """'fn=step (model.py:12)': how errors name the user's step function."""
    if not callable(fn):
        raise ArignoteTypeError(f"scan(): fn must be callable, got {type(fn).__name__} {fn!r}")
    name = getattr(fn, "__qualname__", None) or type(fn).__name__
    try:
        code = inspect.unwrap(fn).__code__
        return f"fn={name} at {code.co_filename}:{code.co_firstlineno}"
    except AttributeError:
        return f"fn={name}"


def _as_list(x):
    if x is None:
        return []
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _sequence(s, k, where, go_backwards):
    """(variable, taps) for ``sequences[k]``."""
    taps = [0]
    if isinstance(s, dict):
        unknown = set(s) - {"input", "taps"}
        if unknown or "input" not in s:
            raise ArignoteTypeError(f"scan({where}): sequences[{k}] as a dict takes the keys "
                                    f"'input' and 'taps', got {sorted(s)}")
        taps = list(s.get("taps", [0]) or [0])
        s = s["input"]
    try:
        s = as_tensor_variable(s)
    except ArignoteTypeError:
        raise ArignoteTypeError(f"scan({where}): sequences[{k}] must be a tensor, got "
                                f"{type(s).__name__} {s!r}") from None
    if s.ndim == 0:
        raise ArignoteTypeError(f"scan({where}): sequences[{k}] ({describe(s)}) is a scalar; a "
                                f"sequence needs at least one dimension to iterate over")
    if not all(isinstance(t, (int, np.integer)) for t in taps):
        raise ArignoteTypeError(f"scan({where}): the taps of sequences[{k}] must be ints, got {taps}")
    return (s[::-1] if go_backwards else s), tuple(int(t) for t in taps)


def _output_info(o, k, where):
    """None (an output not fed back) or {'initial', 'taps', 'row_type'} for ``outputs_info[k]``."""
    taps = [-1]
    if isinstance(o, dict):
        unknown = set(o) - {"initial", "taps"}
        if unknown:
            raise ArignoteTypeError(f"scan({where}): outputs_info[{k}] as a dict takes the keys "
                                    f"'initial' and 'taps', got {sorted(o)}")
        if o.get("initial") is None:
            return None
        taps = list(o.get("taps", [-1]) or [-1])
        o = o["initial"]
    if o is None:
        return None
    init = as_tensor_variable(o)
    if not all(isinstance(t, (int, np.integer)) and t < 0 for t in taps):
        raise ArignoteValueError(f"scan({where}): the taps of outputs_info[{k}] must be negative "
                                 f"ints (steps back), got {taps}")
    taps = tuple(int(t) for t in taps)
    lag = -min(taps)
    if taps == (-1,):
        rows = dimshuffle(init, ["x", *range(init.ndim)])
    else:
        if init.ndim == 0:
            raise ArignoteTypeError(
                f"scan({where}): outputs_info[{k}] has taps {list(taps)}, so its initial value "
                f"needs one row per step reached back ({lag}); got the scalar {describe(init)}")
        have = init.type.shape[0]
        if have is not None and have < lag:
            raise ArignoteValueError(
                f"scan({where}): outputs_info[{k}] has taps {list(taps)}, reaching {lag} steps "
                f"back, so its initial value needs {lag} rows (one per step reached back, the "
                f"oldest first); {describe(init)} has {have}")
        rows = init[:lag]
    row_type = TensorType(rows.dtype, rows.type.shape[1:])
    return {"initial": init, "taps": taps, "rows": rows, "row_type": row_type}


def _n_steps(n_steps, seqs, where):
    """The number of steps, an int64 scalar: ``n_steps``, or the shortest sequence."""
    if n_steps is not None:
        if isinstance(n_steps, (int, np.integer)) and n_steps < 0:
            raise ArignoteValueError(f"scan({where}): n_steps must be >= 0, got {n_steps} (use "
                                     f"go_backwards=True to walk sequences from the end)")
        n = as_tensor_variable(n_steps)
        if n.ndim != 0 or not n.dtype.startswith(("int", "uint")):
            raise ArignoteTypeError(f"scan({where}): n_steps must be an integer scalar, got "
                                    f"{describe(n)} of type {n.type}")
        return cast(n, "int64") if n.dtype != "int64" else n
    if not seqs:
        raise ArignoteValueError(f"scan({where}): give sequences or n_steps: with neither, the "
                                 f"number of steps is unknown")
    lengths = [s.shape[0] - (max(taps) - min(taps)) for s, taps in seqs]
    n = lengths[0]
    for m in lengths[1:]:
        n = minimum(n, m)
    return cast(n, "int64") if n.dtype != "int64" else n


# ------------------------------------------------------------ the step

class _Step:
    """What one call of the user's step returned, over its placeholders."""

    def __init__(self, seq_vars, rec_vars, outputs, updates, condition):
        self.seq_vars, self.rec_vars = seq_vars, rec_vars
        self.outputs, self.updates, self.condition = outputs, updates, condition


def _call_step(fn, seqs, infos, row_types, non_seqs, where):
    seq_vars = [[TensorType(s.dtype, s.type.shape[1:]).make_variable(_tap_name(s, tap))
                 for tap in taps] for s, taps in seqs]
    rec_vars = [[row_type.make_variable(_tap_name(info["initial"], tap)) for tap in info["taps"]]
                for info, row_type in zip(infos, row_types) if info is not None]
    args = [v for vs in seq_vars for v in vs] + [v for vs in rec_vars for v in vs] + non_seqs
    outputs, updates, condition = _parse_return(fn(*args), where)
    return _Step(seq_vars, rec_vars, outputs, updates, condition)


def _tap_name(v, tap):
    return f"{v.name}[t{tap:+d}]" if v.name else None


def _parse_return(ret, where):
    """(outputs, updates, condition) from what a step returned: outputs, (outputs, updates),
    (updates, outputs), an updates dict, each optionally with an ``until``."""
    items = list(ret) if isinstance(ret, tuple) else [ret]
    condition = [i for i in items if isinstance(i, until)]
    items = [i for i in items if not isinstance(i, until)]
    updates = [i for i in items if isinstance(i, dict) or _is_pairs(i)]
    outputs = [i for i in items if not (isinstance(i, dict) or _is_pairs(i))]
    if len(condition) > 1 or len(updates) > 1:
        raise ArignoteTypeError(f"scan({where}): the step returned {len(condition)} until() and "
                                f"{len(updates)} updates; return at most one of each")
    if len(outputs) == 1 and isinstance(outputs[0], (list, tuple)):
        outputs = list(outputs[0])
    elif len(outputs) == 1 and outputs[0] is None:
        outputs = []
    for k, o in enumerate(outputs):
        try:
            outputs[k] = as_tensor_variable(o)
        except ArignoteTypeError:
            raise ArignoteTypeError(f"scan({where}): output {k} of the step is {type(o).__name__} "
                                    f"{o!r}; a step returns tensors") from None
    pairs = list(updates[0].items()) if updates and isinstance(updates[0], dict) else \
        list(updates[0]) if updates else []
    for var, _ in pairs:
        if not isinstance(var, SharedVariable):
            raise ArignoteTypeError(f"scan({where}): the step's updates must update shared "
                                    f"variables, got {describe(var)}")
    cond = condition[0].condition if condition else None
    return outputs, OrderedDict(pairs), cond


def _is_pairs(x):
    return (isinstance(x, (list, tuple)) and len(x) > 0 and
            all(isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], SharedVariable) for p in x))


def _settle_types(outputs, infos, row_types, where):
    """Check each fed-back output against its initial state. None if all fit; else the
    looser placeholder types (static sizes dropped where the two disagree) to call the
    step again with."""
    looser, changed = list(row_types), False
    for k, (out, info) in enumerate(zip(outputs, infos)):
        if info is None:
            continue
        want = row_types[k]
        if out.dtype != want.dtype or out.ndim != want.ndim:
            raise ArignoteTypeError(
                f"scan({where}): output {k} of the step has type {out.type} ({out.ndim}-d "
                f"{out.dtype}), but its initial state outputs_info[{k}] ({describe(info['initial'])}) "
                f"gives rows of type {want} ({want.ndim}-d {want.dtype}); a fed-back output must "
                f"keep its initial state's dtype and rank. Cast one of them, e.g. "
                f"return T.cast(out, '{want.dtype}') from the step, or give outputs_info="
                f"T.cast(initial, '{out.dtype}')")
        clash = [d for d, (w, o) in enumerate(zip(want.shape, out.type.shape))
                 if w is not None and o is not None and w != o]
        if clash:
            raise ArignoteValueError(
                f"scan({where}): output {k} of the step has static shape {out.type.shape}, but "
                f"its initial state outputs_info[{k}] ({describe(info['initial'])}) gives rows of "
                f"shape {want.shape} (dimension {clash[0]} differs); a fed-back output keeps "
                f"the shape of its rows from step to step")
        if not want.accepts(out.type):
            looser[k] = TensorType(want.dtype, tuple(w if w == o else None
                                                     for w, o in zip(want.shape, out.type.shape)))
            changed = True
    return looser if changed else None


# ------------------------------------------------------------ closing the graph

def _close(step, seqs, infos, n, truncate_gradient, strict, non_seqs, where):
    """The Scan's layout, inner inputs and outputs, outer inputs, and the shared
    variables it carries (in the order of its carried outputs)."""
    placeholders = [v for vs in step.seq_vars + step.rec_vars for v in vs]
    # shared variables carried from step to step: the step's updates, then the default
    # updates of shared variables that anything inside the loop reads (random states)
    carried = OrderedDict(step.updates)
    ends = list(step.outputs) + list(carried.values()) + \
        ([step.condition] if step.condition is not None else [])
    while True:
        new = [v for v in graph_inputs(ends, blockers=placeholders)
               if isinstance(v, SharedVariable) and v not in carried and
               isinstance(v.default_update, Variable)]
        if not new:
            break
        for v in new:
            carried[v] = v.default_update
            ends.append(v.default_update)
    for var, upd in list(carried.items()):
        upd = upd if isinstance(upd, Variable) else as_tensor_variable(upd)
        fits = var.type.accepts(upd.type) or (  # (a less precise static shape: checked when run)
            isinstance(upd.type, TensorType) and upd.type.dtype == var.type.dtype and
            var.type.compatible(upd.type))
        if not fits:
            raise ArignoteTypeError(f"scan({where}): the update of shared variable {describe(var)} "
                                    f"has type {upd.type}; the variable is {var.type}")
        carried[var] = upd
    carried_vars = list(carried)
    carried_inner = [v.type.make_variable(v.name) for v in carried_vars]

    # what depends on the loop: the placeholders, the carried shared variables, and
    # every node reading them; any other value read inside is an invariant (outside)
    ends = list(step.outputs) + list(carried.values()) + \
        ([step.condition] if step.condition is not None else [])
    inside = set(placeholders) | set(carried_vars)
    nodes = toposort(ends, blockers=list(inside))
    for node in nodes:
        if any(i in inside for i in node.inputs):
            inside.update(node.outputs)
    free = []
    for node in nodes:
        if any(o in inside for o in node.outputs):
            free += [i for i in node.inputs if i not in inside and not isinstance(i, Constant)]
    free += [e for e in ends if e not in inside and not isinstance(e, Constant)]
    explicit = [v for v in non_seqs if not isinstance(v, Constant) and v not in carried]
    invariant = list(OrderedDict.fromkeys(explicit + free))
    if strict:  # (what the step reads from outside must come from the non-sequences)
        stray = [v for v in graph_inputs(invariant, blockers=non_seqs)
                 if not isinstance(v, Constant) and v not in non_seqs]
        if stray:
            raise ArignoteValueError(
                f"scan({where}): strict=True, but the step reads "
                f"{', '.join(describe(v) for v in stray)}, not given in non_sequences")
    invariant_inner = [placeholder(v) for v in invariant]
    replace = dict(zip(carried_vars, carried_inner))
    replace.update(zip(invariant, invariant_inner))
    for v in placeholders:
        replace[v] = v
    cloned, _ = clone_graph(ends, replace=replace)
    n_out, n_car = len(step.outputs), len(carried_vars)
    outputs, updates = cloned[:n_out], cloned[n_out:n_out + n_car]
    condition = cloned[n_out + n_car:]
    rec_out = [o for o, info in zip(outputs, infos) if info is not None]
    mapped_out = [o for o, info in zip(outputs, infos) if info is None]
    rec_infos = [info for info in infos if info is not None]
    if condition:
        cond = condition[0]
        condition = [cond if cond.dtype == "bool" else neq(cond, constant(np.zeros((), cond.dtype)))]
    layout = ScanLayout(seq_taps=tuple(taps for _, taps in seqs),
                        rec_taps=tuple(info["taps"] for info in rec_infos),
                        n_mapped=len(mapped_out), n_carried=n_car, n_invariant=len(invariant),
                        until=bool(condition), truncate_gradient=int(truncate_gradient))
    inner_in = placeholders + carried_inner + invariant_inner
    inner_out = rec_out + mapped_out + updates + condition
    rows = [info["rows"] for info in rec_infos]
    rows = [r if TensorType(r.dtype, r.type.shape[1:]) == p[0].type else
            _loosen(r, p[0].type) for r, p in zip(rows, step.rec_vars)]
    outer_in = [n] + [s for s, _ in seqs] + rows + carried_vars + invariant
    return layout, inner_in, inner_out, outer_in, carried_vars


def _loosen(rows, row_type):
    """Initial rows whose static shape the (looser) placeholder type forgets."""
    axes = [d + 1 for d, (a, b) in enumerate(zip(rows.type.shape[1:], row_type.shape)) if a != b]
    return unbroadcast(rows, *axes)


# ------------------------------------------------------------ map, reduce, folds

def map(fn, sequences, non_sequences=None, truncate_gradient=-1, go_backwards=False, mode=None,
        name=None):
    """``fn`` applied to each row of the sequences: ``(outputs, updates)``."""
    return scan(fn, sequences=sequences, non_sequences=non_sequences,
                truncate_gradient=truncate_gradient, go_backwards=go_backwards, mode=mode, name=name)


def reduce(fn, sequences, outputs_info, non_sequences=None, go_backwards=False, mode=None, name=None):
    """``fn`` folded over the sequences: the outputs after the last step, and the updates."""
    outs, updates = scan(fn, sequences=sequences, outputs_info=outputs_info,
                         non_sequences=non_sequences, go_backwards=go_backwards, mode=mode,
                         name=name, return_list=True)
    last = [o[-1] for o in outs]
    return (last[0] if len(last) == 1 else last), updates


def foldl(fn, sequences, outputs_info, non_sequences=None, mode=None, name=None):
    """``reduce`` from the first row on."""
    return reduce(fn, sequences, outputs_info, non_sequences, False, mode, name)


def foldr(fn, sequences, outputs_info, non_sequences=None, mode=None, name=None):
    """``reduce`` from the last row back."""
    return reduce(fn, sequences, outputs_info, non_sequences, True, mode, name)


__all__ = ["scan", "map", "reduce", "foldl", "foldr", "until"]
