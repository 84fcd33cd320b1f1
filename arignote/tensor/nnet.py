"""``T.nnet``: activations, softmax and losses used by neural networks."""
from arignote.ops.elemwise import sigmoid, softplus  # noqa: F401
from arignote.ops.nnet import *  # noqa: F401,F403
from arignote.ops.conv import conv2d, conv2d_grad_wrt_inputs, conv2d_grad_wrt_weights  # noqa: F401,E402

# T.nnet.bn is Theano's module of batch normalization; registered under its dotted name
# too (as os registers os.path), so `import arignote.tensor.nnet.bn` works on a module
import sys as _sys  # noqa: E402

from arignote.ops import normalization as bn  # noqa: E402
from arignote.ops.normalization import dropout, layer_normalization  # noqa: F401,E402

_sys.modules[__name__ + ".bn"] = bn

import types as _types  # noqa: E402

#: what ``help(T.nnet)`` and the API reference list (the re-exported functions included)
__all__ = sorted(n for n, v in globals().items()
                 if not n.startswith("_") and not isinstance(v, _types.ModuleType))
