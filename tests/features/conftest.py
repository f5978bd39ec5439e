"""A tiny literal cohort for the builder tests: 4 firms, fiscal years 2019–2023, 5 loans.

Every value a test checks is written out here, so an expected number can be recomputed by hand:

- ``F1`` founded 2015, complete rows 2019–2023 (the ordinary firm).
- ``F2`` founded 2020: its first fiscal year has revenue 0, and 2019 predates it (window sums count it as 0).
- ``F3`` founded 2010: no 2021 row, ``pct_apps`` and ``st_awards`` not delivered for 2020, ``rd_platforms``
  not delivered for 2019 (missing, not zero).
- ``F4`` founded 2022: too young to be scored in 2022.

Tables are deliberately not sorted by id, so tests can check that builders keep loan order and sort
populations themselves.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_series_equal

from innopoints.features.build import loan_features, raw_inputs
from innopoints.features.catalog import get
from innopoints.pipeline.contract import FIRM_YEAR_COLUMNS

# Value of every firm_years column unless a row overrides it; chosen so that no default is 0 except
# `pct_apps` and `vc_raised` (zero shares in `coverage` then come from the rows below only).
DEFAULTS: dict[str, float] = {
    "revenue": 100.0, "net_profit": 10.0, "net_assets": 50.0, "total_assets": 200.0,
    "total_liabilities": 120.0, "rd_expense": 8.0, "rd_tax_deduction": 1.5, "employees": 40.0,
    "st_staff": 10.0, "postgrad_staff": 4.0, "new_graduates_hired": 2.0, "invention_patent_apps": 3.0,
    "invention_patents_granted": 1.0, "pct_apps": 0.0, "utility_models": 5.0, "software_copyrights": 2.0,
    "tech_contract_turnover": 20.0, "high_tech_revenue": 60.0, "vc_raised": 0.0, "rd_platforms": 1.0,
    "st_awards": 1.0,
}

# (firm_id, year, overrides) — everything not overridden takes DEFAULTS.
ROWS: list[tuple[str, int, dict[str, float]]] = [
    ("F1", 2019, {"revenue": 100.0, "rd_expense": 5.0, "st_awards": 1.0, "rd_platforms": 1.0,
                  "invention_patent_apps": 4.0, "invention_patents_granted": 1.0}),
    ("F1", 2020, {"revenue": 120.0, "rd_expense": 6.0, "st_awards": 2.0, "rd_platforms": 2.0,
                  "invention_patent_apps": 2.0, "invention_patents_granted": 2.0}),
    ("F1", 2021, {"revenue": 150.0, "rd_expense": 9.0, "st_awards": 0.0, "rd_platforms": 1.0}),
    ("F1", 2022, {"revenue": 180.0, "rd_expense": 12.0, "st_awards": 1.0, "rd_platforms": 3.0}),
    ("F1", 2023, {"revenue": 200.0, "rd_expense": 15.0}),
    ("F2", 2020, {"revenue": 0.0, "rd_expense": 3.0, "st_awards": 1.0, "rd_platforms": 0.0}),
    ("F2", 2021, {"revenue": 50.0, "rd_expense": 4.0}),
    ("F2", 2022, {"revenue": 80.0}),
    ("F2", 2023, {"revenue": 90.0}),
    ("F3", 2019, {"revenue": 250.0, "rd_platforms": np.nan, "st_awards": 0.0}),
    ("F3", 2020, {"revenue": 300.0, "pct_apps": np.nan, "st_awards": np.nan, "rd_platforms": 2.0}),
    ("F3", 2022, {"revenue": 320.0}),
    ("F4", 2022, {"revenue": 10.0}),
    ("F4", 2023, {"revenue": 20.0}),
]


def make_firm_years(rows: list[tuple[str, int, dict[str, float]]] = ROWS) -> pd.DataFrame:
    """The `firm_years` table in contract column order, value columns as float64."""
    records = [{"firm_id": f, "year": y, **{**DEFAULTS, **over}} for f, y, over in rows]
    out = pd.DataFrame.from_records(records, columns=list(FIRM_YEAR_COLUMNS))
    return out.astype({"year": "int64", **{c: "float64" for c in DEFAULTS}})


def make_firms() -> pd.DataFrame:
    """The `firms` table, not sorted by id."""
    return pd.DataFrame({
        "firm_id": ["F3", "F1", "F4", "F2"],
        "province": ["Jiangsu", "Beijing", "Hubei", "Guangdong"],
        "industry": ["C35", "C39", "I65", "I64"],
        "founded_year": pd.Series([2010, 2015, 2022, 2020], dtype="int64"),
        "is_sme": [False, True, True, True],
    })


def make_loans() -> pd.DataFrame:
    """The `loans` table, not sorted by id or date."""
    # Origination year Y → as-of fiscal year Y−1: L4 2022, L1 2020, L3 2021 (F3 has no row), L2 2020
    # (F2's founding year), L5 2020 (F3 with undelivered values).
    return pd.DataFrame({
        "loan_id": ["L4", "L1", "L3", "L2", "L5"],
        "firm_id": ["F1", "F1", "F3", "F2", "F3"],
        "bank": ["B1", "B2", "B1", "B3", "B2"],
        "origination_date": pd.to_datetime(["2023-09-01", "2021-03-15", "2022-01-10", "2021-06-30",
                                            "2021-05-01"]),
        "amount": [300.0, 250.0, 500.0, 100.0, 400.0],
        "term_months": pd.Series([12, 12, 24, 12, 36], dtype="int64"),
        "guarantee": ["credit", "ip_pledge", "guarantee_fund", "credit", "credit"],
        "defaulted": [False, True, False, False, True],
        "outcome_observed": [False, True, True, True, True],
    })


def one_loan_indicator(indicator_id: str, by_year: dict[int, float], originated: str) -> float:
    """One indicator of a single loan to F1 (founded 2015) originated on ``originated``.

    F1 gets one `firm_years` row per key of ``by_year``, carrying that value in every raw column the
    indicator reads (the other columns take DEFAULTS); the loan goes through :func:`loan_features`.
    """
    ind = get(indicator_id)
    columns = [c for c in raw_inputs(ind) if c != "founded_year"]
    rows = [("F1", year, dict.fromkeys(columns, v)) for year, v in by_year.items()]
    loan = make_loans().iloc[[0]].assign(firm_id="F1", origination_date=pd.Timestamp(originated))
    return loan_features(make_firms(), make_firm_years(rows), loan, indicators=[ind])[indicator_id].item()


# Fresh tables per test (cheap to build), so a test that edits one cannot disturb another.
@pytest.fixture
def firms() -> pd.DataFrame:
    return make_firms()


@pytest.fixture
def firm_years() -> pd.DataFrame:
    return make_firm_years()


@pytest.fixture
def loans() -> pd.DataFrame:
    return make_loans()


@pytest.fixture
def check_indicator():
    """Compute one catalog indicator from literal panel columns and compare with the expected values.

    Going through ``Indicator.compute`` (not the bare function) also checks that the declared inputs are
    the argument names and that the result is a float column named after the indicator.
    """

    def check(indicator_id: str, columns: dict[str, list], expected: list[float]) -> None:
        index = pd.RangeIndex(100, 100 + len(expected))  # not 0..n-1: results must keep the panel's index
        panel = pd.DataFrame(columns, index=index)
        out = get(indicator_id).compute(panel)
        assert_series_equal(out, pd.Series(expected, index=index, dtype="float64", name=indicator_id))

    return check
