"""A convolution layer's forward, its pooling fused with the bias and activation
(``passes/pool_fusion``) and apart: conv 20 5x5 of 64x1x28x28 float32, + bias, tanh,
2x2 max pool, both the activation and the pooled returned (as in training).

    python benchmarks/pool_fusion.py [--repeat 7] [--calls 50]

Prints the median time per call of each, interleaved in one process (compare the
ratio, not times across runs). OpenBLAS's core type is unset for this process.
"""
import os
import sys

if os.environ.pop("OPENBLAS_CORETYPE", None) is not None:  # (before NumPy loads BLAS)
    os.execv(sys.executable, [sys.executable, *sys.argv])

import argparse  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

import arignote as ag  # noqa: E402
import arignote.tensor as T  # noqa: E402
from arignote.compile.mode import get_default_mode  # noqa: E402
from arignote.tensor.signal.pool import pool_2d  # noqa: E402


def functions():
    """(fused, apart): the layer compiled with and without the pool fusion."""
    x, w, b = T.tensor4("x", dtype="float32"), T.tensor4("w", dtype="float32"), T.fvector("b")
    act = T.tanh(T.nnet.conv2d(x, w) + b.dimshuffle("x", 0, "x", "x"))
    outputs = [pool_2d(act, (2, 2)), act]
    apart = get_default_mode().excluding("pool_fusion")
    return (ag.function([x, w, b], outputs, backend="cpu", fusion=True),
            ag.function([x, w, b], outputs, backend="cpu", fusion=True, mode=apart))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--calls", type=int, default=50)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    values = (rng.standard_normal((64, 1, 28, 28), np.float32),
              rng.standard_normal((20, 1, 5, 5), np.float32) * 0.2,
              rng.standard_normal(20).astype(np.float32))
    fused, apart = functions()
    for got, want in zip(fused(*values), apart(*values)):
        np.testing.assert_array_equal(got, want)
    times = {"fused": [], "apart": []}
    for _ in range(args.repeat):
        for name, f in (("fused", fused), ("apart", apart)):
            f(*values)
            start = time.perf_counter()
            for _ in range(args.calls):
                f(*values)
            times[name].append((time.perf_counter() - start) / args.calls)
    print("OPENBLAS_CORETYPE unset for this process; median of "
          f"{args.repeat} x {args.calls} calls, interleaved")
    for name, t in times.items():
        print(f"{name:>6}: {np.median(t) * 1e3:7.3f} ms")
    print(f" ratio: apart / fused = {np.median(times['apart']) / np.median(times['fused']):.2f}x")


if __name__ == "__main__":
    main()
