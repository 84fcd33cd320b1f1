"""Initializers (arignote.init): fans, variances, orthogonality, seeding."""
import numpy as np
import pytest

import arignote as ag
from arignote import init
from arignote.errors import ArignoteTypeError, ArignoteValueError

DENSE, CONV = (400, 300), (64, 32, 3, 3)


def test_fans():
    assert init.fans(DENSE) == (400, 300)
    assert init.fans(CONV) == (32 * 9, 64 * 9)
    with pytest.raises(ArignoteValueError, match="at least 2"):
        init.fans((5,))


@pytest.mark.parametrize("shape", [DENSE, CONV], ids=["dense", "conv"])
@pytest.mark.parametrize("name,var", [
    ("glorot_uniform", lambda i, o: 2 / (i + o)), ("glorot_normal", lambda i, o: 2 / (i + o)),
    ("he_uniform", lambda i, o: 2 / i), ("he_normal", lambda i, o: 2 / i),
])
def test_variance(name, var, shape):
    w = getattr(init, name)(shape, rng=np.random.default_rng(0))
    assert w.shape == shape and w.dtype == ag.config.floatX
    expected = var(*init.fans(shape))
    assert abs(w.mean()) < 0.03 * np.sqrt(expected)
    assert w.var() == pytest.approx(expected, rel=0.03)
    if "uniform" in name:  # the bound of a uniform of that variance
        assert np.abs(w).max() <= np.sqrt(3 * expected) + 1e-7


def test_gain_relu_and_xavier_names():
    rng = np.random.default_rng(1)
    w = init.HeNormal(gain=1, rng=rng).sample(DENSE)  # Lasagne's default: 1 / fan_in
    assert w.var() == pytest.approx(1 / 400, rel=0.03)
    w = init.GlorotNormal(gain="relu", rng=rng).sample(DENSE)
    assert w.var() == pytest.approx(2 * 2 / 700, rel=0.03)
    assert init.xavier_uniform is init.glorot_uniform and init.Xavier is init.GlorotUniform


@pytest.mark.parametrize("shape", [(50, 20), (20, 50), (16, 4, 2, 2)])
def test_orthogonal(shape):
    w = init.orthogonal(shape, rng=np.random.default_rng(2), dtype="float64", gain=2.0)
    flat = w.reshape(shape[0], -1)
    small = flat.T @ flat if flat.shape[0] >= flat.shape[1] else flat @ flat.T
    np.testing.assert_allclose(small, 4 * np.eye(small.shape[0]), atol=1e-10)


def test_constant_and_dtype():
    b = init.constant((3,), val=0.5, dtype="float32")
    assert b.dtype == np.float32 and (b == 0.5).all()
    assert init.Constant(2.0).sample((2, 2)).dtype == ag.config.floatX


def test_seeding_is_reproducible():
    a = init.glorot_uniform(DENSE, rng=np.random.default_rng(7))
    b = init.GlorotUniform(rng=np.random.default_rng(7)).sample(DENSE)
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ArignoteTypeError, match="Generator"):
        init.GlorotUniform(rng=7)


def test_initializer_feeds_shared():
    w = ag.shared(init.glorot_normal((4, 3), rng=np.random.default_rng(0)), name="w")
    assert w.get_value().shape == (4, 3)
