"""Tuned reference models: LightGBM with its capacity chosen on the validation year.

A readable formula is compared with machine-learning models as "what the data could give". That comparison
is only fair when the reference is fitted well: with a few hundred training defaults, LightGBM with fixed,
generic settings overfits and can rank worse than a logistic regression. Here its capacity is tuned on the
validation year instead, over a deliberately small grid (:data:`GRID`) that spans the range sensible for
rare defaults:

- ``num_leaves`` 3, 7, 15: from near-additive trees (two splits) to modest interactions;
- ``min_child_samples`` 20, 80, 200: how many loans a leaf must hold; at a 1-3 % default rate a leaf of 20
  loans holds less than one default on average, one of 200 loans a few;
- ``reg_lambda`` 0, 10: none, or strong L2 shrinkage of the leaf values (at a 3 % default rate a leaf of
  200 loans has a hessian sum near 6, so 10 more than halves what such a leaf adds).

The search runs in two stages, the usual recipe for boosted trees:

1. *coarse*: every grid point at learning rate :data:`COARSE_RATE`, at most :data:`COARSE_TREES` trees;
2. *fine*: the best grid point again at :data:`FINE_RATE`, at most :data:`FINE_TREES` trees.

Both stop early when the validation log loss has not improved for :data:`COARSE_PATIENCE` /
:data:`FINE_PATIENCE` rounds (20 rounds at 0.1 move about as far as 67 at 0.03), so the number of trees is
tuned too. Ranking the grid points at the coarse rate needs about a third of the trees: tuning every grid
point at the fine rate took about three times as long (over 40 s on 100,000 loans and two cores).

Grid points are ranked by validation log loss, a proper scoring rule, so calibrated default probabilities
are what is rewarded; the validation AUC is reported alongside. The fine model is the one chosen, even when
the coarse winner scored a little better: that score is the best of 18 noisy ones and so flattered (on
synthetic loans with about 200 defaults, the fine model did better on fresh loans in most repetitions).
Bagging and feature sampling keep :class:`LGBMDefaultModel`'s values.
:func:`fit_reference` then refits the chosen settings on all training rows (the validation year included)
with the chosen number of trees.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
import pandas as pd

from innopoints.features.errors import ModelInputError
from innopoints.models.evaluation.metrics import auc, log_loss
from innopoints.models.learning.learners import LGBMDefaultModel, check_features, check_target, map_on_threads

GRID: dict[str, tuple] = {
    "num_leaves": (3, 7, 15),
    "min_child_samples": (20, 80, 200),
    "reg_lambda": (0.0, 10.0),
}
"""Capacity settings tried by :func:`tune_reference`: every combination, 18 grid points."""

CAPACITY = ("num_leaves", "min_child_samples", "reg_lambda", "subsample", "colsample_bytree")
"""LightGBM settings a grid may vary (keyword arguments of :class:`LGBMDefaultModel`)."""

COARSE_RATE, COARSE_TREES, COARSE_PATIENCE = 0.1, 200, 20
"""Learning rate, most trees and early-stopping rounds of the coarse stage (ranking the grid points)."""

FINE_RATE, FINE_TREES, FINE_PATIENCE = 0.03, 600, 50
"""Learning rate, most trees and early-stopping rounds of the fine stage (the best grid point again)."""


@dataclass(frozen=True)
class ReferenceTuning:
    """Outcome of :func:`tune_reference`.

    Attributes
    ----------
    params : dict
        The chosen LightGBM settings: keyword arguments of :class:`LGBMDefaultModel`, learning rate
        included, number of trees excluded.
    n_trees : int
        Trees kept by early stopping for the chosen settings; what :func:`fit_reference` grows.
    validation_log_loss, validation_auc : float
        Scores of the chosen settings on the validation rows (trained on the fit rows only).
    table : pandas.DataFrame
        One row per model tried: ``stage`` (``"coarse"`` for each grid point in grid order, then one
        ``"fine"``), ``learning_rate``, the grid settings, ``validation_log_loss``, ``validation_auc``,
        ``n_trees`` and ``chosen`` (True on the fine row only).
    """

    params: dict
    n_trees: int
    validation_log_loss: float
    validation_auc: float
    table: pd.DataFrame


def tune_reference(
    X_fit: pd.DataFrame,
    y_fit,
    X_valid: pd.DataFrame,
    y_valid,
    *,
    seed: int,
    monotone_directions: Mapping[str, int] | None = None,
    grid: Mapping[str, Sequence] | None = None,
    n_jobs: int = 1,
    workers: int = 1,
) -> ReferenceTuning:
    """Choose LightGBM's capacity and number of trees by validation log loss.

    Every model is trained on ``X_fit`` and stopped early on ``(X_valid, y_valid)``; the grid point with
    the lowest log loss is retrained at the fine rate, and that model is the one chosen (see the module
    docstring). Ties go to the earlier grid point (the simpler settings in :data:`GRID`).

    Args:
        X_fit, y_fit: training rows before the validation year (indicator frame, NaN = missing; 1 = default).
        X_valid, y_valid: the validation year, same columns; needs defaults and repaid loans.
        seed: seeds every model.
        monotone_directions: indicator id to +1 / -1 (project convention), applied to every model.
        grid: setting name (from :data:`CAPACITY`) to the values to try; ``None`` uses :data:`GRID`.
        n_jobs: LightGBM threads (results are identical for the same data, ``seed`` and ``n_jobs``).
        workers: grid points trained at a time, each on its own copy of the binned data (results do not
            depend on it; LightGBM releases the GIL, so two workers use two cores with ``n_jobs=1``).

    Returns:
        :class:`ReferenceTuning` with the chosen settings, their number of trees and the table of all models.
    """
    points = _grid_points(GRID if grid is None else grid)
    Xf = check_features(X_fit, what="X_fit")
    yf = _target(y_fit, len(Xf), "y_fit")
    names = list(Xf.columns)
    Xv, yv = _validation(X_valid, y_valid, names)
    # Bin the data once per thread for all the models it trains (the grid's workers, then the calling thread
    # for the fine stage): binning 100,000 loans costs about as much as 100 small trees. The same data and
    # seed give the same bins in every copy.
    binning = {"feature_pre_filter": False, "data_random_seed": seed, "num_threads": n_jobs, "verbosity": -1}
    local = threading.local()

    def datasets() -> tuple[lgb.Dataset, lgb.Dataset]:
        if not hasattr(local, "sets"):
            fit_set = lgb.Dataset(Xf.to_numpy(), label=yf, feature_name=names, params=binning, free_raw_data=False)
            local.sets = fit_set, lgb.Dataset(Xv.to_numpy(), label=yv, reference=fit_set, params=binning,
                                              free_raw_data=False)
        return local.sets

    def score(stage: str, settings: dict, rate: float, max_trees: int, patience: int) -> dict:
        model = LGBMDefaultModel(**settings, learning_rate=rate, monotone_directions=monotone_directions,
                                 n_jobs=n_jobs, seed=seed)
        # The exact LightGBM parameters the model's own fit uses (seeds, threads, constraints), so the
        # tuned settings mean the same when fit_reference refits them; only the stopping metric is narrowed.
        params = {**model._params(names), "metric": "binary_logloss", "feature_pre_filter": False}
        fit_set, valid_set = datasets()
        booster = lgb.train(params, fit_set, num_boost_round=max_trees, valid_sets=[valid_set],
                            callbacks=[lgb.early_stopping(patience, verbose=False)])
        p = booster.predict(Xv.to_numpy(), num_iteration=booster.best_iteration, num_threads=n_jobs)
        return {"stage": stage, "learning_rate": rate, **settings, "validation_log_loss": log_loss(yv, p),
                "validation_auc": auc(yv, p), "n_trees": int(booster.best_iteration)}

    def coarse(settings: dict) -> dict:
        return score("coarse", settings, COARSE_RATE, COARSE_TREES, COARSE_PATIENCE)

    rows = map_on_threads(coarse, points, workers)
    best = min(range(len(rows)), key=lambda i: rows[i]["validation_log_loss"])  # first of equals: simpler
    row = score("fine", points[best], FINE_RATE, FINE_TREES, FINE_PATIENCE)
    table = pd.DataFrame([*rows, row])
    table["chosen"] = table["stage"] == "fine"
    return ReferenceTuning(
        params={"learning_rate": FINE_RATE, **points[best]},
        n_trees=row["n_trees"],
        validation_log_loss=float(row["validation_log_loss"]),
        validation_auc=float(row["validation_auc"]),
        table=table,
    )


def fit_reference(
    X_train: pd.DataFrame,
    y_train,
    params: Mapping[str, object],
    n_trees: int,
    *,
    seed: int,
    monotone_directions: Mapping[str, int] | None = None,
    n_jobs: int = 1,
) -> LGBMDefaultModel:
    """Refit tuned settings on all training rows with exactly ``n_trees`` trees.

    No early stopping: the validation year is now part of the training rows, so nothing is left to stop on;
    the number of trees was chosen by :func:`tune_reference`.

    Args:
        X_train, y_train: all training rows (fit rows and validation year).
        params: ``ReferenceTuning.params`` (``learning_rate`` and settings from :data:`CAPACITY`).
        n_trees: ``ReferenceTuning.n_trees``.
        seed, monotone_directions, n_jobs: as for :func:`tune_reference`.

    Returns:
        The fitted :class:`LGBMDefaultModel`.
    """
    _check_names(params, ("learning_rate", *CAPACITY), "params")
    if isinstance(n_trees, bool) or not isinstance(n_trees, int | np.integer) or n_trees < 1:
        raise ModelInputError(f"n_trees must be a positive integer (ReferenceTuning.n_trees), got {n_trees!r}")
    return LGBMDefaultModel(
        **params, n_estimators=int(n_trees), early_stopping_rounds=None,
        monotone_directions=monotone_directions, n_jobs=n_jobs, seed=seed,
    ).fit(X_train, y_train)


def _check_names(settings: Mapping, allowed: Sequence[str], what: str) -> None:
    """Only tunable settings: the number of trees, seed, threads and constraints are set elsewhere."""
    unknown = sorted(set(settings) - set(allowed))
    if unknown:
        raise ModelInputError(f"{what}: unknown or fixed LightGBM setting(s) {unknown}; allowed: {list(allowed)}, "
                              f"e.g. {{'num_leaves': [3, 7], 'min_child_samples': [80]}}")


def _grid_points(grid: Mapping[str, Sequence]) -> list[dict]:
    """Every combination of the grid values, the last setting varying fastest."""
    if not isinstance(grid, Mapping) or not grid:
        raise ModelInputError(f"grid: expected a non-empty mapping of setting to values, got {grid!r}")
    _check_names(grid, CAPACITY, "grid")
    empty = [k for k, v in grid.items() if isinstance(v, str) or not isinstance(v, Sequence) or len(v) == 0]
    if empty:
        raise ModelInputError(f"grid: each setting needs a non-empty list of values; not so for {empty}")
    names = list(grid)
    return [{k: _plain(v) for k, v in zip(names, values, strict=True)}
            for values in itertools.product(*(grid[k] for k in names))]


def _plain(value):
    """Python number instead of a numpy scalar, so the chosen settings log and serialise cleanly."""
    return value.item() if isinstance(value, np.generic) else value


def _target(y, n: int, what: str) -> np.ndarray:
    """:func:`check_target` with the message naming which default flags are wrong."""
    try:
        return check_target(y, n)
    except ModelInputError as exc:
        raise ModelInputError(f"{what}: {str(exc).removeprefix('y: ')}") from None


def _validation(X_valid, y_valid, names: list[str]) -> tuple[pd.DataFrame, np.ndarray]:
    """The validation rows with the fit columns in fit order; both outcomes must occur."""
    Xv = check_features(X_valid, what="X_valid")
    missing, extra = [c for c in names if c not in Xv.columns], [c for c in Xv.columns if c not in names]
    if missing or extra:
        raise ModelInputError(f"X_valid: columns differ from X_fit; missing {missing}, unexpected {extra}")
    yv = np.asarray(y_valid)
    values = pd.unique(yv.ravel())
    if yv.shape == (len(Xv),) and len(values) == 1 and values[0] in (0, 1):
        what = "no defaults" if values[0] == 0 else "no repaid loans"
        raise ModelInputError(f"y_valid: the validation rows have {what} ({len(yv)} loans); tuning needs both "
                              f"to score log loss and AUC, e.g. use a longer or another validation period")
    return Xv[names], _target(yv, len(Xv), "y_valid")
