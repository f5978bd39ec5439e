"""Tests for models/explain.py (and the figures of models/plots.py, which draw its outputs)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.container import ErrorbarContainer
from matplotlib.figure import Figure

from innopoints.models import plots
from innopoints.models.learning import explain
from innopoints.models.learning.learners import BIAS, LGBMDefaultModel, ModelInputError
from tests.models.learning.test_learners import FAST, make_data

POLICY = {"patents": 1, "leverage": -1, "rd_input": 1, "noise_a": 1, "noise_b": 1, "revenue_g": 1}
GROUPS = {"patents": "output", "leverage": "financial", "rd_input": "input", "noise_a": "input",
          "noise_b": "output", "revenue_g": "growth"}


@pytest.fixture(scope="module")
def fitted():
    X, y, years = make_data()
    model = LGBMDefaultModel(**FAST).fit(X, y, time=years)
    return X, y, model.contributions(X)


def literal_contrib() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Four firms, three indicators: hand-checkable SHAP values and raw values."""
    idx = pd.Index(["f1", "f2", "f3", "f4"], name="firm")
    contrib = pd.DataFrame(
        {"a": [0.5, -0.5, 0.2, 0.0], "b": [-0.5, 0.5, 0.2, 0.0], "c": [0.1, 0.1, -0.3, 0.0], BIAS: -3.0},
        index=idx,
    )
    X = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "b": [10.0, np.nan, 30.0, 40.0], "c": [0.0, 0.0, 1.0, 1.0]},
                     index=idx)
    return contrib, X


# ------------------------------------------------------------------------------------------ sample


def test_shap_sample_keeps_all_defaults_and_is_bounded():
    X = pd.DataFrame({"v": np.arange(1000.0)}, index=pd.RangeIndex(1000) + 10)
    y = np.zeros(1000, dtype=int)
    y[::50] = 1  # 20 defaults
    idx = explain.shap_sample(X, n_max=100, seed=3, stratify=y)
    assert len(idx) == 100
    assert set(X.index[y == 1]) <= set(idx)
    assert list(idx) == sorted(idx)  # original order
    assert idx.equals(explain.shap_sample(X, n_max=100, seed=3, stratify=y))
    assert not idx.equals(explain.shap_sample(X, n_max=100, seed=4, stratify=y))


def test_shap_sample_caps_defaults_at_half_and_returns_all_when_small():
    X = pd.DataFrame({"v": np.arange(100.0)})
    y = np.r_[np.ones(60, dtype=int), np.zeros(40, dtype=int)]
    idx = explain.shap_sample(X, n_max=50, seed=0, stratify=y)
    assert y[idx].sum() == 25
    assert explain.shap_sample(X, n_max=500).equals(X.index)
    assert len(explain.shap_sample(X, n_max=30, seed=0)) == 30


def test_sample_weights_restore_population_mean():
    X = pd.DataFrame({"v": np.arange(1000.0)})
    y = (np.arange(1000) % 50 == 0).astype(int)
    idx = explain.shap_sample(X, n_max=100, seed=0, stratify=y)
    w = explain.sample_weights(y, idx, X.index)
    # weighted default share of the sample equals the population's 2 % (raw sample share is 20 %)
    assert np.average(y[idx], weights=w) == pytest.approx(0.02)
    assert w.sum() == pytest.approx(1000)


# -------------------------------------------------------------------------------------- importance


def test_global_importance_ranks_strong_on_top_and_noise_at_bottom(fitted):
    X, _, contrib = fitted
    imp = explain.global_importance(contrib, X, groups=GROUPS, n_boot=100, seed=0)
    assert set(imp.index[:2]) == {"patents", "leverage"}
    assert set(imp.index[-2:]) == {"noise_a", "noise_b"}
    assert (imp["lo"] <= imp["mean_abs_shap"]).all() and (imp["mean_abs_shap"] <= imp["hi"]).all()
    assert imp["share"].sum() == pytest.approx(1.0)
    assert imp["rank"].tolist() == [1, 2, 3, 4, 5, 6]
    assert imp.loc["revenue_g", "missing_share"] == pytest.approx(X["revenue_g"].isna().mean())
    assert imp.loc["rd_input", "group"] == "input"


def test_global_importance_literal_values_and_seeded_interval():
    contrib, X = literal_contrib()
    imp = explain.global_importance(contrib, X, n_boot=50, seed=1)
    # mean |SHAP|: a = b = 1.2/4 = 0.3, c = 0.5/4 = 0.125; the a/b tie is broken by name
    assert imp.index.tolist() == ["a", "b", "c"]
    assert imp["mean_abs_shap"].tolist() == pytest.approx([0.3, 0.3, 0.125])
    assert imp["share"].tolist() == pytest.approx([0.3 / 0.725, 0.3 / 0.725, 0.125 / 0.725])
    again = explain.global_importance(contrib, X, n_boot=50, seed=1)
    pd.testing.assert_frame_equal(imp, again)


def test_global_importance_weights_reweight_rows():
    contrib, X = literal_contrib()
    imp = explain.global_importance(contrib, X, n_boot=0, weights=[3.0, 1.0, 0.0, 0.0])
    # weighted mean |SHAP| of c: (3 * 0.1 + 1 * 0.1) / 4
    assert imp.loc["c", "mean_abs_shap"] == pytest.approx(0.1)
    assert imp["lo"].isna().all()  # no bootstrap asked for


def test_importance_rejects_misaligned_rows():
    contrib, X = literal_contrib()
    with pytest.raises(ModelInputError, match="same rows"):
        explain.global_importance(contrib, X.iloc[::-1])


def test_group_importance_lets_opposite_members_cancel():
    contrib, X = literal_contrib()
    grp = explain.group_importance(contrib, X, {"a": "input", "b": "input"}, n_boot=20)
    # input = a + b per row: 0, 0, 0.4, 0 → mean |.| = 0.1; c falls in "other": 0.125
    assert grp.index.tolist() == ["other", "input"]
    assert grp["mean_abs_shap"].tolist() == pytest.approx([0.125, 0.1])
    assert grp["n_indicators"].tolist() == [1, 2]


def test_group_importance_on_model(fitted):
    X, _, contrib = fitted
    grp = explain.group_importance(contrib, X, GROUPS, n_boot=50)
    assert set(grp.index) == {"input", "output", "financial", "growth"}
    assert (grp["lo"] <= grp["mean_abs_shap"]).all() and (grp["mean_abs_shap"] <= grp["hi"]).all()


# ---------------------------------------------------------------------------------------- direction


def test_learned_direction_recovers_planted_signs(fitted):
    X, _, contrib = fitted
    d = explain.learned_direction(contrib, X)
    assert d["direction"].to_dict() == {
        "patents": 1, "leverage": -1, "rd_input": -1, "noise_a": 0, "noise_b": 0, "revenue_g": 1
    }
    assert d.loc["rd_input", "corr"] > 0.5  # higher R&D input, higher SHAP on default log-odds
    assert d.loc["revenue_g", "n_used"] == int(X["revenue_g"].notna().sum())


def test_learned_direction_needs_an_effect_not_just_a_correlation():
    n = 200
    v = np.linspace(0, 1, n)
    X = pd.DataFrame({"step": v, "flat": 1.0, "real": v})
    # a single tiny split: perfectly monotone, negligible effect (0.02 log-odds)
    contrib = pd.DataFrame({"step": np.where(v > 0.5, 0.01, -0.01), "flat": 0.0, "real": v - 0.5})
    d = explain.learned_direction(contrib, X)
    assert d.loc["step", "corr"] == pytest.approx(0.866, abs=1e-3)  # a step over ranks
    assert d["direction"].to_dict() == {"step": 0, "flat": 0, "real": -1}
    assert np.isnan(d.loc["flat", "corr"])
    assert explain.learned_direction(contrib, X, min_effect=0.01).loc["step", "direction"] == -1


def test_sign_conflicts_finds_the_planted_one(fitted):
    X, _, contrib = fitted
    d = explain.learned_direction(contrib, X)
    assert explain.sign_conflicts(d, POLICY) == ["rd_input"]


def test_sign_conflicts_on_literal_series():
    learned = pd.Series({"a": 1, "b": -1, "c": 0, "d": -1})
    assert explain.sign_conflicts(learned, {"a": -1, "b": -1, "c": 1, "e": 1}) == ["a"]


# --------------------------------------------------------------------------------------- dependence


def test_dependence_curve_bins_and_missing_row():
    v = np.r_[np.arange(1.0, 11.0), np.nan, np.nan]
    X = pd.DataFrame({"x": v})
    contrib = pd.DataFrame({"x": np.r_[np.arange(10.0) / 10, 0.7, 0.9], BIAS: 0.0})
    curve = explain.dependence_curve(contrib, X, "x", n_bins=5)
    assert curve["bin"].tolist() == [0, 1, 2, 3, 4, -1]
    assert curve["n"].tolist() == [2, 2, 2, 2, 2, 2]
    assert curve["mean_value"].iloc[:5].tolist() == pytest.approx([1.5, 3.5, 5.5, 7.5, 9.5])
    assert curve["mean_shap"].tolist() == pytest.approx([0.05, 0.25, 0.45, 0.65, 0.85, 0.8])


def test_dependence_curve_merges_tied_quantiles():
    X = pd.DataFrame({"x": [0.0] * 8 + [1.0, 2.0]})
    contrib = pd.DataFrame({"x": [0.0] * 8 + [1.0, 2.0]})
    curve = explain.dependence_curve(contrib, X, "x", n_bins=5)
    assert curve["n"].sum() == 10
    assert curve.loc[curve["bin"] == -1, "n"].item() == 0
    assert curve["n"].iloc[0] == 8  # all zeros share one bin


def test_dependence_curve_unknown_feature_is_named(fitted):
    X, _, contrib = fitted
    with pytest.raises(ModelInputError, match="'nope'"):
        explain.dependence_curve(contrib, X, "nope")


# -------------------------------------------------------------------------------------------- plots


def test_importance_bar_has_one_bar_per_indicator_with_whiskers(fitted):
    X, _, contrib = fitted
    imp = explain.global_importance(contrib, X, groups=GROUPS, n_boot=20)
    fig = plots.importance_bar(imp, "Importance")
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert len(ax.patches) == 6
    assert ax.get_title() == "Importance"
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[int(np.argmax(ax.get_yticks()))] == imp.index[0]  # rank 1 drawn on top
    whiskers = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    assert len(whiskers[0].lines[2][0].get_segments()) == 6  # one interval whisker per bar


def test_group_bar_and_dependence_plot(fitted):
    X, _, contrib = fitted
    grp = explain.group_importance(contrib, X, GROUPS, n_boot=20)
    assert len(plots.group_bar(grp).axes[0].patches) == 4
    curve = explain.dependence_curve(contrib, X, "revenue_g", n_bins=8)
    fig = plots.dependence_plot(curve, "revenue_g", "Revenue growth")
    ax = fig.axes[0]
    assert isinstance(fig, Figure) and fig.dpi == 100
    assert len(ax.lines[0].get_xdata()) == 8  # eight value bins, missing drawn apart
    assert "missing" in ax.get_legend().get_texts()[1].get_text()
    assert "Revenue growth" in ax.get_xlabel()
