"""Global settings, read once from the environment and changeable at run time.

Each setting is a row of :data:`SETTINGS`: its own environment variable (or
None), its default and the values it accepts. They are read, lowest
priority first, from

1. ``THEANO_FLAGS`` (``floatX=float32,device=cpu,...``), so a Theano user's
   environment carries over: a flag Arignote has no counterpart for is
   ignored with a warning;
2. ``ARIGNOTE_FLAGS``, the same syntax: an unknown flag is an error;
3. each setting's own variable, e.g. ``ARIGNOTE_FLOATX`` or ``ARIGNOTE_BACKEND``.

``config.floatX`` is the dtype of the unprefixed constructors such as
``T.matrix``. Theano's ``device``, ``optimizer`` and ``linker`` are views of
``backend`` and ``mode`` (see :data:`VIEWS`); a few more Theano flags are
accepted and documented as having no effect here (:data:`NO_EFFECT`).
"""
import contextlib
import os
import re
import warnings

from arignote.errors import ArignoteValueError, ArignoteWarning


class Registered:
    """The allowed values of a setting that a higher layer fills in as it registers
    them: the backends (:func:`arignote.backends.register`), which config, at the
    bottom of the layers, cannot list itself."""

    def __init__(self):
        self._names = []

    def add(self, name):
        if name not in self._names:
            self._names.append(name)

    def discard(self, name):
        if name in self._names:
            self._names.remove(name)

    def __contains__(self, value):
        return isinstance(value, str) and value in self._names

    def __iter__(self):
        return iter(tuple(self._names))

    def __repr__(self):
        return repr(tuple(self._names))


BOOL = (True, False)
SETTINGS = {
    # name: (environment variable, default, allowed values)
    "floatX": ("ARIGNOTE_FLOATX", "float64", ("float16", "float32", "float64")),
    "mode": ("ARIGNOTE_MODE", "fast_run", ("fast_run", "fast_compile", "none")),
    "backend": ("ARIGNOTE_BACKEND", "cpu", Registered()),  # (any registered backend)
    "fusion": ("ARIGNOTE_FUSION", True, BOOL),
    # function(..., profile=None) reads it: print each function's step profile at exit
    "profile": ("ARIGNOTE_PROFILE", False, BOOL),
    # Theano's flags that change nothing here (why: NO_EFFECT), accepted so its code runs
    "compute_test_value": (None, "off", ("off", "ignore")),
    "exception_verbosity": (None, "low", ("low", "high")),
    "allow_gc": (None, True, BOOL),
    "warn_float64": (None, "ignore", ("ignore",)),
    "deterministic": (None, "default", ("default", "more")),
}

#: Theano's flags that Arignote accepts and why they change nothing
NO_EFFECT = {
    "compute_test_value": "test values are not supported ('off' only); evaluate a variable "
                          "with x.eval({x: value}) instead",
    "exception_verbosity": "every error already names the variable, the op and the user's line",
    "allow_gc": "intermediate values are always released after their last reader",
    "warn_float64": "only 'ignore' is supported",
    "deterministic": "results never depend on thread count or timing",
}

_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")
#: the values a user may write for a setting -> the setting's own value
_SPELLINGS = {
    "mode": {"fast_run": "fast_run", "fast_compile": "fast_compile", "none": "none"},
}
#: Theano's modes that have no counterpart here, with what to use instead
_OTHER_MODES = {
    "debugmode": "compare backends instead: function(..., backend='numpy') is the reference",
    "debug_mode": "compare backends instead: function(..., backend='numpy') is the reference",
    "profilemode": "use function(..., profile=True) or arignote.profile(fn, *args)",
    "profile_mode": "use function(..., profile=True) or arignote.profile(fn, *args)",
    "nanguardmode": "NanGuardMode is not supported",
}


def normalize_mode(value, current="fast_run"):
    """A mode as written by a user (ours, or Theano's 'FAST_RUN', 'FAST_COMPILE',
    'Mode'; any case) -> ours. 'Mode' (Theano's default: "use the optimizer flag")
    means the ``current`` mode. Other values are returned unchanged (checked later)."""
    if not isinstance(value, str):
        return value
    word = value.strip().lower()
    if word == "mode":
        return current
    if word in _OTHER_MODES:
        raise ArignoteValueError(f"mode {value!r} (Theano's) is not supported: {_OTHER_MODES[word]}")
    return _SPELLINGS["mode"].get(word, value)


# ------------------------------------------------------------ Theano's views

def optimizer_to_mode(value):
    word = "none" if value is None else str(value).strip().lower()
    modes = {"fast_run": "fast_run", "fast_compile": "fast_compile", "merge": "fast_compile",
             "none": "none"}
    if word not in modes:
        raise ArignoteValueError(f"config.optimizer must be one of 'fast_run', 'fast_compile', "
                                 f"'merge' or None, got {value!r}")
    return modes[word]


def _device_to_backend(value, backend):
    word = str(value).strip().lower()
    if word == "cpu":
        return "cpu" if backend.startswith("cuda") else backend
    if re.fullmatch(r"(cuda|gpu)\d*", word):  # (one GPU here: Theano's cuda0, gpu1, ...)
        return "cuda"
    raise ArignoteValueError(f"config.device must be 'cpu' or a GPU ('cuda', 'cuda0', 'gpu', "
                             f"...), got {value!r}")


LINKERS = ("cvm", "c|py", "py", "c", "vm", "cvm_nogc", "c|py_nogc", "vm_nogc")


def linker_to_backend(value, backend):
    if value not in LINKERS:
        raise ArignoteValueError(f"config.linker must be one of {LINKERS}, got {value!r}")
    if value == "py":  # Theano's pure-Python implementations: our reference backend
        return "numpy"
    return "cpu" if backend == "numpy" else backend


#: Theano's settings that are views of ours: name -> (our setting, read, write)
VIEWS = {
    "optimizer": ("mode", lambda c: {"none": "None"}.get(c.mode, c.mode),
                  lambda c, v: optimizer_to_mode(v)),
    "device": ("backend", lambda c: "cuda" if c.backend.startswith("cuda") else "cpu",
               lambda c, v: _device_to_backend(v, c.backend)),
    "linker": ("backend", lambda c: "py" if c.backend == "numpy" else "cvm",
               lambda c, v: linker_to_backend(v, c.backend)),
}


# ------------------------------------------------------------ reading the environment

def _from_string(name, raw):
    """A setting's value as written in the environment: booleans accept 1/0, true/false,
    yes/no, on/off; ``None`` spells Theano's ``optimizer=None``."""
    allowed = SETTINGS[name][2] if name in SETTINGS else None
    if allowed == BOOL:
        word = raw.strip().lower()
        return True if word in _TRUE else False if word in _FALSE else raw
    return None if name == "optimizer" and raw.strip() == "None" else raw.strip()


def parse_flags(text, source):
    """``'floatX=float32,device=cpu'`` -> [(name, value string)]; ``source`` names the
    variable in errors."""
    pairs = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, eq, value = item.partition("=")
        if not eq or not name.strip():
            raise ArignoteValueError(f"{source}: {item!r} is not of the form name=value "
                                     f"(e.g. {source}=floatX=float32,device=cpu)")
        pairs.append((name.strip(), value))
    return pairs


def known_names():
    return sorted([*SETTINGS, *VIEWS], key=str.lower)


class Config:
    """Arignote's settings (and Theano's names for them): see the module docstring."""

    def __init__(self, environ=None):
        environ = os.environ if environ is None else environ
        for name, (_, default, _) in SETTINGS.items():
            object.__setattr__(self, name, default)
        ignored = []
        for source in ("THEANO_FLAGS", "ARIGNOTE_FLAGS"):
            for name, raw in parse_flags(environ.get(source, ""), source):
                if name not in SETTINGS and name not in VIEWS:
                    if source == "THEANO_FLAGS":
                        ignored.append(name)
                        continue
                    raise ArignoteValueError(f"ARIGNOTE_FLAGS: unknown flag {name!r}; known: "
                                             f"{', '.join(known_names())}")
                self._set_from(name, _from_string(name, raw), source)
        for name, (env, _, _) in SETTINGS.items():
            if env is not None and env in environ:
                self._set_from(name, _from_string(name, environ[env]), env)
        if ignored:
            warnings.warn(f"THEANO_FLAGS: Arignote has no counterpart for {', '.join(ignored)}; "
                          f"ignored", ArignoteWarning, stacklevel=2)

    def _set_from(self, name, value, source):
        try:
            if name in VIEWS:
                name, value = VIEWS[name][0], VIEWS[name][2](self, value)
            if name == "backend":  # (registered later: checked where it is used)
                object.__setattr__(self, name, value)
            else:
                setattr(self, name, value)
        except ArignoteValueError as e:
            if source == SETTINGS[name][0]:  # (the message names the variable already)
                raise
            raise ArignoteValueError(f"{source}: {e}") from None

    def __setattr__(self, name, value):
        if name in VIEWS:
            target, _, write = VIEWS[name]
            setattr(self, target, write(self, value))
            return
        if name not in SETTINGS:
            raise AttributeError(
                f"arignote.config has no setting {name!r}; known: {', '.join(known_names())}")
        env, _, allowed = SETTINGS[name]
        if name == "mode":
            value = normalize_mode(value, self.mode)
        if value not in allowed or (allowed == BOOL and not isinstance(value, bool)):
            where = f" (environment {env})" if env else ""
            why = f"; {NO_EFFECT[name]}" if name in NO_EFFECT else ""
            raise ArignoteValueError(
                f"config.{name}{where} must be one of {allowed}, got {value!r}{why}")
        object.__setattr__(self, name, value)

    def __getattr__(self, name):  # (only reached for names that are not settings)
        if name in VIEWS:
            return VIEWS[name][1](self)
        raise AttributeError(f"arignote.config has no setting {name!r}; known: "
                             f"{', '.join(known_names())}")

    @contextlib.contextmanager
    def change_flags(self, **flags):
        """Set ``flags`` inside a ``with`` block, restoring the old values after it
        (Theano's ``config.change_flags``)."""
        old = {name: getattr(self, name) for name in flags}
        try:
            for name, value in flags.items():
                setattr(self, name, value)
            yield self
        finally:
            for name, value in reversed(old.items()):
                if name in SETTINGS:  # (as it was, even a backend registered since)
                    object.__setattr__(self, name, value)
                else:
                    setattr(self, name, value)

    def __repr__(self):
        body = ", ".join(f"{k}={getattr(self, k)!r}" for k in SETTINGS)
        return f"Config({body})"


config = Config()
