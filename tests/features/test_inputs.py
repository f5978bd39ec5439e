"""Innovation input indicators: one literal test per indicator, zero and missing bases included."""

from __future__ import annotations

import numpy as np
import pytest

from tests.features.conftest import one_loan_indicator

NAN = np.nan


def test_rd_expense(check_indicator) -> None:
    # Passed through as delivered: a real 0 stays 0, an undelivered value stays missing.
    check_indicator("rd_expense", {"rd_expense": [5.0, 0.0, NAN]}, [5.0, 0.0, NAN])


def test_rd_expense_growth(check_indicator) -> None:
    check_indicator(
        "rd_expense_growth",
        {"rd_expense": [150.0, 0.0, 5.0, 100.0, NAN, 0.0],
         "rd_expense_lag1": [100.0, 0.0, 0.0, NAN, 100.0, 100.0]},
        # 100→150 is +50 %; 0→0 no growth; 0→5 undefined; missing on either side stays missing; 100→0 −100 %
        [0.5, 0.0, NAN, NAN, NAN, -1.0],
    )


def test_rd_intensity(check_indicator) -> None:
    check_indicator(
        "rd_intensity",
        {"rd_expense": [6.0, 6.0, 6.0, NAN, 0.0], "revenue": [120.0, 0.0, -10.0, 100.0, 50.0]},
        # 6 / 120 = 5 %; zero or negative revenue gives missing, never an infinite share
        [0.05, NAN, NAN, NAN, 0.0],
    )


def test_st_staff_share(check_indicator) -> None:
    check_indicator(
        "st_staff_share",
        {"st_staff": [10.0, 0.0, 5.0, NAN], "employees": [40.0, 10.0, 0.0, 10.0]},
        [0.25, 0.0, NAN, NAN],  # a firm with no employees has no share
    )


def test_postgrad_share(check_indicator) -> None:
    check_indicator(
        "postgrad_share",
        {"postgrad_staff": [4.0, 0.0, 1.0, NAN], "employees": [40.0, 12.0, 0.0, 10.0]},
        [0.1, 0.0, NAN, NAN],
    )


def test_rd_tax_deduction(check_indicator) -> None:
    check_indicator("rd_tax_deduction", {"rd_tax_deduction": [1.5, 0.0, NAN]}, [1.5, 0.0, NAN])


def test_rd_platforms_2y(check_indicator) -> None:
    check_indicator(
        "rd_platforms_2y",
        {"rd_platforms": [2.0, 0.0, 1.0, 1.0, NAN],
         "rd_platforms_lag1": [1.0, NAN, NAN, 3.0, 1.0],
         "exists_lag1": [True, False, True, True, True]},
        # most held over the two years; a year before founding counts as 0, an undelivered one as missing
        [2.0, 0.0, NAN, 3.0, NAN],
    )


def test_rd_expense_growth_2y(check_indicator) -> None:
    check_indicator(
        "rd_expense_growth_2y",
        {"rd_expense": [121.0, 25.0, 0.0, 50.0, 121.0], "rd_expense_lag2": [100.0, 100.0, 0.0, 0.0, NAN]},
        # annualised: 100→121 over two years is 10 % a year; 100→25 is −50 % a year
        [0.1, -0.5, 0.0, NAN, NAN],
    )


def test_rd_per_employee(check_indicator) -> None:
    check_indicator(
        "rd_per_employee",
        {"rd_expense": [8.0, 8.0, NAN], "employees": [40.0, 0.0, 10.0]},
        [0.2, NAN, NAN],
    )


def test_rd_expense_3y(check_indicator) -> None:
    check_indicator(
        "rd_expense_3y",
        {"rd_expense": [12.0, 3.0, 4.0, 0.0],
         "rd_expense_lag1": [9.0, NAN, 3.0, 0.0],
         "rd_expense_lag2": [6.5, NAN, NAN, 0.0],
         "exists_lag1": [True, False, True, True],
         "exists_lag2": [True, False, False, True]},
        # 12 + 9 + 6.5 = 27.5; founded in the as-of year, or the year before: the years before founding
        # add 0; three real zeros stay 0
        [27.5, 3.0, 7.0, 0.0],
    )


def test_rd_expense_3y_undelivered_year_is_missing(check_indicator) -> None:
    check_indicator(
        "rd_expense_3y",
        {"rd_expense": [NAN, 5.0, 5.0, NAN],
         "rd_expense_lag1": [5.0, NAN, 5.0, NAN],
         "rd_expense_lag2": [5.0, 5.0, NAN, NAN],
         "exists_lag1": [True, True, True, False],
         "exists_lag2": [True, True, True, False]},
        # a missing as-of year, or a missing earlier year while the firm existed, makes the sum missing
        # (an undelivered year read as 0 would understate the spend); no as-of row at all stays missing
        [NAN, NAN, NAN, NAN],
    )


@pytest.mark.parametrize(("originated", "expected"), [
    ("2022-01-01", 1110.0),  # fiscal 2021 + 2020 + 2019
    ("2022-12-31", 1110.0),
    ("2021-12-31", 111.0),   # fiscal 2020 + 2019 + 2018
])
def test_rd_expense_3y_reads_only_the_three_years_before_origination(originated: str, expected: float) -> None:
    # One digit per fiscal year, so the sum shows which years were read: the origination year (look-ahead)
    # would add 10000 (or 1000), a fourth year back would add a 1 (or 10).
    by_year = {2018: 1.0, 2019: 10.0, 2020: 100.0, 2021: 1000.0, 2022: 10000.0}
    assert one_loan_indicator("rd_expense_3y", by_year, originated) == expected
