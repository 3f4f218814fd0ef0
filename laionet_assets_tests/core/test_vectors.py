"""Unit rows against the definition, row by row."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from laionet_assets.core.vectors import unit_rows

finite = st.floats(-1e3, 1e3, allow_nan=False).filter(lambda v: abs(v) > 1e-3)


@given(arrays(np.float64, st.tuples(st.integers(1, 6), st.integers(1, 5)), elements=finite))
def test_each_row_is_divided_by_its_length(x):
    out = unit_rows(x)
    for row, got in zip(x, out):
        length = math.sqrt(sum(v * v for v in row))
        assert got == pytest.approx([v / length for v in row], rel=1e-12)


def test_dtype_is_the_inputs_unless_asked():
    x = np.array([[3.0, 4.0]], np.float32)
    assert unit_rows(x).dtype == np.float32
    assert unit_rows(x, np.float64).dtype == np.float64
    assert unit_rows(x).tolist() == [[pytest.approx(0.6), pytest.approx(0.8)]]


def test_a_zero_row_has_no_direction():
    x = np.array([[1.0, 0.0], [0.0, 0.0]])
    with pytest.raises(ValueError, match="all zeros"):
        unit_rows(x)
    out = unit_rows(x, allow_zero=True)
    assert out[0].tolist() == [1.0, 0.0] and np.isnan(out[1]).all()
