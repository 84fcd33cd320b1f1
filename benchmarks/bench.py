"""``make bench``: Arignote against NumPy (and its peers, when installed).

Each workload runs as hand-written NumPy, on the ``numpy`` reference
executor, on the ``cpu`` backend unfused (one kernel per op) and fused, and
with JAX, numexpr or PyTorch where those happen to be installed (nothing is
installed for them). Reported: median times; speed-ups over NumPy and of
fused over unfused; GB/s, and for memory-bound workloads the fraction of the
best STREAM-triad (W5) bandwidth measured; the compile time of the W4 and
W8 steps with a cold and a warm kernel cache (each in a fresh process); the
targets, met or missed. Output: tables on stdout, ``bench.json`` and, with
matplotlib (the ``bench`` extra), ``bench.png`` (fused vs unfused).

OpenBLAS slows down when OPENBLAS_CORETYPE is forced, so this script unsets
it (and OPENBLAS_L2_SIZE) for its own process and says so.

Ratios from a loaded machine mean nothing (a busy core slows one variant and
not the next), so the script first waits for a quiet machine (load average
and a calibration loop) and refuses to measure if none comes, unless
``--allow-loaded``: then its output says the machine was loaded.

    python benchmarks/bench.py [--quick] [--only W1 W2 ...] [--out DIR] [--allow-loaded]
"""
import os
import sys

_FORCED = {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ}
if _FORCED and "--keep-openblas-env" not in sys.argv:  # re-exec before NumPy loads BLAS
    env = {k: v for k, v in os.environ.items() if k not in _FORCED}
    env["ARIGNOTE_BENCH_UNSET"] = ",".join(f"{k}={v}" for k, v in _FORCED.items())
    os.execve(sys.executable, [sys.executable, *sys.argv], env)

import argparse  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import textwrap  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402

import numpy as np  # noqa: E402

import arignote as ag  # noqa: E402
import arignote.tensor as T  # noqa: E402
from arignote.runtime.profile import step_kinds, unexpected_performs  # noqa: E402
import dropout_w9  # noqa: E402  (next to this script)
import lenet_w10  # noqa: E402  (next to this script)
import lstm_w8  # noqa: E402  (next to this script)
import quiet  # noqa: E402  (next to this script)

VARIANTS = ("numpy_hand", "reference", "cpu_unfused", "cpu_fused")
COMPILED = {"reference": dict(backend="numpy"), "cpu_unfused": dict(backend="cpu", fusion=False),
            "cpu_fused": dict(backend="cpu", fusion=True)}
PEERS = tuple(p for p in ("jax", "numexpr", "torch") if importlib.util.find_spec(p))
SHORT = {"numpy_hand": "numpy", "reference": "reference", "cpu_unfused": "unfused",
         "cpu_fused": "fused"}


def median_times(calls, repeat, min_time=0.2):
    """{name: median seconds per call} of ``calls`` ({name: fn}, each already called once),
    over ``repeat`` samples each lasting at least ``min_time / repeat``.

    The samples are interleaved, one of each call in turn: on a shared machine a load
    that comes and goes then weighs on every variant alike, and their ratios hold."""
    numbers = {}
    for name, fn in calls.items():
        # calls per sample from the fastest of up to 3 calls: the second call of a compiled
        # function records its native replay, and sized by that one slow call, samples of a
        # few calls would time mostly the caches the other variants left behind
        tries = []
        while len(tries) < 3 and sum(tries) < min_time / repeat:
            start = time.perf_counter()
            fn()
            tries.append(time.perf_counter() - start)
        numbers[name] = max(1, int(min_time / repeat / max(min(tries), 1e-7)))
    samples = {name: [] for name in calls}
    for _ in range(repeat):
        for name, fn in calls.items():
            start = time.perf_counter()
            for _ in range(numbers[name]):
                fn()
            samples[name].append((time.perf_counter() - start) / numbers[name])
    return {name: statistics.median(times) for name, times in samples.items()}


# ------------------------------------------------------------------ workloads
# Each: hand (NumPy), build(options) -> a call of the compiled function, bytes moved
# per call (None: not bandwidth-bound), memory_bound, and peers: {name: () -> call}.

def w1(n):
    rng = np.random.default_rng(0)
    a, b, c = (rng.standard_normal(n, dtype=np.float32) for _ in range(3))

    def hand():
        return np.tanh(a * b + c) * (1 / (1 + np.exp(-(a - c)))) + np.float32(0.5) * np.exp(-np.abs(b))

    def chain(m):  # the same expression in a peer's namespace
        return lambda x, y, z: m.tanh(x * y + z) * (1 / (1 + m.exp(-(x - z)))) + 0.5 * m.exp(-abs(y))

    x, y, z = T.fvectors("a", "b", "c")
    expr = T.tanh(x * y + z) * T.sigmoid(x - z) + 0.5 * T.exp(-abs(y))
    ne = "tanh(a*b+c) * (1/(1+exp(-(a-c)))) + 0.5*exp(-abs(b))"
    return dict(hand=hand, build=lambda kw: _bind(ag.function([x, y, z], expr, **kw), a, b, c),
                bytes=4 * n * 4, memory_bound=False,
                peers=dict(jax=lambda: _jax(chain(_jnp()), a, b, c),
                           numexpr=lambda: _numexpr(ne, a=a, b=b, c=c),
                           torch=lambda: _torch(chain(_import("torch")), a, b, c)))


def w2(rows, cols):
    x = np.random.default_rng(0).standard_normal((rows, cols), dtype=np.float32)

    def hand():
        e = np.exp(x - x.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    v = T.fmatrix("x")
    return dict(hand=hand, build=lambda kw: _bind(ag.function([v], T.nnet.softmax(v), **kw), x),
                bytes=2 * x.nbytes, memory_bound=True,
                peers=dict(jax=lambda: _jax(lambda m: _import("jax").nn.softmax(m, axis=1), x),
                           torch=lambda: _torch(lambda m: m.softmax(dim=1), x)))


#: the softmax cross-entropy, three ways users write it: ``log_softmax`` of integer labels,
#: Theano's tutorials' ``log(softmax(z))[arange(n), y]``, and softmax by hand with one-hot
#: float labels ``Y`` (``-mean(sum(Y * log(e / sum(e)), axis=1))``, ``e = exp(z - max(z))``)
LOSSES = ("log_softmax", "tutorial", "by_hand")


def _sgd_model(sizes, batch, act=T.tanh, loss="log_softmax"):
    """An SGD step of a tanh MLP with a softmax cross-entropy written as ``loss`` says
    (one of :data:`LOSSES`)."""
    rng = np.random.default_rng(0)
    xs = rng.standard_normal((batch, sizes[0]), dtype=np.float32)
    ys = rng.integers(0, sizes[-1], batch).astype(np.int32)
    Ws = [(rng.standard_normal((a, b)) * a ** -0.5).astype(np.float32) for a, b in zip(sizes, sizes[1:])]
    bs = [np.zeros(b, np.float32) for b in sizes[1:]]
    one_hot = np.eye(sizes[-1], dtype=np.float32)[ys]
    labels = one_hot if loss == "by_hand" else ys

    def hand():  # forward and backward by hand, as a NumPy user would write it (new arrays out)
        hs, h = [xs], xs
        for k, (W, b) in enumerate(zip(Ws, bs)):
            z = h @ W + b
            h = z if k == len(Ws) - 1 else np.tanh(z)
            hs.append(h)
        z = hs[-1]
        e = np.exp(z - z.max(axis=1, keepdims=True))
        g = e / e.sum(axis=1, keepdims=True)
        if loss == "by_hand":
            g -= one_hot
        else:
            g[np.arange(batch), ys] -= 1
        g /= batch
        new = []
        for k in range(len(Ws) - 1, -1, -1):
            gW, gb = hs[k].T @ g, g.sum(axis=0)
            if k:
                g = (g @ Ws[k].T) * (1 - hs[k] ** 2)
            new += [Ws[k] - np.float32(0.1) * gW, bs[k] - np.float32(0.1) * gb]
        return new

    def graph():
        """(inputs, cost, updates) of the symbolic SGD step."""
        x, y = T.fmatrix("x"), (T.fmatrix("Y") if loss == "by_hand" else T.ivector("y"))
        params, h = [], x
        for k, (W, b) in enumerate(zip(Ws, bs)):
            Wv, bv = ag.shared(W.copy(), name=f"W{k}"), ag.shared(b.copy(), name=f"b{k}")
            params += [Wv, bv]
            h = T.dot(h, Wv) + bv
            if k < len(Ws) - 1:
                h = act(h)
        if loss == "by_hand":
            e = T.exp(h - T.max(h, axis=1, keepdims=True))
            cost = -T.mean(T.sum(y * T.log(e / T.sum(e, axis=1, keepdims=True)), axis=1))
        else:
            logp = T.log(T.nnet.softmax(h)) if loss == "tutorial" else T.nnet.log_softmax(h)
            cost = -T.mean(logp[T.arange(y.shape[0]), y])
        grads = ag.grad(cost, params)
        return [x, y], cost, [(p, p - 0.1 * g) for p, g in zip(params, grads)]

    def build(kw):
        inputs, cost, updates = graph()
        return _bind(ag.function(inputs, cost, updates=updates, **kw), xs, labels)

    return dict(hand=hand, build=build, graph=graph, bytes=None, memory_bound=False,
                peers=dict(jax=lambda: _jax_sgd(Ws, bs, xs, ys)))


def w5(n):
    rng = np.random.default_rng(0)
    b, c = rng.standard_normal(n, dtype=np.float32), rng.standard_normal(n, dtype=np.float32)
    out = np.empty_like(b)
    s = np.float32(3.0)

    def hand():
        np.multiply(c, s, out=out)
        np.add(b, out, out=out)

    bv, cv = T.fvectors("b", "c")
    triad = ag.Out(bv + 3.0 * cv, borrow=True)  # the output's storage is reused call after call
    return dict(hand=hand, build=lambda kw: _bind(ag.function([bv, cv], triad, **kw), b, c),
                bytes=3 * 4 * n, memory_bound=True,
                peers=dict(jax=lambda: _jax(lambda x, y: x + 3.0 * y, b, c),
                           numexpr=lambda: _numexpr("b + s*c", out=out, b=b, c=c, s=s),
                           torch=lambda: _torch(lambda x, y: x + 3.0 * y, b, c)))


def w8():
    """An LSTM SGD step through time: sequence 64, batch 32, input 64, hidden 128 (lstm_w8.py)."""
    xs, ys, params = lstm_w8.problem()

    def graph():
        inputs, cost, _, updates = lstm_w8.graph(params)
        return inputs, cost, updates

    def build(kw):
        inputs, cost, updates = graph()
        return _bind(ag.function(inputs, cost, updates=updates, **kw), xs, ys)

    return dict(hand=lambda: lstm_w8.numpy_step(params, xs, ys), build=build, graph=graph,
                bytes=None, memory_bound=False, peers={})


def w9(n):
    """Dropout forward (keep 0.8) on ``n`` float32 with fresh random numbers per call
    (dropout_w9.py), against NumPy's ``default_rng().random`` and a multiply."""
    x, hand = dropout_w9.problem(n), dropout_w9.numpy_step()

    def build(kw):
        inputs, output = dropout_w9.graph()
        return _bind(ag.function(inputs, output, **kw), x)

    return dict(hand=lambda: hand(x), build=build, bytes=dropout_w9.bytes_moved(n),
                memory_bound=False, peers={})


def w10():
    """A LeNet-style SGD step: 64x1x28x28, conv 20 5x5, pool, conv 50 5x5, pool, dense 500,
    dense 10 (lenet_w10.py), against NumPy im2col; GFLOP/s from its products."""
    xs, ys, params = lenet_w10.problem()

    def graph():
        inputs, cost, _, updates = lenet_w10.graph(params)
        return inputs, cost, updates

    def build(kw):
        inputs, cost, updates = graph()
        return _bind(ag.function(inputs, cost, updates=updates, **kw), xs, ys)

    return dict(hand=lambda: lenet_w10.numpy_step(params, xs, ys), build=build, graph=graph,
                bytes=None, flops=lenet_w10.flops(), memory_bound=False, peers={})


def call_overhead():
    a, b = T.dscalars("a", "b")
    return dict(hand=lambda: 1.5 + 2.5, build=lambda kw: _bind(ag.function([a, b], a + b, **kw), 1.5, 2.5),
                bytes=None, memory_bound=False, peers={})


def workloads(quick):
    n = 1 << (20 if quick else 24)
    return {
        "W1": ("elementwise chain", w1(n)),
        "W2": ("row softmax", w2(512 if quick else 4096, 1024)),
        "W3": ("logistic regression step", _sgd_model([784, 10], 256)),
        "W3t": ("logistic regression step, log(softmax) as in the tutorials",
                _sgd_model([784, 10], 256, loss="tutorial")),
        "W3h": ("logistic regression step, softmax by hand, one-hot labels",
                _sgd_model([784, 10], 256, loss="by_hand")),
        "W4": ("MLP 784-512-512-10 step", _sgd_model([784, 512, 512, 10], 256)),
        "W5": ("STREAM triad", w5(n)),
        "W8": ("LSTM BPTT step", w8()),
        "W9": ("dropout forward", w9(n)),
        "W10": ("LeNet conv step", w10()),
        "CALL": ("call overhead a+b", call_overhead()),
    }


def _bind(f, *args):
    def run():
        return f(*args)
    run.function, run.args = f, args  # (for the count of its steps, and profiles)
    return run


# ------------------------------------------------------------------ optional peers

def _import(name):
    return importlib.import_module(name)


def _jnp():
    return _import("jax.numpy")


def _jax(fn, *arrays):
    jax = _import("jax")
    f, args = jax.jit(fn), [jax.device_put(a) for a in arrays]
    return lambda: f(*args).block_until_ready()


def _jax_sgd(Ws, bs, xs, ys):
    jax, jnp = _import("jax"), _jnp()

    def cost(params, x, y):
        h = x
        for k in range(0, len(params), 2):
            h = h @ params[k] + params[k + 1]
            if k + 2 < len(params):
                h = jnp.tanh(h)
        return -jnp.mean(jax.nn.log_softmax(h)[jnp.arange(y.shape[0]), y])

    @jax.jit
    def step(params, x, y):
        c, g = jax.value_and_grad(cost)(params, x, y)
        return c, [p - 0.1 * d for p, d in zip(params, g)]

    params = [jax.device_put(a) for pair in zip(Ws, bs) for a in pair]
    x, y = jax.device_put(xs), jax.device_put(ys)
    return lambda: jax.block_until_ready(step(params, x, y))


def _numexpr(expr, out=None, **arrays):
    ne = _import("numexpr")
    return lambda: ne.evaluate(expr, local_dict=arrays, out=out)


def _torch(fn, *arrays):
    torch = _import("torch")
    f, args = torch.compile(fn), [torch.from_numpy(a) for a in arrays]
    return lambda: f(*args)


# ------------------------------------------------------------------ measuring

def measure(quick, only):
    """{workload id: {variant: median seconds or None, variant_error: why}} plus metadata."""
    results = {}
    for wid, (title, w) in workloads(quick).items():
        if only and not any(wid == o or title.startswith(o) for o in only):  # W1 is not W10
            continue
        row = dict(title=title, bytes=w["bytes"], flops=w.get("flops"), memory_bound=w["memory_bound"])
        calls = {v: (lambda v=v: w["hand"] if v == "numpy_hand" else w["build"](COMPILED[v]))
                 for v in VARIANTS}
        calls.update({p: w["peers"][p] for p in PEERS if p in w["peers"]})
        ready = {}
        for variant, make in calls.items():
            try:
                ready[variant] = make()
                ready[variant]()  # warm up (and compile); a variant that cannot run fails here
            except Exception as e:  # noqa: BLE001 - a variant that cannot run is reported, not fatal
                ready.pop(variant, None)
                row[variant] = None
                row[f"{variant}_error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:100]}"
        fused = getattr(ready.get("cpu_fused"), "function", None)
        if fused is not None:  # (warmed up: the programs of its loops are built)
            row["steps"] = dict(Counter(kind for _, kind, _ in step_kinds(fused)))
            row["steps"]["perform, not host-side"] = len(unexpected_performs(fused))
        row.update(median_times(ready, repeat=5 if quick else 11))
        print(f"  measured {wid} {title}", file=sys.stderr, flush=True)
        results[wid] = row
    return results


def derive(results):
    """Speed-ups, fused over unfused, GB/s and the fraction of the best triad bandwidth."""
    triad = results.get("W5")
    best = max((triad["bytes"] / triad[v] for v in VARIANTS + PEERS if triad and triad.get(v)),
               default=None)
    for row in results.values():
        base = row.get("numpy_hand")
        row["speedup"] = {v: base / row[v] for v in VARIANTS[1:] + PEERS if base and row.get(v)}
        if row.get("cpu_fused") and row.get("cpu_unfused"):
            row["fused_over_unfused"] = row["cpu_unfused"] / row["cpu_fused"]
        if row.get("flops"):
            row["gflops"] = {v: row["flops"] / row[v] / 1e9 for v in VARIANTS + PEERS if row.get(v)}
        if row["bytes"]:
            row["gbs"] = {v: row["bytes"] / row[v] / 1e9 for v in VARIANTS + PEERS if row.get(v)}
            if best and row["memory_bound"]:
                row["triad_fraction"] = {v: g * 1e9 / best for v, g in row["gbs"].items()}
    return best


COMPILE_TIMED = ("W4", "W8", "W10")  # the workloads whose compile time is measured


def compile_once(wid):
    """In a fresh process (``--compile-once W4``): seconds a user waits for that workload's
    step on cpu, as the peers were measured: building the graph and the function and the
    first call, less a steady call (``seconds``); ``function`` times ``function(...)`` alone.

    The process is set up first, as any process that compiles is: the backend's
    modules imported and LLVM's target machine made (``setup``, reported apart)."""
    start = time.perf_counter()
    from arignote.compiler import jit
    from arignote.runtime import cpu  # noqa: F401
    jit.target_id()
    setup = time.perf_counter() - start
    workload = workloads(quick=True)[wid][1]
    built, real = {}, ag.function

    def function(*args, **kwargs):  # the workload's own build, its function() timed apart
        start = time.perf_counter()
        f = real(*args, **kwargs)
        built["function"] = time.perf_counter() - start
        return f

    start = time.perf_counter()
    ag.function = function
    try:
        run = workload["build"](COMPILED["cpu_fused"])
    finally:
        ag.function = real
    run()
    first = time.perf_counter() - start
    steady = []
    for _ in range(5):
        start = time.perf_counter()
        run()
        steady.append(time.perf_counter() - start)
    print(json.dumps({"seconds": first - statistics.median(steady), "function": built["function"],
                      "setup": setup}))


def compile_times(repeat, wid):
    """Median seconds to compile the step of ``wid`` in a fresh process: cold (an empty
    ARIGNOTE_CACHE_DIR each time) and warm (a cache that already holds its kernels)."""
    def run(directory):
        env = dict(os.environ, ARIGNOTE_CACHE_DIR=directory)
        done = subprocess.run([sys.executable, os.path.abspath(__file__), "--compile-once", wid,
                               "--keep-openblas-env"], env=env, capture_output=True, text=True,
                              check=True)
        return json.loads(done.stdout.splitlines()[-1])

    times = {"cold": [], "warm": [], "setup": [], "cold_function": [], "warm_function": []}
    with tempfile.TemporaryDirectory() as warm_dir:
        for _ in range(repeat):
            with tempfile.TemporaryDirectory() as cold_dir:
                got = run(cold_dir)
                times["cold"].append(got["seconds"])
                times["cold_function"].append(got["function"])
        run(warm_dir)
        for _ in range(repeat):
            got = run(warm_dir)
            times["warm"].append(got["seconds"])
            times["warm_function"].append(got["function"])
            times["setup"].append(got["setup"])
    return {k: statistics.median(v) for k, v in times.items()}


# ------------------------------------------------------------------ reporting

TARGETS = [  # (what, value from (results, compile times by workload, best bandwidth),
    #            goal, at least?)
    ("W1 fused over NumPy", lambda r, c, b: r["W1"]["speedup"]["cpu_fused"], 5.0, True),
    ("W1 fused over unfused", lambda r, c, b: r["W1"]["fused_over_unfused"], 3.0, True),
    ("W2 fused over NumPy", lambda r, c, b: r["W2"]["speedup"]["cpu_fused"], 9.0, True),
    ("W3 fused over NumPy", lambda r, c, b: r["W3"]["speedup"]["cpu_fused"], 1.25, True),
    ("W3t fused over NumPy", lambda r, c, b: r["W3t"]["speedup"]["cpu_fused"], 1.25, True),
    ("W3h fused over NumPy", lambda r, c, b: r["W3h"]["speedup"]["cpu_fused"], 1.25, True),
    ("W4 fused over NumPy", lambda r, c, b: r["W4"]["speedup"]["cpu_fused"], 1.25, True),
    ("W5 fused / best triad GB/s", lambda r, c, b: r["W5"]["triad_fraction"]["cpu_fused"], 0.9, True),
    ("W4 to its first call, cold (s)", lambda r, c, b: c["W4"]["cold"], 0.3, False),
    ("W4 to its first call, warm (s)", lambda r, c, b: c["W4"]["warm"], 0.05, False),
    ("call of a + b, fused (us)", lambda r, c, b: r["CALL"]["cpu_fused"] * 1e6, 1.0, False),
    ("W8 fused over NumPy", lambda r, c, b: r["W8"]["speedup"]["cpu_fused"], 1.6, True),
    ("W8 to its first call, cold (s)", lambda r, c, b: c["W8"]["cold"], 1.0, False),
    ("W9 fused over NumPy", lambda r, c, b: r["W9"]["speedup"]["cpu_fused"], 5.0, True),
    ("W10 fused over NumPy", lambda r, c, b: r["W10"]["speedup"]["cpu_fused"], 1.6, True),
    ("W10 to its first call, cold (s)", lambda r, c, b: c["W10"]["cold"], 1.0, False),
]


def _table(header, rows):
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    for line in [header, ["-" * w for w in widths], *rows]:
        print("  ".join(str(x).ljust(w) if k == 0 else str(x).rjust(w)
                        for k, (x, w) in enumerate(zip(line, widths))))


def _time(t):
    return "n/a" if not t else f"{t * 1e6:.1f} us" if t < 1e-3 else f"{t * 1e3:.2f} ms"


def report(results, best, compiled):
    cols = VARIANTS + PEERS
    print("\nmedian time per call")
    _table(["workload"] + [SHORT.get(v, v) for v in cols],
           [[f"{w} {r['title']}"] + [_time(r.get(v)) for v in cols] for w, r in results.items()])
    print("\nspeed-up over NumPy (higher is better), fused over unfused, bandwidth of fused")
    _table(["workload"] + [SHORT.get(v, v) for v in cols[1:]] + ["fused/unfused", "GB/s", "of triad"],
           [[w] + [f"{r['speedup'][v]:.2f}x" if v in r["speedup"] else "n/a" for v in cols[1:]]
            + [f"{r['fused_over_unfused']:.2f}x" if "fused_over_unfused" in r else "n/a",
               f"{r['gbs']['cpu_fused']:.1f}" if "cpu_fused" in r.get("gbs", {}) else "",
               f"{r['triad_fraction']['cpu_fused']:.0%}" if "cpu_fused" in r.get("triad_fraction", {})
               else ""]
            for w, r in results.items()])
    for w, r in results.items():
        for k, why in r.items():
            if k.endswith("_error"):
                print(f"  {w} {k[:-6]} failed: {why}")
    for w, r in results.items():
        if r.get("gflops"):
            print(f"  {w} GFLOP/s: "
                  + ", ".join(f"{SHORT.get(v, v)} {g:.1f}" for v, g in r["gflops"].items()))
    counted = {w: r["steps"] for w, r in results.items() if r.get("steps")}
    if counted:
        kinds = ["kernel", "library", "perform", "perform, not host-side"]
        print("\nsteps of each fused program (inner programs of loops included)")
        _table(["workload"] + kinds, [[w] + [c.get(k, 0) for k in kinds] for w, c in counted.items()])
    if best:
        print(f"best STREAM triad bandwidth: {best / 1e9:.1f} GB/s")
    for wid, c in (compiled or {}).items():
        print(f"compile {wid} step (cpu, fused, fresh process, build + first call - steady call): "
              f"cold {c['cold']:.3f} s, warm {c['warm'] * 1e3:.1f} ms; function() alone "
              f"{c['cold_function']:.3f} s / {c['warm_function'] * 1e3:.1f} ms (after the process's "
              f"one-time setup: imports and LLVM's target machine, {c['setup'] * 1e3:.0f} ms)")
    checks = []
    for what, value, goal, at_least in TARGETS:
        try:
            v = value(results, compiled, best)
        except (KeyError, TypeError):
            continue
        checks.append(dict(target=what, value=v,
                           goal=(">= " if at_least else "<= ") + f"{goal:g}",
                           met=bool(v >= goal if at_least else v <= goal)))
    if checks:
        print("\ntargets")
        _table(["target", "measured", "goal", ""],
               [[c["target"], f"{c['value']:.3g}", c["goal"], "met" if c["met"] else "MISSED"]
                for c in checks])
    return checks


def _chart(results, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no chart (pip install -e '.[bench]')")
        return
    # the call overhead is not a speed-up over NumPy: left out
    names = [w for w, r in results.items() if w != "CALL" and r.get("speedup")]
    if not names:
        print("no workload to chart")
        return
    fig, ax = plt.subplots(figsize=(max(9, 1.5 * len(names)), 4.5))
    for k, (v, color) in enumerate([("cpu_unfused", "#999999"), ("cpu_fused", "#1f77b4")]):
        speed = [results[w]["speedup"].get(v, 0) for w in names]
        bars = ax.bar([i + (k - 0.5) * 0.38 for i in range(len(names))], speed, 0.38,
                      label=SHORT[v], color=color)
        if v == "cpu_fused":
            ax.bar_label(bars, [f"{results[w].get('fused_over_unfused', 0):.1f}x vs unfused"
                                for w in names], fontsize=8)
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_yscale("log")
    ax.set_xticks(range(len(names)),  # each bar says what it measures, not only its id
                  [f"{w}\n" + textwrap.fill(results[w]["title"], 16) for w in names], fontsize=8)
    ax.set_ylabel("speed-up over NumPy (log)")
    ax.set_title("Arignote cpu backend: fused vs unfused")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    print(f"chart: {path}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller problems, fewer repeats")
    parser.add_argument("--only", nargs="*", help="workload ids, e.g. W1 W5 (CALL: call overhead)")
    parser.add_argument("--out", default="bench_results")
    parser.add_argument("--no-compile", action="store_true", help="skip the compile-time runs (W4, W8)")
    parser.add_argument("--compile-once", metavar="WORKLOAD", help=argparse.SUPPRESS)
    parser.add_argument("--keep-openblas-env", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--allow-loaded", action="store_true",
                        help="measure and report even on a loaded machine (the output says so)")
    parser.add_argument("--max-load", type=float, default=quiet.default_max_load(),
                        help="the 1-minute load average above which the machine counts as loaded")
    parser.add_argument("--wait", type=float, default=120.0,
                        help="seconds to wait for a quiet machine before refusing (default 120)")
    args = parser.parse_args(argv)
    if args.compile_once:
        return compile_once(args.compile_once)
    unset = os.environ.get("ARIGNOTE_BENCH_UNSET")
    print(f"OPENBLAS_CORETYPE: {'was set (' + unset + '); unset for this run' if unset else 'not set'}")
    print(f"peers installed: {', '.join(PEERS) or 'none (JAX, numexpr and PyTorch columns omitted)'}")
    load, spread, calm = quiet.wait_until_quiet(args.max_load, 0 if args.allow_loaded else args.wait)
    if not calm and not args.allow_loaded:
        raise SystemExit(f"bench: the machine stayed loaded for {args.wait:g} s "
                         f"({quiet.describe(load, spread, args.max_load)}); ratios measured now "
                         f"would be noise. Rerun on a quiet machine, or pass --allow-loaded "
                         f"(make bench BENCH_ARGS=--allow-loaded) to report them marked as loaded")
    if not calm:
        print(f"LOADED MACHINE ({quiet.describe(load, spread, args.max_load)}): "
              f"the times and ratios below are unreliable")
    results = measure(args.quick, args.only)
    best = derive(results)
    compiled = None if args.no_compile else {
        wid: compile_times(1 if args.quick else 3, wid) for wid in COMPILE_TIMED
        if not args.only or wid in results}
    checks = report(results, best, compiled)
    os.makedirs(args.out, exist_ok=True)
    machine = dict(platform=platform.platform(), processor=platform.processor(), cores=os.cpu_count(),
                   python=platform.python_version(), numpy=np.__version__, load_average=load,
                   calibration_spread=spread, loaded=not calm)
    with open(os.path.join(args.out, "bench.json"), "w") as f:
        json.dump(dict(openblas_env_unset=unset, quick=args.quick, machine=machine, peers=PEERS,
                       best_triad_gbs=best and best / 1e9, compile_s=compiled, results=results,
                       targets=checks), f, indent=2)
    print(f"json: {os.path.join(args.out, 'bench.json')}")
    _chart(results, os.path.join(args.out, "bench.png"))
    return results


if __name__ == "__main__":
    main()
