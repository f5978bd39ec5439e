"""Point-in-time builders on the tiny literal cohort of conftest.py (4 firms, 2019–2023, 5 loans)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal, assert_series_equal

from innopoints.features.build import (
    LOAN_KEY_COLUMNS,
    POPULATION_KEY_COLUMNS,
    Exclusions,
    as_of_panel,
    compute_indicators,
    coverage,
    loan_features,
    panel_columns,
    population_features,
    raw_inputs,
    split_panel_column,
)
from innopoints.features.catalog import Indicator, get, list_indicators
from innopoints.features.errors import IndicatorError
from innopoints.features.stage import STAGES, StageRule
from tests.features.conftest import DEFAULTS, make_firm_years, make_firms, make_loans

NAN = np.nan
VALUE_COLUMNS = list(DEFAULTS)
LOAN_ORDER = ["L4", "L1", "L3", "L2", "L5"]
LOANS_WITH_HISTORY = ["L4", "L1", "L2", "L5"]


def row(table: pd.DataFrame, loan_id: str) -> pd.DataFrame:
    """The one feature row of a loan, re-indexed so rows from different tables compare."""
    out = table.loc[table["loan_id"] == loan_id].reset_index(drop=True)
    assert len(out) == 1
    return out


def value(table: pd.DataFrame, loan_id: str, column: str) -> float:
    return row(table, loan_id)[column].item()


@pytest.fixture(scope="module")
def base() -> pd.DataFrame:
    """The loan table of the untouched cohort, built once (tests only read it)."""
    return loan_features(make_firms(), make_firm_years(), make_loans())


# --- loan_features: shape and keys -----------------------------------------------------------------


def test_loan_columns_are_keys_then_one_per_indicator(base) -> None:
    ids = [i.id for i in list_indicators()]
    assert list(base.columns) == list(LOAN_KEY_COLUMNS) + ids
    assert base[ids].dtypes.eq("float64").all()


def test_one_row_per_loan_in_loan_order(base) -> None:
    expected = pd.DataFrame({
        "loan_id": LOAN_ORDER,
        "firm_id": ["F1", "F1", "F3", "F2", "F3"],
        "year": pd.Series([2023, 2021, 2022, 2021, 2021], dtype="int64"),
        "as_of_year": pd.Series([2022, 2020, 2021, 2020, 2020], dtype="int64"),  # Y − 1, always
        "province": ["Beijing", "Beijing", "Jiangsu", "Guangdong", "Jiangsu"],
        "industry": ["C39", "C39", "C35", "I64", "C35"],
        "is_sme": [True, True, False, True, False],
        # ages at the loan year with the default rule: 8, 6, 12, 1, 11
        "stage": pd.Categorical(["growth", "growth", "stable", "startup", "stable"], categories=list(STAGES)),
        "amount": [300.0, 250.0, 500.0, 100.0, 400.0],
        "guarantee": ["credit", "ip_pledge", "guarantee_fund", "credit", "credit"],
        "has_history": [True, True, False, True, True],
        "defaulted": [False, True, False, False, True],
        "outcome_observed": [False, True, True, True, True],
    })
    assert_frame_equal(base[list(LOAN_KEY_COLUMNS)], expected)


def test_loan_index_does_not_matter(firms, firm_years, loans, base) -> None:
    # Loans that were filtered or concatenated carry odd (even repeated) labels; output is by position.
    assert_frame_equal(loan_features(firms, firm_years, loans.set_axis([7, 7, 3, 1, 0])), base)


def test_origination_date_as_text_gives_the_same_table(firms, firm_years, loans, base) -> None:
    as_text = loans.assign(origination_date=loans["origination_date"].dt.strftime("%Y-%m-%d"))
    assert_frame_equal(loan_features(firms, firm_years, as_text), base)


def test_nullable_integer_counts_give_the_same_table(firms, firm_years, loans, base) -> None:
    # A reader may deliver count columns as nullable Int64 (pd.NA for missing); values must not change.
    counts = {"employees": "Int64", "st_staff": "Int64", "pct_apps": "Int64", "st_awards": "Int64"}
    assert_frame_equal(loan_features(firms, firm_years.astype(counts), loans), base)


def test_only_the_requested_indicators_are_built(firms, firm_years, loans) -> None:
    table = loan_features(firms, firm_years, loans, indicators=[get("roe"), get("pct_apps")])
    assert list(table.columns) == list(LOAN_KEY_COLUMNS) + ["roe", "pct_apps"]


def test_panel_columns_are_the_sorted_inputs_lags_included() -> None:
    assert panel_columns([get("rd_intensity"), get("revenue_growth"), get("revenue")]) == [
        "rd_expense", "revenue", "revenue_lag1"]


# --- loan_features: values -------------------------------------------------------------------------

# Hand-computed from conftest.ROWS; the comment on each says which fiscal years it comes from.
EXPECTED = {
    "L1": {  # F1, originated 2021 → fiscal 2020 (lag1 2019)
        "revenue": 120.0,
        "revenue_growth": 0.2,             # 2019 100 → 2020 120
        "revenue_growth_2y": NAN,          # no 2018 row although F1 existed: missing
        "rd_intensity": 0.05,              # 6 / 120
        "rd_expense_growth": 0.2,          # 5 → 6
        "st_awards_2y": 3.0,               # 2 + 1
        "rd_platforms_2y": 2.0,            # max(2, 1)
        "patent_grant_ratio": 0.5,         # (2 + 1) / (2 + 4)
        "rd_expense_3y": NAN,              # no 2018 row although F1 existed: missing, not 6 + 5
        "invention_patents_granted_3y": NAN,
        "firm_age": 5.0,                   # 2020 − 2015
    },
    "L4": {  # F1, originated 2023 → fiscal 2022 (lag1 2021, lag2 2020)
        "revenue": 180.0,
        "revenue_growth": 0.2,             # 150 → 180
        "revenue_growth_2y": math.sqrt(1.5) - 1,  # 120 → 180 over two years, annualised
        "rd_expense_growth": 1 / 3,        # 9 → 12
        "st_awards_2y": 1.0,               # 1 + 0
        "rd_platforms_2y": 3.0,            # max(3, 1)
        "rd_expense_3y": 27.0,             # 12 + 9 + 6
        "invention_patents_granted_3y": 4.0,  # 1 + 1 + 2
        "firm_age": 7.0,
    },
    "L2": {  # F2 (founded 2020), originated 2021 → fiscal 2020, its founding year
        "revenue": 0.0,
        "rd_intensity": NAN,               # zero revenue: no share
        "revenue_growth": NAN,             # no base year
        "st_awards_2y": 1.0,               # 2019 predates the firm: counts as 0
        "rd_platforms_2y": 0.0,
        "rd_expense_3y": 3.0,              # 2019 and 2018 predate the firm: count as 0
        "invention_patents_granted_3y": 1.0,
        "firm_age": 0.0,
    },
    "L5": {  # F3, originated 2021 → fiscal 2020 with undelivered values
        "revenue": 300.0,
        "revenue_growth": 0.2,             # 250 → 300
        "pct_apps": NAN,                   # not delivered: missing, never 0
        "st_awards_2y": NAN,               # current year not delivered
        "rd_platforms_2y": NAN,            # 2019 not delivered while F3 existed: missing, not 0
        "rd_expense_3y": NAN,              # no 2018 row while F3 existed
        "firm_age": 10.0,
    },
}


@pytest.mark.parametrize("loan_id", list(EXPECTED))
def test_loan_values_match_hand_computation(base, loan_id: str) -> None:
    got = {k: value(base, loan_id, k) for k in EXPECTED[loan_id]}
    assert got == pytest.approx(EXPECTED[loan_id], nan_ok=True)


def test_loan_without_an_as_of_row_is_kept_with_missing_indicators(base) -> None:
    # F3 has no 2021 row, so loan L3 (2022) has no history: kept, flagged, its data indicators missing.
    assert list(base["loan_id"]) == LOAN_ORDER
    l3 = row(base, "L3")
    assert not l3["has_history"].item()
    data_ids = [i.id for i in list_indicators() if i.id != "firm_age"]
    assert l3[data_ids].isna().all(axis=None)
    # the one exception: age comes from `firms`, not from firm_years, so it is still known
    assert l3["firm_age"].item() == 11.0


def test_values_stay_within_the_declared_valid_range(base) -> None:
    for ind in list_indicators():
        lo, hi = ind.valid_range
        v = base[ind.id].dropna()
        assert lo is None or (v >= lo).all(), ind.id
        assert hi is None or (v <= hi).all(), ind.id


@pytest.fixture(scope="module")
def blanked() -> pd.DataFrame:
    """One clone of F1 per value column, with only that column blanked in 2020 and 2021; built in one go.

    Clone ``F1~c`` gets loans ``L1~c`` (reads 2020 as its current year) and ``L4~c`` (reads 2021 as lag1
    and 2020 as lag2), so every way an indicator can read the blanked value is exercised.
    """
    firms, firm_years, loans = make_firms(), make_firm_years(), make_loans()
    f1, f1_years = firms.loc[firms["firm_id"] == "F1"], firm_years.loc[firm_years["firm_id"] == "F1"]
    f1_loans = loans.loc[loans["loan_id"].isin(["L1", "L4"])]
    clone_firms, clone_years, clone_loans = [], [], []
    for c in VALUE_COLUMNS:
        clone_firms.append(f1.assign(firm_id=f"F1~{c}"))
        years = f1_years.assign(firm_id=f"F1~{c}")
        years.loc[years["year"].isin([2020, 2021]), c] = NAN
        clone_years.append(years)
        clone_loans.append(f1_loans.assign(firm_id=f"F1~{c}", loan_id=f1_loans["loan_id"] + f"~{c}"))
    return loan_features(pd.concat(clone_firms), pd.concat(clone_years), pd.concat(clone_loans))


@pytest.mark.parametrize("column", VALUE_COLUMNS)
def test_a_missing_raw_value_gives_missing_indicators_never_zero(blanked, column: str) -> None:
    reads_now = [i.id for i in list_indicators() if column in i.inputs]
    reads_before = [i.id for i in list_indicators() if {column + "_lag1", column + "_lag2"} & set(i.inputs)]
    assert reads_now, f"no indicator reads {column}"
    assert row(blanked, f"L1~{column}")[reads_now].isna().all(axis=None)
    assert row(blanked, f"L4~{column}")[reads_before].isna().all(axis=None)
    # the control: indicators that do not read the column keep their values (F1 has no gaps)
    # (two-year indicators are missing for L1 anyway: F1 has no 2018 row)
    untouched = [i.id for i in list_indicators()
                 if i.id not in reads_now and not any(c.endswith("_lag2") for c in i.inputs)]
    assert row(blanked, f"L1~{column}")[untouched].notna().all(axis=None)


def test_missing_firm_years_column_raises_naming_it(firms, firm_years, loans) -> None:
    with pytest.raises(IndicatorError, match=r"indicator '\w+' \(\w+\) reads 'pct_apps\w*', but firm_years has no "
                                             r"column 'pct_apps'"):
        loan_features(firms, firm_years.drop(columns="pct_apps"), loans)


def test_stage_rule_is_applied(firms, firm_years, loans) -> None:
    # Ages at the loan year: L4 8, L1 6, L3 12, L2 1, L5 11. With limits 7/12: L1 start-up, L4 growth,
    # L3 stable (12 is not below 12), L5 growth.
    rule = StageRule(startup_max_age=7, growth_max_age=12)
    table = loan_features(firms, firm_years, loans, stage_rule=rule)
    assert list(table["stage"]) == ["growth", "startup", "stable", "startup", "growth"]


# --- the leakage test ------------------------------------------------------------------------------


def tamper(firm_years: pd.DataFrame, mask: pd.Series | np.ndarray) -> pd.DataFrame:
    """Change every value column of the masked rows (missing ones too)."""
    out = firm_years.copy()
    out.loc[mask, VALUE_COLUMNS] = out.loc[mask, VALUE_COLUMNS].fillna(1.0) * 7 + 13
    return out


@pytest.mark.parametrize("cut", [2021, 2022, 2023])
@pytest.mark.parametrize("how", ["change", "delete"])
def test_rows_from_the_origination_year_on_never_reach_a_loan(firms, firm_years, loans, base, cut: int,
                                                             how: str) -> None:
    # Change (or delete) every firm's rows from fiscal year `cut` on: no loan originated in `cut` or
    # earlier may move, in any column. Loans originated later legitimately can.
    future = firm_years["year"] >= cut
    later = tamper(firm_years, future) if how == "change" else firm_years.loc[~future]
    after = loan_features(firms, later, loans)
    protected = [loan for loan in LOAN_ORDER if value(base, loan, "year") <= cut]
    assert any(value(base, loan, "year") == cut for loan in protected)  # the boundary year is exercised
    for loan_id in protected:
        assert_frame_equal(row(after, loan_id), row(base, loan_id), obj=f"features of {loan_id}")


def test_changing_the_as_of_row_changes_the_loans(firms, firm_years, loans, base) -> None:
    # The control for the test above: the Y − 1 row is what the features are made of.
    as_of_rows = pd.MultiIndex.from_frame(base.loc[base["has_history"], ["firm_id", "as_of_year"]])
    changed = tamper(firm_years, pd.MultiIndex.from_frame(firm_years[["firm_id", "year"]]).isin(as_of_rows))
    after = loan_features(firms, changed, loans)
    for loan_id in LOANS_WITH_HISTORY:
        assert value(after, loan_id, "revenue") == value(base, loan_id, "revenue") * 7 + 13, loan_id
        assert not row(after, loan_id).equals(row(base, loan_id)), loan_id


# --- population_features ---------------------------------------------------------------------------


def test_population_rows_keys_and_exclusions(firms, firm_years) -> None:
    table, excluded = population_features(firms, firm_years, 2022)
    ids = [i.id for i in list_indicators()]
    assert list(table.columns) == list(POPULATION_KEY_COLUMNS) + ids
    expected_keys = pd.DataFrame({
        "firm_id": ["F1", "F2"],  # sorted, although `firms` lists F3, F1, F4, F2
        "year": pd.Series([2022, 2022], dtype="int64"),
        "as_of_year": pd.Series([2021, 2021], dtype="int64"),
        "province": ["Beijing", "Guangdong"],
        "industry": ["C39", "I64"],
        "is_sme": [True, True],
        "stage": pd.Categorical(["growth", "startup"], categories=list(STAGES)),  # ages 7 and 2
    })
    assert_frame_equal(table[list(POPULATION_KEY_COLUMNS)], expected_keys)
    # F4 founded in 2022 and F3 without a 2021 row are left out, counted with their reasons
    reasons = {("founded" if "founded" in r else "no row" if "no firm_years row" in r else r): n
               for r, n in excluded.counts.items()}
    assert reasons == {"founded": 1, "no row": 1}
    assert any("2022" in r for r in excluded.counts) and any("2021" in r for r in excluded.counts)
    assert len(table) + excluded.total == len(firms)  # nothing dropped silently


def test_population_values(firms, firm_years) -> None:
    table, _ = population_features(firms, firm_years, 2022)
    got = table.set_index("firm_id")[["revenue", "revenue_growth", "st_awards_2y", "firm_age"]]
    expected = pd.DataFrame(
        {"revenue": [150.0, 50.0],
         "revenue_growth": [0.25, NAN],     # F1 120 → 150; F2 0 → 50 is undefined
         "st_awards_2y": [2.0, 2.0],        # F1 0 + 2; F2 1 + 1
         "firm_age": [6.0, 1.0]},
        index=pd.Index(["F1", "F2"], name="firm_id"),
    )
    assert_frame_equal(got, expected)


def test_population_of_an_earlier_year(firms, firm_years) -> None:
    table, excluded = population_features(firms, firm_years, 2021)
    assert list(table["firm_id"]) == ["F1", "F2", "F3"]  # F3 has a 2020 row
    assert list(excluded.counts.values()) == [1]  # only F4 (founded 2022); no zero-count reasons listed
    assert "founded" in next(iter(excluded.counts))


def test_population_ignores_the_scoring_year_and_later(firms, firm_years) -> None:
    before, _ = population_features(firms, firm_years, 2022)
    later, _ = population_features(firms, tamper(firm_years, firm_years["year"] >= 2022), 2022)
    assert_frame_equal(later, before)
    changed, _ = population_features(firms, tamper(firm_years, firm_years["year"] == 2021), 2022)
    assert not changed.equals(before)


# --- coverage --------------------------------------------------------------------------------------


def test_coverage_shares_per_indicator_and_stage(base) -> None:
    got = coverage(base, [get("revenue"), get("pct_apps")])
    # revenue by loan: L4 180, L1 120 (growth), L3 missing, L5 300 (stable), L2 0 (start-up).
    # pct_apps: L4 0, L1 0, L2 0, L3 and L5 missing.
    expected = pd.DataFrame({
        "indicator": ["revenue"] * 4 + ["pct_apps"] * 4,
        "stage": ["all", "startup", "growth", "stable"] * 2,
        "n": [5, 1, 2, 2] * 2,
        "missing_share": [0.2, 0.0, 0.0, 0.5, 0.4, 0.0, 0.0, 1.0],
        "zero_share": [0.2, 1.0, 0.0, 0.0, 0.6, 1.0, 1.0, 0.0],
    })
    assert_frame_equal(got, expected)


def test_coverage_leaves_out_stages_without_rows(base) -> None:
    got = coverage(base.loc[base["stage"] == "growth"], [get("revenue")])
    assert list(got["stage"]) == ["all", "growth"]


# --- the pieces ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("column", "expected"), [
    ("revenue", ("revenue", 0)), ("revenue_lag1", ("revenue", 1)), ("st_awards_lag2", ("st_awards", 2)),
    ("revenue_lag3", ("revenue_lag3", 0)),  # only lags 1 and 2 exist
])
def test_split_panel_column(column: str, expected: tuple[str, int]) -> None:
    assert split_panel_column(column) == expected


@pytest.mark.parametrize(("indicator_id", "expected"), [
    ("revenue_growth", ["revenue"]),
    ("st_awards_2y", ["founded_year", "st_awards"]),  # exists_lag1 comes from the founding year
    ("firm_age", ["founded_year"]),
    ("patent_grant_ratio", ["founded_year", "invention_patent_apps", "invention_patents_granted"]),
    ("rd_expense_3y", ["founded_year", "rd_expense"]),  # lag1 and lag2 fold onto the column
])
def test_raw_inputs(indicator_id: str, expected: list[str]) -> None:
    assert raw_inputs(get(indicator_id)) == expected


def test_as_of_panel_reads_exact_fiscal_years(firms, firm_years) -> None:
    keys = pd.DataFrame({"firm_id": ["F2", "F1", "F3"], "as_of_year": [2021, 2022, 2021]}, index=[9, 8, 7])
    panel = as_of_panel(firms, firm_years, keys, ["revenue", "revenue_lag1", "revenue_lag2", "exists_lag2"])
    expected = pd.DataFrame({
        "has_history": [True, True, False],
        "revenue": [50.0, 180.0, NAN],         # F3 has no 2021 row
        "revenue_lag1": [0.0, 150.0, 300.0],
        "revenue_lag2": [NAN, 120.0, 250.0],   # F2's 2019 predates it: absent, so missing in the panel
        "founded_year": [2020.0, 2015.0, 2010.0],
        "as_of_year": pd.Series([2021, 2022, 2021], dtype="int64").to_numpy(),
        "exists_lag1": [True, True, True],
        "exists_lag2": [False, True, True],
    }, index=[9, 8, 7])
    assert_frame_equal(panel, expected)


def _as_of_by_hand(firms: pd.DataFrame, firm_years: pd.DataFrame, keys: pd.DataFrame, columns: list[str]):
    """as_of_panel's rows from plain dictionaries: a firm-year's value if that exact year exists, else NaN."""
    founded = dict(zip(firms["firm_id"], firms["founded_year"], strict=True))
    records = {(f, int(y)): r for (f, y), r in zip(zip(firm_years["firm_id"], firm_years["year"], strict=True),
                                                  firm_years.to_dict("records"), strict=True)}
    out = {"has_history": [(f, a) in records for f, a in zip(keys["firm_id"], keys["as_of_year"], strict=True)]}
    for col in columns:
        raw, lag = split_panel_column(col)
        out[col] = [float(records[f, a - lag][raw]) if (f, a - lag) in records else NAN
                    for f, a in zip(keys["firm_id"], keys["as_of_year"], strict=True)]
    year = keys["as_of_year"].to_numpy(dtype="int64")
    out["founded_year"] = [float(founded.get(f, NAN)) for f in keys["firm_id"]]
    out["as_of_year"] = year
    out["exists_lag1"] = np.asarray(out["founded_year"]) <= year - 1
    out["exists_lag2"] = np.asarray(out["founded_year"]) <= year - 2
    return pd.DataFrame(out, index=keys.index).astype({"has_history": bool, "founded_year": "float64"})


@pytest.mark.parametrize("case", ["as is", "unknown firms", "before the first year", "no firm_years", "no firms",
                                  "no keys", "a firm without firm_years"])
def test_as_of_panel_matches_a_lookup_by_hand_at_the_edges(firms, firm_years, case) -> None:
    keys = pd.DataFrame({"firm_id": ["F2", "F1", "F3", "F4", "F1"], "as_of_year": [2021, 2022, 2021, 2023, 2019]},
                        index=[9, 8, 7, 6, 5])
    if case == "unknown firms":
        keys = pd.concat([keys, pd.DataFrame({"firm_id": ["F9", "Fx"], "as_of_year": [2021, 2030]}, index=[1, 2])])
    elif case == "before the first year":
        keys = keys.assign(as_of_year=keys["as_of_year"] - 5)
    elif case == "no firm_years":
        firm_years = firm_years.iloc[:0]
    elif case == "no firms":
        firms = firms.iloc[:0]
    elif case == "no keys":
        keys = keys.iloc[:0]
    elif case == "a firm without firm_years":
        firm_years = firm_years[firm_years["firm_id"] != "F1"]
    columns = ["revenue", "revenue_lag1", "revenue_lag2", "rd_expense_lag1"]
    panel = as_of_panel(firms, firm_years, keys, columns)
    assert_frame_equal(panel, _as_of_by_hand(firms, firm_years, keys, columns), check_like=True)  # any column order


@pytest.mark.parametrize(("table", "message"), [
    ("firm_years", r"firm_years: one row per firm_id and year \(rule: the table's key\), e.g. \{'firm_id': 'F1', "
                   r"'year': 2019\} appears twice"),
    ("firms", r"firms: one row per firm_id \(rule: the table's key\), e.g. \{'firm_id': 'F1'\} appears twice"),
])
def test_as_of_panel_names_a_key_that_appears_twice(firms, firm_years, table, message) -> None:
    if table == "firms":
        firms = pd.concat([firms, firms[firms["firm_id"] == "F1"]], ignore_index=True)
    else:
        firm_years = pd.concat([firm_years, firm_years[firm_years["firm_id"] == "F1"].iloc[:1]], ignore_index=True)
    keys = pd.DataFrame({"firm_id": ["F1"], "as_of_year": [2021]})
    with pytest.raises(IndicatorError, match=message):
        as_of_panel(firms, firm_years, keys, ["revenue"])


def test_compute_indicators_turns_infinities_into_missing() -> None:
    blowup = Indicator(id="blowup", name_zh="测试", name_en="Blow-up", group="input", unit="x", direction=1,
                       status="candidate", inputs=("revenue",), func=lambda revenue: 1.0 / revenue)
    panel = pd.DataFrame({"revenue": [4.0, 0.0, NAN]}, index=[3, 2, 1])
    out = compute_indicators(panel, [blowup, get("revenue")])
    assert_series_equal(out["blowup"], pd.Series([0.25, NAN, NAN], index=[3, 2, 1], name="blowup"))
    assert_series_equal(out["revenue"], pd.Series([4.0, 0.0, NAN], index=[3, 2, 1], name="revenue"))


def test_exclusions_count_by_reason() -> None:
    ex = Exclusions()
    ex.add("too young", 2)
    ex.add("no row", 0)  # a reason with no rows is not listed
    ex.add("too young", 1)
    assert ex.counts == {"too young": 3}
    assert ex.total == 3
