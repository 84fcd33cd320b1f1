"""Theano's ``Mode``: how a function is compiled, as an object.

A :class:`Mode` pairs Theano's two knobs, mapped onto Arignote's: the
*optimizer* picks the rewrite mode ('fast_run' every rewrite, 'fast_compile'
or 'merge' merging only, None none) and the *linker* the backend ('py', the
pure-Python implementations, is the reference backend 'numpy'; the C linkers
'cvm', 'c', 'vm', ... are the compiled default). ``excluding(tag)`` turns
rewrites off by tag; Theano's fusion tags turn fusion off.
"""
import warnings

from arignote.config import LINKERS, config, linker_to_backend, normalize_mode, optimizer_to_mode
from arignote.errors import ArignoteValueError, ArignoteWarning
from arignote.passes import rewriting

#: Theano's tags for its elementwise fusion: excluding one compiles unfused
FUSION_TAGS = frozenset({"fusion", "fuse", "local_elemwise_fusion", "composite_elemwise_fusion",
                         "elemwise_fusion"})


def rewrite_tags():
    """Every tag a registered rewrite carries (its name included)."""
    return {tag for rules in rewriting._REGISTRY.values() for _, tags in rules for tag in tags}


class Mode:
    """How ``function`` compiles: ``linker`` (None: ``config.linker``) and
    ``optimizer`` ('default': ``config.optimizer``), as in Theano; Arignote's own
    ``backend`` and ``fusion`` may be given too and win over the linker."""

    def __init__(self, linker=None, optimizer="default", backend=None, fusion=None, exclude=()):
        if linker is not None and linker not in LINKERS:
            raise ArignoteValueError(f"Mode: linker must be one of {LINKERS} or None, got {linker!r}")
        if optimizer != "default":
            optimizer_to_mode(optimizer)  # (checks it)
        self.linker, self.optimizer = linker, optimizer
        self.backend, self.fusion = backend, fusion
        self.exclude = tuple(exclude)

    def _but(self, **changes):
        options = dict(linker=self.linker, optimizer=self.optimizer, backend=self.backend,
                       fusion=self.fusion, exclude=self.exclude)
        options.update(changes)
        return Mode(**options)

    def excluding(self, *tags):
        """This mode without the rewrites tagged ``tags`` (a fusion tag: unfused). A
        tag no rewrite carries (a Theano-only rewrite) is ignored with a warning."""
        fusion = False if FUSION_TAGS & set(tags) else self.fusion
        known = rewrite_tags()
        unknown = [t for t in tags if t not in known and t not in FUSION_TAGS]
        if unknown:
            warnings.warn(f"Mode.excluding: no Arignote rewrite is tagged {', '.join(map(repr, unknown))}; "
                          f"ignored", ArignoteWarning, stacklevel=2)
        return self._but(fusion=fusion, exclude=self.exclude + tuple(t for t in tags if t in known))

    def including(self, *tags):
        """This mode with the rewrites tagged ``tags`` back on (every rewrite of the
        optimizer's phases runs unless excluded; a fusion tag turns fusion back on)."""
        known = rewrite_tags()
        unknown = [t for t in tags if t not in known and t not in FUSION_TAGS]
        if unknown:
            raise ArignoteValueError(f"Mode.including: no Arignote rewrite is tagged "
                                     f"{', '.join(map(repr, unknown))}; Arignote cannot add rewrites "
                                     f"that it does not have")
        fusion = True if FUSION_TAGS & set(tags) else self.fusion
        return self._but(fusion=fusion, exclude=tuple(t for t in self.exclude if t not in tags))

    requiring = including

    def function_options(self):
        """What ``function(..., mode=self)`` compiles with (None: config's)."""
        mode = None if self.optimizer == "default" else optimizer_to_mode(self.optimizer)
        backend = self.backend
        if backend is None and self.linker is not None:
            backend = linker_to_backend(self.linker, config.backend)
        return {"mode": mode, "backend": backend, "fusion": self.fusion, "exclude": self.exclude}

    def __eq__(self, other):
        return type(other) is Mode and vars(self) == vars(other)

    def __hash__(self):
        return hash(tuple(vars(self).values()))

    def __repr__(self):
        extra = "".join(f", {k}={v!r}" for k in ("backend", "fusion") if (v := getattr(self, k)) is not None)
        extra += f", exclude={self.exclude!r}" if self.exclude else ""
        return f"Mode(linker={self.linker!r}, optimizer={self.optimizer!r}{extra})"


#: Theano's named modes
FAST_RUN = Mode(optimizer="fast_run")
FAST_COMPILE = Mode(optimizer="fast_compile")
predefined_modes = {"FAST_RUN": FAST_RUN, "FAST_COMPILE": FAST_COMPILE}


def get_mode(orig_string):
    """A :class:`Mode` for ``orig_string``: a Mode is returned as it is, None gives the
    default mode (``config.mode``), a name ('FAST_RUN', 'fast_compile', ...) its Mode."""
    if isinstance(orig_string, Mode):
        return orig_string
    if orig_string is None:
        return Mode(optimizer=_as_optimizer(config.mode))
    if not isinstance(orig_string, str):
        raise ArignoteValueError(f"get_mode: expected a mode name, a Mode or None, got "
                                 f"{type(orig_string).__name__}")
    mode = normalize_mode(orig_string, config.mode)
    if mode not in ("fast_run", "fast_compile", "none"):
        raise ArignoteValueError(f"get_mode: unknown mode {orig_string!r}; known: "
                                 f"{', '.join(predefined_modes)} (any case), 'Mode', 'none'")
    return Mode(optimizer=_as_optimizer(mode))


def get_default_mode():
    """The mode ``function`` uses when given none (``config.mode``)."""
    return get_mode(None)


def _as_optimizer(mode):
    return None if mode == "none" else mode


__all__ = ["Mode", "get_mode", "get_default_mode", "FAST_RUN", "FAST_COMPILE", "predefined_modes"]
