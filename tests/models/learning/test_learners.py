"""Tests for models/learners.py: the scikit-learn contract, determinism, constraints, early stopping, SHAP."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from innopoints.models.learning.learners import (
    BIAS,
    LGBMDefaultModel,
    LogisticDefaultModel,
    ModelInputError,
    map_on_threads,
    temporal_validation_mask,
)

# One thread: the shared test machine is often oversubscribed, and OpenMP spinning then costs seconds.
FAST = {"n_estimators": 150, "n_jobs": 1}


def make_data(n: int = 8000, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Six indicators with a known default logit (about 6 % defaults), five origination years."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({
        "patents": rng.normal(size=n),  # strong, lowers risk (policy +1)
        "leverage": rng.normal(size=n),  # strong, raises risk (policy -1)
        "rd_input": rng.normal(size=n),  # policy +1 but raises risk: the planted sign conflict
        "noise_a": rng.normal(size=n),
        "noise_b": rng.uniform(size=n),
        "revenue_g": rng.normal(size=n),  # moderate, lowers risk, 30 % missing
    })
    logit = -3.6 - 1.0 * X["patents"] + 1.0 * X["leverage"] + 0.5 * X["rd_input"] - 0.4 * X["revenue_g"]
    y = (rng.uniform(size=n) < expit(logit)).astype("int64")
    X.loc[rng.uniform(size=n) < 0.3, "revenue_g"] = np.nan
    years = rng.integers(2019, 2024, size=n)
    return X, y, years


@pytest.fixture(scope="module")
def data():
    return make_data()


@pytest.fixture(scope="module")
def lgbm(data):
    X, y, years = data
    return LGBMDefaultModel(**FAST).fit(X, y, time=years)


# ------------------------------------------------------------------------------------ sklearn contract


@pytest.mark.parametrize("model", [LGBMDefaultModel(), LogisticDefaultModel()])
def test_unfitted_model_raises_not_fitted(model, data):
    X, _, _ = data
    with pytest.raises(NotFittedError):
        model.predict_proba(X)


def test_lgbm_contributions_before_fit_raise_not_fitted(data):
    with pytest.raises(NotFittedError):
        LGBMDefaultModel().contributions(data[0])


@pytest.mark.parametrize(
    "model",
    [LGBMDefaultModel(num_leaves=7, monotone_directions={"patents": 1}, seed=3), LogisticDefaultModel(C=0.5)],
)
def test_init_only_stores_params_and_clone_keeps_them(model):
    params = model.get_params()
    copy = clone(model)
    assert copy.get_params() == params
    assert copy is not model
    assert not [k for k in vars(model) if k.endswith("_")]  # nothing learned in __init__


def test_lgbm_fit_returns_self_and_probabilities(data):
    X, y, _ = data
    model = LGBMDefaultModel(**FAST)
    assert model.fit(X, y) is model
    proba = model.predict_proba(X)
    assert proba.shape == (len(X), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_allclose(proba[:, 1], expit(model.decision_function(X)))
    assert list(model.classes_) == [0, 1]
    assert model.feature_names_ == list(X.columns)


def test_lgbm_predicts_default_risk_not_repayment(lgbm, data):
    X, y, _ = data
    p = lgbm.predict_proba(X)[:, 1]
    # defaulters must get the higher default probability on average (guards the column order)
    assert p[y == 1].mean() > 2 * p[y == 0].mean()
    # no reweighting: the mean predicted PD stays near the observed default rate
    assert p.mean() == pytest.approx(y.mean(), rel=0.15)


# ---------------------------------------------------------------------------------------- determinism


def test_lgbm_same_seed_gives_bit_identical_predictions(data):
    X, y, years = data
    a = LGBMDefaultModel(**FAST, seed=7).fit(X, y, time=years).predict_proba(X)
    b = LGBMDefaultModel(**FAST, seed=7).fit(X, y, time=years).predict_proba(X)
    c = LGBMDefaultModel(**FAST, seed=8).fit(X, y, time=years).predict_proba(X)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)  # the seed reaches bagging / feature sampling


def test_fits_on_two_threads_come_back_in_order_and_as_on_one(data):
    X, y, years = data

    def fit(seed: int) -> np.ndarray:
        return LGBMDefaultModel(**FAST, seed=seed).fit(X, y, time=years).predict_proba(X)[:, 1]

    one, two = map_on_threads(fit, [7, 8, 9], 1), map_on_threads(fit, [7, 8, 9], 2)
    assert all(np.array_equal(a, b) for a, b in zip(one, two, strict=True))
    assert not np.array_equal(one[0], one[1])  # each fit is its own seed's, in the order given


def test_logistic_same_seed_gives_bit_identical_predictions(data):
    X, y, _ = data
    a = LogisticDefaultModel().fit(X, y).predict_proba(X)
    b = LogisticDefaultModel().fit(X, y).predict_proba(X)
    assert np.array_equal(a, b)


# ------------------------------------------------------------------------------------------ monotone


def _risk_on_grid(model, X: pd.DataFrame, feature: str) -> np.ndarray:
    """Default probability of 40 base firms (rows) as ``feature`` moves over a 25-point grid (columns)."""
    base = X.dropna().iloc[:40]
    grid = np.linspace(-3, 3, 25)
    rows = [base.assign(**{feature: v}) for v in grid]
    return np.column_stack([model.predict_proba(r)[:, 1] for r in rows])


def test_monotone_plus_one_makes_risk_non_increasing(data):
    X, y, _ = data
    # rd_input truly raises risk; declaring it +1 (higher is better) must force non-increasing risk anyway
    constrained = LGBMDefaultModel(**FAST, monotone_directions={"rd_input": 1, "leverage": -1}).fit(X, y)
    free = LGBMDefaultModel(**FAST).fit(X, y)
    assert (np.diff(_risk_on_grid(constrained, X, "rd_input"), axis=1) <= 0).all()
    assert (np.diff(_risk_on_grid(constrained, X, "leverage"), axis=1) >= 0).all()
    # the unconstrained model follows the data upwards, so the check above can fail
    assert (np.diff(_risk_on_grid(free, X, "rd_input"), axis=1) > 0).any()


def test_monotone_unknown_indicator_is_named(data):
    X, y, _ = data
    with pytest.raises(ModelInputError, match="not_an_indicator"):
        LGBMDefaultModel(**FAST, monotone_directions={"not_an_indicator": 1}).fit(X, y)


def test_monotone_bad_value_is_named(data):
    X, y, _ = data
    with pytest.raises(ModelInputError, match="patents"):
        LGBMDefaultModel(**FAST, monotone_directions={"patents": 2}).fit(X, y)


# ------------------------------------------------------------------------------------ early stopping


def test_time_holds_out_only_the_last_year(lgbm, data):
    _, _, years = data
    assert lgbm.validation_years_ == [2023]
    assert lgbm.n_validation_ == int((years == 2023).sum())
    assert 1 <= lgbm.best_iteration_ < FAST["n_estimators"]
    assert lgbm.booster_.num_trees() == lgbm.best_iteration_  # booster cut to the kept trees
    assert 0.75 < lgbm.validation_auc_ < 1.0  # the planted logit is learnable


def test_without_time_the_split_is_stratified_random(data):
    X, y, _ = data
    model = LGBMDefaultModel(**FAST, validation_fraction=0.25).fit(X, y)
    assert model.n_validation_ == 2000  # 25 % of 8000 rows
    assert model.validation_years_ == []


def test_explicit_eval_set_is_used(data):
    X, y, _ = data
    model = LGBMDefaultModel(**FAST).fit(X.iloc[:6000], y[:6000], eval_set=(X.iloc[6000:], y[6000:]))
    assert model.n_validation_ == 2000


def test_no_early_stopping_grows_all_trees_on_all_rows(data):
    X, y, _ = data
    model = LGBMDefaultModel(n_estimators=30, n_jobs=1, early_stopping_rounds=None).fit(X, y)
    assert model.best_iteration_ == 30
    assert model.n_validation_ == 0
    assert np.isnan(model.validation_auc_)


def test_temporal_mask_takes_last_year_when_it_is_close_to_the_fraction():
    time = np.array([2019] * 4 + [2020] * 3 + [2021] * 3)
    y = np.array([0, 1, 0, 0, 0, 1, 0, 0, 1, 0])
    # 2021 alone is 30 %; adding 2020 (60 %) moves away from 25 %
    assert temporal_validation_mask(time, y, 0.25).tolist() == [False] * 7 + [True] * 3


def test_temporal_mask_adds_a_year_when_the_last_one_has_no_default():
    time = np.array([2019] * 4 + [2020] * 3 + [2021] * 3)
    y = np.array([0, 1, 0, 0, 0, 1, 0, 0, 0, 0])
    assert temporal_validation_mask(time, y, 0.25).tolist() == [False] * 4 + [True] * 6


def test_temporal_mask_needs_two_years():
    with pytest.raises(ModelInputError, match="two origination years"):
        temporal_validation_mask(np.array([2020, 2020]), np.array([0, 1]), 0.2)


# -------------------------------------------------------------------------------------- contributions


def test_contributions_sum_to_raw_log_odds(lgbm, data):
    X, _, _ = data
    contrib = lgbm.contributions(X.iloc[:500])
    assert list(contrib.columns) == [*X.columns, BIAS]
    assert contrib.index.equals(X.index[:500])
    raw = lgbm.booster_.predict(X.iloc[:500].to_numpy(), raw_score=True)
    np.testing.assert_allclose(contrib.sum(axis=1).to_numpy(), raw, atol=1e-6, rtol=0)
    np.testing.assert_allclose(raw, lgbm.decision_function(X.iloc[:500]), atol=1e-12, rtol=0)


# --------------------------------------------------------------------------------------- input errors


def test_non_numeric_column_is_named(data):
    X, y, _ = data
    bad = X.assign(province=["Hebei"] * len(X))
    with pytest.raises(ModelInputError, match="'province'.*Hebei"):
        LGBMDefaultModel(**FAST).fit(bad, y)


def test_infinite_value_is_named(data):
    X, y, _ = data
    bad = X.copy()
    bad.loc[5, "leverage"] = np.inf
    with pytest.raises(ModelInputError, match="'leverage' has infinite values.*row 5"):
        LogisticDefaultModel().fit(bad, y)


def test_single_class_target_is_rejected(data):
    X, _, _ = data
    with pytest.raises(ModelInputError, match="both defaulted and repaid"):
        LGBMDefaultModel(**FAST).fit(X, np.zeros(len(X)))


def test_predict_with_other_columns_names_them(lgbm, data):
    X, _, _ = data
    with pytest.raises(ModelInputError, match=r"missing \['noise_b'\], unexpected \['extra'\]"):
        lgbm.predict_proba(X.drop(columns="noise_b").assign(extra=1.0))


# ------------------------------------------------------------------------------------------- logistic


@pytest.fixture(scope="module")
def logit_model(data):
    X, y, _ = data
    return LogisticDefaultModel().fit(X, y)


def test_logistic_fit_returns_self(data):
    X, y, _ = data
    model = LogisticDefaultModel()
    assert model.fit(X, y) is model
    assert model.predict_proba(X).shape == (len(X), 2)


def test_logistic_coefficients_have_the_planted_signs(logit_model):
    coef = logit_model.coef_
    assert list(coef.index) == ["patents", "leverage", "rd_input", "noise_a", "noise_b", "revenue_g"]
    # standardized default log-odds: true effects are -1, +1, +0.5 and -0.4 per sd (about 480 defaults:
    # sampling error of a coefficient is about 0.07, hence the tolerance)
    assert coef["patents"] == pytest.approx(-1.0, abs=0.25)
    assert coef["leverage"] == pytest.approx(1.0, abs=0.25)
    assert coef["rd_input"] == pytest.approx(0.5, abs=0.25)
    assert coef["revenue_g"] == pytest.approx(-0.4, abs=0.25)
    assert abs(coef["noise_a"]) < 0.1 and abs(coef["noise_b"]) < 0.1


def test_logistic_has_missing_flag_columns(logit_model):
    assert logit_model.design_columns_[-6:] == [f"{c}__missing" for c in logit_model.feature_names_]
    assert list(logit_model.missing_coef_.index) == logit_model.feature_names_
    assert logit_model.transform_.loc["revenue_g", "n_missing"] > 2000


def test_logistic_without_flags_has_no_flag_columns(data):
    X, y, _ = data
    model = LogisticDefaultModel(missing_indicators=False).fit(X, y)
    assert model.design_columns_ == list(X.columns)
    assert model.missing_coef_.empty


def test_logistic_missing_value_gets_median_and_flag(logit_model, data):
    X, _, _ = data
    row = X.iloc[[0]].assign(revenue_g=np.nan)
    t = logit_model.transform_.loc["revenue_g"]
    design = logit_model.design(row)
    assert design["revenue_g"].iloc[0] == pytest.approx((t["median"] - t["mean"]) / t["sd"])
    assert design["revenue_g__missing"].iloc[0] == 1.0


def test_logistic_transform_logs_skewed_columns_and_clips_at_training_percentiles():
    rng = np.random.default_rng(1)
    n = 2000
    X = pd.DataFrame({"rd_expense": rng.lognormal(3, 1.5, size=n), "share": rng.uniform(size=n)})
    y = (rng.uniform(size=n) < 0.1).astype(int)
    model = LogisticDefaultModel().fit(X, y)
    t = model.transform_
    assert bool(t.loc["rd_expense", "log1p"]) and not bool(t.loc["share", "log1p"])
    assert t.loc["rd_expense", "clip_high"] == pytest.approx(np.quantile(np.log1p(X["rd_expense"]), 0.99))
    assert t.loc["share", "clip_low"] == pytest.approx(np.quantile(X["share"], 0.01))
    # values beyond the training range are clipped, so the design stays bounded
    far = model.design(pd.DataFrame({"rd_expense": [1e12], "share": [0.5]}))
    assert far["rd_expense"].iloc[0] == pytest.approx(
        (t.loc["rd_expense", "clip_high"] - t.loc["rd_expense", "mean"]) / t.loc["rd_expense", "sd"]
    )
    assert not bool(LogisticDefaultModel(transform="none").fit(X, y).transform_.loc["rd_expense", "log1p"])


def test_logistic_bad_transform_is_rejected(data):
    X, y, _ = data
    with pytest.raises(ModelInputError, match="transform must be one of"):
        LogisticDefaultModel(transform="boxcox").fit(X, y)


def test_tree_subsets_score_like_the_whole_model_and_keep_its_ties():
    from innopoints.models.learning.learners import TreeSubsets

    rng = np.random.default_rng(5)
    X = rng.poisson(2.0, size=(3000, 6)).astype(float)  # counts: many rows share every leaf
    X[rng.random(X.shape) < 0.1] = np.nan  # missing values take each split's default side
    X[:, 2] = 1.0  # constant, and not the last column: no tree can split on it
    y = (X[:, 0] + 0.5 * np.nan_to_num(X[:, 1]) + rng.normal(size=3000) > 3).astype(float)
    model = LGBMDefaultModel(n_estimators=40, num_leaves=7, early_stopping_rounds=None, n_jobs=1, seed=1)
    model.fit(pd.DataFrame(X, columns=[f"x{j}" for j in range(6)]), y)
    booster = model.booster_
    trees = TreeSubsets(booster)
    before = X[:500]
    per_tree = trees.per_tree(before)
    np.testing.assert_allclose(per_tree.sum(axis=1), booster.predict(before, raw_score=True), atol=1e-12)
    for cols in ([0], [1], [0, 1], [3, 4, 5]):
        after = before.copy()
        after[:, cols] = before[rng.permutation(500)][:, cols]
        whole = booster.predict(after, raw_score=True)
        mine = trees.raw_score(per_tree, after, cols)
        np.testing.assert_allclose(mine, whole, atol=1e-12)
        # Rows the whole model ties, the sub-models tie too: the same order of rows, ties included.
        assert np.array_equal(pd.Series(mine).rank().to_numpy(), pd.Series(whole).rank().to_numpy()), cols
    assert 0 < len(trees.trees_using([0])) <= booster.num_trees()
    assert trees.trees_using([2]) == []
    after = before.copy()
    after[:, 2] = 123.0
    assert np.array_equal(trees.raw_score(per_tree, after, [2]), per_tree.sum(axis=1))
