"""Theano-era code runs with only its import changed (``import arignote as theano``).

The tutorials below are Theano's own classic examples, kept as Theano users
wrote them; :func:`_run_theano` swaps the two import lines and nothing else.
The rest checks each Theano name Arignote adds with Theano's meaning.
"""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import arignote as theano
import arignote.tensor as T
from arignote.config import Config
from arignote.errors import ArignoteTypeError, ArignoteValueError, ArignoteWarning
from tests.util import assert_close

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

LOGISTIC_REGRESSION = """
import numpy
import theano
import theano.tensor as T
rng = numpy.random.RandomState(0)

N = 40
feats = 20
D = (rng.randn(N, feats), rng.randint(size=N, low=0, high=2))
training_steps = 200

x = T.dmatrix("x")
y = T.dvector("y")
w = theano.shared(rng.randn(feats), name="w")
b = theano.shared(0., name="b")

p_1 = 1 / (1 + T.exp(-T.dot(x, w) - b))
prediction = p_1 > 0.5
xent = -y * T.log(p_1) - (1-y) * T.log(1-p_1)
cost = xent.mean() + 0.01 * (w ** 2).sum()
gw, gb = T.grad(cost, [w, b])

train = theano.function(
          inputs=[x,y],
          outputs=[prediction, xent],
          updates=((w, w - 0.1 * gw), (b, b - 0.1 * gb)))
predict = theano.function(inputs=[x], outputs=prediction)

for i in range(training_steps):
    pred, err = train(D[0], D[1])

accuracy = (predict(D[0]) == D[1]).mean()
"""

ACCUMULATOR_AND_SCAN = """
import numpy
import theano
import theano.tensor as T
from theano import shared, function

state = shared(0)
inc = T.iscalar('inc')
accumulator = function([inc], state, updates=[(state, state+inc)])
accumulator(1)
accumulator(300)
total = state.get_value()

k = T.iscalar("k")
A = T.vector("A")
result, updates = theano.scan(fn=lambda prior_result, A: prior_result * A,
                              outputs_info=T.ones_like(A),
                              non_sequences=A,
                              n_steps=k)
final_result = result[-1]
power = theano.function(inputs=[A, k], outputs=final_result, updates=updates)
powers = power(numpy.arange(10, dtype=theano.config.floatX), 2)
"""


def _run_theano(source):
    """Run a Theano program with only its imports changed; its global names."""
    source = textwrap.dedent(source)
    for theirs, ours in (("import theano.tensor as T", "import arignote.tensor as T"),
                         ("import theano\n", "import arignote as theano\n"),
                         ("from theano import", "from arignote import")):
        source = source.replace(theirs, ours)
    assert "import theano" not in source and "from theano" not in source
    names = {}
    exec(compile(source, "<theano tutorial>", "exec"), names)
    return names


def test_logistic_regression_tutorial_learns():
    names = _run_theano(LOGISTIC_REGRESSION)
    assert names["pred"].dtype == bool and names["err"].shape == (40,)
    rng = np.random.RandomState(0)  # the same training in NumPy
    x, y = rng.randn(40, 20), rng.randint(size=40, low=0, high=2)
    w, b = rng.randn(20), 0.0
    for _ in range(200):
        p = 1 / (1 + np.exp(-x @ w - b))
        w, b = w - 0.1 * (x.T @ (p - y) / 40 + 0.02 * w), b - 0.1 * (p - y).mean()
    assert_close(names["w"].get_value(), w)
    assert names["accuracy"] == ((p > 0.5) == y).mean() > 0.7


def test_accumulator_and_scan_tutorials():
    names = _run_theano(ACCUMULATOR_AND_SCAN)
    assert names["total"] == 301
    assert_close(names["powers"], np.arange(10.0) ** 2)


# ------------------------------------------------------------ modes and profiles

@pytest.mark.parametrize("mode, expected", [("FAST_RUN", "fast_run"), ("FAST_COMPILE", "fast_compile"),
                                            ("Mode", "fast_run")])
def test_mode_names_of_theano(mode, expected):
    x = T.dvector("x")
    assert theano.function([x], x * 2, mode=mode).mode == expected


def test_mode_objects_pick_the_rewrites_and_the_backend():
    x = T.dvector("x")
    f = theano.function([x], T.exp(x) * 2, mode=theano.Mode(linker="py", optimizer="fast_compile"))
    assert (f.backend, f.mode) == ("numpy", "fast_compile")
    assert_close(f(np.zeros(2)), [2.0, 2.0])
    g = theano.function([x], T.exp(x) * 2, mode=theano.Mode(linker="cvm", optimizer=None),
                        backend="interp")  # (an explicit backend wins over the linker)
    assert (g.backend, g.mode) == ("interp", "none")
    mode = theano.compile.mode.get_mode("FAST_RUN")
    assert mode == theano.compile.mode.FAST_RUN and isinstance(mode, theano.Mode)
    unfused = theano.compile.get_default_mode().excluding("fusion")
    assert theano.function([x], T.exp(x) * 2, mode=unfused).fusion is False
    with pytest.warns(ArignoteWarning, match="no Arignote rewrite is tagged 'inplace'"):
        theano.Mode().excluding("inplace")
    without = theano.Mode().excluding("constant_folding")
    h = theano.function([x], x * (T.constant(2.0) + 3.0), mode=without)
    assert h.stats.fired.get("constant_folding", 0) == 0
    with pytest.raises(ArignoteValueError, match="linker"):
        theano.Mode(linker="jax")
    with pytest.raises(ArignoteValueError, match="DebugMode.*backend='numpy'"):
        theano.function([x], x, mode="DebugMode")
    with pytest.raises(ArignoteValueError, match="mode must be one of.*compile.Mode"):
        theano.function([x], x, mode=3)


def test_profile_true_times_every_call_and_prints_at_exit(monkeypatch):
    from arignote.runtime import profile as profiling
    monkeypatch.setattr(profiling, "_RECORDED", [])  # (this process prints none at its exit)
    x = T.dvector("x")
    f = theano.function([x], T.tanh(x).sum(), profile=True, name="f")
    for _ in range(3):
        f(np.ones(5))
    assert f.profile.calls == 3 and "profile of f" in str(f.profile)
    assert {t.count for t in f.profile.timers} == {3}
    code = ("import arignote as theano, arignote.tensor as T, numpy as np\n"
            "x = T.dvector('x')\n"
            "f = theano.function([x], T.exp(x).sum(), profile=True, name='costly')\n"
            "f(np.ones(3))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert "1 call" in done.stderr and "profile of costly" in done.stderr


# ------------------------------------------------------------ config

def test_flags_from_the_environment():
    config = Config({"THEANO_FLAGS": "floatX=float32,optimizer=None,device=cpu",
                     "ARIGNOTE_FLAGS": "floatX=float16, profile=True"})
    assert (config.floatX, config.mode, config.optimizer, config.profile) == ("float16", "none",
                                                                                "None", True)
    assert Config({"ARIGNOTE_FLAGS": "floatX=float16", "ARIGNOTE_FLOATX": "float32"}).floatX == "float32"
    assert Config({"THEANO_FLAGS": "device=cuda0"}).backend == "cuda"
    assert Config({"THEANO_FLAGS": "linker=py"}).backend == "numpy"
    with pytest.raises(ArignoteValueError, match=r"ARIGNOTE_FLAGS: unknown flag 'floatx'.*floatX"):
        Config({"ARIGNOTE_FLAGS": "floatx=float32"})
    with pytest.raises(ArignoteValueError, match=r"THEANO_FLAGS: config.floatX .*'float128'"):
        Config({"THEANO_FLAGS": "floatX=float128"})
    with pytest.raises(ArignoteValueError, match="not of the form name=value"):
        Config({"ARIGNOTE_FLAGS": "floatX"})
    with pytest.warns(ArignoteWarning, match="no counterpart for lib.cnmem"):
        assert Config({"THEANO_FLAGS": "lib.cnmem=0.8,floatX=float32"}).floatX == "float32"


def test_config_views_and_assignment():
    config = Config({})
    assert (config.device, config.optimizer, config.linker) == ("cpu", "fast_run", "cvm")
    config.floatX = "float32"
    config.mode = "FAST_COMPILE"
    assert config.mode == "fast_compile" and config.optimizer == "fast_compile"
    config.optimizer = "merge"
    assert config.mode == "fast_compile"
    config.compute_test_value = "off"
    with pytest.raises(ArignoteValueError, match="test values are not supported"):
        config.compute_test_value = "raise"
    with pytest.raises(AttributeError, match="no setting 'cnmem'"):
        config.cnmem = 1
    with pytest.raises(AttributeError, match="no setting 'blas'"):
        config.blas  # noqa: B018
    with config.change_flags(floatX="float64", optimizer=None):
        assert (config.floatX, config.mode) == ("float64", "none")
    assert (config.floatX, config.mode) == ("float32", "fast_compile")


def test_floatx_assignment_changes_the_constructors():
    with theano.config.change_flags(floatX="float32"):
        assert T.matrix().dtype == "float32" and T.extra_ops.to_one_hot(T.lvector(), 3).dtype == "float32"
    assert T.matrix().dtype == theano.config.floatX


# ------------------------------------------------------------ graph names

def test_clone_replaces_and_shares_inputs():
    x, z = T.dvector("x"), T.dvector("z")
    w = theano.shared(np.ones(2), name="w")
    y = T.exp(x) * w
    y2 = theano.clone(y, replace={x: z * 2})
    assert y2 is not y and set(theano.gof.graph.inputs([y2])) >= {z, w}
    assert x not in theano.graph.basic.graph_inputs([y2])
    assert_close(theano.function([z], y2)(np.zeros(2)), [1.0, 1.0])
    [a, b] = theano.clone([y, y * 2])  # (no replacement: a copy over the same inputs)
    assert a is not y and x in theano.gof.graph.inputs([a, b])
    with pytest.raises(ArignoteTypeError, match="cannot be replaced"):
        theano.clone(y, replace={x: T.dmatrix("m")})
    ins, outs = theano.gof.graph.clone([x], [y])
    assert ins[0] is not x and theano.gof.graph.inputs(outs)[0] in (ins[0], w)


def test_scalar_upcast_and_tensor_types():
    assert theano.scalar.upcast("int32", "float32") == "float64"
    assert theano.scalar.upcast("float32", "int8", "uint8") == "float32"
    t = T.TensorType("float32", (False, True))
    x = t("x")
    assert x.broadcastable == (False, True) and x.type.shape == (None, 1) and x.name == "x"
    assert T.TensorType("float64", broadcastable=(True,)) == T.TensorType("float64", (1,))
    assert T.TensorType("int8", (None, 3)).shape == (None, 3)  # (our form: static sizes)
    y = T.patternbroadcast(T.dmatrix(), (False, True))
    assert T.addbroadcast(T.unbroadcast(y, 1), 1).broadcastable == (False, True)


def test_as_op_runs_python_code_in_the_graph():
    @theano.compile.ops.as_op(itypes=[T.dvector], otypes=[T.dvector])
    def sort(a):
        return np.sort(a)
    x = T.dvector("x")
    assert_close(theano.function([x], sort(x) * 2)(np.array([3.0, 1.0, 2.0])), [2.0, 4.0, 6.0])
