"""Candidate points formulas from data: curves and missing values learned on training years, points from
SHAP importance or fitted to default outcomes, in a policy-consistent and a data-driven flavour.

Flavours (the names and the report say which):
- ``policy``: every indicator is scored in its policy direction; an indicator whose learned direction
  contradicts policy gets **zero** points, never points the other way.
- ``data``: every indicator is scored in the direction the data shows (policy direction when the data show
  none), so a sign conflict is scored against policy, openly (``direction`` is written on the item).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.catalog import Indicator
from features.stage import STAGES, StageRule
from models.curves import Percentile
from models.fit import PointsFit, fit_stage_points, scaled_init
from models.formula import (
    Formula,
    IndicatorItem,
    MissingStageMedian,
    Provenance,
    Scale,
    StageFractions,
    StagePoints,
    round_points_preserving_total,
)

FLAVOURS: tuple[str, ...] = ("policy", "data")
PERCENTILE_GRID = np.linspace(0.0, 1.0, 21)


@dataclass(frozen=True)
class Spec:
    """What a candidate's curves are made of: the indicators, the directions used, which may score."""

    ids: list[str]
    directions: np.ndarray  # (k,) direction each indicator is scored in
    active: np.ndarray  # (k,) may get points


def flavour_spec(indicators: Sequence[Indicator], learned: pd.Series, flavour: str) -> Spec:
    """Directions and active set for a flavour, from the catalog and the learned directions (+1/0/−1)."""
    if flavour not in FLAVOURS:
        raise ValueError(f"flavour must be one of {FLAVOURS}, got {flavour!r}")
    ids = [ind.id for ind in indicators]
    policy = np.array([ind.direction for ind in indicators])
    data = learned.reindex(ids).fillna(0).astype(int).to_numpy()
    if flavour == "policy":
        return Spec(ids, policy, data != -policy)
    return Spec(ids, np.where(data != 0, data, policy), np.ones(len(ids), bool))


def percentile_curve(values: np.ndarray, direction: int) -> Percentile:
    """Breakpoints at every 5th percentile of the non-missing training values."""
    x = np.asarray(values, dtype="float64")
    x = x[np.isfinite(x)]
    if x.size == 0:
        bp = [0.0, 1.0]
    else:
        bp = [float(v) for v in np.quantile(x, PERCENTILE_GRID, method="linear")]
        if bp[0] == bp[-1]:  # a constant column: its value and anything above score full
            bp = [bp[0] - 1.0, bp[0]]
    return Percentile(direction=int(direction), breakpoints=bp)


def stage_median(curve: Percentile, values: np.ndarray, stage_codes: np.ndarray) -> MissingStageMedian:
    """Missing values score the median fraction of the stage's firms that do report the indicator."""
    f = curve.fraction(np.asarray(values, dtype="float64"))
    overall = float(np.nanmedian(f)) if np.isfinite(f).any() else 0.0
    out = {}
    for code, stage in enumerate(STAGES):
        fs = f[stage_codes == code]
        fs = fs[np.isfinite(fs)]
        out[stage] = round(float(np.median(fs)), 6) if fs.size else round(overall, 6)
    return MissingStageMedian(fraction=StageFractions(**out))


@dataclass(frozen=True)
class Curves:
    """Learned curves and missing policies of a spec, and the training fraction matrix they give."""

    spec: Spec
    curves: list[Percentile]
    missing: list[MissingStageMedian]
    fractions: np.ndarray  # (n, k), missing filled by policy


def learn_curves(X: pd.DataFrame, stage_codes: np.ndarray, spec: Spec) -> Curves:
    """Percentile curves and stage-median missing fractions learned from training rows only."""
    curves, missing, cols = [], [], []
    for j, ind_id in enumerate(spec.ids):
        x = X[ind_id].to_numpy(dtype="float64")
        curve = percentile_curve(x, spec.directions[j])
        miss = stage_median(curve, x, stage_codes)
        f = curve.fraction(x)
        f = np.where(np.isnan(f), miss.fill(stage_codes), f)
        curves.append(curve)
        missing.append(miss)
        cols.append(f)
    return Curves(spec, curves, missing, np.column_stack(cols))


def shap_points(importance: pd.DataFrame, spec: Spec, base: float) -> np.ndarray:
    """(stages, k) points proportional to mean |SHAP| per stage over the active indicators.

    ``importance`` has one row per stage (index = STAGES) and one column per indicator id.
    """
    imp = importance.reindex(index=list(STAGES), columns=spec.ids).fillna(0.0).to_numpy(dtype="float64")
    imp = imp * spec.active
    totals = imp.sum(axis=1, keepdims=True)
    flat = np.where(spec.active, 1.0, 0.0) / max(spec.active.sum(), 1)
    return base * np.where(totals > 0, imp / np.where(totals > 0, totals, 1.0), flat)


@dataclass(frozen=True)
class FitSettings:
    """Rules a fitted formula must keep (issue: non-negative, per-stage total, group shares, max points)."""

    base: float = 100.0
    group_bounds: dict[str, tuple[float, float]] | None = None
    max_points: float | None = 25.0
    ridge: float = 1e-5
    min_stage_defaults: int = 30


def fitted_points(fractions: np.ndarray, y: np.ndarray, stage_codes: np.ndarray, spec: Spec,
                  groups: list[str], settings: FitSettings, *, baseline: np.ndarray | None = None,
                  max_change: float | None = None, init: list[PointsFit | None] | None = None,
                  ) -> tuple[np.ndarray, list[PointsFit], list[str]]:
    """Per-stage fitted points; a stage with too few defaults borrows the pooled fit (noted).

    Returns (stages, k) points, the per-stage fits and notes.
    """
    notes: list[str] = []
    kwargs = dict(base=settings.base, groups=groups, group_bounds=settings.group_bounds,
                  max_points=settings.max_points, active=spec.active, ridge=settings.ridge)
    pooled: PointsFit | None = None
    fits: list[PointsFit] = []
    for code, stage in enumerate(STAGES):
        rows = stage_codes == code
        b = None if baseline is None else baseline[code]
        warm = None if init is None or init[code] is None else scaled_init(init[code], settings.base)
        if y[rows].sum() >= settings.min_stage_defaults:
            fit = fit_stage_points(fractions[rows], y[rows], baseline=b, max_change=max_change, init=warm,
                                   **kwargs)
        else:
            if pooled is None:
                pooled = fit_stage_points(fractions, y, **kwargs)
            fit = pooled
            if b is not None and max_change is not None:
                fit = fit_stage_points(fractions, y, baseline=b, max_change=max_change, init=warm, **kwargs)
            notes.append(f"{stage}: {int(y[rows].sum())} defaults < {settings.min_stage_defaults}, "
                         "points fitted on all stages pooled")
        fits.append(fit)
    return np.vstack([f.points for f in fits]), fits, notes


def round_in_groups(row: np.ndarray, base: float, groups: Sequence[str] | None, decimals: int) -> list[float]:
    """Round one stage's points keeping the total, and each group's total as close as rounding allows.

    Group totals are rounded first (largest remainder), then the members within each group to its rounded
    total; so a group the fit held exactly at an integer bound stays within it.
    """
    if groups is None:
        return round_points_preserving_total(row, base, decimals)
    g_arr = np.asarray(groups)
    labels = sorted(set(groups))
    totals = round_points_preserving_total([float(row[g_arr == g].sum()) for g in labels], base, decimals)
    out = np.zeros(len(row))
    for g, total in zip(labels, totals, strict=True):
        members = g_arr == g
        out[members] = round_points_preserving_total(row[members], total, decimals)
    return [float(v) for v in out]


def integer_points(points: np.ndarray, base: float, groups: Sequence[str] | None = None) -> np.ndarray:
    """Whole points per stage, still summing to the base, group totals rounded first (largest remainder)."""
    return np.vstack([round_in_groups(np.asarray(row, dtype="float64"), base, groups, 0) for row in points])


def assemble(*, name: str, version: str, title: str, description: str, indicators: Sequence[Indicator],
             curves: Curves, points: np.ndarray, stage_rule: StageRule, provenance: Provenance,
             base: float = 100.0, local_indicators: list[dict] | None = None,
             decimals: int = 2) -> Formula:
    """A hashed formula from learned curves and per-stage points (rounded, totals preserved).

    Indicators with zero points in every stage are left out of the file.
    """
    by_id = {ind.id: ind for ind in indicators}
    groups = [by_id[i].group for i in curves.spec.ids]
    rounded = np.vstack([round_in_groups(np.asarray(row, dtype="float64"), base, groups, decimals)
                         for row in points])
    items = []
    for j, ind_id in enumerate(curves.spec.ids):
        if not rounded[:, j].any():
            continue
        direction = int(curves.spec.directions[j])
        items.append(IndicatorItem(
            id=ind_id,
            direction=direction if direction != by_id[ind_id].direction else None,
            points=StagePoints(**{s: float(rounded[c, j]) for c, s in enumerate(STAGES)}),
            curve=curves.curves[j],
            missing=curves.missing[j],
        ))
    formula = Formula(
        name=name, version=version, title=title, description=description, illustrative=False,
        scale=Scale(base_points=base, bonus_points=0.0), stage_rule=stage_rule, indicators=items,
        local_indicators=list(local_indicators or []), provenance=provenance,
    )
    return formula.with_hash()
