"""Every mistake a user can make raises an ArignoteError that is also a
TypeError or ValueError, and whose message names the variable, says what was
expected and what came (and, for run-time failures, where the node was built)."""
import os
import warnings

import numpy as np
import pytest

import arignote as ag
import arignote.tensor as T
from arignote.errors import (ArignoteError, ArignoteTypeError, ArignoteValueError,
                             MissingInputError, ShapeError, UnusedInputError)

THIS_FILE = os.path.basename(__file__)


def raises(kind, *fragments):
    """pytest.raises(kind) that also checks the error's family and its message fragments."""
    class _Check:
        def __enter__(self):
            self.ctx = pytest.raises(kind)
            self.info = self.ctx.__enter__()
            return self.info

        def __exit__(self, *exc):
            handled = self.ctx.__exit__(*exc)
            if not handled:
                return False  # another exception: let it through
            err = self.info.value
            assert isinstance(err, ArignoteError), f"{type(err).__name__} is not an ArignoteError"
            assert isinstance(err, (TypeError, ValueError))
            for fragment in fragments:
                assert fragment in str(err), f"{fragment!r} not in message: {err}"
            return handled
    return _Check()


@pytest.fixture
def adder():
    x, y = T.dvectors("x", "y")
    return ag.function([x, y], x + y, name="adder")


# ------------------------------------------------------------ calling a function

def test_too_many_arguments(adder):
    with raises(ArignoteTypeError, "'adder'", "takes 2 arguments (x, y)", "3 were given"):
        adder(np.ones(2), np.ones(2), np.ones(2))


def test_missing_argument(adder):
    with raises(ArignoteTypeError, "'adder'", "missing input 'y'", "(x, y)"):
        adder(np.ones(2))


def test_unknown_keyword(adder):
    with raises(ArignoteTypeError, "unexpected keyword argument 'z'", "(x, y)"):
        adder(np.ones(2), z=np.ones(2))


def test_keyword_given_twice(adder):
    with raises(ArignoteTypeError, "multiple values for input 'x'"):
        adder(np.ones(2), x=np.ones(2))


def test_wrong_dtype(adder):
    with raises(ArignoteTypeError, "input 'x'", "'adder'", "expects float64", "got complex128",
                "allow_input_downcast"):
        adder(np.ones(2, "complex128"), np.ones(2))
    s = T.fscalar("s")
    f = ag.function([s], s * 2)
    with raises(ArignoteTypeError, "input 's'", "expects float32", "got float 0.1"):
        f(0.1)
    with raises(ArignoteTypeError, "input 's'", "expects float32", "got float64"):
        f(np.float64(1))
    assert ag.function([s], s * 2, allow_input_downcast=True)(0.1).dtype == "float32"
    assert f(3) == 6  # a Python int is exact in float32


def test_wrong_rank(adder):
    with raises(ArignoteTypeError, "input 'y'", "expects a 1-d array (vector of float64)",
                "got a 2-d array of shape (2, 2)"):
        adder(np.ones(2), np.ones((2, 2)))


def test_unnamed_input_is_named_by_position():
    x = T.dvector()
    f = ag.function([x], x * 2)
    with raises(ArignoteTypeError, "input 0", "expects float64"):
        f("text")


def test_static_shape_contradiction():
    x = T.tensor("float64", (None, 3), "x")
    f = ag.function([x], x * 2)
    with raises(ShapeError, "input 'x'", "static shape (?, 3)", "shape (2, 4)",
                "dimension 1: expected 3, got 4"):
        f(np.ones((2, 4)))


def test_runtime_shape_mismatch_names_the_users_line():
    x, y = T.dmatrices("x", "y")
    z = T.exp(x) * y  # the line the error points at
    f = ag.function([x, y], z.sum() if hasattr(T, "sum") else z)
    with raises(ShapeError, "'y' of shape (2, 4)", "dimension 1", THIS_FILE,
                "z = T.exp(x) * y") as e:
        f(np.ones((2, 3)), np.ones((2, 4)))
    import inspect
    line = inspect.getsource(test_runtime_shape_mismatch_names_the_users_line).splitlines()[2]
    assert line.strip() in str(e.value)
    assert f"{THIS_FILE}:" in str(e.value)


def test_numpy_failure_inside_an_op_is_wrapped():
    i, j = T.lvectors("i", "j")
    f = ag.function([i, j], i ** j)
    with raises(ArignoteValueError, "Elemwise{pow}", THIS_FILE):
        f(np.array([2]), np.array([-1]))  # NumPy refuses negative integer powers


# ------------------------------------------------------------ building graphs

def test_graph_build_errors():
    a, b = T.tensor("float64", (2,), "a"), T.tensor("float64", (3,), "b")
    with raises(ShapeError, "'a' of static shape (2,)", "'b' of static shape (3,)", "dimension 0"):
        a + b
    with raises(ArignoteTypeError, "xor", "'a': float64"):
        T.xor(a, a)
    with raises(ArignoteTypeError, "truth value", "T.switch"):
        if T.dscalar("c") > 0:
            pass
    with raises(ArignoteTypeError, "cannot convert", "dict"):
        T.exp({})
    with raises(ArignoteTypeError, "1000", "int8", "'small'"):
        T.bvector("small") + 1000
    with raises(ArignoteTypeError, "len()", "x.shape[0]"):
        len(T.dvector("v"))


def test_grad_errors():
    x, i = T.dvector("x"), T.ivector("i")
    with raises(ArignoteTypeError, "cost must be a scalar", "1 dimensions", "cost.sum()"):
        ag.grad(x * 2, x)
    with raises(ArignoteTypeError, "'i'", "int32"):
        ag.grad(T.sum(x * i), i)
    with raises(ag.DisconnectedInputError, "'z'"):
        ag.grad(T.sum(x), T.dvector("z"))
    with raises(ArignoteTypeError, "wrt"):
        ag.grad(T.sum(x), "x")


# ------------------------------------------------------------ compiling functions

def test_update_of_another_type():
    w = ag.shared(np.zeros(3), "w")
    with raises(ArignoteTypeError, "shared variable 'w'", "float32[?]", "float64[?]",
                "T.cast", THIS_FILE):
        ag.function([], [], updates=[(w, T.fvector("f") * 1)], on_unused_input="ignore")
    with raises(ArignoteTypeError, "shared variable 'w'", "float64[?,?]"):
        ag.function([], [], updates=[(w, T.dmatrix("m"))])
    b = ag.shared(np.zeros((1, 3)), "b", shape=(1, None))
    with raises(ArignoteTypeError, "shared variable 'b'", "float64[2,?]"):
        ag.function([], [], updates=[(b, T.tensor("float64", (2, None), "t"))])
    with raises(ArignoteTypeError, "shared variable 'w'", "cannot convert str"):
        ag.function([], [], updates=[(w, "abc")])


def test_update_of_a_non_shared_variable():
    x = T.dvector("x")
    with raises(ArignoteTypeError, "'x' is not a shared variable"):
        ag.function([x], x, updates=[(x, x + 1)])
    w = ag.shared(np.zeros(3), "w")
    with raises(ArignoteValueError, "'w' is updated twice"):
        ag.function([], [], updates=[(w, w + 1), (w, w * 2)])
    with raises(ArignoteTypeError, "dict or a list of pairs", "int"):
        ag.function([], [], updates=3)
    with raises(ArignoteTypeError, "(variable, value) pairs"):
        ag.function([], [], updates=[(w,)])


def test_update_value_that_does_not_fit_at_run_time():
    w = ag.shared(np.zeros(2), "w")
    x = T.dvector("x")
    f = ag.function([x], [], updates=[(w, x)])
    f(np.ones(5))  # w has no static shape: any length is fine
    assert w.get_value().shape == (5,)
    b = ag.shared(np.zeros((1, 2)), "b", shape=(1, None))
    m = T.dmatrix("m")
    g = ag.function([m], [], updates=[(b, m)])  # m may have one row: checked at run time
    g(np.ones((1, 4)))
    with raises(ShapeError, "update of shared variable 'b'", "static shape (1, ?)", "(3, 4)"):
        g(np.full((3, 4), 2.0))
    np.testing.assert_array_equal(b.get_value(), np.ones((1, 4)))


def test_givens_of_another_type():
    x = T.dvector("x")
    with raises(ArignoteTypeError, "givens", "'x' of type float64[?]", "'f' of type float32[?]",
                THIS_FILE):
        ag.function([], x * 2, givens={x: T.fvector("f")})
    with raises(ArignoteTypeError, "givens", "'x'", "float64[?,?]"):
        ag.function([], x * 2, givens={x: T.dmatrix("m")})
    with raises(ArignoteTypeError, "givens", "keys must be symbolic"):
        ag.function([], x * 2, givens={3: x})
    with raises(ArignoteTypeError, "replacement of 'x'", "cannot convert str"):
        ag.function([], x * 2, givens={x: "abc"})


def test_output_that_is_not_a_variable():
    x = T.dvector("x")
    with raises(ArignoteTypeError, "output 0 is a int (3)", "T.constant"):
        ag.function([x], 3)
    with raises(ArignoteTypeError, "output 1 is a str"):
        ag.function([x], [x, "abc"])


def test_unused_input():
    x, y = T.dvectors("x", "y")
    with raises(UnusedInputError, "input 'y' is not used", "on_unused_input"):
        ag.function([x, y], x * 2)
    with pytest.warns(UserWarning, match="input 'y' is not used"):
        f = ag.function([x, y], x * 2, on_unused_input="warn")
    assert f(np.ones(2), np.ones(3))[0] == 2  # the unused input is still checked and accepted
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ag.function([x, y], x * 2, on_unused_input="ignore")
    with raises(ArignoteValueError, "on_unused_input", "'bogus'"):
        ag.function([x, y], x * 2, on_unused_input="bogus")
    with raises(UnusedInputError, "'x'", "replaced through givens"):
        ag.function([x, y], x * 2, givens={x: y + 1})


def test_missing_input():
    x, y = T.dvectors("x", "y")
    with raises(MissingInputError, "needs 'y'", "float64[?]", THIS_FILE, "['x']"):
        ag.function([x], x + y)
    twin = T.dvector("x")
    with raises(MissingInputError, "needs 'x'", "different variable"):
        ag.function([twin], x * 2, on_unused_input="ignore")


def test_shared_variable_as_explicit_input():
    w = ag.shared(np.zeros(2), "w")
    with raises(ArignoteTypeError, "shared variable 'w' cannot be an explicit input", "givens"):
        ag.function([w], w * 2)


def test_bad_inputs_list():
    x = T.dvector("x")
    with raises(ArignoteValueError, "'x' is given twice"):
        ag.function([x, x], x)
    with raises(ArignoteTypeError, "input 0 is a int"):
        ag.function([3], x)
    with raises(ArignoteTypeError, "input 0 is a constant"):
        ag.function([T.constant(1.0)], x)
    with raises(ArignoteTypeError, "computed by Elemwise{add}", "root variables", THIS_FILE):
        ag.function([x + 1], x)
    with raises(ArignoteTypeError, "must be a list of variables", "str"):
        ag.function("x", x)
    with raises(ArignoteTypeError, "unexpected keyword argument(s) 'bogus'"):
        ag.function([x], x, bogus=1)
    with raises(ArignoteTypeError, "In() wraps a symbolic variable"):
        ag.In(3)


def test_errors_keep_the_builtin_families():
    assert issubclass(ArignoteTypeError, TypeError) and issubclass(ArignoteValueError, ValueError)
    for cls in (ShapeError, MissingInputError, UnusedInputError, ag.DisconnectedInputError,
                ag.GradientError):
        assert issubclass(cls, ArignoteValueError)
