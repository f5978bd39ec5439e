"""Tests for models/refine.py: the drop-one refits."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import expit

from innopoints.models.learning.refine import drop_one_auc


def _loans(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"strong": rng.normal(size=n), "weak": rng.normal(size=n), "noise": rng.normal(size=n)})
    y = rng.uniform(size=n) < expit(-3.0 - 1.2 * X["strong"] - 0.3 * X["weak"])
    return X.assign(defaulted=y.to_numpy())


def test_drop_one_finds_the_strong_indicator_and_does_not_depend_on_the_workers():
    fit, valid = _loans(6000, 0), _loans(4000, 1)
    ids = ["strong", "weak", "noise"]
    kw = dict(n_estimators=60, seed=3, lgbm={"n_jobs": 1}, max_rows=5000)
    one = drop_one_auc(fit, valid, ids, workers=1, **kw)
    two = drop_one_auc(fit, valid, ids, workers=2, **kw)
    assert one == two  # bit for bit: every refit is seeded and independent
    full, drop = one
    assert full > 0.75
    assert drop["strong"] < -0.1
    assert -0.1 < drop["weak"] < 0.01
    assert abs(drop["noise"]) < 0.02
    # The fit rows are capped at max_rows, every default kept: a smaller cap changes the refits.
    assert drop_one_auc(fit, valid, ids, workers=2, **{**kw, "max_rows": 3000}) != one
