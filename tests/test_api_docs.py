"""The API reference reads what ``help()`` reads: each public module's ``__all__``
names things that exist, every function and class there has a docstring, and
``help(arignote.tensor)`` lists the functions it re-exports (it once listed
none). ``make docs`` renders the same with pdoc; this check stays fast."""
import importlib
import inspect
import pydoc

import pytest

import arignote

PUBLIC = ["arignote", "arignote.tensor", "arignote.tensor.nnet", "arignote.tensor.extra_ops",
          "arignote.tensor.xlogx", "arignote.tensor.random", "arignote.printing", "arignote.backends",
          "arignote.compile", "arignote.compile.mode", "arignote.compile.ops", "arignote.gof",
          "arignote.gof.graph", "arignote.scalar", "arignote.updates", "arignote.init", "arignote.ifelse"]


@pytest.mark.parametrize("name", PUBLIC)
def test_public_modules_document_what_they_export(name):
    module = importlib.import_module(name)
    assert inspect.getdoc(module), f"{name} has no docstring"
    assert hasattr(module, "__all__"), f"{name} has no __all__: help() would hide its re-exports"
    missing = [n for n in module.__all__ if not hasattr(module, n)]
    assert not missing, f"{name}.__all__ names what it lacks: {missing}"
    undocumented = [n for n in module.__all__ if (inspect.isfunction(getattr(module, n)) or
                                                 inspect.isclass(getattr(module, n)))
                    and not inspect.getdoc(getattr(module, n))]
    assert not undocumented, f"{name}: no docstring for {undocumented}"


def test_help_lists_the_reexported_functions():
    text = pydoc.render_doc(arignote.tensor, renderer=pydoc.plaintext)
    for shown in ("matrix(", "cumsum(", "grad(", "dot("):
        assert shown in text, shown
    nnet = pydoc.render_doc(arignote.tensor.nnet, renderer=pydoc.plaintext)
    assert "softmax(" in nnet and "categorical_crossentropy(" in nnet
    assert "A compiled graph" in pydoc.render_doc(arignote.Function, renderer=pydoc.plaintext)
