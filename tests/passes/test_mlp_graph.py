"""What issue 4 promises of the MLP training step after 'fast_run': no
duplicate subexpressions, no operations on constants, a stable log-softmax
cross-entropy, and the same values as the unoptimized step."""
import numpy as np

import arignote as ag
import arignote.tensor as T
from arignote.graph.basic import Constant
from arignote.ops.nnet import LogSoftmax, Softmax


def mlp_step(seed=0):
    rng = np.random.default_rng(seed)
    x, y = T.dmatrix("x"), T.lvector("y")
    W1 = ag.shared(rng.normal(0, 0.3, (6, 5)), name="W1")
    b1 = ag.shared(np.zeros(5), name="b1")
    W2 = ag.shared(rng.normal(0, 0.3, (5, 3)), name="W2")
    b2 = ag.shared(np.zeros(3), name="b2")
    params = [W1, b1, W2, b2]
    p = T.nnet.softmax(T.dot(T.tanh(T.dot(x, W1) + b1), W2) + b2)
    cost = -T.mean(T.log(p)[T.arange(y.shape[0]), y]) + 1e-4 * ((W1 ** 2).sum() + (W2 ** 2).sum())
    grads = ag.grad(cost, params)
    return [x, y], cost, [(q, q - 0.1 * g) for q, g in zip(params, grads)], params


def test_mlp_training_graph_after_fast_run():
    inputs, cost, updates, _ = mlp_step()
    # the rewrites' result, before a compiling backend expands and fuses it
    f = ag.function(inputs, cost, updates=updates, backend="numpy")
    nodes = f.fgraph.toposort()
    keys = [(n.op, tuple(n.inputs)) for n in nodes]
    assert len(keys) == len(set(keys)), "duplicate subexpressions"
    for n in nodes:
        assert not (n.inputs and all(isinstance(i, Constant) for i in n.inputs)
                    and getattr(n.op, "constant_foldable", True)), f"operation on constants: {n}"
    assert any(isinstance(n.op, LogSoftmax) for n in nodes)
    for n in nodes:  # no log of a softmax is left
        if getattr(n.op, "scalar_op", None) is not None and n.op.scalar_op.name == "log":
            assert not (n.inputs[0].owner and type(n.inputs[0].owner.op) is Softmax)


def test_mlp_step_agrees_with_unoptimized_step():
    rng = np.random.default_rng(1)
    xv, yv = rng.normal(size=(4, 6)), rng.integers(0, 3, 4)
    results = []
    for mode in ("fast_run", "none"):
        inputs, cost, updates, params = mlp_step()
        f = ag.function(inputs, cost, updates=updates, mode=mode)
        costs = [float(f(xv, yv)) for _ in range(3)]
        results.append((costs, [p.get_value() for p in params]))
    (c1, p1), (c2, p2) = results
    np.testing.assert_allclose(c1, c2, rtol=1e-12)
    assert c1[2] < c1[0]
    for a, b in zip(p1, p2):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)
