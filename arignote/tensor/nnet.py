"""``T.nnet``: activations, softmax and losses used by neural networks."""
from arignote.ops.elemwise import sigmoid, softplus  # noqa: F401
from arignote.ops.nnet import *  # noqa: F401,F403
