"""The call of a function that is one kernel, as straight-line Python.

A function whose program is a single trusted kernel from its inputs to its
one output (``f(a, b) = a + b``) spends most of its call in the generic
layers around the kernel: argument binding, the type checks of each input,
the Program's dispatch, the lock and ``settle`` logic. For such a function
:func:`direct_caller` generates one function, specialized to its inputs,
that accepts the common case (every input by position, each an exact array
of the input's dtype and rank, or a Python float where the kernel reads
floats in place) and hands it to the kernel's runner at once. Anything else
goes to the general call, which checks and converts as always; so does a
call that raises, and the general call then raises the proper error (the
kernel wrote only an output nobody got: nothing to undo).

The generated call is used only while the program runs its steps as built:
:mod:`arignote.runtime.profile` wraps the steps, and the call then takes the
general path, where the timers are.
"""
import numpy as np

from arignote.compiler.unsafe import FLOAT_VALUE


def direct_caller(program, fast_inputs, single_output, lock, general):
    """``call(args) -> result`` for a Function whose ``program`` runs one direct kernel,
    or None when the program is not such (or needs what only the general call does:
    settling, borrowed outputs, checks of updates). ``fast_inputs``: per input,
    ``(dtype, ndim, exact, scalar)`` as the Function's own fast checks; ``lock``: what
    a call holds (None: nothing); ``general(args)``: the Function's general call."""
    direct = getattr(program, "_direct", None)
    if direct is None or program._lenders or program._checks or program._commit_steps or \
            len(fast_inputs) != program.n_roots:
        return None
    steps, _, step, order = direct  # (step.call is read at each call: its first call makes it)
    floats = program.takes_floats and FLOAT_VALUE is not None
    env = {"ndarray": np.ndarray, "program": program, "steps": steps, "general": general,
           "step": step, "lock": lock}
    n = len(fast_inputs)
    xs = [f"x{k}" for k in range(n)]
    tests = []
    for k, (dtype, ndim, exact, scalar) in enumerate(fast_inputs):
        accept = [f"x{k}.__class__ is float"] if scalar is True and floats else []
        if exact:
            env[f"D{k}"] = dtype
            accept.append(f"(x{k}.__class__ is ndarray and x{k}.dtype is D{k} and x{k}.ndim == {ndim})")
        if not accept:
            return None  # (this input always needs the type's filter)
        tests.append(" or ".join(accept) if len(accept) == 1 else "(" + " or ".join(accept) + ")")
    result = "step.call([" + ", ".join(xs[i] for i in order) + "])" + ("[0]" if single_output else "")
    body = [f"return {result}"]
    if lock is not None:
        body = ["with lock:", f"    {body[0]}"]
    lines = ["def call(args):",
             f"    if len(args) == {n} and program._run_steps is steps:"]
    if n:
        lines.append(f"        {', '.join(xs)}{',' * (n == 1)} = args")
        lines.append(f"        if {' and '.join(tests)}:")
    else:
        lines.append("        if True:")
    lines += ["            try:", *("                " + line for line in body),
              "            except Exception:",
              "                pass  # (the general call raises the proper error)",
              "    return general(args)"]
    source = "\n".join(lines)
    namespace = {}
    exec(compile(source, "<direct call>", "exec"), env, namespace)
    call = namespace["call"]
    call.source = source
    return call
