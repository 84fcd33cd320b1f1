"""Types: what a variable holds, checked when values enter a function.

:class:`Type` is what the rest of Arignote asks of any kind of value: check
and convert one (``filter``), tell a valid one without converting
(``value_check``, the runtime's check of every step's results), compare
two, make variables and constants. Types are values: equal types are
interchangeable.

A :class:`TensorType` is a dtype plus a static shape: each dimension is an int
(known at build time) or ``None`` (known only at run time). A dimension of
static size 1 is *broadcastable*; a ``None`` dimension is never broadcast at
run time (see docs/design.md), which keeps gradients and fusion exact. The
kinds that are not tensors (a generic object, a list, no value) are in
:mod:`arignote.graph.generic`.
"""
import numpy as np

from arignote.errors import ArignoteTypeError, NotATensorError, ShapeError
from arignote.graph.basic import Constant, Variable
from arignote.graph.props import Props

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


#: what only tensor types have; asked of another type, a :class:`NotATensorError` says so
TENSOR_ATTRIBUTES = ("dtype", "shape", "ndim", "broadcastable", "numpy_dtype", "is_float",
                     "is_integer", "rank_name")


def _tensor_only(name):
    def get(self):
        raise NotATensorError(f"type {self} is not a tensor type: it has no {name}; a value of "
                              f"type {self} was given where a tensor is needed")
    return property(get)


class Type(Props):
    """What a graph value may be. A kind of type says how its values are checked
    (``filter``, ``is_valid_value``) and compared (``values_eq``), and which
    classes its variables and constants are. Immutable; equality and hash come
    from ``__props__``, as for ops."""

    __slots__ = ()
    __props__ = ()
    #: the class of this type's variables and constants (tensors install theirs: operators)
    variable_class = Variable
    constant_class = Constant

    def __setattr__(self, k, v):
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __reduce__(self):
        return type(self), self._props()

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(map(repr, self._props()))})"

    # what only tensor types have (TensorType overrides them all): asked of another kind,
    # a NotATensorError says so (properties: ``__getattr__`` would slow every lookup)
    for _name in TENSOR_ATTRIBUTES:
        locals()[_name] = _tensor_only(_name)
    del _name

    # -- values
    def filter(self, value, what="value", allow_downcast=False):
        """``value`` checked and converted to this type, or an ArignoteTypeError
        naming ``what``, what was expected and what came."""
        raise NotImplementedError(f"{type(self).__name__}.filter")

    def value_check(self):
        """``fn(value) -> bool``: whether a value is already of this type, exactly (no
        conversion). The runtime makes one per step output when it builds a program and
        calls it on every result, so it is specialized to the type (no lookups per call)."""
        raise NotImplementedError(f"{type(self).__name__}.value_check")

    def is_valid_value(self, value):
        """Whether ``value`` is already of this type, exactly (see :meth:`value_check`)."""
        return self.value_check()(value)

    def values_eq(self, a, b, approx=False):
        """Whether two values of this type are equal (``approx``: within float tolerance)."""
        try:
            return a is b or bool(a == b)
        except (TypeError, ValueError):  # (== of arrays inside, or no ==)
            return False

    def freeze(self, value):
        """A filtered value as a constant holds it: shared by every call, so a private
        read-only copy where the kind has one (a tensor's), else the value itself."""
        return value

    def constant_signature(self, data):
        """What makes two constants of this type interchangeable (merging): by default
        the object itself, as generic values need not compare."""
        return id(data)

    # -- variables
    def make_variable(self, name=None):
        return self.variable_class(self, name=name)

    def __call__(self, name=None):
        """A new variable of this type (Theano's types were callable: ``TensorType(...)('x')``)."""
        return self.make_variable(name)

    def make_constant(self, value, name=None):
        """A constant of this type holding ``value`` (filtered, then frozen)."""
        return self.constant_class(self, self.freeze(self.filter(value, what="a constant")),
                                   name=name)

    # -- relations between types (a tensor type's static sizes make them more than ==)
    def accepts(self, other):
        """True if every value of type ``other`` is a valid value of this type."""
        return self == other

    def compatible(self, other):
        """True if some value could have both types."""
        return self == other

    def merge(self, other):
        """The most specific type that both describe (assumes ``compatible``)."""
        return self


class TensorType(Type):
    """dtype + static shape. Equal types are interchangeable; hashable."""

    __slots__ = ("dtype", "shape", "numpy_dtype", "_static")
    __props__ = ("dtype", "shape")

    def __init__(self, dtype, shape=(), broadcastable=None):
        """``shape``: ints and None; Theano's broadcast pattern (a tuple of bools, or
        ``broadcastable=``) is accepted too, True meaning static size 1."""
        shape = tuple(shape if broadcastable is None else broadcastable)
        if shape and all(isinstance(s, (bool, np.bool_)) for s in shape):
            shape = tuple(1 if s else None for s in shape)
        for s in shape:
            if s is not None and (not isinstance(s, (int, np.integer)) or isinstance(s, bool) or s < 0):
                raise ArignoteTypeError(
                    f"a static shape holds non-negative ints or None, got {shape!r}")
        set_ = object.__setattr__
        set_(self, "dtype", normalize_dtype(dtype))
        set_(self, "shape", tuple(None if s is None else int(s) for s in shape))
        set_(self, "numpy_dtype", np.dtype(self.dtype))
        set_(self, "_static", tuple((d, s) for d, s in enumerate(self.shape) if s is not None))

    def __setattr__(self, k, v):
        raise AttributeError("TensorType is immutable")

    def __reduce__(self):
        return TensorType, (self.dtype, self.shape)

    ndim = property(lambda self: len(self.shape))
    broadcastable = property(lambda self: tuple(s == 1 for s in self.shape))
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

    # arignote.ops.variable installs its Variable and Constant subclasses here (with operators).
    variable_class = None

    def value_check(self):
        dtype, ndim, static, ndarray = self.numpy_dtype, len(self.shape), self._static, np.ndarray
        if not static:  # (as fast as the test written inline)
            return lambda v: isinstance(v, ndarray) and v.dtype == dtype and v.ndim == ndim
        return lambda v: isinstance(v, ndarray) and v.dtype == dtype and v.ndim == ndim and \
            all(v.shape[d] == s for d, s in static)

    def values_eq(self, a, b, approx=False):
        a, b = np.asarray(a), np.asarray(b)
        if a.shape != b.shape:
            return False
        if approx and self.dtype[:5] in ("float", "compl"):
            return bool(np.allclose(a, b, equal_nan=True))
        return bool(np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))

    def freeze(self, value):
        # a private read-only copy: the user's array stays writable and later changes to it
        # do not leak into the graph (np.ascontiguousarray would also turn 0-d into 1-d)
        data = np.array(value, order="C", copy=True)
        data.setflags(write=False)
        return data

    def constant_signature(self, data):
        return data.tobytes()

    def filter(self, value, what="value", allow_downcast=False):
        """Check and convert ``value`` to an ndarray of this type.

        Lossless conversions always happen (an int array into a float64 input;
        a Python int, or a Python float that the dtype holds exactly such as 0.5,
        into a float32 input: Theano took Python floats for floatX inputs); lossy
        ones (float64 data into float32, a Python 0.1 into float32, a Python float
        into an int) need ``allow_downcast``. NumPy data keeps its dtype: a
        float64 array or NumPy scalar into float32 is lossy whatever its values.
        ``what`` names the value in error messages.
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
        if value.__class__ is float and target.kind == "f":  # the common Python float, quickly
            arr = EXACT_FLOAT[self.dtype](value)
            if arr is not None:
                return arr
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
        # Python scalars and lists: accept when the conversion is exact; a float never
        # becomes an integer (2.0 into an int input needs allow_downcast).
        kinds = "fc" if raw.dtype.kind == "f" else "iufc"
        if np.can_cast(raw.dtype, target, "safe") or (
                raw.dtype.kind in "biuf" and target.kind in kinds and _exact(raw, target)):
            return np.asarray(raw, dtype=target)
        raise ArignoteTypeError(
            f"{what} expects {self.dtype} data, got {_describe_value(value)} "
            f"(read as {raw.dtype}); converting would lose information. Pass a "
            f"{self.dtype} array or compile with allow_input_downcast=True")


def _exact_float(dtype):
    """``fn(x)``: the Python float ``x`` as a 0-d array of the float ``dtype`` if that holds
    it exactly, else None (for NaN and infinities too: ``filter``'s general path takes them)."""
    kind = np.dtype(dtype).type
    big = float(np.finfo(dtype).max)

    def convert(x):
        if -big <= x <= big:  # (no overflow warning from the conversion)
            v = kind(x)
            if float(v) == x:  # (as Python floats: NumPy would compare in the dtype)
                return np.asarray(v)
        return None
    return convert


#: float dtype -> :func:`_exact_float` of it
EXACT_FLOAT = {d: _exact_float(d) for d in FLOAT_DTYPES}


def _exact(raw, target):
    """Whether every value of ``raw`` converts to ``target`` and back unchanged (NaN stays NaN)."""
    with np.errstate(all="ignore"):
        try:
            converted = raw.astype(target)
        except OverflowError:
            return False
        back = (converted.real if target.kind == "c" else converted).astype(raw.dtype)
        same = back == raw
        if raw.dtype.kind == "f":
            same |= np.isnan(back) & np.isnan(raw)
        return bool(np.all(same))


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
