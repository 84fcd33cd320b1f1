"""The flat loop of an elementwise kernel over C-contiguous buffers (``_Renderer.flattens``):
one loop over the flat index instead of a loop per row, so a short last axis costs nothing
per row. It must give the nest's values bit for bit, on every layout, in any chunks."""
import dataclasses

import numpy as np
import pytest

import arignote.tensor as T
from arignote.compiler.launch import Launcher
from arignote.compiler.llvm import render
from arignote.compiler.lower import lower
from arignote.compiler.schedule import scheduled
from arignote.ops.fused import Fused


def kernel_of(inputs, outputs):
    return scheduled(lower(Fused(inputs, outputs)))


def test_whole_space_elementwise_kernels_get_a_flat_loop():
    x, y, v, t = T.fmatrix("x"), T.fmatrix("y"), T.fvector("v"), T.ftensor3("t")
    assert "F.go:" in render(kernel_of([x, y], [T.exp(x) * y]))
    assert "F.go:" in render(kernel_of([t], [t * 2]))
    s, c = T.fscalar("s"), T.fmatrix("c", shape=(1, 1))
    assert "F.go:" in render(kernel_of([x, s, c], [x * s + c]))  # scalars and size-1 broadcasts
    for outs, ins in [([x + v], [x, v]),  # a broadcast load: rows differ
                      ([T.sum(x, axis=1)], [x]),  # a reduction
                      ([v * 2], [v]),  # one axis: the nest is the flat loop
                      ([x.T * 2], [x])]:  # a load in another order
        assert "F.go:" not in render(kernel_of(ins, outs))


def _layouts(shape, rng, dtype):
    a = rng.standard_normal(shape).astype(dtype)
    big = rng.standard_normal((shape[0] * 2, shape[1] + 3)).astype(dtype)
    return {"C": a, "Fortran": np.asfortranarray(a), "sliced": big[::2, 1:shape[1] + 1],
            "transposed": np.ascontiguousarray(a.T).T}


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
def test_the_flat_loop_gives_the_nests_values(dtype, rng):
    x, y = T.matrix("x", dtype=dtype), T.matrix("y", dtype=dtype)
    kernel = kernel_of([x, y], [T.exp(x) * y - 1, T.gt(x, y)])
    launcher = Launcher(kernel)
    for shape in [(256, 10), (7, 1), (1, 9), (33, 3), (0, 4)]:
        xs, ys = _layouts(shape, rng, dtype), _layouts(shape, rng, dtype)
        for name in xs:  # against the same values in Fortran order (the nest)
            with np.errstate(all="ignore"):
                got = launcher(xs[name], ys[name])
                want = launcher(np.asfortranarray(xs[name]), np.asfortranarray(ys[name]))
            for g, w in zip(got, want):
                np.testing.assert_array_equal(g, w, err_msg=f"{shape} {name}")
        call = launcher.prepare([xs["C"], ys["C"]])  # chunks of rows: flat ranges of elements
        with np.errstate(all="ignore"):
            for start, end in [(0, 1), (1, 5), (5, call.end)]:
                call.run(min(start, call.end), min(end, call.end))
        with np.errstate(all="ignore"):
            want = launcher(xs["Fortran"], ys["Fortran"])
        for g, w in zip(call.outputs, want):
            np.testing.assert_array_equal(g, w)
        launcher.release(call)


def test_scalars_and_size_one_broadcasts_are_read_whole(rng):
    x, s, c = T.fmatrix("x"), T.fscalar("s"), T.fmatrix("c", shape=(1, 1))
    launcher = Launcher(kernel_of([x, s, c], [x * s + c]))
    a, cv = rng.standard_normal((300, 7)).astype("float32"), np.array([[0.5]], "float32")
    got = launcher(a, np.float32(3), cv)[0]
    np.testing.assert_array_equal(got, launcher(np.asfortranarray(a), np.float32(3), cv)[0])
    np.testing.assert_allclose(got, a * 3 + 0.5, rtol=1e-6)


def test_the_flat_loop_writes_in_place(rng):
    x, g = T.fmatrix("x"), T.fmatrix("g")
    kernel = kernel_of([x, g], [x - 0.1 * g])
    over = dataclasses.replace(kernel, inplace=((2, 0),))
    w, grad = (rng.standard_normal((784, 10)).astype("float32") for _ in range(2))
    want = Launcher(kernel)(np.asfortranarray(w), grad)[0]
    target = w.copy()
    out = Launcher(over)(target, grad)[0]
    np.testing.assert_array_equal(out, want)
    np.testing.assert_array_equal(target, want)
