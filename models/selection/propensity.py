"""Who gets a loan: the propensity of a firm-year to be lent, the support behind a formula, and IPW weights.

Every AUC, weight and recommendation is learned from approved loans only, and banks lend mostly to firms the
formula in force already qualifies. A new formula that qualifies firms unlike any funded firm promises
something the loan data cannot check. This module measures that:

* :class:`PropensityModel`: P(a firm of year Y borrows in Y | its points under the formula in force and its
  indicators at fiscal year Y−1), a small seeded LightGBM fitted on the population of firm-years of the
  fitting years only (point in time: the features come from the year before, the years fitted on end
  before the year it is applied to). Non-borrowing firm-years are subsampled (seeded) above ``max_rows`` and
  weighted up by the inverse sampling rate, so the probabilities stay calibrated.
* :func:`support_table`: propensity bins of a population, each with the observed loans (and defaults)
  behind it, and per formula the firms it qualifies there; :func:`support_summary`: per formula the share of
  its qualified set and of its points mass in bins below the low-support threshold.
* :func:`ipw_weights`: stabilised inverse-propensity weights (lending rate ÷ propensity), clipped.

No files, no printing (docs/architecture.md). The thresholds and their reasons are in docs/policy.md
("Selection: who never got a loan").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from lightgbm import LGBMClassifier
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from innopoints.features.errors import EvaluationError
from innopoints.models.defaults import LOW_SUPPORT, MAX_WEIGHT  # noqa: F401  (re-exported)

PROPENSITY_EDGES: tuple[float, ...] = (0.0, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4, 1.0)
"""Edges of the propensity bins the support is reported in (a firm-year's modelled chance of a loan)."""


class PropensityModel(BaseEstimator):
    """P(borrowed in year Y) of a firm-year from point-in-time features, a small seeded LightGBM.

    Parameters
    ----------
    features : sequence of str
        Columns used (the formula in force's points and the indicators); missing values are allowed.
    seed : int
        Seeds the subsample and LightGBM (deterministic mode, one thread): same data and seed, same model.
    max_rows : int, default 60_000
        Firm-years fitted on at most: every borrowing one, and a seeded subsample of the others weighted by
        the inverse sampling rate.
    n_estimators, learning_rate, num_leaves, min_child_samples : LightGBM capacity (small on purpose).
    """

    def __init__(self, features: Sequence[str] = (), seed: int = 1, max_rows: int = 60_000, n_estimators: int = 80,
                 learning_rate: float = 0.08, num_leaves: int = 15, min_child_samples: int = 100):
        self.features = features
        self.seed = seed
        self.max_rows = max_rows
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples

    def fit(self, panel: pd.DataFrame, lent, year, *, until_year: int | None = None,
            sample_weight=None) -> PropensityModel:
        """Fit on the firm-years of ``panel`` whose ``year`` is before ``until_year`` (all when None).

        Args:
            panel: one row per firm-year with :attr:`features` (fiscal year Y−1 values for year Y).
            lent: one flag per row: the firm borrowed in that year.
            year: one year per row.
            until_year: the first year not fitted on (point in time: e.g. the test year).
            sample_weight: firm-years each row stands for (a subsampled panel, :func:`lending_panel`).
        """
        lent = np.asarray(lent, dtype=bool)
        year = np.asarray(year, dtype="int64")
        keep = np.ones(len(panel), bool) if until_year is None else year < until_year
        X = panel.loc[keep, list(self.features)].astype("float64")
        y = lent[keep]
        w = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, dtype="float64")[keep]
        if not y.any() or y.all():
            raise EvaluationError(f"propensity: need firm-years with and without a loan before {until_year}, got "
                                  f"{int(y.sum())} of {len(y)} borrowing")
        rng = np.random.default_rng(self.seed)
        rest = np.flatnonzero(~y)
        room = max(self.max_rows - int(y.sum()), 1)
        take = rest if len(rest) <= room else np.sort(rng.choice(rest, room, replace=False))
        rows = np.sort(np.concatenate([np.flatnonzero(y), take]))
        weight = w[rows] * np.where(y[rows], 1.0, w[rest].sum() / w[take].sum())
        self.model_ = LGBMClassifier(
            n_estimators=self.n_estimators, learning_rate=self.learning_rate, num_leaves=self.num_leaves,
            min_child_samples=self.min_child_samples, random_state=self.seed, n_jobs=1, deterministic=True,
            force_col_wise=True, verbose=-1)
        self.model_.fit(X.iloc[rows], y[rows].astype(int), sample_weight=weight)
        self.lending_rate_ = float(w[y].sum() / w.sum())
        self.n_fit_ = int(round(w.sum()))
        self.n_lent_ = int(y.sum())
        self.years_ = sorted(int(v) for v in np.unique(year[keep]))
        return self

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """P(borrowed) of every row of ``frame``."""
        check_is_fitted(self, "model_")
        return self.model_.predict_proba(frame[list(self.features)].astype("float64"))[:, 1]


def lending_panel(populations: Mapping[int, pd.DataFrame], loans: pd.DataFrame, *, max_rows: int | None = None,
                  seed: int = 0) -> pd.DataFrame:
    """The firm-years of every population year with ``lent`` (the firm borrowed in that year) and ``weight``.

    ``populations`` maps a year Y to its scoreable firms (fiscal year Y−1 indicators); ``loans`` needs
    ``firm_id`` and ``year``. A firm that borrowed twice in a year is one lent firm-year. With ``max_rows``,
    each year keeps every lent firm-year and a seeded sample of the others (about ``max_rows`` rows over all
    years), each weighing the firm-years it stands for, so the panel never holds every firm of every year.
    """
    lent = set(zip(loans["firm_id"], loans["year"].astype("int64"), strict=True))
    rng = np.random.default_rng(seed)
    parts = []
    for year in sorted(populations):
        pop = populations[year]
        flag = np.fromiter(((f, year) in lent for f in pop["firm_id"]), dtype=bool, count=len(pop))
        weight = np.ones(len(pop))
        if max_rows is not None:
            rest = np.flatnonzero(~flag)
            room = max(max_rows // len(populations) - int(flag.sum()), 1)
            if len(rest) > room:
                take = np.sort(rng.choice(rest, room, replace=False))
                rows = np.sort(np.concatenate([np.flatnonzero(flag), take]))
                weight = np.where(flag[rows], 1.0, len(rest) / room)
                pop, flag = pop.iloc[rows], flag[rows]
        parts.append(pop.assign(year=year, lent=flag, weight=weight))
    return pd.concat(parts, ignore_index=True)


def ipw_weights(propensity, lending_rate: float, max_weight: float = MAX_WEIGHT) -> np.ndarray:
    """Stabilised inverse-propensity weights ``lending_rate / propensity``, clipped to [1/max, max]."""
    p = np.clip(np.asarray(propensity, dtype="float64"), 1e-9, 1.0)
    return np.clip(lending_rate / p, 1.0 / max_weight, max_weight)


def weighted_auc(y, risk, weight=None) -> float:
    """ROC AUC of ``risk`` for defaults with row weights (scikit-learn's, ties count one half)."""
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(np.asarray(y, dtype=int), np.asarray(risk, dtype="float64"), sample_weight=weight))


def propensity_bin(propensity, edges: Sequence[float] = PROPENSITY_EDGES) -> np.ndarray:
    """Bin index (0 = lowest propensity) of each value; bin ``i`` is ``edges[i] <= p < edges[i+1]``."""
    inner = np.asarray(edges[1:-1], dtype="float64")
    return np.searchsorted(inner, np.asarray(propensity, dtype="float64"), side="right")


def support_table(population_propensity, qualified: Mapping[str, np.ndarray], loan_propensity, loan_defaulted,
                  edges: Sequence[float] = PROPENSITY_EDGES, low_support: float = LOW_SUPPORT) -> pd.DataFrame:
    """One row per propensity bin: firms of the population, observed loans and defaults behind it, and per
    formula the firms it qualifies there (``qualified_<name>``); ``low_support`` marks bins whose upper edge
    is at most the threshold."""
    n_bins = len(edges) - 1
    pop_bin = propensity_bin(population_propensity, edges)
    loan_bin = propensity_bin(loan_propensity, edges)
    table = pd.DataFrame({
        "bin": np.arange(1, n_bins + 1),
        "propensity_from": np.asarray(edges[:-1], dtype="float64"),
        "propensity_to": np.asarray(edges[1:], dtype="float64"),
        "low_support": np.asarray(edges[1:], dtype="float64") <= low_support + 1e-12,
        "firms": np.bincount(pop_bin, minlength=n_bins),
        "observed_loans": np.bincount(loan_bin, minlength=n_bins),
        "observed_defaults": np.bincount(loan_bin, weights=np.asarray(loan_defaulted, dtype="float64"),
                                         minlength=n_bins).astype("int64"),
    })
    for name, mask in qualified.items():
        table[f"qualified_{name}"] = np.bincount(pop_bin[np.asarray(mask, bool)], minlength=n_bins)
    return table


def support_summary(population_propensity, qualified: Mapping[str, np.ndarray], points: Mapping[str, np.ndarray],
                    low_support: float = LOW_SUPPORT) -> dict[str, dict]:
    """Per formula: the share of its qualified firms, and of the points they hold, where the propensity is
    below ``low_support``; and the share of the whole population's points there (its points mass)."""
    low = np.asarray(population_propensity, dtype="float64") < low_support
    out = {}
    for name, mask in qualified.items():
        mask = np.asarray(mask, bool)
        pts = np.maximum(np.asarray(points[name], dtype="float64"), 0.0)
        q_pts = pts[mask].sum()
        out[name] = {
            "qualified_firms": int(mask.sum()),
            "qualified_low_support": int((mask & low).sum()),
            "qualified_share_low_support": float((mask & low).sum() / mask.sum()) if mask.any() else None,
            "qualified_points_share_low_support": float(pts[mask & low].sum() / q_pts) if q_pts > 0 else None,
            "points_mass_share_low_support": float(pts[low].sum() / pts.sum()) if pts.sum() > 0 else None,
        }
    return out
