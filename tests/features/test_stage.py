"""Lifecycle stage rule: age boundaries, custom limits, the optional revenue limit, invalid rules."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_series_equal
from pydantic import ValidationError

from innopoints.features.errors import IndicatorError
from innopoints.features.stage import STAGE_NAMES_ZH, STAGES, StageRule

NAN = np.nan


def stages(labels: list[str | None], index: list[int]) -> pd.Series:
    return pd.Series(pd.Categorical(labels, categories=list(STAGES)), index=index, name="stage")


def test_default_age_boundaries() -> None:
    age = pd.Series([0, 2, 3, 9, 10, 40], index=[5, 4, 3, 2, 1, 0])
    # defaults: start-up below 3 years, growth below 10, stable from 10 on (boundaries belong upwards)
    expected = stages(["startup", "startup", "growth", "growth", "stable", "stable"], [5, 4, 3, 2, 1, 0])
    assert_series_equal(StageRule().assign(age), expected)


def test_custom_age_limits() -> None:
    rule = StageRule(startup_max_age=5, growth_max_age=8)
    age = pd.Series([4.0, 5.0, 7.0, 8.0])
    assert_series_equal(rule.assign(age), stages(["startup", "growth", "growth", "stable"], [0, 1, 2, 3]))


def test_startup_max_revenue_keeps_small_growth_firms_in_startup() -> None:
    rule = StageRule(startup_max_revenue=100.0)
    age = pd.Series([5.0, 5.0, 5.0, 12.0, 1.0])
    revenue = pd.Series([50.0, 100.0, NAN, 10.0, 500.0])
    # 50 < 100 → kept a start-up; exactly 100 is not below the limit; unknown revenue does not move a firm;
    # a stable firm stays stable however small; a young firm stays a start-up however large
    expected = stages(["startup", "growth", "growth", "stable", "startup"], [0, 1, 2, 3, 4])
    assert_series_equal(rule.assign(age, revenue), expected)


def test_startup_max_revenue_without_revenue_uses_age_only() -> None:
    rule = StageRule(startup_max_revenue=100.0)
    assert_series_equal(rule.assign(pd.Series([5.0])), stages(["growth"], [0]))


def test_revenue_is_ignored_without_a_revenue_limit() -> None:
    assert_series_equal(StageRule().assign(pd.Series([5.0]), pd.Series([1.0])), stages(["growth"], [0]))


def test_missing_age_gives_missing_stage() -> None:
    assert_series_equal(StageRule().assign(pd.Series([NAN])), stages([None], [0]))


@pytest.mark.parametrize(("startup_max_age", "growth_max_age"), [(5, 4), (5, 5)])
def test_unordered_age_limits_raise(startup_max_age: int, growth_max_age: int) -> None:
    with pytest.raises(IndicatorError, match=rf"growth_max_age \({growth_max_age}\) must exceed "
                                             rf"startup_max_age \({startup_max_age}\)"):
        StageRule(startup_max_age=startup_max_age, growth_max_age=growth_max_age)


BAD_FIELDS = [{"method": "revenue"}, {"startup_max_age": 0}, {"startup_max_revenue": -1.0},
              {"unknown_key": 1}]


@pytest.mark.parametrize("bad", BAD_FIELDS)
def test_invalid_rule_fields_are_rejected(bad: dict) -> None:
    # The message names the offending field.
    with pytest.raises((ValidationError, IndicatorError), match=next(iter(bad))):
        StageRule(**bad)


@pytest.mark.parametrize("bad", BAD_FIELDS)
def test_invalid_rule_fields_raise_indicator_error(bad: dict) -> None:
    with pytest.raises(IndicatorError, match=next(iter(bad))):
        StageRule(**bad)


def test_rule_round_trips_through_a_dict() -> None:
    # Formula files store the rule as a mapping; loading it back must give the same rule.
    rule = StageRule(startup_max_age=4, growth_max_age=12, startup_max_revenue=200.0)
    assert StageRule(**rule.model_dump()) == rule
    assert rule.model_dump() == {"method": "age", "startup_max_age": 4, "growth_max_age": 12,
                                 "startup_max_revenue": 200.0}


def test_every_stage_has_a_chinese_name() -> None:
    assert STAGES == ("startup", "growth", "stable")
    assert STAGE_NAMES_ZH == {"startup": "初创期", "growth": "成长期", "stable": "稳定期"}


def test_each_rule_names_its_own_stage_column():
    assert StageRule(startup_max_age=8).column == StageRule(startup_max_age=8).column != StageRule().column
    assert StageRule().column.startswith("stage@")
