"""Where a compiled function spends its time, step by step.

``profile(fn, *args, repeat=20)`` calls ``fn`` (updates included) ``repeat``
times, timing each step of its Program, and returns a :class:`Profile`:
per step the op, what ran it (kernel, library call, reference ``perform``),
the input shapes of the first call and the time. Printing it gives the
table, the slowest steps first -- the question a user asks before fusing or
rewriting anything.

:func:`step_kinds` lists what runs each step without timing anything, and
:func:`unexpected_performs` the steps left to a reference ``perform`` that
are not host-side work (:func:`host_side`): on a compiling backend, every
step that moves tensor data should be a kernel or a library call.

``function(..., profile=True)`` (Theano's keyword) instead times every real
call with :func:`record`, keeps the result in ``fn.profile`` and prints it
to stderr when the interpreter exits, as Theano did.
"""
import atexit
import statistics
import sys
import time
from dataclasses import dataclass

from arignote.ops.fused import Fused
from arignote.ops.inner import InnerGraphOp
from arignote.ops.static_shape import Shape, Shape_i
from arignote.runtime.backends import traits


@dataclass
class StepTime:
    op: str
    runner: str
    shapes: str
    #: seconds per call of the function (summed over a loop's steps)
    seconds: float
    #: the op whose inner graph holds this step ('' at the top level), and how many
    #: times it runs per call of the function (a loop's step: once per iteration)
    within: str = ""
    runs: float = 1.0


class Profile:
    def __init__(self, name, steps, call_seconds):
        self.name, self.steps, self.call_seconds = name, steps, call_seconds

    @property
    def step_seconds(self):
        """Time in the top-level steps (inner steps are part of their op's step)."""
        return sum(s.seconds for s in self.steps if not s.within)

    def __str__(self):
        total = self.call_seconds
        top = [s for s in self.steps if not s.within]
        lines = [f"profile of {self.name}: {total * 1e6:.1f} us per call, "
                 f"{self.step_seconds * 1e6:.1f} us in {len(top)} steps "
                 f"(the rest: argument checks, updates, Python)",
                 f"{'us':>9} {'share':>6}  {'runs as':<8} op and input shapes"]
        for s in sorted(self.steps, key=lambda s: -s.seconds):
            where = f"  [x{s.runs:g} in {s.within}]" if s.within else ""
            lines.append(f"{s.seconds * 1e6:9.1f} {s.seconds / total:6.1%}  {s.runner:<8} "
                         f"{s.op} {s.shapes}{where}")
        return "\n".join(lines)


def _runner(run):
    told = traits(run)
    if told.kernel is not None:
        return "kernel"
    if told.trusted:
        return "library"
    return "perform"


def step_kinds(fn):
    """``(node, runs as, within)`` for every step of ``fn``'s Program and of the inner
    programs built so far (a loop's or a branch's: call ``fn`` once first)."""
    return [(node, _runner(run), within) for program, within in _programs(fn.program)
            for node, run, *_ in program._run_steps + program._commit_steps]


def _integers(v):
    return v.dtype.startswith(("int", "uint", "bool"))


def host_side(node):
    """Is ``node`` work the host does on every backend, not worth a kernel: a view (no
    data moves), integer vectors computed from integers or shapes (shape arithmetic,
    labels: a few integers, or one per row), or the driver of inner graphs (a loop, a
    branch: their steps are steps too)? Integers computed from the values of tensor data
    (a float vector, any matrix: ``argmax(p, axis=1)``) are not: that is a pass over data."""
    op = node.op
    driver = isinstance(op, InnerGraphOp) and not isinstance(op, Fused)
    if driver or getattr(op, "fusion_kind", None) == "view":
        return True
    reads_data = not isinstance(op, (Shape, Shape_i)) and any(
        v.ndim >= 2 or (v.ndim == 1 and not _integers(v)) for v in node.inputs)
    return not reads_data and all(v.ndim <= 1 and _integers(v) for v in node.outputs)


def unexpected_performs(fn):
    """The steps of ``fn`` (and of its inner programs built so far) run by a reference
    ``perform`` that are not :func:`host_side`, as ``(op, within)`` strings."""
    return [(str(node.op), within) for node, runner, within in step_kinds(fn)
            if runner == "perform" and not host_side(node)]


def profile(fn, *args, repeat=20):
    """Time ``fn(*args)`` as a whole and step by step, the steps of inner graphs
    (a loop's step, a branch) included, each with the op that runs it.

    Calls run for real: shared variables are updated ``2 * repeat + 1`` times."""
    fn(*args)  # warm up (and build the inner programs)
    calls = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn(*args)
        calls.append(time.perf_counter() - start)
    programs = _programs(fn.program)
    timers = []
    saved = [(p, p._run_steps, p._commit_steps) for p, _ in programs]
    entry, fn._entry = fn._entry, None  # (a native entry runs no step: see native_entry)
    try:
        for program, within in programs:
            timers += _install_timers(program, within)
        for _ in range(repeat):
            fn(*args)
    finally:
        fn._entry = entry
        for program, runs, commits in saved:
            program._run_steps, program._commit_steps = runs, commits
    steps = [StepTime(str(t.node.op), _runner(t.run), t.shapes, t.total / repeat,
                      t.within, t.count / repeat) for t in timers]
    return Profile(fn.name or repr(fn), steps, statistics.median(calls))


class CallProfile:
    """The steps of one function timed over every call it really gets. The steps
    of inner graphs (built at their first run) are timed from the call after."""

    def __init__(self, fn):
        self.name = fn.name or repr(fn)
        self.calls, self.seconds, self.timers = 0, 0.0, []
        self._timed = set()
        program = fn.program
        untimed = program.run
        fn._entry = None  # (every call goes through the program: a native entry runs no step)

        def run(*args, **kwargs):  # (the program's run, timed; shadows the method)
            start = time.perf_counter()
            try:
                return untimed(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - start
                self.calls += 1
                self._time_steps(program)
        program.run = run
        self._time_steps(program)

    def _time_steps(self, top):
        for program, within in _programs(top):
            if id(program) not in self._timed:
                self._timed.add(id(program))
                self.timers += _install_timers(program, within)

    def summary(self):
        """The table of :class:`Profile`, per call, averaged over the calls so far."""
        n = max(self.calls, 1)
        steps = [StepTime(str(t.node.op), _runner(t.run), t.shapes, t.total / n, t.within,
                          t.count / n) for t in self.timers]
        head = f"{self.calls} call{'s' * (self.calls != 1)}, {self.seconds:.4f} s in all\n"
        return head + str(Profile(self.name, steps, self.seconds / n if self.seconds else 1e-12))

    __str__ = summary


_RECORDED = []


def record(fn):
    """Time every call of ``fn`` from now on (``fn.profile``); print the profile
    to stderr at exit if it was called."""
    fn.profile = CallProfile(fn)
    if not _RECORDED:
        atexit.register(_print_recorded)
    _RECORDED.append(fn.profile)
    return fn.profile


def _print_recorded():
    for recorded in _RECORDED:
        if recorded.calls:
            print(recorded.summary(), file=sys.stderr)


def _install_timers(program, within):
    """Replace ``program``'s steps by timed ones; returns their timers."""
    runs = [(node, _Timer(run, node, within), ins, outs, free)
            for node, run, ins, outs, free in program._run_steps]
    commits = [(node, _Timed(run, node, within), ins, outs, free)
               for node, run, ins, outs, free in program._commit_steps]
    program._run_steps, program._commit_steps = runs, commits
    return [t for _, t, *_ in runs] + [t for _, t, *_ in commits]


def _programs(program, within=""):
    """``program`` and the programs of its inner graphs, each with its owner's op."""
    found = [(program, within)]
    for inner in program.inner_programs:
        found += _programs(inner, str(inner.owner.op) if inner.owner is not None else "?")
    return found


class _Timer:
    """A step that adds up the time it runs and remembers its first input shapes."""

    def __init__(self, run, node, within):
        self.run, self.node, self.within = run, node, within
        self.total, self.count, self.shapes = 0.0, 0, ""
        for attr in ("call", "inplace"):  # (what Program.run asks of some steps)
            if hasattr(run, attr):
                setattr(self, attr, getattr(run, attr))

    def __call__(self, args):
        start = time.perf_counter()
        try:
            return self.run(args)
        finally:
            self.total += time.perf_counter() - start
            if not self.count:  # (once: formatting shapes at every step of a loop would
                self.shapes = str([getattr(x, "shape", "?") for x in args])  # cost its time)
            self.count += 1


class _Timed(_Timer):
    """A commit step (prepare, then finish: small ones run in prepare) timed as a whole."""

    def prepare(self, *a):
        start = time.perf_counter()
        try:
            return self.run.prepare(*a)
        finally:
            self.total += time.perf_counter() - start
            self.count += 1
            self.shapes = "(in place)"

    def release(self, call):
        self.run.release(call)

    def finish(self, call):
        start = time.perf_counter()
        try:
            return self.run.finish(call)
        finally:
            self.total += time.perf_counter() - start
