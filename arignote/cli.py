"""The ``arignote`` command.

``arignote dump SCRIPT.py [--stage raw|optimized] [--format text|dot|kernels|html] [-o FILE]
[-- SCRIPT ARGS]``
runs a user's script and prints every function it compiles: the graph as the
user built it (``raw``) or as it runs after the rewrites (``optimized``).
With ``--format dot`` the whole output is valid DOT (one digraph per function,
headers and compile reports as ``//`` comments, the script's own prints sent
to stderr), so it can be piped to ``dot``. With ``--format kernels`` each
step of the compiled program is listed, and every kernel printed twice: as
kernel IR (``Kernel.pretty()``) and as the LLVM IR the cpu backend compiles.
With ``--format html`` every function goes into one interactive page
(``arignote.printing.d3viz``: both stages, kernels, compile reports), best
written to a file with ``-o graph.html``.
"""
import argparse
import contextlib
import os
import runpy
import sys
import types

KERNELS_HELP = """--format kernels: every compiled kernel of each function, as kernel IR and
as LLVM IR, with the fused group it came from and the user's source lines.
A function compiled for the numpy backend has no kernels: its graph is then
compiled again for the cpu backend (same mode and fusion setting) to show
what cpu would run, and the header says so. The --stage option does not
apply (kernels always come from the optimized graph)."""


class _Dumper:
    """The compile hook: prints each function as it is compiled."""

    def __init__(self, stage, fmt, out):
        self.stage, self.fmt, self.out = stage, fmt, out
        self.count = 0
        self.functions = []  # (label, function): what --format html shows at the end

    def __call__(self, fn):
        from arignote import printing

        self.count += 1
        label = f"function {fn.name!r}" if fn.name else _unnamed(self.count)
        if self.fmt in ("kernels", "cuda"):
            _print_kernels(fn, label, self.out, self.fmt)
            return
        if self.fmt == "html":
            self.functions.append((label, fn))
            return
        target = fn if self.stage == "optimized" else _raw_view(fn)
        comment = "// " if self.fmt == "dot" else ""
        print(f"{comment}=== {label} ({self.stage}) ===", file=self.out)
        if self.fmt == "dot":
            self.out.write(printing.to_dot(target))
        else:
            printing.debugprint(target, file=self.out)
        if self.stage == "optimized":
            report = fn.compile_report()
            print("\n".join(comment + line for line in report.splitlines()), file=self.out)
        print(file=self.out)


def _unnamed(count):
    """'function #2 (compiled at train.py:14)': an unnamed function, by the user's line
    that called ``function`` (this hook runs inside that call)."""
    from arignote.graph.basic import user_trace

    trace = user_trace()
    where = f" (compiled at {os.path.basename(trace[0])}:{trace[1]})" if trace else ""
    return f"function #{count}{where}"


def _print_kernels(fn, label, out, fmt="kernels"):
    """Each step of ``fn``'s program; each kernel step with its kernel IR and LLVM IR;
    then the same for the program of each inner graph (a loop's step, a branch)."""
    program, note = _cpu_program(fn)
    _print_program(program, label, note, _output_names(fn, program), out, fmt)
    print(file=out)


def _print_program(program, label, note, names, out, fmt="kernels"):
    from arignote.compiler.llvm import render

    steps = program.steps
    kernels = [s for s in steps if getattr(s[1], "kernel", None) is not None]
    print(f"=== {label}: {len(kernels)} kernel{'s' * (len(kernels) != 1)} in "
          f"{len(steps)} steps{note} ===", file=out)
    k = 0
    for n, (node, run, *_) in enumerate(steps):
        kernel = getattr(run, "kernel", None)
        to = ", ".join(names[v] for v in node.outputs if v in names)
        to = f" -> {to}" if to else ""
        if kernel is None:
            print(f"step {n}: {node}{to} (no kernel: a library call, a view, an inner graph or "
                  f"the op's own code)", file=out)
            continue
        k += 1
        print(f"\n--- {label}, kernel {k}/{len(kernels)}: {kernel.name} (step {n}) ---", file=out)
        print(f"from: {node}{to}", file=out)
        lines = _source_lines(node)
        if lines:
            print(f"built at: {lines}", file=out)
        print(kernel.pretty().rstrip("\n"), file=out)
        if fmt == "cuda":
            _print_cuda(kernel, out)
        else:
            print(f"; --- LLVM IR of {kernel.name} ---", file=out)
            print(render(kernel).rstrip("\n"), file=out)
    for inner in program.inner_programs:
        owner = f"{inner.owner.op}" if inner.owner is not None else "an op"
        print(file=out)
        _print_program(inner, f"{label} > inner graph of {owner}", "", {}, out, fmt)


def _print_cuda(kernel, out):
    """``kernel``'s CUDA C, and ptxas's report per architecture where NVRTC or nvcc is there.
    (The kernel comes from a cpu program: it is rescheduled for the CUDA target.)"""
    import dataclasses

    from arignote.compiler import cuda, cuda_compile

    source = cuda.render(dataclasses.replace(kernel, schedule=None))
    print(f"// --- CUDA C of {kernel.name} ---", file=out)
    print(source.rstrip("\n"), file=out)
    if cuda_compile.compiler_version() is None:
        print("// (no NVRTC or nvcc here: not compiled)", file=out)
        return
    for arch in cuda_compile.ARCHS:
        report = cuda_compile.compile_source(source, kernel.name, arch).report
        print(f"// ptxas {arch}: " + report.pretty().replace("\n", "\n// "), file=out)


def _cpu_program(fn):
    """(program, note): ``fn``'s own program, or for a function compiled without
    kernels (numpy backend) a twin of it compiled the same way for backend 'cpu'."""
    from arignote.graph.fg import FunctionGraph
    from arignote.runtime.backends import get

    if get(fn.backend).compiles:
        return fn.program, ""
    twin = object.__new__(type(fn))  # the same function (inputs, outputs, updates, options)
    twin.__dict__.update(fn.__dict__)
    twin.fgraph = FunctionGraph(fn.fgraph.inputs, fn.fgraph.outputs, clone=True)
    twin.backend = "cpu"
    twin._compile()
    fused = "fused" if fn.fusion else "unfused"
    return twin.program, (f" (compiled for backend {fn.backend!r}, which runs no kernels: shown "
                          f"as backend 'cpu' ({fused}) would run it)")


def _output_names(fn, program):
    """{variable: 'output k' | 'update of W'} for the program's graph outputs."""
    slots = {i: v for v, i in program.slot.items()}
    outputs = [slots[i] for i in program.output_slots]
    labels = [f"output {k}" for k in range(len(fn.outs))]
    labels += [f"update of {sv.name or 'a shared variable'}" for sv, _ in fn.updates]
    names = {}
    for v, name in zip(outputs, labels):
        names[v] = f"{names[v]}, {name}" if v in names else name
    return names


def _source_lines(node):
    """'file.py:6, file.py:7': where the user built the ops of a fused group."""
    seen = []
    for inner in getattr(node.op, "nodes", None) or [node]:
        trace = getattr(inner, "trace", None)
        if trace:
            where = f"{os.path.basename(trace[0])}:{trace[1]}"
            if where not in seen:
                seen.append(where)
    return ", ".join(seen)


def _raw_view(fn):
    """``fn`` as the user built it: a Function-shaped view over the user's own
    variables (a FunctionGraph without cloning, so nothing is copied or changed)."""
    from arignote.graph.fg import FunctionGraph

    outputs = [o.variable for o in fn.outs] + [expr for _, expr in fn.updates]
    fgraph = FunctionGraph([i.variable for i in fn.inputs], outputs, clone=False)
    return types.SimpleNamespace(name=fn.name, outs=fn.outs, updates=fn.updates, fgraph=fgraph)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="arignote", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    from arignote import sysinfo

    sysinfo.add_commands(parser, sub)  # (--version, info, cache)
    dump = sub.add_parser("dump", help="run a script and dump the functions it compiles",
                          description=__doc__.split("\n\n", 1)[1].replace("``", ""), epilog=KERNELS_HELP,
                          formatter_class=argparse.RawDescriptionHelpFormatter)
    dump.add_argument("script")
    dump.add_argument("--stage", choices=["raw", "optimized"], default=None,
                      help="the graph as built (raw) or as it runs (optimized, the default)")
    dump.add_argument("--format", choices=["text", "dot", "kernels", "html", "cuda"], default="text",
                      help="debugprint text, DOT, each kernel's IR and LLVM IR, an interactive page, "
                           "or each kernel's IR, CUDA C and ptxas report (cuda)")
    dump.add_argument("-o", "--output", metavar="FILE", help="write the dump to FILE, not to stdout")
    argv = list(sys.argv[1:] if argv is None else argv)
    script_args = argv[argv.index("--") + 1:] if "--" in argv else []
    args = parser.parse_args(argv[:argv.index("--")] if "--" in argv else argv)
    if args.command != "dump":
        return args.run(args)
    if not os.path.isfile(args.script):
        parser.error(f"no such script: {args.script}")
    if args.format in ("kernels", "cuda") and args.stage == "raw":
        parser.error(f"--format {args.format} shows the compiled program: --stage raw does not apply")
    args.stage = args.stage or "optimized"

    from arignote.runtime.function import COMPILE_HOOKS

    out = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout
    hook = _Dumper(args.stage, args.format, out)
    COMPILE_HOOKS.append(hook)
    saved_argv, saved_path = sys.argv, list(sys.path)
    sys.argv = [args.script, *script_args]
    sys.path.insert(0, os.path.dirname(os.path.abspath(args.script)))  # as `python SCRIPT` does
    pure = args.format in ("dot", "html") and out is sys.stdout  # (the script's prints go elsewhere)
    quiet = contextlib.redirect_stdout(sys.stderr) if pure else contextlib.nullcontext()
    try:
        with quiet:
            runpy.run_path(args.script, run_name="__main__")
        if hook.functions:
            from arignote.viz import document, page

            out.write(page(document(hook.functions, view=args.stage)))
    finally:
        sys.argv = saved_argv
        sys.path[:] = saved_path
        COMPILE_HOOKS.remove(hook)
        if out is not sys.stdout:
            out.close()
    if hook.count == 0:
        print(f"arignote dump: {args.script} compiled no functions", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
