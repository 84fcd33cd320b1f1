"""``make bench-gpu``: W1 (an elementwise chain), W2 (row softmax) and W5 (STREAM triad) on
backend 'cuda', in GB/s and as a fraction of the device's memory bandwidth (from the
driver's attributes: memory clock x bus width x 2).

What is timed is the device's work: the inputs are shared variables resident on the device
(``shared(..., target='cuda')``) and the result an update of another, so a call copies
nothing between host and device; each sample ends with the device synchronized.

Without a GPU it refuses, with the reason, and exits with status 2: numbers from the
emulated device would time the CPU, not a GPU. ``--emulated`` runs the script on the
emulated device anyway, with tiny sizes, only to check that it works (no numbers reported
as results).

    python benchmarks/bench_gpu.py [--only W1 W2 W5] [--emulated] [--out bench_gpu.json]
"""
import argparse
import json
import os
import statistics
import sys
import time

import numpy as np

import arignote as ag
import arignote.tensor as T
from arignote.runtime.cuda_device import NoGpuError
from arignote.runtime.cuda_gpu import DEVICE_ENV, select_device

#: the issue's targets: fraction of the memory bandwidth
TARGETS = {"W1": 0.85, "W2": 0.70, "W5": 0.85}


def w1(n):
    """tanh(a*b + c) * sigmoid(a - c) + 0.5 * exp(-|b|): 3 reads, 1 write of float32."""
    rng = np.random.default_rng(0)
    a, b, c = (ag.shared(rng.standard_normal(n, dtype=np.float32), target="cuda") for _ in range(3))
    out = ag.shared(np.zeros(n, np.float32), target="cuda")
    expr = T.tanh(a * b + c) * T.sigmoid(a - c) + 0.5 * T.exp(-abs(b))
    return ag.function([], [], updates=[(out, expr)], backend="cuda"), 4 * 4 * n


def w2(rows, cols):
    """softmax of each row: one read, one write of float32."""
    x = ag.shared(np.random.default_rng(0).standard_normal((rows, cols), dtype=np.float32), target="cuda")
    out = ag.shared(np.zeros((rows, cols), np.float32), target="cuda")
    return ag.function([], [], updates=[(out, T.nnet.softmax(x))], backend="cuda"), 2 * 4 * rows * cols


def w5(n):
    """a = b + 3 c: two reads, one write of float32."""
    rng = np.random.default_rng(0)
    b, c = (ag.shared(rng.standard_normal(n, dtype=np.float32), target="cuda") for _ in range(2))
    out = ag.shared(np.zeros(n, np.float32), target="cuda")
    return ag.function([], [], updates=[(out, b + 3.0 * c)], backend="cuda"), 3 * 4 * n


def workloads(small):
    n = 1 << 10 if small else 1 << 26
    return {"W1": ("elementwise chain", lambda: w1(n)),
            "W2": ("row softmax", lambda: w2(*((8, 256) if small else (1 << 15, 1024)))),
            "W5": ("STREAM triad", lambda: w5(n))}


def timed(fn, device, repeat):
    """Median seconds per call over ``repeat`` samples (each synchronized at its end)."""
    fn()
    device.synchronize()
    start = time.perf_counter()
    fn()
    device.synchronize()
    per_sample = max(1, int(0.05 / max(time.perf_counter() - start, 1e-7)))
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(per_sample):
            fn()
        device.synchronize()
        samples.append((time.perf_counter() - start) / per_sample)
    return statistics.median(samples)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="*", help="workload ids (W1 W2 W5)")
    parser.add_argument("--emulated", action="store_true",
                        help="check the script on the emulated device (tiny sizes, no results)")
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--out", default="bench_gpu.json")
    args = parser.parse_args(argv)
    if args.emulated:
        os.environ[DEVICE_ENV] = "emulated"
    elif os.environ.get(DEVICE_ENV, "gpu") != "gpu":
        sys.exit(f"bench-gpu: {DEVICE_ENV}={os.environ[DEVICE_ENV]!r}: timing it would measure the "
                 "CPU; unset it (or pass --emulated to check the script only)")
    try:
        device = select_device()
    except NoGpuError as e:
        print(f"bench-gpu: refused: {e}", file=sys.stderr)
        return 2
    print(f"device: {device.name} ({device.arch}), memory bandwidth "
          f"{device.bandwidth / 1e9:.0f} GB/s" if device.bandwidth else f"device: {device.name}")
    results = {}
    for wid, (title, make) in workloads(args.emulated).items():
        if args.only and wid not in args.only:
            continue
        fn, nbytes = make()
        seconds = timed(fn, device, 3 if args.emulated else args.repeat)
        gbs = nbytes / seconds / 1e9
        fraction = gbs * 1e9 / device.bandwidth if device.bandwidth else None
        results[wid] = dict(title=title, seconds=seconds, bytes=nbytes, gb_per_s=gbs, fraction=fraction,
                            target=TARGETS[wid])
        verdict = "" if fraction is None else \
            f"  {fraction:.0%} of bandwidth (target {TARGETS[wid]:.0%}: " \
            f"{'met' if fraction >= TARGETS[wid] else 'missed'})"
        print(f"{wid} {title:18s} {seconds * 1e6:10.1f} us  {gbs:8.1f} GB/s{verdict}")
    if args.emulated:
        print("bench-gpu: emulated device: the script works; these times are the CPU's, not results")
        return 0
    with open(args.out, "w") as f:
        json.dump(dict(device=device.name, arch=device.arch, bandwidth=device.bandwidth,
                       results=results), f, indent=2)
    print(f"bench-gpu: wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
