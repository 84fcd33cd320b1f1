import os

import numpy as np
import pytest
from hypothesis import settings

# CI runs on 2 slow cores: keep property tests bounded and deterministic.
settings.register_profile("ci", max_examples=60, deadline=None, derandomize=True)
settings.register_profile("dev", max_examples=60, deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
