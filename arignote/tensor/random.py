"""Random streams: ``RandomStreams(seed).uniform(size)`` and friends (Theano's API).

Each draw a stream makes gets its own state, a shared uint64 vector ``[key,
count]`` whose ``default_update`` adds one to ``count``: every call of a
function that uses the draw advances it (unless ``function(...,
no_default_updates=True)``), and a ``scan`` step that draws carries it. The
samples are a pure function of (seed, the draw's number in its stream, the
call count, the element's index): Philox-4x32-10, in :mod:`arignote.ops.random`,
so every backend gives the same numbers and compiled kernels generate them
where they use them.

Distributions are built over three standard draws (uniform in [0, 1), standard
normal, 32 random bits) with ordinary ops: ``low + (high - low) * u``, ``avg +
std * z``, ``u < p``... so they fuse into the kernels that read them, and the
gradient reaches ``low``/``high``/``avg``/``std`` through that arithmetic (the
reparameterization); the draws themselves and discrete results carry none.
"""
import numpy as np

from arignote.config import config
from arignote.errors import ArignoteTypeError, ArignoteValueError, describe
from arignote.graph.basic import Constant, Variable
from arignote.ops import elemwise as E
from arignote.ops.basic import as_tensor_variable, constant
from arignote.ops.random import (ArgsortBits, Multinomial, RandomDraw, check_pvals, check_range,
                                 initial_state)
from arignote.ops.shape import stack
from arignote.ops.static_shape import static_int
from arignote.tensor.sharedvar import shared

DEFAULT_SEED = 12345


class RandomStreams:
    """A generator of random draws (Theano's ``RandomStreams`` and ``MRG_RandomStreams``).

    ``seed`` (an int, default 12345) decides every number the streams give;
    :meth:`seed` re-seeds every draw made so far and restarts its count.
    ``state_updates`` lists ``(state, new_state)`` of each draw."""

    def __init__(self, seed=DEFAULT_SEED):
        self._seed = _seed_value(seed)
        self.state_updates = []

    def seed(self, seed=None):
        """Re-seed every stream made so far (their counts restart at 0)."""
        self._seed = _seed_value(DEFAULT_SEED if seed is None else seed)
        for n, (state, _) in enumerate(self.state_updates):
            state.set_value(initial_state(self._seed, n))

    def updates(self):
        """The ``(state, new_state)`` pairs of every draw (what default updates apply)."""
        return list(self.state_updates)

    # ---------------------------------------------------------- the standard draws

    def _draw(self, dist, dtype, size):
        n = len(self.state_updates)
        state = shared(initial_state(self._seed, n), name=f"random_state{n}", shape=(2,))
        new = state + constant(np.array([0, 1], dtype="uint64"))
        state.default_update = new
        self.state_updates.append((state, new))
        out = RandomDraw(dist, dtype, len(size))(state[0], state[1], *size)
        out.rng, out.update = state, (state, new)
        return out

    # ---------------------------------------------------------- distributions

    def uniform(self, size=None, low=0.0, high=1.0, ndim=None, dtype=None):
        """Uniform floats in ``[low, high)`` (``high`` itself can come from rounding)."""
        dtype = _float_dtype("uniform", dtype)
        low, high = as_tensor_variable(low), as_tensor_variable(high)
        size = _size("uniform", size, ndim, {"low": low, "high": high})
        u = self._draw("uniform", dtype, size)
        return _finish(u, E.add(low, E.mul(E.sub(high, low), u)), dtype)

    def normal(self, size=None, avg=0.0, std=1.0, ndim=None, dtype=None, truncate=False):
        """Normal floats of mean ``avg`` and standard deviation ``std`` (Box-Muller);
        ``truncate``: within 2 ``std`` of ``avg`` (see :meth:`truncated_normal`)."""
        dtype = _float_dtype("normal", dtype)
        avg, std = as_tensor_variable(avg), check_range(std, "normal: std", lo=0)
        size = _size("normal", size, ndim, {"avg": avg, "std": std})
        z = self._draw("truncated_normal" if truncate else "normal", dtype, size)
        return _finish(z, E.add(avg, E.mul(std, z)), dtype)

    def truncated_normal(self, size=None, avg=0.0, std=1.0, ndim=None, dtype=None):
        """Normal floats within 2 ``std`` of ``avg``, as Theano's MRG made them: Box-Muller
        with the radius drawn below 2 (``sqrt(-2 log(1 - (1 - e**-2) u))``), so the
        values are bounded but the density is not exactly the truncated normal's."""
        return self.normal(size, avg, std, ndim, dtype, truncate=True)

    def binomial(self, size=None, n=1, p=0.5, ndim=None, dtype="int64"):
        """Counts of successes in ``n`` trials of probability ``p`` (``n`` draws per
        element; ``n = 1``: one comparison, the dropout mask)."""
        dtype = _numeric_dtype("binomial", dtype)
        n = _count("binomial", n)
        p = check_range(p, "binomial: p", 0, 1)
        size = _size("binomial", size, ndim, {"p": p})
        udt = "float64" if p.dtype == "float64" else "float32"
        if static_int(n) == 1:
            u = self._draw("uniform", udt, size)
            return _finish(u, E.lt(u, p), dtype)
        u = self._draw("uniform", udt, size + [n])
        hits = E.lt(u, p.dimshuffle(*range(p.ndim), "x")).sum(axis=-1)
        return _finish(u, hits, dtype)

    def multinomial(self, size=None, n=1, pvals=None, ndim=None, dtype="int64"):
        """Per row of ``pvals`` (rows of probabilities summing to 1), the counts of each
        category in ``n`` draws."""
        dtype = _numeric_dtype("multinomial", dtype)
        if pvals is None:
            raise ArignoteTypeError("multinomial: pvals (rows of probabilities) is required")
        n = _count("multinomial", n)
        pvals = check_range(pvals, "multinomial: pvals", 0, 1)
        if pvals.ndim not in (1, 2):
            raise ArignoteTypeError(f"multinomial: pvals must be a vector or a matrix, got "
                                    f"{describe(pvals)} with {pvals.ndim} dimensions")
        if isinstance(pvals, Constant):
            check_pvals(pvals.data)
        rows = pvals if pvals.ndim == 2 else pvals.dimshuffle("x", 0)
        if size is not None:
            want = _size("multinomial", size, ndim, {})
            if len(want) != 1 or (static_int(want[0]) is not None and rows.type.shape[0] is not None
                                  and static_int(want[0]) != rows.type.shape[0]):
                raise ArignoteValueError(f"multinomial: size {size} disagrees with pvals of static "
                                         f"shape {pvals.type.shape} (one count vector per row)")
        u = self._draw("uniform", "float64", [_as_size(rows.shape[0], "pvals' rows"), n])
        out = Multinomial(dtype)(rows, u)
        out = out if pvals.ndim == 2 else out[0]
        out.rng, out.update = u.rng, u.update
        return out

    def integers(self, size=None, low=0, high=None, ndim=None, dtype="int64"):
        """Integers in ``[low, high)`` (NumPy's ``Generator.integers``; ``high`` alone:
        ``[0, high)``), at most 2**32 apart."""
        if high is None:
            low, high = 0, low
        return self._integers("integers", size, low, high, 0, ndim, dtype)

    def random_integers(self, size=None, low=0, high=1, ndim=None, dtype="int64"):
        """Integers in ``[low, high]``, both ends included (Theano's ``random_integers``)."""
        return self._integers("random_integers", size, low, high, 1, ndim, dtype)

    def _integers(self, what, size, low, high, inclusive, ndim, dtype):
        dtype = _numeric_dtype(what, dtype)
        low, high = _int_arg(what, "low", low), _int_arg(what, "high", high)
        lo, hi = static_int(low), static_int(high)
        span = constant(np.int64(hi - lo + inclusive)) if None not in (lo, hi) and \
            abs(hi - lo) < 2 ** 62 else E.add(E.sub(E.cast(high, "int64"), E.cast(low, "int64")), inclusive)
        span = check_range(span, f"{what}: high - low{' + 1' if inclusive else ''}", 1, 2 ** 32)
        size = _size(what, size, ndim, {"low": low, "high": high})
        bits = self._draw("bits", "uint32", size)
        return _finish(bits, _scaled(bits, span, low), dtype)

    def choice(self, size=1, a=2, replace=True, p=None, ndim=None, dtype="int64"):
        """Elements of ``a`` (a vector, or an int ``n`` for ``arange(n)``), with or without
        replacement, with probabilities ``p`` (default: uniform)."""
        dtype = _numeric_dtype("choice", dtype)
        values = None
        if isinstance(a, (int, np.integer)) and not isinstance(a, bool):
            if a <= 0:
                raise ArignoteValueError(f"choice: a must be positive, got {a}")
            n = constant(np.int64(a))
        else:
            values = as_tensor_variable(a)
            if values.ndim != 1:
                raise ArignoteTypeError(f"choice: a must be an int or a vector, got {describe(values)} "
                                        f"with {values.ndim} dimensions")
            n = values.shape[0]
        size = _size("choice", size, ndim, {})
        if p is not None:
            p = check_range(p, "choice: p", 0, 1)
            if isinstance(p, Constant):
                check_pvals(p.data)
            if p.ndim != 1:
                raise ArignoteTypeError(f"choice: p must be a vector, got {p.ndim} dimensions")
        count = _product(size)
        if replace and p is None:
            bits = self._draw("bits", "uint32", size)
            idx = _scaled(bits, E.cast(n, "int64"), 0)
            src = bits
        elif replace:
            u = self._draw("uniform", "float64", [_as_size(count, "size"), _as_size(1, "n")])
            idx, src = _categorical(p, u).reshape(_stack(size), ndim=len(size)), u
        else:
            k = static_int(count)
            nn = static_int(n)
            if k is not None and nn is not None and k > nn:
                raise ArignoteValueError(f"choice: cannot take {k} values from {nn} without replacement")
            if p is None:
                keys = self._draw("bits", "uint32", [_as_size(n, "a")])
                src = keys
            else:
                u = self._draw("uniform", "float64", [_as_size(n, "a")])
                # Efraimidis-Spirakis: the k largest u ** (1 / p), as ascending -log(1 - u) / p
                keys, src = E.true_div(E.neg(E.log1p(E.neg(u))), p), u
            idx = ArgsortBits()(keys)[:count].reshape(_stack(size), ndim=len(size))
        out = idx if values is None else values[idx]
        return _finish(src, out, dtype if values is None else out.dtype)

    def permutation(self, n=None, size=None, ndim=None, dtype="int64"):
        """A random permutation of ``arange(n)`` (one per element of ``size``, along a
        new last axis)."""
        dtype = _numeric_dtype("permutation", dtype)
        n = _count("permutation", n)
        size = [] if size is None else _size("permutation", size, ndim, {})
        bits = self._draw("bits", "uint32", size + [n])
        return _finish(bits, ArgsortBits()(bits), dtype)


MRG_RandomStreams = RandomStreams


# ------------------------------------------------------------ argument checks

def _seed_value(seed):
    if isinstance(seed, (bool, float)) or not isinstance(seed, (int, np.integer)):
        raise ArignoteTypeError(f"RandomStreams: seed must be an int, got {seed!r}")
    return int(seed)


def _float_dtype(what, dtype):
    dtype = np.dtype(config.floatX if dtype is None else dtype).name
    if dtype not in ("float16", "float32", "float64"):
        raise ArignoteTypeError(f"{what}: dtype must be a float type, got {dtype}")
    return dtype


def _numeric_dtype(what, dtype):
    dtype = np.dtype(config.floatX if dtype is None else dtype).name
    if np.dtype(dtype).kind not in "biuf":
        raise ArignoteTypeError(f"{what}: dtype must be numeric, got {dtype}")
    return dtype


def _count(what, n):
    """``n`` as an int64 size: a non-negative Python int or an integer scalar."""
    if isinstance(n, (bool, np.bool_)) or n is None:
        raise ArignoteTypeError(f"{what}: n must be an integer, got {n!r}")
    if isinstance(n, (int, np.integer)):
        if n < 0:
            raise ArignoteValueError(f"{what}: n must not be negative, got {n}")
        return constant(np.int64(n))
    if isinstance(n, float):
        raise ArignoteTypeError(f"{what}: n must be an integer, got the float {n!r}")
    v = as_tensor_variable(n)
    if not v.type.is_integer or v.ndim != 0:
        raise ArignoteTypeError(f"{what}: n must be an integer scalar, got {describe(v)} of type {v.type}")
    return _as_size(check_range(v, f"{what}: n", lo=0), "n")


def _int_arg(what, name, v):
    if isinstance(v, float) or isinstance(v, bool):
        raise ArignoteTypeError(f"{what}: {name} must be an integer, got {v!r}")
    v = as_tensor_variable(v)
    if not v.type.is_integer:
        raise ArignoteTypeError(f"{what}: {name} must be an integer, got {describe(v)} of type {v.type}")
    return v


def _as_size(s, what):
    """One entry of a size as an int64 scalar variable (checked now where it is known)."""
    if isinstance(s, (bool, np.bool_)) or isinstance(s, (float, np.floating)):
        raise ArignoteTypeError(f"size entries must be integers, got {s!r} for {what}")
    if isinstance(s, (int, np.integer)):
        if s < 0:
            raise ArignoteValueError(f"random draw: size entry {what} is {int(s)}; sizes cannot be negative")
        return constant(np.int64(s))
    v = as_tensor_variable(s)
    if v.ndim != 0 or not v.type.is_integer:
        raise ArignoteTypeError(f"size entries must be integer scalars, got {describe(v)} of type "
                                f"{v.type} for {what}")
    known = static_int(v)
    if known is not None and known < 0:
        raise ArignoteValueError(f"random draw: size entry {what} is {known}; sizes cannot be negative")
    return v if v.dtype == "int64" else E.cast(v, "int64")


def _size(what, size, ndim, params):
    """``size`` (ints, integer scalars, a shape vector, or a mix; None: the parameters'
    broadcast shape) as a list of int64 scalars, checked against ``ndim`` and against the
    static shapes of the tensor ``params`` broadcast to it."""
    if size is None:
        tensors = [p for p in params.values() if p.ndim]
        if not tensors:
            size = []
        else:
            template = tensors[0]
            for p in tensors[1:]:
                template = E.add(E.zeros_like(template), E.zeros_like(p))
            size = [template.shape[d] for d in range(template.ndim)]
    if isinstance(size, Variable):
        if size.ndim == 0:
            size = [size]
        elif size.ndim != 1 or not size.type.is_integer or size.type.shape[0] is None:
            raise ArignoteTypeError(f"{what}: size must be a tuple or a vector of known length, got "
                                    f"{describe(size)} of type {size.type}")
        else:
            size = [size[d] for d in range(size.type.shape[0])]
    elif isinstance(size, (int, np.integer)):
        size = [size]
    elif not isinstance(size, (tuple, list)):
        raise ArignoteTypeError(f"{what}: size must be a tuple of ints or integer scalars, got {size!r}")
    out = [_as_size(s, f"{d}") for d, s in enumerate(size)]
    if ndim is not None and ndim != len(out):
        raise ArignoteValueError(f"{what}: ndim={ndim} but size has {len(out)} entries")
    for name, p in params.items():
        if p.ndim > len(out):
            raise ArignoteValueError(f"{what}: {name} has {p.ndim} dimensions, more than the "
                                     f"{len(out)} of size")
        for d, s in enumerate(p.type.shape):
            want = static_int(out[len(out) - p.ndim + d])
            if s not in (1, None) and want is not None and want != s:
                raise ArignoteValueError(f"{what}: {name} of static shape {p.type.shape} cannot be "
                                         f"broadcast to size {tuple(static_int(o) for o in out)}")
    return out


# ------------------------------------------------------------ building blocks

def _finish(draw, out, dtype):
    """``out`` as ``dtype``, carrying the draw's state (``rng``) and update (Theano's)."""
    out = E.cast(out, dtype)
    if out is draw:  # (a cast that changed nothing: keep the draw's own attributes)
        return out
    out.rng, out.update = draw.rng, draw.update
    return out


def _scaled(bits, span, low):
    """``low + floor(bits * span / 2**32)``: integers in ``[low, low + span)`` from 32
    random bits (Lemire's multiply; exact integer arithmetic on every backend)."""
    wide = E.mul(E.cast(bits, "uint64"), E.cast(span, "uint64"))
    return E.add(E.cast(low, "int64"), E.cast(E.floor_div(wide, 2 ** 32), "int64"))


def _categorical(p, u):
    """Indices drawn with probabilities ``p`` for the uniforms ``u`` (a column)."""
    counts = Multinomial("int64")(E.add(E.zeros_like(u), p.dimshuffle("x", 0)), u)
    return E.cast(counts.argmax(axis=1), "int64")


def _product(size):
    out = constant(np.int64(1))
    for s in size:
        out = E.mul(out, s)
    return out


def _stack(size):
    return stack(*size) if size else constant(np.zeros(0, dtype="int64"))


__all__ = ["RandomStreams", "MRG_RandomStreams", "DEFAULT_SEED"]
