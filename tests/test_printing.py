import io
import os
import re
import shutil
import sys

import numpy as np
import pytest

import arignote as ag
import arignote.tensor as T
from arignote.graph.basic import Apply
from arignote.graph.fg import FunctionGraph
from arignote.graph.op import Op
from arignote.graph.type import TensorType
from arignote.ifelse import ifelse
from arignote.printing import debugprint, node_id, pprint, pydotprint, to_dot, to_networkx


@pytest.fixture(autouse=True)
def _unfused_graphs(monkeypatch):
    """These tests read op names of compiled graphs: the numpy backend keeps them unfused."""
    monkeypatch.setattr(ag.config, "backend", "numpy")



def _xy():
    return T.dvector("x"), T.dvector("y")


# ------------------------------------------------------------ debugprint

def test_debugprint_small_graph():
    x, y = _xy()
    w = T.dscalar("w")
    z = x + y * w
    z.name = "z"
    assert debugprint(z, file="str") == (
        "Elemwise{add} [id A] 'z' <float64[?]>\n"
        " |x [id B] <float64[?]>\n"
        " |Elemwise{mul} [id C] <float64[?]>\n"
        "   |y [id D] <float64[?]>\n"
        "   |DimShuffle{x} [id E] <float64[1]>\n"
        "     |w [id F] <float64>\n")


def test_debugprint_options_and_sibling_bars():
    x, y = _xy()
    z = T.exp(x * y) + y
    assert debugprint(z, file="str", print_type=False, ids=False) == (
        "Elemwise{add}\n"
        " |Elemwise{exp}\n"
        " | |Elemwise{mul}\n"
        " |   |x\n"
        " |   |y\n"
        " |y\n")


def test_debugprint_depth_limits_expansion():
    x, y = _xy()
    text = debugprint(T.exp(x * y), file="str", depth=1)
    assert text.splitlines() == ["Elemwise{exp} [id A] <float64[?]>",
                                 " |Elemwise{mul} [id B] <float64[?]>"]


def test_debugprint_shared_node_printed_once_then_referenced():
    x, _ = _xy()
    e = T.exp(x)
    text = debugprint(e * e + e, file="str", print_type=False)
    lines = text.splitlines()
    assert sum("Elemwise{exp}" in line for line in lines) == 3
    # expanded once (its input x appears once), then referenced by the same id
    assert sum(line.strip(" |").startswith("x ") for line in lines) == 1
    exp_ids = {line.split("[id ")[1] for line in lines if "Elemwise{exp}" in line}
    assert len(exp_ids) == 1


def test_debugprint_list_shares_ids_across_trees():
    x, y = _xy()
    s = x + y
    text = debugprint([s * 2.0, s], file="str", print_type=False)
    lines = text.splitlines()
    assert lines[-1] == "Elemwise{add} [id B]"
    assert lines[1] == " |Elemwise{add} [id B]"


def test_debugprint_roots_unnamed_shared_and_constants():
    v = T.dvector()
    w = ag.shared(np.zeros(3))
    c = T.constant(np.arange(20.0))
    text = debugprint(v * w + c, file="str", ids=False)
    assert " | |<input> <float64[?]>" in text
    assert " | |<shared> <float64[?]>" in text
    assert "TensorConstant{[0., 1., ..., 18., 19.]} <float64[20]>" in text


def test_debugprint_function_shows_outputs_and_labelled_updates():
    x = T.dvector("x")
    w = ag.shared(np.zeros(3), name="W")
    count = ag.shared(np.int64(0), name="count")
    f = ag.function([x], x * w, updates=[(w, w - 0.5 * x), (count, count + 1)])
    lines = debugprint(f, file="str", print_type=False).splitlines()
    assert lines[0] == "Elemwise{mul} [id A]"
    tops = [line for line in lines if not line.startswith(" ")]
    assert tops == ["Elemwise{mul} [id A]", "Elemwise{sub} [id D] (update of W)",
                    "Elemwise{add} [id G] (update of count)"]
    # the function's graph is a copy: the user's variables print under their names
    assert " |x [id B]" in lines and " |W [id C]" in lines


def test_debugprint_function_without_outputs_and_fgraph():
    w = ag.shared(np.ones(2), name="w")
    f = ag.function([], [], updates={w: w * 2.0})
    assert debugprint(f, file="str", ids=False, print_type=False).splitlines()[0] == (
        "Elemwise{mul} (update of w)")
    x, y = _xy()
    fg = FunctionGraph([x, y], [x + y])
    assert debugprint(fg, file="str", print_type=False) == (
        "Elemwise{add} [id A]\n |x [id B]\n |y [id C]\n")


def test_debugprint_writes_to_file_and_stdout(capsys):
    x, _ = _xy()
    buf = io.StringIO()
    assert debugprint(-x, file=buf) is buf
    assert buf.getvalue() == "Elemwise{neg} [id A] <float64[?]>\n |x [id B] <float64[?]>\n"
    debugprint(-x)
    assert capsys.readouterr().out == buf.getvalue()


def test_debugprint_rejects_non_graphs():
    with pytest.raises(ag.ArignoteTypeError, match="debugprint"):
        debugprint(3.0)


class _Split(Op):
    """Two outputs, and a parameter: exercises the multi-output and fallback paths."""

    __props__ = ("parts",)

    def __init__(self, parts=2):
        self.parts = parts

    def make_node(self, x):
        return Apply(self, [x], [x.type, x.type])


def test_multi_output_nodes():
    x, _ = _xy()
    a, b = _Split()(x)
    text = debugprint(a + b, file="str", print_type=False)
    assert text == ("Elemwise{add} [id A]\n |_Split{parts=2}.0 [id B]\n | |x [id C]\n"
                    " |_Split{parts=2}.1 [id B]\n")
    assert pprint(a + b) == "(_split(x, parts=2)[0] + _split(x, parts=2)[1])"


def test_node_ids():
    assert [node_id(n) for n in (0, 25, 26, 27, 701, 702)] == ["A", "Z", "AA", "AB", "ZZ", "AAA"]


# ------------------------------------------------------------ pprint

def test_pprint_arithmetic_and_calls():
    x, y = _xy()
    assert pprint(x + y * 2.0) == "(x + (y * 2.0))"
    assert pprint(T.exp(x)) == "exp(x)"
    assert pprint(-(x - y) / y ** 2) == "(-(x - y) / (y ** 2.0))"
    assert pprint(T.maximum(x, 0.0)) == "maximum(x, 0.0)"
    assert pprint(T.lt(x, y)) == "(x < y)"
    assert pprint(T.cast(x, "float32")) == "cast(x, dtype='float32')"
    assert pprint(T.dvector()) == "<float64[?]>"


def test_pprint_hides_implicit_broadcasting_and_shows_transpose():
    m = T.dmatrix("m")
    v = T.dvector("v")
    assert pprint(m + v) == "(m + v)"
    assert pprint(m.dimshuffle(1, 0)) == "m.T"
    assert pprint(v.dimshuffle(0, "x")) == "v"  # adds a size-1 axis: no math
    assert pprint(T.dtensor3("t").dimshuffle(2, 0, 1)) == "t.dimshuffle(2, 0, 1)"
    assert pprint(T.shape(m)) == "m.shape"


def test_pprint_reductions_products_and_indexing():
    x, w = T.dmatrix("x"), T.dmatrix("W")
    v, i, idx = T.dvector("v"), T.lscalar("i"), T.lvector("idx")
    assert pprint(T.sum(x, axis=1)) == "sum(x, axis=(1,))"
    assert pprint(x.sum()) == "sum(x)"
    assert pprint(T.max(x, axis=0, keepdims=True)) == "max(x, axis=(0,), keepdims=True)"
    assert pprint(T.dot(x, w)) == "dot(x, W)"
    assert pprint(T.dot(v, w)) == "dot(v, W)"
    assert pprint(T.tensordot(x, w, axes=[[0], [0]])) == "tensordot(x, W, axes=((0,), (0,)))"
    assert pprint(x[1:3]) == "x[1:3]"
    assert pprint(x[i:i + 2, ::-1]) == "x[i:(i + 2), ::-1]"
    assert pprint(x[:, 0]) == "x[:, 0]"
    assert pprint(x[idx]) == "x[idx]"
    assert pprint(T.set_subtensor(x[0], v)) == "set_subtensor(x[0], v)"
    assert pprint(T.inc_subtensor(x[idx], 1.0)) == "inc_subtensor(x[idx], 1.0)"


def test_pprint_never_crashes_on_unknown_ops():
    class Weird(Op):
        __props__ = ("table",)

        def __init__(self):
            self.table = {"unhashable": "but printable"}

        def make_node(self, x):
            return Apply(self, [x], [TensorType("float64", (None,))])

    class Broken(Op):
        @property
        def __props__(self):
            raise RuntimeError("no props")

        def __str__(self):
            return "Broken"

        def make_node(self, x):
            return Apply(self, [x], [x.type])

    x, _ = _xy()
    assert pprint(Weird()(x)) == "weird(x, table={'unhashable': 'but printable'})"
    assert pprint(Broken()(x)) == "Broken(x)"


def test_pprint_rejects_non_variables_and_accepts_lists():
    x, y = _xy()
    assert pprint([x + y, T.exp(x)]) == "(x + y)\nexp(x)"
    with pytest.raises(ag.ArignoteTypeError, match="pprint"):
        pprint("x")


def test_pprint_caps_exponential_reuse():
    x = T.dscalar("x")
    y = x
    for _ in range(60):  # 2**60 leaves if expanded: the cap keeps it bounded
        y = y + y
    text = pprint(y, max_len=1000)
    assert len(text) <= 1000 and text.endswith("...")


# ------------------------------------------------------------ deep graphs

def test_deep_chain_prints_without_recursion():
    x = T.dscalar("x")
    y = x
    for _ in range(3000):
        y = y + 1.0
    text = debugprint(y, file="str", print_type=False)
    lines = text.splitlines()
    assert len(lines) == 1 + 2 * 3000
    assert lines[3000].endswith(f"|x [id {node_id(3000)}]")
    assert pprint(y) == "(" * 3000 + "x" + " + 1.0)" * 3000



# ------------------------------------------------------------ to_dot

_ATTR = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|[^,\]\s]+)')
_TOOLTIP = re.compile(r', tooltip="(?:[^"\\]|\\.)*"')


def _unquote(value):
    if not value.startswith('"'):
        return value
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), value[1:-1])


def parse_dot(text):
    """{node id: attrs}, [(tail, head, attrs)]: checks every line is a statement we emit."""
    lines = text.splitlines()
    assert lines[0] == "digraph arignote {" and lines[-1] == "}"
    nodes, edges = {}, []
    for line in lines[1:-1]:
        m = re.fullmatch(r"  (\w+)(?: -> (\w+))?(?: \[(.*)\])?;", line)
        assert m, line
        attrs = {k: _unquote(v) for k, v in _ATTR.findall(m.group(3) or "")}
        if m.group(2):
            assert m.group(1) in nodes and m.group(2) in nodes  # declared before use
            edges.append((m.group(1), m.group(2), attrs))
        elif m.group(1) not in ("graph", "node", "edge"):
            assert m.group(1) not in nodes
            nodes[m.group(1)] = attrs
    return nodes, edges


def _by_label(nodes, label):
    (ident,) = [k for k, a in nodes.items() if a["label"] == label]
    return ident


def test_to_dot_small_graph_exact():
    x, y = _xy()
    assert _TOOLTIP.sub("", to_dot(T.exp(x) * y)) == (
        'digraph arignote {\n'
        '  node [fontname="Helvetica", fontsize=11];\n'
        '  edge [fontname="Helvetica", fontsize=9];\n'
        '  v0 [label="x float64[?]", style=filled, fillcolor="#c7e9c0"];\n'
        '  a0 [label="exp", shape=box];\n'
        '  v0 -> a0;\n'
        '  v1 [label="float64[?]"];\n'
        '  a0 -> v1;\n'
        '  v2 [label="y float64[?]", style=filled, fillcolor="#c7e9c0"];\n'
        '  a1 [label="mul", shape=box];\n'
        '  v1 -> a1 [label=0];\n'
        '  v2 -> a1 [label=1];\n'
        '  v3 [label="float64[?]", peripheries=2, style=filled, fillcolor="#fdd49e"];\n'
        '  a1 -> v3;\n'
        '}\n')


def test_to_dot_roles_shapes_and_tooltips():
    x = T.dmatrix("x")
    w = ag.shared(np.ones((3, 2)), name="W", shape=(3, 2))
    h = T.dot(x, w)
    h.name = "h"
    out = T.tanh(h) + T.constant(np.arange(2.0))
    nodes, edges = parse_dot(to_dot(out))
    assert nodes[_by_label(nodes, "x float64[?,?]")]["tooltip"] == "input"
    assert nodes[_by_label(nodes, "W float64[3,2]")]["tooltip"] == "shared"
    const = nodes[_by_label(nodes, "[[0., 1.]] float64[1,2]")]
    assert const["tooltip"] == "constant" and const["fillcolor"] == "#e5e5e5"
    assert nodes[_by_label(nodes, "h float64[?,2]")]["tooltip"] == "intermediate"
    fills = {nodes[_by_label(nodes, lab)].get("fillcolor")
             for lab in ("x float64[?,?]", "W float64[3,2]", "[[0., 1.]] float64[1,2]")}
    assert len(fills) == 3  # each root kind has its own colour
    (output,) = [a for a in nodes.values() if a.get("peripheries") == "2"]
    assert output["tooltip"] == "output 0" and output["label"] == "float64[?,2]"
    ops = [a["label"] for a in nodes.values() if a.get("shape") == "box"]
    assert ops == ["MatMul", "tanh", "add"]  # elementwise ops by their scalar name
    tanh = _by_label(nodes, "tanh")
    assert "Elemwise{tanh}" in nodes[tanh]["tooltip"] and "test_printing.py" in nodes[tanh]["tooltip"]
    assert all(k.startswith("a") == (a.get("shape") == "box") for k, a in nodes.items())
    assert len(edges) == sum(len(n.inputs) + len(n.outputs) for n in ag.graph.basic.toposort([out]))


def test_to_dot_escapes_labels():
    name = 'a"b{c}<d>|e\\N\\l\nf'
    x = T.dvector(name)
    text = to_dot(T.exp(x))
    assert r'label="a\"b{c}<d>|e\\N\\l\nf float64[?]"' in text
    nodes, _ = parse_dot(text)
    assert nodes["v0"]["label"] == name + " float64[?]"  # reads back exactly


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_to_dot_escaping_survives_graphviz(tmp_path):
    x = T.dvector('q"{<\\N>}')
    svg = tmp_path / "g.svg"
    to_dot(T.exp(x), svg)
    texts = re.findall(r"<text[^>]*>(.*?)</text>", svg.read_text())
    assert "q&quot;{&lt;\\N&gt;} float64[?]" in texts and "exp" in texts
    assert (tmp_path / "g.dot").exists()


def test_to_dot_function_updates_and_title():
    x = T.dvector("x")
    w = ag.shared(np.zeros(3), name="W")
    only_written = ag.shared(np.zeros(3), name="acc")
    f = ag.function([x], (x * w).sum(), updates=[(w, w - 0.5 * x), (only_written, x * 2.0)],
                    name="step")
    nodes, edges = parse_dot(to_dot(f))
    updates = [(t, h, a) for t, h, a in edges if a.get("style") == "dashed"]
    assert len(updates) == 2
    assert all(a["label"] == "update" and a["constraint"] == "false" for _, _, a in updates)
    heads = {nodes[h]["label"] for _, h, _ in updates}
    assert heads == {"W float64[?]", "acc float64[?]"}
    tails = {nodes[t]["tooltip"] for t, _, _ in updates}
    assert tails == {"update of W", "update of acc"}
    assert 'graph [label="function \'step\'", labelloc=t];' in to_dot(f)
    # the shared variable only written still appears, once
    assert sum(a["label"].startswith("acc ") for a in nodes.values()) == 1


def test_to_dot_compiled_function_shows_optimized_graph():
    x = T.dvector("x")
    f = ag.function([x], T.log(1.0 + T.exp(x * 1.0)))
    nodes, _ = parse_dot(to_dot(f))
    labels = sorted(a["label"] for a in nodes.values() if a.get("shape") == "box")
    assert "mul" not in labels and "exp" not in labels  # rewritten away
    assert len(labels) < 4


def test_to_dot_outputs_that_are_roots_and_multi_output_nodes():
    x, y = _xy()
    nodes, edges = parse_dot(to_dot([x, x + y]))
    assert nodes["v0"]["tooltip"] == "output 0 (input)" and nodes["v0"]["peripheries"] == "2"
    a, b = _Split()(x)
    nodes, edges = parse_dot(to_dot(a + b))
    split = _by_label(nodes, "_Split{parts=2}")
    assert sorted(e[2]["label"] for e in edges if e[0] == split) == ["0", "1"]
    # an Apply and a FunctionGraph are accepted too
    assert to_dot(a.owner) == to_dot([a, b])
    assert to_dot(FunctionGraph([x], [a + b], clone=False)) == to_dot(a + b)


def _same_graph():
    x = T.dmatrix("x")
    w = ag.shared(np.ones((3, 3)), name="W")
    z = T.nnet.sigmoid(T.dot(x, w) + 1.0)
    return ag.function([x], [z.sum(), z], updates={w: w * 0.9}, name="f")


def test_to_dot_is_deterministic():
    f, g = _same_graph(), _same_graph()
    assert to_dot(f) == to_dot(f) == to_dot(g)
    outs = [o.variable for o in f.outs]
    assert to_dot(outs) == to_dot(outs)


def test_to_dot_deep_chain_iterative():
    x = T.dscalar("x")
    y = x
    for _ in range(3000):
        y = T.exp(y)
    nodes, edges = parse_dot(to_dot(y))
    assert len(nodes) == 3000 + 3001 and len(edges) == 6000
    g = to_networkx(y)
    assert g.number_of_nodes() == 6001 and g.number_of_edges() == 6000


def test_to_dot_rejects_non_graphs_and_bad_arguments(tmp_path):
    with pytest.raises(ag.ArignoteTypeError, match="to_dot"):
        to_dot("x")
    with pytest.raises(ag.ArignoteTypeError, match="to_networkx"):
        to_networkx(3)
    x, _ = _xy()
    with pytest.raises(ag.ArignoteValueError, match="needs a path"):
        to_dot(x, format="svg")
    with pytest.raises(ag.ArignoteValueError, match="output format"):
        to_dot(x, tmp_path / "g.svg", format="svg; rm")


# ------------------------------------------------------------ writing and rendering

def test_to_dot_writes_dot_text(tmp_path):
    x, _ = _xy()
    for name in ("g.dot", "g.gv", "g.txt"):
        text = to_dot(-x, tmp_path / name)
        assert (tmp_path / name).read_text(encoding="utf-8") == text
    assert to_dot(-x, str(tmp_path / "h.svg"), format="dot") == (tmp_path / "h.svg").read_text()


def test_to_dot_without_graphviz_writes_dot_and_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None)
    x, _ = _xy()
    e = T.exp(x)
    with pytest.raises(ag.ArignoteError, match="Graphviz") as info:
        to_dot(e, tmp_path / "g.png")
    msg = str(info.value)
    assert "not installed" in msg and "apt-get install graphviz" in msg
    assert str(tmp_path / "g.dot") in msg
    assert (tmp_path / "g.dot").read_text() == to_dot(e)
    assert not (tmp_path / "g.png").exists()


def _fake_dot(tmp_path, monkeypatch, exit_code=0):
    """A `dot` on PATH that records its arguments: checks the command line we run."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    script = bindir / "dot"
    script.write_text(
        f"#!{sys.executable}\n"
        "import sys, json\n"
        "args = sys.argv[1:]\n"
        f"if {exit_code}:\n"
        "    sys.stderr.write('Error: syntax error in line 1')\n"
        f"    sys.exit({exit_code})\n"
        "fmt, src, _, dst = args\n"
        "open(dst, 'w').write(json.dumps([fmt, open(src).read()]))\n")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", str(bindir) + os.pathsep + os.environ.get("PATH", ""))


@pytest.mark.skipif(sys.platform == "win32", reason="fake executable is a POSIX script")
def test_to_dot_renders_through_the_dot_program(tmp_path, monkeypatch):
    import json

    _fake_dot(tmp_path, monkeypatch)
    x, _ = _xy()
    text = to_dot(T.exp(x), tmp_path / "g.SVG")
    assert json.loads((tmp_path / "g.SVG").read_text()) == ["-Tsvg", text]
    assert (tmp_path / "g.dot").read_text() == text
    to_dot(T.exp(x), tmp_path / "h.dot", format="png")  # the .dot stays, the picture goes beside
    assert json.loads((tmp_path / "h.png").read_text())[0] == "-Tpng"
    to_dot(T.exp(x), tmp_path / "k", format="pdf")
    assert (tmp_path / "k.dot").exists() and (tmp_path / "k.pdf").exists()


@pytest.mark.skipif(sys.platform == "win32", reason="fake executable is a POSIX script")
def test_to_dot_reports_dot_failures(tmp_path, monkeypatch):
    _fake_dot(tmp_path, monkeypatch, exit_code=1)
    x, _ = _xy()
    with pytest.raises(ag.ArignoteError, match="syntax error in line 1"):
        to_dot(x, tmp_path / "g.pdf")


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
@pytest.mark.parametrize("suffix, magic", [(".svg", b"<?xml"), (".png", b"\x89PNG"),
                                           (".pdf", b"%PDF")])
def test_to_dot_renders_with_real_graphviz(tmp_path, suffix, magic):
    f = _same_graph()
    to_dot(f, tmp_path / f"g{suffix}")
    assert (tmp_path / f"g{suffix}").read_bytes().startswith(magic)


# ------------------------------------------------------------ to_networkx

def test_to_networkx_structure_and_attributes():
    x, y = _xy()
    e = T.exp(x)
    e.name = "e"
    out = e * y
    g = to_networkx(out)
    assert g.number_of_nodes() == 6 and g.number_of_edges() == 5
    kinds = sorted(d["kind"] for _, d in g.nodes(data=True))
    assert kinds == ["apply"] * 2 + ["variable"] * 4
    for _, d in g.nodes(data=True):
        assert {"kind", "op", "type", "name", "label", "obj"} <= set(d)
    exp_node = g.nodes[id(e.owner)]
    assert exp_node["op"] == "Elemwise{exp}" and exp_node["label"] == "exp"
    assert exp_node["type"] is None and exp_node["name"] is None
    ev = g.nodes[id(e)]
    assert (ev["kind"], ev["name"], ev["type"], ev["op"], ev["role"]) == (
        "variable", "e", "float64[?]", None, "intermediate")
    assert g.nodes[id(x)]["role"] == "input" and g.nodes[id(out)]["role"] == "output"
    assert g.nodes[id(out)]["name"] is None and g.nodes[id(out)]["obj"] is out
    assert list(g.successors(id(x))) == [id(e.owner)]
    assert set(g.predecessors(id(out.owner))) == {id(e), id(y)}
    assert all(d["kind"] == "data" for _, _, d in g.edges(data=True))


def test_to_networkx_function_updates_and_fgraph():
    import networkx as nx

    f = _same_graph()
    g = to_networkx(f)
    (w,) = [sv for sv, _ in f.updates]
    updates = [(u, v) for u, v, d in g.edges(data=True) if d["kind"] == "update"]
    assert len(updates) == 1 and updates[0][1] == id(w)
    assert g.nodes[id(w)]["role"] == "shared"
    data = nx.DiGraph([(u, v) for u, v, d in g.edges(data=True) if d["kind"] == "data"])
    assert nx.is_directed_acyclic_graph(data)
    n_apply = sum(d["kind"] == "apply" for _, d in g.nodes(data=True))
    assert n_apply == len(f.fgraph.apply_nodes)
    fg = FunctionGraph([T.dvector("x")], [T.dvector("y")])
    assert to_networkx(fg).number_of_nodes() == 1  # an output computed by no node still shows


def test_to_networkx_leaves_the_users_graph_alone():
    x, y = _xy()
    z = (x + y) * x
    before = debugprint(z, file="str")
    g = to_networkx([z, x])
    assert debugprint(z, file="str") == before and z.owner.inputs[1] is x
    assert g.nodes[id(x)]["role"] == "input" and g.number_of_nodes() == 6


def test_debugprint_shows_the_inner_graph_of_each_fused_group(monkeypatch):
    monkeypatch.setattr(ag.config, "backend", "cpu")
    x = T.fmatrix("x")
    f = ag.function([x], T.tanh(x * 2).sum(axis=1) + 1)
    text = debugprint(f, file="str")
    head, inner = text.split("Inner graphs:")
    assert head.startswith("Fused{") and "|x [id" in head
    assert " >Elemwise{add}" in inner and "Reduce{sum" in inner and "Elemwise{tanh}" in inner


# ------------------------------------------------------------ clusters, pydotprint, pp

def _fused_function():
    x = T.dvector("x")
    return ag.function([x], T.exp(x) * 2.0 + 1.0, backend="cpu", fusion=True)


def _cluster_bodies(text):
    """{cluster line: [lines inside it]}: the subgraphs of a clustered DOT text."""
    bodies, stack = {}, []
    for line in text.splitlines():
        if line.lstrip().startswith("subgraph cluster_"):
            stack.append(line.strip())
            bodies[stack[-1]] = []
        elif line.strip() == "}" and stack:
            stack.pop()
        elif stack:
            bodies[stack[-1]].append(line.strip())
    return bodies


def test_to_dot_clusters_hold_inner_graphs():
    f = _fused_function()
    assert "subgraph" not in to_dot(f)  # (a box per inner-graph op unless asked)
    text = to_dot(f, clusters=True)
    (head, body), = _cluster_bodies(text).items()
    assert 'label="Fused{exp,mul,add}"' in body[0]
    labels = re.findall(r'label="([^"]*)", shape=box', "\n".join(body))
    assert sorted(labels) == ["add", "exp", "mul"]
    inside = {line.split()[0] for line in body if re.match(r"[av]\d+ \[", line)}
    outside = [line.strip() for line in text.splitlines() if line.strip() not in body]
    # the input x and the output are drawn outside; dashed edges cross the border
    crossing = [line for line in outside if "style=dashed]" in line]
    assert len(crossing) == 2
    assert all((a in inside) != (b in inside) for a, _, b, *_ in (c.split() for c in crossing))
    x = T.dvector("x")
    g = ag.function([x], ifelse(T.lt(x.sum(), 0.0), T.exp(x), x * 2.0), backend="numpy")
    (head, body), = _cluster_bodies(to_dot(g, clusters=True)).items()
    assert body[0].startswith('label="IfElse')


@pytest.mark.skipif(sys.platform == "win32", reason="fake executable is a POSIX script")
def test_pydotprint_draws_clusters_through_dot(tmp_path, monkeypatch, capsys):
    import json

    _fake_dot(tmp_path, monkeypatch)
    f = _fused_function()
    assert pydotprint(f, tmp_path / "g.svg") == str(tmp_path / "g.svg")
    fmt, text = json.loads((tmp_path / "g.svg").read_text())
    assert fmt == "-Tsvg" and text == to_dot(f, clusters=True)
    assert capsys.readouterr().out == f"The output file is available at {tmp_path / 'g.svg'}\n"
    monkeypatch.chdir(tmp_path)
    pydotprint(f, print_output_file=False, compact=True, with_ids=True)  # (Theano's options: no effect)
    assert json.loads((tmp_path / "graph.png").read_text())[0] == "-Tpng"
    pydotprint(f, "pic", format="pdf", print_output_file=False)
    assert (tmp_path / "pic.pdf").exists()
    with pytest.raises(ag.ArignoteTypeError, match="colour"):
        pydotprint(f, colour="red")


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_pydotprint_with_graphviz(tmp_path):
    out = pydotprint(_fused_function(), tmp_path / "g.png", print_output_file=False)
    assert open(out, "rb").read(4) == b"\x89PNG"


def test_pp_writes_shared_subexpressions_once():
    x = T.dvector("x")
    e = T.exp(x * 2.0)
    assert ag.pp(e * e + e) == "let t1 = exp((x * 2.0)) in ((t1 * t1) + t1)"
    assert pprint(e * e + e) == "((exp((x * 2.0)) * exp((x * 2.0))) + exp((x * 2.0)))"
    assert ag.pp(T.exp(x) + x) == "(exp(x) + x)"  # nothing reused: as pprint
    assert ag.pp(x * x) == "(x * x)"  # leaves and short texts repeat
    t1 = T.dvector("t1")
    e1 = T.exp(t1 * 2.0)
    assert ag.pp(e1 * e1) == "let t2 = exp((t1 * 2.0)) in (t2 * t2)"  # (t1 is taken)
    y = x
    for _ in range(60):  # 2**60 leaves expanded; one binding per level as let-bindings
        y = y + y
    text = ag.pp(y)
    assert "..." not in text and len(text) < 3000 and re.fullmatch(r"let .* in \((t\d+) \+ \1\)", text)
