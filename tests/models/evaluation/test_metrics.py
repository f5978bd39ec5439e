"""Tests for models/metrics.py: hand-computed tiny cases first, then agreement with scikit-learn."""

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, roc_auc_score
from sklearn.metrics import log_loss as sk_log_loss

from innopoints.features.errors import InnopointsError
from innopoints.models.evaluation.metrics import (
    PSI_EPSILON,
    EvaluationError,
    PointsCalibrator,
    auc,
    brier,
    calibration_table,
    delong_auc_diff,
    gini,
    ks,
    log_loss,
    paired_bootstrap,
    psi,
    psi_table,
    top_mask,
    top_share,
)

# Six loans, ties across classes at 0.5 and 0.3. Defaults score 0.9, 0.5, 0.3; non-defaults 0.5, 0.1, 0.3.
Y_TIES = np.array([1, 1, 0, 0, 0, 1])
RISK_TIES = np.array([0.9, 0.5, 0.5, 0.1, 0.3, 0.3])


@pytest.fixture
def random_loans():
    rng = np.random.default_rng(7)
    n = 3000
    y = rng.random(n) < 0.05
    # Rounded scores make many ties, the case where hand-rolled AUCs usually go wrong.
    risk_a = np.round(rng.normal(size=n) + 0.6 * y, 1)
    risk_b = np.round(rng.normal(size=n) + 0.9 * y, 1)
    p = 1.0 / (1.0 + np.exp(-(risk_b - 3.0)))
    return y, risk_a, risk_b, p


# ------------------------------------------------------------------------------------------ ranking


def test_auc_counts_ties_as_one_half():
    # 9 default/non-default pairs: 0.9 beats all 3; 0.5 beats 2 and ties 1 (2.5); 0.3 beats 1, ties 1 (1.5).
    assert auc(Y_TIES, RISK_TIES) == pytest.approx(7 / 9)
    assert auc(Y_TIES, RISK_TIES) == pytest.approx(roc_auc_score(Y_TIES, RISK_TIES))


def test_gini_is_two_auc_minus_one():
    assert gini(Y_TIES, RISK_TIES) == pytest.approx(2 * 7 / 9 - 1)


def test_auc_accepts_bool_and_ignores_row_order():
    order = np.array([3, 0, 5, 2, 4, 1])
    assert auc(Y_TIES[order].astype(bool), RISK_TIES[order]) == pytest.approx(7 / 9)


def test_ks_hand_computed():
    # Scores 0.1 < 0.3 < 0.5 < 0.9: defaults cumulate 0, 1/3, 2/3, 1; non-defaults 1/3, 2/3, 1, 1.
    assert ks(Y_TIES, RISK_TIES) == pytest.approx(1 / 3)


def test_ks_never_splits_equal_scores():
    # Splitting the tie would report a perfect 1.0 separation; grouping equal scores gives 0.
    assert ks([1, 0], [0.5, 0.5]) == 0.0
    assert ks([1, 0], [0.6, 0.5]) == 1.0


def test_ranking_metrics_match_sklearn_on_random_data(random_loans):
    y, risk_a, _, _ = random_loans
    assert auc(y, risk_a) == pytest.approx(roc_auc_score(y, risk_a), abs=1e-12)


def test_ks_matches_roc_curve_definition(random_loans):
    from sklearn.metrics import roc_curve

    y, risk_a, _, _ = random_loans
    fpr, tpr, _ = roc_curve(y, risk_a)
    # KS is the largest vertical distance between ROC curve and diagonal, sklearn groups ties too.
    assert ks(y, risk_a) == pytest.approx(np.max(np.abs(tpr - fpr)), abs=1e-12)


def test_auc_needs_both_classes():
    with pytest.raises(EvaluationError, match="at least one default and one non-default; got 0 defaults"):
        auc([0, 0, 0], [0.1, 0.2, 0.3])


def test_bad_flags_and_scores_are_named():
    with pytest.raises(EvaluationError, match="y: default flags must be bool or 0/1"):
        auc([0, 2, 1], [0.1, 0.2, 0.3])
    with pytest.raises(EvaluationError, match="risk: scores must be finite"):
        auc([0, 1, 1], [0.1, np.nan, 0.3])
    with pytest.raises(EvaluationError, match="risk: expected 3 scores"):
        auc([0, 1, 1], [0.1, 0.3])
    assert issubclass(EvaluationError, InnopointsError)


# ---------------------------------------------------------------------------------- probabilities


def test_brier_and_log_loss_match_sklearn(random_loans):
    y, _, _, p = random_loans
    assert brier(y, p) == pytest.approx(brier_score_loss(y, p), rel=1e-12)
    assert log_loss(y, p) == pytest.approx(sk_log_loss(y, p), rel=1e-12)


def test_log_loss_clips_certain_wrong_predictions():
    # p = 0 for a default would be infinite; clipping at eps keeps it finite and large (-log 1e-15 ≈ 34.5).
    assert log_loss([1, 0], [0.0, 0.0]) == pytest.approx(-math.log(1e-15) / 2)


def test_probabilities_outside_unit_interval_rejected():
    with pytest.raises(EvaluationError, match=r"must lie in \[0, 1\], e.g. got 1.2"):
        brier([0, 1], [0.1, 1.2])


# ------------------------------------------------------------------------------------ top share

# Ten loans by points; the 2nd and 3rd best tie at 90. Defaults are the 90 at position 1, 70, 40 and 30.
POINTS_10 = np.array([100, 90, 90, 80, 70, 60, 50, 40, 30, 20], dtype=float)
Y_10 = np.array([0, 1, 0, 0, 1, 0, 0, 1, 1, 0])


def test_top_share_includes_all_ties_at_the_cut_off():
    # share 0.2 of 10 asks for 2 loans; the 2nd best has 90 points and so does the 3rd: both qualify.
    out = top_share(Y_10, POINTS_10, share=0.2)
    assert out == {
        "n": 3,
        "defaults": 1,
        "threshold": 90.0,
        "default_rate": pytest.approx(1 / 3),
        "capture": pytest.approx(1 / 4),  # 1 of the 4 defaults qualified
        "good_capture": pytest.approx(2 / 6),  # 2 of the 6 non-defaults qualified
    }


def test_top_share_default_is_qualified_share_and_order_free():
    # 0.137 of 10 loans asks for ceil(1.37) = 2: same set as share 0.2, whatever the row order.
    order = np.array([9, 4, 2, 7, 0, 5, 1, 8, 3, 6])
    assert top_share(Y_10[order], POINTS_10[order]) == top_share(Y_10, POINTS_10, share=0.2)


def test_top_share_single_best_loan():
    out = top_share(Y_10, POINTS_10, share=0.1)
    assert (out["n"], out["default_rate"], out["capture"]) == (1, 0.0, 0.0)


def test_top_mask_is_not_fooled_by_float_products():
    # 0.07 * 100 = 7.000000000000001 in floating point: must still ask for 7 loans, not 8.
    mask, threshold = top_mask(np.arange(100.0), share=0.07)
    assert mask.sum() == 7 and threshold == 93.0


def test_top_share_rejects_bad_share():
    with pytest.raises(EvaluationError, match="share: must be in"):
        top_share(Y_10, POINTS_10, share=0.0)


# ---------------------------------------------------------------------------------- calibration


def test_calibration_table_hand_computed():
    points = [1, 2, 3, 4, 5, 6, 7, 8]
    y = [1, 1, 0, 1, 0, 0, 0, 0]
    p = [0.5, 0.5, 0.2, 0.3, 0.1, 0.1, 0.1, 0.1]
    # Two bands: median edge (method "lower") is 4, so band 1 is points 1-3, band 2 points 4-8.
    expected = pd.DataFrame(
        {
            "band": [1, 2],
            "lower": [1.0, 4.0],
            "upper": [4.0, 8.0],
            "n": [3, 5],
            "defaults": [2, 1],
            "default_rate": [2 / 3, 1 / 5],
            "mean_pd": [0.4, 0.14],
        }
    )
    table = calibration_table(y, points, p, n_bands=2)
    pd.testing.assert_frame_equal(table, expected, check_dtype=False)


def test_calibration_table_merges_tied_edges():
    table = calibration_table([0, 1, 0, 0], [5, 5, 5, 5], n_bands=10)
    assert list(table["n"]) == [4] and "mean_pd" not in table


def test_calibration_bands_never_empty(random_loans):
    y, risk_a, _, _ = random_loans
    table = calibration_table(y, -risk_a, n_bands=10)
    assert (table["n"] > 0).all() and table["n"].sum() == len(y)


# ------------------------------------------------------------------------------- PointsCalibrator


def test_calibrator_unfitted_raises():
    with pytest.raises(NotFittedError):
        PointsCalibrator().predict_pd([50.0])


def test_calibrator_recovers_simulated_mapping():
    rng = np.random.default_rng(3)
    points = rng.uniform(20, 100, size=20000)
    y = rng.random(20000) < 1 / (1 + np.exp(-(1.0 - 0.06 * points)))
    cal = PointsCalibrator()
    assert cal.fit(points, y) is cal
    # Guards the back-transformation from standardised points: true intercept 1.0, slope -0.06.
    assert cal.intercept_ == pytest.approx(1.0, abs=0.2)
    assert cal.coef_ == pytest.approx(-0.06, abs=0.005)
    sk = LogisticRegression(C=np.inf, tol=1e-10, max_iter=1000).fit(points[:, None], y)
    assert cal.coef_ == pytest.approx(sk.coef_[0, 0], rel=1e-4)
    assert cal.intercept_ == pytest.approx(sk.intercept_[0], rel=1e-4)
    pd_hat = cal.predict_pd([30.0, 60.0, 90.0])
    assert np.all(np.diff(pd_hat) < 0)


def test_calibrator_stays_finite_on_perfect_separation():
    cal = PointsCalibrator().fit([1.0, 2.0, 3.0, 4.0], [1, 1, 0, 0])
    assert np.isfinite(cal.coef_) and cal.coef_ < 0
    assert cal.predict_pd([1.0])[0] > 0.99 and cal.predict_pd([4.0])[0] < 0.01


def test_calibrator_needs_defaults():
    with pytest.raises(EvaluationError, match="PointsCalibrator.fit needs at least one default"):
        PointsCalibrator().fit([1.0, 2.0], [0, 0])


# ------------------------------------------------------------------------------------------- PSI


def test_psi_hand_computed():
    # Edge at the median of expected (2): expected shares 1/4, 3/4; actual 1/2, 1/2.
    expected_psi = 0.25 * math.log(2) + 0.25 * math.log(1.5)
    assert psi([1, 2, 3, 4], [1, 1, 3, 4], bins=2) == pytest.approx(expected_psi)


def test_psi_empty_bin_uses_epsilon():
    # No actual value below 2: that bin's share is floored at PSI_EPSILON instead of giving log(0).
    table = psi_table([1, 2, 3, 4], [3, 4, 4, 3], bins=2)
    assert list(table["actual_n"]) == [0, 4]
    expected_psi = (PSI_EPSILON - 0.25) * math.log(PSI_EPSILON / 0.25) + 0.25 * math.log(1 / 0.75)
    assert table["psi"].sum() == pytest.approx(expected_psi)


def test_psi_identical_is_zero_and_shift_is_large():
    rng = np.random.default_rng(11)
    x = rng.normal(60, 10, size=5000)
    assert psi(x, x) == 0.0
    # A one-standard-deviation shift is a textbook "significant change" (PSI > 0.25).
    assert psi(x, x + 10) > 0.25


def test_psi_table_bins_are_never_empty_in_expected():
    # Integer points with a heavy mass at the minimum: quantile edges collapse, bins stay non-empty.
    expected = np.array([0] * 50 + list(range(1, 51)))
    table = psi_table(expected, expected + 1)
    assert (table["expected_n"] > 0).all() and table["expected_n"].sum() == 100


# ------------------------------------------------------------------------------- paired bootstrap


def test_bootstrap_is_deterministic_and_contains_point_estimate(random_loans):
    y, risk_a, risk_b, _ = random_loans
    first = paired_bootstrap(y, risk_a, risk_b, "auc", n_boot=300, seed=5)
    assert first == paired_bootstrap(y, risk_a, risk_b, "auc", n_boot=300, seed=5)
    assert first != paired_bootstrap(y, risk_a, risk_b, "auc", n_boot=300, seed=6)
    assert first["low"] <= first["mid"] <= first["high"]
    assert first["mid"] == first["delta"] == pytest.approx(auc(y, risk_b) - auc(y, risk_a))


def test_bootstrap_identical_scores_give_zero_interval(random_loans):
    y, risk_a, _, _ = random_loans
    out = paired_bootstrap(y, risk_a, risk_a.copy(), "top_default_rate", n_boot=100)
    assert [out["low"], out["mid"], out["high"]] == [0.0, 0.0, 0.0]


@pytest.mark.parametrize(
    ("fast", "generic"),
    [
        ("auc", lambda y, r: roc_auc_score(y, r)),
        (ks, lambda y, r: ks(y, r) + 0.0),
        ("top_default_rate", lambda y, r: top_share(y, -r)["default_rate"]),
    ],
)
def test_bootstrap_fast_path_equals_recomputing_each_resample(random_loans, fast, generic):
    # Both paths draw the same resamples from the seed, so the counts-based shortcut must agree exactly.
    y, risk_a, risk_b, _ = random_loans
    quick = paired_bootstrap(y, risk_a, risk_b, fast, n_boot=40, seed=2)
    slow = paired_bootstrap(y, risk_a, risk_b, generic, n_boot=40, seed=2)
    for key in ("low", "mid", "high"):
        assert quick[key] == pytest.approx(slow[key], abs=1e-12)


def test_bootstrap_resamples_are_stratified():
    y = np.array([1, 0, 0, 0, 0, 0, 0, 0, 0, 1])
    seen = []

    def count_defaults(yy, rr):
        seen.append(int(yy.sum()))
        return 0.0

    paired_bootstrap(y, np.arange(10.0), np.arange(10.0), count_defaults, n_boot=50)
    assert set(seen) == {2}  # every resample (and the full sample) keeps exactly the 2 defaults


def test_bootstrap_unknown_metric_name():
    with pytest.raises(EvaluationError, match="metric: unknown name 'brier'"):
        paired_bootstrap(Y_TIES, RISK_TIES, RISK_TIES, "brier")


def test_bootstrap_1000_resamples_of_20k_loans_finds_the_stronger_score():
    # One year's loans at national scale; timings belong in benchmarks/, this checks the result.
    rng = np.random.default_rng(0)
    y = rng.random(20000) < 0.03
    risk_a, risk_b = rng.normal(size=20000) + y, rng.normal(size=20000) + 1.2 * y
    out = paired_bootstrap(y, risk_a, risk_b, "auc", n_boot=1000, seed=0)
    assert out["n_boot"] == 1000
    assert out["a"] == pytest.approx(auc(y, risk_a), abs=1e-12)
    assert out["b"] == pytest.approx(auc(y, risk_b), abs=1e-12)
    # b carries 1.2 times a's signal: the whole 95% interval of the AUC gain lies above zero.
    assert 0 < out["low"] <= out["mid"] <= out["high"]


# ----------------------------------------------------------------------------------------- DeLong


def test_delong_hand_computed():
    # Defaults score (4, 2) under a and (4, 3) under b; non-defaults (3, 1) and (2, 1).
    # a: AUC 3/4, components per default (1, 1/2), per non-default (1/2, 1): each variance 1/8.
    # b: AUC 1, all components 1, variance 0. Var(delta) = (1/8)/2 + (1/8)/2 = 1/8.
    out = delong_auc_diff([1, 1, 0, 0], [4, 2, 3, 1], [4, 3, 2, 1])
    se = math.sqrt(1 / 8)
    assert out["auc_a"] == pytest.approx(0.75) and out["auc_b"] == pytest.approx(1.0)
    assert out["delta"] == pytest.approx(0.25)
    assert out["se"] == pytest.approx(se)
    assert out["z"] == pytest.approx(0.25 / se)
    assert out["p_value"] == pytest.approx(math.erfc(0.5))  # two-sided p for z = 1/sqrt(2)
    assert (out["low"], out["high"]) == pytest.approx((0.25 - 1.959964 * se, 0.25 + 1.959964 * se))


def _delong_brute_force(y, ra, rb):
    """Textbook O(m·n) DeLong with explicit pairwise kernels, independent of the midrank shortcut."""
    y = np.asarray(y, dtype=bool)
    comps = []
    for r in (ra, rb):
        pos, neg = r[y][:, None], r[~y][None, :]
        psi_ = (pos > neg) + 0.5 * (pos == neg)
        comps.append((psi_.mean(axis=1), psi_.mean(axis=0)))
    s10 = np.cov(np.vstack([comps[0][0], comps[1][0]]))
    s01 = np.cov(np.vstack([comps[0][1], comps[1][1]]))
    c = np.array([-1.0, 1.0])
    return math.sqrt(c @ s10 @ c / y.sum() + c @ s01 @ c / (~y).sum())


def test_delong_matches_brute_force_with_ties(random_loans):
    y, risk_a, risk_b, _ = random_loans
    out = delong_auc_diff(y, risk_a, risk_b)
    assert out["se"] == pytest.approx(_delong_brute_force(y, risk_a, risk_b), rel=1e-10)
    assert out["delta"] == pytest.approx(auc(y, risk_b) - auc(y, risk_a), abs=1e-12)


def test_delong_identical_scores():
    out = delong_auc_diff(Y_TIES, RISK_TIES, RISK_TIES)
    assert (out["delta"], out["se"], out["p_value"]) == (0.0, 0.0, 1.0)
