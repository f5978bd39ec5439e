"""Tests for models/plots.py: the reviewer figures, drawn from tiny literal tables.

Drawing from real SHAP output is checked in tests/models/learning/test_explain.py.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.container import ErrorbarContainer
from matplotlib.figure import Figure

from innopoints.models import plots

IMPORTANCE = pd.DataFrame({"mean_abs_shap": [0.30, 0.12, 0.05], "lo": [0.25, 0.10, np.nan],
                           "hi": [0.36, 0.13, np.nan], "group": ["growth", "input", "growth"],
                           "name": ["Revenue growth", "R&D expense", "Employment growth"]},
                          index=pd.Index(["revenue_growth", "rd_expense", "employment_growth"], name="feature"))


def _whiskers(ax) -> list[tuple[float, float]]:
    """(left, right) end of each bar's interval whisker."""
    (bars,) = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    segments = bars.lines[2][0].get_segments()
    return [(float(s[0][0]), float(s[1][0])) for s in segments]


def test_importance_bar_draws_the_first_row_on_top_with_its_interval():
    fig = plots.importance_bar(IMPORTANCE, "Importance")
    ax = fig.axes[0]
    assert isinstance(fig, Figure) and fig.dpi == plots.DPI
    assert [round(p.get_width(), 6) for p in ax.patches] == [0.30, 0.12, 0.05]
    assert [t.get_text() for t in ax.get_yticklabels()] == list(IMPORTANCE["name"])
    assert list(ax.get_yticks()) == [2, 1, 0]  # first row on top
    # The whiskers span lo..hi; a missing interval draws none (zero length at the bar's end).
    assert np.allclose(_whiskers(ax), [(0.25, 0.36), (0.10, 0.13), (0.05, 0.05)])
    assert (ax.get_title(), ax.get_xlabel()) == ("Importance", plots.SHAP_AXIS)


def test_importance_bar_colours_by_group_with_a_legend():
    ax = plots.importance_bar(IMPORTANCE).axes[0]
    colours = [p.get_facecolor() for p in ax.patches]
    assert colours[0] == colours[2] != colours[1]  # both growth indicators share a colour
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["growth", "input"]
    plain = plots.importance_bar(IMPORTANCE.drop(columns=["group", "name"])).axes[0]
    assert plain.get_legend() is None
    assert [t.get_text() for t in plain.get_yticklabels()] == list(IMPORTANCE.index)  # ids without names


def test_group_bar_draws_one_bar_per_group_without_intervals():
    groups = pd.DataFrame({"mean_abs_shap": [0.4, 0.2]}, index=["growth", "financial"])
    ax = plots.group_bar(groups, "Groups").axes[0]
    assert [round(p.get_width(), 6) for p in ax.patches] == [0.4, 0.2]
    assert np.allclose(_whiskers(ax), [(0.4, 0.4), (0.2, 0.2)])
    assert ax.get_title() == "Groups"


def test_dependence_plot_draws_value_bins_and_the_missing_bin_apart():
    curve = pd.DataFrame({"bin": [0, 1, 2, -1], "n": [40, 40, 40, 12], "mean_value": [0.1, 0.5, 0.9, np.nan],
                          "mean_shap": [0.2, 0.0, -0.3, 0.15]})
    ax = plots.dependence_plot(curve, "revenue_growth", "Revenue growth").axes[0]
    binned, missing, zero = ax.get_lines()
    assert list(binned.get_xdata()) == [0.1, 0.5, 0.9] and list(binned.get_ydata()) == [0.2, 0.0, -0.3]
    # The missing bin has no value: it sits at the right edge.
    assert (list(missing.get_xdata()), list(missing.get_ydata())) == ([0.9], [0.15])
    assert list(zero.get_ydata()) == [0.0, 0.0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["value bins", "missing (n=12)"]
    assert ax.get_xlabel() == "Revenue growth (bin mean)"


def test_dependence_plot_without_missing_values_draws_no_missing_marker():
    curve = pd.DataFrame({"bin": [0, 1, -1], "n": [5, 5, 0], "mean_value": [1.0, 2.0, np.nan],
                          "mean_shap": [0.1, 0.2, np.nan]})
    ax = plots.dependence_plot(curve, "roe").axes[0]
    assert len(ax.get_lines()) == 2 and ax.get_xlabel() == "roe (bin mean)"


def test_frontier_plot_draws_training_auc_against_the_change_limit():
    frontier = [{"max_change": 5.0, "train_auc": 0.61}, {"max_change": 10.0, "train_auc": 0.63},
                {"max_change": 30.0, "train_auc": 0.64}]
    (line,) = plots.recalibration_frontier_plot(frontier, "Frontier").axes[0].get_lines()
    assert list(line.get_xdata()) == [5.0, 10.0, 30.0] and list(line.get_ydata()) == [0.61, 0.63, 0.64]


def test_labels_given_replace_the_english_words():
    labels = {"shap_axis": "平均 |SHAP|", "importance_title": "指标重要性", "group": "类别"}
    with plots.fonts_for("zh"):
        ax = plots.importance_bar(IMPORTANCE, labels=labels).axes[0]
    assert (ax.get_title(), ax.get_xlabel(), ax.get_legend().get_title().get_text()) == (
        "指标重要性", "平均 |SHAP|", "类别")
    assert plots.importance_bar(IMPORTANCE).axes[0].get_title() == plots.LABELS["importance_title"]


def test_chinese_text_without_a_cjk_font_warns_once_and_still_draws(monkeypatch, tmp_path):
    import warnings

    monkeypatch.setattr(plots, "cjk_fonts", lambda: ())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with plots.fonts_for("zh"):
            fig = plots.importance_bar(IMPORTANCE.assign(name=["营业收入增长率", "研发费用金额", "从业人员增长率"]))
            fig.savefig(tmp_path / "zh.png")
    assert (tmp_path / "zh.png").stat().st_size > 0
    assert [str(w.message) for w in caught] == [
        "no CJK font found (e.g. Debian's fonts-noto-cjk): Chinese labels in the plots show as boxes"]


def test_a_cjk_font_leads_the_stack_for_chinese_only():
    import matplotlib

    if not plots.cjk_fonts():
        import pytest

        pytest.skip("no CJK font installed (Debian: fonts-noto-cjk)")
    before = list(matplotlib.rcParams["font.sans-serif"])
    with plots.fonts_for("zh"):
        assert matplotlib.rcParams["font.sans-serif"][0] in plots.CJK_FONTS
    with plots.fonts_for("en"):
        assert list(matplotlib.rcParams["font.sans-serif"]) == before
    assert list(matplotlib.rcParams["font.sans-serif"]) == before
