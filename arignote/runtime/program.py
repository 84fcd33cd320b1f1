"""Program: a function graph laid out as ordered steps over storage slots.

Each step is a callable the backend made for one node: ``perform`` on the
NumPy reference backend, a compiled kernel launch, a library call or a view
on the cpu backend. Slots hold values by index; a value is dropped right
after its last reader, so peak memory follows liveness rather than graph
size. The runtime sees only steps and slots: which op a step came from
matters to it only for error messages.
"""
import numpy as np

from arignote.errors import ArignoteError, ArignoteValueError, built_at
from arignote.graph.basic import Constant


class Program:
    def __init__(self, fgraph, roots, backend=None):
        """``roots``: the variables whose values each run is given, in order;
        ``backend`` makes each node's step (default: the reference backend)."""
        from arignote.runtime.backends import BACKENDS
        self.backend = backend or BACKENDS["numpy"]
        self.slot = {}
        for v in roots:
            self._slot_of(v)
        self.nodes = fgraph.toposort()
        steps = []
        for node in self.nodes:
            steps.append((node, self.backend.step(node), [self._slot_of(v) for v in node.inputs],
                          [self._slot_of(v) for v in node.outputs]))
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
        # what run() needs, precomputed: each step with the promised type of each
        # output, and a storage template holding the constants
        self._run_steps = [(node, run, ins, list(zip(outs, map(_promise, node.outputs))), free)
                           for node, run, ins, outs, free in self.steps]
        self._template = [None] * len(self.slot)
        for i, data in self.constants:
            self._template[i] = data
        self._outputs = [(i, i in self.constant_slots) for i in self.output_slots]

    def _slot_of(self, v):
        if v not in self.slot:
            self.slot[v] = len(self.slot)
        return self.slot[v]

    def run(self, root_values):
        storage = self._template.copy()
        storage[:self.n_roots] = root_values
        for node, run, ins, outs, free in self._run_steps:
            args = [storage[i] for i in ins]
            try:
                results = run(args)
            except ArignoteError as e:
                if e.args and isinstance(e.args[0], str) and "(built at" not in e.args[0]:
                    e.args = (e.args[0] + built_at(node),) + e.args[1:]
                raise
            except Exception as e:  # NumPy's own complaint, re-raised with names
                shapes = ", ".join(str(getattr(a, "shape", "?")) for a in args)
                raise ArignoteValueError(
                    f"{node.op} failed on inputs of shapes ({shapes}): {e}{built_at(node)}") from e
            if len(results) != len(outs):
                _check_results(node, results)
            for (i, (dtype, ndim, static)), r in zip(outs, results):
                if not isinstance(r, np.ndarray) or r.dtype != dtype or r.ndim != ndim or (
                        static and any(r.shape[d] != size for d, size in static)):
                    _check_results(node, results)
                storage[i] = r
            for i in free:
                storage[i] = None
        # constants are read-only and shared between calls: hand out copies
        return [storage[i].copy() if const else storage[i] for i, const in self._outputs]


def _promise(var):
    """What ``var``'s value must be: (dtype, ndim, ((axis, static size), ...))."""
    t = var.type
    return t.numpy_dtype, t.ndim, tuple((d, s) for d, s in enumerate(t.shape) if s is not None)


def _check_results(node, results):
    """Ops must return what their node promised: catches op bugs at the source."""
    if len(results) != len(node.outputs):
        raise ArignoteValueError(f"internal error: {node.op} returned {len(results)} values for "
                                 f"{len(node.outputs)} outputs")
    for out, r in zip(node.outputs, results):
        t = out.type
        if not isinstance(r, np.ndarray) or r.dtype != t.numpy_dtype or r.ndim != t.ndim or any(
                s is not None and s != a for s, a in zip(t.shape, r.shape)):
            got = f"{r.dtype}{list(r.shape)}" if isinstance(r, np.ndarray) else type(r).__name__
            raise ArignoteValueError(
                f"internal error: {node.op} promised {t} but computed {got}{built_at(node)}")
