"""Types of graph values that are not tensors.

Loops, random streams and optional arguments need values a tensor cannot be:
a generator state or an opaque handle (:class:`GenericType`), a list of
values (:class:`ListType`), and "no value" (:class:`NoneType`, whose one
constant is :data:`NoneConst`, Theano's name). They are values like any
other for ``function`` (inputs, outputs, shared variables, updates) and for
the runtime, which checks what each step computed through the type. Only
ops run them: every backend calls their ``perform``, the fuser leaves them
out of kernels, and no gradient flows through them.
"""
from arignote.errors import ArignoteTypeError
from arignote.graph.basic import Constant
from arignote.graph.type import Type, _describe_value


class GenericType(Type):
    """Any Python object, or any instance of ``cls``. Values pass as they are: no
    copy, no conversion."""

    __slots__ = ("cls",)
    __props__ = ("cls",)

    def __init__(self, cls=object):
        if not isinstance(cls, type):
            raise ArignoteTypeError(f"GenericType(cls): cls must be a class, got {cls!r}")
        object.__setattr__(self, "cls", cls)

    def __str__(self):
        return "generic" if self.cls is object else f"generic[{self.cls.__name__}]"

    def filter(self, value, what="value", allow_downcast=False):
        if not isinstance(value, self.cls):
            raise ArignoteTypeError(f"{what} expects a {self.cls.__name__} ({self}), got "
                                    f"{_describe_value(value)}")
        return value

    def value_check(self):
        cls = self.cls
        return lambda v: isinstance(v, cls)


class ListType(Type):
    """A Python list whose every item is a value of ``element_type``; lists of lists
    nest ListTypes. Tuples are accepted as input and become lists."""

    __slots__ = ("element_type",)
    __props__ = ("element_type",)

    def __init__(self, element_type):
        if not isinstance(element_type, Type):
            raise ArignoteTypeError(f"ListType(element_type): expected a Type, got "
                                    f"{element_type!r}")
        object.__setattr__(self, "element_type", element_type)

    def __str__(self):
        return f"list of {self.element_type}"

    def filter(self, value, what="value", allow_downcast=False):
        if not isinstance(value, (list, tuple)):
            raise ArignoteTypeError(f"{what} expects a list of {self.element_type}, got "
                                    f"{_describe_value(value)}")
        element = self.element_type
        return [element.filter(v, what=f"item {k} of {what}", allow_downcast=allow_downcast)
                for k, v in enumerate(value)]

    def value_check(self):
        valid = self.element_type.value_check()
        return lambda v: isinstance(v, list) and all(map(valid, v))

    def values_eq(self, a, b, approx=False):
        eq = self.element_type.values_eq
        return len(a) == len(b) and all(eq(x, y, approx) for x, y in zip(a, b))

    def freeze(self, value):
        return [self.element_type.freeze(v) for v in value]

    def constant_signature(self, data):
        return tuple(self.element_type.constant_signature(v) for v in data)

    def accepts(self, other):
        return isinstance(other, ListType) and self.element_type.accepts(other.element_type)

    def compatible(self, other):
        return isinstance(other, ListType) and self.element_type.compatible(other.element_type)

    def merge(self, other):
        return ListType(self.element_type.merge(other.element_type))


class NoneType(Type):
    """"No value" (Theano's NoneTypeT): what an op is given for an optional input left
    out. Its only value is None."""

    __slots__ = ()

    def __str__(self):
        return "none"

    def filter(self, value, what="value", allow_downcast=False):
        if value is not None:
            raise ArignoteTypeError(f"{what} expects None (no value), got {_describe_value(value)}")
        return None

    def value_check(self):
        return lambda v: v is None

    def constant_signature(self, data):
        return None


#: the constant "no value"
NoneConst = Constant(NoneType(), None, name="NoneConst")
