"""What users import as ``T``: constructors, NumPy-like math, ``T.nnet``.

Every public function lives next to its op in ``arignote.ops``; this package
gathers them under Theano's names. It is part of the public API, the top
layer: it may import the gradient and the runtime (``T.grad``, ``x.eval()``).
"""
from arignote.ops import blas, elemwise, indexing, reduce, shape  # noqa: F401  (T.elemwise...)
from arignote.ops.blas import *  # noqa: F401,F403
from arignote.ops.construct import *  # noqa: F401,F403
from arignote.ops.elemwise import *  # noqa: F401,F403
from arignote.ops.indexing import *  # noqa: F401,F403
from arignote.ops.reduce import *  # noqa: F401,F403
from arignote.ops.shape import *  # noqa: F401,F403
from arignote.tensor.basic import *  # noqa: F401,F403
from arignote.tensor.sharedvar import SharedVariable, shared  # noqa: F401
from arignote.tensor.variable import TensorConstant, TensorVariable  # noqa: F401
from arignote.graph.type import TensorType  # noqa: F401
from arignote.tensor import nnet  # noqa: F401,E402
from arignote.tensor import signal  # noqa: F401,E402  (T.signal.pool)
from arignote.tensor import random  # noqa: F401,E402  (T.random.RandomStreams)
from arignote.tensor import xlogx  # noqa: F401,E402  (T.xlogx.xlogx, Theano's module)
from arignote.tensor import extra_ops  # noqa: F401,E402  (T.extra_ops.cumsum, Theano's module)
from arignote.ops.extra_ops import (bincount, cumprod, cumsum, diff, fill_diagonal,  # noqa: F401,E402
                                    fill_diagonal_offset)
from arignote.scalar import (complex_dtypes, continuous_dtypes, discrete_dtypes,  # noqa: F401,E402
                             float_dtypes, int_dtypes)

# builtins shadowed by the NumPy-like names above, kept under NumPy's names too
from arignote.ops.elemwise import abs, pow, round  # noqa: F401,E402

# differentiation, under the names Theano's tensor module gave it
from arignote.gradient import Lop, Rop, consider_constant, grad, hessian, jacobian  # noqa: F401,E402
from arignote.verify import numeric_grad, verify_grad  # noqa: F401,E402

import types as _types  # noqa: E402

#: what ``help(T)``, ``from arignote.tensor import *`` and the API reference list: every
#: public function, class and value gathered here (submodules stay attributes: T.nnet)
__all__ = sorted(n for n, v in globals().items()
                 if not n.startswith("_") and not isinstance(v, _types.ModuleType))
