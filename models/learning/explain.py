"""SHAP-based explanation of a default model: importance, learned direction and dependence.

Every function takes ``contrib``, a frame of SHAP values on the default log-odds (one column per indicator
plus ``bias``, e.g. :meth:`models.learning.learners.LGBMDefaultModel.contributions`), and ``X``, the indicator
values of the same rows (same index). Positive SHAP = the value pushes default risk UP.

Directions are reported on the project's scale: ``+1`` higher value goes with LOWER default risk (more
points), ``-1`` higher value goes with higher risk, ``0`` no clear direction.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from innopoints.models.learning.learners import BIAS, ModelInputError

INTERVAL = (0.025, 0.975)
"""Percentiles of the bootstrap distribution reported as the importance interval (95 %)."""

MIN_EFFECT = 0.15
"""Smallest |top-fifth minus bottom-fifth mean SHAP| (default log-odds, odds ratio about 1.16) for a
learned direction other than 0; below it the indicator barely moves the model's risk."""

MIN_ROWS_DIRECTION = 30
"""Fewest observed rows with at least two distinct values for a learned direction other than 0."""


# ------------------------------------------------------------------------------------------- helpers


def _features(contrib: pd.DataFrame, X: pd.DataFrame | None) -> list[str]:
    """Indicator columns of ``contrib`` (no bias), checked against ``X`` when given."""
    if not isinstance(contrib, pd.DataFrame):
        raise ModelInputError(f"contrib: expected a DataFrame of SHAP values, got {type(contrib).__name__}")
    names = [c for c in contrib.columns if c != BIAS]
    if X is not None:
        missing = [c for c in names if c not in X.columns]
        if missing:
            raise ModelInputError(f"X: has no column for SHAP feature(s) {missing}")
        if len(X) != len(contrib) or not X.index.equals(contrib.index):
            raise ModelInputError(f"X and contrib must describe the same rows in the same order (same "
                                  f"index); got {len(X)} and {len(contrib)} rows")
    return names


def _bootstrap_mean_abs(values: np.ndarray, n_boot: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Per column mean |value| and its percentile bootstrap interval over resampled rows."""
    absval = np.abs(values)
    point = absval.mean(axis=0)
    if n_boot <= 0:
        nan = np.full(point.shape, math.nan)
        return point, np.vstack([nan, nan])
    n = absval.shape[0]
    rng = np.random.default_rng(seed)
    # Row counts per resample turn each bootstrap mean into one matrix product.
    counts = np.stack([np.bincount(rng.integers(0, n, size=n), minlength=n) for _ in range(n_boot)])
    boot = counts @ absval / n
    return point, np.quantile(boot, INTERVAL, axis=0)


def _importance_frame(index: list[str], point, bounds, name: str) -> pd.DataFrame:
    """Point, interval, share and rank (1 = most important, ties by name) as a frame sorted by rank."""
    total = point.sum()
    out = pd.DataFrame(
        {
            "mean_abs_shap": point,
            "lo": bounds[0],
            "hi": bounds[1],
            "share": point / total if total > 0 else np.zeros_like(point),
        },
        index=pd.Index(index, name=name),
    )
    order = sorted(range(len(index)), key=lambda i: (-point[i], index[i]))
    out = out.iloc[order]
    out["rank"] = np.arange(1, len(index) + 1)
    return out


# --------------------------------------------------------------------------------------------- sample


def shap_sample(X: pd.DataFrame, n_max: int = 5000, seed: int = 0, stratify=None) -> pd.Index:
    """Index labels of a deterministic sample of at most ``n_max`` rows, in the original row order.

    With ``stratify`` (the 0/1 default flag) every default is kept as long as defaults fill at most half
    of the sample, and repaid loans fill the rest; otherwise rows are drawn uniformly. Keeping the rare
    defaults makes their explanations (reason codes, dependence in the tail) usable, but over-weights them
    in averages: pass :func:`sample_weights` to :func:`global_importance` to average over the population.
    """
    if n_max < 1:
        raise ModelInputError(f"n_max must be positive, got {n_max!r}")
    n = len(X)
    if n <= n_max:
        return X.index.copy()
    rng = np.random.default_rng(seed)
    if stratify is None:
        pos = np.sort(rng.choice(n, size=n_max, replace=False))
        return X.index[pos]
    s = np.asarray(stratify).astype(bool)
    if s.shape != (n,):
        raise ModelInputError(f"stratify: expected one flag per row of X ({n}), got shape {s.shape}")
    defaults, repaid = np.flatnonzero(s), np.flatnonzero(~s)
    n_def = min(len(defaults), n_max // 2)
    n_rep = min(len(repaid), n_max - n_def)
    n_def = min(len(defaults), n_max - n_rep)
    picked = np.concatenate([
        rng.choice(defaults, size=n_def, replace=False),
        rng.choice(repaid, size=n_rep, replace=False),
    ])
    return X.index[np.sort(picked)]


def sample_weights(stratify, index: pd.Index, full_index: pd.Index) -> pd.Series:
    """Inverse sampling fractions per class, so a stratified sample averages like the full data."""
    s = pd.Series(np.asarray(stratify).astype(bool), index=full_index)
    sampled = s.loc[index]
    weights = pd.Series(1.0, index=index)
    for flag in (True, False):
        k = int((sampled == flag).sum())
        if k:
            weights[sampled == flag] = (s == flag).sum() / k
    return weights


# ----------------------------------------------------------------------------------------- importance


def _weighted(values: np.ndarray, weights) -> np.ndarray:
    """Rows scaled so that a plain mean equals the weighted mean (weights normalised to mean 1)."""
    if weights is None:
        return values
    w = np.asarray(weights, dtype="float64")
    if w.shape != (values.shape[0],) or (w < 0).any() or w.sum() <= 0:
        raise ModelInputError("weights: expected one non-negative weight per row, not all zero")
    return values * (w / w.mean())[:, None]


def global_importance(
    contrib: pd.DataFrame,
    X: pd.DataFrame,
    groups: dict[str, str] | None = None,
    n_boot: int = 200,
    seed: int = 0,
    weights=None,
) -> pd.DataFrame:
    """Per indicator: mean |SHAP| with a 95 % row-bootstrap interval, share of the total, rank.

    Returns a frame indexed by ``feature``, sorted by rank, with ``mean_abs_shap``, ``lo``, ``hi``,
    ``share``, ``rank``, ``missing_share`` (share of rows where the indicator is missing) and, when
    ``groups`` is given, ``group``. ``weights`` (e.g. :func:`sample_weights`) re-weights rows.
    """
    names = _features(contrib, X)
    values = _weighted(contrib[names].to_numpy(dtype="float64"), weights)
    point, bounds = _bootstrap_mean_abs(values, n_boot, seed)
    out = _importance_frame(names, point, bounds, "feature")
    out["missing_share"] = X[names].isna().mean().reindex(out.index)
    if groups is not None:
        out["group"] = [groups.get(f, "") for f in out.index]
    return out


def group_importance(
    contrib: pd.DataFrame,
    X: pd.DataFrame,
    groups: dict[str, str],
    n_boot: int = 200,
    seed: int = 0,
    weights=None,
) -> pd.DataFrame:
    """Per group: mean |sum of member SHAP| per row, bootstrap interval, share, rank, member count.

    Summing within a row first lets opposite effects inside a group cancel, so a group's importance can be
    below the sum of its members'; shares are relative to the sum over groups. Indicators not in
    ``groups`` form the group ``"other"``.
    """
    names = _features(contrib, X)
    membership = {f: groups.get(f, "other") for f in names}
    labels = sorted(set(membership.values()))
    summed = np.column_stack([contrib[[f for f in names if membership[f] == g]].sum(axis=1).to_numpy()
                              for g in labels])
    point, bounds = _bootstrap_mean_abs(_weighted(summed, weights), n_boot, seed)
    out = _importance_frame(labels, point, bounds, "group")
    out["n_indicators"] = [sum(1 for g in membership.values() if g == label) for label in out.index]
    return out


# ------------------------------------------------------------------------------------------ direction


def _tail_effect(value: np.ndarray, shap: np.ndarray) -> float:
    """Mean SHAP of the top fifth of values minus that of the bottom fifth (default log-odds).

    Ties at the quintiles (counts with many zeros) fall back to "above the lower quintile" against "at or
    below it", so a mass point is never on both sides.
    """
    q_lo, q_hi = np.percentile(value, np.array([0.2, 0.8]) * 100.0)  # pandas' Series.quantile, the same floats
    lo, hi = value <= q_lo, (value >= q_hi) & (value > q_lo)
    if not hi.any():
        lo, hi = value < q_lo, value >= q_lo
    return float(shap[hi].sum() / hi.sum() - shap[lo].sum() / lo.sum())


def learned_direction(
    contrib: pd.DataFrame, X: pd.DataFrame, min_abs_corr: float = 0.05, min_effect: float = MIN_EFFECT
) -> pd.DataFrame:
    """Per indicator: the model's direction on the project's scale, from how SHAP moves with the value.

    ``corr`` is the Spearman correlation between the observed value and its SHAP value; positive means
    higher values push default risk up, i.e. direction ``-1``. ``effect`` is the mean SHAP of the top
    fifth of values minus that of the bottom fifth, in default log-odds. The correlation alone is not
    enough: a noise indicator used in a single split gets a monotone step and a large |corr| with a tiny
    effect. So the direction is ``0`` unless ``|corr| >= min_abs_corr``, ``|effect| >= min_effect`` and
    both agree in sign; also ``0`` (``corr`` NaN) with fewer than :data:`MIN_ROWS_DIRECTION` observed rows,
    a constant value or a constant SHAP (an unused indicator).

    Returns a frame indexed by ``feature`` with ``direction``, ``corr``, ``effect`` and ``n_used``.
    """
    names = _features(contrib, X)
    # Column by column on numpy arrays: every refit of the evidence calls this, and pandas' per-column
    # overhead was most of its cost. Ranks are averaged over ties, as pandas' ``rank`` does.
    values = X[names].to_numpy(dtype="float64", na_value=np.nan)
    shaps = contrib[names].to_numpy(dtype="float64")
    rows = []
    for j in range(len(names)):
        ok = ~np.isnan(values[:, j])
        v, s = values[ok, j], shaps[ok, j]
        n_used = int(ok.sum())
        corr = effect = math.nan
        if n_used >= MIN_ROWS_DIRECTION and v.min() < v.max() and s.min() < s.max():
            corr = float(np.corrcoef(rankdata(v), rankdata(s))[0, 1])
            effect = _tail_effect(v, s)
        clear = (
            not math.isnan(corr)
            and abs(corr) >= min_abs_corr
            and abs(effect) >= min_effect
            and np.sign(corr) == np.sign(effect)
        )
        direction = -int(np.sign(corr)) if clear else 0
        rows.append({"direction": direction, "corr": corr, "effect": effect, "n_used": n_used})
    return pd.DataFrame(rows, index=pd.Index(names, name="feature")).astype(
        {"direction": "int64", "corr": "float64", "effect": "float64", "n_used": "int64"}
    )


def sign_conflicts(directions, policy: dict[str, int]) -> list[str]:
    """Indicators whose learned direction is the opposite of the policy direction (both non-zero).

    ``directions`` is a Series of learned directions or the frame of :func:`learned_direction`; the
    result keeps its order. Indicators without a policy direction are skipped.
    """
    if isinstance(directions, pd.DataFrame):
        directions = directions["direction"]
    return [f for f, d in directions.items() if d != 0 and policy.get(f, 0) != 0 and d == -policy[f]]


# ----------------------------------------------------------------------------------------- dependence


def dependence_curve(contrib: pd.DataFrame, X: pd.DataFrame, feature: str, n_bins: int = 10) -> pd.DataFrame:
    """Mean SHAP per quantile bin of ``feature``'s value, plus a final row for missing values.

    Columns: ``bin`` (0.., ``-1`` for missing), ``lo``/``hi`` (value bounds of the bin), ``n``,
    ``mean_value`` and ``mean_shap``. Tied quantiles merge bins, so there can be fewer than ``n_bins``.
    The missing row is always present (``n`` 0 and NaN means when nothing is missing).
    """
    names = _features(contrib, X)
    if feature not in names:
        raise ModelInputError(f"feature {feature!r} is not a column of contrib; columns are {names}")
    if n_bins < 1:
        raise ModelInputError(f"n_bins must be positive, got {n_bins!r}")
    value = X[feature].to_numpy(dtype="float64")
    shap = contrib[feature].to_numpy(dtype="float64")
    ok = ~np.isnan(value)
    rows = []
    if ok.any():
        edges = np.unique(np.quantile(value[ok], np.linspace(0, 1, n_bins + 1)))
        # Interior edges only: bin i holds values in (edges[i], edges[i+1]], the first bin includes its min.
        which = np.searchsorted(edges[1:-1], value[ok], side="left")
        for b in range(max(len(edges) - 1, 1)):
            m = which == b
            if not m.any():
                continue
            rows.append({"bin": b, "lo": float(value[ok][m].min()), "hi": float(value[ok][m].max()),
                         "n": int(m.sum()), "mean_value": float(value[ok][m].mean()),
                         "mean_shap": float(shap[ok][m].mean())})
    miss = ~ok
    rows.append({"bin": -1, "lo": math.nan, "hi": math.nan, "n": int(miss.sum()), "mean_value": math.nan,
                 "mean_shap": float(shap[miss].mean()) if miss.any() else math.nan})
    return pd.DataFrame(rows).astype({"bin": "int64", "n": "int64"})
