"""Philox-4x32-10 through every path that computes it: the NumPy reference, kernel IR
on the interpreter (as built and decomposed) and compiled by the LLVM renderer; the
element-index instructions; a dropout mask generated inside one kernel."""
import numpy as np
import pytest

import arignote as ag
import arignote.tensor as T
from arignote.compiler import interp as I
from arignote.compiler import kernel as K
from arignote.compiler.decompose import decompose
from arignote.compiler.launch import Launcher
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
