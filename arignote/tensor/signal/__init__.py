"""``T.signal``: Theano's signal-processing namespace; ``pool`` holds 2-d pooling."""
from arignote.tensor.signal import pool  # noqa: F401
