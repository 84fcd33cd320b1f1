"""Row tiles (``Schedule.row_tile``): short rows of a row kernel run a tile of rows at a time,
each pass's reduced loops outside and the tile's rows inside. They must give the row-by-row
nest's values (bit for bit but for the order of float sums), raise its errors, and leave
long rows, and a chunk's last rows, to it."""
import dataclasses

import numpy as np
import pytest

import arignote.tensor as T
from arignote.compiler import interp as I
from arignote.compiler import kernel as K
from arignote.compiler.launch import Launcher
from arignote.compiler.llvm import render
from arignote.compiler.lower import lower
from arignote.compiler.schedule import CPU, schedule, scheduled
from arignote.errors import ArignoteValueError
from arignote.ops.fused import Fused
from arignote.passes.expand import softmax_graph
from tests.util import assert_close


def kernel_of(inputs, outputs):
    return scheduled(lower(Fused(inputs, outputs)))


def untiled(kernel):
    return dataclasses.replace(kernel, schedule=dataclasses.replace(kernel.schedule, row_tile=0,
                                                                     short_rows=0))


def test_short_row_kernels_are_scheduled_in_row_tiles():
    x, t3 = T.matrix("x"), T.tensor3("t")
    cases = {  # graph -> (row tile, short rows)
        "row max": (T.max(x, axis=1), CPU.row_tile, CPU.short_rows),
        "log-sum-exp": (T.log(T.sum(T.exp(x), axis=1)), CPU.row_tile, CPU.short_rows),
        "softmax (stores whole rows)": (softmax_graph(x, 1), CPU.row_tile, CPU.short_stored_rows),
        "column sum (column tiles)": (T.sum(x, axis=0), 0, 0),
        "elementwise": (x * 2, 0, 0),
        "two parallel axes": (T.sum(t3, axis=2), 0, 0),
    }
    for name, (out, *want) in cases.items():
        s = schedule(lower(Fused([t3 if out.ndim == 2 and name == "two parallel axes" else x], [out])))
        assert (s.row_tile, s.short_rows) == tuple(want), name
    kernel = kernel_of([x], [T.max(x, axis=1)])
    assert f"rows of up to {CPU.short_rows} points in tiles of {CPU.row_tile}" in kernel.pretty()
    ir = render(kernel)
    assert ".rows(" in ir and "%rows.short = icmp sle i64" in ir
    assert ".rows(" not in render(untiled(kernel))


def _row_graphs():
    x, i, b = T.fmatrix("x"), T.lmatrix("i"), T.bmatrix("b")
    h, d = T.matrix("h", dtype="float16"), T.dmatrix("d")
    return {  # name -> (inputs, outputs, exact)
        "max and min keep NumPy's zeros": ([x], [T.max(x, axis=1), T.min(x * -1, axis=1)], True),
        "integer sum and max": ([i], [T.sum(i, axis=1), T.max(i * 3, axis=1)], True),
        "bool any": ([b], [T.any(T.neq(b, 0), axis=1)], True),
        "float16 max and sum": ([h], [T.max(h, axis=1), T.sum(h, axis=1)], False),
        "softmax": ([x], [softmax_graph(x, 1)], False),
        "log-softmax": ([d], [softmax_graph(d, 1, log=True)], False),
        "log-sum-exp with a bias": ([x], [T.log(T.sum(T.exp(x - T.max(x, axis=1, keepdims=True)),
                                                      axis=1))], False),
    }


def _values(p, shape, rng):
    a = rng.standard_normal(shape) * 3
    if p.dtype.startswith("int"):
        return rng.integers(-50, 50, shape).astype(p.dtype)
    a = a.astype(p.dtype)
    if a.size > 40 and a.dtype.kind == "f":  # zeros of both signs, NaN, infinities, in some rows
        a.flat[[3, 17, 29, 30]] = [-0.0, np.nan, np.inf, -np.inf]
        a[min(5, shape[0] - 1)] = -0.0
        a[min(6, shape[0] - 1), ::2] = 0.0
    return a


@pytest.mark.parametrize("name", list(_row_graphs()))
def test_row_tiles_give_the_row_by_row_values(name, rng):
    inputs, outputs, exact = _row_graphs()[name]
    kernel = kernel_of(inputs, outputs)
    assert kernel.schedule.row_tile, "not a row-tiled kernel"
    tiled, plain = Launcher(kernel), Launcher(untiled(kernel))
    for shape in [(1, 3), (31, 10), (32, 10), (33, 10), (100, 12), (70, 1), (65, 13), (40, 64), (96, 2)]:
        values = [_values(p, shape, rng) for p in kernel.inputs]
        with np.errstate(all="ignore"):
            got, want = tiled(*values), plain(*values)
            ref = I.run_kernel(kernel, values)
        for g, w, r in zip(got, want, ref):
            if exact:
                np.testing.assert_array_equal(g, w, err_msg=f"{name} {shape}")
                np.testing.assert_array_equal(g, r, err_msg=f"{name} {shape}")
            else:
                assert_close(g, w)
                assert_close(g, r)
            if g.dtype.kind == "f":  # and the sign of every zero
                zero = w == 0
                np.testing.assert_array_equal(np.signbit(g[zero]), np.signbit(w[zero]))
        call = tiled.prepare(values)  # chunks that cut tiles: whole tiles, then row by row
        for start, end in [(0, 5), (5, 45), (45, call.end)]:
            call.run(min(start, call.end), min(end, call.end))
        for g, w in zip(call.outputs, want):
            (np.testing.assert_array_equal if exact else assert_close)(g, w)
        tiled.release(call)


def test_row_tiles_raise_the_kernels_errors(rng):
    """A Check inside a pass, on a row of a tile or on one of the rows after the tiles."""
    i, e = T.lmatrix("i"), T.lmatrix("e")
    kernel = kernel_of([i, e], [T.max(i ** e, axis=1)])
    assert kernel.schedule.row_tile and K.NEGATIVE_POWER in kernel.errors
    launcher = Launcher(kernel)
    base = rng.integers(1, 4, (70, 6))
    for row in (3, 66):
        exps = np.ones((70, 6), np.int64)
        launcher(base, exps)
        exps[row, 2] = -1
        with pytest.raises(ArignoteValueError, match="negative integer powers"):
            launcher(base, exps)
