"""``SharedVariable.default_update`` (issue 10, item 7; Theano's contract): a
shared variable may carry an expression that ``function`` uses as its update
unless the call gives one or passes ``no_default_updates`` (True, or a list
of variables). It applies to the shared variables the outputs and updates
read, and to those their default updates read in turn."""
import copy
import pickle

import numpy as np
import pytest

import arignote as ag
import arignote.tensor as T
from arignote.errors import ArignoteTypeError, ShapeError

CONFIGS = [pytest.param("numpy", True, id="numpy"), pytest.param("cpu", True, id="cpu-fused"),
           pytest.param("cpu", False, id="cpu-unfused")]


def counter(name="c", start=0.0):
    c = ag.shared(np.float64(start), name=name)
    c.default_update = c + 1
    return c


@pytest.mark.parametrize("backend,fusion", CONFIGS)
def test_counter_increments_each_call(backend, fusion):
    c = counter()
    x = T.dscalar("x")
    f = ag.function([x], x * c, backend=backend, fusion=fusion)
    assert [float(f(2.0)) for _ in range(3)] == [0.0, 2.0, 4.0]  # each call sees the value before it
    assert c.get_value() == 3.0
    assert ag.SharedVariable.default_update is None and ag.shared(1.0).default_update is None


@pytest.mark.parametrize("backend,fusion", CONFIGS)
def test_explicit_update_overrides(backend, fusion):
    c = counter()
    f = ag.function([], c, updates=[(c, c * 10 + 5)], backend=backend, fusion=fusion)
    f(), f()
    assert c.get_value() == 55.0


@pytest.mark.parametrize("backend,fusion", CONFIGS)
def test_no_default_updates(backend, fusion):
    c, d = counter("c"), counter("d", 100.0)
    f = ag.function([], c + d, no_default_updates=True, backend=backend, fusion=fusion)
    f()
    assert (c.get_value(), d.get_value()) == (0.0, 100.0)
    g = ag.function([], c + d, no_default_updates=[d], backend=backend, fusion=fusion)
    g(), g()
    assert (c.get_value(), d.get_value()) == (2.0, 100.0)
    h = ag.function([], c + d, no_default_updates=False, backend=backend, fusion=fusion)
    h()
    assert (c.get_value(), d.get_value()) == (3.0, 101.0)


@pytest.mark.parametrize("backend,fusion", CONFIGS)
def test_default_update_reading_another_with_a_default_update(backend, fusion):
    """c's default update reads d, which the outputs do not read: d's default update
    applies too (Theano iterated to closure), both from the values before the call."""
    d = counter("d", 10.0)
    c = ag.shared(np.float64(0.0), name="c")
    c.default_update = c + d
    x = T.dscalar("x")
    f = ag.function([x], x + c, backend=backend, fusion=fusion)
    f(0.0)
    assert (c.get_value(), d.get_value()) == (10.0, 11.0)
    f(0.0)
    assert (c.get_value(), d.get_value()) == (21.0, 12.0)
    # read only through an explicit update's expression: applied as well
    a = ag.shared(np.float64(0.0), name="a")
    g = ag.function([], [], updates=[(a, a + c)], backend=backend, fusion=fusion)
    g()
    assert (a.get_value(), c.get_value(), d.get_value()) == (21.0, 33.0, 13.0)


@pytest.mark.parametrize("backend,fusion", CONFIGS)
def test_unused_shared_variable_is_not_updated(backend, fusion):
    c, unused = counter("c"), counter("unused")
    x = T.dscalar("x")
    f = ag.function([x], x + c, backend=backend, fusion=fusion)
    f(1.0)
    assert (c.get_value(), unused.get_value()) == (1.0, 0.0)
    assert [sv.name for sv, _ in f.updates] == ["c"]
    # replaced through givens, c is not read: no default update
    g = ag.function([x], x + c, givens={c: x}, backend=backend, fusion=fusion)
    g(1.0)
    assert c.get_value() == 1.0


@pytest.mark.parametrize("backend,fusion", CONFIGS)
def test_failing_call_applies_none_of_them(backend, fusion):
    c = counter()
    big = ag.shared(np.zeros((200, 200)), name="big")  # (in place on cpu: written last)
    big.default_update = big + 1
    s = ag.shared(np.zeros(3), name="s", shape=(3,))
    x, y = T.dvectors("x", "y")
    s.default_update = x  # checked against s's static shape before anything is written
    f = ag.function([x, y], (x + y).sum() + c + big.sum() + s.sum(), backend=backend, fusion=fusion)
    with pytest.raises(ag.ArignoteError):
        f(np.ones(3), np.ones(4))  # x + y fails
    with pytest.raises(ShapeError, match="the update of shared variable 's'"):
        f(np.ones(4), np.ones(4))  # the default update of s does not fit it
    assert c.get_value() == 0.0 and big.get_value().max() == 0.0 and s.get_value().max() == 0.0
    f(np.ones(3), np.ones(3))
    assert c.get_value() == 1.0 and big.get_value().min() == 1.0 and s.get_value().min() == 1.0


def test_wrong_type_is_named():
    c = ag.shared(np.float32(0.0), name="c")
    c.default_update = c + np.float64(1.0)
    with pytest.raises(ArignoteTypeError, match=r"the default_update of shared variable 'c' has "
                                                r"type float64 but the variable has type float32.*"
                                                r"T.cast\(update, 'float32'\)"):
        ag.function([], c)
    ag.function([], c, no_default_updates=True)  # excluded: not checked
    v = ag.shared(np.zeros(2), name="v")
    v.default_update = T.dmatrix("m")
    with pytest.raises(ArignoteTypeError, match=r"default_update of shared variable 'v' has type "
                                                r"float64\[\?,\?\] but the variable has type "
                                                r"float64\[\?\]"):
        ag.function([], v * 2)
    v.default_update = "reset"
    with pytest.raises(ArignoteTypeError, match="the default_update of shared variable 'v': "
                                                "cannot convert str"):
        ag.function([], v * 2)
    v.default_update = [0.0, 0.0]  # a value: every call resets v
    f = ag.function([], v + 1)
    f()
    assert v.get_value().tolist() == [0.0, 0.0] and f().tolist() == [1.0, 1.0]
    for bad in ("c", [T.dscalar("x")], 1):
        with pytest.raises(ArignoteTypeError, match="no_default_updates"):
            ag.function([], c, no_default_updates=bad)


def test_pickled_shared_variable_keeps_its_default_update():
    c = counter()
    loaded = pickle.loads(pickle.dumps(c))
    assert loaded.default_update is not None and loaded.default_update.owner is not None
    assert loaded.default_update.owner.inputs[0] is loaded  # it reads the loaded variable
    f = ag.function([], loaded)
    f(), f()
    assert loaded.get_value() == 2.0 and c.get_value() == 0.0
    g = pickle.loads(pickle.dumps(ag.function([], c * 2)))  # a pickled function keeps applying it
    g(), g()
    assert g.shared[0].get_value() == 2.0


def test_copies_keep_default_updates():
    d = counter("d", 10.0)
    c = ag.shared(np.float64(0.0), name="c")
    c.default_update = c + d
    f = ag.function([], c)
    for g in (f.copy(), copy.deepcopy(f)):
        g(), g()  # its own copies, updated by the same rules
        assert sorted(float(sv.get_value()) for sv in g.shared) == [12.0, 21.0]
        copies = {sv.name: sv for sv in g.shared}
        assert copies["c"] is not c and copies["c"].default_update is not None
        h = ag.function([], copies["c"])  # the copy's default update reads the copies
        h()
        assert (float(copies["c"].get_value()), float(copies["d"].get_value())) == (33.0, 13.0)
    assert (c.get_value(), d.get_value()) == (0.0, 10.0)
    f()
    assert (c.get_value(), d.get_value()) == (10.0, 11.0)
    alone = copy.deepcopy(d)
    ag.function([], alone)()
    assert alone.get_value() == 12.0 and d.get_value() == 11.0
    shared_memory = f.copy(share_memory=True)
    shared_memory()
    assert (c.get_value(), d.get_value()) == (21.0, 12.0)
