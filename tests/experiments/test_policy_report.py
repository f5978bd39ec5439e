"""Tests for experiments/policy_report.py: the policy simulation as Markdown and plots.

The table helpers are checked with literal rows, every cell written out. The whole report and the plots
use real results: the official formula against a hand-built candidate on the session's 3,000-firm cohort,
with 2,000 Monte Carlo draws (well under a second).
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

from innopoints.experiments.policy_report import (
    bands_table,
    exhaustion_plot,
    headline_lines,
    lending_loss_frontier_plot,
    loss_distribution_plot,
    loss_split_plot,
    policy_markdown,
    province_table,
    summary_table,
)
from innopoints.features.provinces import PROVINCE_NAMES_ZH
from innopoints.features.stage import STAGES
from innopoints.models.formula.baseline import official_2024
from innopoints.models.formula.schema import StagePoints
from innopoints.pipeline.config import RunConfig
from innopoints.pipeline.policy import PolicyFile, policy_results, prepare, simulate_policy
from tests.experiments.english import english_runs

HEADLINE = {"reference": "official-2024", "formula": "candidate", "target_expected_loss": 1712.55,
            "reference_expected_volume": 55024.98, "cutoff": 9.596, "qualified_firms": 2216,
            "expected_volume": 65902.94, "volume_difference": 10877.96, "volume_ratio": 1.19769}
TOTALS = {"qualified_firms": 413.0, "expected_loans": 120.4, "expected_volume": 55024.98,
          "expected_default_rate": 0.0311, "expected_default_rate_low": 0.0201, "expected_default_rate_high": 0.0457,
          "expected_loss": 1712.55, "expected_loss_low": 1100.0, "expected_loss_high": 2510.2, "loss_bank": 400.0,
          "loss_guarantee": 1200.5, "loss_funds": 112.05, "loss_p99": 4100.0, "fund_exhaustion_probability": 0.0123}
PROVINCE = {"qualified_firms": 40.0, "expected_volume": 5000.0, "expected_loss": 150.0, "loss_bank": 30.0,
            "loss_guarantee": 100.0, "loss_funds": 20.0, "fund_size": 2.37, "loss_p99": 600.0,
            "fund_exhaustion_probability": 0.5}


def _candidate():
    """Points only on the indicators that carry the cohort's planted risk (cheap stand-in for a fitted one)."""
    weights = {"revenue_growth": 30.0, "roe": 30.0, "tech_contract_turnover": 25.0, "revenue": 15.0}
    base = official_2024()
    items = [i.model_copy(update={"points": StagePoints(**dict.fromkeys(STAGES, weights.get(i.id, 0.0)))})
             for i in base.indicators]
    return base.model_copy(update={"name": "candidate", "indicators": items}).with_hash()


@pytest.fixture(scope="module")
def simulated(small_tables):
    """(results as in policy.json, the runs) of the official formula and the candidate."""
    policy = PolicyFile(monte_carlo={"draws": 2000, "seed": 1})
    runs, info = prepare([official_2024(), _candidate()], small_tables, policy, RunConfig())
    terms = policy.terms(info["guaranteed_share_used"])
    return policy_results(runs, simulate_policy(runs, policy, terms), policy, terms, info), runs


# ------------------------------------------------------------------------------------------- the tables


def test_headline_says_how_much_more_is_lent_at_the_same_expected_loss():
    missed = {**HEADLINE, "formula": "timid", "cutoff": None}
    assert headline_lines({"headline": [HEADLINE, missed]}) == [
        "- At the expected loss of `official-2024` (1,713), `candidate` qualifies everyone at or above "
        "**9.60 points** (2,216 firms) and lends **65,903** against 55,025: **+10,878** (+19.8%).",
        "- `timid` cannot keep the expected loss of `official-2024` (1,713) with any cut-off.",
    ]
    assert headline_lines({"headline": []}) == []


def test_summary_table_has_one_row_per_formula_with_intervals():
    rows = summary_table({"formulas": {"official-2024": TOTALS}}).splitlines()
    assert len(rows) == 3
    assert rows[2] == ("| `official-2024` | 413 | 120 | 55,025 | 3.11% [2.01%, 4.57%] | 1,713 [1,100, 2,510] | 400 | "
                       "1,200 | 112 | 4,100 | 1.2% |")


def test_bands_table_shows_an_open_lowest_band_as_a_dash():
    band = {"band": 1, "lower": None, "n": 76, "defaults": 13, "default_rate": 0.17105, "pd": 0.17105,
            "pd_low": 0.10278, "pd_high": 0.27098, "firms": 1351, "borrowers": 17, "take_up": 0.012583,
            "mean_amount": 191.4}
    rows = bands_table([band, {**band, "band": 2, "lower": 19.1093}]).splitlines()
    assert rows[2] == "| 1 | – | 76 | 13 | 17.11% | 17.11% [10.28%, 27.10%] | 1,351 | 17 | 1.3% | 191 |"
    assert rows[3].startswith("| 2 | 19.11 | 76 |")


def test_province_table_puts_the_largest_expected_loss_first():
    table = province_table({"Hainan": {**PROVINCE, "expected_loss": None},
                            "Jiangsu": {**PROVINCE, "expected_loss": 900.0}, "Beijing": PROVINCE})
    rows = table.splitlines()[2:]
    assert [r.split(" | ")[0] for r in rows] == ["| Jiangsu", "| Beijing", "| Hainan"]
    assert rows[1] == "| Beijing | 40 | 5,000 | 150 | 30 | 100 | 20 | 2 | 600 | 50.0% |"
    assert rows[2].startswith("| Hainan | 40 | 5,000 | – |")  # a missing loss is a dash, sorted last


# ------------------------------------------------------------------------------------------- the report


def test_markdown_states_the_data_the_rule_and_every_formula(simulated):
    results, _ = simulated
    d = results["data"]
    md = policy_markdown(results, plots=["frontier.png"])
    assert md.startswith("# Policy simulation\n")
    assert (f"Scoring year {d['scoring_year']}: {d['firms_scored']:,} firms scored. Default probabilities are "
            f"calibrated per points band on {d['calibration_loans']:,} loans of "
            f"{', '.join(map(str, d['calibration_years']))} with an observed outcome "
            f"({d['calibration_defaults']:,} defaults), checked out of time on {d['calibration_check_year']}; "
            f"take-up is estimated per band from borrowing in {d['estimate_year']}.") in md
    assert d["calibration_check_year"] == max(d["calibration_years"]) + 1  # out of time: fitted before it
    assert "Qualification: top 13.7% of firms." in md and "2,000 one-factor draws" in md
    for line in headline_lines(results):
        assert line in md
    assert "## Plots\n\n![frontier.png](frontier.png)\n" in md
    for label, r in results["formulas"].items():
        section = md.split(f"## `{label}`\n", 1)[1].split("\n## ", 1)[0]
        band_rows = section.split("### Points bands")[1].split("### By province")[0]
        assert band_rows.count("\n| ") - 1 == len(r["bands"])  # minus the header row
        assert section.split("### By province")[1].count("\n| ") - 1 == len(r["by_province"])
    assert "## Plots" not in policy_markdown(results)


def test_markdown_with_one_formula_says_there_is_nothing_to_compare(simulated):
    results, _ = simulated
    alone = {**results, "formulas": {"official-2024": results["formulas"]["official-2024"]}, "headline": []}
    assert "- Only one formula: nothing to compare." in policy_markdown(alone)


def test_chinese_markdown_has_the_same_tables_under_chinese_headings(simulated):
    results, _ = simulated
    en, zh = policy_markdown(results, plots=["frontier.png"]), policy_markdown(results, plots=["frontier.png"],
                                                                               lang="zh")
    assert zh.startswith("# 政策模拟\n")
    for heading in ("## 要点:同等预期损失下释放的放贷", "## 各公式", "## 假设", "## 其他假设下的要点",
                    "## 分数线处的边际违约概率", "## 违约概率的样本外检验", "## 入选名单变动(政策风险)",
                    "## 省级风险补偿资金:为何耗尽", "## 全部假设:取值与来源", "## 图表", "### 积分档", "### 分省"):
        assert f"\n{heading}\n" in zh
    assert "| 公式 | 入选企业 |" in zh and "| 省份 | 入选 |" in zh
    province = next(iter(results["formulas"]["official-2024"]["by_province"]))
    assert f"\n| {PROVINCE_NAMES_ZH[province]} | " in zh
    assert zh.count("\n| ") == en.count("\n| ")  # the same rows, only the words differ
    assert "Policy simulation" not in zh


# ------------------------------------------------------------------------------------------- the plots


def test_frontier_plot_draws_each_curve_its_policy_point_and_the_matched_point(simulated):
    results, _ = simulated
    ax = lending_loss_frontier_plot(results).axes[0]
    lines = ax.get_lines()
    # Per formula a curve and its policy point; one star for the candidate; the reference's loss as a line.
    assert len(lines) == 2 * 2 + 1 + 1
    head = results["headline"][0]
    assert list(lines[-2].get_xdata()) == [head["expected_loss"]]
    assert list(lines[-1].get_xdata()) == [head["target_expected_loss"]] * 2
    assert [t.get_text() for t in ax.get_legend().get_texts()] == list(results["formulas"])


def test_loss_distribution_plot_marks_the_expected_and_99th_percentile_loss(simulated):
    results, runs = simulated
    losses = {r.label: r.assessment.distribution.total for r in runs}
    ax = loss_distribution_plot(losses, results).axes[0]
    marks = [line.get_xdata()[0] for line in ax.get_lines()]
    expected = [v for r in results["formulas"].values() for v in (r["expected_loss"], r["loss_p99"])]
    assert marks == pytest.approx(expected)


def test_loss_split_plot_stacks_the_three_payers_to_the_expected_loss(simulated):
    results, _ = simulated
    bars = loss_split_plot(results).axes[0].patches
    assert len(bars) == 3 * len(results["formulas"])
    per_formula = np.zeros(len(results["formulas"]))
    for i, bar in enumerate(bars):
        per_formula[i % len(results["formulas"])] += bar.get_width()
    totals = [r["expected_loss"] for r in results["formulas"].values()]
    assert per_formula == pytest.approx(totals, rel=1e-9)


def test_exhaustion_plot_orders_provinces_by_the_reference_volume(simulated):
    results, _ = simulated
    ax = exhaustion_plot(results).axes[0]
    ref = results["formulas"][results["reference"]]["by_province"]
    order = sorted(ref, key=lambda p: -(ref[p]["expected_volume"] or 0.0))
    assert [t.get_text() for t in ax.get_xticklabels()] == order
    heights = [bar.get_height() for bar in ax.patches[:len(order)]]
    assert heights == [ref[p]["fund_exhaustion_probability"] or 0.0 for p in order]


def test_plots_in_chinese(simulated):
    from innopoints.models.plots import fonts_for

    results, runs = simulated
    with fonts_for("zh"):
        split = loss_split_plot(results, "zh").axes[0]
        exhaustion = exhaustion_plot(results, "zh").axes[0]
    assert split.get_title() == "预期损失由谁承担"
    assert [t.get_text() for t in split.get_legend().get_texts()] == ["银行", "担保体系", "省级补偿资金"]
    assert exhaustion.get_ylabel() == "资金池耗尽概率"


def test_chinese_robustness_sections_have_no_english_sentences(simulated):
    results = copy.deepcopy(simulated[0])
    label = next(iter(results["churn"]["formulas"]))
    results["churn"]["formulas"][label]["flagged"] = ["stage=startup", "province=Hebei"]
    results["churn"]["formulas"]["local"] = {"note": "the formulas score different firms (stage rules or local "
                                                     "indicators differ): no firm-level churn"}
    results["policy"]["funds"]["sizes"] = {"Hebei": 1.0}
    zh = policy_markdown(results, lang="zh")
    robust = zh.split("\n## 其他假设下的要点\n", 1)[1]
    assert english_runs(robust) == []
    assert "**已标记:阶段=初创期, 省份=河北。**" in robust
    assert "| 资金覆盖比例 |  | 0.3 | 默认值;为假设,无公开数据 |" in robust
    en = policy_markdown(results)  # the English sentences as they were
    c = results["churn"]["formulas"][label]
    assert (f"`{label}` against `official-2024`: {c['kept']:,} of {c['reference_qualified']:,} qualified firms "
            f"stay, {c['left']:,} leave and {c['entered']:,} enter") in en
    assert "**Flagged: stage=startup, province=Hebei.**" in en
    assert "`local`: the formulas score different firms (stage rules or local indicators differ): no firm-level " \
           "churn." in en
    assert "each is sized explicitly for 1 province(s) and otherwise " in en
    assert "| fund coverage |  | 0.3 | default; an assumption, no published figure |" in en
    assert "When expected claims are near or above the funds' size, almost every scenario exhausts some fund" in en
