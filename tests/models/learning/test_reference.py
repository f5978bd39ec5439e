"""Tests for models/learning/reference.py: tuning LightGBM's capacity on the validation year, and the refit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

from innopoints.features.errors import ModelInputError
from innopoints.models.evaluation.metrics import log_loss
from innopoints.models.learning.learners import LGBMDefaultModel
from innopoints.models.learning.reference import (
    COARSE_TREES,
    FINE_RATE,
    FINE_TREES,
    GRID,
    ReferenceTuning,
    fit_reference,
    tune_reference,
)

N_FIT = 3000


def make_data(n: int = 4000, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Few defaults (about 2 %): three informative indicators, one U-shaped, six noise columns, NaNs in one."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({
        "patents": rng.normal(size=n),  # lowers risk
        "leverage": rng.normal(size=n),  # raises risk
        "age": rng.normal(size=n),  # risk rises away from the middle: not monotone
        "revenue_g": rng.normal(size=n),  # lowers risk, 30 % missing
        **{f"noise_{i}": rng.normal(size=n) for i in range(4)},
        "noise_u": rng.uniform(size=n),
        "noise_int": rng.integers(0, 5, size=n).astype("float64"),
    })
    logit = -5.3 - 0.8 * X["patents"] + 0.8 * X["leverage"] + 0.5 * X["age"] ** 2 - 0.5 * X["revenue_g"]
    y = (rng.uniform(size=n) < expit(logit)).astype("int64")
    X.loc[rng.uniform(size=n) < 0.3, "revenue_g"] = np.nan
    return X, y


@pytest.fixture(scope="module")
def data():
    X, y = make_data()
    # the last 1,000 loans play the validation year
    return X.iloc[:N_FIT], y[:N_FIT], X.iloc[N_FIT:], y[N_FIT:]


@pytest.fixture(scope="module")
def tuned(data):
    return tune_reference(*data, seed=0)


def test_synthetic_data_has_few_defaults(data):
    _, y_fit, _, y_valid = data
    # the regime the tuning is for: dozens of defaults, not thousands
    assert 0.01 < np.concatenate([y_fit, y_valid]).mean() < 0.03
    assert y_valid.sum() >= 10


# ---------------------------------------------------------------------------------------------- tuning


def test_tuned_beats_default_settings_on_validation_log_loss(tuned, data):
    X_fit, y_fit, X_valid, y_valid = data
    default = LGBMDefaultModel(seed=0, n_jobs=1).fit(X_fit, y_fit, eval_set=(X_valid, y_valid))
    default_loss = log_loss(y_valid, default.predict_proba(X_valid)[:, 1])
    # same rows, same early stopping on the same validation loans: only the settings differ
    assert tuned.validation_log_loss <= default_loss


def test_chosen_params_are_in_the_grid_and_refined_at_the_fine_rate(tuned):
    assert isinstance(tuned, ReferenceTuning)
    assert set(tuned.params) == {"learning_rate", *GRID}
    assert all(tuned.params[k] in values for k, values in GRID.items())
    table = tuned.table
    assert len(table) == 18 + 1  # every grid point, then the best one at the fine rate
    assert table["stage"].tolist() == ["coarse"] * 18 + ["fine"]
    assert table["chosen"].tolist() == [False] * 18 + [True]
    row = table.iloc[-1]
    assert tuned.params["learning_rate"] == FINE_RATE
    assert row["validation_log_loss"] == tuned.validation_log_loss
    assert row["validation_auc"] == tuned.validation_auc
    assert row["n_trees"] == tuned.n_trees
    assert {k: row[k] for k in tuned.params} == tuned.params


def test_fine_stage_retrains_the_best_coarse_grid_point(tuned):
    table = tuned.table
    coarse = table[table["stage"] == "coarse"]
    best = coarse.loc[coarse["validation_log_loss"].idxmin(), list(GRID)]
    fine = table[table["stage"] == "fine"].iloc[0]
    assert fine[list(GRID)].tolist() == best.tolist()
    assert fine["learning_rate"] < coarse["learning_rate"].iloc[0]


def test_tree_counts_respect_the_caps(tuned):
    table = tuned.table
    coarse = table["stage"] == "coarse"
    assert table.loc[coarse, "n_trees"].between(1, COARSE_TREES).all()
    assert table.loc[~coarse, "n_trees"].between(1, FINE_TREES).all()
    assert table["validation_auc"].between(0.5, 1.0).all()  # planted signal is found by every model


def test_a_smaller_grid_is_honoured(data):
    result = tune_reference(*data, seed=0, grid={"num_leaves": [3, 7]})
    assert result.table["num_leaves"].tolist() == [3, 7, result.table["num_leaves"].iloc[-1]]
    assert result.params["num_leaves"] in (3, 7)
    assert set(result.params) == {"learning_rate", "num_leaves"}


# --------------------------------------------------------------------------------------------- refit


def test_refit_grows_exactly_the_chosen_trees_on_all_rows(tuned, data):
    X = pd.concat([data[0], data[2]])
    y = np.concatenate([data[1], data[3]])
    model = fit_reference(X, y, tuned.params, tuned.n_trees, seed=0)
    assert isinstance(model, LGBMDefaultModel)
    assert model.best_iteration_ == tuned.n_trees
    assert model.booster_.num_trees() == tuned.n_trees
    assert model.n_validation_ == 0  # no rows held back: the validation year is training data now
    assert model.learning_rate == tuned.params["learning_rate"]


# ---------------------------------------------------------------------------------------- determinism


def test_tuning_twice_gives_identical_params_table_and_predictions(tuned, data):
    # Again on two threads, each with its own copy of the binned data: the same table, to the bit.
    again = tune_reference(*data, seed=0, workers=2)
    assert again.params == tuned.params
    assert again.n_trees == tuned.n_trees
    pd.testing.assert_frame_equal(again.table, tuned.table)
    X = pd.concat([data[0], data[2]])
    y = np.concatenate([data[1], data[3]])
    a = fit_reference(X, y, tuned.params, tuned.n_trees, seed=0).predict_proba(X)
    b = fit_reference(X, y, again.params, again.n_trees, seed=0).predict_proba(X)
    assert np.array_equal(a, b)


# ------------------------------------------------------------------------------------------- monotone


def _risk_along(model: LGBMDefaultModel, X: pd.DataFrame, feature: str) -> np.ndarray:
    """Default probability of 40 base firms (rows) as ``feature`` moves over a 25-point grid (columns)."""
    base = X.dropna().iloc[:40]
    return np.column_stack([model.predict_proba(base.assign(**{feature: v}))[:, 1]
                            for v in np.linspace(-3, 3, 25)])


def test_monotone_directions_are_honoured_in_tuning_and_refit(data):
    X_fit, y_fit, X_valid, y_valid = data
    X = pd.concat([X_fit, X_valid])
    y = np.concatenate([y_fit, y_valid])
    small = {"num_leaves": [3, 7], "min_child_samples": [20]}
    fitted = {}
    for name, directions in {"constrained": {"age": 1, "leverage": -1}, "free": None}.items():
        result = tune_reference(X_fit, y_fit, X_valid, y_valid, seed=0, grid=small,
                                monotone_directions=directions)
        fitted[name] = fit_reference(X, y, result.params, result.n_trees, seed=0,
                                     monotone_directions=directions)
    # +1 (higher is better): risk must not rise with age, although it truly does for positive ages
    assert (np.diff(_risk_along(fitted["constrained"], X, "age"), axis=1) <= 0).all()
    assert (np.diff(_risk_along(fitted["constrained"], X, "leverage"), axis=1) >= 0).all()
    # the free model follows the U shape upwards, so the first check could fail
    assert (np.diff(_risk_along(fitted["free"], X, "age"), axis=1) > 0).any()


# ------------------------------------------------------------------------------------------ bad input


def test_validation_without_defaults_is_refused(data):
    X_fit, y_fit, X_valid, y_valid = data
    with pytest.raises(ModelInputError, match=r"y_valid: the validation rows have no defaults \(1000 loans\)"):
        tune_reference(X_fit, y_fit, X_valid, np.zeros_like(y_valid), seed=0)


def test_validation_with_other_columns_is_refused(data):
    X_fit, y_fit, X_valid, y_valid = data
    with pytest.raises(ModelInputError, match=r"X_valid: columns differ from X_fit; missing \['age'\]"):
        tune_reference(X_fit, y_fit, X_valid.drop(columns="age"), y_valid, seed=0)


def test_bad_fit_flags_are_named(data):
    X_fit, y_fit, X_valid, y_valid = data
    with pytest.raises(ModelInputError, match="y_fit: default flag must be 0/1"):
        tune_reference(X_fit, y_fit * 2, X_valid, y_valid, seed=0)


def test_grid_with_a_fixed_setting_is_refused(data):
    with pytest.raises(ModelInputError, match=r"grid: unknown or fixed LightGBM setting\(s\) \['n_estimators'\]"):
        tune_reference(*data, seed=0, grid={"num_leaves": [3], "n_estimators": [100]})


def test_grid_with_no_values_is_refused(data):
    with pytest.raises(ModelInputError, match=r"grid: each setting needs a non-empty list of values.*num_leaves"):
        tune_reference(*data, seed=0, grid={"num_leaves": []})


def test_refit_refuses_a_non_positive_tree_count(tuned, data):
    with pytest.raises(ModelInputError, match="n_trees must be a positive integer"):
        fit_reference(data[0], data[1], tuned.params, 0, seed=0)


def test_refit_refuses_settings_that_are_not_tunable(tuned, data):
    with pytest.raises(ModelInputError, match=r"params: unknown or fixed LightGBM setting\(s\) \['seed'\]"):
        fit_reference(data[0], data[1], {**tuned.params, "seed": 1}, tuned.n_trees, seed=0)
