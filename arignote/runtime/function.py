"""``function``: compile a graph into a Python callable.

The user's graph is cloned into a :class:`FunctionGraph` (``givens``
substituted), rewritten according to ``mode``, and laid out as a
:class:`Program`. A call validates every argument before anything runs,
computes all outputs and all shared-variable updates from the values before
the call, and only then writes the updates: a call that fails changes nothing.

Calls are serialized where they share state: a call holds the locks of the
shared variables it reads or updates (or, reading none, a lock of its own
Function when its runs reuse storage), so updates from several threads are
never lost and nobody reads a value half written in place.
"""
import threading
import warnings
from functools import partial

import numpy as np

from arignote.config import config, normalize_mode
from arignote.errors import (ArignoteTypeError, ArignoteValueError, MissingInputError,
                             UnusedInputError, built_at, describe)
from arignote.graph.basic import Constant, ancestors
from arignote.graph.fg import FunctionGraph
from arignote.graph.shared import copy_default_updates
from arignote.graph.type import EXACT_FLOAT, TensorType
from arignote.runtime import profile as profiling, serialize
from arignote.runtime.backends import get
from arignote.runtime.direct_call import direct_caller
from arignote.runtime.function_args import (In, Out, _default_updates, _normalize_givens,  # noqa: F401
                                            _normalize_inputs, _normalize_outputs,
                                            _normalize_updates)
from arignote.runtime.memory import copy_value, overlaps
from arignote.runtime.native_entry import scalar_entry
from arignote.runtime.program import Program, inner_program

_ON_UNUSED = ("raise", "warn", "ignore")
_ndarray, _asarray = np.ndarray, np.asarray


def function(inputs, outputs=None, updates=None, givens=None, allow_input_downcast=False,
             on_unused_input="raise", name=None, mode=None, report=False, backend=None,
             fusion=None, no_default_updates=False, profile=None, **kwargs):
    """Compile ``outputs`` (a variable or a list) as a function of ``inputs``.

    ``updates`` (pairs or a dict) gives new values for shared variables,
    computed from the values before the call and written together after it;
    every shared variable the outputs and updates read that has a
    ``default_update`` and no update here is updated by it too (so are those
    its default update reads), unless ``no_default_updates`` is True or lists it;
    ``givens`` replaces variables of the graph (e.g. an input by a slice of a
    shared dataset). ``report=True`` prints what the rewrites did (see
    ``Function.compile_report``). ``backend`` (a name of
    ``arignote.backends.available()``: 'numpy', 'cpu', 'interp', ...) and
    ``fusion`` default to ``config.backend`` and ``config.fusion``; with
    ``fusion=False`` the cpu backend compiles one kernel per op, the unfused
    baseline. Call the result by position or by input name.

    ``mode`` is 'fast_run' (every rewrite), 'fast_compile' (merging only),
    'none', Theano's spellings of these ('FAST_RUN', ...) or a Theano-style
    ``arignote.compile.Mode``, whose optimizer and linker choose the mode and
    the backend (explicit ``backend``/``fusion`` arguments win).
    ``profile=True`` times every call step by step (``fn.profile``) and prints
    the profile at exit; ``None`` reads ``config.profile``.
    """
    if kwargs:
        raise ArignoteTypeError(
            f"function() got unexpected keyword argument(s) {', '.join(map(repr, kwargs))}; "
            f"accepted: inputs, outputs, updates, givens, allow_input_downcast, "
            f"on_unused_input, name, mode, report, backend, fusion, no_default_updates, profile")
    exclude = ()
    if mode is not None and not isinstance(mode, str):  # a Mode object: its options
        options = _mode_options(mode)
        mode, exclude = options["mode"], options["exclude"]
        backend = options["backend"] if backend is None else backend
        fusion = options["fusion"] if fusion is None else fusion
    fn = Function(inputs, outputs, updates, givens, allow_input_downcast,
                  on_unused_input, name, mode, backend, fusion, no_default_updates, exclude)
    if _option("profile", profile):
        profiling.record(fn)
    if report:
        print(fn.compile_report())
    for hook in COMPILE_HOOKS:
        hook(fn)
    return fn


#: callables run on every newly compiled Function (``arignote dump`` listens here)
COMPILE_HOOKS = []


class Function:
    """A compiled graph, made by :func:`function`: call it with the inputs' values (by
    position or by name) to get the outputs, the shared variables' updates written.

    ``fn.fgraph`` is the optimized graph, ``fn.program`` the steps that run it,
    ``compile_report()`` what the rewrites did; ``copy()`` gives a twin with its own
    shared variables. It pickles (``arignote.save``) as its graph, never machine code."""

    def __init__(self, inputs, outputs, updates, givens, allow_input_downcast,
                 on_unused_input, name, mode, backend=None, fusion=None, no_default_updates=False,
                 exclude=()):
        self.name = name
        self.allow_input_downcast = allow_input_downcast
        self.mode = _option("mode", normalize_mode(mode, config.mode))
        self.exclude = tuple(exclude)  # (rewrite tags a Mode excluded)
        self.backend = _option("backend", backend)
        self.fusion = _option("fusion", fusion)
        if on_unused_input not in _ON_UNUSED:
            raise ArignoteValueError(f"on_unused_input must be one of {_ON_UNUSED}, got {on_unused_input!r}")
        self.inputs = _normalize_inputs(inputs)
        self.single_output = outputs is not None and not isinstance(outputs, (list, tuple))
        self.outs = _normalize_outputs(outputs)
        self.updates = _normalize_updates(updates)
        givens = _normalize_givens(givens)
        self.updates += _default_updates([o.variable for o in self.outs], self.updates, givens,
                                         no_default_updates)

        user_outputs = [o.variable for o in self.outs] + [u for _, u in self.updates]
        input_vars = [i.variable for i in self.inputs]
        self.fgraph = FunctionGraph(input_vars, user_outputs, replace=givens)
        self._check_inputs_used(on_unused_input, givens)
        self.shared = [v for v in self.fgraph.roots() if getattr(v, "is_shared", False)]
        self._check_missing()
        self._compile()

    # ---------------------------------------------------------- building

    def _check_inputs_used(self, on_unused_input, givens):
        needed = set(ancestors(self.fgraph.outputs))
        for inp, var in zip(self.inputs, self.fgraph.inputs):
            if var in needed or on_unused_input == "ignore":
                continue
            why = " (it is replaced through givens)" if inp.variable in givens else ""
            twin = next((v for v in self.fgraph.roots() if inp.name and v.name == inp.name and
                         v is not var and v in needed and not isinstance(v, Constant)), None)
            if twin is not None:  # (the usual cause: T.lscalar('i') called twice)
                user_twin = next((k for k, c in self.fgraph.memo.items() if c is twin), twin)
                which = (f"input {self.fgraph.inputs.index(twin)}, "
                         if twin in self.fgraph.inputs else "")
                why += (f"; there are two variables named {inp.name!r}: this one, input "
                        f"{self.inputs.index(inp)}{built_at(inp.variable)}, is unused, and the "
                        f"graph reads the other, {which}{built_at(user_twin)[2:-1]}")
                why += "" if which else ": pass that one"
            msg = (f"{self._label()}: input {describe(inp.variable)} is not used to compute any "
                   f"output or update{why}; pass on_unused_input='warn' or 'ignore' to allow it")
            if on_unused_input == "raise":
                raise UnusedInputError(msg)
            warnings.warn(msg, stacklevel=4)

    def _check_missing(self):
        provided = set(self.fgraph.inputs) | set(self.shared)
        for v in self.fgraph.roots():
            if v not in provided and not isinstance(v, Constant):
                user_var = next((k for k, c in self.fgraph.memo.items() if c is v), v)
                made = (f" (made by another T.{v.type.rank_name()}(...) call)"
                        if isinstance(v.type, TensorType) else "")
                twin = (f"; the input named {v.name!r} is a different variable{made}"
                        if v.name and any(i.name == v.name for i in self.inputs) else "")
                raise MissingInputError(
                    f"{self._label()}: the graph needs {describe(user_var)} ({user_var.type})"
                    f"{built_at(user_var)} but it is not among the inputs "
                    f"{[i.name or str(i.variable) for i in self.inputs]}{twin}")

    def _compile(self):
        backend = get(self.backend)
        self.stats = _optimize(self.mode, self.fusion, backend, self.fgraph, self._exclude())
        n_out = len(self.outs)
        self._update_slots = [(sv, n_out + k) for k, (sv, _) in enumerate(self.updates)]
        self._fast_inputs = [_fast_check(inp.variable.type) for inp in self.inputs]
        self.program = self._make_program(backend)

    def _make_program(self, backend):
        """The Program, with the memory plan's offers: each update may be computed
        in place over its shared variable; borrowed outputs reuse their storage."""
        roots = list(self.fgraph.inputs) + self.shared
        n_in = len(self.fgraph.inputs)
        inplace = [(slot, n_in + self.shared.index(sv)) for sv, slot in self._update_slots
                   if sv in self.shared]
        borrow = [k for k, out in enumerate(self.outs) if out.borrow]
        # an update's static shape is checked before anything is written
        checks = [(slot, sv.type, f"the update of shared variable {describe(sv)}{built_at(new)}")
                  for (sv, new), (_, slot) in zip(self.updates, self._update_slots)
                  if not sv.type.accepts(new.type)]
        touched = {*self.shared, *(sv for sv, _ in self._update_slots)}  # (read or written)
        # a backend with a device runs its own Program class (values on the device)
        make = getattr(backend, "program_class", Program)
        resident = [describe(sv) for sv in touched if getattr(sv, "target", None) not in (None, backend.name)]
        if resident:
            raise ArignoteValueError(f"shared variables {', '.join(sorted(resident))} live on a device "
                                     f"(shared(..., target='cuda')): use backend='cuda', got "
                                     f"{backend.name!r}")
        # (on a device: the updates of shared variables resident there stay there)
        extra = {} if make is Program else {"resident": [
            slot for sv, slot in self._update_slots if getattr(sv, "target", None) == backend.name]}
        program = make(self.fgraph, roots, backend, inplace=inplace, borrow=borrow, checks=checks,
                       compile_inner=partial(inner_program, backend, optimize=partial(
                           _optimize, self.mode, self.fusion, backend, exclude=self._exclude())), **extra)
        self._lock = _call_lock(touched) if touched or program.shares_state else None
        # settle has nothing to do for one output sharing no memory with the roots
        self._takes_floats = program.takes_floats
        self._must_settle = not (len(self.outs) == 1 and not self._update_slots and
                                 program.fresh_outputs[0])
        self._direct_call = None if self._must_settle else direct_caller(
            program, self._fast_inputs, self.single_output, self._lock, self._general_call)
        # a scalar function's call runs no Python (see native_entry)
        native = None if self._direct_call is None or self._lock is not None or \
            not self.single_output else scalar_entry(program, self._fast_inputs, self._call_any,
                                                     self.name or "function")
        self._entry, self._entry_kept = native or (None, None)
        return program

    def compile_report(self):
        """Node counts before and after each rewrite phase, the time each took,
        and how often each rewrite fired."""
        return f"compile report for {self._label()} (mode {self.mode!r})\n{self.stats.format()}"

    def _exclude(self):
        return self.__dict__.get("exclude", ())  # (a Function pickled before it had one)

    def _label(self):
        return f"function {self.name!r}" if self.name else "function"

    # ---------------------------------------------------------- calling

    @property
    def __call__(self):
        """The call: a scalar function's native entry (see
        :mod:`~arignote.runtime.native_entry`), else the call in Python."""
        return self._entry or self._call_any

    def _call_any(self, *args, **kwargs):
        if self._direct_call is not None and not kwargs:  # one kernel: see direct_call
            return self._direct_call(args)
        return self._call(args, kwargs)

    def _general_call(self, args):
        return self._call(args, {})

    def _call(self, args, kwargs):
        if kwargs or len(args) != len(self._fast_inputs):
            values = self._bind(args, kwargs)
        else:  # the common case: every input by position, mostly exact arrays or floats
            values = [*args]
            k = 0
            for dtype, ndim, exact, scalar in self._fast_inputs:
                value = values[k]
                cls = value.__class__
                if cls is _ndarray:
                    if not exact or value.ndim != ndim or (value.dtype is not dtype and
                                                           value.dtype != dtype):
                        values[k] = self._filter(k, value)
                elif cls is not float or not scalar:
                    values[k] = self._filter(k, value)
                elif scalar is not True:  # float32/16: a value it holds exactly (else filter says)
                    v = scalar(value)
                    values[k] = v if v is not None else self._filter(k, value)
                elif not self._takes_floats:  # (else the kernel reads the float itself)
                    values[k] = _asarray(value)
                k += 1
        lock = self._lock
        if lock is None:  # no shared variable read or written, no storage shared between runs
            results = self.program.run(values, self._settle if self._must_settle else None)
        else:
            shared = self.shared
            with lock:  # (the program checked every update before it wrote anything)
                results = self.program.run(values + [sv._value for sv in shared] if shared else values,
                                           self._settle if self._must_settle else None)
                for sv, slot in self._update_slots:
                    sv._value = results[slot]
        if self.single_output:
            return results[0]
        n_out = len(self.outs)
        return results[:n_out] if len(results) != n_out else results

    def _settle(self, results, protected):
        """Make the results safe to hand out, before in-place updates write (their
        results are None here): no output shares memory with an input, a shared
        value or another output (``Out(borrow=True)`` only spares the latter), and no
        update value with any of those or another update."""
        fresh = self.program.fresh_outputs  # (these share no memory with ``protected``)
        if len(results) == 1 == len(self.outs):  # one output, no updates
            if not fresh[0] and overlaps(results[0], protected):
                results[0] = copy_value(results[0])
            return
        outputs = []
        for k, out in enumerate(self.outs):
            results[k] = _fresh(results[k], () if fresh[k] else protected,
                                () if out.borrow else outputs)
            outputs.append(results[k])
        if self._update_slots:
            new_values = []
            for sv, slot in self._update_slots:
                value = results[slot]
                if value is not None and value is not sv._value:
                    value = results[slot] = _fresh(value, protected + outputs, new_values)
                new_values.append(value)

    def _filter(self, k, value):
        """Input ``k``'s ``value`` checked and converted by its type."""
        inp = self.inputs[k]
        what = f"input {inp.name!r}" if inp.name else f"input {k}"
        return inp.variable.type.filter(value, what=f"{what} of {self._label()}",
                                        allow_downcast=self.allow_input_downcast)

    def _bind(self, args, kwargs):
        n = len(self.inputs)
        if len(args) > n:
            raise ArignoteTypeError(f"{self._label()} takes {n} argument{'s' * (n != 1)} "
                                    f"({self._signature()}) but {len(args)} were given")
        given = list(args) + [In._NO_DEFAULT] * (n - len(args))
        for key, value in kwargs.items():
            k = next((j for j, inp in enumerate(self.inputs) if inp.name == key), None)
            if k is None:
                raise ArignoteTypeError(f"{self._label()} got an unexpected keyword argument "
                                        f"{key!r}; its inputs are ({self._signature()})")
            if given[k] is not In._NO_DEFAULT:
                raise ArignoteTypeError(f"{self._label()} got multiple values for input {key!r}")
            given[k] = value
        values = []
        for k, (inp, value) in enumerate(zip(self.inputs, given)):
            if value is In._NO_DEFAULT:
                if not inp.has_default:
                    raise ArignoteTypeError(f"{self._label()} is missing input "
                                            f"{inp.name or k!r} ({self._signature()})")
                value = inp.value
            values.append(self._filter(k, value))
        return values

    def _signature(self):
        return ", ".join(inp.name or f"<input {k}>" for k, inp in enumerate(self.inputs))

    # ---------------------------------------------------------- copying

    def copy(self, share_memory=False):
        """A function with the same graph; unless ``share_memory``, it gets
        its own copies of the shared variables (so its updates are independent)."""
        new = object.__new__(Function)
        new.__dict__.update(self.__dict__)
        if share_memory:
            return new
        swap = {sv: sv.copy_with_value() for sv in self.shared}
        copy_default_updates(swap)  # (one copy's default update may read another copy)
        new.updates = [(swap.get(sv, sv), u) for sv, u in self.updates]
        new.fgraph = FunctionGraph(self.fgraph.inputs, self.fgraph.outputs, clone=True, replace=swap)
        new.inputs = [In(v, inp.name, inp.value, inp.borrow)
                      for v, inp in zip(new.fgraph.inputs, self.inputs)]
        new.shared = [swap.get(sv, sv) for sv in self.shared]
        new._update_slots = [(swap.get(sv, sv), slot) for sv, slot in self._update_slots]
        new.program = new._make_program(self.program.backend)
        return new

    def __deepcopy__(self, memo):
        return self.copy(share_memory=False)

    def __getstate__(self):
        """The optimized graph pickles, never machine code. Loading rebuilds the
        Program: it compiles the kernels, or links their object code from the disk
        cache, so unpickling a Function loads native code into the process;
        ``arignote.load(..., compile=False)`` defers that to the first call (see
        :mod:`arignote.runtime.serialize`)."""
        state = dict(self.__dict__)
        for built in ("program", "_lock", "_deferred", "profile", "_direct_call", "_entry",
                      "_entry_kept"):
            state.pop(built, None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        if serialize.compiles_on_load():
            self.program = self._make_program(get(self.backend))
        else:
            self._deferred = True  # built by the first look at what _make_program makes

    def __getattr__(self, attr):  # only reached for a missing attribute
        if self.__dict__.get("_deferred") and not attr.startswith("__"):
            serialize.build_program(self)
            if attr in self.__dict__:
                return self.__dict__[attr]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {attr!r}")

    def __repr__(self):
        return f"<arignote Function {self.name or ''}({self._signature()})>"


def _fast_check(t):
    """What an input of type ``t`` accepts without ``filter``: (dtype, ndim, exact,
    scalar): ``exact``, an ndarray of that dtype and rank needs no shape check;
    ``scalar``, how a Python float converts for a 0-d float input: True for float64 (as
    is), for float32/float16 ``EXACT_FLOAT`` (a 0-d array where the dtype holds it exactly,
    as ``filter`` would accept it, else None), False for other inputs. An input of
    another type (a list, a generic object) always goes through ``filter``."""
    if not isinstance(t, TensorType):
        return None, -1, False, False
    return (t.numpy_dtype, t.ndim, all(s is None for s in t.shape),
            t.ndim == 0 and t.is_float and (t.dtype == "float64" or EXACT_FLOAT[t.dtype]))


def _optimize(mode, fusion, backend, fgraph, exclude=()):
    """Rewrite ``fgraph`` (a function's graph, or an inner graph as the outer one) for
    ``mode``: the fuse phase groups nodes into kernels for compiling backends, whole
    groups with ``fusion``, one node per group without (the unfused baseline), the
    groups ``backend`` says it can lower; rewrites tagged with a name in ``exclude``
    do not run. Returns the rewrites' Stats."""
    from arignote import passes
    fgraph.fusion = fusion if backend.compiles else None
    fgraph.gemm = getattr(backend, "gemm", False)  # (one library call with beta: see specialize)
    fgraph.fuses_pool = getattr(backend, "fuses_pool", False)  # (see passes.pool_fusion)
    fgraph.kernel_axes = backend.kernel_axes
    try:
        return passes.optimize(fgraph, mode, exclude=exclude)
    finally:
        del fgraph.kernel_axes  # (asked during the passes only: a pickled graph holds no backend)


def _call_lock(shared):
    """What a call holds: the locks of the ``shared`` variables, taken in one global
    order (so two calls never wait for each other), or a new lock of its own."""
    locks = [sv.lock for sv in sorted(shared, key=id)]
    if not locks:
        return threading.RLock()
    return locks[0] if len(locks) == 1 else _AllLocks(locks)


class _AllLocks:
    """Several locks as one context manager: acquired in order, released in reverse."""

    __slots__ = ("locks",)

    def __init__(self, locks):
        self.locks = locks

    def __enter__(self):
        taken = []
        try:
            for lock in self.locks:
                lock.acquire()
                taken.append(lock)
        except BaseException:
            for lock in reversed(taken):
                lock.release()
            raise

    def __exit__(self, *exc):
        for lock in reversed(self.locks):
            lock.release()


def _fresh(value, protected, others):
    """``value``, copied if it may share memory with a protected array or another result."""
    return copy_value(value) if overlaps(value, protected) or overlaps(value, others) else value


def _option(name, value):
    """A compile option (mode, backend, fusion, profile): the given value or config's, checked."""
    from arignote.config import SETTINGS
    value = getattr(config, name) if value is None else value
    allowed = SETTINGS[name][2]
    if value in allowed and (allowed != (True, False) or isinstance(value, bool)):
        return value
    device = (f"; config.device is {config.device!r}" if name == "backend" and
              config.device != "cpu" else "")
    raise ArignoteValueError(f"{name} must be one of {allowed} (or None for config.{name}), "
                             f"got {value!r}{device}")


def _mode_options(mode):
    """What a mode object (Theano's ``Mode``: ``arignote.compile.Mode``) asks of
    ``function``: {'mode', 'backend', 'fusion', 'exclude'} (None: config's)."""
    if not callable(getattr(mode, "function_options", None)):
        raise ArignoteValueError(f"mode must be one of ('fast_run', 'fast_compile', 'none') (or "
                                 f"Theano's 'FAST_RUN', ...), an arignote.compile.Mode or None, "
                                 f"got {mode!r}")
    return mode.function_options()
