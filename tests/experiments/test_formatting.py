"""Tests for experiments/formatting.py: how the reports write numbers."""

import math

import pandas as pd

from innopoints.experiments.formatting import interval, money, number, percent, pp


def test_a_missing_value_is_an_en_dash_whatever_its_kind():
    for missing in (None, math.nan, math.inf, pd.NA):
        assert number(missing) == percent(missing) == money(missing) == "–"


def test_numbers_percentages_and_money():
    assert (number(0.12345), number(3, "d"), percent(0.12345), percent(0.12345, 2)) == ("0.123", "3", "12.3%",
                                                                                          "12.35%")
    assert money(1234567.8) == "1,234,568"


def test_intervals_read_mid_then_low_and_high():
    assert interval([-0.01, 0.02, 0.05]) == "+0.020 [-0.010, +0.050]"
    assert interval([1000.0, None, 3000.0], ",.0f") == "– [1,000, 3,000]"
    assert interval(None) == interval([]) == "–"
    assert pp([-0.001, 0.002, 0.005]) == "+0.20 [-0.10, +0.50] pp"
