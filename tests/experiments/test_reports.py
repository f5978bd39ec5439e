"""Tests for experiments/reports.py: the indicator refinement report (Markdown).

The table helpers are checked with literal dicts, every cell written out; the whole report with the
session's quick training on a small cohort (``small_train`` in ``tests/conftest.py``).
"""

from __future__ import annotations

import pytest

from innopoints.experiments.reports import (
    REC_ORDER,
    _backtest_lines,
    _points_cell,
    formulas_table,
    refinement_markdown,
)
from tests.experiments.english import english_runs

POLICY_METRICS = {"share": 0.1374, "qualified_default_rate": 0.0125, "qualified_default_rate_low": 0.006,
                  "qualified_default_rate_high": 0.0251, "qualified_defaults": 5, "qualified_n": 400,
                  "capture_bottom10": 0.31, "capture_bottom10_low": 0.2, "capture_bottom10_high": 0.45}
EVALUATION = {
    "best": "fitted-policy", "best_data": "fitted-data", "best_policy": "fitted-policy", "recommend": "policy",
    "formulas": {
        "baseline": {"validation_log_loss": 0.19034, "validation_auc": 0.6012, "test_auc": 0.6123, "test_ks": 0.2,
                     "test_brier": 0.04712, "policy_metrics": POLICY_METRICS},
        "fitted-policy": {"validation_log_loss": 0.18321, "validation_auc": 0.6455, "test_auc": 0.6456,
                          "test_ks": 0.25, "test_brier": 0.04655, "delta_auc_vs_baseline": [0.0101, 0.0333, 0.0567]},
        "fitted-data": {"validation_log_loss": None, "validation_auc": 0.65, "test_auc": float("nan"),
                        "test_ks": 0.26, "test_brier": 0.0461, "delta_auc_vs_baseline": [-0.004, 0.0111, 0.026]},
    },
}
BACKTEST = {
    "method": "for each test year Y everything is learned again from the years before Y only",
    "recommended": [{"test_year": 2023, "n_loans": 150, "n_defaults": 14, "auc": 0.62106, "auc_low": 0.45006,
                     "auc_high": 0.76534, "baseline_auc": 0.60132, "delta_auc": 0.01974, "delta_auc_low": -0.1766,
                     "delta_auc_high": 0.1542, "qualified_default_rate": 0.06944, "qualified_default_rate_low": 0.03,
                     "qualified_default_rate_high": 0.15248, "capture_bottom10": 0.3016,
                     "warning": "only 14 test defaults (< 30): intervals are wide"}],
    "baseline": [{"qualified_default_rate": 0.08333}],
}


# ------------------------------------------------------------------------------------------- the tables


def test_formulas_table_has_one_row_per_formula_with_its_role():
    lines = formulas_table(EVALUATION).splitlines()
    assert lines[0].startswith("| formula | validation log loss |") and lines[1] == "|---" * 9 + "|"
    assert lines[2:] == [
        "| `baseline` | 0.1903 | 0.601 | 0.612 | 0.200 | 0.0471 | 1.25% [0.60%, 2.51%] (5 of 400) | "
        "31% [20%, 45%] | – |",
        "| `fitted-policy` **(recommended)** | 0.1832 | 0.645 | 0.646 | 0.250 | 0.0466 | – | – | "
        "+0.033 [+0.010, +0.057] |",
        # A missing number is an en dash, never "nan" or "None".
        "| `fitted-data` (best data-driven) | – | 0.650 | – | 0.260 | 0.0461 | – | – | +0.011 [-0.004, +0.026] |",
    ]


def test_with_recommend_data_the_best_policy_formula_is_named_instead():
    evaluation = {**EVALUATION, "best": "fitted-data", "recommend": "data"}
    rows = formulas_table(evaluation).splitlines()[2:]
    assert rows[1].startswith("| `fitted-policy` (best policy-consistent) |")
    assert rows[2].startswith("| `fitted-data` **(recommended)** |")


def test_points_cell_gives_each_stage_with_its_interval():
    row = {"points": {"startup": 12.5, "growth": 8.0, "stable": 0.0},
           "points_interval": {"startup": [10.0, 15.04], "growth": [6.5, 9.5], "stable": [0.0, 1.0]}}
    assert _points_cell(row) == "12.5 [10.0, 15.0] / 8.0 [6.5, 9.5] / 0.0 [0.0, 1.0]"
    assert _points_cell({**row, "points_interval": None}) == "12.5 / 8.0 / 0.0"
    assert _points_cell({**row, "reversed": True}).endswith("0.0 [0.0, 1.0] ⚠ reversed")


def test_points_cell_of_an_indicator_without_points_is_zero():
    # Below half a hundredth in every stage rounds to nothing: no interval is worth showing.
    assert _points_cell({"points": {"startup": 0.004, "growth": 0.0, "stable": 0.0}, "reversed": True}) == "0"


def test_backtest_lines_give_one_row_per_test_year():
    lines = _backtest_lines(BACKTEST)
    assert lines[0] == BACKTEST["method"] + "."
    assert lines[4] == ("| 2023 | 150 | 14 | 0.621 [0.450, 0.765] | 0.601 | +0.020 [-0.177, +0.154] | "
                        "6.94% [3.00%, 15.25%] | 8.33% | 30% | only 14 test defaults (< 30): intervals are wide |")
    assert lines[-1] == "" and len(lines) == 6


@pytest.mark.parametrize(("back", "expected"), [
    ({}, "Not run."),
    ({"note": "fewer than two years with observed outcomes"}, "Not run: fewer than two years with observed outcomes."),
    ({"recommended": [], "baseline": []}, "Not run: no test years."),
])
def test_a_backtest_that_did_not_run_says_why(back, expected):
    assert _backtest_lines(back) == [expected, ""]


# ------------------------------------------------------------------------------------------- the report


def _section(text: str, title: str) -> str:
    """The lines of one ``## title`` section, without its heading."""
    body = text.split(f"\n## {title}\n", 1)[1]
    return body.split("\n## ", 1)[0]


@pytest.fixture(scope="module")
def report(small_train) -> str:
    r = small_train
    return refinement_markdown(r.refinement, r.evaluation, r.frontier, r.notes)


def test_report_names_the_recommended_formula_and_its_split(small_train, report):
    ev = small_train.evaluation
    split = ev["split"]
    assert report.startswith("# Indicator refinement report 指标优化报告\n")
    assert f"**Recommended formula: `{ev['best']}`**, the lowest validation log loss among the policy-consistent" \
           in report
    assert (f"test year {split['test_year']} ({split['test_n']} loans, **{split['test_defaults']} defaults**)"
            in report)
    cost = ev["policy_cost"]
    low, mid, high = cost["delta_auc"]
    assert f"`{cost['policy']}` against the best data-driven one `{cost['data']}`" in report
    assert f"ΔAUC {mid:+.3f}, 95% interval [{low:+.3f}, {high:+.3f}]" in report


def test_report_sections_come_in_order(report):
    titles = ["What policy consistency costs", "Formulas on the test year", "Rolling-origin backtest",
              "How the evidence was gathered", "Clusters of indicators, ranked", "Sign conflicts",
              "Recommendations", "Every indicator", "Smallest-change recalibration frontier", "Notes"]
    positions = [report.index(f"\n## {t}\n") for t in titles]
    assert positions == sorted(positions)


def test_report_tables_have_one_row_per_formula_cluster_indicator_and_limit(small_train, report):
    r = small_train
    formulas = [line for line in _section(report, "Formulas on the test year").splitlines()
                if line.startswith("| `")]
    assert len(formulas) == len(r.evaluation["formulas"])
    clusters = [line for line in _section(report, "Clusters of indicators, ranked").splitlines()
                if line.startswith("| ") and line[2].isdigit()]
    assert [int(line.split(" | ")[0][2:]) for line in clusters] == sorted(r.refinement["cluster_rank"].unique())
    rows = [line for line in _section(report, "Every indicator").splitlines() if line.startswith("| ")][1:]
    assert [line.split(" | ")[1] for line in rows] == [f"`{i}`" for i in r.refinement["id"]]
    frontier = [line for line in _section(report, "Smallest-change recalibration frontier").splitlines()
                if line.startswith("| ")][1:]
    assert [float(line.split(" | ")[0][2:]) for line in frontier] == [f["max_change"] for f in r.frontier]
    assert _section(report, "Notes").splitlines()[1:] == [f"- {n}" for n in r.notes]


def test_recommendations_list_every_indicator_once_in_a_fixed_order(small_train, report):
    counts = small_train.refinement["recommendation"].value_counts()
    lines = [line for line in _section(report, "Recommendations").splitlines() if line]
    assert [line.split("**")[1] for line in lines] == [rec for rec in REC_ORDER if rec in counts]
    for line in lines:
        rec = line.split("**")[1]
        assert line.startswith(f"**{rec}** ({counts[rec]}): ")
        assert line.count("`") == 2 * counts[rec]


def test_sign_conflicts_say_what_the_recommended_formula_does(small_train):
    r = small_train
    assert "## Sign conflicts\n\nNone found.\n" in refinement_markdown(
        r.refinement.assign(sign_conflict=False), r.evaluation, r.frontier)
    ref = r.refinement.assign(sign_conflict=False)  # one conflict, made by hand
    first = ref.index[0]
    ref.loc[first, ["sign_conflict", "reversed", "direction_share"]] = [True, False, 0.9]
    ref.loc[first, "learned_direction"] = -ref.loc[first, "policy_direction"]
    conflicts = _section(refinement_markdown(ref, r.evaluation, r.frontier), "Sign conflicts")
    row = ref.loc[first]
    assert conflicts.strip().splitlines() == [
        f"- **{row['id']}** ({row['name_zh']}, {row['name_en']}): policy direction {row['policy_direction']:+d}, "
        f"learned {-row['policy_direction']:+d} in 90% of refits; in `{r.evaluation['best']}`: no points."]


def test_chinese_report_has_chinese_headings_tables_and_names(small_train):
    r = small_train
    zh = refinement_markdown(r.refinement, r.evaluation, r.frontier, r.notes, lang="zh")
    assert zh.startswith("# 指标优化报告 Indicator refinement report\n")
    titles = ["政策一致性的代价", "测试年份上的各公式", "滚动起点回测", "证据如何得出", "指标簇排名", "方向冲突",
              "建议", "全部指标", "最小改动再校准前沿"]
    positions = [zh.index(f"\n## {t}\n") for t in titles]
    assert positions == sorted(positions)
    assert f"**推荐公式:`{r.evaluation['best']}`**" in zh
    assert "| 簇 | 指标代码 | 指标 | 类别 |" in zh
    # Every indicator's row carries its Chinese name and its verdict in Chinese.
    every = zh.split("\n## 全部指标\n", 1)[1].split("\n## ", 1)[0]
    verdicts = {"keep": "保留", "reweight": "调整分值", "add": "新增", "drop": "删除", "leave out": "不计分",
                "uncertain": "不确定"}
    for _, row in r.refinement.iterrows():
        line = next(x for x in every.splitlines() if x.startswith(f"| {row['cluster_rank']} | `{row['id']}` |"))
        assert f"| {row['name_zh']} |" in line and f"| {verdicts[row['recommendation']]} |" in line


def test_selection_report_shows_support_bins_weights_and_every_correction(small_train):
    from innopoints.experiments.reports import selection_markdown

    sel = small_train.selection
    md = selection_markdown(sel)
    best = small_train.evaluation["best"]
    assert f"| `{best}` |" in md and "| `baseline` |" in md
    assert md.count("⚠ low support") == sum(b["low_support"] for b in sel["support"]["bins"])
    for label in ("as shipped", "refit, unweighted", "refit, weighted", "refit, parcelled rejects"):
        assert f"| {label} |" in md
    assert "no population" in selection_markdown({"note": "no population"})
    zh = selection_markdown(sel, lang="zh")
    assert zh.startswith("# 贷款样本选择") and "\n## 各公式入选名单的样本支持度\n" in zh
    assert zh.count("\n| ") == md.count("\n| ")  # the same tables under Chinese headings


def test_chinese_reasons_are_chinese_and_english_ones_are_the_refinements_words(small_train, report):
    r = small_train
    zh = refinement_markdown(r.refinement, r.evaluation, r.frontier, r.notes, lang="zh")
    every = zh.split("\n## 全部指标\n", 1)[1].split("\n## ", 1)[0]
    assert english_runs(every) == []
    en_every = _section(report, "Every indicator")
    for reason in r.refinement["reason"]:
        assert f"| {reason} |" in en_every


def test_selection_report_in_chinese_has_no_english_sentences_and_english_keeps_its_own(small_train):
    from innopoints.experiments.reports import selection_markdown

    costs = {"formula": "f", "test_defaults": 12, "modes": [
        {"indicator": "rd_intensity", "mode": m, "chosen": m == "cap", "share": 0.1, "curve": "official",
         "test_auc": 0.61, "delta_auc_vs_zero": [-0.01, 0.0, 0.01]} for m in ("zero", "cap", "plateau")]}
    sel = dict(small_train.selection, sign_conflicts=costs)
    zh = selection_markdown(sel, lang="zh")
    assert english_runs(zh.split("\n", 1)[1]) == []  # the title keeps its English subtitle
    assert "| `rd_intensity` | 限定份额 **(已选)** | 10% | `official` |" in zh
    en = selection_markdown(sel)
    assert sel["method"] + f". Out of time on {sel['propensity']['test_year']}, the propensity separates" in en
    assert "Read these as sensitivity analyses: the weights only reach firms like some that were lent" in en
    assert "| `rd_intensity` | cap **(chosen)** | 10% | official |" in en
    assert "Not run (`selection.enabled: false`)." in selection_markdown({})
