"""`innopoints fit` on tables made here: bad tables refused in one line, and what the fit recovers."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from typer.testing import CliRunner

from innopoints.models.formula.schema import Formula
from innopoints.pipeline.cli import app

runner = CliRunner()
INFORMATIVE = {"income": 1, "debt_ratio": -1, "tenure": 1}  # column: the direction that lowers the risk
NOISE = ("noise_a", "noise_b", "noise_c")


def credit_table(n: int = 6000, seed: int = 0) -> pd.DataFrame:
    """Three informative columns (tenure 20 % missing), three of noise, a 0/1 target and three years."""
    rng = np.random.default_rng(seed)
    t = pd.DataFrame({c: rng.normal(size=n) for c in (*INFORMATIVE, *NOISE)})
    t["noise_c"] = rng.uniform(size=n)
    z = -2.2 - 0.8 * t["income"] + 0.7 * t["debt_ratio"] - 0.5 * t["tenure"]
    t["defaulted"] = (rng.uniform(size=n) < 1 / (1 + np.exp(-z))).astype(int)
    t.loc[rng.uniform(size=n) < 0.2, "tenure"] = np.nan
    t["year"] = rng.choice([2021, 2022, 2023], size=n)
    return t


def fit(*args, mlflow: bool = False) -> object:
    flag = "--mlflow" if mlflow else "--no-mlflow"
    return runner.invoke(app, ["fit", flag, "--quiet", *[str(a) for a in args]], catch_exceptions=False)


@pytest.mark.slow
def test_fit_recovers_directions_gives_noise_no_points_and_matches_a_logistic_regression(tmp_path, mlflow_uri):
    table = credit_table()
    table.to_csv(tmp_path / "loans.csv", index=False)
    (tmp_path / "ind.yaml").write_text("indicators:\n  income: {name_zh: 收入, unit: 万元, direction: 1}\n",
                                       encoding="utf-8")
    result = fit("--table", tmp_path / "loans.csv", "--target", "defaulted", "--time", "year", "--refits", 10,
                 "--indicators", tmp_path / "ind.yaml", "--out", tmp_path / "out", mlflow=True)
    assert result.exit_code == 0, result.output
    out = tmp_path / "out"
    formula = Formula.from_text((out / "formulas" / "fitted-policy.json").read_text(encoding="utf-8"))
    assert {item.id for item in formula.indicators} == set(INFORMATIVE)  # noise columns get no points
    for item in formula.indicators:
        assert formula.direction_of(item.id) == INFORMATIVE[item.id]
    assert next(d for d in formula.local_indicators if d["id"] == "income")["name_zh"] == "收入"
    refinement = json.loads((out / "refinement.json").read_text(encoding="utf-8"))["indicators"]
    assert {r["column"] for r in refinement if r["verdict"] == "score"} == set(INFORMATIVE)
    # Test AUC against a logistic regression fitted here on the same training rows and columns.
    train, test = table[table["year"] < 2023], table[table["year"] == 2023]
    cols = [*INFORMATIVE, *NOISE]

    def design(frame: pd.DataFrame) -> pd.DataFrame:
        return frame[cols].fillna(train[cols].median()).assign(tenure_missing=frame["tenure"].isna())

    lr = LogisticRegression(max_iter=1000).fit(design(train), train["defaulted"])
    lr_auc = roc_auc_score(test["defaulted"], lr.predict_proba(design(test))[:, 1])
    evaluation = json.loads((out / "evaluation.json").read_text(encoding="utf-8"))
    ours = evaluation["formulas"][evaluation["best"]]["test_auc"]
    points = formula.score(test[list(INFORMATIVE)].assign(stage="stable"))["points"]
    assert ours == pytest.approx(roc_auc_score(test["defaulted"], -points))  # the file scores what was judged
    assert abs(ours - lr_auc) <= 0.01, (ours, lr_auc)
    assert evaluation["split"]["test_period"] == 2023
    assert "## Every column" in (out / "refinement.md").read_text(encoding="utf-8")
    # Logged as train logs: one run per formula with its test metrics, the recommended one registered.
    client = MlflowClient(tracking_uri=mlflow_uri)
    runs = client.search_runs([client.get_experiment_by_name("innopoints").experiment_id])
    by_name = {r.info.run_name: r for r in runs}
    assert {"fitted-data", "fitted-policy"} <= set(by_name)
    assert by_name["fitted-policy"].data.metrics["test_auc"] == pytest.approx(ours)
    versions = client.search_model_versions("name='innopoints-formula'")
    assert "fitted-policy" in {v.tags["innopoints.formula"] for v in versions}
    assert client.get_registered_model("innopoints-formula").aliases == {}  # no baseline, no gate: no alias moved


@pytest.mark.parametrize(("change", "args", "message"), [
    (lambda t: t.assign(region="north"), (), "column 'region' is not numeric"),
    (lambda t: t.assign(flag=1.0), (), "column 'flag' is constant"),
    (lambda t: t.assign(empty=np.nan), (), "column 'empty' is missing in every row"),
    (lambda t: t.assign(defaulted=t["defaulted"] * 2), (), "must hold 0 (repaid) or 1 (defaulted)"),
    (lambda t: t, ("--stage", "lifecycle"), "column 'lifecycle' (--stage) is not in the table"),
    (lambda t: t.assign(defaulted=np.where(t["year"] == 2023, 0, t["defaulted"])), ("--time", "year"),
     "the test rows (44) have no defaults in 'defaulted'"),
])
def test_a_bad_table_gets_one_line_and_exit_2_before_fitting(tmp_path, change, args, message):
    table = change(credit_table(150, 1)).drop(columns=[] if "--time" in args else ["year"])
    table.to_csv(tmp_path / "t.csv", index=False)
    result = fit("--table", tmp_path / "t.csv", "--target", "defaulted", *args, "--out", tmp_path / "out")
    assert result.exit_code == 2
    assert result.output.startswith("error: table t.csv: ") and message in result.output
    assert len(result.output.strip().splitlines()) <= 2  # one line (wrapped at most once)
    assert not (tmp_path / "out").exists()


def test_fit_help_says_what_it_reads_and_writes():
    text = " ".join(runner.invoke(app, ["fit", "--help"]).output.split())
    assert "Reads TABLE" in text and "Writes OUT/formulas" in text


def test_an_excel_table_reads_like_its_csv(tmp_path):
    pytest.importorskip("openpyxl")
    from innopoints.pipeline.fit import read_indicator_table

    table = credit_table(40, 2)
    table.to_excel(tmp_path / "t.xlsx", index=False)
    pd.testing.assert_frame_equal(read_indicator_table(tmp_path / "t.xlsx"), table, check_dtype=False)


def test_a_bad_indicators_file_is_named_with_the_column_and_key(tmp_path):
    (tmp_path / "loans.csv").write_text("a,b,defaulted\n1,2,0\n2,1,1\n3,3,0\n", encoding="utf-8")
    (tmp_path / "ind.yaml").write_text("indicators:\n  a: {group: assets}\n", encoding="utf-8")
    result = fit("--table", tmp_path / "loans.csv", "--target", "defaulted", "--indicators", tmp_path / "ind.yaml",
                 "--out", tmp_path / "out")
    assert result.exit_code == 2 and "indicators.a.group: 'assets' is not one of" in result.output


def test_a_bad_out_or_a_yaml_bomb_is_refused_before_any_fitting(tmp_path):
    table = credit_table()
    table.to_csv(tmp_path / "loans.csv", index=False)
    (tmp_path / "taken").write_text("a file, not a folder", encoding="utf-8")
    result = fit("--table", tmp_path / "loans.csv", "--target", "defaulted", "--out", tmp_path / "taken")
    assert result.exit_code == 2 and "--out" in result.output and "Traceback" not in result.output
    (tmp_path / "bomb.yaml").write_text('a: &a ["x", "x"]\nb: [*a, *a]\n', encoding="utf-8")
    result = fit("--table", tmp_path / "loans.csv", "--target", "defaulted", "--indicators", tmp_path / "bomb.yaml",
                 "--out", tmp_path / "out")
    assert result.exit_code == 2 and "indicators file" in result.output and "refused" in result.output
    assert not (tmp_path / "out").exists()
