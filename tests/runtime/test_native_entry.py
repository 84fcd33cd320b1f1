"""The native entry of scalar functions (runtime/native_entry.py): what it takes itself,
what it hands to the general call, and that it behaves as the call in Python does
(values, fresh outputs, errors at the user's line, profiles, pickles, threads)."""
import pickle
import sys
import threading

import numpy as np
import pytest

import arignote as ag
import arignote.tensor as T
from arignote.compiler import unsafe
from arignote.errors import ArignoteError, ArignoteTypeError
from arignote.runtime import native_entry
from arignote.runtime.function import Out
from arignote.runtime.profile import record

pytestmark = pytest.mark.skipif(not native_entry.ENABLED, reason="native entries are off "
                                "(ARIGNOTE_SAFE_CALLS=1 or an unknown object layout)")


def _native(f):
    entry = f._entry
    assert entry is not None and f.__call__ is entry
    return entry


def test_plus_on_floats_and_0d_arrays():
    a, b = T.dscalars("a", "b")
    f = ag.function([a, b], a + b, backend="cpu", fusion=True)
    _native(f)
    outs = [f(1.5, 2.5), f(np.asarray(1.5), 2.5), f(np.asarray(1.5), np.asarray(2.5))]
    for out in outs:
        assert type(out) is np.ndarray and out.dtype == np.float64 and out.shape == () and out == 4.0
    assert len({id(o) for o in outs}) == 3  # each call a fresh output
    # no reference leaked: a fresh output is held as the call in Python's is
    assert sys.getrefcount(f(1.5, 2.5)) == sys.getrefcount(f._call_any(1.5, 2.5))
    x = np.asarray(0.25)
    before = sys.getrefcount(x)
    for _ in range(1000):
        f(x, x)
    assert sys.getrefcount(x) == before


@pytest.mark.parametrize("args", [(1, 2.0), (np.float64(1.0), 2.0), (np.float32(1.0), 2.0),
                                  (np.asarray(1.0, np.float32), 2.0), (np.asarray([1.0])[0], 2.0),
                                  (True, 2.0)])
def test_other_arguments_go_to_the_general_call(args):
    a, b = T.dscalars("a", "b")
    f = ag.function([a, b], a * b, backend="cpu", fusion=True)
    _native(f)
    assert f(*args) == f._call_any(*args) == float(args[0]) * 2.0


def test_keywords_defaults_and_argument_errors():
    a, b = T.dscalars("a", "b")
    f = ag.function([a, ag.In(b, value=3.0)], a - b, backend="cpu", fusion=True)
    _native(f)
    assert f(a=5.0, b=1.0) == 4.0 and f(5.0) == 2.0 and f(5.0, b=4.0) == 1.0
    with pytest.raises(ArignoteTypeError, match="missing input 'a'"):
        f()
    with pytest.raises(ArignoteTypeError, match=r"takes 2 arguments \(a, b\) but 3 were given"):
        f(1.0, 2.0, 3.0)
    with pytest.raises(ArignoteTypeError, match="unexpected keyword argument 'c'"):
        f(1.0, c=2.0)
    with pytest.raises(ArignoteError, match=r"input 'a' of function .*float64.*str"):
        f("x", 1.0)


def test_misaligned_and_subclassed_arrays():
    a, b = T.dscalars("a", "b")
    f = ag.function([a, b], a / b, backend="cpu", fusion=True)
    _native(f)
    raw = np.ndarray((), np.float64, buffer=bytearray(b"\0" + np.float64(6.0).tobytes()), offset=1)
    assert raw.ctypes.data % 8 and raw.flags.aligned is False
    assert f(raw, 2.0) == 3.0

    class Sub(np.ndarray):
        pass
    assert f(np.asarray(6.0).view(Sub), 3.0) == 2.0


def test_dtypes_of_every_kind():
    for make, value, want in [(T.fscalar, np.asarray(1.5, np.float32), np.float32),
                              (T.iscalar, np.asarray(7, np.int32), np.int32),
                              (T.lscalar, np.asarray(-3, np.int64), np.int64)]:
        x = make("x")
        f = ag.function([x], x * 2 + 1, backend="cpu", fusion=True)
        _native(f)
        out = f(value)
        assert out.dtype == want and out == value * 2 + 1
        assert f(value.item()) == value * 2 + 1  # (a Python number: the general call converts)
    p, q = T.bscalar("p"), T.dscalar("q")
    g = ag.function([p, q], T.switch(p, q, -q), backend="cpu", fusion=True)
    _native(g)
    assert g(np.asarray(1, np.int8), 2.0) == 2.0 and g(np.asarray(0, np.int8), 2.0) == -2.0


def test_constants_and_math():
    a = T.dscalar("a")
    f = ag.function([a], T.exp(a) * np.float64(2.5) + T.log1p(a), backend="cpu", fusion=True)
    _native(f)
    for v in (0.0, 0.5, 3.0):
        np.testing.assert_allclose(f(v), np.exp(v) * 2.5 + np.log1p(v), rtol=1e-15)


def test_what_keeps_the_call_in_python():
    a, b = T.dscalars("a", "b")
    v = T.dvector("v")
    s = ag.shared(np.float64(1.0), name="s")
    assert ag.function([v], v * 2, backend="cpu", fusion=True)._entry is None  # (arrays: the direct call)
    assert ag.function([a, b], [a + b], backend="cpu", fusion=True)._entry is None  # (a list of outputs)
    assert ag.function([a], [Out(a * 2, borrow=True)], backend="cpu", fusion=True)._entry is None
    assert ag.function([a], a * s, backend="cpu", fusion=True)._entry is None  # (a shared variable: a lock)
    assert ag.function([a], a, updates=[(s, s + a)], backend="cpu", fusion=True)._entry is None
    assert ag.function([a, b], a + b, backend="numpy")._entry is None


def test_profile_record_copy_and_pickle():
    a, b = T.dscalars("a", "b")
    f = ag.function([a, b], a + b, backend="cpu", fusion=True, name="plus")
    entry = _native(f)
    prof = ag.profile(f, 1.5, 2.5, repeat=3)  # timed step by step through the program
    assert prof.steps and prof.steps[0].seconds > 0 and f.__call__ is entry
    g = f.copy()
    assert g(1.0, 2.0) == 3.0
    h = pickle.loads(pickle.dumps(f))
    assert h(2.0, 2.0) == 4.0 and h._entry is not None
    recorded = record(f)  # every call from now on through the program, timed
    f(1.0, 1.0)
    assert recorded.calls == 1 and f._entry is None


def test_threads_calling_at_once():
    a, b = T.dscalars("a", "b")
    f = ag.function([a, b], a * b + a, backend="cpu", fusion=True)
    _native(f)
    bad = []

    def work(k):
        for i in range(3000):
            x = float(k * 10000 + i)
            if f(x, 2.0) != x * 3.0:
                bad.append((k, i))
    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not bad


def test_turned_off(monkeypatch):
    monkeypatch.setattr(native_entry, "ENABLED", False)
    a, b = T.dscalars("a", "b")
    f = ag.function([a, b], a + b, backend="cpu", fusion=True)
    assert f._entry is None and f(1.0, 2.0) == 3.0
    assert unsafe.LAYOUT is not None  # (on: the layout was read right)
