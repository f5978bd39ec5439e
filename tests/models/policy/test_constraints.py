"""Graded policy constraints: the plateau curve, the graded formula and its AUC cost."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from innopoints.features.errors import FormulaError
from innopoints.features.stage import STAGES
from innopoints.models.formula.baseline import official_2024
from innopoints.models.policy.constraints import ConflictRule, graded_formula, plateau_curve


def test_plateau_curve_rises_monotonically_up_to_the_plateau_and_is_flat_after():
    curve = plateau_curve(0.0, 0.15)
    x = np.linspace(-0.1, 0.6, 141)
    f = curve.fraction(x)
    below, above = x <= 0.15, x >= 0.15
    assert (np.diff(f[below]) >= 0).all() and f[below][-1] == pytest.approx(1.0)
    assert np.diff(f[x >= 0]).min() >= 0 and (np.diff(f[(x >= 0) & below]) > 0).all()  # strictly rising on the ramp
    assert (f[above] == 1.0).all()  # beyond the plateau more earns nothing
    assert np.isnan(curve.fraction(np.array([np.nan])))[0]  # a missing value is left to the missing policy
    assert plateau_curve(0.0, 0.15, direction=-1).fraction(np.array([0.0, 0.3])).tolist() == [1.0, 0.0]
    with pytest.raises(FormulaError, match="plateau"):
        plateau_curve(0.2, 0.2)


def test_graded_formula_keeps_every_stage_total_and_gives_the_conflict_its_share():
    base = official_2024()
    values = pd.Series(np.linspace(0, 0.5, 101))
    for mode, share in (("zero", 0.0), ("cap", 0.05), ("plateau", 0.05)):
        f = graded_formula(base, "rd_intensity", ConflictRule(mode=mode), baseline=base, values=values)
        item = next(i for i in f.indicators if i.id == "rd_intensity")
        for s in STAGES:
            assert sum(getattr(i.points, s) for i in f.indicators) == pytest.approx(100.0, abs=1e-9)
            assert getattr(item.points, s) == pytest.approx(100.0 * share)
    plateau = graded_formula(base, "rd_intensity", ConflictRule(mode="plateau"), baseline=base, values=values)
    item = next(i for i in plateau.indicators if i.id == "rd_intensity")
    assert (item.curve.zero_at, item.curve.full_at) == (0.0, pytest.approx(0.25))  # default plateau: the median
    with pytest.raises(FormulaError, match="mode"):
        ConflictRule(mode="reverse")


def test_constraint_costs_judge_every_mode_against_zero_and_return_the_chosen_formula():
    from innopoints.models.policy.constraints import constraint_costs

    base = official_2024()
    rng = np.random.default_rng(0)
    n = 2000
    frame = pd.DataFrame({c: rng.gamma(1.0, 0.1, n) for c in base.required_columns})
    frame["stage"] = pd.Categorical(rng.choice(list(STAGES), n), categories=list(STAGES))
    # R&D intensity raises the risk: rewarding it must cost AUC.
    frame["defaulted"] = rng.random(n) < 1 / (1 + np.exp(-(-3 + 8 * frame["rd_intensity"])))
    costs, chosen = constraint_costs(base, {"rd_intensity": ConflictRule(mode="plateau", plateau=0.1)},
                                     baseline=base, train=frame, test=frame, directions={"rd_intensity": 1},
                                     n_boot=100, seed=1)
    modes = {r["mode"]: r for r in costs["modes"]}
    assert list(modes) == ["zero", "cap", "plateau"] and modes["plateau"]["chosen"] and not modes["zero"]["chosen"]
    assert modes["zero"]["delta_auc_vs_zero"] == [0.0, 0.0, 0.0]
    assert modes["cap"]["delta_auc_vs_zero"][1] < 0 and modes["plateau"]["delta_auc_vs_zero"][1] < 0
    assert list(chosen) == ["official-2024-rd_intensity-plateau"]
