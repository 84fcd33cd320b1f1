"""``make bench``: Arignote against NumPy on the workloads users run.

Each workload runs as hand-written NumPy, on the ``numpy`` reference
executor, and on the ``cpu`` backend unfused (one kernel per op) and fused.
The table gives median times, GB/s and the fraction of the best STREAM-triad
bandwidth for memory-bound workloads, and speed-ups over NumPy; the results
also go to JSON and, when matplotlib is installed, a PNG bar chart.

OpenBLAS slows down when OPENBLAS_CORETYPE is forced, so this script unsets
it (and OPENBLAS_L2_SIZE) for its own process and says so.

    python benchmarks/bench.py [--quick] [--only W1 W2 ...] [--out DIR]
"""
import os
import sys

_FORCED = {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ}
if _FORCED and "--keep-openblas-env" not in sys.argv:  # re-exec before NumPy loads BLAS
    env = {k: v for k, v in os.environ.items() if k not in _FORCED}
    env["ARIGNOTE_BENCH_UNSET"] = ",".join(f"{k}={v}" for k, v in _FORCED.items())
    os.execve(sys.executable, [sys.executable, *sys.argv], env)

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

import arignote as ag  # noqa: E402
import arignote.tensor as T  # noqa: E402

VARIANTS = ("numpy_hand", "reference", "cpu_unfused", "cpu_fused")
COMPILED = {"reference": dict(backend="numpy"), "cpu_unfused": dict(backend="cpu", fusion=False),
            "cpu_fused": dict(backend="cpu", fusion=True)}


def median_time(fn, repeat, min_time=0.2):
    """Median seconds per call, over ``repeat`` samples each lasting at least ``min_time / repeat``."""
    fn()  # warm up (and compile)
    start = time.perf_counter()
    fn()
    once = max(time.perf_counter() - start, 1e-7)
    number = max(1, int(min_time / repeat / once))
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        samples.append((time.perf_counter() - start) / number)
    return statistics.median(samples)


# ------------------------------------------------------------------ workloads

def w1(n):
    rng = np.random.default_rng(0)
    a, b, c = (rng.standard_normal(n, dtype=np.float32) for _ in range(3))

    def hand():
        return np.tanh(a * b + c) * (1 / (1 + np.exp(-(a - c)))) + np.float32(0.5) * np.exp(-np.abs(b))

    x, y, z = T.fvectors("a", "b", "c")
    expr = T.tanh(x * y + z) * T.sigmoid(x - z) + 0.5 * T.exp(-abs(y))
    return dict(hand=hand, build=lambda kw: _bind(ag.function([x, y, z], expr, **kw), a, b, c),
                bytes=4 * n * 4, memory_bound=True)


def w2(rows, cols):
    x = np.random.default_rng(0).standard_normal((rows, cols), dtype=np.float32)

    def hand():
        e = np.exp(x - x.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    v = T.fmatrix("x")
    return dict(hand=hand, build=lambda kw: _bind(ag.function([v], T.nnet.softmax(v), **kw), x),
                bytes=2 * x.nbytes, memory_bound=True)


def _sgd_model(sizes, batch, act):
    rng = np.random.default_rng(0)
    xs = rng.standard_normal((batch, sizes[0]), dtype=np.float32)
    ys = rng.integers(0, sizes[-1], batch).astype(np.int32)
    Ws = [(rng.standard_normal((a, b)) * a ** -0.5).astype(np.float32) for a, b in zip(sizes, sizes[1:])]
    bs = [np.zeros(b, np.float32) for b in sizes[1:]]

    def hand():  # forward and backward by hand, as a NumPy user would write it (new arrays out)
        hs, h = [xs], xs
        for k, (W, b) in enumerate(zip(Ws, bs)):
            z = h @ W + b
            h = z if k == len(Ws) - 1 else np.tanh(z)
            hs.append(h)
        z = hs[-1]
        e = np.exp(z - z.max(axis=1, keepdims=True))
        p = e / e.sum(axis=1, keepdims=True)
        g = p
        g[np.arange(batch), ys] -= 1
        g /= batch
        new = []
        for k in range(len(Ws) - 1, -1, -1):
            gW, gb = hs[k].T @ g, g.sum(axis=0)
            if k:
                g = (g @ Ws[k].T) * (1 - hs[k] ** 2)
            new += [Ws[k] - np.float32(0.1) * gW, bs[k] - np.float32(0.1) * gb]
        return new

    def build(kw):
        x, y = T.fmatrix("x"), T.ivector("y")
        params, h = [], x
        for k, (W, b) in enumerate(zip(Ws, bs)):
            Wv, bv = ag.shared(W.copy(), name=f"W{k}"), ag.shared(b.copy(), name=f"b{k}")
            params += [Wv, bv]
            h = T.dot(h, Wv) + bv
            if k < len(Ws) - 1:
                h = act(h)
        cost = -T.mean(T.nnet.log_softmax(h)[T.arange(y.shape[0]), y])
        grads = ag.grad(cost, params)
        f = ag.function([x, y], cost, updates=[(p, p - 0.1 * g) for p, g in zip(params, grads)], **kw)
        return _bind(f, xs, ys)

    return dict(hand=hand, build=build, bytes=None, memory_bound=False)


def w5(n):
    rng = np.random.default_rng(0)
    b, c = rng.standard_normal(n, dtype=np.float32), rng.standard_normal(n, dtype=np.float32)
    out = np.empty_like(b)
    s = np.float32(3.0)

    def hand():
        np.multiply(c, s, out=out)
        np.add(b, out, out=out)

    bv, cv = T.fvectors("b", "c")
    return dict(hand=hand, build=lambda kw: _bind(ag.function([bv, cv], bv + 3.0 * cv, **kw), b, c),
                bytes=3 * 4 * n, memory_bound=True)


def call_overhead():
    a, b = T.dscalars("a", "b")
    return dict(hand=lambda: 1.5 + 2.5, build=lambda kw: _bind(ag.function([a, b], a + b, **kw), 1.5, 2.5),
                bytes=None, memory_bound=False)


def _bind(f, *args):
    return lambda: f(*args)


def workloads(quick):
    n = 1 << (20 if quick else 24)
    rows = 512 if quick else 4096
    return {
        "W1 elementwise chain": w1(n),
        "W2 row softmax": w2(rows, 1024),
        "W3 logistic regression step": _sgd_model([784, 10], 256, T.tanh),
        "W4 MLP 784-512-512-10 step": _sgd_model([784, 512, 512, 10], 256, T.tanh),
        "W5 STREAM triad": w5(n),
        "call overhead a+b": call_overhead(),
    }


def run(quick, only):
    results = {}
    for name, w in workloads(quick).items():
        if only and not any(name.startswith(o) for o in only):
            continue
        row = {}
        for variant in VARIANTS:
            try:
                fn = w["hand"] if variant == "numpy_hand" else w["build"](COMPILED[variant])
                row[variant] = median_time(fn, repeat=5 if quick else 11)
            except Exception as e:  # noqa: BLE001 - a variant that cannot run yet is reported
                row[variant] = None
                row[f"{variant}_error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:80]}"
        row["bytes"] = w["bytes"]
        results[name] = row
        print(_format_row(name, row, results), flush=True)
    return results


def _format_row(name, row, results):
    cells = []
    for v in VARIANTS:
        t = row.get(v)
        cells.append(f"{_fmt_time(t):>10}" if t else f"{'n/a':>10}")
    base = row.get("numpy_hand")
    speed = " ".join(f"{base / row[v]:5.2f}x" if row.get(v) and base else "   n/a"
                     for v in VARIANTS[1:])
    gbs = ""
    if row["bytes"] and row.get("cpu_fused"):
        gbs = f"{row['bytes'] / row['cpu_fused'] / 1e9:6.1f} GB/s"
    return f"{name:<30}{''.join(cells)}  {speed}  {gbs}"


def _fmt_time(t):
    return f"{t * 1e6:.1f} us" if t < 1e-3 else f"{t * 1e3:.2f} ms"


def compile_times():
    """Compile time of the W4 step on the cpu backend: cold (empty kernel cache), then warm."""
    import tempfile
    out = {}
    saved = os.environ.get("ARIGNOTE_CACHE_DIR")
    with tempfile.TemporaryDirectory() as d:
        os.environ["ARIGNOTE_CACHE_DIR"] = d
        from arignote.compiler.jit import clear_memory_cache
        clear_memory_cache()  # cold: no kernel compiled in this process or on disk
        for attempt in ("cold", "warm"):
            w = _sgd_model([784, 512, 512, 10], 256, T.tanh)
            start = time.perf_counter()
            w["build"](COMPILED["cpu_fused"])
            out[attempt] = time.perf_counter() - start
    if saved is None:
        del os.environ["ARIGNOTE_CACHE_DIR"]
    else:
        os.environ["ARIGNOTE_CACHE_DIR"] = saved
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller problems, fewer repeats")
    parser.add_argument("--only", nargs="*", help="workload name prefixes, e.g. W1 W5")
    parser.add_argument("--out", default="bench_results")
    parser.add_argument("--keep-openblas-env", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    unset = os.environ.get("ARIGNOTE_BENCH_UNSET")
    print(f"OPENBLAS_CORETYPE: {'was set (' + unset + '); unset for this benchmark' if unset else 'not set'}")
    print(f"{'workload':<30}" + "".join(f"{v:>10}" for v in ("numpy", "reference", "unfused", "fused"))
          + "  speed-up over NumPy: reference unfused fused")
    results = run(args.quick, args.only)
    triad = results.get("W5 STREAM triad", {})
    best_bw = max((triad["bytes"] / t for k, t in triad.items() if k in VARIANTS and t), default=None)
    if best_bw:
        print(f"best STREAM triad bandwidth: {best_bw / 1e9:.1f} GB/s")
    results["compile W4 step"] = compile_times()
    print(f"compile W4 step (cpu, fused): {results['compile W4 step']}")
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "bench.json"), "w") as f:
        json.dump({"openblas_env_unset": unset, "results": results}, f, indent=2)
    _chart(results, os.path.join(args.out, "bench.png"))
    return results


def _chart(results, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no chart (pip install matplotlib)")
        return
    names = [n for n, r in results.items() if isinstance(r, dict) and r.get("numpy_hand")]
    fig, ax = plt.subplots(figsize=(10, 4))
    width = 0.2
    for k, v in enumerate(VARIANTS[1:]):
        speed = [results[n]["numpy_hand"] / results[n][v] if results[n].get(v) else 0 for n in names]
        ax.bar([i + k * width for i in range(len(names))], speed, width, label=v)
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_xticks([i + width for i in range(len(names))], [n.split(" ")[0] for n in names])
    ax.set_ylabel("speed-up over NumPy")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    print(f"chart: {path}")


if __name__ == "__main__":
    main()
