"""Philox-4x32-10 through every path that computes it: the NumPy reference, kernel IR
on the interpreter (as built and decomposed) and compiled by the LLVM renderer; the
element-index instructions; a dropout mask generated inside one kernel."""
import dataclasses
import re

import numpy as np
import pytest

import arignote as ag
import arignote.tensor as T
from arignote.compiler import interp as I
from arignote.compiler import kernel as K
from arignote.compiler.decompose import decompose
from arignote.compiler.launch import Launcher
from arignote.compiler.llvm import render
from arignote.compiler.lower import lower
from arignote.compiler.split import NotSplittable, check_splittable
from arignote.ops.fused import Fused
from arignote.ops.random import NumpyEmitter, RandomDraw, philox
from arignote.tensor.random import RandomStreams

#: Random123's known answers (kat_vectors): counter, key -> Philox4x32-10 output
KNOWN_ANSWERS = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
]
COLUMNS = [np.array([c[j] for c, _, _ in KNOWN_ANSWERS], "uint32") for j in range(4)] + \
    [np.array([k[j] for _, k, _ in KNOWN_ANSWERS], "uint32") for j in range(2)]
EXPECTED = np.array([a for _, _, a in KNOWN_ANSWERS], "uint32").T


class _IR:
    """The emitter of ops.random writing a level-0 kernel body (as the lowering does)."""

    def __init__(self):
        self.body = []

    def add(self, ins):
        self.body.append(ins)
        return len(self.body) - 1

    def const(self, value, dtype):
        return self.add(K.Const(dtype, value))

    def op(self, name, dtype, *args):
        return self.add(K.ScalarOp(dtype, name, tuple(args)))

    def cast(self, x, dtype):
        return self.add(K.Cast(dtype, x))


def philox_kernel():
    """Six uint32 vectors in (counter words, key words), the four output words out."""
    em = _IR()
    loads = [em.add(K.Load("uint32", j, (0,))) for j in range(6)]
    words = philox(em, loads[:4], loads[4:])
    for j, w in enumerate(words):
        em.add(K.Store("uint32", 6 + j, (0,), w))
    params = [K.Param(f"in{j}", "uint32", 1, "in") for j in range(6)] + \
        [K.Param(f"out{j}", "uint32", 1, "out") for j in range(4)]
    return K.Kernel("philox_kat", tuple(params), 1, (), tuple(em.body))


def test_numpy_reference_gives_the_known_answers():
    for ctr, key, answer in KNOWN_ANSWERS:
        got = philox(NumpyEmitter, [np.uint32(c) for c in ctr], [np.uint32(k) for k in key])
        assert [int(w) for w in got] == list(answer)
    got = philox(NumpyEmitter, COLUMNS[:4], COLUMNS[4:])  # vectorized: one answer per lane
    np.testing.assert_array_equal(np.array(got), EXPECTED)


@pytest.mark.parametrize("path", ["interp", "interp decomposed", "llvm"])
def test_kernel_ir_gives_the_known_answers(path):
    kernel = philox_kernel()
    I.check(kernel)
    if path == "llvm":
        run = Launcher(kernel)
    else:
        run = I.Interpreter(decompose(kernel) if path.endswith("decomposed") else kernel)
    np.testing.assert_array_equal(np.array(run(*COLUMNS)), EXPECTED)


def index_kernel():
    """``out[i, j] = i * extent(1) + j``: the C-order index from Index and Extent."""
    body = (K.Load("float64", 0, (0, 1)), K.Index("int64", 0), K.Extent("int64", 1),
            K.ScalarOp("int64", "mul", (1, 2)), K.Index("int64", 1), K.ScalarOp("int64", "add", (3, 4)),
            K.Store("int64", 1, (0, 1), 5))
    params = (K.Param("in0", "float64", 2, "in"), K.Param("out0", "int64", 2, "out"))
    return K.Kernel("flat_index", params, 2, (), body)


@pytest.mark.parametrize("shape", [(3, 5), (0, 4), (1, 1), (300, 257)])
def test_index_and_extent_instructions(shape):
    kernel = index_kernel()
    I.check(kernel)
    want = np.arange(int(np.prod(shape))).reshape(shape)
    for run in (I.Interpreter(kernel), Launcher(kernel)):
        np.testing.assert_array_equal(run(np.zeros(shape))[0], want)
    assert "index i0" in kernel.pretty() and "extent i1" in kernel.pretty()


def test_an_index_of_a_reduced_axis_outside_a_pass_is_ill_formed():
    body = (K.Load("float64", 0, (0,), 1), K.Index("int64", 0, 0), K.Reduce("int64", "sum", 1, 0, 1),
            K.Store("int64", 1, (), 2, 2))
    params = (K.Param("in0", "float64", 1, "in"), K.Param("out0", "int64", 0, "out"))
    with pytest.raises(ValueError, match="reduced axis outside a pass"):
        I.check(K.Kernel("bad", params, 1, (0,), body))


def dropout(keep=0.8, also_mask=False):
    x = T.fmatrix("x")
    u = RandomStreams(1).uniform(size=x.shape, dtype="float32")
    y = x * (u < keep) / keep
    return x, u, ([y, u < keep] if also_mask else [y])


def test_dropout_is_one_kernel_that_never_stores_the_uniforms():
    x, u, outs = dropout()
    f = ag.function([x], outs, backend="cpu", fusion=True)
    fused = [n for n in f.fgraph.toposort() if isinstance(n.op, Fused)]
    mask = [n for n in fused if any(isinstance(m.op, RandomDraw) for m in n.op.nodes)]
    assert len(mask) == 1  # (the other kernel is the state's update: a 2-element add)
    kernel = lower(mask[0].op)
    assert len(kernel.outputs) == 1 and kernel.outputs[0].dtype == "float32"
    assert sum(isinstance(ins, K.Store) for ins in kernel.body) == 1
    assert any(isinstance(ins, K.Index) for ins in kernel.body)
    assert not any(n.op.__class__.__name__ == "RandomDraw" for n in f.fgraph.toposort())
    xv = np.ones((64, 33), "float32")
    ref = ag.function([x], outs, backend="numpy")
    start = u.rng.get_value()
    got = f(xv)
    u.rng.set_value(start)  # (both functions advance the one state)
    np.testing.assert_array_equal(got, ref(xv))


def test_a_draw_inside_a_reduction_reads_its_index_inside_the_pass_and_never_splits():
    rng = RandomStreams(2)
    x = T.dvector("x")
    hits = (rng.uniform(size=x.shape) < x).sum()
    f = ag.function([x], hits, backend="cpu", fusion=True)
    (node,) = [n for n in f.fgraph.toposort() if isinstance(n.op, Fused)
               and any(isinstance(m.op, RandomDraw) for m in n.op.nodes)]
    kernel = lower(node.op)
    assert {ins.level for ins in kernel.body if isinstance(ins, K.Index)} == {1}
    with pytest.raises(NotSplittable, match="element indices"):
        check_splittable(kernel)
    xv = np.linspace(0, 1, 1000)
    ref = ag.function([x], hits, backend="numpy")
    state = rng.state_updates[0][0]
    begin = state.get_value()
    got = f(xv)
    state.set_value(begin)
    assert got == ref(xv)


def _unit32(word):
    return (np.uint32(word) >> np.uint32(8)).astype("float32") * np.float32(2.0 ** -24)


def test_consecutive_elements_of_a_row_share_a_block():
    """Element j of row r is lane j mod e of block r * ceil(n / e) + j div e, with e the
    samples per block: 4 for float32 uniforms (one word each), 2 for float64 (two)."""
    key, count = np.uint64(0x123456789ABCDEF), np.uint64(5)
    k = [np.uint32(int(key) & 0xFFFFFFFF), np.uint32(int(key) >> 32)]

    def block(b):
        return philox(NumpyEmitter, [np.uint32(b), np.uint32(0), np.uint32(5), np.uint32(0)], k)

    got = RandomDraw("uniform", "float32", 2).perform(None, [key, count, 2, 6])[0]
    want = [[_unit32(block(r * 2 + j // 4)[j % 4]) for j in range(6)] for r in range(2)]
    np.testing.assert_array_equal(got, np.array(want, "float32"))
    got = RandomDraw("uniform", "float64", 1).perform(None, [key, count, 3])[0]
    for j in range(3):
        hi, lo = (int(w) for w in block(j // 2)[2 * (j % 2):2 * (j % 2) + 2])
        assert got[j] == ((hi << 32 | lo) >> 11) * 2.0 ** -53


def test_a_draws_kernel_walks_its_rows_in_aligned_groups():
    from arignote.compiler.schedule import CPU, scheduled
    x, u, outs = dropout()
    f = ag.function([x], outs, backend="cpu", fusion=True)
    kernels = [lower(n.op) for n in f.fgraph.toposort() if isinstance(n.op, Fused)]
    by_draw = {any(isinstance(ins, K.Index) for ins in k.body): k for k in kernels}
    schedule = scheduled(by_draw[True], CPU).schedule
    assert schedule.unroll == 4 and "aligned groups of 4" in schedule.pretty()
    assert scheduled(by_draw[False], CPU).schedule.unroll == 1  # (the state's update: no draw)
    text = render(by_draw[True])
    assert "label %U1.unit, label %U1.any" in text and "or disjoint i64 %i1.gu, 3" in text
    # plain (neither vectorized nor unrolled): the loops around the groups, and any strides'
    scalar = re.search(r'^!(\d+) = !\{!"llvm.loop.vectorize.width", i32 1\}$', text, re.M).group(1)
    loops = re.findall(r"^!\d+ = distinct !\{!\d+, (.*)\}$", text, re.M)
    assert sum(f"!{scalar}" in refs.split(", ") for refs in loops) == 3


def test_an_axis_no_load_follows_takes_its_extent_from_a_size_param():
    """``Kernel.extents``: ``out[i] = i`` over ``n`` points, ``n`` an int64 scalar input
    (how a draw alone gets its index space); a negative size is refused before the run."""
    from arignote.errors import ShapeError
    body = (K.Load("int64", 0, ()), K.Index("int64", 0), K.Store("int64", 1, (0,), 1))
    params = (K.Param("in0", "int64", 0, "in"), K.Param("out0", "int64", 1, "out"))
    kernel = K.Kernel("iota", params, 1, (), body, extents=((0, ("ref", 0)),))
    I.check(kernel)
    assert "extents: i0 = in0" in kernel.pretty()
    for run in (I.Interpreter(kernel), Launcher(kernel)):
        for n in (0, 1, 7, 70_001):
            np.testing.assert_array_equal(run(np.int64(n))[0], np.arange(n))
        with pytest.raises(ShapeError, match="axis 0 has -1 points from input 0, which is negative"):
            run(np.int64(-1))
    static = dataclasses.replace(kernel, extents=((0, 5),))
    np.testing.assert_array_equal(Launcher(static)(np.int64(0))[0], np.arange(5))
