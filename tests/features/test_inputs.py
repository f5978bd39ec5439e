"""Innovation input indicators: one literal test per indicator, zero and missing bases included."""

from __future__ import annotations

import numpy as np

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
