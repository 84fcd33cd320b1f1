"""Random draws: a counter-based generator (Philox-4x32-10), as elementwise arithmetic.

Why counter-based: a sample is a pure function of (key, draw count, element
index), so the reference (``perform``), the kernel-IR interpreter and compiled
kernels, fused or not, chunked on any number of threads, compute the same
numbers, and a kernel generates them where it uses them (a dropout mask never
goes through memory). The key is the stream's (derived from the seed and the
stream's number, :func:`stream_key`). One Philox block gives four 32-bit words,
and a sample takes ``k`` of them (:func:`words_per_sample`: 1, 2 or 4), so one
block serves ``e = 4 / k`` consecutive elements of a row: the element at
position ``j`` of the last axis, in row ``r`` (the C-order index of the other
axes; a row has ``n`` elements) is lane ``j mod e`` of block
``b = r * ceil(n / e) + j div e``, whose counter is ``(b mod 2**32, b div 2**32,
count mod 2**32, count div 2**32)``, ``count`` being how many times the stream
drew before. Blocks never straddle rows, so a kernel that walks a row in
aligned groups of ``e`` computes each block once (the cpu backend's schedule
unrolls such loops: :mod:`arignote.compiler.schedule`). A stream's state is a
uint64 vector ``[key, count]``.

The generator and the distributions are written once (:func:`draw`) over an
*emitter*: ``const(value, dtype)``, ``op(name, dtype, *args)`` (a scalar op of
the elementwise table, its arguments converted to ``dtype`` first, integers
wrapping) and ``cast(x, dtype)``. :class:`NumpyEmitter` runs it on arrays (the
reference); the compiler's lowering emits kernel IR with the same meaning
(:mod:`arignote.compiler.lower`), so the interpreter reproduces the reference
bit for bit, and compiled code does for every integer and uniform draw.

Floats from bits: the top 11 / 24 / 53 bits times 2**-11 / 2**-24 / 2**-53 for
float16 / float32 / float64 (exact, in [0, 1)). Normals by Box-Muller over the
elementwise table's ``log``, ``sqrt`` and ``cos`` (compiled kernels use the
project's own transcendentals: equal within their tolerance, not bitwise).
"""
import math

import numpy as np

from arignote.errors import ArignoteTypeError, ArignoteValueError, describe
from arignote.graph.basic import Apply, Constant
from arignote.graph.op import Op
from arignote.graph.type import TensorType
from arignote.ops.basic import as_tensor_variable
from arignote.ops.elemwise import SCALAR_OPS
from arignote.ops.static_shape import static_int

#: Philox-4x32 multipliers and Weyl key increments (Salmon et al., SC'11; Random123)
PHILOX_M = (0xD2511F53, 0xCD9E8D57)
PHILOX_W = (0x9E3779B9, 0xBB67AE85)
ROUNDS = 10
#: what each distribution returns: its dtypes
DISTRIBUTIONS = {"uniform": ("float16", "float32", "float64"),
                 "normal": ("float16", "float32", "float64"),
                 "truncated_normal": ("float16", "float32", "float64"),
                 "bits": ("uint32",)}
#: the radius of truncated normals is drawn below 2: 1 - (1 - exp(-2)) u lies in (exp(-2), 1]
TRUNCATE = 1.0 - math.exp(-2.0)
_MANTISSA = {"float16": 11, "float32": 24, "float64": 53}


class NumpyEmitter:
    """The emitter of :func:`draw` on NumPy arrays (the reference's arithmetic)."""

    @staticmethod
    def const(value, dtype):
        return np.asarray(value).astype(dtype) if np.dtype(dtype).kind == "f" else \
            np.asarray(int(value) & ((1 << (8 * np.dtype(dtype).itemsize)) - 1), dtype=dtype)

    @staticmethod
    def op(name, dtype, *args):
        with np.errstate(all="ignore"):
            values = [np.asarray(a).astype(dtype) for a in args]
            return np.asarray(SCALAR_OPS[name].impl(*values)).astype(dtype)

    @staticmethod
    def cast(x, dtype):
        return np.asarray(x).astype(dtype)


def _hi_lo(em, x):
    """The high and low uint32 words of the uint64 value ``x``."""
    hi = em.op("floor_div", "uint64", x, em.const(1 << 32, "uint64"))
    return em.cast(hi, "uint32"), em.cast(x, "uint32")


def philox(em, ctr, key, rounds=ROUNDS):
    """Philox-4x32-``rounds`` of the counter ``ctr`` (4 uint32 values) under ``key`` (2):
    four uint32 values. Each round multiplies two words into 64 bits (a 32x32 -> 64
    product: uint64 ``mul``; its high word by ``floor_div`` by 2**32)."""
    ctr, key = list(ctr), list(key)
    for r in range(rounds):
        if r:
            key = [em.op("add", "uint32", k, em.const(w, "uint32")) for k, w in zip(key, PHILOX_W)]
        hi0, lo0 = _hi_lo(em, em.op("mul", "uint64", em.const(PHILOX_M[0], "uint64"),
                                    em.cast(ctr[0], "uint64")))
        hi1, lo1 = _hi_lo(em, em.op("mul", "uint64", em.const(PHILOX_M[1], "uint64"),
                                    em.cast(ctr[2], "uint64")))
        ctr = [em.op("xor", "uint32", em.op("xor", "uint32", hi1, ctr[1]), key[0]), lo1,
               em.op("xor", "uint32", em.op("xor", "uint32", hi0, ctr[3]), key[1]), lo0]
    return ctr


def _unit(em, words, dtype):
    """A float in [0, 1) of ``dtype`` (float32 for float16) from the top bits of ``words``."""
    bits = _MANTISSA[dtype]
    if bits > 32:
        both = em.op("add", "uint64", em.op("mul", "uint64", em.cast(words[0], "uint64"),
                                            em.const(1 << 32, "uint64")), em.cast(words[1], "uint64"))
        top = em.op("floor_div", "uint64", both, em.const(1 << (64 - bits), "uint64"))
    else:
        top = em.op("floor_div", "uint32", words[0], em.const(1 << (32 - bits), "uint32"))
    work = "float64" if bits > 32 else "float32"
    return em.op("mul", work, em.cast(top, work), em.const(2.0 ** -bits, work))


def words_per_sample(dist, dtype):
    """How many of a Philox block's four words one sample of ``dist`` as ``dtype`` takes."""
    if dist in ("bits", "uniform"):
        return 2 if _MANTISSA.get(dtype, 0) > 32 else 1
    return 4 if dtype == "float64" else 2


def block_and_lane(em, dist, dtype, row, j, n):
    """The block (uint64) and lane (uint32) of the element at position ``j`` of a row of
    ``n`` elements, in row ``row`` (uint64 values; see the module docstring). The divisor
    is a power of two: a mask and a division that every backend compiles to a shift."""
    e = 4 // words_per_sample(dist, dtype)
    if e == 1:
        return em.op("add", "uint64", em.op("mul", "uint64", row, n), j), em.const(0, "uint32")
    per_row = em.op("floor_div", "uint64", em.op("add", "uint64", n, em.const(e - 1, "uint64")),
                    em.const(e, "uint64"))
    block = em.op("add", "uint64", em.op("mul", "uint64", row, per_row),
                  em.op("floor_div", "uint64", j, em.const(e, "uint64")))
    return block, em.cast(em.op("and_", "uint64", j, em.const(e - 1, "uint64")), "uint32")


def _lane_words(em, w, lane, k):
    """The ``k`` words of lane ``lane`` of the block ``w``: words ``lane * k`` on
    (selected branch-free, so the selection vectorizes and folds where ``lane`` is known)."""
    if k == 4:
        return w
    bit = em.op("and_", "uint32", lane, em.const(1, "uint32"))
    if k == 2:
        return [em.op("switch", "uint32", bit, w[2 + m], w[m]) for m in range(2)]
    low, high = (em.op("switch", "uint32", bit, w[h + 1], w[h]) for h in (0, 2))
    return [em.op("switch", "uint32", em.op("and_", "uint32", lane, em.const(2, "uint32")), high, low)]


def draw(em, dist, dtype, key, count, row, j, n):
    """The samples of distribution ``dist`` (:data:`DISTRIBUTIONS`) as ``dtype`` for the
    uint64 values ``key`` (the stream), ``count`` (its draw count) and each element's
    place: position ``j`` in row ``row`` of ``n`` elements (the module docstring says
    which block and lane that is). Written once over the emitter ``em``."""
    k_hi, k_lo = _hi_lo(em, key)
    block, lane = block_and_lane(em, dist, dtype, row, j, n)
    b_hi, b_lo = _hi_lo(em, block)
    c_hi, c_lo = _hi_lo(em, count)
    w = _lane_words(em, philox(em, [b_lo, b_hi, c_lo, c_hi], [k_lo, k_hi]), lane,
                    words_per_sample(dist, dtype))
    if dist == "bits":
        return w[0]
    if dist == "uniform":
        u = _unit(em, w, dtype)
        return u if dtype != "float16" else em.cast(u, dtype)
    work = "float64" if dtype == "float64" else "float32"
    wide = dtype == "float64"
    unit = "float32" if dtype == "float16" else dtype  # (float16 normals: computed in float32)
    u1, u2 = _unit(em, w[:2], unit), _unit(em, w[2:] if wide else w[1:], unit)
    one = em.const(1.0, work)
    scale = em.const(TRUNCATE if dist == "truncated_normal" else 1.0, work)
    r2 = em.op("mul", work, em.const(-2.0, work),
               em.op("log", work, em.op("sub", work, one, em.op("mul", work, scale, u1))))
    z = em.op("mul", work, em.op("sqrt", work, r2),
              em.op("cos", work, em.op("mul", work, em.const(2 * math.pi, work), u2)))
    return z if work == dtype else em.cast(z, dtype)


# ------------------------------------------------------------ stream state

def stream_key(seed, stream):
    """The 64-bit key of stream number ``stream`` of a generator seeded with ``seed``:
    Philox of ``(stream, 0, 0, 2**32 - 1)`` under the seed's two words, so keys of
    nearby seeds and streams look unrelated."""
    seed, stream = int(seed) & (2**64 - 1), int(stream) & (2**64 - 1)
    em = NumpyEmitter
    w = philox(em, [em.const(stream & 0xFFFFFFFF, "uint32"), em.const(stream >> 32, "uint32"),
                    em.const(0, "uint32"), em.const(0xFFFFFFFF, "uint32")],
               [em.const(seed & 0xFFFFFFFF, "uint32"), em.const(seed >> 32, "uint32")])
    return (int(w[1]) << 32) | int(w[0])


def initial_state(seed, stream):
    """A stream's state before its first draw: ``[key, 0]`` (uint64)."""
    return np.array([stream_key(seed, stream), 0], dtype="uint64")


# ------------------------------------------------------------ the ops

class RandomDraw(Op):
    """``draw(dist, dtype)`` of a stream over a shape: inputs the stream's key and draw
    count (uint64 scalars) and one int64 scalar per dimension of the shape.

    A *source* for fusion (``fusion_kind = 'source'``): elementwise in the element's
    index, which a kernel computes from its loop variables, so the samples are made
    inside the kernel that uses them. Never constant-folded; no gradient flows
    (the samples do not depend on any input as a differentiable function)."""

    __props__ = ("dist", "dtype", "ndim")
    fusion_kind = "source"
    constant_foldable = False

    def __init__(self, dist, dtype, ndim):
        if dist not in DISTRIBUTIONS or dtype not in DISTRIBUTIONS[dist]:
            raise ArignoteTypeError(f"RandomDraw: no {dist!r} draw of dtype {dtype}")
        self.dist, self.dtype, self.ndim = dist, dtype, int(ndim)

    def __str__(self):
        return f"RandomDraw{{{self.dist}, {self.dtype}}}"

    def make_node(self, key, count, *size):
        key, count = as_tensor_variable(key), as_tensor_variable(count)
        size = [as_tensor_variable(s) for s in size]
        for what, v in (("key", key), ("count", count)):
            if v.type != TensorType("uint64", ()):
                raise ArignoteTypeError(f"{self}: the stream's {what} must be a uint64 scalar, "
                                        f"got {describe(v)} of type {v.type}")
        if len(size) != self.ndim:
            raise ArignoteTypeError(f"{self}: {self.ndim} sizes expected, got {len(size)}")
        for d, s in enumerate(size):
            if s.type != TensorType("int64", ()):
                raise ArignoteTypeError(f"{self}: size {d} must be an int64 scalar, got {describe(s)} "
                                        f"of type {s.type}")
        static = tuple(static_int(s) for s in size)
        for d, s in enumerate(static):
            if s is not None and s < 0:
                raise ArignoteValueError(f"random draw: size {d} is {s}; sizes cannot be negative")
        return Apply(self, [key, count, *size], [TensorType(self.dtype, static)])

    def perform(self, node, inputs):
        key, count, *size = inputs
        size = tuple(int(s) for s in size)
        if any(s < 0 for s in size):
            raise ArignoteValueError(f"random draw: the size {size} has a negative entry")
        n = size[-1] if size else 1
        row = np.arange(math.prod(size[:-1]), dtype="uint64")[:, None]
        out = draw(NumpyEmitter, self.dist, self.dtype, np.uint64(key), np.uint64(count), row,
                   np.arange(n, dtype="uint64")[None, :], np.uint64(n))
        return [np.broadcast_to(np.asarray(out, dtype=self.dtype), (row.size, n)).reshape(size)]

    def source(self, em, inputs, row, j, n):
        """The sample at position ``j`` of row ``row`` of ``n`` elements (uint64 values of
        the emitter ``em``; see the module docstring), from the inputs before the sizes:
        how a kernel computes it."""
        key, count = inputs
        return draw(em, self.dist, self.dtype, key, count, row, j, n)

    def infer_shape(self, node, input_shapes):
        return [tuple(node.inputs[2:])]

    def L_op(self, inputs, outputs, output_grads):
        return [None] * len(inputs)


class CheckRange(Op):
    """``x`` itself (a copy), after checking at run time that every value lies in
    ``[lo, hi]`` (an error naming ``what`` otherwise): the run-time half of a random
    function's argument checks, for arguments not known when the graph is built."""

    __props__ = ("what", "lo", "hi")

    def __init__(self, what, lo=None, hi=None):
        self.what, self.lo, self.hi = what, lo, hi

    def make_node(self, x):
        x = as_tensor_variable(x)
        return Apply(self, [x], [x.type])

    def perform(self, node, inputs):
        (x,) = inputs
        bad = np.isnan(x) if x.dtype.kind == "f" else np.zeros(x.shape, bool)
        if self.lo is not None:
            bad |= x < self.lo
        if self.hi is not None:
            bad |= x > self.hi
        if bad.any():
            raise ArignoteValueError(f"{self.what} must lie in [{self.lo}, {self.hi}], got "
                                     f"{x[bad].ravel()[0]!r}")
        return [np.array(x)]

    def infer_shape(self, node, input_shapes):
        return input_shapes

    def L_op(self, inputs, outputs, output_grads):
        return [output_grads[0]]


def check_range(x, what, lo=None, hi=None):
    """``x`` checked to lie in ``[lo, hi]``: now if it is a constant, else at run time."""
    x = as_tensor_variable(x)
    if isinstance(x, Constant):
        d = x.data
        bad = (np.isnan(d) if d.dtype.kind == "f" else np.zeros(d.shape, bool)) | \
            ((d < lo) if lo is not None else False) | ((d > hi) if hi is not None else False)
        if np.any(bad):
            got = np.asarray(d)[bad].ravel()[0]
            raise ArignoteValueError(f"{what} must lie in [{lo}, {hi}], got {got!r}")
        return x
    return CheckRange(what, lo, hi)(x)


def check_pvals(pvals):
    """Raise unless every row of ``pvals`` lies in [0, 1] and sums to 1 (within rounding)."""
    pvals = np.asarray(pvals).reshape(-1, np.shape(pvals)[-1] if np.ndim(pvals) else 1)
    if pvals.size and (np.isnan(pvals).any() or (pvals < 0).any() or (pvals > 1).any()):
        raise ArignoteValueError("multinomial: pvals must lie in [0, 1]")
    sums = pvals.sum(axis=1)
    if sums.size and np.abs(sums - 1).max() > 1e-5 * pvals.shape[1]:
        raise ArignoteValueError(f"multinomial: each row of pvals must sum to 1, got a row summing "
                                 f"to {sums[np.argmax(np.abs(sums - 1))]!r}")


class Multinomial(Op):
    """Counts per category of ``n`` draws per row: inputs ``pvals`` (rows of
    probabilities) and ``u`` (uniforms, ``(rows, n)``); category ``j`` is drawn when
    ``u`` falls in ``[cdf[j-1], cdf[j])``. Opaque (it runs its NumPy implementation on
    every backend, so every backend gives the same counts)."""

    __props__ = ("dtype",)

    def __init__(self, dtype):
        self.dtype = dtype

    def make_node(self, pvals, u):
        pvals, u = as_tensor_variable(pvals), as_tensor_variable(u)
        return Apply(self, [pvals, u], [TensorType(self.dtype, pvals.type.shape)])

    def perform(self, node, inputs):
        pvals, u = inputs
        check_pvals(pvals)
        k = pvals.shape[1]
        cdf = np.cumsum(pvals.astype("float64"), axis=1)
        cat = np.minimum((u[:, :, None] >= cdf[:, None, :]).sum(axis=2), k - 1)
        out = np.zeros(pvals.shape, self.dtype)
        rows = np.repeat(np.arange(pvals.shape[0]), u.shape[1])
        np.add.at(out, (rows, cat.ravel()), 1)
        return [out]

    def infer_shape(self, node, input_shapes):
        return [input_shapes[0]]

    def L_op(self, inputs, outputs, output_grads):
        return [None, None]


class ArgsortBits(Op):
    """The stable argsort of the last axis of uint32 ``bits`` (as int64): a uniformly
    random permutation (ties, rare, keep their order). Opaque, like :class:`Multinomial`."""

    __props__ = ()

    def make_node(self, bits):
        bits = as_tensor_variable(bits)
        return Apply(self, [bits], [TensorType("int64", bits.type.shape)])

    def perform(self, node, inputs):
        return [np.argsort(inputs[0], axis=-1, kind="stable").astype("int64")]

    def infer_shape(self, node, input_shapes):
        return input_shapes

    def L_op(self, inputs, outputs, output_grads):
        return [None]


__all__ = ["RandomDraw", "CheckRange", "Multinomial", "ArgsortBits", "NumpyEmitter", "draw", "philox",
           "words_per_sample", "block_and_lane",
           "stream_key", "initial_state", "check_range", "check_pvals", "DISTRIBUTIONS"]
