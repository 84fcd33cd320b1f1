"""Update rules (arignote.updates) against NumPy implementations of the published
formulas, over a few steps, in float32 and float64."""
import numpy as np
import pytest

import arignote as ag
import arignote.tensor as T
from arignote import updates as U
from arignote.errors import ArignoteTypeError, ArignoteValueError

STEPS = 4


# NumPy references: state dict, param, grad -> new param
def np_sgd(s, w, g, lr):
    return w - lr * g


def np_momentum(s, w, g, lr, mu=0.9):
    s["v"] = mu * s.get("v", 0) - lr * g
    return w + s["v"]


def np_nesterov(s, w, g, lr, mu=0.9):
    s["v"] = mu * s.get("v", 0) - lr * g
    return w + mu * s["v"] - lr * g


def np_adagrad(s, w, g, lr=1.0, eps=1e-6):
    s["a"] = s.get("a", 0) + g ** 2
    return w - lr * g / np.sqrt(s["a"] + eps)


def np_rmsprop(s, w, g, lr=1.0, rho=0.9, eps=1e-6):
    s["a"] = rho * s.get("a", 0) + (1 - rho) * g ** 2
    return w - lr * g / np.sqrt(s["a"] + eps)


def np_adadelta(s, w, g, lr=1.0, rho=0.95, eps=1e-6):
    s["a"] = rho * s.get("a", 0) + (1 - rho) * g ** 2
    step = g * np.sqrt(s.get("d", 0) + eps) / np.sqrt(s["a"] + eps)
    s["d"] = rho * s.get("d", 0) + (1 - rho) * step ** 2
    return w - lr * step


def np_adam(s, w, g, lr=0.001, b1=0.9, b2=0.999, eps=1e-8):
    t = s["t"] = s.get("t", 0) + 1
    s["m"] = b1 * s.get("m", 0) + (1 - b1) * g
    s["v"] = b2 * s.get("v", 0) + (1 - b2) * g ** 2
    # Kingma and Ba's section 2 form: the bias corrections folded into the step size
    return w - lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t) * s["m"] / (np.sqrt(s["v"]) + eps)


def np_adamax(s, w, g, lr=0.002, b1=0.9, b2=0.999, eps=1e-8):
    t = s["t"] = s.get("t", 0) + 1
    s["m"] = b1 * s.get("m", 0) + (1 - b1) * g
    s["u"] = np.maximum(b2 * s.get("u", 0), np.abs(g))
    return w - lr / (1 - b1 ** t) * s["m"] / (s["u"] + eps)


RULES = [
    ("sgd", dict(learning_rate=0.1), np_sgd, dict(lr=0.1)),
    ("momentum", dict(learning_rate=0.05, momentum=0.9), np_momentum, dict(lr=0.05)),
    ("nesterov_momentum", dict(learning_rate=0.05), np_nesterov, dict(lr=0.05)),
    ("adagrad", dict(learning_rate=0.5), np_adagrad, dict(lr=0.5)),
    ("rmsprop", dict(learning_rate=0.01), np_rmsprop, dict(lr=0.01)),
    ("adadelta", dict(), np_adadelta, dict()),
    ("adam", dict(learning_rate=0.01), np_adam, dict(lr=0.01)),
    ("adamax", dict(), np_adamax, dict()),
]


def _run(rule, kwargs, dtype, grads_given=False):
    w0 = np.linspace(-1, 1, 6).reshape(2, 3).astype(dtype)
    b0 = np.array([0.3, -0.2], dtype)
    params = [ag.shared(w0, name="w"), ag.shared(b0, name="b")]
    cs = [np.linspace(0.5, 2.0, p.size).reshape(p.shape).astype(dtype) for p in (w0, b0)]
    loss = sum(((p ** 2) * c).sum() + p.sum() for p, c in zip(params, cs))
    target = ag.grad(loss, params) if grads_given else loss
    updates = getattr(U, rule)(target, params, **kwargs)
    assert isinstance(updates, ag.OrderedUpdates)
    step = ag.function([], loss, updates=updates)
    for _ in range(STEPS):
        step()
    return [p.get_value() for p in params], [w0, b0], cs


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("rule,kwargs,ref,refkw", RULES, ids=[r[0] for r in RULES])
def test_rule_matches_numpy(rule, kwargs, ref, refkw, dtype):
    got, start, cs = _run(rule, kwargs, dtype)
    for value, p0, c in zip(got, start, cs):
        assert value.dtype == dtype
        state, p = {}, p0.astype("float64")
        for _ in range(STEPS):
            p = ref(state, p, 2 * c * p + 1, **refkw)
        tol = 1e-4 if dtype == "float32" else 1e-10
        np.testing.assert_allclose(value, p, rtol=tol, atol=tol)


def test_grads_instead_of_loss():
    a, _, _ = _run("adam", dict(learning_rate=0.01), "float64")
    b, _, _ = _run("adam", dict(learning_rate=0.01), "float64", grads_given=True)
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y)


def test_shared_learning_rate_is_a_schedule():
    w = ag.shared(np.ones(3, "float32"), name="w")
    lr = ag.shared(np.float64(0.5), name="lr")  # a float64 rate keeps a float32 parameter float32
    step = ag.function([], updates=U.sgd(w.sum(), [w], lr))
    step()
    lr.set_value(np.float64(0.25))
    step()
    np.testing.assert_allclose(w.get_value(), 1 - 0.5 - 0.25)
    assert w.get_value().dtype == np.float32


def test_apply_momentum_keeps_other_updates():
    w, n = ag.shared(np.ones(2), name="w"), ag.shared(np.float64(0), name="n")
    ups = U.sgd(w.sum(), [w], 0.1)
    ups[n] = n + 1
    out = U.apply_momentum(ups, [w], momentum=0.5)
    assert n in out and out[n] is ups[n] and len(out) == 3


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_total_norm_constraint(dtype):
    a = T.vector("a", dtype=dtype)
    b = T.matrix("b", dtype=dtype)
    scaled, norm = U.total_norm_constraint([a, b], max_norm=1.0, return_norm=True)
    f = ag.function([a, b], scaled + [norm])
    av, bv = np.array([3, 0], dtype), np.array([[0, 4]], dtype)
    sa, sb, n = f(av, bv)
    np.testing.assert_allclose(n, 5, rtol=1e-6)
    np.testing.assert_allclose(np.sqrt((sa ** 2).sum() + (sb ** 2).sum()), 1, rtol=1e-5)
    np.testing.assert_allclose(sa, av / 5, rtol=1e-5)
    assert sa.dtype == dtype
    small = f(av / 10, bv / 10)  # under the bound: unchanged (to epsilon)
    np.testing.assert_allclose(small[0], av / 10, rtol=1e-5)


def test_norm_constraint_columns():
    w = T.dmatrix("w")
    f = ag.function([w], U.norm_constraint(w, 1.0))
    wv = np.array([[3.0, 0.1], [4.0, 0.2]])
    out = f(wv)
    np.testing.assert_allclose(out[:, 0], [0.6, 0.8], rtol=1e-6)
    np.testing.assert_allclose(out[:, 1], wv[:, 1], rtol=1e-6)
    filters = T.tensor4("f", dtype="float64")
    g = ag.function([filters], U.norm_constraint(filters, 2.0))
    fv = np.random.default_rng(0).normal(size=(3, 2, 2, 2)) * 5
    norms = np.sqrt((g(fv) ** 2).sum(axis=(1, 2, 3)))
    np.testing.assert_allclose(norms, np.minimum(np.sqrt((fv ** 2).sum(axis=(1, 2, 3))), 2), rtol=1e-6)


def test_errors_name_the_culprit():
    x = T.dvector("x")
    with pytest.raises(ArignoteTypeError, match="shared variables"):
        U.sgd(x.sum(), [x], 0.1)
    w = ag.shared(np.ones(2), name="w")
    with pytest.raises(ArignoteValueError, match="2 gradients for 1"):
        U.sgd([x, x], [w], 0.1)
    with pytest.raises(ArignoteTypeError, match="scalar"):
        U.sgd(w.sum(), [w], x)
    with pytest.raises(ArignoteValueError, match="norm_axes"):
        U.norm_constraint(x, 1.0)


def test_theano_updates_module_names():
    assert U.OrderedUpdates is ag.OrderedUpdates
    assert ag.updates is U


def test_readme_deep_learning_snippet_trains():
    """The README's deep-learning example is real code: run it, then train a few steps."""
    import os
    readme = os.path.join(os.path.dirname(os.path.dirname(__file__)), "README.md")
    with open(readme) as f:
        section = f.read().split("### The deep-learning kit", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    from arignote.tensor.random import RandomStreams
    env = {"ag": ag, "T": T, "np": np, "RandomStreams": RandomStreams}
    exec(compile(code, "README.md", "exec"), env)
    rng = np.random.default_rng(0)
    data, labels = rng.normal(size=(16, 784)).astype("float32"), rng.integers(0, 10, 16).astype("int32")
    costs = [float(env["train"](data, labels)) for _ in range(5)]
    assert costs[-1] < costs[0] and env["W"].get_value().dtype == np.float32
