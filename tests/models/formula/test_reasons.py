"""Tests for models/reasons.py: points missed per indicator and the reason codes built from them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from innopoints.features.stage import STAGES
from innopoints.models.formula.baseline import official_2024
from innopoints.models.formula.reasons import reason_codes, shortfalls


@pytest.fixture(scope="module")
def formula():
    return official_2024()


def _firms(formula, n: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({c: rng.lognormal(1, 1.5, n) for c in formula.required_columns})
    frame = frame.mask(rng.random(frame.shape) < 0.15)  # some missing values
    frame["stage"] = rng.choice(list(STAGES), n)
    return frame


def test_points_plus_shortfalls_are_the_base_points_and_no_shortfall_is_negative(formula):
    scored = formula.score(_firms(formula))
    short = shortfalls(formula, scored)
    assert list(short.columns) == [item.id for item in formula.indicators]
    assert (short.to_numpy() >= -1e-9).all()
    total = scored["points_base"].to_numpy() + short.sum(axis=1).to_numpy()
    assert total == pytest.approx(np.full(len(scored), formula.scale.base_points))


def test_reasons_are_the_largest_shortfalls_in_order(formula):
    scored = formula.score(_firms(formula))
    short = shortfalls(formula, scored)
    reasons = reason_codes(formula, scored, k=3)
    assert list(reasons.columns) == ["reason_1", "missed_1", "reason_2", "missed_2", "reason_3", "missed_3"]
    for i in range(len(scored)):
        row = short.iloc[i]
        ranked = sorted(row.index, key=lambda c: (-row[c], c))[:3]
        assert [reasons.iloc[i][f"reason_{j}"] for j in (1, 2, 3)] == ranked
        assert [reasons.iloc[i][f"missed_{j}"] for j in (1, 2, 3)] == pytest.approx([row[c] for c in ranked],
                                                                                   abs=1e-4)


def test_a_firm_with_full_points_has_no_reason_and_ties_go_to_the_smaller_id(formula):
    top = pd.DataFrame({c: [1e12] for c in formula.required_columns}).assign(stage="growth")
    scored = formula.score(top)
    assert scored["points"].iloc[0] == pytest.approx(formula.scale.base_points)
    reasons = reason_codes(formula, scored, k=2)
    assert reasons.iloc[0].tolist() == [None, 0.0, None, 0.0]
    # Every value missing (scored zero): every indicator is missed in full; equal ones go by id.
    empty = pd.DataFrame({c: [np.nan] for c in formula.required_columns}).assign(stage="startup")
    scored = formula.score(empty)
    short = shortfalls(formula, scored).iloc[0]
    first = sorted(short.index, key=lambda c: (-short[c], c))[0]
    assert reason_codes(formula, scored, k=1).iloc[0]["reason_1"] == first


def test_k_is_checked_and_capped_at_the_number_of_indicators(formula):
    scored = formula.score(_firms(formula, n=5))
    with pytest.raises(ValueError, match="k must be at least 1"):
        reason_codes(formula, scored, k=0)
    wide = reason_codes(formula, scored, k=100)
    assert wide.shape[1] == 2 * len(formula.indicators)
