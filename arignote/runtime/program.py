"""Program: a function graph laid out as ordered steps over storage slots.

Each step is a callable the backend made for one node: ``perform`` on the
NumPy reference backend, a compiled kernel launch, a library call or a view
on the cpu backend. Slots hold values by index; a value is dropped right
after its last reader, so peak memory follows liveness rather than graph
size. The runtime sees only steps and slots: which op a step came from
matters to it only for error messages.

The memory plan (:mod:`arignote.runtime.memory`) gives compiled kernels their
output storage: a buffer pool, borrowed outputs reused call after call, and
*in-place commits*: the kernel computing a shared variable's update writes
over the old value when nothing else needs it. Commit steps run last, after
every other step has succeeded and after ``settle`` has copied whatever
result could see the write; all of them are checked before any of them
writes, so a failing call still changes nothing.

Invariant 8 (a failing call changes nothing) holds for every write a run
makes that the caller can see: before the commits' writes come every step,
the caller's ``checks`` of the outputs (the shared variables' static shapes)
and the commits' own checks; a borrowed output is written into storage the
user does not hold and lent out only when the run has succeeded.

On a compiling backend, a run whose storage the caller serializes is replayed
after its second call with the same roots' signature (shapes, strides,
dtypes, flags): :mod:`arignote.runtime.native_call` runs the recorded steps
as one native call (a few, where host steps remain), the in-place commits
last, as above; anything it cannot pin down runs here, step by step.

An op with an inner graph that the backend does not run natively (it makes
no step for it) runs its inner graph as a Program of its own, built by
``compile_inner`` with the same backend, recursively (see :func:`inner_program`).
"""
import math
from functools import partial
from operator import itemgetter

import numpy as np

from arignote.errors import ArignoteError, ArignoteValueError, built_at
from arignote.graph.basic import Constant
from arignote.graph.fg import OUTPUT
from arignote.graph.type import TensorType
from arignote.ops.inner import InnerGraphOp
from arignote.runtime import native_call
from arignote.runtime.backends import get, traits
from arignote.runtime.memory import MIN_POOLED_SIZE, BufferPool, Lender, copy_value


class Program:
    def __init__(self, fgraph, roots, backend=None, inplace=(), borrow=(), checks=(),
                 compile_inner=None):
        """``roots``: the variables whose values each run is given, in order;
        ``backend`` makes each node's step (default: the reference backend).
        ``inplace``: (output position, root position) pairs: that output (an
        update) may be computed over that root's buffer. ``borrow``: output
        positions whose storage the next run may reuse. ``checks``: (output
        position, type, what) triples: that output must pass ``type.filter``
        (its error naming ``what``) before anything is written. ``compile_inner``:
        ``fgraph -> Program`` for the inner graphs of ops the backend makes no step
        for (default: :func:`inner_program` on the same backend)."""
        self.backend = backend or get("numpy")
        #: the Programs of the inner graphs this one runs (see _inner_step), and the
        #: node whose inner graph this Program runs, if any
        self.inner_programs, self.owner = [], None
        self._compile_inner = compile_inner or partial(inner_program, self.backend)
        self.slot = {}
        for v in roots:
            self._slot_of(v)
        nodes = fgraph.toposort()
        commits = _plan_commits(fgraph, roots, inplace) if self.backend.compiles else {}
        self.backend.prefetch(nodes, commits)
        self.pool = BufferPool()
        lenders = {fgraph.outputs[k]: Lender() for k in borrow}
        self._lenders = list(lenders.values())
        #: output slot -> the Lender of its storage
        self._lender_slots = {self._slot_of(v): lender for v, lender in lenders.items()}
        self._checks = list(checks)
        made = {}
        for node in nodes:
            allocs = None
            if self.backend.compiles:
                allocs = [lenders[v].take if v in lenders else self.pool.take for v in node.outputs]
            step = self.backend.step(node, allocs, commits.get(node))
            made[node] = step if step is not None else self._inner_step(node)
        told = {node: traits(step) for node, step in made.items()}
        # in-place commits go last; planned ones the backend declined just before them
        late = [n for n in nodes if n in commits]
        inplace_nodes = [n for n in late if told[n].inplace]
        self.nodes = [n for n in nodes if n not in commits] + \
            [n for n in late if n not in inplace_nodes] + inplace_nodes
        steps = [(node, made[node], [self._slot_of(v) for v in node.inputs],
                  [self._slot_of(v) for v in node.outputs]) for node in self.nodes]
        self.output_slots = [self._slot_of(v) for v in fgraph.outputs]
        self.n_roots = len(roots)
        self.constants = [(i, v.data) for v, i in self.slot.items() if isinstance(v, Constant)]
        self.constant_slots = {i for i, _ in self.constants}
        # liveness: free each intermediate slot after the last step that reads it
        keep = set(self.output_slots) | set(range(self.n_roots)) | {i for i, _ in self.constants}
        last = {}
        for k, (_, _, ins, _) in enumerate(steps):
            for i in ins:
                last[i] = k
        frees = [[] for _ in steps]
        for i, k in last.items():
            if i not in keep:
                frees[k].append(i)
        self.steps = [(node, run, ins, outs, free) for (node, run, ins, outs), free in zip(steps, frees)]
        split = len(self.steps) - len(inplace_nodes)
        # what run() needs, precomputed: each step with the check of each output's
        # promised type, and a storage template holding the constants
        # (steps the backend trusts to compute exactly the promised types skip the check)
        # (in run(): a step's arguments come from one itemgetter; a trusted step's
        # outputs are a slot (one output) or a tuple of slots, a checked step's a list)
        self._run_steps = [(node, run, _gather(ins), _trusted(outs) if told[node].trusted
                            else [(i, v.type.value_check()) for i, v in zip(outs, node.outputs)],
                            tuple(free))
                           for node, run, ins, outs, free in self.steps[:split]]
        self._commit_steps = [(node, run, ins, tuple(outs), free)
                              for node, run, ins, outs, free in self.steps[split:]]
        # one trusted step from the roots, each once, to the outputs (a small function
        # fused into one kernel): run() hands it the root values as they are, in the
        # order of its inputs (``order``: root indices)
        self._direct = None
        if len(self.steps) == 1 == split:
            node, run, ins, outs, _ = self.steps[0]
            if told[node].trusted and told[node].call is not None and \
                    sorted(ins) == list(range(self.n_roots)) and outs == self.output_slots:
                self._direct = (self._run_steps, node, run, tuple(ins))
        #: run() takes Python floats for the float64 0-d roots (its kernel reads them in place)
        self.takes_floats = self._direct is not None and told[self._direct[1]].takes_floats
        self._template = [None] * len(self.slot)
        for i, data in self.constants:
            self._template[i] = data
        self._tail = self._template[self.n_roots:]  # (roots take the first slots)
        self._outputs = [(i, self._template[i] is not None) for i in self.output_slots]
        # outputs certainly sharing no memory with the root values: new arrays from steps
        # that say so (the caller's settle need not check them against the roots)
        fresh = {outs[n] for node, _, _, outs, _ in self.steps[:split] for n in told[node].fresh}
        self.fresh_outputs = tuple(i in fresh for i in self.output_slots)
        self._gather_outputs = None if self.constant_slots & set(self.output_slots) else \
            _gather(self.output_slots)
        #: whether runs share mutable storage (pooled arrays, lent outputs, in-place
        #: commits), so two of them must not overlap: the caller serializes them
        self.shares_state = self.backend.compiles and bool(
            self._lenders or self._commit_steps or
            any(not _never_pooled(v.type) for n in nodes for v in n.outputs)) or \
            any(p.shares_state for p in self.inner_programs)
        # a run of serialized steps that are not one kernel may be replayed as native calls
        # (see native_call); made at the first run (an inner program's owner is set by then)
        self._replayer = False if self._direct is not None or not self.shares_state or \
            not native_call.ENABLED else None
        self._built_steps = self._run_steps

    def _inner_step(self, node):
        """The step of an op with an inner graph that the backend runs no other way: the
        op applies its inner graph, compiled by ``compile_inner`` (the same backend)."""
        if not isinstance(node.op, InnerGraphOp):
            raise ArignoteValueError(f"internal error: backend {self.backend.name!r} made no "
                                     f"step for {node.op}{built_at(node)}")

        def compile_inner(fgraph):
            program = self._compile_inner(fgraph)
            program.owner = node
            self.inner_programs.append(program)
            return program.run

        return node.op.make_step(node, compile_inner, alloc=self.pool.take)

    def _slot_of(self, v):
        if v not in self.slot:
            self.slot[v] = len(self.slot)
        return self.slot[v]

    @property
    def inplace_updates(self):
        """How many outputs the commit steps write in place."""
        return sum(len(run.inplace) for _, run, *_ in self._commit_steps)

    def run(self, root_values, settle=None):
        """The outputs for ``root_values``. ``settle(results, root_values)``, called
        before in-place commits write (their own results are None then), may
        replace results by copies. Where :attr:`takes_floats`, the float64 0-d
        root values may be Python floats. A run that raises has written nothing
        the caller holds: no root, no borrowed output."""
        if len(root_values) != self.n_roots:
            raise ArignoteValueError(f"internal error: {self.n_roots} root values expected, "
                                     f"got {len(root_values)}")
        for lender in self._lenders:  # (a borrowed output passed back in is not written)
            lender.protect(root_values)
        direct = self._direct
        if direct is not None and direct[0] is self._run_steps:  # (unless profile() wraps steps)
            _, node, run, order = direct
            args = [root_values[i] for i in order]
            try:
                results = run.call(args)
            except ArignoteError as e:
                _add_line(e, node)
                raise
            except Exception as e:
                raise _numpy_error(node, e, args) from e
            if settle is not None:
                settle(results, root_values)
            if self._checks:
                self._check(results)
            for lender in self._lenders:
                lender.lend()
            return results
        replayer = self._replayer
        if replayer is not False and self._run_steps is self._built_steps:  # (unless profiled)
            if replayer is None:
                replayer = self._replayer = native_call.Replayer(self) if self.owner is None else False
            if replayer is not False:
                results = replayer.run(root_values, settle)
                if results is not None:
                    return results
        return self._run(root_values, settle, self._run_steps, self._commit_steps)

    def _run(self, root_values, settle, run_steps, commit_steps):
        """:meth:`run` step by step, through ``run_steps`` and ``commit_steps`` (the
        Program's, or wrappers of them)."""
        if self.takes_floats:  # (not running direct: profile() wraps the steps)
            root_values = [np.asarray(v) if v.__class__ is float else v for v in root_values]
        storage = [*root_values, *self._tail]
        for node, run, gather, outs, free in run_steps:
            args = gather(storage)
            try:
                results = run(args)
            except ArignoteError as e:
                _add_line(e, node)
                raise
            except Exception as e:
                raise _numpy_error(node, e, args) from e
            if outs.__class__ is int:  # a trusted step with one output
                storage[outs] = results[0]
            elif outs.__class__ is tuple:  # a trusted step
                for i, r in zip(outs, results):
                    storage[i] = r
            else:
                if len(results) != len(outs):
                    _check_results(node, results)
                for (i, valid), r in zip(outs, results):
                    if not valid(r):
                        _check_results(node, results)
                    storage[i] = r
            for i in free:
                storage[i] = None
        # constants are read-only and shared between calls: hand out copies
        if self._gather_outputs is not None:
            results = self._gather_outputs(storage)
        else:
            results = [copy_value(storage[i]) if copy else storage[i] for i, copy in self._outputs]
        if settle is not None:
            settle(results, root_values)
        if commit_steps:  # (it checks the outputs between its checks and its writes)
            self._commit(storage, results, commit_steps)
        elif self._checks:
            self._check(results)
        for lender in self._lenders:  # nothing can fail any more
            lender.lend()
        return results

    def _check(self, results):
        """The caller's checks of the outputs (None entries skipped)."""
        for k, type_, what in self._checks:
            if results[k] is not None:
                type_.filter(results[k], what=what)

    def _commit(self, storage, results, commit_steps):
        """Run the in-place commit steps: every check first (each step's, then the
        caller's ``checks`` of all outputs, the prepared in-place ones included),
        then every write. A buffer is written in place only if it shares no memory
        with the other roots, the results, or what any other commit step reads."""
        roots = storage[:self.n_roots]
        args = [[storage[i] for i in ins] for _, _, ins, _, _ in commit_steps]
        calls = []
        try:
            for k, (node, run, ins, outs, _) in enumerate(commit_steps):
                mine = {ins[j] for j in run.inplace.values()}
                keep = [v for i, v in enumerate(roots) if i not in mine] + results + \
                    [a for j, other in enumerate(args) if j != k for a in other]
                calls.append((run, _checked(node, run.prepare, args[k], keep), outs))
            if self._checks:  # (a prepared call's outputs have their final shapes)
                pending = {i: r for _, call, outs in calls for i, r in zip(outs, call.outputs)}
                self._check([pending.get(i) if r is None else r
                             for i, r in zip(self.output_slots, results)])
        except BaseException:
            for run, call, _ in calls:
                run.release(call)
            raise
        for run, call, outs in calls:
            for i, r in zip(outs, run.finish(call)):
                storage[i] = r
        for k, i in enumerate(self.output_slots):
            if results[k] is None:
                results[k] = storage[i]


def inner_program(backend, fgraph, optimize=None):
    """A Program running the inner graph ``fgraph`` on ``backend``, whose own inner
    graphs are compiled the same way. ``optimize(fgraph)`` first rewrites it as the
    outer graph was (a Function passes its mode and fusion)."""
    if optimize is not None:
        optimize(fgraph)
    return Program(fgraph, fgraph.inputs, backend,
                   compile_inner=partial(inner_program, backend, optimize=optimize))


def _checked(node, fn, *args):
    """``fn(*args)`` for ``node``'s step, its errors naming the node's line."""
    try:
        return fn(*args)
    except ArignoteError as e:
        _add_line(e, node)
        raise
    except Exception as e:
        raise _numpy_error(node, e, args[0]) from e


def _add_line(e, node):
    """Name the user's line that built ``node`` in its step's error ``e``."""
    if e.args and isinstance(e.args[0], str) and "(built at" not in e.args[0]:
        e.args = (e.args[0] + built_at(node),) + e.args[1:]


def _numpy_error(node, e, args):
    """NumPy's own complaint ``e`` in ``node``'s step, as an Arignote error with names."""
    shapes = ", ".join(str(getattr(a, "shape", "?")) for a in args)
    return ArignoteValueError(f"{node.op} failed on inputs of shapes ({shapes}): {e}{built_at(node)}")


def _plan_commits(fgraph, roots, inplace):
    """{node: {output index: input index}} for the updates computed in place.

    An update qualifies when its node reads the shared variable's root once and
    nothing but update outputs reads the node (so it can run last), when no
    other commit node reads that root, and when it reads no root another
    commit overwrites. Whether the kernel's index maps allow it is the
    backend's decision (it may decline)."""
    commits, targets = {}, {}
    updates = {o for o, _ in inplace}
    for out_pos, root_pos in inplace:
        var, root = fgraph.outputs[out_pos], roots[root_pos]
        node = var.owner
        if node is None or root not in node.inputs or node.inputs.count(root) != 1:
            continue
        # read by nothing but the graph's outputs, and those are updates, each computed once
        if any(c is not OUTPUT or pos not in updates for v in node.outputs
               for c, pos in fgraph.clients.get(v, ())) or fgraph.outputs.count(var) != 1:
            continue
        readers = {c for c, _ in fgraph.clients.get(root, ()) if c is not OUTPUT}
        if any(n in commits and n is not node for n in readers):
            continue
        if any(v in targets and targets[v] is not node for v in node.inputs):
            continue
        commits.setdefault(node, {})[node.outputs.index(var)] = node.inputs.index(root)
        targets[root] = node
    return commits


def _never_pooled(t):
    """Whether every value of type ``t`` is too small for the pool (allocated anew), or
    not an array at all."""
    return not isinstance(t, TensorType) or (None not in t.shape and
                                             math.prod(t.shape) < MIN_POOLED_SIZE)


def _gather(slots):
    """``storage -> [storage[i] for i in slots]``, a fresh list, at the cost of one call."""
    if len(slots) >= 2:
        get = itemgetter(*slots)
        return lambda storage: [*get(storage)]
    if len(slots) == 1:
        (i,) = slots
        return lambda storage: [storage[i]]
    return lambda storage: []


def _trusted(outs):
    """A trusted step's outputs as run() stores them: one slot, or a tuple of them."""
    return outs[0] if len(outs) == 1 else tuple(outs)


def _check_results(node, results):
    """Ops must return what their node promised: catches op bugs at the source."""
    if len(results) != len(node.outputs):
        raise ArignoteValueError(f"internal error: {node.op} returned {len(results)} values for "
                                 f"{len(node.outputs)} outputs")
    for out, r in zip(node.outputs, results):
        t = out.type
        if not t.is_valid_value(r):
            got = f"{r.dtype}{list(r.shape)}" if isinstance(r, np.ndarray) else type(r).__name__
            raise ArignoteValueError(
                f"internal error: {node.op} promised {t} but computed {got}{built_at(node)}")
