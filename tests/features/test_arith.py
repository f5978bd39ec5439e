"""Null-aware arithmetic: missing stays missing, zero bases never turn into numbers a formula could use."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_series_equal

from innopoints.features.arith import growth, ratio, window_max, window_sum

NAN = np.nan
# A non-default index: results must stay aligned with their inputs, not be renumbered.
IDX = [10, 11, 12, 13, 14, 15, 16]


def s(values: list[float], index: list[int] | None = None, dtype: str = "float64") -> pd.Series:
    return pd.Series(values, index=(index or IDX)[: len(values)], dtype=dtype)


def test_ratio_divides_only_by_a_positive_denominator() -> None:
    num = s([6.0, 6.0, 6.0, NAN, 0.0, -3.0])
    den = s([120.0, 0.0, -5.0, 100.0, 50.0, 30.0])
    # 0 and negative denominators give missing (no infinite or sign-flipped ratios); a 0 numerator is 0.
    assert_series_equal(ratio(num, den), s([0.05, NAN, NAN, NAN, 0.0, -0.1]))


def test_ratio_missing_denominator_is_missing() -> None:
    assert_series_equal(ratio(s([1.0, 2.0]), s([NAN, 4.0])), s([NAN, 0.5]))


def test_ratio_accepts_integer_columns() -> None:
    # Count columns may arrive as ints; the result is still float with a real division.
    assert_series_equal(ratio(s([1, 3], dtype="int64"), s([4, 2], dtype="int64")), s([0.25, 1.5]))


@pytest.mark.parametrize(
    ("current", "base", "expected"),
    [
        (150.0, 100.0, 0.5),   # ordinary growth
        (0.0, 0.0, 0.0),       # nothing to grow from or to: defined as no growth
        (5.0, 0.0, NAN),       # infinite growth is not a usable number
        (5.0, NAN, NAN),       # missing base stays missing
        (NAN, 100.0, NAN),     # missing current stays missing
        (0.0, 100.0, -1.0),    # a full collapse is -100 %
        (50.0, -20.0, NAN),    # negative base: the sign of the ratio means nothing
        (-10.0, 100.0, NAN),   # negative current: same
    ],
)
def test_growth_one_year(current: float, base: float, expected: float) -> None:
    out = growth(s([current]), s([base]))
    assert_series_equal(out, s([expected]))


@pytest.mark.parametrize(
    ("current", "base", "expected"),
    [
        (121.0, 100.0, 0.1),   # annualised: 1.1 ** 2 = 1.21, so 10 % a year, not 21 %
        (25.0, 100.0, -0.5),   # 0.5 ** 2 = 0.25
        (0.0, 0.0, 0.0),
        (5.0, 0.0, NAN),
        (NAN, 100.0, NAN),
    ],
)
def test_growth_two_years_is_annualised(current: float, base: float, expected: float) -> None:
    out = growth(s([current]), s([base]), years=2)
    assert_series_equal(out, s([expected]))


def test_growth_keeps_the_index() -> None:
    out = growth(s([110.0, 0.0], index=[7, 3]), s([100.0, 0.0], index=[7, 3]))
    assert_series_equal(out, s([0.1, 0.0], index=[7, 3]))


@pytest.mark.parametrize(
    ("current", "previous", "previous_exists", "expected"),
    [
        (2.0, 1.0, True, 3.0),     # both years delivered
        (2.0, NAN, False, 2.0),    # previous year predates the firm: counts as 0
        (2.0, NAN, True, NAN),     # previous year existed but was not delivered: missing, not 0
        (NAN, 1.0, True, NAN),     # current year missing
        (NAN, NAN, False, NAN),    # current missing even when the previous year predates the firm
        (0.0, 0.0, True, 0.0),     # real zeros stay zeros
    ],
)
def test_window_sum(current: float, previous: float, previous_exists: bool, expected: float) -> None:
    out = window_sum(s([current]), s([previous]), pd.Series([previous_exists], index=IDX[:1]))
    assert_series_equal(out, s([expected]))


@pytest.mark.parametrize(
    ("current", "previous", "previous_exists", "expected"),
    [
        (2.0, 1.0, True, 2.0),
        (1.0, 3.0, True, 3.0),     # the better of the two years counts
        (2.0, NAN, False, 2.0),    # predates the firm: 0, so the current year wins
        (2.0, NAN, True, NAN),     # not delivered: missing, even though max() could ignore it
        (NAN, 3.0, True, NAN),
        (0.0, NAN, False, 0.0),
    ],
)
def test_window_max(current: float, previous: float, previous_exists: bool, expected: float) -> None:
    out = window_max(s([current]), s([previous]), pd.Series([previous_exists], index=IDX[:1]))
    assert_series_equal(out, s([expected]))


def test_window_functions_work_row_by_row() -> None:
    # The same rules applied to a whole column at once (vectorised, index kept).
    cur = s([2.0, 2.0, 2.0])
    prev = s([1.0, NAN, NAN])
    exists = pd.Series([True, False, True], index=IDX[:3])
    assert_series_equal(window_sum(cur, prev, exists), s([3.0, 2.0, NAN]))
    assert_series_equal(window_max(cur, prev, exists), s([2.0, 2.0, NAN]))
