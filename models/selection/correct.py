"""Correcting for who got a loan, where the data allow: weighted refits and a reject-inference check.

Both are **sensitivity analyses** beside the unweighted results, never replacements:

* :func:`refit_points` refits a formula's max points on its own curves (the constrained likelihood fit of
  :mod:`innopoints.models.learning.fit`, the same rules), optionally with row weights: with inverse-propensity
  weights the approved loans stand in for the whole population of firm-years.
* :func:`parcel_rejects` infers the default probability of firm-years that were never lent (rejects) by
  **parcelling**, as in credit-scoring practice: the rejects are put in the points bands of the approved
  loans and given the band's observed default rate times an uplift (rejects are assumed riskier than approved
  firms with the same points, because a bank saw something it did not like). Augmented with them (fractional
  default labels), the refit shows how much the recommended weights depend on the approved loans alone.

No files, no printing (docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from innopoints.features.stage import STAGES
from innopoints.models.defaults import PARCEL_UPLIFT  # noqa: F401  (re-exported)
from innopoints.models.formula.schema import Formula
from innopoints.models.formula.schema import stage_codes as _stage_codes
from innopoints.models.learning.candidates import FitSettings, stage_rules
from innopoints.models.learning.fit import fit_stage_points

PARCEL_BANDS = 10


def formula_fractions(formula: Formula, frame: pd.DataFrame) -> tuple[list[str], np.ndarray]:
    """The formula's indicator ids and its curve fractions (missing policy applied) for every row."""
    ids = [item.id for item in formula.indicators]
    return ids, formula.fractions(frame)[ids].to_numpy(dtype="float64")


def formula_points(formula: Formula) -> np.ndarray:
    """(stages, k) max points of the formula's indicators."""
    return np.vstack([[getattr(item.points, s) for item in formula.indicators] for s in STAGES])


def refit_points(formula: Formula, frame: pd.DataFrame, y, groups: Mapping[str, str], settings: FitSettings, *,
                 sample_weight=None, approved=None) -> np.ndarray:
    """(stages, k) max points refitted on the formula's own curves, where the formula gives points.

    ``y`` may be fractional (an inferred default probability); ``sample_weight`` weights the rows. As in the
    candidates' fit, a stage whose ``approved`` rows (default: all) hold fewer than
    ``settings.min_stage_defaults`` defaults is fitted on all stages pooled.
    """
    ids, F = formula_fractions(formula, frame)
    y = np.asarray(y, dtype="float64")
    w = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, dtype="float64")
    approved = np.ones(len(y), bool) if approved is None else np.asarray(approved, bool)
    codes = _stage_codes(frame)
    g = [groups.get(i, "other") for i in ids]
    shipped = formula_points(formula)
    out = shipped.copy()
    for code in range(len(STAGES)):
        active = shipped[code] > 0
        if not active.any():
            continue
        rows = codes == code
        if y[rows & approved].sum() < settings.min_stage_defaults:
            rows = np.ones(len(y), bool)
        bounds, cap, _ = stage_rules(active, g, settings)
        fit = fit_stage_points(F[rows], y[rows], base=settings.base, groups=g, group_bounds=bounds, max_points=cap,
                               active=active, ridge=settings.ridge, sample_weight=w[rows])
        out[code] = fit.points
    return out


def parcel_rejects(points_approved, defaulted, points_rejects, *, uplift: float = PARCEL_UPLIFT,
                   n_bands: int = PARCEL_BANDS) -> np.ndarray:
    """Inferred default probability of every reject: its band's observed rate among approved loans × uplift.

    Bands are the ``n_bands``-quantiles of the approved loans' points (the lowest open below, the highest
    above); a band's rate is smoothed towards the overall rate with one pseudo-loan's weight of 10 loans.
    """
    pts = np.asarray(points_approved, dtype="float64")
    y = np.asarray(defaulted, dtype="float64")
    inner = np.unique(np.quantile(pts, np.linspace(0, 1, n_bands + 1)[1:-1]))
    band_a = np.searchsorted(inner, pts, side="right")
    band_r = np.searchsorted(inner, np.asarray(points_rejects, dtype="float64"), side="right")
    n = np.bincount(band_a, minlength=len(inner) + 1)
    d = np.bincount(band_a, weights=y, minlength=len(inner) + 1)
    prior = 10.0
    rate = (d + prior * y.mean()) / (n + prior)
    return np.minimum(rate[band_r] * uplift, 1.0)


def points_by_indicator(points: np.ndarray, ids: Sequence[str]) -> dict[str, dict[str, float]]:
    """JSON-ready ``{indicator: {startup, growth, stable, mean}}`` of a (stages, k) points array."""
    return {i: {**{s: round(float(points[c, j]), 4) for c, s in enumerate(STAGES)},
                "mean": round(float(points[:, j].mean()), 4)} for j, i in enumerate(ids)}


def points_moved(a: np.ndarray, b: np.ndarray) -> float:
    """Points moved between two formulas, ½ L1 per stage, averaged over stages."""
    return float((0.5 * np.abs(np.asarray(a) - np.asarray(b)).sum(axis=1)).mean())


def score_with(points: np.ndarray, fractions: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Formula score of every row: its stage's max points times its curve fractions."""
    return (fractions * points[codes]).sum(axis=1)
