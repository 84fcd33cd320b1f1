"""``ARIGNOTE_SAFE_CALLS=1`` (:mod:`arignote.compiler.unsafe`): every fast path that
relies on CPython, NumPy or llvmlite internals is off, and results are the same.

The switch is read when the module loads, so each mode runs in a subprocess."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from arignote.compiler import unsafe
from arignote.runtime.memory import MIN_POOLED_SIZE, BufferPool

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Representative functions on the cpu backend: an elementwise chain (pooled size and
# small, views as inputs), reductions, an in-place shared update, a borrowed
# output and Python floats; then what each fast path looks like in this process.
SCRIPT = r"""
import json, sys
import numpy as np
import arignote as ag, arignote.tensor as T
from arignote.compiler import jit, unsafe
from arignote.runtime.function import Out
from arignote.runtime.kernels import MIN_INPLACE_SIZE
from arignote.runtime.memory import MIN_POOLED_SIZE, BufferPool

rng = np.random.default_rng(0)
x, y, a = T.dmatrix("x"), T.dmatrix("y"), T.dscalar("a")
X, Y = rng.standard_normal((64, 80)), rng.standard_normal((64, 80))
out, sources = {}, []

def fn(*args, **kw):
    f = ag.function(*args, backend="cpu", fusion=True, **kw)
    functions.append(f)
    return f
functions = []

chain = fn([x, y], T.exp(x) * y + T.sin(x) - 1.0)
for _ in range(3):  # (pooled outputs dropped and taken again)
    out["chain"] = chain(X, Y)
out["chain_views"] = chain(X[::-1], Y.T.copy().T)
out["chain_small"] = chain(X[:3, :4], Y[:3, :4])
out["sum"] = fn([x, y], (x * y).sum(axis=1))(X, Y)
out["max"] = fn([x], x.max())(X)
w = ag.shared(np.ones(MIN_INPLACE_SIZE), "w")
v = T.dvector("v")
update = fn([v], [], updates=[(w, w * 0.5 + v)])
for k in range(3):
    update(np.full(MIN_INPLACE_SIZE, float(k)))
out["update"] = w.get_value()
borrow = fn([x], Out(x * 2.0 + 1.0, borrow=True))
out["borrow_first"] = borrow(X).copy()
out["borrow_second"] = borrow(Y)
scalars = fn([a, x], a * x + a)
out["floats"] = scalars(1.5, X)
out["scalar"] = fn([a], a * a + 1.0)(0.25)

pool = BufferPool()
taken = pool.take((MIN_POOLED_SIZE,), np.dtype("float64"))
del taken
taken = pool.take((MIN_POOLED_SIZE,), np.dtype("float64"))
for f in functions:
    for step in f.program.steps:
        sources.append(getattr(getattr(step[1], "call", None), "source", ""))
report = {
    "active": unsafe.active(),
    "pool_reused": any(taken is h for held in pool.held.values() for h in held),
    "llvm_locked": hasattr(jit._Compiler().run_passes, "_cfn"),
    "reads_objects": any("mem[id(" in s for s in sources),
    "reads_ctypes": any(".ctypes.data" in s for s in sources),
    "reads_floats": any("__class__ is float" in s for s in sources),
}
np.savez(sys.argv[1], **{k: np.asarray(r) for k, r in out.items()})
print(json.dumps(report))
"""


def _run(tmp_path, safe):
    path = str(tmp_path / ("safe.npz" if safe else "fast.npz"))
    env = {**os.environ, "ARIGNOTE_SAFE_CALLS": "1" if safe else "0", "ARIGNOTE_BACKEND": "cpu"}
    if safe:  # (an empty kernel cache: LLVM really compiles, through llvmlite's locked calls)
        env["ARIGNOTE_CACHE_DIR"] = str(tmp_path / "cache")
    done = subprocess.run([sys.executable, "-c", SCRIPT, path], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    with np.load(path) as data:
        return report, dict(data)


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("safe_calls")
    return _run(tmp, safe=False), _run(tmp, safe=True)


def test_safe_calls_give_the_same_results(both):
    (_, fast), (_, safe) = both
    assert sorted(fast) == sorted(safe)
    for name in fast:
        assert fast[name].dtype == safe[name].dtype, name
        np.testing.assert_array_equal(fast[name], safe[name], err_msg=name)


def test_safe_calls_turn_every_fast_path_off(both):
    (fast, _), (safe, _) = both
    assert safe["active"] == dict.fromkeys(safe["active"], False)
    assert not safe["pool_reused"] and safe["llvm_locked"]
    # the generated launch code still runs, reading pointers the official way
    assert safe["reads_ctypes"] and not safe["reads_objects"] and not safe["reads_floats"]
    # (and the fast paths are really on otherwise, so the comparison means something)
    if all(fast["active"].values()):
        assert fast["pool_reused"] and not fast["llvm_locked"]
        assert fast["reads_objects"] and fast["reads_floats"] and not fast["reads_ctypes"]


def test_this_process_agrees_with_the_switch():
    assert unsafe.SAFE == (os.environ.get("ARIGNOTE_SAFE_CALLS") == "1")
    assert not unsafe.SAFE or not any(unsafe.active().values())
    a = np.arange(12.0).reshape(3, 4)[1:, ::-2]
    assert unsafe.data_pointer(a) == a.ctypes.data
    pool = BufferPool()
    taken = pool.take((MIN_POOLED_SIZE,), np.dtype("float64"))
    assert bool(pool.held) == unsafe.REUSE  # safe: allocated, never kept for reuse
    assert taken.shape == (MIN_POOLED_SIZE,)
