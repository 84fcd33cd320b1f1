"""``T.extra_ops``: Theano's module of ``cumsum``, ``cumprod``, ``diff``, ``repeat``,
``bincount``, ``squeeze``, ``to_one_hot`` and ``fill_diagonal`` (they live in
:mod:`arignote.ops.extra_ops`)."""
from arignote.ops.extra_ops import *  # noqa: F401,F403
from arignote.ops.extra_ops import __all__  # noqa: F401
