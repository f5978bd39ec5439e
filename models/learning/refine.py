"""The indicator refinement table: for every indicator, what the data say and what to do about it.

Columns (one row per indicator, ordered by importance): importance (mean |SHAP| on default log-odds) with a
bootstrap interval and share; learned vs policy direction and the sign conflict; redundancy (indicators it
moves with, |Spearman| ≥ 0.8 on training loans); coverage (share missing); incremental value (validation
AUC lost when the indicator is dropped from the model); baseline and fitted points; and a recommendation —
``keep`` / ``reweight`` / ``drop`` for indicators in the baseline, ``add`` / ``leave out`` for the others —
with its reason in words. The rules, in order: a sign conflict is dropped; an indicator with no clear
learned direction or under 2% of the importance is dropped; one that moves with a more important
indicator (|Spearman| ≥ 0.8) is dropped only if the fitted formula gives it under one point too; the rest
are kept, reweighted (fitted and baseline points differ by 3 or more) or added.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from innopoints.features.catalog import Indicator
from innopoints.features.stage import STAGES
from innopoints.models.evaluation.metrics import auc
from innopoints.models.formula.schema import Formula
from innopoints.models.learning.learners import LGBMDefaultModel

if TYPE_CHECKING:
    from innopoints.models.learning.train import Recipe, TrainSettings

REDUNDANT_CORR = 0.8
NEGLIGIBLE_SHARE = 0.02  # below 2% of total |SHAP|: no measurable link to repayment
REWEIGHT_POINTS = 3.0  # fitted and baseline points differ by at least this (stage average): reweight
MIN_FITTED_POINTS = 1.0  # below this (stage average) the fitted formula makes no real use of an indicator


def redundancy(X: pd.DataFrame, threshold: float = REDUNDANT_CORR) -> dict[str, list[tuple[str, float]]]:
    """Per indicator, the others whose |Spearman correlation| (pairwise complete rows) reaches threshold."""
    corr = X.rank().corr(method="pearson", min_periods=30)
    out: dict[str, list[tuple[str, float]]] = {}
    for a in corr.index:
        peers = [(b, float(corr.loc[a, b])) for b in corr.columns
                 if b != a and np.isfinite(corr.loc[a, b]) and abs(corr.loc[a, b]) >= threshold]
        out[a] = sorted(peers, key=lambda t: (-abs(t[1]), t[0]))
    return out


DROP_ONE_MAX_ROWS = 40_000


def drop_one_auc(fit_part: pd.DataFrame, valid: pd.DataFrame, ids: list[str], *, n_estimators: int,
                 seed: int, lgbm: dict, max_rows: int = DROP_ONE_MAX_ROWS,
                 workers: int = 1) -> tuple[float, dict[str, float]]:
    """Validation AUC of the model with all indicators, and the change when each one is left out.

    One refit per indicator is the costly part of training, so the fit rows are capped at ``max_rows``:
    every default is kept and repaid loans are drawn at random (seeded). That changes the base rate the
    models see, not how they rank, and AUC only reads the ranking. ``workers`` refits run at a time, each
    on LightGBM's own thread count (LightGBM releases the GIL); every refit is seeded and independent, so
    the result does not depend on ``workers``.
    """
    if len(fit_part) > max_rows:
        rng = np.random.default_rng(seed)
        bad = np.flatnonzero(fit_part["defaulted"].to_numpy())
        good = np.flatnonzero(~fit_part["defaulted"].to_numpy(dtype=bool))
        keep = np.sort(np.concatenate([bad, rng.choice(good, size=max(max_rows - len(bad), 0), replace=False)]))
        fit_part = fit_part.iloc[keep]
    y_fit = fit_part["defaulted"].to_numpy()
    y_val = valid["defaulted"].to_numpy()
    params = {**lgbm, "n_estimators": max(int(n_estimators), 10), "early_stopping_rounds": None}

    def score(cols: list[str]) -> float:
        model = LGBMDefaultModel(seed=seed, **params).fit(fit_part[cols].astype("float64"), y_fit)
        return auc(y_val, model.predict_proba(valid[cols].astype("float64"))[:, 1])

    column_sets = [ids] + [[c for c in ids if c != i] for i in ids]
    if workers > 1:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            aucs = list(pool.map(score, column_sets))
    else:
        aucs = [score(cols) for cols in column_sets]
    full = aucs[0]
    return full, {i: a - full for i, a in zip(ids, aucs[1:], strict=True)}


def _mean_points(formula: Formula | None, ind_id: str) -> float:
    if formula is None:
        return 0.0
    for item in formula.indicators:
        if item.id == ind_id:
            return float(np.mean([getattr(item.points, s) for s in STAGES]))
    return 0.0


def refinement_table(*, indicators: Sequence[Indicator], final: Recipe, train: pd.DataFrame,
                     fit_part: pd.DataFrame, valid: pd.DataFrame, baseline: Formula,
                     formulas: dict[str, Formula], settings: TrainSettings) -> pd.DataFrame:
    """One row per indicator with the evidence and a recommendation (see the module docstring)."""
    ids = [ind.id for ind in indicators]
    imp = final.importance
    dirs = final.directions
    red = redundancy(train[ids].astype("float64"))
    if settings.drop_one:
        full_auc, drop = drop_one_auc(fit_part, valid, ids, n_estimators=final.model.best_iteration_,
                                      seed=settings.seed, lgbm=settings.lgbm, workers=settings.drop_one_workers)
    else:
        full_auc, drop = float("nan"), {i: float("nan") for i in ids}
    in_baseline = {item.id for item in baseline.indicators}
    fitted = formulas.get("fitted-policy")
    rows = []
    for ind in indicators:
        i = ind.id
        learned = int(dirs.loc[i, "direction"])
        conflict = learned != 0 and learned == -ind.direction
        share = float(imp.loc[i, "share"])
        more_important_peers = [(p, c) for p, c in red[i] if imp.loc[p, "mean_abs_shap"] > imp.loc[i, "mean_abs_shap"]]
        b_pts, f_pts = _mean_points(baseline, i), _mean_points(fitted, i)
        d_auc = drop[i]
        evidence = (f"importance share {share:.1%} (rank {int(imp.loc[i, 'rank'])}), fitted points {f_pts:.1f} "
                    f"vs baseline {b_pts:.1f}, removing it changes validation AUC by {d_auc:+.4f}")
        moves_with = (f"; moves with {red[i][0][0]} (Spearman {red[i][0][1]:+.2f})" if red[i] else "")
        if conflict:
            rec = "drop" if i in in_baseline else "leave out"
            reason = ("sign conflict: higher values go with more defaults, but policy rewards them"
                      if ind.direction == 1 else
                      "sign conflict: higher values go with fewer defaults, but policy penalises them")
            reason += f"; {evidence}"
        elif learned == 0 or share < NEGLIGIBLE_SHARE:
            rec = "drop" if i in in_baseline else "leave out"
            reason = f"no measurable link to repayment: {evidence}"
        elif more_important_peers and f_pts < MIN_FITTED_POINTS:
            # Redundant, and the fitted formula found no use for it beside its twin either.
            peer, c = more_important_peers[0]
            rec = "drop" if i in in_baseline else "leave out"
            reason = f"redundant with {peer} (Spearman {c:+.2f}), which predicts more; {evidence}"
        elif i in in_baseline:
            if abs(f_pts - b_pts) >= REWEIGHT_POINTS:
                rec = "reweight"
                reason = f"predicts repayment, with a different weight; {evidence}{moves_with}"
            else:
                rec = "keep"
                reason = f"predicts repayment in the policy direction; {evidence}{moves_with}"
        else:
            rec = "add"
            reason = f"predicts repayment beyond the baseline's indicators; {evidence}{moves_with}"
        rows.append({
            "id": i, "name_zh": ind.name_zh, "name_en": ind.name_en, "group": ind.group,
            "status": ind.status, "in_baseline": i in in_baseline,
            "importance": float(imp.loc[i, "mean_abs_shap"]),
            "importance_interval": [float(imp.loc[i, "lo"]), float(imp.loc[i, "hi"])],
            "importance_share": share, "rank": int(imp.loc[i, "rank"]),
            "learned_direction": learned, "policy_direction": int(ind.direction), "sign_conflict": bool(conflict),
            "direction_corr": float(dirs.loc[i, "corr"]) if np.isfinite(dirs.loc[i, "corr"]) else None,
            "redundant_with": [p for p, _ in red[i]],
            "missing_share": float(train[i].isna().mean()),
            "drop_one_delta_auc": float(d_auc) if np.isfinite(d_auc) else None,
            "baseline_points": b_pts, "fitted_points": f_pts,
            "recommendation": rec, "reason": reason,
        })
    table = pd.DataFrame(rows).sort_values(["importance", "id"], ascending=[False, True], kind="stable")
    table.attrs["validation_auc_all_indicators"] = full_auc
    return table.reset_index(drop=True)
