"""The ``arignote`` command.

``arignote dump SCRIPT.py [--stage raw|optimized] [--format text|dot] [-- SCRIPT ARGS]``
runs a user's script and prints every function it compiles: the graph as the
user built it (``raw``) or as it runs after the rewrites (``optimized``).
"""
import argparse
import runpy
import sys


def _dump(fn, stage, fmt, out):
    from arignote import printing

    label = fn.name or f"function #{_dump.count}"
    _dump.count += 1
    print(f"=== {label} ({stage}) ===", file=out)
    if stage == "optimized":
        target = fn
    else:
        target = [o.variable for o in fn.outs] + [u for _, u in fn.updates]
    if fmt == "dot":
        print(printing.to_dot(target), file=out)
    else:
        printing.debugprint(target, file=out)
    if stage == "optimized":
        print(fn.compile_report(), file=out)


_dump.count = 0


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

    from arignote.runtime.function import COMPILE_HOOKS

    hook = lambda fn: _dump(fn, args.stage, args.format, sys.stdout)  # noqa: E731
    COMPILE_HOOKS.append(hook)
    saved = sys.argv
    sys.argv = [args.script, *script_args]
    try:
        runpy.run_path(args.script, run_name="__main__")
    finally:
        sys.argv = saved
        COMPILE_HOOKS.remove(hook)
    return 0


if __name__ == "__main__":
    sys.exit(main())
