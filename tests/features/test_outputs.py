"""Innovation output indicators: one literal test per indicator, zero and missing bases included."""

from __future__ import annotations

import numpy as np
import pytest

from tests.features.conftest import one_loan_indicator

NAN = np.nan


def test_invention_patent_apps(check_indicator) -> None:
    # Raw counts pass through: a real 0 stays 0, an undelivered value stays missing.
    check_indicator("invention_patent_apps", {"invention_patent_apps": [4.0, 0.0, NAN]}, [4.0, 0.0, NAN])


def test_pct_apps(check_indicator) -> None:
    check_indicator("pct_apps", {"pct_apps": [1.0, 0.0, NAN]}, [1.0, 0.0, NAN])


def test_tech_contract_turnover(check_indicator) -> None:
    check_indicator("tech_contract_turnover", {"tech_contract_turnover": [20.0, 0.0, NAN]}, [20.0, 0.0, NAN])


def test_high_tech_revenue(check_indicator) -> None:
    check_indicator("high_tech_revenue", {"high_tech_revenue": [60.0, 0.0, NAN]}, [60.0, 0.0, NAN])


def test_st_awards_2y(check_indicator) -> None:
    check_indicator(
        "st_awards_2y",
        {"st_awards": [2.0, 1.0, 1.0, NAN, 0.0],
         "st_awards_lag1": [1.0, NAN, NAN, 1.0, 0.0],
         "exists_lag1": [True, False, True, True, True]},
        # sum over the two years; a year before founding counts as 0, an undelivered one makes it missing
        [3.0, 1.0, NAN, NAN, 0.0],
    )


def test_invention_patents_granted(check_indicator) -> None:
    check_indicator("invention_patents_granted", {"invention_patents_granted": [2.0, 0.0, NAN]},
                    [2.0, 0.0, NAN])


def test_patent_grant_ratio(check_indicator) -> None:
    check_indicator(
        "patent_grant_ratio",
        {"invention_patents_granted": [2.0, 0.0, 1.0, 1.0, 0.0],
         "invention_patents_granted_lag1": [1.0, 0.0, 0.0, NAN, 1.0],
         "invention_patent_apps": [2.0, 0.0, 0.0, 3.0, 2.0],
         "invention_patent_apps_lag1": [4.0, 0.0, 0.0, 3.0, 2.0],
         "exists_lag1": [True, True, True, True, True]},
        # (2+1)/(2+4) = 0.5; no applications in the window → missing (also when a grant came through);
        # an undelivered year → missing; grants lag applications, so 1 grant on 4 apps is 0.25
        [0.5, NAN, NAN, NAN, 0.25],
    )


def test_patent_grant_ratio_in_the_founding_year(check_indicator) -> None:
    check_indicator(
        "patent_grant_ratio",
        {"invention_patents_granted": [1.0], "invention_patents_granted_lag1": [NAN],
         "invention_patent_apps": [3.0], "invention_patent_apps_lag1": [NAN], "exists_lag1": [False]},
        [1.0 / 3.0],
    )


def test_utility_models(check_indicator) -> None:
    check_indicator("utility_models", {"utility_models": [5.0, 0.0, NAN]}, [5.0, 0.0, NAN])


def test_software_copyrights(check_indicator) -> None:
    check_indicator("software_copyrights", {"software_copyrights": [2.0, 0.0, NAN]}, [2.0, 0.0, NAN])


def test_high_tech_revenue_share(check_indicator) -> None:
    check_indicator(
        "high_tech_revenue_share",
        {"high_tech_revenue": [60.0, 60.0, NAN, 0.0], "revenue": [120.0, 0.0, 100.0, 80.0]},
        [0.5, NAN, NAN, 0.0],
    )


def test_rd_productivity(check_indicator) -> None:
    check_indicator(
        "rd_productivity",
        {"invention_patents_granted": [3.0, 1.0, 0.0, 2.0, NAN],
         "rd_expense": [1000.0, 500.0, 400.0, 0.0, 100.0]},
        # units: rd_expense is in CNY 10k, the rate is per CNY 10 m (= 1000 × CNY 10k): 3 grants on
        # CNY 10 m → 3.0, 1 grant on CNY 5 m → 2.0; no R&D spend → missing, not infinite
        [3.0, 2.0, 0.0, NAN, NAN],
    )


def test_invention_patents_granted_3y(check_indicator) -> None:
    check_indicator(
        "invention_patents_granted_3y",
        {"invention_patents_granted": [2.0, 1.0, 1.0, 0.0],
         "invention_patents_granted_lag1": [1.0, NAN, 2.0, 0.0],
         "invention_patents_granted_lag2": [3.0, NAN, NAN, 0.0],
         "exists_lag1": [True, False, True, True],
         "exists_lag2": [True, False, False, True]},
        # 2 + 1 + 3 = 6; founded in the as-of year, or the year before: the years before founding add 0;
        # three real zeros stay 0
        [6.0, 1.0, 3.0, 0.0],
    )


def test_invention_patents_granted_3y_undelivered_year_is_missing(check_indicator) -> None:
    check_indicator(
        "invention_patents_granted_3y",
        {"invention_patents_granted": [NAN, 1.0, 1.0, NAN],
         "invention_patents_granted_lag1": [1.0, NAN, 2.0, NAN],
         "invention_patents_granted_lag2": [1.0, 3.0, NAN, NAN],
         "exists_lag1": [True, True, True, False],
         "exists_lag2": [True, True, True, False]},
        # a missing as-of year, or a missing earlier year while the firm existed, makes the stock missing
        # (never the sum of the years that happen to be there); no as-of row at all stays missing too
        [NAN, NAN, NAN, NAN],
    )


@pytest.mark.parametrize(("originated", "expected"), [
    ("2022-01-01", 1110.0),  # fiscal 2021 + 2020 + 2019
    ("2022-12-31", 1110.0),
    ("2021-12-31", 111.0),   # fiscal 2020 + 2019 + 2018
])
def test_invention_patents_granted_3y_reads_only_the_three_years_before_origination(originated: str,
                                                                                    expected: float) -> None:
    # One digit per fiscal year, so the sum shows which years were read: the origination year (look-ahead)
    # would add 10000 (or 1000), a fourth year back would add a 1 (or 10).
    by_year = {2018: 1.0, 2019: 10.0, 2020: 100.0, 2021: 1000.0, 2022: 10000.0}
    assert one_loan_indicator("invention_patents_granted_3y", by_year, originated) == expected
