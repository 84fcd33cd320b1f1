"""``join_tiling_slices``: the gradient of constant slices tiling one axis (an LSTM's
gates cut from one pre-activation) is one join, not a sum of increments of zeros; a
sum that is not such a tiling is left alone. Values are checked against the
unrewritten graph on the reference backend and against NumPy."""
import numpy as np
import pytest

import arignote as ag
import arignote.tensor as T
from arignote.ops.indexing import IncSubtensor
from tests.util import assert_close


def _ops(f):
    return [str(n.op) for n in f.fgraph.toposort()]


def _incs(f):
    return [n for n in f.fgraph.toposort() if isinstance(n.op, IncSubtensor)]


def _joined(f):
    return f.stats.fired.get("join_tiling_slices", 0) > 0 and not _incs(f) and \
        any("Join" in op for op in _ops(f))


def _compare(inputs, output, values):
    f = ag.function(inputs, output)
    ref = ag.function(inputs, output, mode="fast_compile", backend="numpy")
    got = f(*values)
    assert_close(got, ref(*values))
    return f, got


def _gates(z, H, axis=1):
    """The four slices of ``z`` along ``axis``, the last open-ended."""
    cut = [slice(k * H, (k + 1) * H) for k in range(3)] + [slice(3 * H, None)]
    return [z[(slice(None),) * axis + (c,)] for c in cut]


def _gate_cost(z, H, axis=1):
    i, f, o, g = _gates(z, H, axis)
    return (T.nnet.sigmoid(i).sum() + T.nnet.sigmoid(f).sum() * 2.0 +
            T.nnet.sigmoid(o).sum() * 3.0 + T.tanh(g).sum() * 4.0)


def _np_gate_grad(z, H, axis=1):
    s = 1 / (1 + np.exp(-z))
    grads = [s * (1 - s) * (k + 1) for k in range(3)] + [(1 - np.tanh(z) ** 2) * 4]
    out = np.empty_like(z)
    for k, g in enumerate(grads):
        cut = (slice(None),) * axis + (slice(k * H, (k + 1) * H if k < 3 else None),)
        out[cut] = g[cut]
    return out


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("rows, H", [(0, 3), (1, 1), (3, 2), (2, 5)])
def test_gradient_of_gate_slices_is_one_join(dtype, rows, H):
    z = T.tensor(dtype, (None, None), "z")
    g = ag.grad(_gate_cost(z, H), z)
    v = np.random.default_rng(0).standard_normal((rows, 4 * H)).astype(dtype)
    f, got = _compare([z], g, [v])
    assert _joined(f)
    assert_close(got, _np_gate_grad(v, H).astype(dtype))


def test_slices_along_the_first_axis_of_a_3d_tensor():
    z = T.dtensor3("z")
    g = ag.grad(_gate_cost(z, 2, axis=0), z)
    v = np.random.default_rng(1).standard_normal((8, 2, 3))
    f, got = _compare([z], g, [v])
    assert _joined(f)
    assert_close(got, _np_gate_grad(v, 2, axis=0))


@pytest.mark.parametrize("width", [0, 3, 5, 8, 11])
def test_fewer_columns_than_the_slices_reach(width):
    # (a slice past the end is empty or clipped; the last one takes what is left)
    z = T.dmatrix("z")
    g = ag.grad(_gate_cost(z, 2), z)
    v = np.random.default_rng(2).standard_normal((2, width))
    f, got = _compare([z], g, [v])
    assert _joined(f)
    assert_close(got, _np_gate_grad(v, 2))


def test_other_terms_of_the_sum_are_added_to_the_join():
    z = T.dmatrix("z")
    g = ag.grad(_gate_cost(z, 2) + (z ** 2).sum() * 0.5, z)
    v = np.random.default_rng(3).standard_normal((3, 8))
    f, got = _compare([z], g, [v])
    assert _joined(f)
    assert_close(got, _np_gate_grad(v, 2) + v)


def _inc_sum(zeros, cuts, values):
    """``sum(inc(zeros[:, c], v))`` over the cuts, in the order given."""
    total = None
    for c, v in zip(cuts, values):
        term = T.inc_subtensor(zeros[:, c], v)
        total = term if total is None else total + term
    return total


@pytest.mark.parametrize("order", [(0, 1, 2), (2, 0, 1), (1, 2, 0)])
@pytest.mark.parametrize("zeros", ["zeros_like", "alloc"])
def test_increments_written_by_hand_in_any_order(order, zeros):
    z, a, b, c = T.dmatrix("z"), T.dmatrix("a"), T.dmatrix("b"), T.dmatrix("c")
    base = T.zeros_like(z) if zeros == "zeros_like" else T.zeros((z.shape[0], 6))
    cuts, vals = [slice(None, 1), slice(1, 4), slice(4, None)], [a, b, c]
    out = _inc_sum(base, [cuts[k] for k in order], [vals[k] for k in order])
    rng = np.random.default_rng(4)
    values = [rng.standard_normal(s) for s in [(2, 6), (2, 1), (2, 3), (2, 2)]]
    f, got = _compare([z, a, b, c], out, values)
    assert _joined(f)
    assert_close(got, np.concatenate(values[1:], axis=1))


@pytest.mark.parametrize("cuts, shapes", [
    ([slice(None, 3), slice(2, None)], [(2, 3), (2, 4)]),             # overlap
    ([slice(None, 2), slice(3, None)], [(2, 2), (2, 3)]),             # a gap
    ([slice(1, 3), slice(3, None)], [(2, 2), (2, 3)]),                # does not start at 0
    ([slice(None, 2), slice(2, 6)], [(2, 2), (2, 4)]),                # closed at the end
    ([slice(None, 2), slice(None, 2)], [(2, 2), (2, 2)]),             # the same slice twice
    ([slice(None, 4, 2), slice(4, None)], [(2, 2), (2, 2)]),          # a step
    ([slice(None, -2), slice(-2, None)], [(2, 4), (2, 2)]),           # negative bounds
])
def test_slices_that_do_not_tile_the_axis_are_left_alone(cuts, shapes):
    z = T.dmatrix("z")
    vals = [T.dmatrix(f"v{k}") for k in range(len(cuts))]
    out = _inc_sum(T.zeros_like(z), cuts, vals)
    rng = np.random.default_rng(5)
    values = [rng.standard_normal((2, 6))] + [rng.standard_normal(s) for s in shapes]
    f, got = _compare([z, *vals], out, values)
    assert f.stats.fired.get("join_tiling_slices", 0) == 0 and _incs(f)
    want = np.zeros((2, 6))
    for c, v in zip(cuts, values[1:]):
        want[:, c] += v
    assert_close(got, want)


def test_symbolic_slice_bounds_are_left_alone():
    z, a, b, k = T.dmatrix("z"), T.dmatrix("a"), T.dmatrix("b"), T.lscalar("k")
    out = _inc_sum(T.zeros_like(z), [slice(None, k), slice(k, None)], [a, b])
    rng = np.random.default_rng(6)
    values = [rng.standard_normal((2, 5)), rng.standard_normal((2, 2)), rng.standard_normal((2, 3)), 2]
    f, got = _compare([z, a, b, k], out, values)
    assert f.stats.fired.get("join_tiling_slices", 0) == 0 and _incs(f)
    assert_close(got, np.concatenate(values[1:3], axis=1))


def test_slices_on_two_axes_or_of_two_tensors_are_left_alone():
    z, y, a, b = T.dmatrix("z"), T.dmatrix("y"), T.dmatrix("a"), T.dmatrix("b")
    rng = np.random.default_rng(7)
    va, vb = rng.standard_normal((4, 2)), rng.standard_normal((2, 4))
    two_axes = T.inc_subtensor(T.zeros_like(z)[:, :2], a) + T.inc_subtensor(T.zeros_like(z)[2:], b)
    f, got = _compare([z, a, b], two_axes, [np.zeros((4, 4)), va, vb])
    assert f.stats.fired.get("join_tiling_slices", 0) == 0
    assert_close(got, np.pad(va, [(0, 0), (0, 2)]) + np.pad(vb, [(2, 0), (0, 0)]))
    vb = rng.standard_normal((4, 2))
    two_tensors = T.inc_subtensor(T.zeros_like(z)[:, :2], a) + T.inc_subtensor(T.zeros_like(y)[:, 2:], b)
    f, got = _compare([z, y, a, b], two_tensors, [np.zeros((4, 4))] * 2 + [va, vb])
    assert f.stats.fired.get("join_tiling_slices", 0) == 0
    assert_close(got, np.concatenate([va, vb], axis=1))


def test_increments_of_ones_are_left_alone_and_of_another_dtype_joined_as_cast():
    z, a, b = T.dmatrix("z"), T.dmatrix("a"), T.dmatrix("b")
    rng = np.random.default_rng(8)
    values = [rng.standard_normal((2, 4)), rng.standard_normal((2, 1)), rng.standard_normal((2, 3))]
    ones = _inc_sum(T.ones_like(z), [slice(None, 1), slice(1, None)], [a, b])
    f, got = _compare([z, a, b], ones, values)
    assert f.stats.fired.get("join_tiling_slices", 0) == 0
    assert_close(got, 2 + np.concatenate(values[1:], axis=1))  # (two ones)
    a32, b32 = T.fmatrix("a"), T.fmatrix("b")  # (float32 rows into float64 zeros)
    mixed = _inc_sum(T.zeros_like(z), [slice(None, 1), slice(1, None)], [a32, b32])
    f, got = _compare([z, a32, b32], mixed, [values[0]] + [v.astype("float32") for v in values[1:]])
    assert _joined(f)  # (of the rows cast to float64, as the increments cast them)
    assert_close(got, np.concatenate([v.astype("float32") for v in values[1:]], axis=1).astype("float64"))


def test_a_value_broadcast_into_its_slice_is_left_alone():
    z, a, b = T.dmatrix("z"), T.row("a", dtype="float64"), T.dmatrix("b")
    out = _inc_sum(T.zeros_like(z), [slice(None, 2), slice(2, None)], [a, b])
    rng = np.random.default_rng(9)
    values = [rng.standard_normal((3, 4)), rng.standard_normal((1, 2)), rng.standard_normal((3, 2))]
    f, got = _compare([z, a, b], out, values)
    assert f.stats.fired.get("join_tiling_slices", 0) == 0
    assert_close(got, np.concatenate([np.repeat(values[1], 3, 0), values[2]], axis=1))


def test_pieces_that_do_not_fit_the_zeros_still_raise():
    """The increments checked their values against the zeros' shape; the join must too."""
    z, a, b = T.dmatrix("z"), T.dmatrix("a"), T.dmatrix("b")
    out = T.inc_subtensor(T.zeros_like(z)[:, :1], a) + T.inc_subtensor(T.zeros_like(z)[:, 1:], b)
    f = ag.function([z, a, b], out)
    with pytest.raises(ag.ShapeError):
        f(np.zeros((2, 4)), np.ones((3, 1)), np.ones((3, 3)))
    np.testing.assert_array_equal(f(np.zeros((2, 4)), np.ones((2, 1)), np.ones((2, 3))), np.ones((2, 4)))
