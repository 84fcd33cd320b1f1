"""Types: what a variable holds, checked when values enter a function.

A :class:`TensorType` is a dtype plus a static shape: each dimension is an int
(known at build time) or ``None`` (known only at run time). A dimension of
static size 1 is *broadcastable*; a ``None`` dimension is never broadcast at
run time (see docs/design.md), which keeps gradients and fusion exact.
"""
import numpy as np

from arignote.errors import ArignoteTypeError, ShapeError

DTYPES = ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
          "uint64", "float16", "float32", "float64", "complex64", "complex128")
FLOAT_DTYPES = ("float16", "float32", "float64")
INT_DTYPES = tuple(d for d in DTYPES if d[:3] in ("int", "uin"))
RANK_NAMES = {0: "scalar", 1: "vector", 2: "matrix", 3: "tensor3", 4: "tensor4"}


def normalize_dtype(dtype):
    name = np.dtype(dtype).name if dtype is not None else None
    if name not in DTYPES:
        raise ArignoteTypeError(f"unsupported dtype {dtype!r}; supported: {', '.join(DTYPES)}")
    return name


class TensorType:
    """dtype + static shape. Equal types are interchangeable; hashable."""

    __slots__ = ("dtype", "shape")

    def __init__(self, dtype, shape=()):
        shape = tuple(shape)
        for s in shape:
            if s is not None and (not isinstance(s, (int, np.integer)) or isinstance(s, bool) or s < 0):
                raise ArignoteTypeError(
                    f"a static shape holds non-negative ints or None, got {shape!r}")
        object.__setattr__(self, "dtype", normalize_dtype(dtype))
        object.__setattr__(self, "shape", tuple(None if s is None else int(s) for s in shape))

    def __setattr__(self, k, v):
        raise AttributeError("TensorType is immutable")

    def __reduce__(self):
        return TensorType, (self.dtype, self.shape)

    ndim = property(lambda self: len(self.shape))
    broadcastable = property(lambda self: tuple(s == 1 for s in self.shape))
    numpy_dtype = property(lambda self: np.dtype(self.dtype))
    is_float = property(lambda self: self.dtype in FLOAT_DTYPES)
    is_integer = property(lambda self: self.dtype in INT_DTYPES or self.dtype == "bool")

    def __eq__(self, other):
        return type(other) is TensorType and self.dtype == other.dtype and self.shape == other.shape

    def __hash__(self):
        return hash((self.dtype, self.shape))

    def __repr__(self):
        return f"TensorType({self.dtype}, shape={self.shape})"

    def __str__(self):
        dims = ",".join("?" if s is None else str(s) for s in self.shape)
        return f"{self.dtype}[{dims}]" if self.shape else self.dtype

    def clone(self, dtype=None, shape=None):
        return TensorType(self.dtype if dtype is None else dtype,
                          self.shape if shape is None else shape)

    def rank_name(self):
        return RANK_NAMES.get(self.ndim, f"{self.ndim}-d tensor")

    def accepts(self, other):
        """True if every value of type ``other`` is a valid value of this type."""
        return (isinstance(other, TensorType) and other.dtype == self.dtype
                and other.ndim == self.ndim
                and all(s is None or s == o for s, o in zip(self.shape, other.shape)))

    def compatible(self, other):
        """True if some value could have both types (same dtype, rank, no clashing dim)."""
        return (isinstance(other, TensorType) and other.dtype == self.dtype
                and other.ndim == self.ndim
                and all(s is None or o is None or s == o for s, o in zip(self.shape, other.shape)))

    def merge(self, other):
        """The most specific type that both describe (assumes ``compatible``)."""
        return TensorType(self.dtype, tuple(o if s is None else s for s, o in zip(self.shape, other.shape)))

    def make_variable(self, name=None):
        return self.variable_class(self, name=name)

    # The tensor package installs its Variable subclass here (with operators).
    variable_class = None

    def filter(self, value, what="value", allow_downcast=False):
        """Check and convert ``value`` to an ndarray of this type.

        Lossless conversions always happen (an int array into a float64 input,
        a Python int into a float32 input); lossy ones (float64 into float32,
        a Python float into an int) need ``allow_downcast``. ``what`` names the
        value in error messages.
        """
        arr = self._convert(value, what, allow_downcast)
        if arr.ndim != self.ndim:
            raise ArignoteTypeError(
                f"{what} expects a {self.ndim}-d array ({self.rank_name()} of {self.dtype}), "
                f"got a {arr.ndim}-d array of shape {arr.shape}")
        for axis, (s, a) in enumerate(zip(self.shape, arr.shape)):
            if s is not None and s != a:
                raise ShapeError(
                    f"{what} has static shape {_fmt_shape(self.shape)} but got a value of shape "
                    f"{arr.shape} (dimension {axis}: expected {s}, got {a})")
        return arr

    def _convert(self, value, what, allow_downcast):
        target = self.numpy_dtype
        if type(value) is np.ndarray and value.dtype == target:
            return value
        if isinstance(value, np.ndarray):  # subclasses (matrix, masked) change what ops mean
            value = np.asarray(value)
        if allow_downcast:
            try:
                return np.asarray(value, dtype=target)
            except (TypeError, ValueError, OverflowError) as e:
                raise ArignoteTypeError(
                    f"{what} expects {self.dtype} data, got {_describe_value(value)}: {e}") from None
        if isinstance(value, (np.ndarray, np.generic)):
            if np.can_cast(value.dtype, target, "safe"):
                return np.asarray(value, dtype=target)
            raise ArignoteTypeError(
                f"{what} expects {self.dtype} data, got {value.dtype} {_describe_value(value)}; "
                f"converting would lose precision. Cast it first (value.astype('{self.dtype}')) "
                f"or compile with allow_input_downcast=True")
        try:
            raw = np.asarray(value)
        except (TypeError, ValueError) as e:
            raise ArignoteTypeError(
                f"{what} expects {self.dtype} data, got {_describe_value(value)}: {e}") from None
        if raw.dtype.kind not in "biufc":
            raise ArignoteTypeError(f"{what} expects {self.dtype} data, got {_describe_value(value)}")
        # Python scalars and lists: accept when the conversion is exact and keeps the kind.
        if np.can_cast(raw.dtype, target, "safe") or (
                raw.dtype.kind in "biu" and target.kind in "iufc" and _exact(raw, target)):
            return np.asarray(raw, dtype=target)
        raise ArignoteTypeError(
            f"{what} expects {self.dtype} data, got {_describe_value(value)} "
            f"(read as {raw.dtype}); converting would lose information. Pass a "
            f"{self.dtype} array or compile with allow_input_downcast=True")


def _exact(raw, target):
    with np.errstate(all="ignore"):
        try:
            converted = raw.astype(target)
        except OverflowError:
            return False
        back = converted.real if target.kind == "c" else converted
        return bool(np.all(back.astype(raw.dtype) == raw))


def _describe_value(value):
    if isinstance(value, np.ndarray):
        return f"array of shape {value.shape}"
    if isinstance(value, (list, tuple)):
        return f"a {type(value).__name__} of length {len(value)}"
    if isinstance(value, np.generic):
        return repr(value)
    return f"{type(value).__name__} {value!r}" if np.ndim(value) == 0 else type(value).__name__


def _fmt_shape(shape):
    dims = ", ".join("?" if s is None else str(s) for s in shape)
    return f"({dims},)" if len(shape) == 1 else f"({dims})"
