"""The native thread pool (arignote.runtime.threads.NativePool): chunked kernels give the
bits one call over the whole range gives, error flags still raise, two Python threads
share it safely, idle workers sleep, and the interpreter exits cleanly with it started."""
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import arignote as ag
import arignote.tensor as T
from arignote.compiler import pool_ir
from arignote.errors import ArignoteError
from arignote.runtime import native_call, native_words, threads

pytestmark = [
    pytest.mark.skipif(pool_ir.futex_number() is None, reason="no futex: the Python pool runs chunks"),
    pytest.mark.skipif(os.environ.get("ARIGNOTE_BACKEND", "cpu") != "cpu", reason="cpu kernels only"),
]

W, C = threads.MIN_PARALLEL_WORK, threads.MIN_CHUNK_WORK
#: empty, tiny, around the split threshold and chunk boundaries, large
SIZES = [0, 1, 2, W - 1, W, W + 1, 3 * C - 1, 3 * C + 1, 5 * C, (1 << 18) + 3]


def _launch(f):
    """The launcher and runner of ``f``'s kernel step."""
    (step,) = [run for _, run, *_ in f.program.steps if hasattr(run, "launcher")]
    return step.launcher, step.runner


def test_the_pool_starts_and_compiles():
    pool = threads.native_pool()
    assert pool is not None and pool.run_address
    assert len(pool.threads) == threads.n_threads() - 1
    assert native_call._runner() is not None  # (the call sequence with its parallel entry)


def test_every_chunk_runs_once_per_dispatch():
    """The claim protocol, job after job: a Python callback as the "kernel" notes each chunk
    it gets (on the caller or a worker)."""
    import ctypes
    from arignote.compiler.jit import KERNEL_CFUNC
    seen = []
    note = KERNEL_CFUNC(lambda shape, data, strides, start, end: seen.append((start, end)))
    fn = ctypes.cast(note, ctypes.c_void_p).value
    pool = threads.native_pool()
    for job in range(200):
        n = job % 70
        bounds = (ctypes.c_int64 * (n + 1))(*[3 * k + job for k in range(n + 1)])
        seen.clear()
        pool.run(fn, (0, 0, 0), ctypes.addressof(bounds), n)
        assert sorted(seen) == [(3 * k + job, 3 * k + job + 3) for k in range(n)], job


@pytest.mark.parametrize("rows", [False, True])
def test_chunks_on_the_pool_are_bitwise_one_call(rows):
    """Elementwise, and a reduction along rows (the chunked axis is the rows): the pool's
    chunks, the fast runner's split and one call over everything agree bit for bit."""
    a, b = (T.fmatrix("a"), T.fmatrix("b")) if rows else (T.fvector("a"), T.fvector("b"))
    expr = T.tanh(a) * b - a / 3
    f = ag.function([a, b], expr.sum(axis=1) if rows else expr, fusion=True)  # (one kernel)
    rng = np.random.default_rng(0)
    for n in SIZES:
        shape = (n, 7) if rows else (n,)
        x, y = rng.standard_normal(shape, dtype=np.float32), rng.standard_normal(shape, dtype=np.float32)
        got = [f(x, y) for _ in range(3)]  # (first call, fast runner, replay)
        la, runner = _launch(f)
        whole, pooled = la.prepare([x, y]), la.prepare([x, y])
        whole.fn(*whole.args, 0, whole.end)
        runner(pooled)
        assert np.array_equal(pooled.outputs[0], whole.outputs[0]), n
        for g in got:
            assert g.dtype == whole.outputs[0].dtype and np.array_equal(g, whole.outputs[0]), n
        la.release(whole)
        la.release(pooled)


def test_a_split_replay_stays_one_native_call():
    a, b = T.fvector("a"), T.fvector("b")
    calls = ag.shared(np.float32(0), name="calls")  # (a second step: not one direct kernel)
    f = ag.function([a, b], a - np.float32(0.1) * b, updates=[(calls, calls + 1)])
    x = np.arange(4 * W, dtype=np.float32)
    for _ in range(3):
        out = f(x, x)
    assert np.array_equal(out, x - np.float32(0.1) * x) and calls.get_value() == 3
    (replay,) = [r for r in f.program._replayer.replays.values() if r]
    assert all(item.__class__ is native_words.Native for item in replay.items)
    assert native_words._PARALLEL in replay.items[0].array


def test_an_error_flag_of_a_chunked_kernel_raises_and_leaves_shared_variables():
    """Integer powers raise on negative exponents: a chunk on a worker sets the flag. With
    an update (a step by step run), and without (a replay: its parallel entry stops)."""
    n = 4 * W
    s = ag.shared(np.ones(n, np.int32), "s")
    x, i = T.ivector("x"), T.ivector("i")
    updating = ag.function([x, i], x ** i - 1, updates=[(s, s + x ** i)])
    replayed = ag.function([x, i], [x ** i - 1, (x * 3)[::2] + 1])  # (two kernels: not a direct call)
    base, exps = np.full(n, 2, np.int32), np.ones(n, np.int32)
    for _ in range(3):  # (recorded, then replayed)
        updating(base, exps)
        replayed(base, exps)
    (replay,) = [r for r in replayed.program._replayer.replays.values() if r]
    assert native_words._PARALLEL in replay.items[0].array
    before = s.get_value()
    for where in (0, n // 2 + 5, n - 1):  # (a chunk of the caller's and the workers')
        bad = exps.copy()
        bad[where] = -1
        for f in (updating, replayed):
            with pytest.raises(ArignoteError, match="negative"):
                f(base, bad)
        assert np.array_equal(s.get_value(), before)
    assert np.array_equal(replayed(base, exps)[0], base - 1)
    updating(base, exps)
    assert np.array_equal(s.get_value(), before + 2)


def test_two_python_threads_share_the_pool():
    """Calls from two threads at once: neither waits on the other's job nor mixes it up
    (one gets the pool, the other runs its chunks alone: the same chunks, the same bits)."""
    a, b = T.fvector("a"), T.fvector("b")
    fs = [ag.function([a, b], a * b + k) for k in range(2)]
    xs = [np.random.default_rng(k).standard_normal(2 * W + k, dtype=np.float32) for k in range(2)]
    want = [x * x + k for k, x in enumerate(xs)]
    errors = []

    def hammer(k):
        try:
            for _ in range(300):
                assert np.array_equal(fs[k](xs[k], xs[k]), want[k])
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    workers = [threading.Thread(target=hammer, args=(k,)) for k in range(2)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in workers), "deadlock"
    assert not errors, errors


def _cpu_ticks(tid):
    with open(f"/proc/self/task/{tid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


@pytest.mark.skipif(threads.n_threads() < 2 or not os.path.exists("/proc/self/task"),
                    reason="no workers, or no /proc")
def test_idle_workers_sleep():
    pool = threads.native_pool()
    time.sleep(0.05)  # (past their spin)
    tids = [t.native_id for t in pool.threads]
    before = [_cpu_ticks(t) for t in tids]
    time.sleep(0.3)
    assert all(_cpu_ticks(t) - b <= 3 for t, b in zip(tids, before))  # (30 ms of 300)


def test_interpreter_exits_cleanly_with_the_pool_started():
    code = ("import numpy as np, arignote as ag, arignote.tensor as T\n"
            "from arignote.runtime import threads\n"
            "a = T.fvector('a'); f = ag.function([a], a * 2)\n"
            f"x = np.ones({4 * W}, np.float32)\n"
            "for _ in range(3): assert (f(x) == 2).all()\n"
            "assert threads._native and threads._native[0] is not None\n"
            "print('ok')\n")
    env = dict(os.environ, ARIGNOTE_BACKEND="cpu")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok" and "Traceback" not in done.stderr
