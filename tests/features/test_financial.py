"""Financial credit controls: one literal test per indicator, zero and missing bases included."""

from __future__ import annotations

import numpy as np

NAN = np.nan


def test_leverage(check_indicator) -> None:
    check_indicator(
        "leverage",
        {"total_liabilities": [120.0, 0.0, 50.0, NAN, 300.0],
         "total_assets": [200.0, 100.0, 0.0, 100.0, 200.0]},
        # 120 / 200 = 60 %; no assets → missing; an insolvent firm (liabilities > assets) is > 1, not capped
        [0.6, 0.0, NAN, NAN, 1.5],
    )


def test_firm_age(check_indicator) -> None:
    check_indicator(
        "firm_age",
        {"founded_year": [2015.0, 2020.0, NAN], "as_of_year": [2020, 2020, 2020]},
        [5.0, 0.0, NAN],  # age at the as-of fiscal year; the founding year itself is age 0
    )


def test_profit_margin(check_indicator) -> None:
    check_indicator(
        "profit_margin",
        {"net_profit": [10.0, -20.0, 5.0, NAN], "revenue": [200.0, 100.0, 0.0, 100.0]},
        [0.05, -0.2, NAN, NAN],  # losses give a negative margin; no revenue → missing
    )
