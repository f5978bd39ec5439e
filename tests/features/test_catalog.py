"""The indicator catalog: its content (docs/field.md), its queries and the registration checks."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from pandas.testing import assert_series_equal

from innopoints.features import catalog
from innopoints.features.catalog import GROUPS, Indicator, get, indicator, list_indicators
from innopoints.features.errors import IndicatorError, InnopointsError
from innopoints.pipeline.contract import FIRM_YEAR_COLUMNS

# Panel columns an indicator may read: raw firm_years values, their lags, and the derived columns.
VALUE_COLUMNS = [c for c in FIRM_YEAR_COLUMNS if c not in ("firm_id", "year")]
PANEL_COLUMNS = (
    {c + suffix for c in VALUE_COLUMNS for suffix in ("", "_lag1", "_lag2")}
    | {"founded_year", "as_of_year", "exists_lag1", "exists_lag2"}
)
# The module that holds each group's indicators (tests mirror it: tests/features/test_<module>.py).
MODULE_OF_GROUP = {"input": "inputs", "output": "outputs", "growth": "growth", "financial": "financial"}
# The 17 public indicators of the official 1.0 list (docs/field.md), by official number.
OFFICIAL_1_0 = [
    "rd_expense", "rd_expense_growth", "rd_intensity", "st_staff_share", "invention_patent_apps", "pct_apps",
    "tech_contract_turnover", "high_tech_revenue", "revenue", "revenue_growth", "postgrad_share",
    "rd_tax_deduction", "roe", "new_graduates_hired", "rd_platforms_2y", "st_awards_2y", "vc_raised",
]
# Candidates the catalog names explicitly, so the data can judge them.
NAMED_CANDIDATES = {
    "invention_patents_granted", "patent_grant_ratio", "revenue_growth_2y", "rd_expense_growth_2y",
    "employment_growth", "leverage", "firm_age", "profit_margin", "utility_models", "software_copyrights",
}

# Stock candidates that credit research ties to default risk (patent stock, cumulative R&D), by group.
STOCK_CANDIDATES = {"invention_patents_granted_3y": "output", "rd_expense_3y": "input"}


def test_catalog_size() -> None:
    assert len(list_indicators(official=True)) >= 17
    assert len(list_indicators(status="candidate")) >= 10


def test_official_indicators_are_numbered_1_to_17_without_gaps_or_repeats() -> None:
    numbers = [ind.official_no for ind in list_indicators(official=True)]
    assert numbers == list(range(1, len(numbers) + 1))
    assert len(numbers) == 17
    assert [ind.official_no for ind in list_indicators(official=False)] == [None] * len(
        list_indicators(official=False))


def test_official_list_matches_the_published_1_0_list() -> None:
    assert [ind.id for ind in list_indicators(official=True)] == OFFICIAL_1_0


def test_named_candidates_are_in_the_catalog() -> None:
    assert NAMED_CANDIDATES <= {ind.id for ind in list_indicators(status="candidate")}


@pytest.mark.parametrize(("indicator_id", "group"), sorted(STOCK_CANDIDATES.items()))
def test_stock_candidates_sum_three_years(indicator_id: str, group: str) -> None:
    ind = get(indicator_id)
    raw = indicator_id.removesuffix("_3y")
    assert (ind.status, ind.group, ind.direction, ind.valid_range) == ("candidate", group, 1, (0, None))
    # the as-of year and its two lags, with the founding flags that make pre-founding years 0
    assert ind.inputs == (raw, raw + "_lag1", raw + "_lag2", "exists_lag1", "exists_lag2")


def test_each_indicator_is_in_exactly_one_group() -> None:
    assert GROUPS == ("input", "output", "growth", "financial")
    everything = list_indicators()
    by_group = [{i.id for i in list_indicators(group=g)} for g in GROUPS]
    assert sum(len(ids) for ids in by_group) == len(everything)  # no indicator counted twice
    assert set().union(*by_group) == {i.id for i in everything}  # none left outside the groups
    assert all(by_group), "every group has at least one indicator"


@pytest.mark.parametrize("ind", list_indicators(), ids=lambda i: i.id)
def test_indicator_inputs_are_real_panel_columns(ind: Indicator) -> None:
    assert ind.inputs, "an indicator reads at least one column"
    assert set(ind.inputs) <= PANEL_COLUMNS, set(ind.inputs) - PANEL_COLUMNS


@pytest.mark.parametrize("ind", list_indicators(), ids=lambda i: i.id)
def test_indicator_metadata_is_complete(ind: Indicator) -> None:
    assert ind.func is not None and ind.func.__name__ == ind.id  # named after the column it produces
    assert ind.func.__module__ == f"innopoints.features.{MODULE_OF_GROUP[ind.group]}"
    assert ind.direction in (1, -1)
    assert ind.name_zh and ind.name_en and ind.unit and ind.description
    assert ind.status in ("official", "candidate")


@pytest.mark.parametrize("ind", list_indicators(), ids=lambda i: i.id)
def test_every_indicator_has_its_own_test(ind: Indicator) -> None:
    # adding an indicator means adding one function *and one test*, in the mirrored test file.
    test_file = Path(__file__).with_name(f"test_{MODULE_OF_GROUP[ind.group]}.py")
    assert f"def test_{ind.id}(" in test_file.read_text(encoding="utf-8")


def test_filters() -> None:
    official_outputs = [i.id for i in list_indicators(group="output", official=True)]
    # in official-number order (5, 6, 7, 8, 16)
    assert official_outputs == ["invention_patent_apps", "pct_apps", "tech_contract_turnover",
                                "high_tech_revenue", "st_awards_2y"]
    assert {i.id for i in list_indicators(group="financial")} == {"leverage", "firm_age", "profit_margin"}
    growth_candidates = list_indicators(group="growth", official=False)
    assert growth_candidates and all(not i.official and i.group == "growth" for i in growth_candidates)
    assert list_indicators(group="input", status="local") == []


def test_catalog_order_is_official_number_then_group_and_id() -> None:
    ids = [i.id for i in list_indicators()]
    candidates = list_indicators(official=False)
    assert ids[:17] == OFFICIAL_1_0
    assert [i.id for i in candidates] == [i.id for i in sorted(candidates, key=lambda i: (i.group, i.id))]


def test_get_returns_the_entry() -> None:
    roe = get("roe")
    assert (roe.group, roe.official_no, roe.direction, roe.inputs) == ("growth", 13, 1,
                                                                         ("net_profit", "net_assets"))
    assert get("leverage").direction == -1  # more debt is worse for the policy


def test_get_unknown_raises_naming_it() -> None:
    with pytest.raises(IndicatorError, match="unknown indicator 'nope'"):
        get("nope")


def test_indicator_error_is_a_user_error() -> None:
    # The command line catches InnopointsError to print one line instead of a traceback.
    assert issubclass(IndicatorError, InnopointsError)


def test_as_dict_has_the_public_metadata() -> None:
    d = get("rd_platforms_2y").as_dict()
    assert d == {
        "id": "rd_platforms_2y", "name_zh": "近两年承担建设省级及以上研发或创新平台数量",
        "name_en": "Provincial+ R&D platforms (2 years)", "group": "input",
        "official_group": "auxiliary", "official_group_zh": "辅助", "category": "impact", "category_zh": "影响",
        "unit": "count", "direction": 1, "official": True, "status": "official", "official_no": 15,
        "inputs": ["rd_platforms", "rd_platforms_lag1", "exists_lag1"], "valid_range": [0, None],
        "inflatable": False,
        "description": "Most provincial-or-higher R&D platforms held in the as-of year or the year before.",
    }


def test_easily_inflated_counts_are_marked() -> None:
    # Application counts, utility models and software copyrights are cheap to inflate; among twins the
    # refinement prefers a harder-to-inflate measure.
    assert sorted(i.id for i in list_indicators() if i.inflatable) == [
        "invention_patent_apps", "pct_apps", "software_copyrights", "utility_models"]


def test_compute_missing_column_raises_naming_it() -> None:
    with pytest.raises(IndicatorError, match=r"'revenue_growth' needs column\(s\) \['revenue_lag1'\]"):
        get("revenue_growth").compute(pd.DataFrame({"revenue": [1.0]}))


# --- registration -----------------------------------------------------------------------------------

META = {"name_zh": "测试", "name_en": "Scratch", "group": "input", "unit": "count", "direction": 1}


@pytest.fixture
def scratch_catalog(monkeypatch: pytest.MonkeyPatch) -> dict[str, Indicator]:
    """A private copy of the catalog, restored after the test; registrations go into the copy only."""
    list_indicators()  # load the built-ins first, or they would register into the copy and be lost
    monkeypatch.setattr(catalog, "CATALOG", dict(catalog.CATALOG))
    return catalog.CATALOG


def scratch_indicator(revenue: pd.Series, employees: pd.Series) -> pd.Series:
    """Revenue minus employees (a scratch indicator for the registration tests)."""
    return revenue - employees


def test_register_records_metadata_from_the_function(scratch_catalog: dict[str, Indicator]) -> None:
    returned = indicator(**META)(scratch_indicator)
    assert returned is scratch_indicator  # the decorator leaves the function usable as is
    ind = get("scratch_indicator")
    assert ind.inputs == ("revenue", "employees")
    assert ind.status == "candidate" and ind.official_no is None
    assert ind.description == "Revenue minus employees (a scratch indicator for the registration tests)."
    assert "scratch_indicator" in [i.id for i in list_indicators(group="input", official=False)]
    out = ind.compute(pd.DataFrame({"revenue": [5, 7], "employees": [1, 2], "other": [0, 0]}))
    assert_series_equal(out, pd.Series([4.0, 5.0], name="scratch_indicator"))  # ints in, float out


def test_scratch_registration_is_thrown_away() -> None:
    # The pattern the fixture uses really isolates the shared catalog (other tests rely on it).
    list_indicators()
    original = catalog.CATALOG
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(catalog, "CATALOG", dict(original))
        indicator(**META)(scratch_indicator)
        assert "scratch_indicator" in catalog.CATALOG
    assert catalog.CATALOG is original
    assert "scratch_indicator" not in original


def test_register_duplicate_id_raises(scratch_catalog: dict[str, Indicator]) -> None:
    indicator(**META)(scratch_indicator)
    with pytest.raises(IndicatorError, match="'scratch_indicator' is registered twice"):
        indicator(**META)(scratch_indicator)


def test_register_clash_with_builtin_raises(scratch_catalog: dict[str, Indicator]) -> None:
    def revenue(revenue: pd.Series) -> pd.Series:
        """A second revenue."""
        return revenue

    with pytest.raises(IndicatorError, match="'revenue' is registered twice"):
        indicator(**META)(revenue)
    assert scratch_catalog["revenue"].func.__module__ == "innopoints.features.growth"  # the built-in survives


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"group": "impact"}, r"'scratch_indicator': group 'impact' is not one of \['input', 'output'"),
        ({"direction": 0}, r"'scratch_indicator': direction must be 1 or -1, got 0"),
        ({"status": "maybe"}, r"'scratch_indicator': status 'maybe' is not one of"),
        ({"unit": ""}, r"'scratch_indicator': name_zh, name_en and unit are required"),
        ({"valid_range": (1, 0)}, r"'scratch_indicator': valid_range lower bound 1 exceeds upper 0"),
    ],
)
def test_register_bad_metadata_raises(scratch_catalog: dict[str, Indicator], override: dict,
                                      message: str) -> None:
    with pytest.raises(IndicatorError, match=message):
        indicator(**{**META, **override})(scratch_indicator)
    assert "scratch_indicator" not in scratch_catalog  # nothing half-registered


def test_register_bad_id_raises(scratch_catalog: dict[str, Indicator]) -> None:
    def RevenueX(revenue: pd.Series) -> pd.Series:  # the bad name is the point
        return revenue

    with pytest.raises(IndicatorError, match="indicator id 'RevenueX': must be a lower_snake identifier"):
        indicator(**META)(RevenueX)


def test_every_indicator_carries_its_guideline_1_group_and_2_category() -> None:
    from innopoints.features.catalog import CATEGORIES, OFFICIAL_GROUPS
    from innopoints.models.formula.baseline import official_group

    for ind in list_indicators():
        assert ind.official_group in OFFICIAL_GROUPS and ind.category in CATEGORIES, ind.id
        if ind.official:  # the published 1.0 group of the official number
            assert ind.official_group == official_group(ind.official_no), ind.id
    counts = pd.Series([i.official_group for i in list_indicators(official=True)]).value_counts().to_dict()
    assert counts == {"technology_innovation": 7, "growth_operation": 6, "auxiliary": 4}
