"""Where a compiled function spends its time, step by step.

``profile(fn, *args, repeat=20)`` calls ``fn`` (updates included) ``repeat``
times, timing each step of its Program, and returns a :class:`Profile`:
per step the op, what ran it (kernel, library call, reference ``perform``),
the input shapes of the last call and the median time. Printing it gives the
table, the slowest steps first -- the question a user asks before fusing or
rewriting anything.
"""
import statistics
import time
from dataclasses import dataclass

from arignote.runtime.backends import traits


@dataclass
class StepTime:
    op: str
    runner: str
    shapes: str
    seconds: float


class Profile:
    def __init__(self, name, steps, call_seconds):
        self.name, self.steps, self.call_seconds = name, steps, call_seconds

    @property
    def step_seconds(self):
        return sum(s.seconds for s in self.steps)

    def __str__(self):
        total = self.call_seconds
        lines = [f"profile of {self.name}: {total * 1e6:.1f} us per call, "
                 f"{self.step_seconds * 1e6:.1f} us in {len(self.steps)} steps "
                 f"(the rest: argument checks, updates, Python)",
                 f"{'us':>9} {'share':>6}  {'runs as':<8} op and input shapes"]
        for s in sorted(self.steps, key=lambda s: -s.seconds):
            lines.append(f"{s.seconds * 1e6:9.1f} {s.seconds / total:6.1%}  {s.runner:<8} {s.op} {s.shapes}")
        return "\n".join(lines)


def _runner(run):
    told = traits(run)
    if told.kernel is not None:
        return "kernel"
    if told.trusted:
        return "library"
    return "perform"


def profile(fn, *args, repeat=20):
    """Time ``fn(*args)`` as a whole and step by step (median of ``repeat`` calls each).

    Calls run for real: shared variables are updated ``2 * repeat + 1`` times."""
    program = fn.program
    times = [[] for _ in program._run_steps + program._commit_steps]
    shapes = [""] * len(times)
    fn(*args)  # warm up

    def timed(k, run):
        def step(*a):
            start = time.perf_counter()
            try:
                return run(*a)
            finally:
                times[k].append(time.perf_counter() - start)
                shapes[k] = str([getattr(x, "shape", "?") for x in a[0]])
        return step

    calls = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn(*args)
        calls.append(time.perf_counter() - start)
    saved = program._run_steps, program._commit_steps
    try:
        wrap = [(node, timed(k, run), ins, outs, free)
                for k, (node, run, ins, outs, free) in enumerate(saved[0])]
        program._run_steps = wrap
        program._commit_steps = [(node, _Timed(run, times, len(wrap) + k), ins, outs, free)
                                 for k, (node, run, ins, outs, free) in enumerate(saved[1])]
        for _ in range(repeat):
            fn(*args)
    finally:
        program._run_steps, program._commit_steps = saved
    steps = [StepTime(str(node.op), _runner(run), shapes[k] if k < len(wrap) else "(in place)",
                      statistics.median(times[k]) if times[k] else 0.0)
             for k, (node, run, *_) in enumerate(saved[0] + saved[1])]
    return Profile(fn.name or repr(fn), steps, statistics.median(calls))


class _Timed:
    """A commit step (prepare, then finish: small ones run in prepare) timed as a whole."""

    def __init__(self, run, times, k):
        self.run, self.times, self.k = run, times, k
        self.inplace = run.inplace
        self.spent = 0.0

    def prepare(self, *a):
        start = time.perf_counter()
        try:
            return self.run.prepare(*a)
        finally:
            self.spent = time.perf_counter() - start

    def release(self, call):
        self.run.release(call)

    def finish(self, call):
        start = time.perf_counter()
        try:
            return self.run.finish(call)
        finally:
            self.times[self.k].append(self.spent + time.perf_counter() - start)
