"""One native call per function call: a Program replayed for one input signature.

A training step of small arrays spends more time between its kernels (the
Python that checks, packs and dispatches each step) than in them. But once
the roots' signature is fixed (each one's shape, strides, dtype and flags),
so is almost everything a run decides: every extent, every packed argument
buffer but the roots' data pointers, every shape computation. A
:class:`Replayer` records one normal run per signature (its second call:
the first stays lean) and replays it afterwards as native calls of
:func:`~arignote.compiler.helper_ir.sequence`, which runs every kernel (its
packed arguments kept from the recording, the data pointers patched from
this call's arrays; one split among threads dispatched to the native pool,
:mod:`arignote.runtime.threads`) and every BLAS ``gemm`` in order.

What a replay holds and what it redoes:

* intermediates live in the arrays of the recorded run, held for good (so
  their addresses, packed into the buffers, stay valid; the pool never hands
  out an array someone refers to);
* the roots, and each output (a new array each call, from the pool or its
  Lender), are patched in by address: ``bases`` is their data pointers;
* host steps whose outputs follow from shapes alone (``Shape_i`` and what
  only such values and constants feed: ``ARange`` of a shape) are not rerun:
  the signature fixes them; views (``DimShuffle``, ``Head``) are not rerun
  either: their address is their source's plus an offset the strides fix;
* other host steps (``RowLabels``, which checks the labels' values) run in
  Python between native segments, their outputs copied into the held arrays;
  so do kernels split among threads where there is no native pool
  (``runner(call)`` on the kept buffer).

Invariant 8 holds as in a normal run: the in-place commits are the last
segment, after every other step has succeeded and ``settle`` ran; a kernel's
error flag (or a host step raising) stops the replay before them, and the
Program then reruns the call normally, which raises the proper error. What
the recording cannot pin down (a value-dependent view, an output that is a
view, an aliasing that makes a commit copy, a BLAS it cannot call, empty
arrays) makes the signature run normally. The replay of a program whose
steps are wrapped (:mod:`arignote.runtime.profile`) never happens: the
Program takes its normal path then.
"""
import ctypes
import os

import numpy as np

from arignote.compiler.jit import helper_function
from arignote.compiler.helper_ir import SEQUENCE, sequence
from arignote.compiler.unsafe import data_pointer
from arignote.ops.static_shape import Shape, Shape_i
from arignote.runtime.memory import copy_value
from arignote.runtime.native_words import (Builder, Native, Unsupported, bounds, host_item,
                                           native_kind, view_item)

#: ``ARIGNOTE_NATIVE_CALLS=0`` turns replays off (every call runs step by step)
ENABLED = os.environ.get("ARIGNOTE_NATIVE_CALLS", "1").strip() != "0"
#: signatures remembered per Program (a new one past these forgets the others)
MAX_SIGNATURES = 4
#: a replay holds its intermediates for good: not worth it past this many bytes
MAX_HELD_BYTES = 32 << 20



def _runner():
    """ctypes' handle on the compiled :func:`~arignote.compiler.helper_ir.sequence` (once per
    process), or None if it cannot be had (programs then run step by step)."""
    return helper_function(sequence, SEQUENCE, ctypes.c_int64, ctypes.c_void_p, ctypes.c_void_p)


def signature(values):
    """The key of a replay: each root's class, shape, strides, dtype and flags; None
    for roots a replay never takes (not plain arrays, empty ones)."""
    sig = []
    for a in values:
        if a.__class__ is not np.ndarray or not a.size:
            return None
        flags = a.flags
        sig.append((a.shape, a.strides, a.dtype, flags.aligned, flags.writeable))
    return tuple(sig)


class Replayer:
    """The replays of one Program, by signature; ``run`` returns None where the call must
    run normally (``program._run``), which it does itself when recording."""

    def __init__(self, program):
        self.program = program
        self.replays = {}  # signature -> None (seen once), a Replay, or False (refused)
        self.refused = 0

    def run(self, root_values, settle):
        sig = signature(root_values)
        if sig is None:
            return None
        replay = self.replays.get(sig, 0)
        if replay.__class__ is Replay:
            return replay.run(root_values, settle)
        if replay is None:  # the second call of this signature: record it
            return self._record(sig, root_values, settle)
        if replay == 0:
            if len(self.replays) >= MAX_SIGNATURES:
                self.replays.clear()
            self.replays[sig] = None
        return None

    def _record(self, sig, root_values, settle):
        program = self.program
        log = _Log(program)
        results = program._run(root_values, log.settle(settle), log.run_steps, log.commit_steps)
        try:
            self.replays[sig] = Replay(program, root_values, log, results)
        except Exception:  # (Unsupported, or a kernel refusing to pack: this signature runs normally)
            self.replays[sig] = False
            self.refused += 1
            if self.refused >= MAX_SIGNATURES:  # (a program that never replays pays nothing)
                program._replayer = False
        return results


class _Log:
    """Wrappers of a Program's steps that note what each call got and gave."""

    def __init__(self, program):
        self.values = {}  # slot -> value, as the run made them
        self.pre_settle = None
        self.commits = []  # (step index, args, prepared call, outputs)
        self.run_steps = [(node, self._logged(k, run, outs), gather, outs_spec, free)
                          for k, ((node, run, gather, outs_spec, free), (_, _, _, outs, _))
                          in enumerate(zip(program._run_steps, program.steps))]
        self.commit_steps = [(node, _LoggedCommit(self, k, run), ins, outs, free)
                             for k, (node, run, ins, outs, free) in enumerate(program._commit_steps)]
        self.args = {}  # run step index -> its args

    def _logged(self, k, run, outs):
        def logged(args):
            results = run(args)
            self.args[k] = args
            for i, r in zip(outs, results):
                self.values[i] = r
            return results
        return logged

    def settle(self, settle):
        def noting(results, roots):
            self.pre_settle = list(results)
            if settle is not None:
                settle(results, roots)
        return noting


class _LoggedCommit:
    """A commit step noting its prepared call and its outputs."""

    def __init__(self, log, k, run):
        self.log, self.k, self.run, self.inplace = log, k, run, run.inplace
        self.pending = {}

    def prepare(self, args, keep=()):
        call = self.run.prepare(args, keep)
        self.pending[id(call)] = (args, call)
        return call

    def finish(self, call):
        outputs = self.run.finish(call)
        args, _ = self.pending.pop(id(call))
        self.log.commits.append((self.k, args, call, list(outputs)))
        return outputs

    def release(self, call):
        self.pending.pop(id(call), None)
        self.run.release(call)


class Replay:
    """One signature's replay, built from a logged normal run (see the module)."""

    def __init__(self, program, roots, log, results):
        seq = _runner()
        if seq is None or log.pre_settle is None:
            raise Unsupported("no sequence runner")
        self.program, self.seq = program, seq
        n_roots = program.n_roots
        lenders = program._lender_slots
        steps = program.steps
        split = len(program._run_steps)
        output_slots = program.output_slots
        # ---- what each slot is: root, constant (shape-determined), view, held, fresh
        kind = {i: "root" for i in range(n_roots)}
        kind.update((i, "const") for i in program.constant_slots)
        values = dict(log.values)
        values.update((i, v) for i, v in enumerate(roots))
        values.update(program.constants)
        natives = {}  # run step index -> how it runs natively
        for k, (node, run, ins, outs, _) in enumerate(steps[:split]):
            native = native_kind(node, run, log.args[k])
            if native is not None:
                natives[k] = native
                for i in outs:
                    kind[i] = "native"
                continue
            outputs = [values[i] for i in outs]
            if isinstance(node.op, (Shape, Shape_i)) or ins and all(kind.get(i) == "const" for i in ins):
                kind.update((i, "const") for i in outs)
                continue
            sources = [values[i] for i in ins if values[i].__class__ is np.ndarray]
            views = [any(np.may_share_memory(o, s) for s in sources) for o in outputs
                     if o.__class__ is np.ndarray]
            if len(views) != len(outputs):
                raise Unsupported(f"{node.op}: not an array")
            if all(views) and getattr(node.op, "fusion_kind", None) == "view":  # (pure views)
                fixed = [i for i in ins if not any(values[i].__class__ is np.ndarray and
                                                   np.may_share_memory(values[i], o) for o in outputs)]
                if any(kind.get(i) != "const" for i in fixed):
                    raise Unsupported(f"{node.op}: a view whose offset depends on values")
                kind.update((i, "view") for i in outs)
            elif any(views) or any(o.base is not None for o in outputs):
                raise Unsupported(f"{node.op}: outputs that are views")
            else:
                kind.update((i, "host") for i in outs)
        if not natives:  # (another backend's kernels: all of it would be host steps)
            raise Unsupported("nothing that runs natively")
        # ---- per-call arrays: the outputs the native steps make, and the commits' copies
        fresh = []  # (slot or None, recorded array, lender or None)
        fresh_of = {}
        for k, i in enumerate(output_slots):
            if log.pre_settle[k] is None:
                continue  # (an in-place commit's, below)
            if kind.get(i) in ("view", "host"):
                raise Unsupported("an output that is a view or a host step's")
            if kind.get(i) == "native" and i not in fresh_of:
                fresh_of[i] = len(fresh)
                fresh.append((i, values[i], lenders.get(i)))
        self.results = []
        for k, i in enumerate(output_slots):
            if log.pre_settle[k] is None:
                self.results.append(("commit", None))
            elif kind[i] == "root":
                self.results.append(("root", i))
            elif kind[i] == "const":
                self.results.append(("const", values[i]))
            else:
                self.results.append(("fresh", fresh_of[i]))
        commits = []  # (commit step, args, call, outputs, fresh index per output or None)
        for k, args, call, outputs in sorted(log.commits, key=lambda c: c[0]):
            node, run, ins, outs, _ = program._commit_steps[k]
            slots = []
            for n, o in enumerate(outputs):
                target = args[run.inplace[n]] if n in run.inplace else None
                if o is target and ins[run.inplace[n]] < n_roots:
                    slots.append(None)  # written in place over the root
                elif o.base is None and o is not target:
                    fresh_of[outs[n]] = len(fresh)
                    fresh.append((outs[n], o, lenders.get(outs[n])))
                    slots.append(len(fresh) - 1)
                else:
                    raise Unsupported(f"{node.op}: a commit that is neither in place nor a copy")
            commits.append((node, run, ins, outs, args, call, outputs, slots))
        if len(commits) != len(program._commit_steps):
            raise Unsupported("a commit step that did not run")
        self.fresh = [(tuple(a.shape), a.dtype, lender) for _, a, lender in fresh]
        # the outputs the commits give: (position, a root's index, or None and a fresh index)
        done = {i: (c[2][c[1].inplace[n]], None) if s is None else (None, s)
                for c in commits for n, (i, s) in enumerate(zip(c[3], c[7]))}
        self.commit_outputs = [(k, *done[i]) for k, i in enumerate(output_slots)
                               if log.pre_settle[k] is None]
        # settle copies results that share memory: distinct fresh arrays never do
        made = [where for what, where in self.results if what != "commit"]
        self.settles = any(what in ("root", "const") for what, _ in self.results) or \
            len(set(made)) != len(made)
        # the roots written in place: checked for aliasing each call (else a commit copies)
        self.inplace_roots = sorted({c[2][c[1].inplace[n]] for c in commits
                                     for n, s in enumerate(c[7]) if s is None})
        if any(roots[t].base is not None or any(r is roots[t] or r.base is roots[t]
                                                 for j, r in enumerate(roots) if j != t)
               for t in self.inplace_roots):
            raise Unsupported("an in-place root that may alias another")
        # ---- the pointer map: roots and fresh arrays patched, the rest held
        patched = [bounds(roots[j]) for j in range(n_roots)] + [bounds(a) for _, a, _ in fresh]
        held = [values[i] for i, kd in kind.items() if kd in ("native", "host", "const", "view")
                and values[i].__class__ is np.ndarray and i not in fresh_of]
        if sum(a.nbytes for a in held if a.base is None) > MAX_HELD_BYTES:
            raise Unsupported("too many bytes held")
        self._keep = [held]
        builder = Builder(patched, held, self._keep)
        # ---- the items: native entries, host steps, threaded kernels
        self.storage = [None] * len(program.slot)
        for i, v in values.items():
            if kind.get(i) in ("native", "host", "const") and i not in fresh_of:
                self.storage[i] = v
        needed = set()  # slots host steps read
        for k, (_, _, ins, outs, _) in enumerate(steps[:split]):
            if k not in natives and kind[outs[0]] == "host":
                needed.update(ins)
        for k in range(split - 1, -1, -1):  # (views that host steps read are rerun)
            node, run, ins, outs, _ = steps[k]
            if k not in natives and kind[outs[0]] == "view" and needed & set(outs):
                needed.update(ins)
        for k, (node, run, ins, outs, _) in enumerate(steps[:split]):
            args = log.args[k]
            if k in natives:
                builder.native(natives[k], run, args, [values[i] for i in outs])
            elif kind[outs[0]] == "host":
                builder.host(host_item(node, run, ins, [values[i] for i in outs]))
            elif kind[outs[0]] == "view" and needed & set(outs):
                builder.host(view_item(run, ins, outs))
        self.items = builder.finish()
        for node, run, _, _, args, _, outputs, slots in commits:
            for n, s in enumerate(slots):
                if s is not None and n in run.inplace:  # the copy a small in-place commit makes
                    src = args[run.inplace[n]]
                    if not src.flags.c_contiguous or src.shape != outputs[n].shape or \
                            src.dtype != outputs[n].dtype:
                        raise Unsupported(f"{node.op}: a copy of a non-contiguous root")
                    builder.copy(outputs[n], src)
            native = native_kind(node, run, args)
            if native is None:
                raise Unsupported(f"{node.op}: a commit that does not run natively")
            args = list(args)
            for n, s in enumerate(slots):
                if s is not None and n in run.inplace:
                    args[run.inplace[n]] = outputs[n]
            builder.native(native, run, args, outputs, commit=True)
        self.commit_items = builder.finish()
        if any(item.__class__ is not Native for item in self.commit_items):
            raise Unsupported("a commit that is not native")
        self.patches = builder.patch_program()
        self.bases = (ctypes.c_int64 * max(len(patched), 1))()
        self.bases_address = ctypes.addressof(self.bases)
        self.fresh_slots = [i for i, _, _ in fresh]
        self.root_slots = range(n_roots)

    def run(self, roots, settle):
        """The outputs, as ``Program.run`` gives them; None where the call must run
        normally (a flag or a host step raised, an aliasing a commit must copy for)."""
        for t in self.inplace_roots:
            v = roots[t]
            if v.base is not None or any(r is v or r.base is v for j, r in enumerate(roots) if j != t):
                return None
        program = self.program
        fresh = [lender.take(shape, dtype) if lender is not None else program.pool.take(shape, dtype)
                 for shape, dtype, lender in self.fresh]
        self.bases[:] = [data_pointer(a) for a in roots] + [data_pointer(a) for a in fresh] or [0]
        storage = self.storage
        for i, v in zip(self.root_slots, roots):
            storage[i] = v
        for i, v in zip(self.fresh_slots, fresh):
            storage[i] = v
        seq, bases = self.seq, self.bases_address
        if seq(self.patches, bases):
            return None
        try:
            for item in self.items:
                if item.__class__ is Native:
                    if seq(item.address, bases):
                        return None
                else:
                    item(storage)
        except Exception:
            return None
        finally:  # (the storage holds no array of the caller's between calls)
            for i in self.root_slots:
                storage[i] = None
            for i in self.fresh_slots:
                storage[i] = None
        results = []
        for what, where in self.results:
            if what == "fresh":
                results.append(fresh[where])
            elif what == "root":
                results.append(roots[where])
            elif what == "const":
                results.append(copy_value(where))
            else:
                results.append(None)
        if settle is not None and self.settles:
            settle(results, roots)
        for item in self.commit_items:
            seq(item.address, bases)
        for k, root, j in self.commit_outputs:
            results[k] = fresh[j] if root is None else roots[root]
        for lender in program._lenders:
            lender.lend()
        return results
