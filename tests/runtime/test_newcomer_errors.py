"""Errors a newcomer met: two distinct inputs named alike."""
import pytest

import arignote as ag
import arignote.tensor as T
from arignote.errors import UnusedInputError


def test_an_unused_input_names_its_namesake_the_graph_reads():
    i = T.lscalar("i")
    i_again = T.lscalar("i")  # line of the second 'i'
    with pytest.raises(UnusedInputError) as e:
        ag.function([i], i_again * 2)
    message = str(e.value)
    assert "input 'i'" in message and "another variable also named 'i'" in message
    assert "i_again = T.lscalar" in message  # (where the one the graph reads was built)
