"""Tests for models/fit.py: the constrained points fit, and the change-limit frontier built on it.

Every test draws curve fractions F ~ U[0, 1] and defaults from a known logit ``a − F β``, so the
unconstrained optimum is known: points ∝ β (summing to the base), slope Σβ.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from innopoints.features.errors import InnopointsError
from innopoints.features.stage import STAGES
from innopoints.models.formula.baseline import REFERENCE_VALUES, official_2024
from innopoints.models.learning.candidates import FitSettings
from innopoints.models.learning.fit import PointsFit, fit_stage_points, scaled_init
from innopoints.models.learning.train import TrainSettings, _frontier, _stage_codes

TOL = 1e-6
BETA = np.array([3.0, 1.5, 0.75, 0.45, 0.225, 0.075])  # points 50/25/12.5/7.5/3.75/1.25, slope 6
GROUPS = ["a", "a", "b", "b", "c", "c"]


def make_stage(seed: int = 0, n: int = 20000, beta: np.ndarray = BETA, a: float = -0.5,
               ) -> tuple[np.ndarray, np.ndarray]:
    """(n, k) fractions and 0/1 defaults drawn from logit P(default) = a − F β."""
    rng = np.random.default_rng(seed)
    F = rng.uniform(size=(n, len(beta)))
    p = 1.0 / (1.0 + np.exp(-(a - F @ beta)))
    y = (rng.uniform(size=n) < p).astype("float64")
    return F, y


@pytest.fixture(autouse=True, scope="module")
def one_blas_thread():
    # SLSQP solves many tiny QPs through OpenBLAS; on a busy 2-core box its threads thrash and the
    # frontier test goes from ~1 s to 20-40 s. One thread keeps the file fast and the timing stable.
    with threadpool_limits(limits=1, user_api="blas"):
        yield


@pytest.fixture(scope="module")
def stage() -> tuple[np.ndarray, np.ndarray]:
    return make_stage()


@pytest.fixture(scope="module")
def free_fit(stage) -> PointsFit:
    F, y = stage
    return fit_stage_points(F, y)


def moved(points: np.ndarray, baseline: np.ndarray) -> float:
    """Points moved away from the baseline: half the L1 distance."""
    return 0.5 * float(np.abs(points - baseline).sum())


def group_share(points: np.ndarray, group: str, base: float = 100.0) -> float:
    return float(points[np.asarray(GROUPS) == group].sum() / base)


def mle(F: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Unpenalised logistic MLE ``[a, c...]`` of logit = a + F c, by Newton's method (the reference fit)."""
    X = np.column_stack([np.ones(len(F)), F])
    theta = np.zeros(X.shape[1])
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-(X @ theta)))
        step = np.linalg.solve(X.T @ (X * (p * (1 - p))[:, None]), X.T @ (y - p))
        theta += step
        if np.abs(step).max() < 1e-12:
            break
    return theta


# ------------------------------------------------------------------------------------------ basics


@pytest.mark.parametrize("base", [100.0, 30.0])
def test_points_are_non_negative_and_sum_to_base(stage, base):
    F, y = stage
    fit = fit_stage_points(F, y, base=base)
    assert fit.converged
    assert (fit.points >= 0).all()
    assert fit.points.sum() == pytest.approx(base, abs=TOL)
    assert fit.slope > 0  # a score that carries information: higher points, fewer defaults


def test_inactive_indicators_get_exactly_zero(stage):
    F, y = stage
    active = np.array([True, False, True, True, False, True])
    fit = fit_stage_points(F, y, active=active)
    assert fit.points[~active].tolist() == [0.0, 0.0]  # exactly, not "close": a conflict never scores
    assert fit.points[active].min() > 0  # every active indicator does carry weight in this logit
    assert fit.points.sum() == pytest.approx(100.0, abs=TOL)


def test_loss_is_the_unpenalised_mean_log_loss(stage):
    F, y = stage
    fit = fit_stage_points(F, y, ridge=1e-2)  # a big ridge, so a penalised loss would differ visibly
    z = fit.intercept - fit.slope * F @ fit.points / 100.0
    p = 1.0 / (1.0 + np.exp(-z))
    by_hand = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    assert fit.loss == pytest.approx(by_hand, rel=1e-10)


def test_integer_sample_weights_fit_as_repeated_rows_and_fractional_labels_are_allowed():
    F, y = make_stage(seed=3, n=3000)
    w = np.random.default_rng(1).integers(1, 4, size=len(y)).astype("float64")
    weighted = fit_stage_points(F, y, sample_weight=w, ridge=0.0)
    repeated = fit_stage_points(np.repeat(F, w.astype(int), axis=0), np.repeat(y, w.astype(int)), ridge=0.0)
    np.testing.assert_allclose(weighted.points, repeated.points, atol=1e-3)
    assert not np.allclose(weighted.points, fit_stage_points(F, y, ridge=0.0).points, atol=1e-3)
    # A fractional label (an inferred default probability) counts as that share of a default.
    soft = fit_stage_points(F, np.where(y > 0, 0.5, 0.0), ridge=0.0)
    assert soft.points.sum() == pytest.approx(100.0, abs=TOL)
    with pytest.raises(ValueError, match="sample_weight"):
        fit_stage_points(F, y, sample_weight=-w)


def test_fit_is_deterministic(stage):
    F, y = stage
    kw = dict(groups=GROUPS, group_bounds={"a": (0.1, 0.4)}, max_points=30.0,
              baseline=np.full(6, 100 / 6), max_change=20.0)
    one, two = fit_stage_points(F, y, **kw), fit_stage_points(F, y, **kw)
    assert np.array_equal(one.points, two.points)
    assert (one.intercept, one.slope, one.loss) == (two.intercept, two.slope, two.loss)


def test_nan_in_fractions_raises(stage):
    F, y = stage
    F = F[:100].copy()
    F[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        fit_stage_points(F, y[:100])


def test_no_active_indicator_raises(stage):
    F, y = stage
    with pytest.raises(ValueError, match="no active indicator"):
        fit_stage_points(F[:100], y[:100], active=np.zeros(6, bool))


def test_infeasible_rules_raise_instead_of_breaking_a_bound(stage):
    F, y = stage
    # Group c must hold 20% of the points, but both of its indicators are inactive: no solution exists.
    with pytest.raises((ValueError, InnopointsError)):
        fit_stage_points(F, y, groups=GROUPS, group_bounds={"c": (0.2, 0.5)},
                         active=np.array([True, True, True, True, False, False]))


# -------------------------------------------------------------------------------- known optimum


def test_recovers_the_relative_weights_of_a_known_logit(stage, free_fit):
    F, y = stage
    # Against the truth: with n = 20000, ~4% defaults and Var U[0,1] = 1/12 the standard error of each
    # coefficient is about 1/sqrt(n · p(1−p) / 12) ≈ 0.13, i.e. ≈ 2 points of 100 at slope 6; 5 points
    # is ~2.5 standard errors, loose enough for any seed, tight enough to tell 50/25/12.5 apart.
    assert free_fit.points == pytest.approx(100 * BETA / BETA.sum(), abs=5.0)
    assert free_fit.slope == pytest.approx(BETA.sum(), rel=0.15)
    # Against the sample's own MLE (no sampling error): all its coefficients are negative here, so the
    # non-negativity bound is inactive and the ridge-free fit must be that MLE up to solver tolerance.
    theta = mle(F, y)
    assert (theta[1:] < 0).all()
    exact = fit_stage_points(F, y, ridge=0.0)
    assert exact.points == pytest.approx(100 * theta[1:] / theta[1:].sum(), abs=0.05)
    assert exact.slope == pytest.approx(-theta[1:].sum(), rel=1e-3)
    assert exact.intercept == pytest.approx(theta[0], abs=1e-2)


def test_warm_start_reaches_the_same_optimum(stage, free_fit):
    F, y = stage
    # The problem is convex, so where SLSQP starts must not matter beyond its tolerance.
    warm = fit_stage_points(F, y, init=scaled_init(free_fit))
    assert warm.points == pytest.approx(free_fit.points, abs=1e-3)
    assert warm.loss == pytest.approx(free_fit.loss, abs=1e-9)


# ---------------------------------------------------------------------------------- constraints


def test_group_upper_bound_binds(stage, free_fit):
    F, y = stage
    assert group_share(free_fit.points, "a") > 0.7  # unconstrained: 75% in group a
    fit = fit_stage_points(F, y, groups=GROUPS, group_bounds={"a": (0.1, 0.4), "c": (0.0, 1.0)})
    assert fit.converged
    assert group_share(fit.points, "a") == pytest.approx(0.4, abs=TOL)  # active at the solution
    assert fit.points.sum() == pytest.approx(100.0, abs=TOL)
    assert fit.loss > free_fit.loss  # a binding rule costs likelihood


def test_group_lower_bound_binds(stage, free_fit):
    F, y = stage
    assert group_share(free_fit.points, "c") < 0.1  # unconstrained: 5% in group c
    fit = fit_stage_points(F, y, groups=GROUPS, group_bounds={"c": (0.3, 0.6)})
    assert group_share(fit.points, "c") == pytest.approx(0.3, abs=TOL)
    assert (fit.points >= 0).all()


def test_every_group_share_within_bounds_when_several_bind(stage):
    F, y = stage
    bounds = {"a": (0.2, 0.35), "b": (0.3, 0.5), "c": (0.25, 0.4)}
    fit = fit_stage_points(F, y, groups=GROUPS, group_bounds=bounds, max_points=20.0)
    for g, (lo, hi) in bounds.items():
        assert lo - TOL <= group_share(fit.points, g) <= hi + TOL, g
    assert fit.points.max() <= 20.0 + TOL
    assert group_share(fit.points, "a") == pytest.approx(0.35, abs=TOL)  # a wants more than 35%
    assert fit.points.sum() == pytest.approx(100.0, abs=TOL)


def test_max_points_cap_holds_and_binds(stage, free_fit):
    F, y = stage
    assert free_fit.points[:2].min() > 22.0  # unconstrained: ~50 and ~25 points
    fit = fit_stage_points(F, y, max_points=22.0)
    assert fit.points.max() <= 22.0 + TOL
    assert fit.points[:2] == pytest.approx([22.0, 22.0], abs=TOL)
    assert fit.points.sum() == pytest.approx(100.0, abs=TOL)


def test_max_change_holds_and_binds_when_the_optimum_is_far(stage, free_fit):
    F, y = stage
    baseline = np.full(6, 100 / 6)
    assert moved(free_fit.points, baseline) > 30.0  # the free optimum is far from equal weights
    fit = fit_stage_points(F, y, baseline=baseline, max_change=10.0)
    assert fit.converged
    assert moved(fit.points, baseline) == pytest.approx(10.0, abs=TOL)
    assert fit.points.sum() == pytest.approx(100.0, abs=TOL)
    assert (fit.points >= 0).all()
    # The limited move heads towards the optimum: the most predictive indicator gains.
    assert fit.points[0] > baseline[0]


def test_max_change_with_a_large_limit_is_close_to_the_unconstrained_fit(stage, free_fit):
    F, y = stage
    baseline = np.full(6, 100 / 6)
    fit = fit_stage_points(F, y, baseline=baseline, max_change=95.0)
    assert moved(fit.points, baseline) < 95.0  # slack
    # Loose on purpose (1 point, 1e-5 of loss); the tight version follows.
    assert fit.points == pytest.approx(free_fit.points, abs=1.0)
    assert fit.loss == pytest.approx(free_fit.loss, abs=1e-5)




def test_max_change_with_a_large_limit_is_the_unconstrained_fit(stage, free_fit):
    F, y = stage
    fit = fit_stage_points(F, y, baseline=np.full(6, 100 / 6), max_change=95.0)
    # A slack constraint changes nothing: same optimum up to solver tolerance (0.05 points of 100).
    assert fit.points == pytest.approx(free_fit.points, abs=0.05)
    assert fit.loss == pytest.approx(free_fit.loss, abs=1e-8)


def test_binding_max_change_optimum_does_not_depend_on_the_start(stage, free_fit):
    F, y = stage
    kw = dict(baseline=np.full(6, 100 / 6), max_change=10.0)
    cold = fit_stage_points(F, y, **kw)
    warm = fit_stage_points(F, y, init=scaled_init(free_fit), **kw)
    # Convex problem, unique optimum: both starts must land on it (today they are 2 points apart).
    assert warm.points == pytest.approx(cold.points, abs=0.05)
    assert warm.loss == pytest.approx(cold.loss, abs=1e-7)


def test_max_change_forces_inactive_baseline_points_out(stage):
    F, y = stage
    baseline = np.full(6, 100 / 6)
    active = np.array([True, True, True, True, True, False])
    fit = fit_stage_points(F, y, active=active, baseline=baseline, max_change=100 / 6)
    assert fit.points[5] == 0.0
    assert moved(fit.points, baseline) <= 100 / 6 + TOL


# ------------------------------------------------------------------------------------- frontier


def test_frontier_with_warm_starts_is_monotone_in_the_change_limit(stage):
    F, y = stage
    baseline = np.array([10.0, 10.0, 20.0, 20.0, 20.0, 20.0])  # far from the 50/25/... optimum
    prev: PointsFit | None = None
    losses = []
    for limit in (0.5, 2.0, 5.0, 10.0, 20.0, 40.0, 80.0):
        fit = fit_stage_points(F, y, baseline=baseline, max_change=limit, max_points=45.0,
                               init=None if prev is None else scaled_init(prev))
        assert moved(fit.points, baseline) <= limit + TOL
        assert fit.points.max() <= 45.0 + TOL
        losses.append(fit.loss)
        prev = fit
    # Non-increasing up to 1e-9: SLSQP stops at ftol 1e-10 on the penalised loss; a looser limit only
    # widens the feasible set, and it starts from the tighter limit's (still feasible) solution.
    assert all(b <= a + 1e-9 for a, b in zip(losses, losses[1:], strict=False))
    assert losses[-1] < losses[0] - 1e-3  # and the frontier really does move


def frontier_data(seed: int = 5, n: int = 4500) -> tuple[pd.DataFrame, list[str]]:
    """Loan-like rows with the baseline's indicator columns, ``stage`` and ``defaulted``."""
    ids = [item.id for item in official_2024().indicators]
    rng = np.random.default_rng(seed)
    data = pd.DataFrame({i: rng.uniform(0.0, 1.2 * REFERENCE_VALUES[i][0], n) for i in ids})
    data["stage"] = np.array(STAGES)[rng.integers(0, len(STAGES), n)]
    F = np.clip(data[ids].to_numpy() / np.array([REFERENCE_VALUES[i][0] for i in ids]), 0, 1)
    beta = np.zeros(len(ids))
    beta[:4] = [2.0, 1.5, 1.0, 0.5]
    beta[ids.index("roe")] = -1.0  # a sign conflict: higher ROE, more default
    p = 1.0 / (1.0 + np.exp(-(-1.0 - F @ beta)))
    data["defaulted"] = rng.uniform(size=n) < p
    return data, ids


def test_train_frontier_loss_is_non_increasing_in_max_change():
    data, ids = frontier_data()
    baseline = official_2024()
    # roe's learned direction contradicts policy: a recalibration may keep no points on it in any stage.
    active = np.ones((len(STAGES), len(ids)), bool)
    active[:, ids.index("roe")] = False
    settings = TrainSettings(change_limits=(2.0, 5.0, 15.0, 40.0), recalibrations=(15.0,),
                             fit=FitSettings(min_stage_defaults=30))
    y = data["defaulted"].to_numpy(dtype="float64")
    rows, shipped = _frontier(data, y, _stage_codes(data), baseline, active, settings)
    assert [r["max_change"] for r in rows] == [2.0, 5.0, 15.0, 40.0]
    losses = [r["train_log_loss"] for r in rows]
    assert all(b <= a for a, b in zip(losses, losses[1:], strict=False))
    assert losses[-1] < losses[0]
    roe_points = np.array([getattr(baseline.indicators[ids.index("roe")].points, s) for s in STAGES])
    for r in rows:
        # A conflict's points must all go, so a limit below them is raised to exactly that.
        assert r["effective_change"] == pytest.approx(np.maximum(r["max_change"], roe_points).tolist())
        assert all(m <= e + TOL for m, e in zip(r["points_moved"], r["effective_change"], strict=True))
    pts, _ = shipped[15.0]
    assert pts.sum(axis=1) == pytest.approx([100.0] * 3, abs=TOL)
    assert pts[:, ids.index("roe")].tolist() == [0.0, 0.0, 0.0]
