"""`innopoints run` end to end: the whole job in an empty folder, its MLflow runs and registry, pyfunc scores
equal to `score`, the reviewer report, a store that cannot be reached, and `mlflow run` of the MLproject.

Every test of the shared run is in this file, so pytest-xdist (``--dist loadfile``) makes the run once."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from typer.testing import CliRunner

from innopoints.experiments.pyfunc import model_input
from innopoints.features.build import population_features
from innopoints.pipeline import steps
from innopoints.pipeline.cli import app
from innopoints.pipeline.config import RunConfig
from tests.conftest import write_fast_config
from tests.pipeline.conftest import RUN_FIRMS, RUN_SEED, check_train_outputs

REPO = Path(__file__).resolve().parents[2]
FIRMS = RUN_FIRMS
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
    runs = mlflow.search_runs(experiment_names=["innopoints"])
    names = set(runs["tags.mlflow.runName"])
    evaluation = pd.read_json(workdir[0] / "innopoints-out/train/evaluation.json", typ="series")
    [parent] = names - set(evaluation["formulas"])
    assert set(evaluation["formulas"]) <= names and parent.startswith(f"run · synthetic-{FIRMS}-seed{RUN_SEED} · ")
    formula_runs = runs[runs["tags.mlflow.runName"] != parent]
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
                                 str(root / f"innopoints-data/synthetic-{FIRMS}-seed{RUN_SEED}"), "--out", str(out),
                                 "--quiet"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    scored = pd.read_parquet(out)
    model = mlflow.pyfunc.load_model(ref)
    tables = steps.load_tables(root / f"innopoints-data/synthetic-{FIRMS}-seed{RUN_SEED}")
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


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="uses the local environment manager")
def test_mlflow_run_of_the_main_entry_point(tmp_path, mlflow_template):
    # The quick training settings through the `config` parameter: this checks the MLproject's wiring; what the
    # training learns is checked on 50,000-firm cohorts in tests/models/learning/test_train.py. The store is a
    # copy of the session's empty one (making a store is checked with the shared run above).
    shutil.copy(mlflow_template, tmp_path / "mlflow.db")
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    config = write_fast_config(tmp_path)
    mlflow_exe = Path(sys.executable).with_name("mlflow")
    cmd = [str(mlflow_exe), "run", str(REPO), "-e", "main", "--env-manager", "local", "--experiment-name",
           "innopoints", "-P", f"firms={FIRMS}", "-P", "seed=3", "-P", f"out={tmp_path / 'out'}",
           "-P", f"cohort_dir={tmp_path / 'data'}", "-P", f"config={config}"]
    # From an empty folder: MLflow puts the artifacts of an experiment it creates in ./mlruns.
    done = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "out" / "recommended.json").exists()
    client = mlflow.MlflowClient(tracking_uri=env["MLFLOW_TRACKING_URI"])
    runs = client.search_runs([client.get_experiment_by_name("innopoints").experiment_id])
    assert sum("test_auc" in run.data.metrics for run in runs) >= 2
