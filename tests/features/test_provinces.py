"""Tests for features/provinces.py: the 31 provincial-level units, pinyin and Chinese."""

from __future__ import annotations

from innopoints.features.provinces import PROVINCE_NAMES_ZH
from innopoints.pipeline.contract import PROVINCES


def test_thirty_one_units_each_with_a_distinct_chinese_name():
    assert len(PROVINCE_NAMES_ZH) == 31
    assert len(set(PROVINCE_NAMES_ZH.values())) == 31
    assert all("\u4e00" <= ch <= "\u9fff" for name in PROVINCE_NAMES_ZH.values() for ch in name)
    assert PROVINCE_NAMES_ZH["Guangdong"] == "广东" and PROVINCE_NAMES_ZH["Inner Mongolia"] == "内蒙古"


def test_the_contract_accepts_exactly_these_units():
    assert PROVINCES == tuple(PROVINCE_NAMES_ZH)
