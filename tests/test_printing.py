import io

import numpy as np
import pytest

import arignote as ag
import arignote.tensor as T
from arignote.graph.basic import Apply
from arignote.graph.fg import FunctionGraph
from arignote.graph.op import Op
from arignote.graph.type import TensorType
from arignote.printing import debugprint, node_id, pprint


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
