"""Tests for the bonus-item fit in models/learning/candidates.py (fit_bonus_points, bonus_items)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit

from innopoints.models.formula.guideline import guideline_2025
from innopoints.models.learning.candidates import FitSettings, bonus_items, fit_bonus_points

TOL = 1e-6


@pytest.fixture(scope="module")
def loans():
    """Loans whose repayment rises with the base score and strongly with bonus item 0, weakly with item 1,
    not at all with item 2."""
    rng = np.random.default_rng(3)
    n = 6000
    base_score = rng.uniform(0, 100, n)
    G = rng.uniform(0, 1, (n, 3))
    logit = -1.0 - 0.02 * base_score - 2.0 * G[:, 0] - 0.5 * G[:, 1]
    y = (rng.uniform(size=n) < expit(logit)).astype("float64")
    return base_score, G, y


def test_fitted_bonus_points_share_the_cap_under_the_rules(loans):
    base_score, G, y = loans
    settings = FitSettings(max_points=25.0)
    p = fit_bonus_points(base_score, G, y, base=100.0, cap=30.0, active=np.ones(3, bool), settings=settings)
    assert p.sum() == pytest.approx(30.0, abs=1e-6)
    assert (p >= -TOL).all() and (p <= 25.0 + TOL).all()
    assert p[0] > p[1] >= p[2]  # the strongest link gets the most
    assert p[0] == pytest.approx(25.0, abs=1e-3)  # held at the per-item cap


def test_an_inactive_bonus_item_gets_nothing_and_a_change_limit_holds(loans):
    base_score, G, y = loans
    settings = FitSettings(max_points=25.0)
    p = fit_bonus_points(base_score, G, y, base=100.0, cap=30.0, active=np.array([False, True, True]),
                         settings=settings)
    assert p[0] == 0.0 and p.sum() == pytest.approx(30.0, abs=1e-6)
    baseline = np.array([10.0, 10.0, 10.0])
    moved = fit_bonus_points(base_score, G, y, base=100.0, cap=30.0, active=np.ones(3, bool), settings=settings,
                             baseline=baseline, max_change=5.0)
    assert 0.5 * np.abs(moved - baseline).sum() == pytest.approx(5.0, abs=1e-4)  # moves all it may, no more
    assert moved[0] == pytest.approx(15.0, abs=1e-3)


def test_no_active_item_or_no_cap_gives_no_bonus(loans):
    base_score, G, y = loans
    settings = FitSettings()
    assert fit_bonus_points(base_score, G, y, base=100.0, cap=30.0, active=np.zeros(3, bool),
                            settings=settings).tolist() == [0.0, 0.0, 0.0]
    assert fit_bonus_points(base_score, G, y, base=100.0, cap=0.0, active=np.ones(3, bool),
                            settings=settings).tolist() == [0.0, 0.0, 0.0]


def test_bonus_items_round_keeping_the_cap_and_drop_empty_items():
    template = guideline_2025().bonus
    items = bonus_items(template, np.array([12.345, 17.655, 0.0]), 30.0)
    assert [(b.id, b.points) for b in items] == [("platform", 12.35), ("award", 17.65)]
    whole = bonus_items(template, np.array([10.4, 10.4, 9.2]), 30.0, decimals=0)
    assert sum(b.points for b in whole) == 30.0
    assert bonus_items(template, np.zeros(3), 30.0) == []


@pytest.mark.slow
def test_candidates_of_a_baseline_with_bonus_items_move_bonus_points_within_the_cap(hand_baseline_train):
    result = hand_baseline_train
    baseline = result.formulas["baseline"]
    assert baseline.bonus == guideline_2025().bonus  # guideline 2.0's items, as shipped
    original = {b.id: b.points for b in baseline.bonus}
    for name, formula in result.formulas.items():
        assert formula.scale.bonus_points == 30.0, name
        points = {b.id: b.points for b in formula.bonus}
        assert sum(points.values()) <= 30.0 + 1e-9, name
        if name.startswith(("fitted-", "shap-", "recal-")):
            assert sum(points.values()) == pytest.approx(30.0), name  # the items share the whole cap
        if name.startswith("recal-"):
            limit = float(name.split("-")[1])
            moved = 0.5 * sum(abs(points.get(k, 0.0) - v) for k, v in original.items())
            assert moved <= limit + 0.01, name
    assert any({b.id: b.points for b in result.formulas[n].bonus} != original
               for n in result.formulas if n != "baseline")
