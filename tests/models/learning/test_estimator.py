"""PointsFormulaClassifier: scikit-learn's contract, its composition with scikit-learn's tools, and the formula."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import check_estimator

from innopoints.features.stage import STAGES
from innopoints.models import PointsFormulaClassifier
from innopoints.models.formula.schema import Formula
from innopoints.models.learning.estimator import column_ids, default_cap


def credit_table(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Two columns that lower the risk, one that raises it (with 20 % missing), one of noise."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"Income": rng.normal(size=n), "debt.ratio": rng.normal(size=n),
                      "tenure": rng.normal(size=n), "noise": rng.normal(size=n)})
    z = -2.0 - 0.9 * X["Income"] + 0.7 * X["debt.ratio"] - 0.5 * X["tenure"]
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-z))).astype(int)
    X.loc[rng.uniform(size=n) < 0.2, "tenure"] = np.nan
    return X, y


def test_every_check_of_check_estimator_passes():
    # None is listed as expected to fail: the docstring says every check applies.
    results = check_estimator(PointsFormulaClassifier(), on_fail=None)
    failed = {r["check_name"]: str(r["exception"])[:200] for r in results if r["status"] == "failed"}
    assert failed == {}
    assert sum(r["status"] == "passed" for r in results) >= 50


def test_grid_search_over_max_points_in_a_pipeline():
    X, y = credit_table(1500, 0)
    pipe = Pipeline([("scale", StandardScaler()), ("points", PointsFormulaClassifier())])
    search = GridSearchCV(pipe, {"points__max_points": [20.0, 40.0, None]}, scoring="roc_auc",
                          cv=StratifiedKFold(3, shuffle=True, random_state=0)).fit(X, y)
    assert search.best_params_["points__max_points"] in (20.0, 40.0, None)
    aucs = search.cv_results_["mean_test_score"]
    assert np.all(aucs > 0.7)  # three strong columns: every cap ranks well
    refit = search.best_estimator_.named_steps["points"]
    assert refit.points_.max() <= (refit.max_points_ + 1e-9)
    # score() is the AUC, so GridSearchCV without `scoring` chooses by it too.
    assert cross_val_score(PointsFormulaClassifier(), X, y, cv=3).mean() == pytest.approx(
        cross_val_score(PointsFormulaClassifier(), X, y, cv=3, scoring="roc_auc").mean())


def test_fit_learns_directions_and_the_formula_scores_the_same_points():
    X, y = credit_table(4000, 1)
    Xt, yt = credit_table(3000, 2)
    model = PointsFormulaClassifier().fit(X, y)
    assert model.indicator_ids_ == ["income", "debt_ratio", "tenure", "noise"]
    assert model.directions_[:3].tolist() == [1, -1, 1]
    assert model.max_points_ == 50.0  # 4 columns: min(100, max(25, ceil(200 / 4)))
    assert model.points_.sum(axis=1) == pytest.approx([100.0] * 3)
    formula = model.to_formula()
    assert Formula.from_text(formula.to_text("json")) == formula  # a valid, hashed file that round-trips
    assert {d["id"] for d in formula.local_indicators} == set(model.indicator_ids_)
    table = Xt.rename(columns=dict(zip(Xt.columns, model.indicator_ids_, strict=True))).assign(stage="growth")
    assert formula.score(table)["points"].to_numpy() == pytest.approx(model.points(Xt), abs=1e-9)
    # Points rank against the default class; the probabilities follow them.
    auc = roc_auc_score(yt, model.predict_proba(Xt)[:, 1])
    assert auc == pytest.approx(roc_auc_score(yt, -model.points(Xt)))
    assert auc > 0.75
    assert model.to_formula(name="bank-a").name == "bank-a"


def test_a_stage_column_fits_points_per_stage_and_is_not_an_indicator():
    X, y = credit_table(3000, 3)
    X["stage"] = np.array(["startup", "growth", "稳定期"])[np.arange(len(X)) % 3]
    model = PointsFormulaClassifier(stage="stage", indicators={"Income": {"name_zh": "收入", "group": "financial",
                                                                          "unit": "万元", "direction": 1}}).fit(X, y)
    assert model.n_features_in_ == 4 and "stage" not in model.indicator_ids_
    formula = model.to_formula()
    income = next(d for d in formula.local_indicators if d["id"] == "income")
    assert income["name_zh"] == "收入" and income["unit"] == "万元"
    table = X.drop(columns="stage").rename(columns=dict(zip(X.columns[:4], model.indicator_ids_, strict=True)))
    table["stage"] = np.array(STAGES)[np.arange(len(X)) % 3]
    assert formula.score(table)["points"].to_numpy() == pytest.approx(model.points(X), abs=1e-9)
    with pytest.raises(ValueError, match="outside"):
        model.predict(X.assign(stage="mature"))


def test_policy_flavour_gives_a_column_against_its_policy_direction_no_points():
    X, y = credit_table(3000, 4)
    model = PointsFormulaClassifier(flavour="policy", indicators={"debt.ratio": {"direction": 1}}).fit(X, y)
    assert model.directions_[1] == -1 and not model.active_[1]
    assert model.points_[:, 1].tolist() == [0.0, 0.0, 0.0]


def test_unfitted_and_bad_settings():
    with pytest.raises(NotFittedError):
        PointsFormulaClassifier().to_formula()
    X, y = credit_table(300, 5)
    with pytest.raises(ValueError, match="curves must be one of"):
        PointsFormulaClassifier(curves="spline").fit(X, y)
    with pytest.raises(ValueError, match="directions must be"):
        PointsFormulaClassifier(directions=[1, 2, 1, 1]).fit(X, y)


def test_default_cap_and_column_ids():
    assert [default_cap(100, n) for n in (1, 2, 3, 4, 8, 31)] == [100.0, 100.0, 67.0, 50.0, 25.0, 25.0]
    assert column_ids(["Credit.Amount", "3rd", "研发 投入", "base"]) == ["credit_amount", "x_3rd", "研发_投入",
                                                                           "x_base"]
    with pytest.raises(Exception, match="both become"):
        column_ids(["a.b", "a_b"])
