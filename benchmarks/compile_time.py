"""Compile time: how the rewrite pipeline scales with graph size.

Builds the SGD training step of a tanh MLP (the examples' model) with 1, 10
and 100 hidden layers, differentiates it, compiles it, and reports node
counts and the time of each rewrite phase. The pipeline must grow about
linearly: the last column divides the total rewrite time by the node count.

    python benchmarks/compile_time.py [--layers 1 10 100] [--json out.json]
"""
import argparse
import json
import time

import numpy as np

import arignote as ag
import arignote.tensor as T
from arignote.graph.basic import toposort


def mlp_step(n_hidden_layers, n_in=784, n_hidden=64, n_out=10, seed=0):
    """The symbolic SGD step (inputs, cost, updates) of a tanh MLP."""
    rng = np.random.default_rng(seed)
    x, y = T.matrix("x"), T.ivector("y")
    sizes = [n_in] + [n_hidden] * n_hidden_layers + [n_out]
    params, h = [], x
    for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        W = ag.shared(rng.normal(0, a ** -0.5, (a, b)), name=f"W{k}")
        bias = ag.shared(np.zeros(b), name=f"b{k}")
        params += [W, bias]
        z = T.dot(h, W) + bias
        h = T.nnet.softmax(z) if k == len(sizes) - 2 else T.tanh(z)
    cost = -T.mean(T.log(h)[T.arange(y.shape[0]), y]) + 1e-4 * sum((p ** 2).sum() for p in params[::2])
    grads = ag.grad(cost, params)
    return [x, y], cost, [(p, p - 0.1 * g) for p, g in zip(params, grads)]


def measure(n_layers):
    start = time.perf_counter()
    inputs, cost, updates = mlp_step(n_layers)
    built = time.perf_counter()
    nodes_raw = len(toposort([cost] + [u for _, u in updates]))
    fn = ag.function(inputs, cost, updates=updates)
    compiled = time.perf_counter()
    phases = {name: secs for name, _, _, secs in fn.stats.phases}
    rewrite = fn.stats.total_time()
    return {"layers": n_layers, "nodes_raw": nodes_raw, "nodes_optimized": len(fn.fgraph.nodes),
            "build_and_grad_s": built - start, "compile_s": compiled - built, "rewrite_s": rewrite,
            "phases_s": phases, "rewrite_us_per_node": 1e6 * rewrite / nodes_raw}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, nargs="+", default=[1, 10, 100])
    parser.add_argument("--json", help="write the results to this file")
    args = parser.parse_args(argv)
    rows = [measure(n) for n in args.layers]
    phases = list(rows[0]["phases_s"])
    print(f"{'layers':>6} {'nodes':>7} {'after':>6} {'grad s':>7} {'compile s':>9} "
          + " ".join(f"{p[:8]:>8}" for p in phases) + f" {'us/node':>8}")
    for r in rows:
        print(f"{r['layers']:>6} {r['nodes_raw']:>7} {r['nodes_optimized']:>6} "
              f"{r['build_and_grad_s']:>7.3f} {r['compile_s']:>9.3f} "
              + " ".join(f"{r['phases_s'][p] * 1e3:>6.1f}ms" for p in phases)
              + f" {r['rewrite_us_per_node']:>8.1f}")
    first, last = rows[0], rows[-1]
    growth = (last["rewrite_s"] / first["rewrite_s"]) / (last["nodes_raw"] / first["nodes_raw"])
    print(f"rewrite time grew {last['rewrite_s'] / first['rewrite_s']:.1f}x for "
          f"{last['nodes_raw'] / first['nodes_raw']:.1f}x the nodes (1.0 = linear: {growth:.2f})")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)
    return rows


if __name__ == "__main__":
    main()
