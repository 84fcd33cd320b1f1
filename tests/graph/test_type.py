"""TensorType, the constructors (prefixes, plurals, T.tensor), config.floatX
and the rules for values entering a function (TensorType.filter)."""
import os
import subprocess
import sys

import numpy as np
import pytest

import arignote as ag
import arignote.tensor as T
from arignote.errors import ArignoteError, ArignoteTypeError, ShapeError
from arignote.graph.type import TensorType
from arignote.tensor.basic import PLURALS, PREFIXES, RANKS

# ------------------------------------------------------------ TensorType


def test_type_is_a_value():
    a, b = TensorType("float32", (None, 3)), TensorType(np.float32, [None, 3])
    assert a == b and hash(a) == hash(b) and {a: 1}[b] == 1
    assert a != TensorType("float64", (None, 3)) and a != TensorType("float32", (None, 4))
    assert a != TensorType("float32", (None, None)) and a != "float32"
    with pytest.raises(AttributeError):
        a.dtype = "float64"


def test_type_properties():
    t = TensorType("float32", (1, None, 4))
    assert t.ndim == 3 and t.broadcastable == (True, False, False)
    assert t.numpy_dtype == np.dtype("float32") and t.is_float and not t.is_integer
    assert TensorType("int16").is_integer and TensorType("bool").is_integer
    assert not TensorType("complex64").is_float
    assert str(t) == "float32[1,?,4]" and str(TensorType("int8", ())) == "int8"
    assert "float32" in repr(t)
    assert t.clone(dtype="int8") == TensorType("int8", (1, None, 4))
    assert t.clone(shape=(2,)) == TensorType("float32", (2,))
    assert TensorType("float64", (np.int64(2),)).shape == (2,)


def test_accepts_compatible_merge():
    unknown, known = TensorType("float64", (None, 3)), TensorType("float64", (2, 3))
    assert unknown.accepts(known) and not known.accepts(unknown)
    assert known.compatible(unknown) and unknown.compatible(known)
    assert not known.compatible(TensorType("float64", (2, 4)))
    assert not known.compatible(TensorType("float32", (2, 3)))
    assert not known.compatible(TensorType("float64", (2,)))
    assert unknown.merge(TensorType("float64", (5, None))) == TensorType("float64", (5, 3))


# (all bools is Theano's broadcast pattern, tests/test_theano_compat.py: mixed with sizes, an error)
@pytest.mark.parametrize("shape", [(-1,), (1.5,), (True, 3), ("3",)])
def test_bad_static_shape(shape):
    with pytest.raises(ArignoteTypeError, match="non-negative ints or None"):
        TensorType("float64", shape)


@pytest.mark.parametrize("dtype", ["float128", "object", "U3", "datetime64"])
def test_unsupported_dtype(dtype):
    with pytest.raises(ArignoteTypeError, match="unsupported dtype") as e:
        TensorType(dtype, ())
    assert isinstance(e.value, TypeError)


# ------------------------------------------------------------ constructors

CONSTRUCTOR_CASES = [(prefix + rank, dtype, shape) for prefix, dtype in PREFIXES.items()
                     for rank, shape in RANKS.items()]


@pytest.mark.parametrize("name,dtype,shape", CONSTRUCTOR_CASES)
def test_constructor(name, dtype, shape):
    var = getattr(T, name)("v")
    assert var.name == "v" and var.owner is None and isinstance(var, T.TensorVariable)
    assert var.type == TensorType(dtype or ag.config.floatX, shape)
    assert getattr(T, name)().name is None
    assert getattr(T, name)("w") is not var


@pytest.mark.parametrize("prefix", list(PREFIXES))
@pytest.mark.parametrize("rank", list(PLURALS))
def test_plural_constructors(prefix, rank):
    plural = getattr(T, prefix + PLURALS[rank])
    a, b = plural("a", "b")
    assert (a.name, b.name) == ("a", "b") and a is not b
    assert a.type == b.type == getattr(T, prefix + rank)().type
    assert [v.name for v in plural("x, y,z")] == ["x", "y", "z"]
    assert len(plural(3)) == 3 and plural(3)[0].name is None


def test_expected_constructor_examples():
    assert T.dmatrices("a", "b")[1].type == TensorType("float64", (None, None))
    assert T.fvector().type == TensorType("float32", (None,))
    assert T.lscalar().type == TensorType("int64", ())
    assert T.brow().type == TensorType("int8", (1, None))
    assert T.wcol().type == TensorType("int16", (None, 1))
    assert T.itensor3().type == TensorType("int32", (None,) * 3)
    assert T.ctensor4().type == TensorType("complex64", (None,) * 4)
    assert T.zscalar().type == TensorType("complex128", ())
    assert T.matrix("m", dtype="int32").type == TensorType("int32", (None, None))


def test_tensor_constructor():
    x = T.tensor("float32", (None, 3), "x")
    assert x.type == TensorType("float32", (None, 3)) and x.name == "x"
    assert T.tensor("int8", shape=(2,)).type == TensorType("int8", (2,))
    assert T.tensor(np.float64, ()).type == TensorType("float64", ())
    assert T.tensor(shape=(None,), name="n").dtype == ag.config.floatX
    assert T.tensor("float32", broadcastable=(True, False)).type.shape == (1, None)
    assert x.trace is not None and x.trace[0] == __file__


def test_tensor_constructor_errors():
    with pytest.raises(ArignoteTypeError, match="shape .* is required"):
        T.tensor("float32")
    with pytest.raises(ArignoteTypeError, match="not both"):
        T.tensor("float32", (None,), broadcastable=(False,))
    with pytest.raises(ArignoteTypeError, match="unsupported dtype"):
        T.tensor("float128", (None,))
    with pytest.raises(ArignoteTypeError, match="non-negative"):
        T.tensor("float32", (-2,))


def _run(code, **env):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, **env}, cwd=os.path.dirname(os.path.dirname(
                              os.path.dirname(os.path.abspath(__file__)))))


def test_floatx_from_the_environment():
    code = ("import arignote as ag, arignote.tensor as T, numpy as np\n"
            "x = T.matrix('x')\n"
            "f = ag.function([x], x * 2)\n"
            "print(ag.config.floatX, x.dtype, T.scalars(2)[1].dtype, T.dvector().dtype,"
            " T.tensor(shape=()).dtype, f(np.ones((1, 1), 'float32')).dtype)\n")
    out = _run(code, ARIGNOTE_FLOATX="float32")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["float32", "float32", "float32", "float64", "float32", "float32"]
    bad = _run("import arignote", ARIGNOTE_FLOATX="float128")
    assert bad.returncode != 0 and "ARIGNOTE_FLOATX" in bad.stderr and "float128" in bad.stderr


def test_floatx_can_change_at_run_time():
    old = ag.config.floatX
    try:
        ag.config.floatX = "float32"
        assert T.vector().dtype == "float32" and T.tensor(shape=(None,)).dtype == "float32"
        ag.config.floatX = "float16"
        assert T.matrix().dtype == "float16"
    finally:
        ag.config.floatX = old
    assert T.vector().dtype == old
    with pytest.raises(ValueError, match="floatX"):
        ag.config.floatX = "int32"
    with pytest.raises(AttributeError, match="no setting"):
        ag.config.floatx = "float32"


# ------------------------------------------------------------ filter

F32, F64, I32 = TensorType("float32", (None,)), TensorType("float64", (None,)), TensorType("int32", ())

ACCEPTED = [
    (F32, np.zeros(2, "float32"), "float32"),
    (F32, [1, 2], "float32"),            # Python ints into float32: exact
    (F32, np.zeros(2, "int8"), "float32"),  # safe cast
    (F64, np.zeros(2, "int32"), "float64"),
    (F64, [1.5, 2.5], "float64"),
    (F64, [True, False], "float64"),
    (TensorType("float32", ()), 3, "float32"),
    (TensorType("float64", ()), 1.5, "float64"),
    (TensorType("float32", ()), 0.5, "float32"),  # Python floats the dtype holds exactly
    (TensorType("float16", ()), -2.75, "float16"),
    (TensorType("float32", ()), float("inf"), "float32"),
    (TensorType("float32", ()), float("nan"), "float32"),
    (F32, [1.5, 2.0, -0.0], "float32"),
    (TensorType("float32", (None, None)), [[0.5, 1], [2, 0.25]], "float32"),
    (TensorType("complex64", ()), 0.5, "complex64"),
    (I32, 7, "int32"),
    (I32, np.int16(7), "int32"),
    (TensorType("int64", ()), True, "int64"),
    (TensorType("bool", (None,)), [True, False], "bool"),
    (TensorType("complex64", ()), 3, "complex64"),
    (TensorType("complex128", ()), 1 + 2j, "complex128"),
    (TensorType("float64", (2, None)), np.zeros((2, 5)), "float64"),
]


@pytest.mark.parametrize("ttype,value,dtype", ACCEPTED, ids=str)
def test_filter_accepts_lossless_values(ttype, value, dtype):
    out = ttype.filter(value)
    assert type(out) is np.ndarray and out.dtype == dtype
    np.testing.assert_array_equal(out, np.asarray(value))


def test_filter_does_not_copy_a_matching_array():
    a = np.zeros(3)
    assert F64.filter(a) is a


REFUSED = [
    (F32, np.zeros(2), "float32 data, got float64 array of shape \\(2,\\).*allow_input_downcast"),
    (F32, [0.1, 2.0], "float32 data, got a list of length 2"),  # 0.1 is not a float32
    (TensorType("float32", ()), 0.1, "float32 data, got float 0.1"),
    (TensorType("float16", ()), 1e5, "float16 data, got float 100000.0"),
    (TensorType("float32", ()), 1e300, "float32 data, got float 1e\\+300"),
    (TensorType("float32", ()), np.float64(1.5), "float32 data, got float64 np.float64\\(1.5\\)"),
    (TensorType("float32", ()), 2 ** 30 + 1, "float32 data, got int 1073741825"),
    (I32, 1.0, "int32 data, got float 1.0"),
    (I32, 2 ** 40, "int32 data, got int 1099511627776"),
    (TensorType("int8", ()), np.int64(3), "int8 data, got int64 np.int64\\(3\\)"),
    (TensorType("uint8", ()), -1, "uint8 data, got int -1"),
    (TensorType("bool", ()), 1, "bool data, got int 1"),
    (TensorType("float64", ()), 1 + 2j, "float64 data, got complex"),
    (F64, "abc", "float64 data, got str"),
    (F64, None, "float64 data, got NoneType"),
    (F64, [[1.0], [2.0, 3.0]], "float64 data, got a list of length 2"),
    (F64, object(), "float64 data"),
    (F64, np.array(["a"]), "float64 data"),
]


REFUSED_IDS = [f"{t}-{type(v).__name__}-{k}" for k, (t, v, _) in enumerate(REFUSED)]


@pytest.mark.parametrize("ttype,value,match", REFUSED, ids=REFUSED_IDS)
def test_filter_refuses_lossy_values(ttype, value, match):
    with pytest.raises(ArignoteTypeError, match=match) as e:
        ttype.filter(value, what="input 'x'")
    assert str(e.value).startswith("input 'x' expects")
    assert isinstance(e.value, TypeError) and isinstance(e.value, ArignoteError)


def test_filter_downcast_when_allowed():
    out = F32.filter(np.array([1.25, 2.5]), allow_downcast=True)
    assert out.dtype == "float32" and out.tolist() == [1.25, 2.5]
    assert TensorType("float32", ()).filter(0.1, allow_downcast=True).dtype == "float32"
    assert I32.filter(2.0, allow_downcast=True) == 2
    with pytest.raises(ArignoteTypeError, match="uint8 data, got int -1"):
        TensorType("uint8", ()).filter(-1, allow_downcast=True)
    with pytest.raises(ArignoteTypeError, match="float64 data, got str"):
        F64.filter("abc", allow_downcast=True)


def test_filter_wrong_rank():
    with pytest.raises(ArignoteTypeError, match=r"'v' expects a 1-d array \(vector of float64\), "
                                                r"got a 2-d array of shape \(2, 2\)"):
        F64.filter(np.zeros((2, 2)), what="'v'")
    with pytest.raises(ArignoteTypeError, match="0-d array.*got a 1-d"):
        I32.filter([1, 2])
    with pytest.raises(ArignoteTypeError, match="1-d array.*got a 0-d"):
        F64.filter(1.0)


def test_filter_static_shape_contradiction():
    t = TensorType("float64", (None, 3))
    with pytest.raises(ShapeError, match=r"'w' has static shape \(\?, 3\) but got a value of shape \(2, 4\) "
                                         r"\(dimension 1: expected 3, got 4\)") as e:
        t.filter(np.zeros((2, 4)), what="'w'")
    assert isinstance(e.value, ValueError)
    with pytest.raises(ShapeError, match=r"\(1,\)"):
        TensorType("float64", (1,)).filter(np.zeros(2))


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")
def test_filter_strips_ndarray_subclasses():
    out = TensorType("float64", (None, None)).filter(np.asmatrix(np.eye(2)))
    assert type(out) is np.ndarray
    out = F64.filter(np.ma.masked_array([1.0, 2.0]))
    assert type(out) is np.ndarray


# ------------------------------------------------------------ TensorType as a kind of Type (issue 10)

def test_tensor_type_is_a_kind_of_type():
    from arignote.graph.type import Type
    t = TensorType("float32", (None, 3))
    assert isinstance(t, Type) and t.dtype == "float32" and t.numpy_dtype == np.dtype("float32")
    check = t.value_check()  # what the runtime calls on every result of a checked step
    assert check(np.zeros((2, 3), "float32")) and t.is_valid_value(np.zeros((0, 3), "float32"))
    for bad in (np.zeros((2, 4), "float32"), np.zeros((2, 3)), np.zeros(3, "float32"), [[0.0] * 3],
                np.float32(0)):
        assert not check(bad) and not t.is_valid_value(bad)
    assert TensorType("float64", ()).value_check()(np.asarray(1.0))
    assert t.values_eq(np.ones((1, 3), "float32"), np.ones((1, 3), "float32"))
    assert not t.values_eq(np.ones((1, 3), "float32"), np.ones((3, 1), "float32"))
    assert t.values_eq(np.ones((1, 3)), np.ones((1, 3)) + 1e-9, approx=True)
    assert not TensorType("int64", ()).values_eq(1, 2, approx=True)


def test_tensor_constants_through_the_type():
    t = TensorType("float64", (2,))
    value = np.array([1.0, 2.0])
    c = t.make_constant(value, name="c")
    value[0] = 9  # the constant holds a private read-only copy
    assert isinstance(c, T.TensorConstant) and c.name == "c" and c.data.tolist() == [1.0, 2.0]
    assert not c.data.flags.writeable and c.type == t
    assert c.signature() == t.make_constant([1.0, 2.0]).signature()
    with pytest.raises(ShapeError, match="a constant has static shape"):
        t.make_constant([1.0])
