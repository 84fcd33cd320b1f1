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

from arignote.compiler.bind import static_view
from arignote.compiler.jit import helper_function
from arignote.compiler.helper_ir import SEQUENCE, SEQUENCE_CODES, sequence
from arignote.compiler.unsafe import data_pointer
from arignote.ops.blas import Gemm, MatMul
from arignote.ops.static_shape import Shape, Shape_i
from arignote.runtime import blas
from arignote.runtime.memory import copy_value

#: ``ARIGNOTE_NATIVE_CALLS=0`` turns replays off (every call runs step by step)
ENABLED = os.environ.get("ARIGNOTE_NATIVE_CALLS", "1").strip() != "0"
#: signatures remembered per Program (a new one past these forgets the others)
MAX_SIGNATURES = 4
#: a replay holds its intermediates for good: not worth it past this many bytes
MAX_HELD_BYTES = 32 << 20

_KERNEL, _GEMM, _COPY, _PATCH, _PARALLEL = (
    SEQUENCE_CODES[k] for k in ("kernel", "gemm", "copy", "patch", "parallel"))
_ROW_MAJOR_TRANS = {False: 111, True: 112}


def _runner():
    """ctypes' handle on the compiled :func:`~arignote.compiler.helper_ir.sequence` (once per
    process), or None if it cannot be had (programs then run step by step)."""
    return helper_function(sequence, SEQUENCE, ctypes.c_int64, ctypes.c_void_p, ctypes.c_void_p)


class Unsupported(Exception):
    """The recorded run has something a replay cannot redo (the signature runs normally)."""


class _Mismatch(Exception):
    """A host step's output no longer fits the held array (the call runs normally)."""


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


def _bounds(a):
    """``(lo, hi, pointer)``: the bytes ``a`` may touch, and its data pointer."""
    p = data_pointer(a)
    lo = hi = p
    for n, s in zip(a.shape, a.strides):
        if s < 0:
            lo += (n - 1) * s
        else:
            hi += (n - 1) * s
    return lo, hi + a.itemsize, p


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
            native = _native_kind(node, run, log.args[k])
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
        patched = [_bounds(roots[j]) for j in range(n_roots)] + [_bounds(a) for _, a, _ in fresh]
        held = [values[i] for i, kd in kind.items() if kd in ("native", "host", "const", "view")
                and values[i].__class__ is np.ndarray and i not in fresh_of]
        if sum(a.nbytes for a in held if a.base is None) > MAX_HELD_BYTES:
            raise Unsupported("too many bytes held")
        self._keep = [held]
        builder = _Builder(patched, held, self._keep)
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
                builder.host(_host_item(node, run, ins, [values[i] for i in outs]))
            elif kind[outs[0]] == "view" and needed & set(outs):
                builder.host(_view_item(run, ins, outs))
        self.items = builder.finish()
        for node, run, _, _, args, _, outputs, slots in commits:
            for n, s in enumerate(slots):
                if s is not None and n in run.inplace:  # the copy a small in-place commit makes
                    src = args[run.inplace[n]]
                    if not src.flags.c_contiguous or src.shape != outputs[n].shape or \
                            src.dtype != outputs[n].dtype:
                        raise Unsupported(f"{node.op}: a copy of a non-contiguous root")
                    builder.copy(outputs[n], src)
            native = _native_kind(node, run, args)
            if native is None:
                raise Unsupported(f"{node.op}: a commit that does not run natively")
            args = list(args)
            for n, s in enumerate(slots):
                if s is not None and n in run.inplace:
                    args[run.inplace[n]] = outputs[n]
            builder.native(native, run, args, outputs, commit=True)
        self.commit_items = builder.finish()
        if any(item.__class__ is not _Native for item in self.commit_items):
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
                if item.__class__ is _Native:
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


def _native_kind(node, run, args):
    """How a step runs natively on ``args``: 'kernel', 'gemm' (a Gemm's library step),
    'matmul' (MatMul's, as a gemm), or None (a host step). A product NumPy computes
    otherwise than by ``gemm`` (a matrix times a vector: ``gemv``; ``a.T @ a``: ``syrk``)
    stays NumPy's, so a replay gives the very bits a normal run gives."""
    launcher = getattr(run, "launcher", None)
    if launcher is not None and getattr(launcher, "compiled", None) is not None and \
            hasattr(launcher, "_n_shape"):
        return "kernel"
    if isinstance(node.op, Gemm) and hasattr(run, "take"):
        return "gemm"
    if isinstance(node.op, MatMul) and getattr(run, "trusted", False):
        a, b = args
        if a.ndim == b.ndim == 2 and a.shape[0] > 1 and b.shape[1] > 1 and \
                not np.may_share_memory(a, b):
            return "matmul"
    return None


class _Native:
    """A native segment: its entries, ended by opcode 0, in memory of its own."""

    __slots__ = ("array", "address")

    def __init__(self, words):
        self.array = np.array(words + [0], np.int64)
        self.address = self.array.ctypes.data


class _Builder:
    """Lays out the items of a replay: native entries (patched where they hold a
    root's or a fresh array's pointer), host items in between."""

    def __init__(self, patched, held, keep):
        self.patched, self.keep = patched, keep
        self.held = [_bounds(a) for a in held if a.size]
        self.items, self.words, self.relocs = [], [], []  # relocs: (word index, base, delta)
        self.patches = []  # (absolute address, base, delta), or (item, word index, base, delta)

    def _pointer(self, p, where):
        """Note pointer ``p`` found at ``where`` (an address, or a word of this segment)."""
        for b, (lo, hi, start) in enumerate(self.patched):
            if lo <= p < hi:
                self.patches.append((where, b, p - start))
                return
        if not any(lo <= p < hi for lo, hi, _ in self.held):
            raise Unsupported("a pointer into memory the replay does not hold")

    def _word(self, value, pointer=False):
        if pointer:
            self._pointer(value, ("word", len(self.words)))
        self.words.append(int(value))

    def native(self, native, run, args, outputs, commit=False):
        if native == "kernel":
            self._kernel(run, args, outputs, commit)
        else:
            self._gemm(native, run, args, outputs[0])

    def _kernel(self, run, args, outputs, commit):
        la = run.launcher
        if la.kernel.extents or not all(static_view(steps) for _, (_, steps) in la.views):
            raise Unsupported("a kernel whose extents or views follow values")  # (x[i:i + n])
        call = la.prepare(list(args), outputs=list(outputs))
        arrays, buf, base = call._keep
        self.keep.append(call)
        flag = la.compiled.error_flag
        if commit and flag is not None:
            raise Unsupported("a commit that can raise")
        if any(a is not o for a, o in zip(arrays[len(arrays) - len(outputs):], outputs)):
            raise Unsupported("a kernel that did not write into the given outputs")
        n_shape = la._n_shape
        for j in range(len(arrays)):
            self._pointer(buf[n_shape + j], base + 8 * (n_shape + j))
        call._keep = (None, buf, base)  # (the replay holds what it reads: not the recorded roots)
        runner, limit = getattr(run, "runner", None), getattr(run, "parallel_work", None)
        if runner is not None and limit is not None and call.end > 1 and \
                call.end * max(call.work // call.end, 1) >= limit:
            job = getattr(runner, "native_job", lambda call: None)(call)
            if job is None:  # (no native pool: the runner splits it from Python)
                self.host(_threaded_item(la, call, runner))
                return
            run_address, pool, bounds, bounds_address, n = job
            self.keep.append(bounds)
            self._word(_PARALLEL)
            for w in (run_address, pool, la.compiled.address, *call.args, bounds_address, n):
                self._word(w)
            self._word(ctypes.addressof(flag) if flag is not None else 0)
            return
        self._word(_KERNEL)
        for w in (la.compiled.address, *call.args):
            self._word(w)
        self._word(call.end)
        self._word(ctypes.addressof(flag) if flag is not None else 0)

    def _gemm(self, native, run, args, out):
        fns = blas._FNS
        if fns is None or blas.gemm is None or out.dtype not in blas._CHAR or out.ndim != 2:
            raise Unsupported("no BLAS to call")
        fn = fns[blas._CHAR[out.dtype]]
        if fn.argtypes[3] is not ctypes.c_int64:
            raise Unsupported("a BLAS with 32-bit sizes")
        if native == "matmul":
            (a, b), alpha, beta = args, self._constant(1.0), self._constant(0.0)
        else:
            c, alpha, a, b, beta = args
            if c is not out:  # (not in place: the product's C copied into the output first)
                if not c.flags.c_contiguous or c.shape != out.shape or c.dtype != out.dtype:
                    raise Unsupported("a Gemm whose C is broadcast")
                self.copy(out, c)
        m, n = out.shape
        k = a.shape[1]
        if not (m and n and k) or not out.flags.c_contiguous or a.dtype != out.dtype or \
                b.dtype != out.dtype:
            raise Unsupported("an empty or mixed product")
        ops = [_operand(x) for x in (a, b)]
        if None in ops:
            raise Unsupported("an operand neither C- nor F-ordered")
        self._word(_GEMM)
        self._word(ctypes.cast(fn, ctypes.c_void_p).value)
        self._word(out.dtype == np.float64)
        self._word(ops[0][0])
        self._word(ops[1][0])
        for w in (m, n, k):
            self._word(w)
        self._scalar(alpha)
        self._word(data_pointer(a), pointer=True)
        self._word(ops[0][1])
        self._word(data_pointer(b), pointer=True)
        self._word(ops[1][1])
        self._scalar(beta)
        self._word(data_pointer(out), pointer=True)
        self._word(n)

    def _scalar(self, x):
        """Two words: a float or double's address, and whether it is a double."""
        if x.__class__ is not np.ndarray or x.ndim != 0 or x.dtype not in (np.float32, np.float64):
            raise Unsupported("a gemm scale that is not a float or double")
        self._word(data_pointer(x), pointer=True)
        self._word(x.dtype == np.float64)

    def _constant(self, value):
        a = np.array(value, np.float64)
        self.keep.append(a)
        self.held.append(_bounds(a))
        return a

    def copy(self, dst, src):
        self._word(_COPY)
        self._word(data_pointer(dst), pointer=True)
        self._word(data_pointer(src), pointer=True)
        self._word(dst.nbytes)

    def host(self, item):
        self._close()
        self.items.append(item)

    def _close(self):
        if self.words:
            segment = _Native(self.words)
            self.items.append(segment)
            for where, b, delta in self.patches:
                if where.__class__ is tuple:
                    where = segment.address + 8 * where[1]
                self.relocs.append((where, b, delta))
            self.words, self.patches = [], []
        elif self.patches:
            self.relocs += self.patches
            self.patches = []

    def finish(self):
        """The items laid out since the last ``finish``."""
        self._close()
        items, self.items = self.items, []
        return items

    def patch_program(self):
        """The segment that writes every patched pointer (run first, each call)."""
        words = []
        for where, b, delta in self.relocs:
            words += [_PATCH, where, b, delta]
        segment = _Native(words)
        self.keep.append(segment)
        return segment.address


def _operand(x):
    """(transpose flag, leading dimension) as BLAS reads ``x``, None if it must be copied."""
    if x.flags.c_contiguous and x.shape[1] > 0:
        return _ROW_MAJOR_TRANS[False], x.shape[1]
    if x.flags.f_contiguous and x.shape[0] > 0:
        return _ROW_MAJOR_TRANS[True], x.shape[0]
    return None


def _host_item(node, run, ins, held):
    """A host step rerun each call, its outputs copied into the held arrays."""
    def item(storage):
        results = run([storage[i] for i in ins])
        for r, h in zip(results, held):
            if r.__class__ is not np.ndarray or r.shape != h.shape or r.dtype != h.dtype:
                raise _Mismatch(str(node.op))
            if r is not h:
                np.copyto(h, r)
    return item


def _view_item(run, ins, outs):
    """A view rerun each call for the host steps that read it."""
    def item(storage):
        for i, r in zip(outs, run([storage[i] for i in ins])):
            storage[i] = r
    return item


def _threaded_item(la, call, runner):
    """A kernel split among threads, on its kept argument buffer."""
    flag = la.compiled.error_flag

    def item(storage):
        if flag is not None:
            flag.value = 0
        runner(call)
        if flag is not None and flag.value:
            raise _Mismatch(la.kernel.name)
    return item
