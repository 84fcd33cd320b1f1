"""Types beyond tensors (issue 10, item 6): a generic object, a typed list and
"no value" are graph values like any other. Functions take and return them,
shared variables hold them, every backend runs their ops' ``perform``, the
runtime checks what each step computed through the type, no gradient flows
through them, and a tensor-only question asked of one says so clearly."""
import copy
import pickle

import numpy as np
import pytest

import arignote as ag
import arignote.tensor as T
from arignote.errors import ArignoteTypeError, ArignoteValueError, NotATensorError
from arignote.graph.basic import Apply, Constant, Variable
from arignote.graph.generic import GenericType, ListType, NoneConst, NoneType
from arignote.graph.op import Op
from arignote.graph.type import TensorType, Type
from arignote.tensor.sharedvar import GenericSharedVariable, SharedVariable, shared

CONFIGS = [pytest.param("numpy", True, id="numpy"), pytest.param("cpu", True, id="cpu-fused"),
           pytest.param("cpu", False, id="cpu-unfused")]
VEC = TensorType("float64", (None,))


# ------------------------------------------------------------ tiny ops over the new kinds

class MakeList(Op):
    """tensors of one type -> the list of them."""

    def make_node(self, *xs):
        xs = [T.as_tensor_variable(x) for x in xs]
        return Apply(self, xs, [ListType(xs[0].type)])

    def perform(self, node, inputs):
        return [list(inputs)]


class ListSum(Op):
    """a list of vectors -> their elementwise sum."""

    def make_node(self, xs):
        if xs.type != ListType(VEC):
            raise ArignoteTypeError(f"ListSum takes a {ListType(VEC)}, got {xs.type}")
        return Apply(self, [xs], [VEC])

    def perform(self, node, inputs):
        (xs,) = inputs
        return [np.sum(xs, axis=0) if xs else np.zeros(0)]


class Summary(Op):
    """a list of vectors -> a dict (a generic value): how many and their total."""

    def make_node(self, xs):
        return Apply(self, [xs], [GenericType(dict)])

    def perform(self, node, inputs):
        (xs,) = inputs
        return [{"n": len(xs), "total": float(sum(x.sum() for x in xs))}]


class Count(Op):
    """a generic dict -> its 'n' as an int64 scalar; None (no value) counts 0."""

    def make_node(self, d):
        return Apply(self, [d], [TensorType("int64", ())])

    def perform(self, node, inputs):
        (d,) = inputs
        return [np.asarray(0 if d is None else d["n"], "int64")]


class Bumped(Op):
    """a dict -> a new dict with 'n' + 1 (an update of a generic shared variable)."""

    def make_node(self, d):
        return Apply(self, [d], [d.type])

    def perform(self, node, inputs):
        (d,) = inputs
        return [{**d, "n": d["n"] + 1}]


class Liar(Op):
    """promises a list of vectors, computes a dict: the runtime must catch it."""

    def make_node(self, x):
        return Apply(self, [x], [ListType(VEC)])

    def perform(self, node, inputs):
        return [{"not": "a list"}]


# ------------------------------------------------------------ the types themselves

def test_kinds_are_values():
    for make in (lambda: GenericType(), lambda: GenericType(dict), lambda: ListType(VEC),
                 lambda: ListType(ListType(VEC)), lambda: NoneType()):
        a, b = make(), make()
        assert isinstance(a, Type) and a == b and hash(a) == hash(b)
        assert pickle.loads(pickle.dumps(a)) == a and copy.deepcopy(a) == a
        with pytest.raises(AttributeError, match="immutable"):
            a.foo = 1
    assert GenericType() != GenericType(dict) and ListType(VEC) != ListType(TensorType("float32", (None,)))
    assert ListType(VEC) != VEC and VEC != ListType(VEC) and NoneType() != GenericType()
    assert isinstance(VEC, Type)
    assert [str(t) for t in (GenericType(), GenericType(dict), ListType(VEC), NoneType())] == \
        ["generic", "generic[dict]", "list of float64[?]", "none"]


def test_filter_names_what_expected_and_got():
    lt = ListType(VEC)
    out = lt.filter(([1.0, 2.0], np.zeros(3)))
    assert isinstance(out, list) and [o.dtype for o in out] == ["float64", "float64"]
    with pytest.raises(ArignoteTypeError, match=r"input 'xs' expects a list of float64\[\?\], got int 3"):
        lt.filter(3, what="input 'xs'")
    with pytest.raises(ArignoteTypeError, match=r"item 1 of input 'xs' expects a 1-d array"):
        lt.filter([np.zeros(2), np.zeros((2, 2))], what="input 'xs'")
    with pytest.raises(ArignoteTypeError, match=r"item 0 of 'xs' expects float64 data, got str"):
        lt.filter(["a"], what="'xs'")
    assert len(lt.filter([])) == 0
    with pytest.raises(ArignoteTypeError, match=r"'d' expects a dict \(generic\[dict\]\), got int 3"):
        GenericType(dict).filter(3, what="'d'")
    obj = object()
    assert GenericType().filter(obj) is obj
    assert NoneType().filter(None) is None
    with pytest.raises(ArignoteTypeError, match=r"'o' expects None \(no value\), got int 0"):
        NoneType().filter(0, what="'o'")
    with pytest.raises(ArignoteTypeError, match="expected a Type"):
        ListType("float64")


def test_is_valid_value_is_exact():
    lt = ListType(VEC)
    assert lt.is_valid_value([np.zeros(2)]) and lt.is_valid_value([])
    assert not lt.is_valid_value((np.zeros(2),))  # a tuple is filtered into a list, not valid as is
    assert not lt.is_valid_value([np.zeros(2, "float32")]) and not lt.is_valid_value([[1.0]])
    assert VEC.is_valid_value(np.zeros(3)) and not VEC.is_valid_value(np.zeros((3, 1)))
    assert not TensorType("float64", (3,)).is_valid_value(np.zeros(4))
    assert not VEC.is_valid_value([1.0]) and not VEC.is_valid_value(np.zeros(3, "float32"))
    assert NoneType().is_valid_value(None) and not NoneType().is_valid_value(0)
    assert GenericType(dict).is_valid_value({}) and not GenericType(dict).is_valid_value([])


def test_values_eq():
    lt = ListType(VEC)
    assert lt.values_eq([np.ones(2)], [np.ones(2)]) and not lt.values_eq([np.ones(2)], [])
    assert not lt.values_eq([np.ones(2)], [np.ones(2) + 1e-12])
    assert lt.values_eq([np.ones(2)], [np.ones(2) + 1e-12], approx=True)
    assert VEC.values_eq(np.array([np.nan]), np.array([np.nan]))
    assert GenericType().values_eq({"a": 1}, {"a": 1}) and not GenericType().values_eq(1, 2)
    assert not GenericType().values_eq(np.ones(2), np.ones(3))  # (== that does not give a bool)
    assert NoneType().values_eq(None, None)


def test_tensor_questions_asked_of_another_type_say_so():
    lt = ListType(VEC)
    for attr in ("dtype", "shape", "ndim", "broadcastable", "is_float", "numpy_dtype"):
        with pytest.raises(NotATensorError, match=rf"list of float64\[\?\] is not a tensor type: "
                                                  rf"it has no {attr}"):
            getattr(lt, attr)
    assert issubclass(NotATensorError, ArignoteTypeError)
    assert getattr(lt, "dtype", None) is None and not hasattr(NoneType(), "shape")  # duck typing
    with pytest.raises(AttributeError) as info:
        lt.nonsense  # noqa: B018
    assert not isinstance(info.value, NotATensorError)
    xs = lt.make_variable("xs")
    with pytest.raises(ArignoteTypeError, match="expected a tensor variable, got xs of type list"):
        T.exp(xs)
    # the same asked of a variable, wherever an op reads it without converting it first
    for attr in ("dtype", "ndim", "shape", "broadcastable"):
        with pytest.raises(NotATensorError, match=rf"'xs' of type list of float64\[\?\] is not a "
                                                  rf"tensor: it has no {attr}"):
            getattr(xs, attr)
    with pytest.raises(NotATensorError, match="'xs' .* no ndim"):
        T.zeros(xs)
    with pytest.raises(NotATensorError, match="'xs' .* no ndim"):
        T.reshape(T.dvector(), xs)
    assert getattr(xs, "ndim", None) is None and not hasattr(xs, "is_shared")
    with pytest.raises(AttributeError) as info:
        xs.nonsense  # noqa: B018
    assert not isinstance(info.value, NotATensorError)


def test_variables_and_constants_of_each_kind():
    xs = ListType(VEC).make_variable("xs")
    assert type(xs) is Variable and xs.type == ListType(VEC) and xs.name == "xs"
    c = ListType(VEC).make_constant([[1.0, 2.0]])
    assert isinstance(c, Constant) and c.data[0].dtype == "float64"
    assert not c.data[0].flags.writeable  # a constant's arrays are frozen copies
    arr = np.ones(2)
    c2 = ListType(VEC).make_constant([arr])
    arr[0] = 5
    assert c2.data[0][0] == 1 and c2.signature() != c.signature()
    assert ListType(VEC).make_constant([[1.0, 2.0]]).signature() == c.signature()
    t = VEC.make_constant([1.0, 2.0], name="k")
    assert isinstance(t, T.TensorConstant) and t.name == "k" and not t.data.flags.writeable
    assert NoneConst.type == NoneType() and NoneConst.data is None and repr(NoneConst) == "NoneConst"
    g1, g2 = GenericType().make_constant({"a": 1}), GenericType().make_constant({"a": 1})
    assert g1.signature() != g2.signature()  # generic values merge only when they are one object
    assert repr(g1) == "{'a': 1}"
    with pytest.raises(ArignoteTypeError, match="a constant expects None"):
        NoneType().make_constant(3)


# ------------------------------------------------------------ functions over them

@pytest.mark.parametrize("backend,fusion", CONFIGS)
def test_function_takes_a_list_and_returns_a_generic_value(backend, fusion):
    xs = ListType(VEC).make_variable("xs")
    y = T.dvector("y")
    total = ListSum()(xs)
    f = ag.function([xs, y], [Summary()(xs), T.exp(total) * 2 + y, Count()(Summary()(xs))],
                    backend=backend, fusion=fusion)
    values = [np.ones(3), np.arange(3.0)]
    summary, z, n = f(values, np.zeros(3))
    assert summary == {"n": 2, "total": 6.0}
    np.testing.assert_allclose(z, np.exp(np.ones(3) + np.arange(3.0)) * 2)
    assert n == 2 and n.dtype == "int64"
    assert f((np.ones(3),), y=np.ones(3))[0] == {"n": 1, "total": 3.0}  # a tuple, by keyword
    with pytest.raises(ArignoteTypeError, match=r"input 'xs' of function expects a list of "
                                                r"float64\[\?\], got float 1.5"):
        f(1.5, np.zeros(3))
    with pytest.raises(ArignoteTypeError, match=r"item 1 of input 'xs' of function expects a "
                                                r"1-d array"):
        f([np.ones(3), np.ones((3, 1))], np.zeros(3))
    with pytest.raises(ArignoteTypeError, match=r"item 0 of input 'xs' of function expects float64 "
                                                r"data, got complex128"):
        f([np.ones(3, "complex128")], np.zeros(3))
    assert f([np.ones(3, "float32")], np.zeros(3))[0]["total"] == 3.0  # lossless: taken


@pytest.mark.parametrize("backend,fusion", CONFIGS)
def test_list_output_and_constant_outputs(backend, fusion):
    x, y = T.dvectors("x", "y")
    f = ag.function([x, y], [MakeList()(x * 2, y), NoneConst,
                             ListType(VEC).make_constant([[1.0]])], backend=backend, fusion=fusion)
    got, none, const = f(np.ones(2), np.zeros(2))
    assert isinstance(got, list) and len(got) == 2
    np.testing.assert_array_equal(got[0], [2.0, 2.0])
    assert none is None and const[0][0] == 1.0


@pytest.mark.parametrize("backend,fusion", CONFIGS)
def test_constant_folding_makes_constants_of_the_type(backend, fusion):
    const = ListType(VEC).make_constant([[1.0, 2.0], [3.0]])
    f = ag.function([], [Summary()(const), MakeList()(T.constant([1.0]))], backend=backend,
                    fusion=fusion)
    assert not f.program.steps  # both folded at compile time
    summary, lst = f()
    assert summary == {"n": 2, "total": 6.0} and lst[0].tolist() == [1.0]
    x = T.dvector("x")
    g = ag.function([x], Liar()(T.constant([1.0])), backend=backend, fusion=fusion,
                    on_unused_input="ignore")  # a value its type refuses is not folded...
    with pytest.raises(ArignoteValueError, match="Liar promised"):
        g(np.ones(1))  # ...and the run-time check names the op


@pytest.mark.parametrize("backend,fusion", CONFIGS)
def test_none_is_a_value(backend, fusion):
    x = T.dvector("x")
    f = ag.function([x], [Count()(NoneConst) + x.shape[0]], backend=backend, fusion=fusion)
    assert f(np.ones(4))[0] == 4
    o = NoneType().make_variable("o")
    g = ag.function([o], Count()(o), backend=backend, fusion=fusion)
    assert g(None) == 0
    with pytest.raises(ArignoteTypeError, match="input 'o' of function expects None"):
        g(0)


@pytest.mark.parametrize("backend,fusion", CONFIGS)
def test_runtime_checks_results_through_the_type(backend, fusion):
    x = T.dvector("x")
    f = ag.function([x], ListSum()(Liar()(x)), backend=backend, fusion=fusion)
    with pytest.raises(ArignoteValueError, match=r"internal error: Liar promised list of "
                                                 r"float64\[\?\] but computed dict"):
        f(np.ones(2))


@pytest.mark.parametrize("backend,fusion", CONFIGS)
def test_generic_shared_variable_and_its_update(backend, fusion):
    state = ag.shared({"n": 0, "tag": ["a"]}, name="state")
    assert isinstance(state, GenericSharedVariable) and isinstance(state, SharedVariable)
    assert state.type == GenericType() and str(state) == "state"
    f = ag.function([], Count()(state), updates=[(state, Bumped()(state))], backend=backend,
                    fusion=fusion)
    assert [int(f()) for _ in range(3)] == [0, 1, 2]
    assert state.get_value()["n"] == 3
    got = state.get_value()
    got["tag"].append("b")  # a deep copy: the shared value is not touched
    assert state.get_value()["tag"] == ["a"]
    state.set_value({"n": 10})
    assert int(f()) == 10
    g = f.copy()  # its own copy of the state
    assert int(g()) == 11 and int(f()) == 11 and int(g()) == 12
    loaded = pickle.loads(pickle.dumps(state))
    assert loaded.get_value() == {"n": 12} and loaded.type == GenericType()


@pytest.mark.parametrize("backend,fusion", CONFIGS)
def test_outputs_share_nothing_with_inputs_shared_values_or_constants(backend, fusion):
    """As for arrays: what a call hands out is the caller's to change."""
    state, w = ag.shared({"n": 0}, name="state"), ag.shared(np.zeros(2), name="w")
    d = GenericType(dict).make_variable("d")
    f = ag.function([d], [state, d, MakeList()(w), ListType(VEC).make_constant([[1.0]])],
                    backend=backend, fusion=fusion)
    given = {"k": 1}
    got_state, got_d, got_list, got_const = f(given)
    got_state["n"] = 5
    got_list[0][0] = 7.0
    got_const.append(None)
    assert got_d == given and got_d is not given
    assert state.get_value() == {"n": 0} and w.get_value().tolist() == [0.0, 0.0]
    assert f(given)[3] == [[1.0]]
    one = ag.function([], MakeList()(w), backend=backend, fusion=fusion)()
    one[0][1] = 3.0
    assert w.get_value().tolist() == [0.0, 0.0]


def test_generic_shared_errors():
    with pytest.raises(ArignoteTypeError, match="shape describes arrays, not a dict"):
        shared({}, shape=(None,))
    s = ag.shared({"n": 0}, name="s")
    with pytest.raises(ArignoteTypeError, match=r"updates: the new value of shared variable 's' "
                                                r"has type float64 but the variable has type generic"):
        ag.function([], [], updates=[(s, T.constant(1.0))])
    d = GenericType(dict).make_variable("d")
    strict = SharedVariable(GenericType(dict), {}, name="strict")
    with pytest.raises(ArignoteTypeError, match="shared variable 'strict' expects a dict"):
        strict.set_value([])
    with pytest.raises(ArignoteTypeError, match="has type generic.* variable has type generic.dict"):
        ag.function([], [], updates=[(strict, s)])
    f = ag.function([d], [], updates=[(strict, d)])
    f({"a": 1})
    assert strict.get_value() == {"a": 1}
    assert isinstance(ag.shared(np.zeros(2)), T.TensorVariable)  # tensors stay tensors


def test_givens_replace_a_non_tensor_value():
    xs, ys = ListType(VEC).make_variable("xs"), ListType(VEC).make_variable("ys")
    f = ag.function([ys], ListSum()(xs), givens={xs: ys})
    np.testing.assert_array_equal(f([np.ones(2)]), np.ones(2))
    f = ag.function([], ListSum()(xs), givens={xs: [[1.0, 2.0]]})  # a value: a constant of the type
    np.testing.assert_array_equal(f(), [1.0, 2.0])
    with pytest.raises(ArignoteTypeError, match="cannot be replaced"):
        ag.function([ys], ListSum()(xs), givens={xs: T.dvector()})
    a = T.dvector("a")
    with pytest.raises(ArignoteTypeError, match="cannot be replaced"):
        ag.function([xs], a * 2, givens={a: xs}, on_unused_input="ignore")


def test_missing_non_tensor_input_is_named():
    xs = ListType(VEC).make_variable("xs")
    other = ListType(VEC).make_variable("xs")
    with pytest.raises(ag.MissingInputError, match=r"needs 'xs' \(list of float64\[\?\]\).*the input "
                                                   r"named 'xs' is a different variable$"):
        ag.function([other], ListSum()(xs), on_unused_input="ignore")


# ------------------------------------------------------------ gradients, printing, pickling

def test_no_gradient_through_a_non_tensor_value():
    x = T.dvector("x")
    xs = MakeList()(x)
    cost = ListSum()(xs).sum() + (x ** 2).sum()
    g = ag.grad(cost, x)  # only the tensor path carries a gradient
    np.testing.assert_allclose(ag.function([x], g)(np.array([1.0, 2.0])), [2.0, 4.0])
    with pytest.raises(ag.DisconnectedInputError):
        ag.grad(ListSum()(xs).sum(), x)
    with pytest.raises(ArignoteTypeError, match=r"differentiate with respect to 'xs' of type list "
                                                r"of float64\[\?\]; gradients are defined for float "
                                                r"tensors only"):
        ag.grad(cost, ListType(VEC).make_variable("xs"))
    s = Summary()(xs)
    with pytest.raises(ArignoteTypeError, match=r"cost must be a float scalar, got the output of "
                                                r"Summary of type generic\[dict\], which is not a tensor"):
        ag.grad(s, x)
    with pytest.raises(ArignoteTypeError, match="known_grads gives a gradient for .* of type generic"):
        ag.grad(None, x, known_grads={s: T.dscalar()})
    with pytest.raises(ArignoteTypeError, match="hessian.*must be vectors"):
        ag.hessian(cost, ListType(VEC).make_variable("xs"))
    with pytest.raises(ArignoteTypeError, match="Rop.*must hold tensors.*of type list"):
        ag.Rop(cost, ListType(VEC).make_variable("xs"), [[1.0]])


def test_printing_shows_the_types():
    xs = ListType(VEC).make_variable("xs")
    out = Count()(Summary()(xs)) + Count()(NoneConst) + Count()(GenericType().make_constant({"n": 1}))
    text = ag.printing.debugprint(out, file="str")
    assert "xs [id E] <list of float64[?]>" in text and "Summary [id D] <generic[dict]>" in text
    assert "NoneConst [id G] <none>" in text and "Constant{{'n': 1}} [id I] <generic>" in text
    assert ag.printing.pprint(out) == "((count(summary(xs)) + count(NoneConst)) + count({'n': 1}))"
    ag.printing.to_dot(out)


def test_graph_with_non_tensor_values_pickles():
    xs = ListType(VEC).make_variable("xs")
    out = Count()(Summary()(xs)) + Count()(NoneConst)
    loaded = pickle.loads(pickle.dumps(out))
    node = loaded.owner.inputs[0].owner.inputs[0].owner
    assert node.inputs[0].type == ListType(VEC) and node.outputs[0].type == GenericType(dict)
    f = ag.function([xs], out)
    g = pickle.loads(pickle.dumps(f))
    assert g([np.ones(2), np.ones(1)]) == 2


def test_generic_shared_names_only_the_array_arguments_given():
    with pytest.raises(ArignoteTypeError,
                       match=r"shared\(\): shape and broadcastable describe arrays, not a dict"):
        shared({}, shape=(None,), broadcastable=(False,))
    with pytest.raises(ArignoteTypeError, match=r"shared\(\): target='cuda' describes arrays, not a dict"):
        shared({}, target="cuda")
