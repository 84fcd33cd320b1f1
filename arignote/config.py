"""Global settings, read once from the environment and changeable at run time.

Each setting is a row of :data:`SETTINGS`: its environment variable, its
default and the values it accepts. ``ARIGNOTE_FLOATX`` sets ``config.floatX``
(the dtype of the unprefixed constructors such as ``T.matrix``).
"""
import os

from arignote.errors import ArignoteValueError


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


SETTINGS = {
    # name: (environment variable, default, allowed values)
    "floatX": ("ARIGNOTE_FLOATX", "float64", ("float16", "float32", "float64")),
    "mode": ("ARIGNOTE_MODE", "fast_run", ("fast_run", "fast_compile", "none")),
    "backend": ("ARIGNOTE_BACKEND", "cpu", Registered()),  # (any registered backend)
    "fusion": ("ARIGNOTE_FUSION", True, (True, False)),
}
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def _from_env(env, default, allowed):
    """The environment's value for a setting; booleans accept 1/0, true/false, yes/no, on/off."""
    raw = os.environ.get(env)
    if raw is None:
        return default
    if allowed == (True, False):
        word = raw.strip().lower()
        return True if word in _TRUE else False if word in _FALSE else raw
    return raw


class Config:
    def __init__(self):
        for name, (env, default, allowed) in SETTINGS.items():
            value = _from_env(env, default, allowed)
            if isinstance(allowed, Registered):  # (registered later: checked where it is used)
                object.__setattr__(self, name, value)
            else:
                setattr(self, name, value)

    def __setattr__(self, name, value):
        if name not in SETTINGS:
            raise AttributeError(
                f"arignote.config has no setting {name!r}; known: {sorted(SETTINGS)}")
        env, _, allowed = SETTINGS[name]
        if value not in allowed or (allowed == (True, False) and not isinstance(value, bool)):
            raise ArignoteValueError(
                f"config.{name} (environment {env}) must be one of {allowed}, got {value!r}")
        object.__setattr__(self, name, value)

    def __repr__(self):
        body = ", ".join(f"{k}={getattr(self, k)!r}" for k in SETTINGS)
        return f"Config({body})"


config = Config()
