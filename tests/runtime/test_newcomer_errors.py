"""Errors a newcomer met: two distinct inputs named alike, a bad call on a good variable."""
import pytest

import arignote as ag
import arignote.tensor as T
from arignote.errors import ArignoteValueError, UnusedInputError


def test_an_unused_input_names_its_namesake_the_graph_reads():
    i = T.lscalar("i")
    i_again = T.lscalar("i")  # line of the second 'i'
    with pytest.raises(UnusedInputError) as e:
        ag.function([i], i_again * 2)
    message = str(e.value)
    assert "input 'i'" in message and "two variables named 'i'" in message
    assert 'i = T.lscalar("i")' in message  # (the unused one's line)
    assert "i_again = T.lscalar" in message  # (where the one the graph reads was built)


@pytest.mark.filterwarnings("ignore:several function inputs")
def test_two_inputs_named_alike_say_which_is_unused():
    i = T.lscalar("i")
    i_again = T.lscalar("i")
    with pytest.raises(UnusedInputError) as e:
        ag.function([i, i_again], i_again * 2)
    message = str(e.value)
    assert "two variables named 'i'" in message
    unused, read = message.split("is unused")
    assert 'i = T.lscalar("i")' in unused and "input 0" in unused
    assert "i_again = T.lscalar" in read and "input 1" in read


def test_a_bad_call_is_reported_at_its_own_line():
    x = T.matrix("x")
    with pytest.raises(ArignoteValueError) as e:
        x.sum(axis=3)  # the call's line
    message = str(e.value)
    assert 'x = T.matrix("x")' in message  # (where 'x' was built)
    assert "raised at" in message and "x.sum(axis=3)" in message.split("raised at")[1]


@pytest.mark.parametrize("bad", [lambda x: x.sum(axis=3), lambda x: x.dimshuffle(0, 1, 2),
                                 lambda x: x.reshape((2, 2, 2), ndim=2)])
def test_every_build_error_names_the_building_line(bad):
    x = T.matrix("x")
    with pytest.raises(ArignoteValueError) as e:
        bad(x)
    assert "lambda x:" in str(e.value).split("raised at")[1]
