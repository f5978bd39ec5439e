"""Default-risk learners: a gradient-boosted model and a transparent logistic model.

Both follow the scikit-learn contract and predict the probability of DEFAULT: column 1 of
``predict_proba`` is P(default), ``decision_function`` is the default log-odds. ``X`` is a DataFrame with
one float column per indicator id; NaN means "not delivered" and is handled explicitly, never imputed
silently (LightGBM learns a side for missing values; the logistic model adds a ``<id>__missing`` flag).

Direction convention (shared with the catalog and the formula): ``+1`` means a higher indicator value goes
with LOWER default risk (more points), ``-1`` with higher risk, ``0`` no constraint.

Class imbalance (1-3 % defaults) is handled honestly: no resampling and no class weights. Both distort the
base rate, so the predicted probabilities would no longer be default probabilities (a bank prices and a
guarantee fund reserves on them); ranking metrics do not need rebalancing either. Instead, the boosted
model stops early on the validation log-loss (a proper scoring rule, so calibration is what is optimised)
and reports the validation AUC.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import lightgbm as lgb
import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.utils.validation import check_is_fitted

from innopoints.features.errors import ModelInputError

T = TypeVar("T")
R = TypeVar("R")
BIAS = "bias"
"""Name of the expected-value column in SHAP contribution frames."""

MISSING_SUFFIX = "__missing"
"""Suffix of the 0/1 missing-flag columns of :class:`LogisticDefaultModel`."""

SKEW_THRESHOLD = 1.0
"""Sample skewness above which a non-negative column is log1p-transformed (``transform="auto"``)."""

WINSOR_QUANTILES = (0.01, 0.99)
"""Training quantiles at which the logistic model clips each transformed column."""

TRANSFORMS = ("auto", "log1p", "none")



# ------------------------------------------------------------------------------------------ input checks


def check_features(X: object, *, what: str = "X") -> pd.DataFrame:
    """Return ``X`` as a float64 DataFrame; raise :class:`ModelInputError` naming the offending column."""
    if not isinstance(X, pd.DataFrame):
        raise ModelInputError(f"{what}: expected a pandas DataFrame with one column per indicator, got "
                              f"{type(X).__name__}")
    if X.shape[1] == 0 or X.shape[0] == 0:
        raise ModelInputError(f"{what}: needs at least one row and one indicator column, got shape {X.shape}")
    names = [str(c) for c in X.columns]
    dup = sorted({c for c in names if names.count(c) > 1})
    if dup:
        raise ModelInputError(f"{what}: column names must be unique; duplicated: {dup}")
    out = {}
    for col in X.columns:
        s = X[col]
        if not (pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)):
            example = s.dropna().iloc[0] if s.notna().any() else None
            raise ModelInputError(f"{what}: column {col!r} must be numeric (indicator values), got dtype "
                                  f"{s.dtype}; example value {example!r}")
        v = pd.to_numeric(s, errors="coerce").astype("float64")
        bad = np.isinf(v.to_numpy())
        if bad.any():
            raise ModelInputError(f"{what}: column {col!r} has infinite values (use NaN for 'not "
                                  f"available'); example row {X.index[bad.argmax()]!r}")
        out[str(col)] = v
    return pd.DataFrame(out, index=X.index)


def check_target(y: object, n: int) -> np.ndarray:
    """Return the 0/1 default flag as an int array; both classes are required."""
    arr = np.asarray(y)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ModelInputError(f"y: expected one default flag per row of X ({n}), got shape {arr.shape}")
    if pd.isna(pd.Series(arr)).any():
        raise ModelInputError("y: default flag has missing values; keep only loans whose outcome is observed")
    uniq = set(np.unique(arr).tolist())
    if not uniq <= {0, 1}:  # True/False compare equal to 1/0
        raise ModelInputError(f"y: default flag must be 0/1 or bool, got values {sorted(uniq, key=str)[:5]}")
    out = arr.astype("int64")
    if out.min() == out.max():
        raise ModelInputError(f"y: needs both defaulted and repaid loans to learn from, all rows are "
                              f"{int(out[0])}")
    return out


def _align(X: object, names: list[str], what: str) -> pd.DataFrame:
    """Check ``X`` has exactly the training columns and return them in training order."""
    Xf = check_features(X, what=what)
    missing = [c for c in names if c not in Xf.columns]
    extra = [c for c in Xf.columns if c not in names]
    if missing or extra:
        raise ModelInputError(f"{what}: columns differ from the ones the model was fitted on; missing "
                              f"{missing}, unexpected {extra}")
    return Xf[names]


def _auc(y: np.ndarray, p: np.ndarray) -> float:
    """ROC AUC, NaN when only one class is present (a tiny validation slice)."""
    return float(roc_auc_score(y, p)) if 0 < y.sum() < len(y) else math.nan


# ----------------------------------------------------------------------------------- boosted trees


def _lgb_monotone(directions: dict | None, names: list[str]) -> list[int] | None:
    """Map project directions (+1 = higher is better) to LightGBM constraints on default risk."""
    if directions is None:
        return None
    unknown = sorted(set(directions) - set(names))
    if unknown:
        raise ModelInputError(f"monotone_directions: indicator(s) {unknown} are not columns of X")
    bad = {k: v for k, v in directions.items() if v not in (-1, 0, 1)}
    if bad:
        raise ModelInputError(f"monotone_directions: values must be +1, -1 or 0, got {bad}")
    # Higher-is-better (+1) means default risk must not increase in the value: LightGBM constraint -1.
    return [-int(directions.get(name, 0)) for name in names]


def map_on_threads(fn: Callable[[T], R], items: Iterable[T], workers: int) -> list[R]:
    """``[fn(item) for item in items]``, ``workers`` at a time on threads, in order. For independent model
    fits: LightGBM and NumPy release the GIL, so two single-threaded fits use two cores, and a fit seeded on
    its own gives the same result whichever thread runs it."""
    if workers <= 1:
        return [fn(item) for item in items]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(fn, items))


def temporal_validation_mask(time: np.ndarray, y: np.ndarray, fraction: float) -> np.ndarray:
    """Rows of the last origination year(s) to hold out for early stopping.

    The latest year always; earlier years are added, latest first, while that brings the held-out share
    closer to ``fraction`` or the slice still lacks a default or a repaid loan. The earliest year always
    stays in training.
    """
    years = np.unique(time)
    if len(years) < 2:
        raise ModelInputError(f"time: temporal early stopping needs at least two origination years, got "
                              f"{years.tolist()}")
    mask = time == years[-1]
    for year in years[-2:0:-1]:
        yv = y[mask]
        both = 0 < yv.sum() < len(yv)
        grown = mask | (time == year)
        if both and abs(grown.mean() - fraction) >= abs(mask.mean() - fraction):
            break
        mask = grown
    return mask


class LGBMDefaultModel(BaseEstimator, ClassifierMixin):
    """Gradient-boosted trees (LightGBM) predicting the probability of default.

    Parameters
    ----------
    n_estimators : int
        Maximum number of trees; early stopping usually keeps fewer.
    learning_rate, num_leaves, min_child_samples, reg_lambda, subsample, colsample_bytree
        LightGBM settings (``min_data_in_leaf``, ``lambda_l2``, ``bagging_fraction``,
        ``feature_fraction``). Small leaves and a large ``min_child_samples`` suit rare defaults.
    monotone_directions : dict[str, int] or None
        Indicator id to +1 (higher value, lower default risk) or -1 (higher value, higher risk), in the
        project's convention; ids not listed are unconstrained. ``None``: no constraints.
    early_stopping_rounds : int or None
        Stop when the validation log-loss has not improved for this many rounds; ``None`` trains all
        ``n_estimators`` trees on all rows (unless ``eval_set`` is given, which is then only scored).
    validation_fraction : float
        Share of the training rows held out for early stopping (the last year(s) when ``time`` is given).
    n_jobs : int
        LightGBM threads. Results are bit-identical for the same data, settings and ``n_jobs``.
    seed : int
        Seeds the validation split, bagging and feature subsampling.

    Attributes
    ----------
    booster_ : lightgbm.Booster
        The fitted booster, cut to ``best_iteration_`` trees.
    best_iteration_ : int
        Number of trees kept.
    feature_names_ : list[str]
        Indicator ids in training order.
    validation_auc_, validation_logloss_ : float
        Scores on the validation slice (NaN without one).
    n_validation_ : int
        Rows in the validation slice (0 without one).
    validation_years_ : list
        Origination years of the validation slice when ``time`` was given, else ``[]``.

    Notes
    -----
    No resampling and no class weights: both would shift the predicted probabilities away from the true
    default rate. Early stopping uses the validation log-loss (proper, calibration-sensitive); the AUC is
    reported alongside. Missing values are routed by LightGBM itself (each split learns where NaN goes).
    The final booster is trained on the training slice only: the validation rows are not refitted, so the
    reported validation scores are honest.
    """

    def __init__(
        self,
        n_estimators=400,
        learning_rate=0.05,
        num_leaves=15,
        min_child_samples=50,
        reg_lambda=1.0,
        subsample=0.8,
        colsample_bytree=0.8,
        monotone_directions=None,
        early_stopping_rounds=50,
        validation_fraction=0.2,
        n_jobs=2,
        seed=0,
    ):
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.reg_lambda = reg_lambda
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.monotone_directions = monotone_directions
        self.early_stopping_rounds = early_stopping_rounds
        self.validation_fraction = validation_fraction
        self.n_jobs = n_jobs
        self.seed = seed

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags

    def _params(self, names: list[str]) -> dict:
        """LightGBM parameters, with every source of randomness seeded and threading fixed."""
        if not (isinstance(self.n_estimators, int | np.integer) and self.n_estimators >= 1):
            raise ModelInputError(f"n_estimators must be a positive integer, got {self.n_estimators!r}")
        for name in ("subsample", "colsample_bytree"):
            value = getattr(self, name)
            if not 0 < value <= 1:
                raise ModelInputError(f"{name} must be in (0, 1], got {value!r}")
        params = {
            "objective": "binary",
            "metric": ["binary_logloss", "auc"],
            "first_metric_only": True,
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_data_in_leaf": self.min_child_samples,
            "lambda_l2": self.reg_lambda,
            "bagging_fraction": self.subsample,
            # bagging is only active with a positive frequency
            "bagging_freq": 1 if self.subsample < 1 else 0,
            "feature_fraction": self.colsample_bytree,
            "num_threads": self.n_jobs,
            "deterministic": True,
            "force_row_wise": True,
            "seed": self.seed,
            "bagging_seed": self.seed,
            "feature_fraction_seed": self.seed,
            "data_random_seed": self.seed,
            "verbosity": -1,
        }
        mono = _lgb_monotone(self.monotone_directions, names)
        if mono is not None and any(mono):
            params["monotone_constraints"] = mono
        return params

    def _split(self, X: pd.DataFrame, y: np.ndarray, eval_set, time):
        """Training and validation rows: the given eval_set, the last year(s), or a stratified split."""
        if eval_set is not None:
            if isinstance(eval_set, list):
                if len(eval_set) != 1:
                    raise ModelInputError("eval_set: give one (X_val, y_val) pair")
                eval_set = eval_set[0]
            Xv = _align(eval_set[0], list(X.columns), "eval_set X")
            yv = check_target(eval_set[1], len(Xv))
            return X, y, Xv, yv, []
        if self.early_stopping_rounds is None or not self.validation_fraction:
            return X, y, None, None, []
        if not 0 < self.validation_fraction < 1:
            raise ModelInputError(f"validation_fraction must be in (0, 1), got {self.validation_fraction!r}")
        if time is not None:
            t = np.asarray(time)
            if t.shape != (len(X),) or pd.isna(pd.Series(t)).any():
                raise ModelInputError(f"time: expected one origination year per row of X ({len(X)}), no "
                                      f"missing values; got shape {t.shape}")
            val = temporal_validation_mask(t, y, self.validation_fraction)
            return X[~val], y[~val], X[val], y[val], sorted(np.unique(t[val]).tolist())
        if min(y.sum(), len(y) - y.sum()) < 2:
            raise ModelInputError("y: a stratified validation split needs at least two defaults and two "
                                  "repaid loans")
        idx = np.arange(len(X))
        tr, va = train_test_split(idx, test_size=self.validation_fraction, stratify=y,
                                  random_state=self.seed)
        tr, va = np.sort(tr), np.sort(va)
        return X.iloc[tr], y[tr], X.iloc[va], y[va], []

    def fit(self, X, y, *, eval_set=None, time=None):
        """Fit on ``X`` (indicator frame, NaN = missing) and ``y`` (1 = defaulted).

        Parameters
        ----------
        eval_set : (DataFrame, array) or None
            Explicit validation data for early stopping; overrides the internal split.
        time : array-like or None
            Origination year per row. When given, the validation slice is the last year(s), so the
            stopping point is chosen on later loans than the trees were grown on (no look-ahead).
        """
        Xf = check_features(X)
        yf = check_target(y, len(Xf))
        names = list(Xf.columns)
        params = self._params(names)
        Xt, yt, Xv, yv, years = self._split(Xf, yf, eval_set, time)
        train = lgb.Dataset(Xt.to_numpy(), label=yt, feature_name=names, free_raw_data=True)
        callbacks, valid = [], []
        if Xv is not None:
            valid = [lgb.Dataset(Xv.to_numpy(), label=yv, reference=train)]
            if self.early_stopping_rounds is not None:
                callbacks.append(lgb.early_stopping(self.early_stopping_rounds, first_metric_only=True,
                                                    verbose=False))
        booster = lgb.train(params, train, num_boost_round=int(self.n_estimators), valid_sets=valid,
                            callbacks=callbacks)
        best = booster.best_iteration if booster.best_iteration > 0 else booster.current_iteration()
        # Cut to the kept trees so every later predict (ours or a caller's) uses the same model.
        self.booster_ = lgb.Booster(model_str=booster.model_to_string(num_iteration=best))
        self.best_iteration_ = int(best)
        self.feature_names_ = names
        self.feature_names_in_ = np.asarray(names, dtype=object)
        self.n_features_in_ = len(names)
        self.classes_ = np.array([0, 1])
        self.n_validation_ = 0 if Xv is None else len(Xv)
        self.validation_years_ = years
        if Xv is None:
            self.validation_auc_ = self.validation_logloss_ = math.nan
        else:
            pv = self.booster_.predict(Xv.to_numpy(), num_threads=self.n_jobs)
            self.validation_auc_ = _auc(yv, pv)
            self.validation_logloss_ = float(log_loss(yv, pv, labels=[0, 1]))
        return self

    def decision_function(self, X) -> np.ndarray:
        """Default log-odds per row."""
        check_is_fitted(self)
        return self.booster_.predict(_align(X, self.feature_names_, "X").to_numpy(), raw_score=True,
                                     num_threads=self.n_jobs)

    def predict_proba(self, X) -> np.ndarray:
        """(n, 2) array: P(repaid), P(default)."""
        p = expit(self.decision_function(X))
        return np.column_stack([1.0 - p, p])

    def predict(self, X) -> np.ndarray:
        """1 where P(default) >= 0.5 (rarely useful for rare defaults: rank by ``predict_proba``)."""
        return (self.predict_proba(X)[:, 1] >= 0.5).astype("int64")

    def contributions(self, X) -> pd.DataFrame:
        """Exact TreeSHAP values on the default log-odds: one column per indicator plus ``bias``.

        Each row sums to :meth:`decision_function` for that row (LightGBM ``pred_contrib``).
        """
        check_is_fitted(self)
        Xf = _align(X, self.feature_names_, "X")
        values = self.booster_.predict(Xf.to_numpy(), pred_contrib=True, num_threads=self.n_jobs)
        return pd.DataFrame(values, index=Xf.index, columns=[*self.feature_names_, BIAS])


# ------------------------------------------------------------------------------------------ logistic


class TreeSubsets:
    """Raw scores of a fitted LightGBM model after some columns change, rescoring only the trees that use them.

    A tree that never splits on a column gives every row the same output whatever the column holds. So the
    score after ``columns`` changed is the other trees' outputs, kept from the rows before the change, plus a
    sub-model of the trees that split on ``columns`` (cut from the booster's text format: ``Tree=`` blocks,
    ``split_feature`` holding the data's column positions) scoring the changed rows: a fraction of the whole
    model's cost. The permutation importances of the evidence (:mod:`innopoints.models.learning.evidence`) score
    the same rows once per indicator and twin cluster, and a 7-leaf tree splits on a handful of 60-odd columns.

    Each tree's output comes from its leaf (``pred_leaf``), so two rows with the same leaves in every tree get
    bit-identical scores: ties stay ties, and rank statistics such as the AUC equal the whole model's. A test
    compares the scores with the whole model's predictions.
    """

    def __init__(self, booster: lgb.Booster):
        text = booster.model_to_string()
        head, rest = text.split("\nTree=0\n", 1)
        trees, self._tail = rest.split("\nend of trees\n", 1)
        header = dict(line.split("=", 1) for line in head.splitlines() if "=" in line)
        if header.get("num_tree_per_iteration", "1") != "1":
            raise ValueError("TreeSubsets reads models with one tree per iteration (binary or regression) only")
        # tree_sizes locates the original trees in the text; a sub-model is parsed tree by tree without it.
        self._head = "\n".join(line for line in head.splitlines() if not line.startswith("tree_sizes="))
        self._trees = [t.strip("\n") for t in ("Tree=0\n" + trees).split("\n\n\n") if t.strip()]
        if len(self._trees) != booster.num_trees():
            raise ValueError(f"read {len(self._trees)} trees of {booster.num_trees()} from the model text")
        fields = [dict(line.split("=", 1) for line in t.splitlines()[1:] if "=" in line) for t in self._trees]
        if any(f.get("is_linear", "0") != "0" for f in fields):
            raise ValueError("TreeSubsets reads constant-leaf trees only (a linear tree uses columns it does "
                             "not split on)")
        self._features = [frozenset(int(v) for v in f.get("split_feature", "").split()) for f in fields]
        self._leaf_values = [np.array(f["leaf_value"].split(), dtype="float64") for f in fields]
        self._booster = booster

    def trees_using(self, columns) -> list[int]:
        """Positions of the trees that split on any of ``columns`` (column positions of the data)."""
        wanted = {int(c) for c in np.atleast_1d(columns)}
        return [t for t, used in enumerate(self._features) if used & wanted]

    def per_tree(self, X: np.ndarray) -> np.ndarray:
        """(rows, trees): every tree's output for every row of ``X``; a row's sum is its raw score."""
        leaves = self._booster.predict(X, pred_leaf=True, num_threads=1).reshape(len(X), -1)
        # C order, like the copies raw_score sums: the same row gives the same sum either way.
        return np.ascontiguousarray(np.column_stack([v[leaves[:, t]] for t, v in enumerate(self._leaf_values)]))

    def raw_score(self, before: np.ndarray, after: np.ndarray, columns) -> np.ndarray:
        """Raw score of the rows ``after``, which differ from the rows behind ``before`` (their :meth:`per_tree`)
        only in ``columns``."""
        picked = self.trees_using(columns)
        others = np.ones(before.shape[1], dtype=bool)
        others[picked] = False
        kept = np.ascontiguousarray(before[:, others]).sum(axis=1)  # C order, as before: no tree picked, its sum
        if not picked:
            return kept
        body = "\n\n".join(f"Tree={j}\n" + self._trees[t].partition("\n")[2] for j, t in enumerate(picked))
        sub = lgb.Booster(model_str=f"{self._head}\n\n{body}\n\n\nend of trees\n{self._tail}")
        return kept + sub.predict(after, raw_score=True, num_threads=1)


def _column_transform(values: pd.Series, transform: str) -> dict:
    """Learn one column's transform from its observed training values."""
    obs = values.dropna()
    n_missing = int(values.isna().sum())
    if obs.empty:
        # Nothing observed: the column is a constant 0 after scaling; only its missing flag can matter.
        return {"log1p": False, "clip_low": 0.0, "clip_high": 0.0, "mean": 0.0, "sd": 1.0, "median": 0.0,
                "skew": math.nan, "n_missing": n_missing}
    nonneg = bool(obs.min() >= 0)
    skew = float(obs.skew()) if len(obs) > 2 else math.nan
    use_log = nonneg and (transform == "log1p" or (transform == "auto" and skew > SKEW_THRESHOLD))
    t = np.log1p(obs) if use_log else obs
    lo, hi = (float(q) for q in np.quantile(t, WINSOR_QUANTILES))
    t = t.clip(lo, hi)
    sd = float(t.std(ddof=0))
    return {
        "log1p": use_log,
        "clip_low": lo,
        "clip_high": hi,
        "mean": float(t.mean()),
        # a constant column would divide by zero; scaled to 0 it simply carries no weight
        "sd": sd if sd > 0 else 1.0,
        "median": float(t.median()),
        "skew": skew,
        "n_missing": n_missing,
    }


def _apply_transform(X: pd.DataFrame, transform: pd.DataFrame, flags: bool) -> pd.DataFrame:
    """Design matrix: transformed, clipped, standardised columns (missing → median) plus missing flags."""
    cols, flag_cols = {}, {}
    for name, row in transform.iterrows():
        v = X[name]
        t = np.log1p(v.clip(lower=0)) if row["log1p"] else v
        t = t.clip(row["clip_low"], row["clip_high"]).fillna(row["median"])
        cols[name] = (t - row["mean"]) / row["sd"]
        if flags:
            flag_cols[f"{name}{MISSING_SUFFIX}"] = v.isna().astype("float64")
    return pd.DataFrame({**cols, **flag_cols}, index=X.index)


class LogisticDefaultModel(BaseEstimator, ClassifierMixin):
    """L2-regularised logistic regression of default on transformed indicators.

    Per column, learned on training rows only: ``log1p`` for heavy-tailed non-negative columns (skewness
    above :data:`SKEW_THRESHOLD` when ``transform="auto"``; every non-negative column with ``"log1p"``;
    never with ``"none"``), clipping at the training 1st/99th percentiles, standardisation. A missing value
    is set to the training median (so it adds nothing through the value term) and flagged in a
    ``<id>__missing`` 0/1 column whose coefficient is the extra log-odds of not delivering the value.

    Parameters
    ----------
    C : float
        Inverse L2 strength (scikit-learn ``LogisticRegression``).
    transform : {"auto", "log1p", "none"}
        Which non-negative columns get ``log1p``.
    missing_indicators : bool
        Add the ``<id>__missing`` flag columns (one per indicator).
    seed : int
        Passed to the solver (lbfgs is deterministic; kept for a uniform interface).
    max_iter : int
        Solver iterations.

    Attributes
    ----------
    coef_ : pandas.Series
        Per indicator, the change in default log-odds for one training standard deviation of the
        transformed value (positive = higher value, higher risk).
    missing_coef_ : pandas.Series
        Per indicator, the log-odds effect of the value being missing (empty without flags).
    intercept_ : float
        Default log-odds of a firm at the training means with nothing missing.
    transform_ : pandas.DataFrame
        Per indicator: ``log1p``, ``clip_low``/``clip_high``/``mean``/``sd``/``median`` (on the log1p scale
        when ``log1p`` is true), ``skew`` of the raw values and ``n_missing`` in training.
    design_columns_ : list[str]
        Columns of the design matrix in solver order.

    Notes
    -----
    No class weights: they would move the intercept away from the true default rate.
    """

    def __init__(self, C=1.0, transform="auto", missing_indicators=True, seed=0, max_iter=2000):
        self.C = C
        self.transform = transform
        self.missing_indicators = missing_indicators
        self.seed = seed
        self.max_iter = max_iter

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags

    def fit(self, X, y):
        """Learn the column transforms and the coefficients from ``X`` and ``y`` (1 = defaulted)."""
        if self.transform not in TRANSFORMS:
            raise ModelInputError(f"transform must be one of {list(TRANSFORMS)}, got {self.transform!r}")
        if not self.C > 0:
            raise ModelInputError(f"C must be positive, got {self.C!r}")
        Xf = check_features(X)
        yf = check_target(y, len(Xf))
        names = list(Xf.columns)
        self.transform_ = pd.DataFrame(
            [_column_transform(Xf[c], self.transform) for c in names], index=pd.Index(names, name="feature")
        )
        design = _apply_transform(Xf, self.transform_, bool(self.missing_indicators))
        model = LogisticRegression(C=self.C, l1_ratio=0.0, solver="lbfgs", max_iter=self.max_iter,
                                   random_state=self.seed)
        model.fit(design.to_numpy(), yf)
        coefs = pd.Series(model.coef_[0], index=design.columns)
        self.model_ = model
        self.design_columns_ = list(design.columns)
        self.feature_names_ = names
        self.feature_names_in_ = np.asarray(names, dtype=object)
        self.n_features_in_ = len(names)
        self.classes_ = np.array([0, 1])
        self.coef_ = coefs[names].rename("coef")
        flag_names = [f"{c}{MISSING_SUFFIX}" for c in names] if self.missing_indicators else []
        self.missing_coef_ = pd.Series(coefs[flag_names].to_numpy() if flag_names else [], dtype="float64",
                                       index=pd.Index(names if flag_names else [], name="feature"),
                                       name="missing_coef")
        self.intercept_ = float(model.intercept_[0])
        return self

    def design(self, X) -> pd.DataFrame:
        """The design matrix the solver sees for ``X`` (transformed columns and missing flags)."""
        check_is_fitted(self)
        return _apply_transform(_align(X, self.feature_names_, "X"), self.transform_,
                                bool(self.missing_indicators))

    def decision_function(self, X) -> np.ndarray:
        """Default log-odds per row."""
        check_is_fitted(self)
        return self.model_.decision_function(self.design(X).to_numpy())

    def predict_proba(self, X) -> np.ndarray:
        """(n, 2) array: P(repaid), P(default)."""
        p = expit(self.decision_function(X))
        return np.column_stack([1.0 - p, p])

    def predict(self, X) -> np.ndarray:
        """1 where P(default) >= 0.5."""
        return (self.predict_proba(X)[:, 1] >= 0.5).astype("int64")
