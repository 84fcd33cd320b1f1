"""``function``: calling conventions, outputs, updates, givens, aliasing,
copies, shared variables, eval and modes."""
import copy

import numpy as np
import pytest

import arignote as ag
import arignote.tensor as T
from arignote import In, Out
from arignote.errors import ArignoteError, ShapeError
from tests.util import assert_close

MODES = ["fast_run", "fast_compile", "none", None, "FAST_RUN"]


# ------------------------------------------------------------ calling

def test_positional_and_keyword_calls():
    x, y = T.dvectors("x", "y")
    f = ag.function([x, y], x - y)
    a, b = np.array([3.0, 4.0]), np.array([1.0, 1.0])
    expected = a - b
    assert_close(f(a, b), expected)
    assert_close(f(x=a, y=b), expected)
    assert_close(f(y=b, x=a), expected)
    assert_close(f(a, y=b), expected)
    assert_close(f([3, 4], [1, 1]), expected)  # lists of Python ints are exact


def test_in_with_default_and_name():
    x, y = T.dvectors("x", "y")
    f = ag.function([x, In(y, value=np.array([10.0, 20.0]), name="offset")], x + y)
    assert_close(f([1.0, 2.0]), np.array([11.0, 22.0]))
    assert_close(f([1.0, 2.0], [1.0, 1.0]), np.array([2.0, 3.0]))
    assert_close(f([1.0, 2.0], offset=[0.0, 0.0]), np.array([1.0, 2.0]))
    with pytest.raises(TypeError, match="unexpected keyword argument 'y'"):
        f([1.0, 2.0], y=[0.0, 0.0])


def test_in_default_is_filtered_when_compiling():
    s = T.fscalar("s")
    f = ag.function([In(s, value=2)], s * 3)
    out = f()
    assert out.dtype == "float32" and out == 6
    with pytest.raises(ag.ArignoteTypeError, match="default value of input 's'"):
        ag.function([In(s, value=0.1)], s * 3)


def test_in_default_is_not_mutated_by_calls():
    x = T.dvector("x")
    default = np.array([1.0, 2.0])
    f = ag.function([In(x, value=default)], Out(x * 1, borrow=True))
    f()[...] = 0
    assert_close(f(), np.array([1.0, 2.0]))


def test_single_list_and_empty_outputs():
    x = T.dvector("x")
    v = np.array([1.0, -2.0])
    single = ag.function([x], x * 2)(v)
    assert isinstance(single, np.ndarray)
    assert_close(single, v * 2)
    one_list = ag.function([x], [x * 2])(v)
    assert isinstance(one_list, list) and len(one_list) == 1
    a, b = ag.function([x], (x * 2, abs(x)))(v)
    assert_close(b, np.abs(v))
    assert ag.function([x], [], on_unused_input="ignore")(v) == []
    w = ag.shared(np.zeros(2), "w")
    assert ag.function([x], updates=[(w, x)])(v) == []
    assert_close(w.get_value(), v)


def test_same_variable_twice_among_outputs():
    x = T.dvector("x")
    y = x * 2
    a, b = ag.function([x], [y, y])(np.ones(2))
    assert_close(a, b)
    a[0] = 100
    assert b[0] == 2  # distinct arrays


def test_input_as_output():
    x = T.dvector("x")
    v = np.arange(3.0)
    out = ag.function([x], x)(v)
    assert_close(out, v)
    assert not np.shares_memory(out, v)


def test_scalar_outputs_are_0d_arrays():
    x = T.dvector("x")
    out = ag.function([x], T.sum(x))(np.ones(3))
    assert isinstance(out, np.ndarray) and out.shape == () and out == 3


# ------------------------------------------------------------ updates

@pytest.mark.parametrize("as_dict", [False, True])
def test_updates(as_dict):
    w = ag.shared(np.zeros(3), "w")
    count = ag.shared(np.int64(0), "count")
    x = T.dvector("x")
    updates = [(w, w + x), (count, count + 1)]
    f = ag.function([x], w.sum(), updates=dict(updates) if as_dict else updates)
    assert f(np.ones(3)) == 0  # outputs see the values before the call
    assert f(np.ones(3)) == 3
    assert_close(w.get_value(), np.full(3, 2.0))
    assert count.get_value() == 2 and count.get_value().dtype == "int64"


def test_updates_read_old_values_swap():
    a = ag.shared(np.array([1.0, 2.0]), "a")
    b = ag.shared(np.array([3.0, 4.0]), "b")
    f = ag.function([], [], updates=[(a, b), (b, a)])
    f()
    assert_close(a.get_value(), np.array([3.0, 4.0]))
    assert_close(b.get_value(), np.array([1.0, 2.0]))
    f()
    assert_close(a.get_value(), np.array([1.0, 2.0]))
    # the new values are independent arrays
    a.get_value(borrow=True)[0] = 99
    assert b.get_value()[0] == 3.0


def test_update_by_a_constant_and_by_itself():
    w = ag.shared(np.ones(2), "w")
    ag.function([], [], updates=[(w, w)])()
    assert_close(w.get_value(), np.ones(2))
    ag.function([], [], updates=[(w, np.array([5.0, 6.0]))])()
    assert_close(w.get_value(), np.array([5.0, 6.0]))
    w.get_value(borrow=True)[0] = 0  # the constant's data must not change
    ag.function([], [], updates=[(w, np.array([5.0, 6.0]))])()
    assert w.get_value()[0] == 5.0


def test_update_can_change_the_shape_when_unknown():
    w = ag.shared(np.zeros(2), "w")
    ag.function([], [], updates=[(w, T.concatenate([w, w]) if hasattr(T, "concatenate") else
                                      T.ones_like(w))])()
    assert w.get_value().ndim == 1


def test_sgd_step():
    rng = np.random.default_rng(0)
    xv, yv = rng.normal(size=(20, 3)), rng.normal(size=20)
    x, y = T.dmatrix("x"), T.dvector("y")
    w = ag.shared(np.zeros(3), "w")
    cost = T.mean(T.sqr(T.dot(x, w) - y)) if hasattr(T, "dot") else T.mean(T.sqr((x * w).sum(axis=1) - y))
    step = ag.function([x, y], cost, updates=[(w, w - 0.1 * ag.grad(cost, w))])
    costs = [float(step(xv, yv)) for _ in range(30)]
    assert costs[-1] < costs[0]
    wv = np.zeros(3)
    for _ in range(30):
        wv = wv - 0.1 * (2 / 20) * xv.T @ (xv @ wv - yv)
    assert_close(w.get_value(), wv)


# ------------------------------------------------------------ givens

def test_givens_replace_an_input():
    x, y = T.dvectors("x", "y")
    f = ag.function([y], x * 2, givens={x: y + 1})
    assert_close(f(np.array([1.0, 2.0])), np.array([4.0, 6.0]))
    g = ag.function([y], x * 2, givens=[(x, y + 1)])
    assert_close(g(np.array([1.0, 2.0])), np.array([4.0, 6.0]))


def test_givens_replace_a_shared_variable():
    w = ag.shared(np.ones(2), "w")
    v = T.dvector("v")
    f = ag.function([v], w * 3, givens={w: v})
    assert_close(f(np.array([2.0, 2.0])), np.full(2, 6.0))


def test_givens_minibatch_of_a_shared_dataset():
    data = np.arange(24.0).reshape(8, 3)
    labels = np.arange(8.0)
    dataset, targets = ag.shared(data, "dataset"), ag.shared(labels, "targets")
    bs = 2
    i = T.lscalar("i")
    x, y = T.dmatrix("x"), T.dvector("y")
    cost = T.sum(x, axis=1) - y
    f = ag.function([i], cost, givens={x: dataset[i * bs:(i + 1) * bs],
                                       y: targets[i * bs:(i + 1) * bs]})
    for k in range(4):
        batch = slice(k * bs, (k + 1) * bs)
        assert_close(f(k), data[batch].sum(axis=1) - labels[batch])


# ------------------------------------------------------------ failures change nothing

def test_failing_call_leaves_shared_state_unchanged():
    w = ag.shared(np.zeros(3), "w")
    n = ag.shared(np.int64(0), "n")
    x, y = T.dvectors("x", "y")
    f = ag.function([x, y], x + y, updates=[(w, w + x), (n, n + 1)])
    with pytest.raises(ShapeError):
        f(np.ones(3), np.ones(4))  # runtime shape error inside an op
    with pytest.raises(ag.ArignoteTypeError):
        f(np.ones(3), "no")  # bad argument
    with pytest.raises(TypeError):
        f(np.ones(3))  # missing argument
    assert_close(w.get_value(), np.zeros(3))
    assert n.get_value() == 0
    f(np.ones(3), np.ones(3))
    assert n.get_value() == 1


def test_update_that_fails_late_changes_nothing():
    # the first update is fine, the second fails at run time: neither is written
    a = ag.shared(np.zeros(2), "a")
    b = ag.shared(np.zeros(2), "b")
    x = T.dvector("x")
    f = ag.function([x], [], updates=[(a, a + 1), (b, b + x)])
    with pytest.raises(ShapeError):
        f(np.ones(3))
    assert_close(a.get_value(), np.zeros(2))


# ------------------------------------------------------------ aliasing

def test_outputs_never_alias_inputs_or_shared_values():
    w = ag.shared(np.arange(3.0), "w")
    x = T.dvector("x")
    xv = np.ones(3)
    f = ag.function([x], [x, w, T.identity(w), x * 1, w + 0], updates=[(w, w * 2)])
    outs = f(xv)
    for out in outs:
        out[...] = -1
    assert_close(xv, np.ones(3))
    assert_close(w.get_value(), np.arange(3.0) * 2)
    outs = f(xv)
    assert_close(outs[1], np.arange(3.0) * 2)


def test_outputs_do_not_alias_each_other_or_later_calls():
    x = T.dvector("x")
    f = ag.function([x], x + 1)
    first = f(np.zeros(2))
    second = f(np.ones(2))
    assert_close(first, np.ones(2))
    assert not np.shares_memory(first, second)


def test_output_aliasing_the_new_shared_value():
    w = ag.shared(np.zeros(2), "w")
    new = w + 1
    f = ag.function([], new, updates=[(w, new)])
    out = f()
    out[...] = 100
    assert_close(w.get_value(), np.ones(2))


def test_constant_outputs_are_fresh_writable_arrays():
    c = T.constant(np.arange(3.0))
    f = ag.function([], [c, c * 1])
    for out in f():
        assert out.flags.writeable
        out[...] = -1
    assert_close(f()[0], np.arange(3.0))
    assert_close(c.data, np.arange(3.0))


def test_out_borrow():
    x = T.dvector("x")
    f = ag.function([x], Out(x * 2, borrow=True))
    assert_close(f(np.ones(2)), np.full(2, 2.0))
    g = ag.function([x], [Out(x * 2, borrow=True), x * 3])
    a, b = g(np.ones(2))
    assert_close(b, np.full(2, 3.0))


# ------------------------------------------------------------ copies

def test_deepcopy_gives_independent_shared_state():
    w = ag.shared(np.zeros(2), "w")
    x = T.dvector("x")
    f = ag.function([x], w.sum(), updates=[(w, w + x)])
    g = copy.deepcopy(f)
    g(np.ones(2))
    g(np.ones(2))
    assert_close(w.get_value(), np.zeros(2))
    assert g(np.ones(2)) == 4.0
    f(np.ones(2))
    assert_close(w.get_value(), np.ones(2))
    assert g(x=np.zeros(2)) == 6.0  # keyword calls still work on the copy


def test_copy_share_memory():
    w = ag.shared(np.zeros(2), "w")
    f = ag.function([], [], updates=[(w, w + 1)])
    g = f.copy(share_memory=True)
    g()
    f()
    assert_close(w.get_value(), np.full(2, 2.0))
    h = f.copy()
    h()
    assert_close(w.get_value(), np.full(2, 2.0))


# ------------------------------------------------------------ shared variables

def test_shared_get_and_set_value():
    value = np.arange(3.0)
    w = ag.shared(value, "w")
    value[0] = 100
    assert w.get_value()[0] == 0  # copied in
    got = w.get_value()
    got[1] = 100
    assert w.get_value()[1] == 1  # copied out
    w.get_value(borrow=True)[2] = 7
    assert w.get_value()[2] == 7  # borrow gives the internal array
    new = np.ones(5)
    w.set_value(new)
    new[0] = 3
    assert w.get_value()[0] == 1 and w.get_value().shape == (5,)
    w.set_value(new, borrow=True)
    assert w.get_value(borrow=True) is new
    w.value = np.zeros(1)
    assert_close(w.value, np.zeros(1))


def test_shared_types():
    assert ag.shared(np.zeros((2, 3), "float32")).type == T.TensorType("float32", (None, None))
    assert ag.shared(3).type == T.TensorType("int64", ())
    assert ag.shared(1.5).dtype == "float64"
    assert ag.shared(np.zeros((1, 3)), shape=(1, None)).type.shape == (1, None)
    assert ag.shared(np.zeros((1, 3)), broadcastable=(True, False)).type.shape == (1, None)
    arr = np.zeros(2)
    assert ag.shared(arr, borrow=True).get_value(borrow=True) is arr


def test_shared_set_value_is_checked():
    w = ag.shared(np.zeros(2, "float32"), "w")
    with pytest.raises(ag.ArignoteTypeError, match="shared variable 'w' expects float32.*float64"):
        w.set_value(np.zeros(2))
    with pytest.raises(ag.ArignoteTypeError, match="'w' expects a 1-d array"):
        w.set_value(np.zeros((2, 2), "float32"))
    b = ag.shared(np.zeros((1, 3)), "b", shape=(1, None))
    with pytest.raises(ShapeError, match="'b' has static shape"):
        b.set_value(np.zeros((2, 3)))
    with pytest.raises(ag.ArignoteTypeError, match="symbolic variable"):
        ag.shared(T.dvector())
    with pytest.raises(ag.ArignoteTypeError, match="numeric"):
        ag.shared(np.array(["a"]))
    with pytest.raises(ag.ArignoteTypeError, match="dimensions"):
        ag.shared(np.zeros(3), shape=(None, None))


def test_shared_value_seen_by_every_function():
    w = ag.shared(np.ones(2), "w")
    f = ag.function([], w * 2)
    assert_close(f(), np.full(2, 2.0))
    w.set_value(np.full(3, 5.0))
    assert_close(f(), np.full(3, 10.0))


# ------------------------------------------------------------ eval and modes

def test_eval():
    x, y = T.dvectors("x", "y")
    out = x * 2 + y
    assert_close(out.eval({x: np.ones(2), y: np.zeros(2)}), np.full(2, 2.0))
    assert_close(out.eval({y: np.ones(2), x: np.ones(2)}), np.full(2, 3.0))
    assert_close((T.constant(np.arange(3.0)) * 2).eval(), np.arange(3.0) * 2)
    w = ag.shared(np.ones(2))
    assert_close((w + 1).eval(), np.full(2, 2.0))
    with pytest.raises(ag.MissingInputError, match="'y'"):
        out.eval({x: np.ones(2)})


@pytest.mark.parametrize("mode", MODES)
def test_modes_agree(mode):
    x = T.dmatrix("x")
    out = T.log(T.exp(x)) * 1 + 0 + T.sum(x * x, axis=1, keepdims=True)
    xv = np.arange(6.0).reshape(2, 3) / 10
    assert_close(ag.function([x], out, mode=mode)(xv), xv + (xv * xv).sum(axis=1, keepdims=True))


def test_config_mode_is_the_default():
    old = ag.config.mode
    try:
        ag.config.mode = "none"
        assert ag.function([], T.constant(1.0)).mode == "none"
    finally:
        ag.config.mode = old


@pytest.mark.parametrize("mode", ["fast", "FAST_RUNX", 3, ""])
def test_bad_mode(mode):
    with pytest.raises(ag.ArignoteValueError, match="mode must be one of.*fast_run") as e:
        ag.function([], T.constant(1.0), mode=mode)
    assert isinstance(e.value, ValueError) and isinstance(e.value, ArignoteError)


def test_function_name_and_repr():
    x = T.dvector("x")
    f = ag.function([x], x, name="ident")
    assert "ident" in repr(f) and "x" in repr(f)
