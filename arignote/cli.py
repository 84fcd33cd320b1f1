"""The ``arignote`` command.

``arignote dump SCRIPT.py [--stage raw|optimized] [--format text|dot] [-- SCRIPT ARGS]``
runs a user's script and prints every function it compiles: the graph as the
user built it (``raw``) or as it runs after the rewrites (``optimized``).
With ``--format dot`` the whole output is valid DOT (one digraph per function,
headers and compile reports as ``//`` comments, the script's own prints sent
to stderr), so it can be piped to ``dot``.
"""
import argparse
import contextlib
import os
import runpy
import sys
import types


class _Dumper:
    """The compile hook: prints each function as it is compiled."""

    def __init__(self, stage, fmt, out):
        self.stage, self.fmt, self.out = stage, fmt, out
        self.count = 0

    def __call__(self, fn):
        from arignote import printing

        self.count += 1
        label = f"function {fn.name!r}" if fn.name else f"function #{self.count}"
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
    dump = sub.add_parser("dump", help="run a script and dump the functions it compiles")
    dump.add_argument("script")
    dump.add_argument("--stage", choices=["raw", "optimized"], default="optimized")
    dump.add_argument("--format", choices=["text", "dot"], default="text")
    argv = list(sys.argv[1:] if argv is None else argv)
    script_args = argv[argv.index("--") + 1:] if "--" in argv else []
    args = parser.parse_args(argv[:argv.index("--")] if "--" in argv else argv)
    if not os.path.isfile(args.script):
        parser.error(f"no such script: {args.script}")

    from arignote.runtime.function import COMPILE_HOOKS

    hook = _Dumper(args.stage, args.format, sys.stdout)
    COMPILE_HOOKS.append(hook)
    saved_argv, saved_path = sys.argv, list(sys.path)
    sys.argv = [args.script, *script_args]
    sys.path.insert(0, os.path.dirname(os.path.abspath(args.script)))  # as `python SCRIPT` does
    quiet = contextlib.redirect_stdout(sys.stderr) if args.format == "dot" else contextlib.nullcontext()
    try:
        with quiet:
            runpy.run_path(args.script, run_name="__main__")
    finally:
        sys.argv = saved_argv
        sys.path[:] = saved_path
        COMPILE_HOOKS.remove(hook)
    if hook.count == 0:
        print(f"arignote dump: {args.script} compiled no functions", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
