"""Graded policy constraints for an indicator with a sign conflict: zero points, a capped share, or a plateau.

A sign conflict is an indicator the policy rewards (its policy direction) while the loans show the opposite
(R&D intensity in the synthetic cohort raises the risk, most of all with falling revenue). All-or-nothing
handling (no points, or scored in reverse) leaves officials one choice; here they choose per indicator:

* ``zero``: no points (the policy-consistent default);
* ``cap``: scored in its policy direction on its official curve (the baseline's, else a linear curve from
  the 10th to the 90th percentile of the training loans), at a capped share of each stage's points;
* ``plateau``: the same capped share on a monotone curve that rises from ``zero_at`` to the ``plateau`` value
  and stays flat beyond it, so more of the indicator stops earning points where the risk turns (the
  inverted U the research finds for R&D intensity).

:func:`graded_formula` builds the variant of a formula, the other indicators' points scaled so every stage
still sums to the base points; :func:`constraint_costs` judges every mode on the same test loans (AUC and a
paired-bootstrap ΔAUC against ``zero``). No files, no printing (docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from innopoints.features.errors import FormulaError
from innopoints.features.stage import STAGES
from innopoints.models.defaults import CAP_SHARE  # noqa: F401  (re-exported)
from innopoints.models.evaluation.metrics import auc, paired_bootstrap
from innopoints.models.formula.curves import LinearCap
from innopoints.models.formula.schema import Formula, IndicatorItem, MissingZero, StagePoints
from innopoints.models.formula.schema import round_points_preserving_total as _round

MODES = ("zero", "cap", "plateau")
@dataclass(frozen=True)
class ConflictRule:
    """How one sign-conflict indicator is handled (run config ``sign_conflicts``)."""

    mode: str = "zero"
    share: float = CAP_SHARE
    zero_at: float = 0.0
    plateau: float | None = None  # None: the median of the training loans' values

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise FormulaError(f"sign_conflicts: mode must be one of {list(MODES)}, got {self.mode!r}")
        if not 0.0 <= self.share < 1.0:
            raise FormulaError(f"sign_conflicts: share must be in [0, 1), got {self.share!r}")


def plateau_curve(zero_at: float, plateau: float, direction: int = 1) -> LinearCap:
    """0 at ``zero_at``, rising linearly to 1 at ``plateau`` and flat beyond it (falling when ``direction`` is −1)."""
    if plateau == zero_at:
        raise FormulaError(f"sign_conflicts: plateau must differ from zero_at (both {plateau!r})")
    lo, hi = sorted((zero_at, plateau))
    return LinearCap(zero_at=lo, full_at=hi) if direction > 0 else LinearCap(zero_at=hi, full_at=lo)


def _official_curve(indicator: str, baseline: Formula, values: pd.Series, direction: int) -> LinearCap:
    for item in baseline.indicators:
        if item.id == indicator and isinstance(item.curve, LinearCap) and item.curve.direction == direction:
            return item.curve
    v = values.dropna().to_numpy(dtype="float64")
    lo, hi = (np.quantile(v, [0.1, 0.9]) if len(v) else (0.0, 1.0))
    hi = hi if hi > lo else lo + 1.0
    return plateau_curve(float(lo), float(hi), direction)


def graded_formula(formula: Formula, indicator: str, rule: ConflictRule, *, baseline: Formula,
                   values: pd.Series, direction: int = 1) -> Formula:
    """``formula`` with ``indicator`` handled by ``rule`` (see the module docstring); ``values`` are the
    indicator's training-loan values (for a default plateau or curve), ``direction`` its policy direction."""
    base = formula.scale.base_points
    others = [item for item in formula.indicators if item.id != indicator]
    share = 0.0 if rule.mode == "zero" else rule.share
    if rule.mode == "plateau":
        plateau = rule.plateau if rule.plateau is not None else float(values.dropna().median())
        curve = plateau_curve(rule.zero_at, plateau, direction)
    else:
        curve = _official_curve(indicator, baseline, values, direction)
    rows = []
    for s in STAGES:
        old = np.array([getattr(item.points, s) for item in others], dtype="float64")
        scaled = old * (base * (1 - share) / old.sum()) if old.sum() > 0 else old
        rows.append(_round(np.append(scaled, share * base), base, 2))
    items = [item.model_copy(update={"points": StagePoints(**{s: rows[c][j] for c, s in enumerate(STAGES)})})
             for j, item in enumerate(others)]
    items.append(IndicatorItem(id=indicator, direction=direction, curve=curve, missing=MissingZero(),
                               points=StagePoints(**{s: rows[c][-1] for c, s in enumerate(STAGES)})))
    note = (f"{indicator}: sign conflict handled as {rule.mode}"
            + ("" if rule.mode == "zero" else f" ({share:.0%} of each stage's points, {curve.describe()})"))
    return formula.model_copy(update={
        "name": f"{formula.name}-{indicator}-{rule.mode}", "indicators": items,
        "provenance": formula.provenance.model_copy(update={"notes": "; ".join(
            filter(None, [formula.provenance.notes, note])), "metrics": {}})}).with_hash()


def constraint_costs(formula: Formula, conflicts: Mapping[str, ConflictRule], *, baseline: Formula,
                     train: pd.DataFrame, test: pd.DataFrame, directions: Mapping[str, int], n_boot: int = 500,
                     seed: int = 1) -> dict:
    """For every sign-conflict indicator: the test AUC of each mode and its ΔAUC against ``zero`` (paired
    bootstrap, 95 %); the chosen mode (``conflicts``) marked. Returns the JSON-ready results and the formulas
    of the chosen non-zero modes (name → Formula)."""
    y = test["defaulted"].to_numpy().astype(np.int64)
    rows, chosen = [], {}
    for indicator, choice in conflicts.items():
        direction = int(directions.get(indicator, 1))
        values = train[indicator] if indicator in train else pd.Series(dtype="float64")
        variants = {mode: graded_formula(formula, indicator, ConflictRule(
            mode=mode, share=choice.share, zero_at=choice.zero_at, plateau=choice.plateau), baseline=baseline,
            values=values, direction=direction) for mode in MODES}
        risk = {mode: -f.score(test)["points"].to_numpy()
                for mode, f in variants.items()}
        for mode, f in variants.items():
            delta = paired_bootstrap(y, risk["zero"], risk[mode], "auc", n_boot=n_boot, seed=seed)
            item = next(i for i in f.indicators if i.id == indicator)
            rows.append({"indicator": indicator, "mode": mode, "chosen": mode == choice.mode,
                         "share": 0.0 if mode == "zero" else choice.share, "curve": item.curve.describe(),
                         "test_auc": auc(y, risk[mode]),
                         "delta_auc_vs_zero": [delta["low"], delta["mid"], delta["high"]]})
        if choice.mode != "zero":
            chosen[variants[choice.mode].name] = variants[choice.mode]
    return {"modes": rows, "test_defaults": int(y.sum()), "formula": formula.name}, chosen
