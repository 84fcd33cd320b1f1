"""Weight initializers (Lasagne's ``lasagne.init``): NumPy arrays for ``shared()``.

Each initializer is a class whose ``sample(shape)`` returns an array, seeded by a
NumPy ``Generator`` (``rng``; a fresh default one when omitted); the functions
of the same names in lower case sample once: ``glorot_uniform((784, 500), rng)``.
Fans follow the usual convention: a dense weight ``(in, out)`` has fan-in ``in``
and fan-out ``out``; a convolution's filters ``(out_channels, in_channels, *kernel)``
have fan-in ``in_channels * prod(kernel)`` and fan-out ``out_channels * prod(kernel)``.
"""
import numpy as np

from arignote.config import config
from arignote.errors import ArignoteTypeError, ArignoteValueError

__all__ = ["fans", "Initializer", "Constant", "Uniform", "Normal", "GlorotUniform", "GlorotNormal",
           "HeUniform", "HeNormal", "Orthogonal", "constant", "glorot_uniform", "glorot_normal",
           "xavier_uniform", "xavier_normal", "he_uniform", "he_normal", "orthogonal"]


def fans(shape):
    """(fan_in, fan_out) of a weight of ``shape``: dense ``(in, out)`` or convolutional
    ``(out_channels, in_channels, *kernel)``."""
    shape = tuple(int(s) for s in shape)
    if len(shape) < 2:
        raise ArignoteValueError(f"init: fans need a weight of at least 2 dimensions, got shape {shape}")
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive = int(np.prod(shape[2:]))
    return shape[1] * receptive, shape[0] * receptive


class Initializer:
    """Samples arrays of a given shape; ``dtype`` defaults to ``config.floatX``."""

    def __init__(self, rng=None, dtype=None):
        if rng is not None and not isinstance(rng, np.random.Generator):
            raise ArignoteTypeError(f"init: rng must be a numpy.random.Generator "
                                    f"(np.random.default_rng(seed)), got {type(rng).__name__}")
        self.rng = rng if rng is not None else np.random.default_rng()
        self.dtype = dtype

    def __call__(self, shape):
        return self.sample(shape)

    def sample(self, shape):
        shape = tuple(int(s) for s in shape)
        return np.asarray(self._sample(shape), dtype=self.dtype or config.floatX)

    def _sample(self, shape):
        raise NotImplementedError


class Constant(Initializer):
    """Every entry ``val`` (biases)."""

    def __init__(self, val=0.0, dtype=None):
        super().__init__(None, dtype)
        self.val = val

    def _sample(self, shape):
        return np.full(shape, self.val)


class Uniform(Initializer):
    """Uniform in ``[-std * sqrt(3), std * sqrt(3))`` (the variance ``std**2``)."""

    def __init__(self, std=0.01, rng=None, dtype=None):
        super().__init__(rng, dtype)
        self.std = std

    def _std(self, shape):
        return self.std

    def _sample(self, shape):
        bound = np.sqrt(3.0) * self._std(shape)
        return self.rng.uniform(-bound, bound, size=shape)


class Normal(Uniform):
    """Normal with mean 0 and standard deviation ``std``."""

    def _sample(self, shape):
        return self.rng.normal(0.0, self._std(shape), size=shape)


class _Scaled:
    """The standard deviation ``gain * sqrt(unit variance)``, Lasagne's definitions:
    Glorot's unit ``2 / (fan_in + fan_out)``, He's ``1 / fan_in``. ``gain='relu'``
    is sqrt(2)."""

    default_gain = 1.0

    def __init__(self, gain=None, rng=None, dtype=None):
        super().__init__(None, rng, dtype)
        gain = self.default_gain if gain is None else gain
        self.gain = np.sqrt(2.0) if gain == "relu" else float(gain)

    def _std(self, shape):
        return self.gain * np.sqrt(self._unit_variance(*fans(shape)))


class _Glorot(_Scaled):
    @staticmethod
    def _unit_variance(fan_in, fan_out):
        return 2.0 / (fan_in + fan_out)


class _He(_Scaled):
    default_gain = "relu"  # (He et al.'s variance 2 / fan_in; Lasagne's default gain is 1)

    @staticmethod
    def _unit_variance(fan_in, fan_out):
        return 1.0 / fan_in


class GlorotUniform(_Glorot, Uniform):
    """Glorot and Bengio (2010), "Xavier": variance ``gain**2 * 2 / (fan_in + fan_out)``."""


class GlorotNormal(_Glorot, Normal):
    """Glorot and Bengio (2010) with a normal: variance ``gain**2 * 2 / (fan_in + fan_out)``."""


class HeUniform(_He, Uniform):
    """He et al. (2015): variance ``gain**2 / fan_in``, by default ``2 / fan_in``
    (``gain='relu'``; Lasagne's ``HeUniform`` defaults to ``gain=1``)."""


class HeNormal(_He, Normal):
    """He et al. (2015) with a normal: variance ``gain**2 / fan_in``, by default
    ``2 / fan_in`` (``gain='relu'``)."""


class Orthogonal(Initializer):
    """Saxe et al. (2013): an orthogonal matrix (rows or columns orthonormal, times
    ``gain``) for the shape flattened to ``(shape[0], prod(shape[1:]))``."""

    def __init__(self, gain=1.0, rng=None, dtype=None):
        super().__init__(rng, dtype)
        self.gain = np.sqrt(2.0) if gain == "relu" else float(gain)

    def _sample(self, shape):
        if len(shape) < 2:
            raise ArignoteValueError(f"init: Orthogonal needs at least 2 dimensions, got shape {shape}")
        flat = (shape[0], int(np.prod(shape[1:])))
        a = self.rng.normal(0.0, 1.0, flat)
        u, _, vt = np.linalg.svd(a, full_matrices=False)
        q = u if u.shape == flat else vt  # the factor of the flattened shape
        return self.gain * q.reshape(shape)


Xavier = GlorotUniform  # Theano tutorials' other name


def _sampler(cls):
    def sample(shape, rng=None, dtype=None, **kwargs):
        if cls is Constant:
            return cls(dtype=dtype, **kwargs).sample(shape)
        return cls(rng=rng, dtype=dtype, **kwargs).sample(shape)
    sample.__name__ = sample.__qualname__ = "".join(
        "_" + c.lower() if c.isupper() and i else c.lower() for i, c in enumerate(cls.__name__))
    sample.__doc__ = f"``{cls.__name__}(...).sample(shape)`` in one call. " + (cls.__doc__ or "")
    return sample


constant = _sampler(Constant)
glorot_uniform = xavier_uniform = _sampler(GlorotUniform)
glorot_normal = xavier_normal = _sampler(GlorotNormal)
he_uniform = _sampler(HeUniform)
he_normal = _sampler(HeNormal)
orthogonal = _sampler(Orthogonal)
