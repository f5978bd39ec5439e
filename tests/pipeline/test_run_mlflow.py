"""`innopoints run` end to end, as `mlflow run` of the MLproject's main entry point runs it: the whole job in an
empty folder, its MLflow runs (nested in the project's run) and registry, pyfunc scores equal to `score`, the
reviewer report, and a store that cannot be reached.

Every test of the shared run is in this file, so pytest-xdist (``--dist loadfile``) makes the run once."""

from __future__ import annotations

import json
import re

import mlflow
import pandas as pd
import pytest
from typer.testing import CliRunner

from innopoints.experiments.pyfunc import model_input
from innopoints.features.build import population_features
from innopoints.pipeline import steps
from innopoints.pipeline.cli import app
from innopoints.pipeline.config import RunConfig
from tests.pipeline.conftest import RUN_FIRMS, RUN_SEED, check_train_outputs

runner = CliRunner()


@pytest.fixture
def workdir(pipeline_run):
    """The shared `innopoints run` (see tests/pipeline/conftest.py): its folder and printed output."""
    return pipeline_run


@pytest.fixture()
def uri(workdir, monkeypatch):
    root, _ = workdir
    value = f"sqlite:///{root / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", value)
    monkeypatch.chdir(root)
    mlflow.set_tracking_uri(value)
    yield value
    mlflow.set_tracking_uri(None)  # MLflow keeps the URI in a global; later tests must not inherit it


@pytest.mark.slow
def test_run_does_the_whole_job_in_an_empty_folder(pipeline_run):
    root, output = pipeline_run
    labels = [t["stage"] for t in json.loads((root / "t.json").read_text(encoding="utf-8"))]
    assert labels[:2] == ["make the synthetic cohort", "read and validate"]
    assert labels[-5:] == ["compare", "policy simulation", "reviewer report", "score population", "export"]
    # The run's training leaves what `train` leaves, in OUT/train.
    check_train_outputs(root / "innopoints-out" / "train", root / "t.json", root / "innopoints-out", skip=1)
    for path in ("innopoints-out/recommended.json", "innopoints-out/recommended.csv",
                 "innopoints-out/scores.parquet", "innopoints-out/train/refinement.md",
                 "innopoints-out/policy/policy.json", "innopoints-out/policy/frontier.png",
                 "innopoints-out/recommended.points.csv",
                 f"innopoints-data/synthetic-{RUN_FIRMS}-seed{RUN_SEED}/firms.parquet"):
        assert (root / path).exists(), path
    assert "recommended formula" in output
    assert "valid log loss" in output and "policy (simulated, CNY 10k)" in output
    # The reviewer report carries the policy simulation of both formulas, with the numbers of policy.json.
    policy = json.loads((root / "innopoints-out/policy/policy.json").read_text(encoding="utf-8"))
    html = (root / "innopoints-out/report.html").read_text(encoding="utf-8")
    assert "Lending and losses under the policy" in html
    headline = policy["headline"][0]
    assert f"{headline['expected_volume']:,.0f}" in html and f"{headline['volume_difference']:,.0f}" in html
    assert "**Policy (simulated):**" in (root / "innopoints-out/report.md").read_text(encoding="utf-8")
    # Every CSV the run wrote opens in Excel with its Chinese names: UTF-8 with a BOM.
    csvs = sorted((root / "innopoints-out").rglob("*.csv"))
    assert len(csvs) >= 5 and all(p.read_bytes().startswith(b"\xef\xbb\xbf") for p in csvs)


@pytest.mark.slow
def test_every_formula_is_a_run_with_its_test_metrics(workdir, uri):
    # Three levels: the run `mlflow run` made, innopoints' parent run in it, one run per formula in that.
    runs = mlflow.search_runs(experiment_names=["innopoints"]).set_index("run_id")
    evaluation = pd.read_json(workdir[0] / "innopoints-out/train/evaluation.json", typ="series")
    name, parent_of = runs["tags.mlflow.runName"], runs["tags.mlflow.parentRunId"]
    [parent] = name.index[name.str.startswith(f"run · synthetic-{RUN_FIRMS}-seed{RUN_SEED} · ")]
    project = parent_of[parent]
    assert isinstance(project, str) and project in runs.index and pd.isna(parent_of[project])
    assert len(runs) == len(evaluation["formulas"]) + 2
    formula_runs = runs[parent_of == parent]
    assert set(formula_runs["tags.mlflow.runName"]) == set(evaluation["formulas"])
    assert formula_runs["metrics.test_auc"].notna().all()
    for _, row in formula_runs.iterrows():
        expected = evaluation["formulas"][row["tags.mlflow.runName"]]["test_auc"]
        assert row["metrics.test_auc"] == pytest.approx(expected, abs=1e-12)


@pytest.mark.slow
def test_registered_candidate_scores_like_the_score_command(workdir, uri, tmp_path):
    root, output = workdir
    # The summary names the recommended formula's version (candidate moves only through the gate).
    [ref] = re.findall(r"models:/innopoints-formula/\d+", " ".join(output.split()))
    out = tmp_path / "scores-from-registry.parquet"
    result = runner.invoke(app, ["score", "--formula", ref, "--data",
                                 str(root / f"innopoints-data/synthetic-{RUN_FIRMS}-seed{RUN_SEED}"), "--out", str(out),
                                 "--quiet"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    scored = pd.read_parquet(out)
    model = mlflow.pyfunc.load_model(ref)
    tables = steps.load_tables(root / f"innopoints-data/synthetic-{RUN_FIRMS}-seed{RUN_SEED}")
    pop, _ = population_features(tables["firms"], tables["firm_years"], 2025, stage_rule=RunConfig().stage_rule)
    names = model.metadata.get_input_schema().input_names()
    predicted = model.predict(model_input(pop, names))
    assert list(pop["firm_id"]) == list(scored["firm_id"])
    assert predicted["points"].to_numpy().tolist() == scored["points"].to_numpy().tolist()


@pytest.mark.slow
def test_the_reviewer_report_names_both_formulas(workdir):
    root, output = workdir
    html = (root / "innopoints-out/report.html").read_text(encoding="utf-8")
    best = pd.read_json(root / "innopoints-out/train/evaluation.json", typ="series")["best"]
    assert "official-2024" in html and best in html
    assert (root / "innopoints-out/report.md").exists()
    assert "mlflow ui --backend-store-uri sqlite:///" in " ".join(output.split())


def test_an_unreachable_tracking_store_fails_fast_before_any_work(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    result = runner.invoke(app, ["run", "--firms", "2000", "--quiet"])
    assert result.exit_code == 2
    assert result.output.startswith("error:") and "127.0.0.1:9" in result.output
    # The port probe answered, not MLflow's retrying client (which would wait minutes on a dead server).
    assert "cannot connect to 127.0.0.1:9" in " ".join(result.output.split())
    assert not (tmp_path / "innopoints-data").exists(), "heavy work started before the store was checked"
    assert list(tmp_path.iterdir()) == [], "the run wrote something before the store was checked"
