"""RowLabels.perform: the labels of a row pick checked in one pass over them, with NumPy's
wrapping of negatives and its errors (the message names the labels and the matrix)."""
import numpy as np
import pytest

from arignote.errors import ArignoteValueError
from arignote.ops.row_pick import RowLabels


def labels(y, rows, cols):
    return RowLabels("'y'").perform(None, [np.asarray(y), np.array(rows), np.array(cols)])[0]


@pytest.mark.parametrize("dtype", ["int8", "int32", "int64", "uint8", "uint64"])
def test_labels_in_range_are_wrapped_and_padded(dtype):
    y = np.array([0, 2, 1] if dtype.startswith("u") else [0, -1, 2, -3], dtype)
    got = labels(y, 6, 3)
    want = np.full(6, -1, np.int64)
    want[:len(y)] = np.where(y.astype(np.int64) < 0, y.astype(np.int64) + 3, y)
    np.testing.assert_array_equal(got, want)
    assert got.dtype == np.int64


@pytest.mark.parametrize("y, bad", [([0, 3], "3"), ([0, -4], "-4"), ([2**63 + 5], str(2**63 + 5)),
                                    ([-128, 1], "-128")])
def test_labels_out_of_range_raise_numpys_error(y, bad):
    dtype = "uint64" if y[0] > 2**62 else "int8" if y[0] == -128 else "int32"
    with pytest.raises(ArignoteValueError, match=rf"^index {bad} \(in the class labels 'y'\) is out "
                                                  r"of bounds for axis 1 of the 4x3 matrix it picks from$"):
        labels(np.array(y, dtype), 4, 3)


def test_more_labels_than_rows_raise():
    with pytest.raises(ArignoteValueError, match="picks one entry from each of 3 rows"):
        labels(np.zeros(3, np.int32), 2, 3)
