"""Backends: what runs a compiled function, and how to add one.

``arignote.backends.available()`` lists the registered backends (``numpy``,
the reference; ``cpu``, native code through LLVM; ``interp``, the kernel-IR
interpreter; and any registered since); ``function(..., backend=name)`` and
``config.backend`` take any of their names. A new backend subclasses
:class:`Backend` (a step per op) or :class:`KernelBackend` (Fused groups as
kernels: ``render``, ``compile``, ``launcher``) and is made available with
:func:`register`. The contract is :mod:`arignote.runtime.backends`; docs/design.md,
"Backends", shows a whole example.
"""
from arignote.runtime import cpu, interp  # noqa: F401  (the built-in backends register themselves)
from arignote.runtime import cuda_emulated  # noqa: F401,I001  (after them: listed after them)
from arignote.runtime.backends import Backend, available, get, register, unregister
from arignote.runtime.kernels import KernelBackend, KernelStep

__all__ = ["Backend", "KernelBackend", "KernelStep", "available", "get", "register", "unregister"]
