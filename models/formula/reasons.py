"""Reason codes from the formula itself: where a firm lost the most points.

For each scored firm and each core indicator, the **shortfall** is the indicator's max points in the firm's
stage minus the points the firm earned on it. The reasons are the indicators with the largest shortfalls,
largest first (ties by indicator id), so an official can tell a firm that did not qualify what held it back
and what it would be worth: "invention patents granted: 11.5 of 12 points missed". They need no model and no
training data; the formula file and the firm's indicator values are enough, and they add up: the firm's
points plus its total shortfall equal the base points.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from innopoints.models.formula.schema import Formula, stage_codes


def shortfalls(formula: Formula, scored: pd.DataFrame) -> pd.DataFrame:
    """Points missed per core indicator (columns = indicator ids), from :meth:`Formula.score`'s output."""
    codes = stage_codes(scored)
    out = {item.id: item.points.as_array()[codes] - scored[f"points_{item.id}"].to_numpy(dtype="float64")
           for item in formula.indicators}
    return pd.DataFrame(out, index=scored.index)


def reason_codes(formula: Formula, scored: pd.DataFrame, k: int = 3, *, min_points: float = 0.005) -> pd.DataFrame:
    """``reason_1 .. reason_k`` (indicator ids, largest shortfall first) and ``missed_1 .. missed_k``
    (points missed), per row of ``scored``. A shortfall under ``min_points`` (half a rounding unit) is no
    reason: those slots stay empty (None and 0.0)."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    short = shortfalls(formula, scored)
    ids = np.asarray(sorted(short.columns), dtype=object)  # ties go to the smaller id: stable on sorted columns
    values = short[list(ids)].to_numpy(dtype="float64")
    k = min(k, len(ids))
    order = np.argsort(-values, axis=1, kind="stable")[:, :k]
    missed = np.take_along_axis(values, order, axis=1)
    names = ids[order]
    real = missed >= min_points
    out = {}
    for j in range(k):
        out[f"reason_{j + 1}"] = np.where(real[:, j], names[:, j], None)
        out[f"missed_{j + 1}"] = np.where(real[:, j], np.round(missed[:, j], 4), 0.0)
    return pd.DataFrame(out, index=scored.index)
