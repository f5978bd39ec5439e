"""Tests for pipeline/contract.py: the data contract (README, "The data contract") and its validation report."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest

from innopoints.features.errors import DataError
from innopoints.pipeline.contract import (
    COLUMNS,
    PROVINCE_RULE,
    PROVINCES,
    TABLES,
    Finding,
    ValidationReport,
    canonical_province,
    coerce_tables,
    require_valid,
    validate_tables,
)

YEAR = 2025  # fixed "current year" so the plausibility ranges in the messages do not move with the clock


def _set(tables: dict[str, pd.DataFrame], table: str, row: int, column: str, value: object) -> None:
    """Put one raw value into a table, widening the column to object when its dtype cannot hold it."""
    frame = tables[table]
    try:
        frame.loc[row, column] = value
    except TypeError:
        values = frame[column].astype(object)
        values.iloc[row] = value
        frame[column] = values


def _find(report: ValidationReport, table: str, column: str | None, rule: str, severity: str = "error"):
    found = report.errors if severity == "error" else report.warnings
    matches = [f for f in found if (f.table, f.column, f.rule) == (table, column, rule)]
    assert len(matches) == 1, f"no single {severity} {table}.{column}: {rule} in\n{report.render()}"
    return matches[0]


# ---------------------------------------------------------------------------------------------------------
# The valid dataset
# ---------------------------------------------------------------------------------------------------------


def test_valid_dataset_has_no_errors_and_no_warnings(valid_tables):
    report = validate_tables(valid_tables, current_year=YEAR)
    assert report.ok
    assert report.errors == [] and report.warnings == []
    assert report.rows == {"firms": 4, "firm_years": 8, "loans": 4}
    assert report.render() == (
        "data contract ok: 0 errors, 0 warnings (firms 4 rows, firm_years 8 rows, loans 4 rows)"
    )


def test_validation_does_not_change_the_input(valid_tables):
    before = {t: df.copy() for t, df in valid_tables.items()}
    _set(valid_tables, "firm_years", 0, "revenue", -1.0)
    before["firm_years"].loc[0, "revenue"] = -1.0
    validate_tables(valid_tables, current_year=YEAR)
    for table in TABLES:
        pd.testing.assert_frame_equal(valid_tables[table], before[table])


def test_default_current_year_is_today(valid_tables):
    this_year = pd.Timestamp.today().year
    _set(valid_tables, "firms", 0, "founded_year", this_year + 1)
    finding = validate_tables(valid_tables).errors[0]
    assert finding.rule == f"must be between 1949 and {this_year}"


# ---------------------------------------------------------------------------------------------------------
# One broken rule at a time: table, column, rule and the rendered line
# ---------------------------------------------------------------------------------------------------------


def _drop_column(t):
    del t["firms"]["industry"]


def _append_duplicate_firm(t):
    extra = t["firms"].iloc[[0]].assign(province="Hebei")
    t["firms"] = pd.concat([t["firms"], extra], ignore_index=True)


def _append_duplicate_firm_year(t):
    t["firm_years"] = pd.concat([t["firm_years"], t["firm_years"].iloc[[1]]], ignore_index=True)


def _three_negative_revenues(t):
    for row in (0, 3, 4):
        _set(t, "firm_years", row, "revenue", -5.0)


def _fy_before_founding(t):
    _set(t, "firms", 1, "founded_year", 2022)


def _staff_above_headcount(t):
    _set(t, "firm_years", 7, "st_staff", 7.0)


BREAKAGES = [
    # (id, how to break it, table, column, rule, rendered line)
    (
        "missing column", _drop_column, "firms", "industry", "required column is missing",
        "firms.industry: required column is missing",
    ),
    (
        "string id stored as number", lambda t: _set(t, "loans", 1, "bank", 7), "loans", "bank",
        "must be a string", "loans.bank: must be a string — 1 row, e.g. {loan_id: L0002, bank: 7}",
    ),
    (
        "text in an integer column", lambda t: _set(t, "firms", 1, "founded_year", "20x8"), "firms",
        "founded_year", "must be an integer",
        "firms.founded_year: must be an integer — 1 row, e.g. {firm_id: F0000002, founded_year: 20x8}",
    ),
    (
        "fraction in an integer column", lambda t: _set(t, "loans", 0, "term_months", 12.5), "loans",
        "term_months", "must be an integer",
        "loans.term_months: must be an integer — 1 row, e.g. {loan_id: L0001, term_months: 12.5}",
    ),
    (
        "text in a money column", lambda t: _set(t, "firm_years", 2, "rd_expense", "lots"), "firm_years",
        "rd_expense", "must be a number",
        "firm_years.rd_expense: must be a number — 1 row, "
        "e.g. {firm_id: F0000001, year: 2022, rd_expense: lots}",
    ),
    (
        "infinite money", lambda t: _set(t, "firm_years", 2, "vc_raised", np.inf), "firm_years",
        "vc_raised", "must be a number",
        "firm_years.vc_raised: must be a number — 1 row, "
        "e.g. {firm_id: F0000001, year: 2022, vc_raised: inf}",
    ),
    (
        "duplicate firm_id", _append_duplicate_firm, "firms", "firm_id", "must be unique",
        "firms.firm_id: must be unique — 2 rows, e.g. {firm_id: F0000001}, {firm_id: F0000001}",
    ),
    (
        "duplicate firm-year", _append_duplicate_firm_year, "firm_years", "year",
        "must be unique within each firm_id",
        "firm_years.year: must be unique within each firm_id — 2 rows, "
        "e.g. {firm_id: F0000001, year: 2021}, {firm_id: F0000001, year: 2021}",
    ),
    (
        "duplicate loan_id", lambda t: _set(t, "loans", 3, "loan_id", "L0001"), "loans", "loan_id",
        "must be unique", "loans.loan_id: must be unique — 2 rows, e.g. {loan_id: L0001}, {loan_id: L0001}",
    ),
    (
        "loan of an unknown firm", lambda t: _set(t, "loans", 2, "firm_id", "F0000009"), "loans", "firm_id",
        "must exist in firms.firm_id",
        "loans.firm_id: must exist in firms.firm_id — 1 row, e.g. {loan_id: L0003, firm_id: F0000009}",
    ),
    (
        "firm-year of an unknown firm", lambda t: _set(t, "firm_years", 7, "firm_id", "F0000099"),
        "firm_years", "firm_id", "must exist in firms.firm_id",
        "firm_years.firm_id: must exist in firms.firm_id — 1 row, e.g. {firm_id: F0000099, year: 2021}",
    ),
    (
        "negative revenue, three rows", _three_negative_revenues, "firm_years", "revenue", "must be >= 0",
        "firm_years.revenue: must be >= 0 — 3 rows, e.g. {firm_id: F0000001, year: 2020, revenue: -5.0}, "
        "{firm_id: F0000002, year: 2021, revenue: -5.0}, {firm_id: F0000002, year: 2022, revenue: -5.0}",
    ),
    (
        "negative liabilities", lambda t: _set(t, "firm_years", 5, "total_liabilities", -1.0), "firm_years",
        "total_liabilities", "must be >= 0",
        "firm_years.total_liabilities: must be >= 0 — 1 row, "
        "e.g. {firm_id: F0000003, year: 2021, total_liabilities: -1.0}",
    ),
    (
        "negative count", lambda t: _set(t, "firm_years", 0, "pct_apps", -1.0), "firm_years", "pct_apps",
        "must be >= 0",
        "firm_years.pct_apps: must be >= 0 — 1 row, e.g. {firm_id: F0000001, year: 2020, pct_apps: -1.0}",
    ),
    (
        "unparsable date",
        lambda t: _set(t, "loans", 1, "origination_date", "2022-02-30"), "loans", "origination_date",
        "must be a date (YYYY-MM-DD)",
        "loans.origination_date: must be a date (YYYY-MM-DD) — 1 row, "
        "e.g. {loan_id: L0002, origination_date: 2022-02-30}",
    ),
    (
        "origination year implausible",
        lambda t: _set(t, "loans", 0, "origination_date", pd.Timestamp("1985-06-01")), "loans",
        "origination_date", "year must be between 1990 and 2026",
        "loans.origination_date: year must be between 1990 and 2026 — 1 row, "
        "e.g. {loan_id: L0001, origination_date: 1985-06-01}",
    ),
    (
        "unknown province", lambda t: _set(t, "firms", 2, "province", "Atlantis"), "firms", "province",
        PROVINCE_RULE,
        f"firms.province: {PROVINCE_RULE} — 1 row, e.g. {{firm_id: F0000003, province: Atlantis}}",
    ),
    (
        "unknown guarantee", lambda t: _set(t, "loans", 1, "guarantee", "mortgage"), "loans", "guarantee",
        "must be one of credit, guarantee_fund, ip_pledge",
        "loans.guarantee: must be one of credit, guarantee_fund, ip_pledge — 1 row, "
        "e.g. {loan_id: L0002, guarantee: mortgage}",
    ),
    (
        "non-boolean defaulted", lambda t: _set(t, "loans", 0, "defaulted", "maybe"), "loans", "defaulted",
        "must be a boolean (true/false or 0/1)",
        "loans.defaulted: must be a boolean (true/false or 0/1) — 1 row, "
        "e.g. {loan_id: L0001, defaulted: maybe}",
    ),
    (
        "boolean given as 2", lambda t: _set(t, "firms", 3, "is_sme", 2), "firms", "is_sme",
        "must be a boolean (true/false or 0/1)",
        "firms.is_sme: must be a boolean (true/false or 0/1) — 1 row, e.g. {firm_id: F0000004, is_sme: 2}",
    ),
    (
        "non-integer count", lambda t: _set(t, "firm_years", 0, "employees", 80.5), "firm_years", "employees",
        "must be a whole number",
        "firm_years.employees: must be a whole number — 1 row, "
        "e.g. {firm_id: F0000001, year: 2020, employees: 80.5}",
    ),
    (
        "firm-year before founding", _fy_before_founding, "firm_years", "year",
        "must not be before the firm's founded_year",
        "firm_years.year: must not be before the firm's founded_year — 1 row, "
        "e.g. {firm_id: F0000002, year: 2021, founded_year: 2022}",
    ),
    (
        "founded implausibly early", lambda t: _set(t, "firms", 2, "founded_year", 1900), "firms",
        "founded_year", "must be between 1949 and 2025",
        "firms.founded_year: must be between 1949 and 2025 — 1 row, "
        "e.g. {firm_id: F0000003, founded_year: 1900}",
    ),
    (
        "firm-year in the future", lambda t: _set(t, "firm_years", 2, "year", 2030), "firm_years", "year",
        "must be between 1990 and 2026",
        "firm_years.year: must be between 1990 and 2026 — 1 row, e.g. {firm_id: F0000001, year: 2030}",
    ),
    (
        "null key in loans", lambda t: _set(t, "loans", 2, "loan_id", None), "loans", "loan_id",
        "must not be null", "loans.loan_id: must not be null — 1 row, e.g. {loan_id: null}",
    ),
    (
        "null year in firm_years", lambda t: _set(t, "firm_years", 6, "year", np.nan), "firm_years", "year",
        "must not be null", "firm_years.year: must not be null — 1 row, e.g. {firm_id: F0000003, year: null}",
    ),
    (
        "null in a firms column", lambda t: _set(t, "firms", 0, "industry", None), "firms", "industry",
        "must not be null",
        "firms.industry: must not be null — 1 row, e.g. {firm_id: F0000001, industry: null}",
    ),
    (
        "blank text counts as null", lambda t: _set(t, "loans", 1, "bank", ""), "loans", "bank",
        "must not be null", 'loans.bank: must not be null — 1 row, e.g. {loan_id: L0002, bank: ""}',
    ),
    (
        "st_staff above employees", _staff_above_headcount, "firm_years", "st_staff", "must be <= employees",
        "firm_years.st_staff: must be <= employees — 1 row, "
        "e.g. {firm_id: F0000004, year: 2021, st_staff: 7.0, employees: 6.0}",
    ),
    (
        "zero amount", lambda t: _set(t, "loans", 3, "amount", 0.0), "loans", "amount", "must be > 0",
        "loans.amount: must be > 0 — 1 row, e.g. {loan_id: L0004, amount: 0.0}",
    ),
    (
        "term out of range", lambda t: _set(t, "loans", 3, "term_months", 480), "loans", "term_months",
        "must be between 1 and 360",
        "loans.term_months: must be between 1 and 360 — 1 row, e.g. {loan_id: L0004, term_months: 480}",
    ),
]


@pytest.mark.parametrize(
    ("breaker", "table", "column", "rule", "line"),
    [pytest.param(*case[1:], id=case[0]) for case in BREAKAGES],
)
def test_each_broken_rule_is_reported_once_with_its_message(valid_tables, breaker, table, column, rule, line):
    breaker(valid_tables)
    report = validate_tables(valid_tables, current_year=YEAR)
    assert not report.ok
    finding = _find(report, table, column, rule)
    assert finding.severity == "error"
    assert finding.render() == line
    assert f"error: {line}" in report.render().splitlines()
    # Each breakage is isolated: one error, so nothing is double-reported (a bad cell is not also "null").
    assert len(report.errors) == 1, report.render()


def test_examples_show_key_columns_and_culprit_only(valid_tables):
    for row in range(8):
        _set(valid_tables, "firm_years", row, "revenue", -1.0 - row)
    finding = validate_tables(valid_tables, current_year=YEAR).errors[0]
    assert finding.count == 8  # every failing row is counted ...
    assert len(finding.examples) == 3  # ... but only three are shown
    assert [list(ex) for ex in finding.examples] == [["firm_id", "year", "revenue"]] * 3
    assert [ex["revenue"] for ex in finding.examples] == [-1.0, -2.0, -3.0]


def test_missing_table_and_repeated_column_name(valid_tables):
    del valid_tables["loans"]
    firms = valid_tables["firms"]
    valid_tables["firms"] = pd.concat([firms, firms[["industry"]]], axis=1)
    report = validate_tables(valid_tables, current_year=YEAR)
    assert _find(report, "loans", None, "table is missing").render() == "loans: table is missing"
    repeated = _find(report, "firms", "industry", "column name appears more than once")
    assert repeated.render() == "firms.industry: column name appears more than once"
    assert len(report.errors) == 2


def test_wrongly_typed_key_column_does_not_cascade(valid_tables):
    valid_tables["firms"]["firm_id"] = [1, 2, 3, 4]
    report = validate_tables(valid_tables, current_year=YEAR)
    finding = _find(report, "firms", "firm_id", "must be a string")
    assert finding.count == 4
    # The children cannot be checked against a key that failed to parse; no flood of "unknown firm" errors.
    assert len(report.errors) == 1


# ---------------------------------------------------------------------------------------------------------
# What is not an error
# ---------------------------------------------------------------------------------------------------------


def test_extra_column_is_a_warning_only(valid_tables):
    valid_tables["firms"]["local_bonus"] = [1, 0, 0, 2]
    report = validate_tables(valid_tables, current_year=YEAR)
    assert report.ok
    warning = _find(report, "firms", "local_bonus", "unexpected column (kept, not checked)", "warning")
    assert warning.render() == "firms.local_bonus: unexpected column (kept, not checked)"
    assert "warning: firms.local_bonus: unexpected column (kept, not checked)" in report.render()


def test_nulls_in_firm_year_values_are_not_errors(valid_tables):
    for column in ("revenue", "employees", "st_staff", "net_assets", "vc_raised"):
        _set(valid_tables, "firm_years", 2, column, np.nan)
    report = validate_tables(valid_tables, current_year=YEAR)
    assert report.ok and report.warnings == []


def test_high_missing_share_is_a_warning(valid_tables):
    valid_tables["firm_years"]["vc_raised"] = [np.nan] * 5 + [0.0, 1.0, 2.0]
    report = validate_tables(valid_tables, current_year=YEAR)
    assert report.ok
    warning = _find(report, "firm_years", "vc_raised", "more than 30% missing (62.5%)", "warning")
    assert warning.render() == "firm_years.vc_raised: more than 30% missing (62.5%) — 5 rows"


def test_net_assets_off_the_balance_sheet_is_a_warning(valid_tables):
    _set(valid_tables, "firm_years", 5, "net_assets", 5000.0)  # 10000 - 6000 = 4000; 1000 off > 5% of 10000
    _set(valid_tables, "firm_years", 6, "net_assets", 4700.0)  # 11000 - 6360 = 4640; 60 off < 550: fine
    report = validate_tables(valid_tables, current_year=YEAR)
    assert report.ok
    rule = "differs from total_assets - total_liabilities by more than 5% of total_assets"
    warning = _find(report, "firm_years", "net_assets", rule, "warning")
    assert warning.render() == (
        f"firm_years.net_assets: {rule} — 1 row, e.g. {{firm_id: F0000003, year: 2021, net_assets: 5000.0, "
        "total_assets: 10000.0, total_liabilities: 6000.0}"
    )


def test_loan_without_earlier_firm_year_is_a_warning(valid_tables):
    # L0002 (F0000002, 2022) needs a firm-year <= 2021: without its 2021 row only 2022 is left.
    valid_tables["firm_years"] = valid_tables["firm_years"].drop(index=3).reset_index(drop=True)
    report = validate_tables(valid_tables, current_year=YEAR)
    assert report.ok
    rule = "firm has no firm_years row before the origination year (its features will be missing)"
    warning = _find(report, "loans", "firm_id", rule, "warning")
    assert warning.render() == (
        f"loans.firm_id: {rule} — 1 row, "
        f"e.g. {{loan_id: L0002, firm_id: F0000002, origination_date: 2022-06-01}}"
    )


def test_default_in_open_window_is_a_warning(valid_tables):
    _set(valid_tables, "loans", 3, "defaulted", True)  # L0004 has outcome_observed false
    report = validate_tables(valid_tables, current_year=YEAR)
    assert report.ok
    warning = _find(report, "loans", "defaulted", "is true while outcome_observed is false", "warning")
    assert warning.render() == (
        "loans.defaulted: is true while outcome_observed is false — 1 row, "
        "e.g. {loan_id: L0004, defaulted: True, outcome_observed: False}"
    )


def test_an_empty_table_is_an_error(valid_tables):
    valid_tables["loans"] = valid_tables["loans"].iloc[:0]
    report = validate_tables(valid_tables, current_year=YEAR)
    assert not report.ok
    assert _find(report, "loans", None, "table has no rows; every table needs at least one").count == 0


def test_future_loans_and_early_outcomes_are_errors_with_count_and_example(valid_tables):
    loans = valid_tables["loans"]
    loans.loc[0, "origination_date"] = pd.Timestamp("2025-03-01")  # after "today" below
    loans.loc[2, "origination_date"] = pd.Timestamp("2024-09-01")  # observed, window closes 2025-09-01
    report = validate_tables(valid_tables, current_year=YEAR, today=dt.date(2025, 1, 31))
    future = _find(report, "loans", "origination_date", "is after today (2025-01-31): a loan cannot be "
                   "originated in the future")
    assert future.count == 1 and future.examples[0]["loan_id"] == "L0001"
    early = [f for f in report.errors if f.column == "outcome_observed"]
    assert len(early) == 1 and early[0].count == 1 and early[0].examples[0]["loan_id"] == "L0003"


def test_money_near_the_float_limit_is_an_error(valid_tables):
    valid_tables["firm_years"].loc[1, "revenue"] = 1.7e308
    report = validate_tables(valid_tables, current_year=YEAR)
    finding = [f for f in report.errors if f.where == "firm_years.revenue"][0]
    assert finding.count == 1 and "must be within +-1e+12" in finding.rule


def test_csv_style_values_are_accepted(valid_tables):
    # As a CSV reader may hand them over: everything as text, booleans spelled several ways, whole floats.
    text = {t: df.astype("str") for t, df in valid_tables.items()}  # nulls stay null
    text["loans"]["defaulted"] = ["false", "TRUE", "0", "False"]
    text["loans"]["outcome_observed"] = ["1", "1", "true", "0"]
    text["loans"]["origination_date"] = ["2022-03-15", "2022-06-01", "2023-01-10", "2023-05-20"]
    text["firms"]["founded_year"] = [2012.0, 2018.0, 2005.0, 2020.0]
    report = validate_tables(text, current_year=YEAR)
    assert report.ok, report.render()
    coerced = coerce_tables(text)
    for table in TABLES:
        pd.testing.assert_frame_equal(coerced[table], valid_tables[table])


# ---------------------------------------------------------------------------------------------------------
# Report forms, require_valid, coerce_tables
# ---------------------------------------------------------------------------------------------------------


def test_render_short_and_require_valid(valid_tables):
    for row in (3, 4):
        _set(valid_tables, "firm_years", row, "revenue", -5.0)
    _set(valid_tables, "loans", 1, "guarantee", "mortgage")
    report = validate_tables(valid_tables, current_year=YEAR)
    expected = (
        "data contract violated: 2 errors, first: firm_years.revenue: must be >= 0 "
        "(2 rows, e.g. firm_id=F0000002 year=2021 revenue=-5.0); run innopoints validate for the full report"
    )
    assert report.render_short() == expected
    with pytest.raises(DataError) as caught:
        require_valid(valid_tables, current_year=YEAR)
    assert str(caught.value) == expected


def test_render_lists_errors_then_warnings(valid_tables):
    valid_tables["loans"]["branch"] = ["a", "b", "c", "d"]
    _set(valid_tables, "loans", 3, "amount", -1.0)
    assert validate_tables(valid_tables, current_year=YEAR).render().splitlines() == [
        "data contract violated: 1 error, 1 warning (firms 4 rows, firm_years 8 rows, loans 4 rows)",
        "error: loans.amount: must be > 0 — 1 row, e.g. {loan_id: L0004, amount: -1.0}",
        "warning: loans.branch: unexpected column (kept, not checked)",
    ]


def test_require_valid_returns_the_report_when_clean(valid_tables):
    assert require_valid(valid_tables, current_year=YEAR).ok


def test_as_dict_is_json_ready(valid_tables):
    _set(valid_tables, "loans", 0, "origination_date", pd.Timestamp("1980-01-02"))
    report = validate_tables(valid_tables, current_year=YEAR)
    data = json.loads(json.dumps(report.as_dict()))
    assert data["ok"] is False
    assert data["errors"][0] == {
        "table": "loans",
        "column": "origination_date",
        "rule": "year must be between 1990 and 2026",
        "count": 1,
        "examples": [{"loan_id": "L0001", "origination_date": "1980-01-02"}],
        "severity": "error",
    }


def test_finding_without_rows_renders_without_count():
    assert Finding("firms", "province", "required column is missing", None).render_short() == (
        "firms.province: required column is missing"
    )


def test_coerce_gives_canonical_dtypes_and_keeps_extras(valid_tables):
    valid_tables["firms"]["founded_year"] = valid_tables["firms"]["founded_year"].astype("float64")
    valid_tables["firms"]["local_bonus"] = ["x", "y", "z", "w"]
    coerced = coerce_tables(valid_tables)
    assert coerced["firms"]["founded_year"].dtype == np.dtype("int64")
    assert coerced["firms"]["local_bonus"].tolist() == ["x", "y", "z", "w"]
    expected = {"firm_id": "str", "year": "int64", "revenue": "float64", "employees": "float64"}
    assert {c: str(coerced["firm_years"][c].dtype) for c in expected} == expected
    loans = coerced["loans"].dtypes.astype(str).to_dict()
    assert loans["origination_date"] == "datetime64[us]" and loans["defaulted"] == "bool"
    assert list(coerced["firm_years"].columns) == list(COLUMNS["firm_years"])


def test_coerce_refuses_values_that_do_not_parse(valid_tables):
    _set(valid_tables, "loans", 0, "defaulted", "maybe")
    expected = r"loans\.defaulted: must be a boolean .*loan_id=L0001 defaulted=maybe"
    with pytest.raises(DataError, match=expected):
        coerce_tables(valid_tables)


def test_coerce_refuses_null_in_a_flag(valid_tables):
    _set(valid_tables, "firms", 2, "is_sme", None)
    with pytest.raises(DataError, match=r"firms\.is_sme: must not be null"):
        coerce_tables(valid_tables)


# ---------------------------------------------------------------------------------------------------------
# Province names as officials write them
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("spelling", ["广东", "广东省", "Guangdong", "guangdong", " GUANGDONG ", "Guangdong Province"])
def test_province_spellings_map_to_the_pinyin(spelling):
    assert canonical_province(spelling) == "Guangdong"


def test_every_unit_is_known_by_its_chinese_full_name_and_variants():
    assert [canonical_province(p) for p in PROVINCES] == list(PROVINCES)
    assert {n: canonical_province(n) for n in ("内蒙古自治区", "Nei Mongol", "西藏", "Xizang", "北京市",
                                               "广西壮族自治区", "新疆维吾尔自治区", "陕西省", "山西省")} == {
        "内蒙古自治区": "Inner Mongolia", "Nei Mongol": "Inner Mongolia", "西藏": "Tibet", "Xizang": "Tibet",
        "北京市": "Beijing", "广西壮族自治区": "Guangxi", "新疆维吾尔自治区": "Xinjiang", "陕西省": "Shaanxi",
        "山西省": "Shanxi"}
    assert canonical_province("Atlantis") is None and canonical_province("广东州") is None


def test_chinese_province_names_validate_and_coerce_to_pinyin(valid_tables):
    firms = valid_tables["firms"]
    firms["province"] = ["广东省", "hubei", "北京", "Zhejiang"][: len(firms)]

    assert validate_tables(valid_tables, current_year=YEAR).ok
    assert coerce_tables(valid_tables)["firms"]["province"].tolist() == ["Guangdong", "Hubei", "Beijing", "Zhejiang"]


def test_unknown_province_is_refused_in_one_line_listing_the_spellings(valid_tables):
    _set(valid_tables, "firms", 0, "province", "广东州")

    with pytest.raises(DataError) as err:
        require_valid(valid_tables, current_year=YEAR)

    message = str(err.value)
    assert "\n" not in message and "广东州" in message
    assert "Guangdong 广东" in message and "Xinjiang 新疆" in message and "pinyin" in message
