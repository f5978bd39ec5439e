"""Tests for models/evaluate.py: the out-of-time split, the evaluation report and population changes."""

import json

import numpy as np
import pandas as pd
import pytest

from innopoints.models.evaluation.evaluate import (
    EvaluationError,
    evaluate_model_probs,
    evaluate_points,
    jsonable,
    jsonable_records,
    points_psi_by_year,
    qualified_changes,
    temporal_split,
    temporal_split_report,
)
from innopoints.models.evaluation.metrics import PointsCalibrator, auc, brier, top_share


def _loans(n: int = 2400, seed: int = 0) -> pd.DataFrame:
    """Synthetic scored loans over 2021-2024; Tibet is a deliberately tiny province."""
    rng = np.random.default_rng(seed)
    quality = rng.normal(size=n)
    frame = pd.DataFrame(
        {
            "loan_id": [f"L{i:05d}" for i in range(n)],
            "year": rng.choice([2021, 2022, 2023], size=n),
            "points": np.round(60 + 10 * quality + 4 * rng.normal(size=n)),
            "baseline": np.round(60 + 10 * quality + 12 * rng.normal(size=n)),
            "province": rng.choice(["Hebei", "Zhejiang", "Tibet"], p=[0.6, 0.39, 0.01], size=n),
            "stage": rng.choice(["start-up", "growth", "stable"], size=n),
            "is_sme": rng.random(n) < 0.92,
        }
    )
    frame["pd_model"] = 1 / (1 + np.exp(2.5 + 0.9 * quality))
    frame["defaulted"] = rng.random(n) < frame["pd_model"]
    frame["outcome_observed"] = True
    return frame


@pytest.fixture(scope="module")
def loans() -> pd.DataFrame:
    return _loans()


# ------------------------------------------------------------------------------------ temporal split


def _split_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "loan_id": ["a", "b", "c", "d", "e", "f", "g"],
            "year": [2021, 2022, 2022, 2023, 2023, 2024, 2024],
            "defaulted": [True, False, False, True, False, False, False],
            # 2024's windows are still open, and one 2022 loan too: none of them may be evaluated.
            "outcome_observed": [True, True, False, True, True, False, False],
        }
    )


def test_temporal_split_trains_on_earlier_years_and_drops_unobserved():
    train, test = temporal_split(_split_frame())
    assert list(train["loan_id"]) == ["a", "b"]  # c is unobserved
    assert list(test["loan_id"]) == ["d", "e"]  # 2024 has no observed outcome, so 2023 is the test year


def test_temporal_split_explicit_test_year_leaves_later_years_out():
    frame = _split_frame().assign(defaulted=[False, True, False, True, False, False, False])
    train, test = temporal_split(frame, test_year=2022)
    assert list(train["loan_id"]) == ["a"] and list(test["loan_id"]) == ["b"]
    report = temporal_split_report(frame, test_year=2022)
    assert report["excluded"] == {"outcome_not_observed": 3, "after_test_year": 2}
    assert (report["train_n"], report["test_n"], report["test_defaults"]) == (1, 1, 1)


def test_temporal_split_report_counts_every_row():
    report = temporal_split_report(_split_frame())
    assert report["test_year"] == 2023 and report["train_years"] == [2021, 2022]
    counted = report["train_n"] + report["test_n"] + sum(report["excluded"].values())
    assert counted == report["n_loans"] == 7


def test_temporal_split_needs_an_earlier_year():
    frame = _split_frame().query("year == 2023")
    with pytest.raises(EvaluationError, match="no observed loan originated before test year 2023"):
        temporal_split(frame)


def test_temporal_split_needs_defaults_in_test_year():
    frame = _split_frame().assign(defaulted=False)
    with pytest.raises(EvaluationError, match="test year 2023 has 2 observed loans but no defaults"):
        temporal_split(frame)


def test_temporal_split_names_missing_column():
    with pytest.raises(EvaluationError, match=r"loans: missing column\(s\) \['outcome_observed'\]"):
        temporal_split(_split_frame().drop(columns="outcome_observed"))


# ---------------------------------------------------------------------------------- evaluate_points


@pytest.fixture(scope="module")
def points_report(loans):
    train, test = temporal_split(loans)
    return evaluate_points(train, test, "points", baseline_col="baseline", n_boot=200, seed=1)


def test_evaluate_points_is_json_serialisable(points_report):
    text = json.dumps(points_report, allow_nan=False)
    assert json.loads(text) == points_report


def test_evaluate_points_metric_names_and_values(loans, points_report):
    train, test = temporal_split(loans)
    y, points = test["defaulted"].to_numpy(), test["points"].to_numpy()
    scalar = {k: v for k, v in points_report.items() if k.startswith(("train_", "test_"))}
    assert {
        "test_auc",
        "test_gini",
        "test_ks",
        "test_brier",
        "test_log_loss",
        "test_top_default_rate",
        "test_top_capture",
        "test_default_rate",
        "test_n",
        "test_defaults",
    } <= set(scalar)
    assert all(isinstance(v, (int, float)) for v in scalar.values())
    assert points_report["test_auc"] == pytest.approx(auc(y, -points))
    assert points_report["test_gini"] == pytest.approx(2 * auc(y, -points) - 1)
    assert points_report["test_top_default_rate"] == pytest.approx(top_share(y, points)["default_rate"])
    assert (points_report["test_n"], points_report["test_defaults"]) == (len(test), int(y.sum()))


def test_evaluate_points_brier_uses_calibration_fitted_on_train_only(loans, points_report):
    train, test = temporal_split(loans)
    y = test["defaulted"].to_numpy()
    on_train = PointsCalibrator().fit(train["points"], train["defaulted"]).predict_pd(test["points"])
    on_test = PointsCalibrator().fit(test["points"], y).predict_pd(test["points"])
    assert points_report["test_brier"] == pytest.approx(brier(y, on_train))
    assert points_report["test_brier"] != pytest.approx(brier(y, on_test))  # guards against refitting on test


def test_evaluate_points_calibration_table_covers_test(points_report):
    table = points_report["calibration"]
    assert sum(row["n"] for row in table) == points_report["test_n"]
    assert {"lower", "upper", "default_rate", "mean_predicted_pd"} <= set(table[0])


def test_evaluate_points_baseline_comparison(points_report):
    low, mid, high = points_report["delta_auc_vs_baseline"]
    assert low <= mid <= high
    # mid is the plain difference of test AUCs, candidate minus baseline.
    assert mid == pytest.approx(points_report["test_auc"] - points_report["baseline"]["test_auc"])
    assert points_report["delong_vs_baseline"]["delta"] == pytest.approx(mid)
    assert len(points_report["delta_top_default_rate_vs_baseline"]) == 3


def test_evaluate_points_identical_baseline_gives_zero_delta(loans):
    train, test = temporal_split(loans)
    test = test.assign(copy=test["points"])
    report = evaluate_points(train, test, "points", baseline_col="copy", n_boot=50)
    assert report["delta_auc_vs_baseline"] == [0.0, 0.0, 0.0]
    assert report["delta_top_default_rate_vs_baseline"] == [0.0, 0.0, 0.0]
    assert report["delong_vs_baseline"]["p_value"] == 1.0


def test_evaluate_points_warns_on_thin_slice(points_report):
    tibet = next(row for row in points_report["slices"]["province"] if row["value"] == "Tibet")
    assert tibet["auc"] is None and tibet["top_default_rate"] is None
    assert tibet["coverage_warning"].startswith("province=Tibet:")
    hebei = next(row for row in points_report["slices"]["province"] if row["value"] == "Hebei")
    assert hebei["coverage_warning"] is None and 0.5 < hebei["auc"] < 1.0
    sme_values = {row["value"] for row in points_report["slices"]["is_sme"]}
    assert sme_values == {True, False}


def test_evaluate_points_lists_absent_slice_columns(loans):
    train, test = temporal_split(loans)
    report = evaluate_points(train, test.drop(columns="stage"), "points", n_boot=10)
    assert report["slices_missing"] == ["stage"] and "stage" not in report["slices"]
    assert "delta_auc_vs_baseline" not in report  # no baseline asked for


def test_evaluate_points_counts_unobserved_test_loans(loans):
    train, test = temporal_split(loans)
    open_window = test.head(5).assign(outcome_observed=False, defaulted=pd.NA)
    report = evaluate_points(train, pd.concat([test, open_window]), "points", n_boot=10)
    assert report["excluded"]["test_outcome_not_observed"] == 5
    assert report["test_n"] == len(test)


def test_evaluate_points_rejects_missing_points(loans):
    train, test = temporal_split(loans)
    broken = test.assign(points=test["points"].where(test.index != test.index[3]))
    with pytest.raises(
        EvaluationError, match=f"test: column 'points' must be a finite number.*row {test.index[3]}"
    ):
        evaluate_points(train, broken, "points", n_boot=10)


# ----------------------------------------------------------------------------- evaluate_model_probs


def test_evaluate_model_probs_uses_probabilities_directly(loans):
    train, test = temporal_split(loans)
    report = evaluate_model_probs(train, test, "pd_model", baseline_col="points", n_boot=50)
    y, p = test["defaulted"].to_numpy(), test["pd_model"].to_numpy()
    assert report["test_auc"] == pytest.approx(auc(y, p))
    assert report["test_brier"] == pytest.approx(brier(y, p))
    # The qualified set is the lowest default probabilities: same set as points = -p.
    assert report["test_top_default_rate"] == pytest.approx(top_share(y, -p)["default_rate"])
    assert report["top"]["rule"].startswith("p <= ")
    assert report["baseline"]["test_auc"] == pytest.approx(auc(y, -test["points"].to_numpy()))
    json.dumps(report, allow_nan=False)


def test_evaluate_model_probs_rejects_non_probabilities(loans):
    train, test = temporal_split(loans)
    with pytest.raises(EvaluationError, match="'points' must hold probabilities"):
        evaluate_model_probs(train, test, "points", n_boot=10)


# ------------------------------------------------------------------------------------ population PSI


def test_points_psi_by_year():
    rng = np.random.default_rng(4)
    base = rng.normal(60, 10, size=1000)
    frame = pd.DataFrame(
        {"year": np.repeat([2022, 2023, 2024], 1000), "points": np.concatenate([base, base, base + 10])}
    )
    out = points_psi_by_year(frame, "points")
    assert [(r["year_from"], r["year_to"]) for r in out] == [(2022, 2023), (2023, 2024)]
    assert out[0]["psi"] == 0.0  # same distribution
    assert out[1]["psi"] > 0.25  # one-sd shift
    json.dumps(out)


# ------------------------------------------------------------------------------- qualified changes


def _firms(points, defaulted=None):
    frame = pd.DataFrame(
        {
            "firm_id": [f"f{i}" for i in range(10)],
            "points": points,
            "province": ["Hebei"] * 5 + ["Zhejiang"] * 5,
        }
    )
    if defaulted is not None:
        frame["defaulted"] = defaulted
    return frame


def test_qualified_changes_hand_computed():
    # share 0.2 of 10 firms = 2 qualify. a qualifies f0, f1; b qualifies f2 (10 points) and f1 (9).
    a = _firms([10, 9, 8, 7, 6, 5, 4, 3, 2, 1])
    b = _firms([1, 9, 10, 7, 6, 5, 4, 3, 2, 8], defaulted=[True, False, False] + [None] * 7)
    out = qualified_changes(a, b, share=0.2)
    assert (out["entering"], out["leaving"], out["staying"]) == (1, 1, 1)
    assert (out["qualified_a"], out["qualified_b"], out["only_in_a"], out["only_in_b"]) == (2, 2, 0, 0)
    hebei, zhejiang = out["by"]["province"]
    assert hebei == {
        "value": "Hebei",
        "n": 5,
        "qualified_a": 2,
        "qualified_b": 2,
        "entering": 1,
        "leaving": 1,
        "staying": 1,
    }
    assert zhejiang["qualified_b"] == 0
    assert out["by_missing"] == ["stage", "is_sme"]
    # f0 left and defaulted, f2 entered and repaid, f1 stayed and repaid.
    assert out["default_rates"] == {
        "entering": {"n_observed": 1, "defaults": 0, "default_rate": 0.0},
        "leaving": {"n_observed": 1, "defaults": 1, "default_rate": 1.0},
        "staying": {"n_observed": 1, "defaults": 0, "default_rate": 0.0},
    }
    json.dumps(out, allow_nan=False)


def test_qualified_changes_firms_in_one_population_only():
    a = _firms([10, 9, 8, 7, 6, 5, 4, 3, 2, 1])
    b = a.iloc[1:]  # f0 is no longer scored: it leaves the qualified set
    out = qualified_changes(a, b, share=0.2)
    assert (out["only_in_a"], out["only_in_b"], out["leaving"]) == (1, 0, 1)
    assert "default_rates" not in out


def test_qualified_changes_rejects_duplicate_firms():
    a = _firms(list(range(10)))
    with pytest.raises(EvaluationError, match="firms_b: column 'firm_id' must be unique.*'f0'"):
        qualified_changes(a, pd.concat([a, a.head(1)]))


def test_jsonable_gives_plain_values_that_json_writes_without_nan():
    value = {1: (np.int64(3), np.float32(0.5), np.bool_(True)), "a": np.array([1.0, np.nan]),
             "b": [np.inf, pd.NA, pd.NaT, None, "x"]}
    plain = jsonable(value)
    assert plain == {"1": [3, 0.5, True], "a": [1.0, None], "b": [None, None, None, None, "x"]}
    assert type(plain["1"][0]) is int and type(plain["1"][2]) is bool
    json.dumps(plain, allow_nan=False)  # would raise on a NaN or a numpy scalar left behind


def test_jsonable_records_keep_a_named_index_and_columns_in_order():
    frame = pd.DataFrame({"n": [1, 2], "rate": [0.5, np.nan]}, index=pd.Index(["x", "y"], name="id"))
    assert jsonable_records(frame) == [{"id": "x", "n": 1, "rate": 0.5}, {"id": "y", "n": 2, "rate": None}]
    assert jsonable({"t": frame.reset_index(drop=True)}) == {"t": [{"n": 1, "rate": 0.5}, {"n": 2, "rate": None}]}
