"""Tests for experiments/html.py: the reviewer report of a comparison, as HTML and as a Markdown summary.

The comparison is the session's (``tests/experiments/conftest.py``); the policy section is checked with a
literal policy summary, the plots with literal tables.
"""

from __future__ import annotations

import base64
import dataclasses
import re

import pandas as pd
import pytest

from innopoints.experiments.compare import formula_label
from innopoints.experiments.html import (
    calibration_plot,
    change_plot,
    distribution_plot,
    render_html,
    render_markdown,
)
from innopoints.features.stage import STAGES
from tests.experiments.conftest import SCRIPT_TITLE
from tests.experiments.english import english_runs

# What `innopoints.pipeline.policy.report_summary` hands the report: A's and B's totals and B's headline.
TOTALS = {"qualified_firms": 1096.0, "expected_volume": 40000.0, "expected_default_rate": 0.0213,
          "expected_loss": 1234.0, "loss_bank": 300.0, "loss_guarantee": 800.0, "loss_funds": 134.0,
          "loss_p99": 2500.0, "fund_exhaustion_probability": 0.05}
POLICY = {
    "labels": ["official-2024", "candidate-moved"],
    "totals": {"official-2024": TOTALS, "candidate-moved": {**TOTALS, "expected_volume": 41000.0}},
    "headline": {"target_expected_loss": 1234.0, "qualified_firms": 1180.0, "cutoff": 61.27,
                 "expected_volume": 45678.0, "volume_difference": 5678.0, "volume_ratio": 1.142},
    "scoring_year": 2025, "draws": 2000,
}


# ------------------------------------------------------------------------------------------------- HTML


def test_report_names_both_formulas(formulas, comparison, report):
    a, b = formulas
    assert formula_label(a) == f"official-2024 2024.1 ({a.provenance.content_hash[:8]})"
    for label in (comparison.label_a, comparison.label_b):
        assert label in report
    assert "A · baseline" in report and "B · candidate" in report


def test_report_is_self_contained(report):
    assert "http://" not in report and "https://" not in report
    assert report.startswith("<!DOCTYPE html>") and '<meta charset="utf-8">' in report
    sources = re.findall(r'<img src="([^"]*)"', report)
    assert len(sources) >= 3 and len(sources) == report.count("<img")
    for src in sources:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    without_images = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", report)
    for banned in ("<script", "<link", "<iframe", "<object", "@import", "url(", "srcset", "href=", "//"):
        assert banned not in without_images
    assert "Content-Security-Policy" in report and "default-src 'none'" in report


def test_every_text_is_escaped(comparison, report):
    assert SCRIPT_TITLE not in report
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; candidate" in report
    markdown = render_markdown(comparison)
    assert "<script>" not in markdown and "&lt;script&gt;" in markdown


def test_report_shows_the_differences_first(report):
    order = ["What changes", "Metrics side by side", "Points per indicator and stage", "Sign conflicts",
             "Qualified-set changes", "Calibration", "Population stability", "Provenance"]
    positions = [report.index(f">{title}") for title in order]
    assert positions == sorted(positions)
    assert 'id="importance"' not in report  # no importance tables were given


def test_report_is_deterministic(comparison, report):
    assert render_html(comparison) == report


def test_the_policy_section_shows_both_formulas_and_the_headline(comparison, report):
    assert "Lending and losses under the policy" not in report  # no simulation given, no section
    html = render_html(dataclasses.replace(comparison, policy=POLICY))
    section = html[html.index("Lending and losses under the policy"):]
    assert section.index("Lending and losses") < section.index("Calibration")  # before the calibration
    assert ("At A&#x27;s expected loss (1,234), B qualifies 1,180 firms (cut-off 61.3 points) and lends 45,678: "
            "5,678 more than A (14.2%).") in section
    assert "<td class=\"t\">A official-2024</td><td>1,096</td><td>40,000</td><td>2.13%</td><td>1,234</td>" in section
    assert "<td class=\"t\">B candidate-moved</td><td>1,096</td><td>41,000</td>" in section
    assert "<td>300 / 800 / 134</td><td>2,500</td><td>5.0%</td>" in section
    assert "scoring year 2025" in section and "2,000 one-factor Monte Carlo draws" in section


CHURN = {"flag_change": 0.25, "min_firms": 30, "formulas": {"candidate-moved": {
    "reference_qualified": 550, "qualified": 550, "kept": 400, "left": 150, "entered": 150, "changed_share": 0.27,
    "groups": {"stage": [{"group": "startup", "reference": 24, "formula": 60, "change": 1.5, "kept": 20, "flag": True},
                         {"group": "growth", "reference": 526, "formula": 490, "change": -0.07, "kept": 380,
                          "flag": False}],
               "province": [{"group": "Hebei", "reference": 0, "formula": 40, "change": None, "kept": 0,
                             "flag": True}]},
    "flagged": ["stage=startup", "province=Hebei"]}}}
GRID = [{"take_up": None, "share": 0.1374, "equal_loss": {"volume_ratio": 0.12, "marginal_pd": 0.08},
         "equal_firms": {"volume_ratio": -0.05}},
        {"take_up": 0.171, "share": 0.2, "equal_loss": {"volume_ratio": 0.31, "marginal_pd": 0.01},
         "equal_firms": {"volume_ratio": 0.02}}]
POLICY_CHURN = {**POLICY, "churn": CHURN, "sensitivity": {"candidate-moved": GRID}, "max_marginal_pd": 0.05}


def test_the_policy_section_lists_the_churn_flags_and_the_headline_range(comparison):
    c = dataclasses.replace(comparison, policy=POLICY_CHURN)
    html = render_html(c)
    section = html[html.index("Churn as a policy risk"):].split("</section>", 1)[0]
    assert "From A to B, 400 of 550 qualified firms stay, 150 leave and 150 enter." in section
    assert "<li>stage startup: 24 → 60 qualified (+150%)</li><li>province Hebei: 0 → 40 qualified (new)</li>" \
        in section and "growth" not in section
    assert ("Over the 2 take-up and qualification settings of the sensitivity grid, candidate-moved lends "
            "+12.0% to +31.0% at equal expected loss") in section
    md = render_markdown(c)
    assert "**Churn as a policy risk:** From A to B, 400 of 550" in md
    assert "stage startup: 24 → 60 qualified (+150%); province Hebei: 0 → 40 qualified (new)." in md
    zh = render_html(c, "zh")
    part = zh[zh.index("名单变动的政策风险"):].split("</section>", 1)[0]
    assert "<li>阶段 初创期:入选 24 → 60(+150%)</li><li>省份 河北:入选 0 → 40(新增)</li>" in part
    assert english_runs(part) == [] and english_runs(render_markdown(c, "zh").split("名单变动", 1)[1]) == []
    assert "Churn" not in render_html(dataclasses.replace(comparison, policy=POLICY))  # an older summary: none


# --------------------------------------------------------------------------------------------- Markdown


def test_markdown_summary_carries_the_headline(comparison):
    md = render_markdown(comparison)
    h = comparison.headline
    low, mid, high = h["delta_auc"]
    assert f"ΔAUC {mid:+.3f} [{low:+.3f}, {high:+.3f}]" in md
    assert f"{h['population']['entering']:,} firms enter, {h['population']['leaving']:,} leave" in md
    assert comparison.label_a in md and comparison.label_b in md
    assert md.index("What changes") < md.index("| indicator | stage |")
    assert "| `rd_expense` R&D expense | startup | 7.15 | 4.15 | -3.00 |" in md
    assert "**Policy (simulated):**" not in md


def test_markdown_summary_carries_the_policy_headline(comparison):
    md = render_markdown(dataclasses.replace(comparison, policy=POLICY))
    assert ("**Policy (simulated):** at A's expected loss, B lends 45,678 (5,678 more than A, CNY 10k) to 1,180 "
            "qualified firms.") in md


# ------------------------------------------------------------------------------------------------ plots


def test_change_plot_draws_one_bar_per_moved_item_and_stage(comparison):
    ax = change_plot(comparison.points).axes[0]
    moved = comparison.points.loc[comparison.points["change"] != 0]
    names = list(dict.fromkeys(moved["name_en"]))
    assert len(names) == 2 and len(ax.patches) == 2 * len(STAGES)
    assert [t.get_text() for t in ax.get_yticklabels()] == names
    assert list(ax.get_yticks()) == [1, 0]  # the first moved item on top
    assert sorted(round(p.get_width(), 9) for p in ax.patches) == [-3.0] * 3 + [3.0] * 3


def test_change_plot_says_when_nothing_moved(comparison):
    unchanged = comparison.points.assign(points_b=comparison.points["points_a"], change=0.0)
    ax = change_plot(unchanged).axes[0]
    assert [t.get_text() for t in ax.texts] == ["No points moved between A and B"]
    assert len(ax.patches) == 0 and not ax.axison


def test_calibration_plot_draws_the_fitted_pd_only_when_given():
    cal = pd.DataFrame({"band": [1, 2, 3], "default_rate": [0.08, 0.04, 0.01]})
    fitted = cal.assign(mean_predicted_pd=[0.07, 0.04, 0.02])
    assert len(calibration_plot(cal, cal, "a", "b").axes[0].lines) == 2
    lines = calibration_plot(fitted, cal, "a", "b").axes[0].lines
    assert [line.get_label() for line in lines] == ["A a observed", "A a fitted", "B b observed"]
    assert list(lines[1].get_ydata()) == [0.07, 0.04, 0.02]


@pytest.mark.parametrize(("thresholds", "cutoff_lines"), [((None, None), 0), ((40.0, None), 1), ((40.0, 55.0), 2)])
def test_distribution_plot_marks_each_cutoff_given(thresholds, cutoff_lines):
    dist = pd.DataFrame({"lower": [0.0, 25.0, 50.0], "upper": [25.0, 50.0, 75.0], "n_a": [10, 30, 5],
                         "n_b": [12, 25, 8]})
    ax = distribution_plot(dist, *thresholds, "a", "b").axes[0]
    assert len(ax.patches) == 2  # one histogram outline per formula
    assert [line.get_xdata()[0] for line in ax.lines] == [t for t in thresholds if t is not None][:cutoff_lines]


# ------------------------------------------------------------------------------------------- in Chinese


@pytest.fixture(scope="module")
def report_zh(comparison) -> str:
    return render_html(comparison, "zh")


def test_chinese_report_has_chinese_headings_and_the_catalogs_indicator_names(comparison, report_zh):
    assert '<html lang="zh-CN">' in report_zh
    for heading in ("变化概览", "指标对比", "各指标各阶段分值", "方向冲突", "校准", "群体稳定性(PSI)", "来源"):
        assert f"<h2>{heading}</h2>" in report_zh
    # The moved indicators by their Chinese catalog names, in the biggest-changes table.
    assert "<td class=\"t\">研发费用金额</td>" in report_zh
    assert "与主营业务相关的发明专利申请量" in report_zh
    assert "初创期 A" in report_zh and "What changes" not in report_zh
    assert '<td class="t">广东</td>' in report_zh and '<td class="t">Guangdong</td>' not in report_zh
    assert report_zh.count("data:image/png;base64,") == render_html(comparison).count("data:image/png;base64,")


def test_chinese_markdown_summary(comparison):
    md = render_markdown(comparison, "zh")
    assert md.startswith("### 公式对比:") and "**变化概览**" in md
    assert "| 指标 | 阶段 | A | B | 变动 | 方向 |" in md and "研发费用金额" in md and "与政策一致" in md


def test_the_migration_section_in_chinese_has_no_english_sentences(comparison, report_zh):
    html = report_zh.split('<section id="migration">', 1)[1].split("</section>", 1)[0]
    md = "\n".join(comparison.migration_markdown("zh"))
    assert english_runs(html) == [] and english_runs(md) == []
    assert "<th>新入选的测试贷款(违约率)</th>" in html and "| 阶段 | 初创期 |" in md
    en = "\n".join(comparison.migration_markdown())
    assert (f"Each formula qualifies its own top {comparison.settings['share']:.1%} of the scoring year's firms "
            "(A 100 base + 0 bonus points; B 100 base + 0 bonus points): formulas on different scales") in en
    assert "| slice | value | firms | qualified A |" in en and "| stage | startup |" in en


def test_chinese_plot_labels(comparison):
    from innopoints.experiments.i18n import Texts
    from innopoints.models.plots import fonts_for

    with fonts_for("zh"):  # labels are laid out (tight_layout) as the figure is built: the CJK font is needed then
        ax = change_plot(comparison.points, Texts("zh")).axes[0]
    assert ax.get_title() == "各指标各阶段的分值变动"
    assert "研发费用金额" in [t.get_text() for t in ax.get_yticklabels()]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["初创期", "成长期", "稳定期"]
