"""Growth indicators: one literal test per indicator, zero and missing bases included."""

from __future__ import annotations

import numpy as np

NAN = np.nan


def test_revenue(check_indicator) -> None:
    check_indicator("revenue", {"revenue": [120.0, 0.0, NAN]}, [120.0, 0.0, NAN])


def test_revenue_growth(check_indicator) -> None:
    check_indicator(
        "revenue_growth",
        {"revenue": [150.0, 0.0, 5.0, 5.0, NAN, 0.0], "revenue_lag1": [100.0, 0.0, 0.0, NAN, 100.0, 80.0]},
        # 100→150 = +50 %; 0→0 = 0 (nothing to grow); 0→5 undefined; missing base or current → missing;
        # 80→0 = −100 %
        [0.5, 0.0, NAN, NAN, NAN, -1.0],
    )


def test_roe(check_indicator) -> None:
    check_indicator(
        "roe",
        {"net_profit": [10.0, 10.0, 10.0, -5.0, NAN], "net_assets": [50.0, -20.0, 0.0, 50.0, 50.0]},
        # negative or zero net assets make the ratio meaningless (a loss would look like a return): missing;
        # a loss on positive net assets is a real negative return
        [0.2, NAN, NAN, -0.1, NAN],
    )


def test_new_graduates_hired(check_indicator) -> None:
    check_indicator("new_graduates_hired", {"new_graduates_hired": [2.0, 0.0, NAN]}, [2.0, 0.0, NAN])


def test_vc_raised(check_indicator) -> None:
    check_indicator("vc_raised", {"vc_raised": [500.0, 0.0, NAN]}, [500.0, 0.0, NAN])


def test_revenue_growth_2y(check_indicator) -> None:
    check_indicator(
        "revenue_growth_2y",
        {"revenue": [121.0, 0.0, 5.0, NAN], "revenue_lag2": [100.0, 0.0, 0.0, 100.0]},
        [0.1, 0.0, NAN, NAN],  # annualised: 100→121 over two years is 10 % a year, not 21 %
    )


def test_employment_growth(check_indicator) -> None:
    check_indicator(
        "employment_growth",
        {"employees": [50.0, 0.0, 0.0, 3.0, NAN], "employees_lag1": [40.0, 10.0, 0.0, 0.0, 10.0]},
        [0.25, -1.0, 0.0, NAN, NAN],
    )


def test_revenue_per_employee(check_indicator) -> None:
    check_indicator(
        "revenue_per_employee",
        {"revenue": [150.0, 0.0, 100.0, NAN], "employees": [40.0, 10.0, 0.0, 10.0]},
        [3.75, 0.0, NAN, NAN],
    )
