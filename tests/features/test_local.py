"""Local indicators declared as data: column and expression indicators, and every malformed declaration."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_series_equal

from innopoints.features import catalog
from innopoints.features.build import loan_features
from innopoints.features.catalog import Indicator, list_indicators
from innopoints.features.errors import IndicatorError
from innopoints.features.local import LocalIndicatorSpec, build_local_indicator, build_local_indicators

NAN = np.nan
BASE = {"name_zh": "本地指标", "name_en": "Local indicator", "group": "output", "unit": "count",
        "direction": 1}


def spec(**fields) -> dict:
    return {"id": "my_ind", **BASE, **fields}


def compute(expression: str, **columns: list[float]) -> pd.Series:
    panel = pd.DataFrame(columns, index=pd.RangeIndex(10, 10 + len(next(iter(columns.values())))))
    return build_local_indicator(spec(expression=expression)).compute(panel)


def expect(values: list[float]) -> pd.Series:
    return pd.Series(values, index=pd.RangeIndex(10, 10 + len(values)), dtype="float64", name="my_ind")


# --- in the loan table ------------------------------------------------------------------------------


@pytest.fixture
def green_firm_years(firm_years: pd.DataFrame) -> pd.DataFrame:
    """The cohort plus a column only this locality collects: green patents (F3 did not deliver 2020)."""
    green = {("F1", 2019): 1.0, ("F1", 2020): 4.0, ("F1", 2021): 5.0, ("F1", 2022): 6.0, ("F1", 2023): 7.0,
             ("F2", 2020): 0.0, ("F2", 2021): 2.0, ("F3", 2019): 3.0, ("F3", 2020): NAN}
    keys = zip(firm_years["firm_id"], firm_years["year"], strict=True)
    return firm_years.assign(green_patents=[green.get(k, 0.0) for k in keys])


def test_local_indicators_appear_in_loan_features(firms, green_firm_years, loans) -> None:
    local = build_local_indicators([
        spec(id="green_patents", column="green_patents"),
        spec(id="green_patents_2y", expression="green_patents + green_patents_lag1"),
        spec(id="revenue_change", group="growth", unit="CNY 10k", expression="revenue - revenue_lag1"),
        spec(id="rd_pct", group="input", unit="%", expression="rd_expense / revenue * 100"),
    ], known_ids={i.id for i in list_indicators()})
    table = loan_features(firms, green_firm_years, loans, indicators=list_indicators() + local)
    got = table.set_index("loan_id")[[i.id for i in local]]
    assert list(table.columns[-4:]) == [i.id for i in local]  # after the built-ins, in declaration order
    # loans in order L4 (fiscal 2022), L1 (2020), L3 (no row), L2 (F2's founding year 2020), L5 (F3 2020)
    expected = pd.DataFrame({
        "green_patents": [6.0, 4.0, NAN, 0.0, NAN],      # F3 2020 not delivered: missing, not 0
        "green_patents_2y": [11.0, 5.0, NAN, NAN, NAN],  # 6 + 5, 4 + 1; a plain `+` has no window rule
        "revenue_change": [30.0, 20.0, NAN, NAN, 50.0],  # 180 − 150, 120 − 100, 300 − 250
        "rd_pct": [12 / 180 * 100, 5.0, NAN, NAN, 8 / 300 * 100],  # L2: revenue 0 → missing, not inf
    }, index=pd.Index(["L4", "L1", "L3", "L2", "L5"], name="loan_id"))
    pd.testing.assert_frame_equal(got, expected)


def test_expression_reading_an_absent_column_raises_naming_it(firms, firm_years, loans) -> None:
    local = build_local_indicator(spec(expression="green_patents * 2"))
    with pytest.raises(IndicatorError, match=r"indicator 'my_ind' \(local\) reads 'green_patents', but firm_years "
                                             r"has no column 'green_patents': a column name of firm_years"):
        loan_features(firms, firm_years, loans, indicators=[local])


# --- what an expression computes ------------------------------------------------------------------


def test_lags_in_expressions() -> None:
    out = compute("revenue - revenue_lag1", revenue=[120.0, 50.0, NAN], revenue_lag1=[100.0, NAN, 10.0])
    assert_series_equal(out, expect([20.0, NAN, NAN]))


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("rd_expense / revenue", [0.05, NAN, NAN, -0.02]),     # revenue 0 → missing, never inf
        ("rd_expense / 0", [NAN, NAN, NAN, NAN]),              # a literal zero divisor too
        ("rd_expense / (revenue - revenue)", [NAN, NAN, NAN, NAN]),
        ("1 / revenue", [1 / 120, NAN, 0.01, -0.02]),          # a negative divisor is fine, only 0 is not
    ],
)
def test_division_by_zero_is_missing(expression: str, expected: list[float]) -> None:
    out = compute(expression, rd_expense=[6.0, 6.0, NAN, 1.0], revenue=[120.0, 0.0, 100.0, -50.0])
    assert_series_equal(out, expect(expected))


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("-net_profit + 2 * revenue / 4", [-5.0 + 50.0, 5.0 + 0.0]),  # usual precedence, unary minus
        ("+revenue - 0.5", [99.5, -0.5]),
        ("abs(net_profit)", [5.0, 5.0]),
        ("log1p(revenue)", [np.log1p(100.0), 0.0]),
        ("log1p(net_profit - 4)", [np.log1p(1.0), NAN]),       # log1p(-9) is undefined: missing
        ("min(revenue, 50)", [50.0, 0.0]),
        ("max(net_profit, 1)", [5.0, 1.0]),
        ("max(revenue, revenue_lag1)", [100.0, NAN]),          # a missing argument is not skipped
    ],
)
def test_operators_and_functions(expression: str, expected: list[float]) -> None:
    out = compute(expression, revenue=[100.0, 0.0], net_profit=[5.0, -5.0], revenue_lag1=[80.0, NAN])
    assert_series_equal(out, expect(expected))


def test_declared_indicator_metadata() -> None:
    ind = build_local_indicator(spec(expression="revenue / employees + revenue", valid_range=(0, None)))
    assert isinstance(ind, Indicator)
    assert ind.inputs == ("revenue", "employees")  # each column once, in first-seen order
    assert (ind.id, ind.group, ind.status, ind.official) == ("my_ind", "output", "local", False)
    assert ind.description == "local: revenue / employees + revenue"
    assert ind.valid_range == (0, None)
    assert "my_ind" not in catalog.CATALOG  # declarations never leak into the shared built-in catalog


def test_column_indicator_reads_the_column() -> None:
    ind = build_local_indicator(spec(column="green_patents_lag1"))
    assert ind.inputs == ("green_patents_lag1",)
    out = ind.compute(pd.DataFrame({"green_patents_lag1": [3, None]}, index=[10, 11]))
    assert_series_equal(out, expect([3.0, NAN]))


def test_spec_object_and_dict_give_the_same_indicator() -> None:
    from_dict = build_local_indicator(spec(expression="revenue * 2"))
    from_spec = build_local_indicator(LocalIndicatorSpec(**spec(expression="revenue * 2")))
    assert from_dict == from_spec  # the dataclass compares metadata, not the function object


# --- malformed declarations -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"group": "impact", "expression": "revenue"}, r"'my_ind': group 'impact' is not one of"),
        ({"column": "revenue", "expression": "revenue"}, r"'my_ind'.*exactly one of `column` or `expr"),
        ({}, r"'my_ind'.*exactly one of `column` or `expression`"),
        ({"expression": "revenue +"}, r"'my_ind': expression 'revenue \+' does not parse"),
        ({"expression": "revenue ** 2"}, r"'my_ind'.*uses 'revenue \*\* 2', which is not allowed"),
        ({"expression": "revenue.real"}, r"'my_ind'.*uses 'revenue\.real', which is not allowed"),
        ({"expression": "eval('revenue')"}, r"'my_ind'.*uses \"eval\('revenue'\)\", which is not allowed"),
        ({"expression": "__import__('os').getcwd()"}, r"'my_ind'.*which is not allowed"),
        ({"expression": "revenue > 0"}, r"'my_ind'.*uses 'revenue > 0', which is not allowed"),
        ({"expression": "revenue[0]"}, r"'my_ind'.*uses 'revenue\[0\]', which is not allowed"),
        ({"expression": "max(a=revenue, b=1)"}, r"'my_ind'.*which is not allowed"),
        ({"expression": "revenue + 'x'"}, r"'my_ind'.*uses \"'x'\", which is not allowed"),
        ({"expression": "max(revenue)"}, r"'my_ind': max\(\) takes 2 argument"),
        ({"expression": "log1p(revenue, 1)"}, r"'my_ind': log1p\(\) takes 1 argument"),
        ({"expression": "log1p + revenue"}, r"'my_ind': function 'log1p' used without a call"),
        ({"expression": "1 + 2"}, r"'my_ind': expression '1 \+ 2' reads no column"),
        ({"column": "revenue growth"}, r"'my_ind': column 'revenue growth' is not a column name"),
        ({"expression": "revenue", "direction": 0}, r"'my_ind': direction must be 1 or -1, got 0"),
        ({"expression": "revenue", "unit": ""}, r"'my_ind': name_zh, name_en and unit are required"),
        ({"expression": "revenue", "colour": "red"}, r"'my_ind': colour: Extra inputs are not permitted"),
        ({"expression": "revenue", "id": "Bad-Id"}, r"indicator id 'Bad-Id': must be a lower_snake"),
        ({"expression": "revenue", "id": "2nd"}, r"indicator id '2nd': must be a lower_snake identifier"),
    ],
)
def test_malformed_declaration_raises_naming_id_and_problem(fields: dict, message: str) -> None:
    with pytest.raises(IndicatorError, match=message):
        build_local_indicator(spec(**fields))


def test_missing_required_field_raises_naming_it() -> None:
    declaration = spec(expression="revenue")
    del declaration["unit"]
    with pytest.raises(IndicatorError, match=r"'my_ind': unit: Field required"):
        build_local_indicator(declaration)


@pytest.mark.parametrize("column", ["class", "None", "True"])
def test_keyword_column_raises_indicator_error(column: str) -> None:
    with pytest.raises(IndicatorError, match=rf"'my_ind': column '{column}'"):
        build_local_indicator(spec(column=column)).compute(pd.DataFrame({column: [1.0]}))


def test_id_clash_with_a_built_in_raises() -> None:
    with pytest.raises(IndicatorError, match="local indicator 'revenue': id already used"):
        build_local_indicators([spec(id="revenue", column="revenue")], {i.id for i in list_indicators()})


def test_id_clash_between_declarations_raises() -> None:
    twice = [spec(id="green", column="green_patents"), spec(id="green", expression="green_patents * 2")]
    with pytest.raises(IndicatorError, match="local indicator 'green': id already used"):
        build_local_indicators(twice, set())


def test_build_local_indicators_keeps_declaration_order() -> None:
    out = build_local_indicators([spec(id="b_ind", column="revenue"), spec(id="a_ind", expression="revenue")],
                                 {"revenue"})
    assert [i.id for i in out] == ["b_ind", "a_ind"]
