"""Arignote's exceptions.

Every mistake a user can make raises a subclass of :class:`ArignoteError` that
also subclasses the matching builtin (``TypeError`` or ``ValueError``), so code
written against NumPy's exceptions keeps working. Messages name the variable
or op, what was expected, what came, and where the offending node was built.
"""
import os
import sys

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
# Code that runs graphs, not builds them: compiling and calling functions, launching kernels.
_RUNNING_DIRS = tuple(os.path.join(_PACKAGE_DIR, d, "") for d in ("runtime", "compiler"))


class ArignoteError(Exception):
    """Base class of every error Arignote raises on purpose. Raised while the user builds
    a graph, its message ends with the user's line that was building it (unless it names
    that line already): ``x.sum(axis=3)`` is the mistake, not the line that built ``x``,
    and the traceback's last frames are Arignote's own."""

    def __init__(self, *args):
        super().__init__(*args)
        self.raised_at = _building_site()

    def __str__(self):
        message = super().__str__()
        site = getattr(self, "raised_at", None)
        if site is None or f"{site[0]}:{site[1]}," in message:
            return message
        return f"{message} (raised at {format_trace(site)})"


class ArignoteTypeError(ArignoteError, TypeError):
    """A value or variable of the wrong kind, dtype or rank."""


class NotATensorError(ArignoteTypeError, AttributeError):
    """A tensor attribute (dtype, shape, ndim...) asked of a value that is not a tensor (a
    list, a generic object, no value). An AttributeError too, so ``getattr(t, 'dtype',
    None)`` keeps its meaning."""


class ArignoteValueError(ArignoteError, ValueError):
    """A value of the right kind that is still wrong (shape, range, option)."""


class ShapeError(ArignoteValueError):
    """Shapes that contradict each other, found at build time or at run time."""


class MissingInputError(ArignoteValueError):
    """A graph needs a variable that the function was not given."""


class UnusedInputError(ArignoteValueError):
    """A function input that no output or update depends on."""


class DisconnectedInputError(ArignoteValueError):
    """``grad`` was asked for a variable the cost does not depend on."""


class GradientError(ArignoteValueError):
    """A symbolic gradient that disagrees with finite differences."""

    def __init__(self, message, arg=None, abs_err=None, rel_err=None):
        super().__init__(message)
        self.arg = arg
        self.abs_err = abs_err
        self.rel_err = rel_err


class RewriteError(ArignoteError, RuntimeError):
    """A graph rewrite misbehaved (changed a type, never converged...)."""


class CycleError(RewriteError):
    """A graph whose value depends on itself: an internal error, always a rewrite's
    bug (a user cannot build one). ``nodes`` is the cycle, each node feeding the next
    and the last feeding the first."""

    def __init__(self, message, nodes=()):
        super().__init__(message)
        self.nodes = list(nodes)


class ArignoteWarning(UserWarning):
    """Base class of every warning Arignote gives."""


class CacheWarning(ArignoteWarning):
    """The compile cache refused a directory or an entry that others could have written."""


def describe(var):
    """A short human name for a variable: its name or its producing op."""
    name = getattr(var, "name", None)
    if name:
        return repr(name)
    owner = getattr(var, "owner", None)
    if owner is not None:
        return f"the output of {owner.op}"
    return f"an unnamed {getattr(var, 'type', 'variable')}"


def user_trace():
    """(filename, lineno, function) of the innermost frame outside arignote, or None."""
    frame = sys._getframe(1)
    while frame is not None:
        if not frame.f_code.co_filename.startswith(_PACKAGE_DIR):
            return (frame.f_code.co_filename, frame.f_lineno, frame.f_code.co_name)
        frame = frame.f_back
    return None


def _building_site():
    """The user's line running now if it is building a graph, else None: while a function
    compiles or runs (a kernel launched, an op's ``perform``), an error names the nodes'
    own lines, and the call is in the traceback."""
    frame, site = sys._getframe(1), None
    while frame is not None:
        code = frame.f_code
        if code.co_filename.startswith(_RUNNING_DIRS) or (
                code.co_name == "perform" and code.co_filename.startswith(_PACKAGE_DIR)):
            return None
        if site is None and not code.co_filename.startswith(_PACKAGE_DIR):
            site = (code.co_filename, frame.f_lineno, code.co_name)
        frame = frame.f_back
    return site


def built_at(obj):
    """' (built at file.py:12: code)' for a node or variable, or ''."""
    trace = getattr(obj, "trace", None)
    if trace is None and getattr(obj, "owner", None) is not None:
        trace = obj.owner.trace
    if not trace:
        return ""
    return f" (built at {format_trace(trace)})"


def format_trace(trace):
    import linecache

    filename, lineno, func = trace
    line = linecache.getline(filename, lineno).strip()
    where = f"{filename}:{lineno}"
    return f"{where}, in {func}: {line}" if line else f"{where}, in {func}"
