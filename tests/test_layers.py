"""One-way layers (docs/design.md, "Layers"): no module of ``arignote`` imports a
module of a higher layer, at module level or inside a function.

The imports are read from the source with ``ast`` (``import a.b``, ``from a
import b``, relative imports, ``importlib.import_module("a.b")``), so an import
hidden in a function body counts like any other.
"""
import ast
import pathlib

import arignote

ROOT = pathlib.Path(arignote.__file__).parent

# The one table of layers, lowest first. A module belongs to the layer of the
# longest prefix listed; ``arignote`` itself stands for the public API: the
# package's __init__, tensor/ (what users import as T), verify (verify_grad
# compiles functions), printing, cli, and any new module until it is listed lower.
LAYERS = {
    "arignote.errors": 0, "arignote.config": 0,
    "arignote.graph": 1,
    "arignote.ops": 2,
    "arignote.gradient": 3,
    "arignote.passes": 4,
    "arignote.compiler": 5,
    "arignote.runtime": 6,
    "arignote": 7,
}
LAYER_NAMES = ["base (errors, config)", "graph", "ops", "gradient", "passes", "compiler", "runtime",
               "public API"]
# (importing module, imported module) -> why it may go up. Empty, and meant to stay so.
EXCEPTIONS = {}


def layer(module):
    """The layer of a dotted module name of arignote, or None for other packages."""
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        prefix = ".".join(parts[:n])
        if prefix in LAYERS:
            return LAYERS[prefix]
    return None


def _is_module(dotted):
    path = ROOT.parent.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imports(source, module, is_package):
    """``(line, imported module)`` for every import in ``source``, the text of ``module``.

    ``from pkg import name`` imports ``pkg.name`` when that is a module, else ``pkg``."""
    package = module.split(".") if is_package else module.split(".")[:-1]
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            base = ".".join(base + ([node.module] if node.module else []))
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.append((node.lineno, sub if _is_module(sub) else base))
        elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)
              and getattr(node.func, "attr", getattr(node.func, "id", None)) in ("import_module",
                                                                                  "__import__")):
            found.append((node.lineno, node.args[0].value))
    return sorted(dict.fromkeys(found), key=lambda f: f[0])


def _modules():
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        is_package = parts[-1] == "__init__"
        yield path, ".".join(parts[:-1] if is_package else parts), is_package


def upward_imports():
    """``'file:line: module (layer) imports target (layer)'`` for every import going up."""
    bad = []
    for path, module, is_package in _modules():
        own = layer(module)
        for line, target in imports(path.read_text(), module, is_package):
            up = layer(target)
            if up is not None and up > own and (module, target) not in EXCEPTIONS:
                bad.append(f"{path.relative_to(ROOT.parent)}:{line}: {module} ({LAYER_NAMES[own]}) "
                           f"imports {target} ({LAYER_NAMES[up]})")
    return bad


def test_no_module_imports_a_higher_layer():
    bad = upward_imports()
    assert not bad, ("imports that go up a layer (move what is needed down, or pass it in; "
                     "see docs/design.md, Layers):\n" + "\n".join(bad))


def test_no_import_cycle_at_module_level():
    """Within a layer too, modules import each other one way at load time (a module-level
    cycle is what bottom-of-file imports work around); a higher op family is reached
    through the tensor variable's methods instead."""
    graph = {}
    for path, module, is_package in _modules():
        top = [n for n in ast.parse(path.read_text()).body if isinstance(n, (ast.Import, ast.ImportFrom))]
        graph[module] = {t for _, t in imports("\n".join(map(ast.unparse, top)), module, is_package)
                         if layer(t) is not None and not module.startswith(t + ".")}
    state, cycles = {}, []

    def visit(module, path):
        state[module] = "open"
        for t in sorted(graph.get(module, ())):
            if state.get(t) == "open":
                cycles.append(" -> ".join(path[path.index(t):] + [t]))
            elif t not in state:
                visit(t, path + [t])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not cycles, "module-level import cycles:\n" + "\n".join(cycles)


def test_every_layer_in_the_table_exists():
    assert all(_is_module(prefix) for prefix in LAYERS)
    assert all(layer(a) is not None and layer(b) > layer(a) for a, b in EXCEPTIONS)


def test_the_walk_sees_every_form_of_import():
    source = "\n".join([
        "import numpy",
        "import arignote.runtime.function",
        "from arignote.runtime import function",
        "from arignote import passes, config",
        "from ..runtime.program import Program",
        "from . import reduce",
        "def f():",
        "    from arignote.compiler import lower",
        "    import importlib",
        "    return importlib.import_module('arignote.tensor')",
    ])
    found = imports(source, "arignote.ops.shape", is_package=False)
    assert found == [(1, "numpy"), (2, "arignote.runtime.function"), (3, "arignote.runtime.function"),
                     (4, "arignote.passes"), (4, "arignote.config"), (5, "arignote.runtime.program"),
                     (6, "arignote.ops.reduce"), (8, "arignote.compiler.lower"), (9, "importlib"),
                     (10, "arignote.tensor")]
    assert [layer(t) for _, t in found] == [None, 6, 6, 4, 0, 6, 2, 5, None, 7]
    # relative to a package's __init__, one dot is the package itself
    assert imports("from .basic import Variable", "arignote.graph", is_package=True) == \
        [(1, "arignote.graph.basic")]
