"""Evaluation metrics for points formulas and default models: small pure functions on numpy arrays.

Conventions (docs/refinement.md):

- ``y`` is the default flag (bool or 0/1) of loans whose outcome is observed.
- ``risk`` is any score where *higher means riskier*: a model's default probability, or ``-points``.
- ``points`` are formula points: *higher means better*, i.e. lower risk. Ranking metrics (AUC, Gini, KS)
  take ``risk``; the qualified-set metrics (:func:`top_share`) and bands take ``points``.

The ranking metrics share one exact computation: loans are grouped by equal score, and the metric is
computed from the default and non-default counts per group. Ties therefore count one half (Mann–Whitney),
the result does not depend on row order, and the paired bootstrap can recompute a metric on a resample
from counts alone (no re-sorting): 1000 resamples of 20k loans take about 0.3–1 s.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from innopoints.features.errors import EvaluationError
from innopoints.models.defaults import QUALIFIED_SHARE  # noqa: F401  (re-exported)

PSI_EPSILON = 1e-4
"""Floor for a bin's share in PSI: an empty bin contributes a large but finite term instead of infinity."""



# ---------------------------------------------------------------------------------------------- checks


def _binary(y, name: str = "y") -> np.ndarray:
    """Return ``y`` as an int array of 0/1, or raise naming the first bad value."""
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise EvaluationError(f"{name}: expected a 1-D array of default flags, got shape {arr.shape}")
    if arr.dtype == bool:
        return arr.astype(np.int64)
    try:
        num = arr.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise EvaluationError(f"{name}: default flags must be bool or 0/1, e.g. got {arr[:1]!r}") from exc
    bad = ~np.isin(num, (0.0, 1.0))
    if bad.any():
        raise EvaluationError(
            f"{name}: default flags must be bool or 0/1 (missing not allowed), e.g. got {arr[bad][0]!r}"
        )
    return num.astype(np.int64)


def _scores(s, n: int, name: str) -> np.ndarray:
    """Return ``s`` as a finite float array of length ``n``, or raise naming the problem."""
    arr = np.asarray(s, dtype=np.float64)
    if arr.shape != (n,):
        raise EvaluationError(f"{name}: expected {n} scores (one per loan), got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise EvaluationError(f"{name}: scores must be finite, e.g. got {arr[~np.isfinite(arr)][0]!r}")
    return arr


def _both_classes(y: np.ndarray, what: str) -> None:
    n_pos = int(y.sum())
    if n_pos == 0 or n_pos == len(y):
        raise EvaluationError(
            f"{what} needs at least one default and one non-default; "
            f"got {n_pos} defaults among {len(y)} loans"
        )


def _check_share(share: float) -> None:
    if not 0.0 < share <= 1.0:
        raise EvaluationError(f"share: must be in (0, 1], got {share!r} (the 2024 qualified share is "
                              f"{QUALIFIED_SHARE})")


# ------------------------------------------------------------------------- counts per equal-score group


def _groups(risk: np.ndarray) -> tuple[np.ndarray, int]:
    """Group id of each loan, groups sorted by ascending risk (equal scores share a group)."""
    uniq, inv = np.unique(risk, return_inverse=True)
    return inv, len(uniq)


def _counts(y: np.ndarray, risk: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Defaults and non-defaults per equal-score group, groups by ascending risk."""
    inv, n_groups = _groups(risk)
    pos = np.bincount(inv[y == 1], minlength=n_groups).astype(np.float64)
    neg = np.bincount(inv[y == 0], minlength=n_groups).astype(np.float64)
    return pos, neg


def _auc_counts(pos: np.ndarray, neg: np.ndarray) -> float:
    # Each default beats every non-default in a lower-risk group and ties count one half (Mann–Whitney U).
    neg_below = np.cumsum(neg) - neg
    return float((pos * (neg_below + 0.5 * neg)).sum() / (pos.sum() * neg.sum()))


def _ks_counts(pos: np.ndarray, neg: np.ndarray) -> float:
    # Cumulative distributions are compared only after whole groups, so equal scores are never split.
    return float(np.abs(np.cumsum(pos) / pos.sum() - np.cumsum(neg) / neg.sum()).max())


def _n_top(n: int, share: float) -> int:
    # round() first so that 0.07 * 100 = 7.000000000000001 asks for 7 loans, not 8.
    return max(1, math.ceil(round(share * n, 9)))


def _top_group(pos: np.ndarray, neg: np.ndarray, share: float) -> int:
    """Index of the last (riskiest) group inside the top set: the group holding the k-th best loan."""
    cum = np.cumsum(pos + neg)
    return int(np.searchsorted(cum, _n_top(int(cum[-1]), share)))


def _top_rate_counts(pos: np.ndarray, neg: np.ndarray, share: float) -> float:
    g = _top_group(pos, neg, share)
    return float(pos[: g + 1].sum() / (pos[: g + 1].sum() + neg[: g + 1].sum()))


# -------------------------------------------------------------------------------------- ranking metrics


def auc(y, risk) -> float:
    """Area under the ROC curve of ``risk`` for defaults (Mann–Whitney, ties count one half)."""
    yb = _binary(y)
    r = _scores(risk, len(yb), "risk")
    _both_classes(yb, "auc")
    return _auc_counts(*_counts(yb, r))


def gini(y, risk) -> float:
    """Gini coefficient (accuracy ratio) of ``risk``: 2·AUC − 1."""
    return 2.0 * auc(y, risk) - 1.0


def ks(y, risk) -> float:
    """Kolmogorov–Smirnov statistic: largest gap between the risk distributions of defaults and the rest.

    Equal scores are grouped, so the gap is only measured between distinct score values.
    """
    yb = _binary(y)
    r = _scores(risk, len(yb), "risk")
    _both_classes(yb, "ks")
    return _ks_counts(*_counts(yb, r))


# ---------------------------------------------------------------------------------- probability metrics


def brier(y, p) -> float:
    """Brier score: mean squared error of default probabilities ``p``."""
    yb = _binary(y)
    pr = _probabilities(p, len(yb))
    return float(np.mean((pr - yb) ** 2))


def log_loss(y, p, eps: float = 1e-15) -> float:
    """Mean negative log-likelihood of default probabilities ``p``, clipped to ``[eps, 1 - eps]``."""
    yb = _binary(y)
    pr = np.clip(_probabilities(p, len(yb)), eps, 1.0 - eps)
    return float(-np.mean(yb * np.log(pr) + (1 - yb) * np.log1p(-pr)))


def _probabilities(p, n: int) -> np.ndarray:
    pr = _scores(p, n, "p")
    if ((pr < 0) | (pr > 1)).any():
        bad = pr[(pr < 0) | (pr > 1)][0]
        raise EvaluationError(f"p: default probabilities must lie in [0, 1], e.g. got {bad}")
    return pr


# ------------------------------------------------------------------------------------- qualified set


def top_mask(points, share: float = QUALIFIED_SHARE) -> tuple[np.ndarray, float]:
    """Which loans (or firms) fall in the top ``share`` by points, and the points threshold.

    Ties at the cut-off are all included: the threshold is the points of the k-th best loan,
    ``k = ceil(share * n)``, and the set is every loan with ``points >= threshold``. A points system
    qualifies everyone at the same score alike, and the set does not depend on row order; the price is
    that the set can be larger than ``k`` when many loans share the cut-off score.
    """
    _check_share(share)
    pts = np.asarray(points, dtype=np.float64)
    pts = _scores(pts, len(pts), "points")
    if len(pts) == 0:
        raise EvaluationError("points: the top share of an empty set is undefined")
    k = _n_top(len(pts), share)
    threshold = float(np.partition(pts, len(pts) - k)[len(pts) - k])
    return pts >= threshold, threshold


def top_share(y, points, share: float = QUALIFIED_SHARE) -> dict:
    """Default rate and capture in the top ``share`` of loans by points (ties included, see :func:`top_mask`).

    Returns
    -------
    dict
        ``n`` loans in the top set, ``defaults`` among them, ``threshold`` (lowest points inside),
        ``default_rate`` = defaults / n, ``capture`` = share of *all* defaults that fall in the top set
        (lower is better: qualified firms should rarely default), ``good_capture`` = share of all
        non-defaulted loans in the top set (higher is better: good firms should qualify).
    """
    yb = _binary(y)
    mask, threshold = top_mask(_scores(points, len(yb), "points"), share)
    n_top, d_top = int(mask.sum()), int(yb[mask].sum())
    n_def, n_good = int(yb.sum()), int(len(yb) - yb.sum())
    return {
        "n": n_top,
        "defaults": d_top,
        "threshold": threshold,
        "default_rate": d_top / n_top,
        "capture": d_top / n_def if n_def else None,
        "good_capture": (n_top - d_top) / n_good if n_good else None,
    }


# ------------------------------------------------------------------------------- calibration and bands


def _quantile_edges(x: np.ndarray, n_bins: int) -> np.ndarray:
    # method="lower" puts every edge on an observed value, so no band between two edges is empty.
    return np.unique(np.quantile(x, np.linspace(0.0, 1.0, n_bins + 1), method="lower"))


def calibration_table(y, points, p=None, n_bands: int = 10) -> pd.DataFrame:
    """Observed default rate per points band (quantile bands of ``points``, lowest points first).

    Band ``i`` holds loans with ``lower <= points < upper``; the last band also holds ``points == upper``.
    Quantile edges that coincide (many loans at one score) are merged, so there can be fewer than
    ``n_bands`` bands. With ``p`` (predicted default probabilities) a ``mean_pd`` column is added.
    """
    yb = _binary(y)
    pts = _scores(points, len(yb), "points")
    if len(pts) == 0:
        raise EvaluationError("calibration_table: no loans to band")
    if n_bands < 1:
        raise EvaluationError(f"n_bands: must be at least 1, got {n_bands}")
    edges = _quantile_edges(pts, n_bands)
    if len(edges) == 1:
        edges = np.array([edges[0], edges[0]])
    band = np.searchsorted(edges[1:-1], pts, side="right")
    k = len(edges) - 1
    n = np.bincount(band, minlength=k)
    d = np.bincount(band, weights=yb, minlength=k)
    table = pd.DataFrame(
        {
            "band": np.arange(1, k + 1),
            "lower": edges[:-1],
            "upper": edges[1:],
            "n": n,
            "defaults": d.astype(np.int64),
            "default_rate": d / n,
        }
    )
    if p is not None:
        pr = _probabilities(p, len(yb))
        table["mean_pd"] = np.bincount(band, weights=pr, minlength=k) / n
    return table


class PointsCalibrator(BaseEstimator):
    """One-dimensional logistic calibration mapping points to a default probability.

    ``pd = 1 / (1 + exp(-(intercept_ + coef_ * points)))``. Fit it on *training* loans and apply it to
    test loans, so that Brier score and log loss are never computed on the data the mapping was fitted on.

    Parameters
    ----------
    l2 : float, default 1e-6
        Ridge penalty on the slope in standardised points. Tiny on purpose: it changes nothing on real
        data but keeps the slope finite when points separate defaults perfectly.
    max_iter : int, default 100
        Newton iterations.

    Attributes
    ----------
    intercept_ : float
    coef_ : float
        Change in log-odds of default per point (negative when more points mean less risk).
    n_iter_ : int
    """

    def __init__(self, l2: float = 1e-6, max_iter: int = 100):
        self.l2 = l2
        self.max_iter = max_iter

    def fit(self, points, y) -> PointsCalibrator:
        """Fit on training points and default flags; returns ``self``."""
        yb = _binary(y).astype(np.float64)
        pts = _scores(points, len(yb), "points")
        if len(yb) == 0:
            raise EvaluationError("PointsCalibrator.fit: no training loans")
        _both_classes(yb.astype(np.int64), "PointsCalibrator.fit")
        center, scale = float(pts.mean()), float(pts.std())
        z = (pts - center) / scale if scale > 0 else np.zeros_like(pts)
        b0, b1, self.n_iter_ = _newton_logit(z, yb, self.l2, self.max_iter)
        # Back from standardised points to points, so the stored numbers read directly.
        self.coef_ = b1 / scale if scale > 0 else 0.0
        self.intercept_ = b0 - self.coef_ * center
        return self

    def predict_pd(self, points) -> np.ndarray:
        """Default probability for each points value."""
        check_is_fitted(self, ("intercept_", "coef_"))
        pts = np.asarray(points, dtype=np.float64)
        pts = _scores(pts, len(pts), "points")
        return expit(self.intercept_ + self.coef_ * pts)


def _newton_logit(z: np.ndarray, y: np.ndarray, l2: float, max_iter: int) -> tuple[float, float, int]:
    """Penalised logistic regression of ``y`` on one standardised column by Newton with step halving."""
    x = np.column_stack([np.ones_like(z), z])
    ridge = np.diag([0.0, l2 * len(z)])
    rate = y.mean()
    beta = np.array([math.log(rate / (1 - rate)), 0.0])

    def loss(b: np.ndarray) -> float:
        eta = x @ b
        return float(np.sum(np.logaddexp(0.0, eta) - y * eta) + 0.5 * b @ ridge @ b)

    current = loss(beta)
    n_iter = 0
    while n_iter < max_iter:
        n_iter += 1
        p = expit(x @ beta)
        grad = x.T @ (p - y) + ridge @ beta
        hess = (x * (p * (1 - p))[:, None]).T @ x + ridge + 1e-12 * np.eye(2)
        step = np.linalg.solve(hess, grad)
        t = 1.0
        while t > 1e-8 and loss(beta - t * step) > current + 1e-12:
            t /= 2.0
        beta = beta - t * step
        new = loss(beta)
        if abs(current - new) < 1e-12 * max(1.0, abs(new)) and np.abs(t * step).max() < 1e-10:
            break
        current = new
    return float(beta[0]), float(beta[1]), n_iter


# ---------------------------------------------------------------------------------------------- PSI


def psi_table(expected, actual, bins: int = 10) -> pd.DataFrame:
    """Population stability per bin: bins are quantiles of ``expected``; shares floored at PSI_EPSILON.

    Bin ``i`` holds ``lower <= x < upper`` (first bin open below, last open above). Interior edges are
    the distinct quantiles of ``expected`` above its minimum, so no bin is empty in ``expected``; a bin
    empty in ``actual`` gets share PSI_EPSILON (1e-4) instead of 0, which keeps the log finite while
    still making a vanished bin contribute strongly.
    """
    exp_arr = np.asarray(expected, dtype=np.float64)
    act_arr = np.asarray(actual, dtype=np.float64)
    exp_arr = _scores(exp_arr, len(exp_arr), "expected")
    act_arr = _scores(act_arr, len(act_arr), "actual")
    if len(exp_arr) == 0 or len(act_arr) == 0:
        raise EvaluationError(
            f"psi: both samples need values (expected {len(exp_arr)}, actual {len(act_arr)})"
        )
    if bins < 1:
        raise EvaluationError(f"bins: must be at least 1, got {bins}")
    inner = np.unique(np.quantile(exp_arr, np.linspace(0.0, 1.0, bins + 1)[1:-1], method="lower"))
    inner = inner[inner > exp_arr.min()]
    k = len(inner) + 1
    exp_n = np.bincount(np.searchsorted(inner, exp_arr, side="right"), minlength=k)
    act_n = np.bincount(np.searchsorted(inner, act_arr, side="right"), minlength=k)
    exp_share = exp_n / len(exp_arr)
    act_share = act_n / len(act_arr)
    e = np.maximum(exp_share, PSI_EPSILON)
    a = np.maximum(act_share, PSI_EPSILON)
    return pd.DataFrame(
        {
            "bin": np.arange(1, k + 1),
            "lower": np.concatenate([[-np.inf], inner]),
            "upper": np.concatenate([inner, [np.inf]]),
            "expected_n": exp_n,
            "actual_n": act_n,
            "expected_share": exp_share,
            "actual_share": act_share,
            "psi": (a - e) * np.log(a / e),
        }
    )


def psi(expected, actual, bins: int = 10) -> float:
    """Population stability index of ``actual`` against ``expected`` (see :func:`psi_table`)."""
    return float(psi_table(expected, actual, bins)["psi"].sum())


# ------------------------------------------------------------------------------ comparing two scores


def _fast_metric(metric, share: float) -> Callable[[np.ndarray, np.ndarray], float] | None:
    """A counts-based version of a known ranking metric, or None for an arbitrary callable."""
    table = {
        "auc": _auc_counts,
        "gini": lambda pos, neg: 2.0 * _auc_counts(pos, neg) - 1.0,
        "ks": _ks_counts,
        "top_default_rate": lambda pos, neg: _top_rate_counts(pos, neg, share),
    }
    by_function = {auc: "auc", gini: "gini", ks: "ks"}
    name = by_function.get(metric, metric) if callable(metric) else metric
    if isinstance(name, str):
        if name not in table:
            raise EvaluationError(f"metric: unknown name {name!r}; use one of {sorted(table)} or a callable")
        return table[name]
    return None


def paired_bootstrap(
    y,
    risk_a,
    risk_b,
    metric="auc",
    n_boot: int = 1000,
    seed: int = 0,
    ci: float = 0.95,
    share: float = QUALIFIED_SHARE,
) -> dict:
    """Percentile bootstrap interval of ``metric(b) - metric(a)`` on the same resampled loans.

    Each resample draws the defaults and the non-defaults separately with replacement (stratified by
    ``y``), so every resample has both and keeps the observed default rate. Both scores are evaluated on
    the same draw (paired), which removes the shared sampling noise from the difference.

    Parameters
    ----------
    y : array of bool or 0/1
    risk_a, risk_b : arrays, higher = riskier (pass ``-points`` for formulas). ``a`` is the reference
        (baseline), ``b`` the candidate.
    metric : {"auc", "gini", "ks", "top_default_rate"}, one of :func:`auc`, :func:`gini`, :func:`ks`,
        or any callable ``metric(y, risk) -> float``. The named ones are recomputed from per-score counts
        of each resample (exact and fast); "top_default_rate" uses ``share`` and the ties rule of
        :func:`top_mask` applied to ``-risk``. A generic callable is called on every resample.
    n_boot, seed, ci : resamples, seed of ``numpy.random.default_rng``, interval coverage.

    Returns
    -------
    dict
        ``low``, ``high``: the interval; ``mid``: the point estimate on the full sample; ``delta``: the
        same point estimate (the headline number; ``[low, mid, high]`` reads as the interval);
        ``a``, ``b``: the metric of each score on the full sample; ``n_boot``, ``ci``.
    """
    yb = _binary(y)
    ra = _scores(risk_a, len(yb), "risk_a")
    rb = _scores(risk_b, len(yb), "risk_b")
    _both_classes(yb, "paired_bootstrap")
    _check_share(share)
    if n_boot < 1 or not 0.0 < ci < 1.0:
        raise EvaluationError(f"paired_bootstrap: need n_boot >= 1 and 0 < ci < 1, got {n_boot}, {ci}")
    fast = _fast_metric(metric, share)
    pos_rows, neg_rows = np.flatnonzero(yb == 1), np.flatnonzero(yb == 0)
    rng = np.random.default_rng(seed)
    deltas = np.empty(n_boot)
    if fast is not None:
        ga, na = _groups(ra)
        gb, nb = _groups(rb)
        value_a = fast(*_counts(yb, ra))
        value_b = fast(*_counts(yb, rb))
        for i in range(n_boot):
            pos = rng.choice(pos_rows, size=len(pos_rows))
            neg = rng.choice(neg_rows, size=len(neg_rows))
            m_a = fast(np.bincount(ga[pos], minlength=na).astype(float), np.bincount(ga[neg], minlength=na))
            m_b = fast(np.bincount(gb[pos], minlength=nb).astype(float), np.bincount(gb[neg], minlength=nb))
            deltas[i] = m_b - m_a
    else:
        value_a, value_b = float(metric(yb, ra)), float(metric(yb, rb))
        for i in range(n_boot):
            rows = np.concatenate(
                [rng.choice(pos_rows, size=len(pos_rows)), rng.choice(neg_rows, size=len(neg_rows))]
            )
            deltas[i] = float(metric(yb[rows], rb[rows])) - float(metric(yb[rows], ra[rows]))
    alpha = (1.0 - ci) / 2.0
    low, high = np.quantile(deltas, [alpha, 1.0 - alpha])
    mid = value_b - value_a
    return {
        "low": float(low),
        "mid": float(mid),
        "high": float(high),
        "delta": float(mid),
        "a": float(value_a),
        "b": float(value_b),
        "n_boot": int(n_boot),
        "ci": float(ci),
    }


def _average_ranks(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n with ties given their average rank (midranks)."""
    _, inv, counts = np.unique(x, return_inverse=True, return_counts=True)
    upper = np.cumsum(counts)
    return (upper - (counts - 1) / 2.0)[inv]


def delong_auc_diff(y, risk_a, risk_b) -> dict:
    """DeLong test of the difference of two paired AUCs, ``auc(b) - auc(a)`` (fast midrank version).

    Uses the structural components of DeLong, DeLong & Clarke-Pearson (1988) computed with midranks as in
    Sun & Xu (2014): for each default, the share of non-defaults it out-ranks (ties one half), and for
    each non-default, the share of defaults that out-rank it. Their covariances across the two scores give
    the variance of the AUC difference.

    Returns
    -------
    dict
        ``auc_a``, ``auc_b``, ``delta``, ``se``, ``low``/``high`` (95% normal interval), ``z``, ``p_value``
        (two-sided). Identical scores give ``se = 0``, ``z = 0`` and ``p_value = 1``; a non-zero difference
        with ``se = 0`` gives ``z = None`` and ``p_value = 0``.
    """
    yb = _binary(y)
    ra = _scores(risk_a, len(yb), "risk_a")
    rb = _scores(risk_b, len(yb), "risk_b")
    m, n = int(yb.sum()), int(len(yb) - yb.sum())
    if m < 2 or n < 2:
        raise EvaluationError(
            f"delong_auc_diff needs at least 2 defaults and 2 non-defaults; got {m} and {n}"
        )
    v_pos, v_neg, aucs = [], [], []
    for r in (ra, rb):
        pos, neg = r[yb == 1], r[yb == 0]
        all_ranks = _average_ranks(np.concatenate([pos, neg]))
        # Rank among everyone minus rank among own class = number of the other class below (ties half).
        v_pos.append((all_ranks[:m] - _average_ranks(pos)) / n)
        v_neg.append(1.0 - (all_ranks[m:] - _average_ranks(neg)) / m)
        aucs.append(float(v_pos[-1].mean()))
    s_pos, s_neg = np.cov(np.vstack(v_pos)), np.cov(np.vstack(v_neg))
    contrast = np.array([-1.0, 1.0])
    var = contrast @ s_pos @ contrast / m + contrast @ s_neg @ contrast / n
    se = math.sqrt(max(float(var), 0.0))
    delta = aucs[1] - aucs[0]
    if se > 0:
        z, p_value = delta / se, math.erfc(abs(delta / se) / math.sqrt(2.0))
    else:
        # No variance: either the scores rank identically (no difference) or the difference is certain.
        z, p_value = (0.0, 1.0) if delta == 0 else (None, 0.0)
    half = 1.959963984540054 * se
    return {
        "auc_a": aucs[0],
        "auc_b": aucs[1],
        "delta": delta,
        "se": se,
        "low": delta - half,
        "high": delta + half,
        "z": z,
        "p_value": p_value,
    }
