"""Tests for experiments/i18n.py: the table of texts in English and Chinese, and names from the catalog."""

from __future__ import annotations

import re
import string

import pytest

from innopoints.experiments.i18n import LANGS, PLOT_LABELS_ZH, REASON_ZH, TEXTS, Texts, check_lang, plot_labels
from innopoints.features.catalog import get
from innopoints.features.errors import ConfigError
from innopoints.models.learning.refine import REASON_EN
from innopoints.models.plots import LABELS
from tests.experiments.english import english_runs

CJK = re.compile(r"[\u4e00-\u9fff]")
# acronyms and punctuation read the same
NEUTRAL = {"card.auc_sub", "metric.test_auc", "metric.test_ks", "col.auc", "col.psi", "pr.marginal_end",
           "mig.scale_sep"}


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def test_every_text_has_both_languages_with_the_same_placeholders():
    for key, (en, zh) in TEXTS.items():
        assert _fields(en) == _fields(zh), key
        assert en and zh, key
        assert CJK.search(zh) or key in NEUTRAL, f"{key}: the Chinese text has no Chinese character"


def test_plot_labels_cover_only_known_keys_and_keep_the_placeholders():
    assert set(PLOT_LABELS_ZH) <= set(LABELS)
    for key, zh in PLOT_LABELS_ZH.items():
        assert _fields(zh) == _fields(LABELS[key]), key
    assert plot_labels("zh")["effect"].format(name="营业收入") == "营业收入 对违约风险的影响"
    assert set(plot_labels("en")) <= set(LABELS)


def test_texts_fill_the_template_of_the_language():
    assert Texts("en")("biggest", n=3) == "The 3 biggest point changes"
    assert Texts("zh")("biggest", n=3) == "分值变动最大的 3 项"


def test_indicator_names_come_from_the_catalog():
    ind = get("rd_expense")
    assert Texts("zh").indicator("rd_expense") == ind.name_zh == "研发费用金额"
    assert Texts("en").indicator("rd_expense") == ind.name_en
    # A local indicator is named by what its row carries, else by its id.
    assert Texts("zh").indicator("my_local", "My local", "本地指标") == "本地指标"
    assert Texts("zh").indicator("unknown_id") == "unknown_id"


def test_stages_groups_and_verdicts_in_both_languages():
    zh, en = Texts("zh"), Texts("en")
    assert [zh.stage(s) for s in ("startup", "growth", "stable")] == ["初创期", "成长期", "稳定期"]
    assert en.stage("startup") == "startup 初创期"
    assert [zh.group(g) for g in ("input", "output", "growth", "financial")] == ["投入", "产出", "成长", "财务"]
    assert zh.term("drop") == "删除" and en.term("drop") == "drop" and zh.term("no such word") == "no such word"
    assert (zh.province("Guangdong"), en.province("Guangdong"), zh.province("Atlantis")) == (
        "广东", "Guangdong", "Atlantis")


@pytest.mark.parametrize("lang", ["fr", "ZH", ""])
def test_an_unknown_language_is_refused_naming_the_accepted_ones(lang):
    with pytest.raises(ConfigError, match=r"--lang: .* use one of en, zh"):
        check_lang(lang)
    assert LANGS == ("en", "zh")


def test_the_english_run_checker_finds_prose_and_skips_code():
    assert english_runs("入选 the set moves a lot 变动") == ["the set moves a lot"]
    assert english_runs("指标 `rd_intensity is not scored` 与 rd_intensity_x 与 AUC PSI") == []
    assert english_runs("<p class=\"note big red\">说明</p>") == []


def test_reason_fragments_have_both_languages_with_the_same_placeholders():
    assert set(REASON_ZH) == set(REASON_EN)
    for code, en in REASON_EN.items():
        assert _fields(en) == _fields(REASON_ZH[code]), code


def test_slice_values_read_the_same_in_every_table():
    # The migration table and the reviewer report's slices share one rendering: Chinese stage and province
    # names and the SME flag as a word in Chinese reports, the values as they are in English ones.
    zh, en = Texts("zh"), Texts("en")
    assert [zh.slice_value("stage", "startup"), zh.slice_value("province", "Guangdong"),
            zh.slice_value("is_sme", True), zh.slice_value("is_sme", False)] == ["初创期", "广东", "是", "否"]
    assert [en.slice_value("stage", "startup"), en.slice_value("province", "Guangdong"),
            en.slice_value("is_sme", True)] == ["startup", "Guangdong", "True"]
