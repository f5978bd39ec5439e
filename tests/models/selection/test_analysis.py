"""The selection analysis inside a training run (the session's quick training of a small cohort)."""

from __future__ import annotations

import numpy as np


def test_training_reports_support_weights_and_corrections_for_baseline_and_recommended(small_train):
    sel = small_train.selection
    best = small_train.evaluation["best"]
    test_year = small_train.split["test_year"]
    assert set(sel["support"]["formulas"]) == {"baseline", best}
    assert sel["propensity"]["test_year"] == test_year
    assert max(sel["propensity"]["fit_years"]) < test_year  # point in time: fitted before the test year
    bins = sel["support"]["bins"]
    for name, r in sel["support"]["formulas"].items():
        assert sum(b[f"qualified_{name}"] for b in bins) == r["qualified_firms"]
        low = sum(b[f"qualified_{name}"] for b in bins if b["low_support"])
        assert r["qualified_low_support"] == low
    w = sel["weights_ipw"]
    assert 1 / sel["settings"]["max_weight"] - 1e-12 <= w["min"] <= w["max"] <= sel["settings"]["max_weight"] + 1e-12
    pts = sel["weights"]["points"]
    assert set(pts) == {"shipped", "refit_unweighted", "refit_ipw", "refit_parcelled"}
    shipped = small_train.formulas[best]
    for fit in pts.values():
        for stage in ("startup", "growth", "stable"):
            total = sum(v[stage] for v in fit.values())
            assert np.isclose(total, shipped.scale.base_points, atol=0.01)
        # a correction never gives points where the recommended formula gives none
        for ind, v in fit.items():
            if pts["shipped"][ind]["mean"] == 0:
                assert v["mean"] == 0
