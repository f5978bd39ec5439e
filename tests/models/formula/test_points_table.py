"""Tests for innopoints.models.formula.schema.points_table: the table alone scores every firm as the formula does."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from innopoints.features.stage import STAGES
from innopoints.models.formula.baseline import official_2024
from innopoints.models.formula.curves import Bins, Percentile
from innopoints.models.formula.schema import Formula, MissingRiskMatched, StageFractions, points_table


def _mixed() -> Formula:
    """The baseline with one step curve, one percentile curve (tied breakpoints) and a per-stage missing fill."""
    base = official_2024()
    items = list(base.indicators)
    items[0] = items[0].model_copy(update={
        "curve": Bins(edges=[0.0, 10.0, 100.0], levels=[0.0, 0.2, 0.7, 1.0]),
        "missing": MissingRiskMatched(fraction=StageFractions(startup=0.1, growth=0.3, stable=0.5))})
    items[1] = items[1].model_copy(update={"curve": Percentile(direction=-1, breakpoints=[0, 0, 0, 1, 3, 8, 20])})
    return base.model_copy(update={"indicators": items}).with_hash()


def _by_hand(rows: pd.DataFrame) -> Callable[[float], float]:
    """The points of a value, read off one item's rows of the table for one stage the way its rules say (no
    formula code); the rows are split by rule once, the reader is called per value."""
    missing = float(rows.loc[rows["rule"] == "missing", "points"].iloc[0])
    bands = rows[rows["rule"] == "band"]
    if len(bands):
        lo, hi = bands["from"].fillna(-np.inf).to_numpy(), bands["to"].fillna(np.inf).to_numpy()
        points = bands["points"].to_numpy()
        return lambda x: missing if np.isnan(x) else float(points[(lo <= x) & (x < hi)][0])
    below, above = rows[rows["rule"] == "below"].iloc[0], rows[rows["rule"] == "above"].iloc[0]
    anchors = rows[rows["rule"] == "anchor"]
    at, points = anchors["from"].to_numpy(), anchors["points"].to_numpy()

    def read(x: float) -> float:
        if np.isnan(x):
            return missing
        if x < below["to"]:
            return float(below["points"])
        if x > above["from"]:
            return float(above["points"])
        return float(np.interp(x, at, points))

    return read


@pytest.mark.parametrize("make", [official_2024, _mixed])
def test_the_points_table_alone_gives_the_formulas_points(make):
    formula = make()
    table = points_table(formula)
    assert set(table["rule"]) <= {"band", "anchor", "below", "above", "missing"}
    rng = np.random.default_rng(3)
    n = 60
    firms = pd.DataFrame({c: np.r_[rng.choice([0.0, 1.0, 3.0, 10.0, 20.0, 100.0], n // 2),
                                   rng.lognormal(1, 2, n - n // 2)] for c in formula.required_columns})
    firms = firms.mask(rng.random(firms.shape) < 0.1)
    firms["stage"] = rng.choice(list(STAGES), n)
    scored = formula.score(firms)
    read = {key: _by_hand(rows) for key, rows in table.groupby(["id", "stage"], sort=False)}
    for i in range(n):
        stage = firms["stage"].iloc[i]
        total = sum(read[item.id, stage](float(firms[item.id].iloc[i])) for item in formula.indicators)
        assert total == pytest.approx(scored["points"].iloc[i], abs=1e-3 * len(formula.indicators))


def test_rows_per_item_and_stage_and_max_points():
    formula = _mixed()
    table = points_table(formula)
    first = formula.indicators[0]
    rows = table[(table["id"] == first.id) & (table["stage"] == "growth")]
    assert rows["rule"].tolist() == ["band"] * 4 + ["missing"]
    assert rows["points"].tolist() == pytest.approx([0.0, 0.2 * first.points.growth, 0.7 * first.points.growth,
                                                     first.points.growth, 0.3 * first.points.growth], abs=1e-4)
    assert (table["max_points"] >= table["points"] - 1e-9).all()
    assert len(table.groupby(["id", "stage"])) == len(formula.indicators) * len(STAGES)
