"""Tracking: the store, fail-fast probing, and what a train run leaves in MLflow (docs/architecture.md)."""

from __future__ import annotations

import dataclasses
import math
import os
import re
import socket
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from innopoints.experiments import tracking
from innopoints.experiments.store import tracking_uri
from innopoints.experiments.tracking import (
    TrackingError,
    artifact_location,
    check_tracking,
    flat_params,
    formula_metrics,
    log_train,
)
from tests.experiments.conftest import BEST, PARAMS

FORMULA_NAMES = ["baseline", BEST, "recal-10"]


def _runs() -> pd.DataFrame:
    """The experiment's runs by run name, through the fluent API (so via MLFLOW_TRACKING_URI)."""
    runs = mlflow.search_runs(experiment_names=["innopoints"])
    return runs.set_index("tags.mlflow.runName")


def _no_mlflow_request(uri: str, timeout_s: float):
    raise AssertionError(f"an MLflow request was made to {uri}")


def _listing(client: MlflowClient, run_id: str, path: str | None = None) -> set[str]:
    return {f.path for f in client.list_artifacts(run_id, path)}


def test_tracking_uri_defaults_to_sqlite_in_workdir(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert tracking_uri(tmp_path) == f"sqlite:///{tmp_path.absolute()}/mlflow.db"
    assert artifact_location(tracking_uri(tmp_path)) == (tmp_path.absolute() / "mlartifacts").as_uri()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://tracking.example:5000")
    assert tracking_uri(tmp_path) == "http://tracking.example:5000"
    # A server chooses its own artifact root; only a local SQLite store gets mlartifacts/ beside it.
    assert artifact_location("http://tracking.example:5000") is None


def test_check_tracking_fails_fast_on_a_closed_port(monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    # The port probe refuses the store before any MLflow request (MLflow's own retries would take minutes).
    monkeypatch.setattr(tracking, "_probe_with_deadline", _no_mlflow_request)
    with pytest.raises(TrackingError, match=r"'http://127.0.0.1:9' is not usable: cannot connect"):
        check_tracking(tracking_uri("."))


def test_check_tracking_fails_fast_on_a_server_that_never_answers():
    # A listening socket that accepts but never replies: the port probe passes, the request must time out.
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        uri = f"http://127.0.0.1:{server.getsockname()[1]}"
        # The one request gets the 1 s given (MLflow's default read timeout is 120 s), or the deadline cuts it.
        with pytest.raises(TrackingError, match=r"is not usable: .*(read timeout=1\)|no answer within 1 s)"):
            check_tracking(uri, timeout_s=1)


def test_check_tracking_creates_a_local_store(mlflow_template):
    # The session's template store was made by check_tracking in a folder that did not exist.
    assert mlflow_template.parent.name == "work" and mlflow_template.is_file()
    experiments = MlflowClient(tracking_uri=f"sqlite:///{mlflow_template}").search_experiments()
    assert [e.name for e in experiments] == ["Default"]  # a working, empty store


LINEAGE = {"innopoints.data_path": "/data/cohort-7", "innopoints.data_fingerprint": "fp0123456789",
           "innopoints.config_hash": "cfg0123456789", "innopoints.baseline": "builtin:official-2024 (ab12)",
           "innopoints.firms": 3000}


def test_log_train_logs_every_formula_with_its_metrics_and_params(mlflow_uri, train_result, train_out):
    train_result.evaluation["selection"] = {"validation_log_loss": {"baseline": 0.2, BEST: 0.1875, "recal-10": 0.19}}
    logged = log_train(train_result, train_out, params=PARAMS, uri=mlflow_uri, lineage=LINEAGE)
    runs = _runs()
    parent = [name for name in runs.index if name not in FORMULA_NAMES]
    assert sorted(runs.index) == sorted([*FORMULA_NAMES, *parent])
    assert re.fullmatch(r"train · cohort-7 · \d{4}-\d\d-\d\d \d\d:\d\d:\d\d", parent[0])  # says what, on what, when
    parent = parent[0]
    assert list(logged["runs"]) == FORMULA_NAMES
    for name in FORMULA_NAMES:
        row, expected = runs.loc[name], train_result.evaluation["formulas"][name]
        assert row["run_id"] == logged["runs"][name]
        assert row["tags.mlflow.parentRunId"] == logged["parent_run_id"]
        for metric in ("test_auc", "test_gini", "test_ks", "test_brier", "test_log_loss",
                       "test_top_default_rate", "test_top_capture", "validation_auc"):
            assert row[f"metrics.{metric}"] == expected[metric]  # exact: the store keeps doubles
        assert row["params.formula_name"] == name
        assert row["params.is_best"] == ("true" if name == BEST else "false")
        assert row["params.seed"] == "7"
        assert row["params.data_fingerprint"] == "fp0123456789"
        assert row["params.fit_group_bounds_input"] == "[0.1, 0.5]"  # constraints from the run's params
        assert row["tags.innopoints.content_hash"] == train_result.formulas[name].provenance.content_hash
    assert runs.loc["baseline", "params.method"] == "illustrative-baseline"
    delta = train_result.evaluation["formulas"][BEST]["delta_auc_vs_baseline"]
    assert [runs.loc[BEST, f"metrics.delta_auc_vs_baseline_{s}"] for s in ("low", "mid", "high")] == delta
    # The baseline has no comparison with itself, and train_auc was None: neither becomes a metric.
    assert math.isnan(runs.loc["baseline", "metrics.delta_auc_vs_baseline_mid"])
    assert "metrics.train_auc" not in runs.columns
    assert runs.loc[parent, "tags.innopoints.kind"] == "train"
    assert runs.loc[parent, "tags.innopoints.best"] == BEST
    # The parent carries the recommended formula's headline metrics, validation_log_loss included.
    assert runs.loc[parent, "metrics.test_auc"] == train_result.evaluation["formulas"][BEST]["test_auc"]
    assert runs.loc[parent, "metrics.validation_log_loss"] == 0.1875
    assert runs.loc["recal-10", "metrics.validation_log_loss"] == 0.19
    # Lineage on every run: package version, the data and its fingerprint, config hash, baseline.
    for name in [parent, *FORMULA_NAMES]:
        for key, value in LINEAGE.items():
            assert runs.loc[name, f"tags.{key}"] == str(value), (name, key)
        assert runs.loc[name, "tags.innopoints.package_version"] == metadata.version("innopoints")
        commit = tracking.git_commit()
        assert commit is None or runs.loc[name, "tags.innopoints.git_commit"] == commit
        assert runs.loc[name, "status"] == "FINISHED"
    client = MlflowClient(tracking_uri=mlflow_uri)
    for run_id in [runs.loc[parent, "run_id"], logged["runs"][BEST]]:
        [dataset] = client.get_run(run_id).inputs.dataset_inputs
        assert dataset.dataset.name == "cohort-7" and dataset.dataset.digest == "fp0123456789"
        assert dataset.dataset.profile in (None, "")  # metadata only: no rows, no profile of them


def test_log_train_puts_artifacts_in_fixed_folders_beside_the_store(mlflow_uri, train_result, train_out,
                                                                    tmp_path):
    logged = log_train(train_result, train_out, params=PARAMS, uri=mlflow_uri)
    client = MlflowClient(tracking_uri=mlflow_uri)
    parent = logged["parent_run_id"]
    assert _listing(client, parent) == {"explain", "report"}
    assert _listing(client, parent, "explain") == {"explain/importance.csv", "explain/importance.png"}
    assert _listing(client, parent, "report") == {"report/evaluation.json", "report/refinement.md"}
    child = logged["runs"][BEST]
    assert {"formula", "report"} <= _listing(client, child)
    assert _listing(client, child, "formula") == {f"formula/{BEST}.json", f"formula/{BEST}.weights.csv"}
    assert (tmp_path / "store" / "mlartifacts").is_dir()
    assert list((tmp_path / "cwd").iterdir()) == []  # no ./mlruns wherever the command ran


def test_logged_params_are_settings_only(mlflow_uri, train_result, train_out):
    logged = log_train(train_result, train_out, params=PARAMS, uri=mlflow_uri)
    params = MlflowClient(tracking_uri=mlflow_uri).get_run(logged["runs"]["recal-10"]).data.params
    assert set(params) == {"seed", "data_fingerprint", "config_hash", "fit_max_points",
                           "fit_group_bounds_input", "n_boot", "method", "formula_name", "formula_version",
                           "is_best"}


def test_params_refuse_tables_and_long_values():
    with pytest.raises(TrackingError, match="'rows': a DataFrame of 2 rows"):
        flat_params({"rows": pd.DataFrame({"firm_id": ["F0000001", "F0000002"]})})
    with pytest.raises(TrackingError, match="'ids': a ndarray"):
        flat_params({"ids": np.arange(3)})
    with pytest.raises(TrackingError, match="'firm_ids': 12000 characters, more than 500"):
        flat_params({"firm_ids": [f"F{i:07d}" for i in range(1000)]})


def test_flat_params_are_flat_lower_snake():
    @dataclasses.dataclass
    class Fit:
        maxPoints: float = 25.0
        bounds: tuple = (0.1, 0.5)

    params = {"Seed": 1, "fit": Fit(), "group-bounds": {"in put": [0.0, 0.3]}, "test_year": None}
    assert flat_params(params) == {"seed": "1", "fit_max_points": "25.0", "fit_bounds": "[0.1, 0.5]",
                                   "group_bounds_in_put": "[0.0, 0.3]"}


def test_formula_metrics_keep_scalar_split_metrics_and_intervals():
    entry = {"test_auc": 0.6, "train_auc": None, "validation_auc": float("nan"), "test_n": 400,
             "test_flag": True, "delta_auc_vs_baseline": [0.01, 0.02, 0.03], "top": {"n": 5},
             "slices": [{"test_auc": 0.5}]}
    assert formula_metrics(entry) == {"test_auc": 0.6, "test_n": 400.0, "delta_auc_vs_baseline_low": 0.01,
                                      "delta_auc_vs_baseline_mid": 0.02, "delta_auc_vs_baseline_high": 0.03}


def test_log_train_refuses_before_logging_anything(mlflow_uri, train_result, train_out):
    stale = train_result.formulas[BEST]
    train_result.formulas[BEST] = stale.model_copy(update={"title": "edited after hashing"})
    with pytest.raises(TrackingError, match=f"formula '{BEST}': provenance.content_hash is missing or stale"):
        log_train(train_result, train_out, params=PARAMS, uri=mlflow_uri)
    (train_out / "evaluation.json").unlink()
    train_result.formulas[BEST] = stale
    with pytest.raises(TrackingError, match="no evaluation.json"):
        log_train(train_result, train_out, params=PARAMS, uri=mlflow_uri)
    assert MlflowClient(tracking_uri=mlflow_uri).get_experiment_by_name("innopoints") is None


def test_log_train_under_mlflow_run_nests_in_the_outer_run(mlflow_uri, train_result, train_out, monkeypatch):
    client = MlflowClient(tracking_uri=mlflow_uri)
    outer = client.create_run(client.create_experiment("project"), run_name="mlflow-run-entry").info.run_id
    client.log_param(outer, "seed", "01")  # as `mlflow run -P seed=01` logs it
    monkeypatch.setenv("MLFLOW_RUN_ID", outer)
    logged = log_train(train_result, train_out, experiment=None, params=PARAMS, uri=mlflow_uri)
    parent = client.get_run(logged["parent_run_id"])
    assert parent.data.tags["mlflow.parentRunId"] == outer
    assert client.get_run(logged["runs"][BEST]).data.tags["mlflow.parentRunId"] == parent.info.run_id
    assert client.get_run(outer).info.run_name == "mlflow-run-entry"
    assert client.get_run(outer).data.params["seed"] == "01"  # the entry point's params are never rewritten
    assert parent.data.params["seed"] == "7"
    assert os.environ["MLFLOW_RUN_ID"] == outer  # put back for whatever the entry point does next


@pytest.mark.parametrize(("option", "env", "expected"), [
    ("chosen", "from-env", "chosen"),  # -P experiment=chosen
    pytest.param(None, "from-env", "from-env", marks=pytest.mark.slow),  # MLFLOW_EXPERIMENT_NAME
    pytest.param(None, None, "innopoints", marks=pytest.mark.slow),  # entry point in Default: ours to innopoints
])
def test_under_mlflow_run_in_default_the_runs_go_to_the_chosen_experiment(mlflow_uri, train_result, train_out,
                                                                           monkeypatch, option, env, expected):
    client = MlflowClient(tracking_uri=mlflow_uri)
    outer = client.create_run("0", run_name="mlflow-run-entry").info.run_id
    monkeypatch.setenv("MLFLOW_RUN_ID", outer)
    if env:
        monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", env)
    else:
        monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
    logged = log_train(train_result, train_out, experiment=option, params=PARAMS, uri=mlflow_uri)
    assert client.get_experiment(logged["experiment_id"]).name == expected
    parent = client.get_run(logged["parent_run_id"])
    assert "mlflow.parentRunId" not in parent.data.tags  # runs cannot nest across experiments
    assert parent.data.tags["innopoints.mlflow_run"] == outer
    assert client.get_run(outer).data.tags["innopoints.parent"] == parent.info.run_id
    assert client.get_run(outer).data.tags["innopoints.logged_to"] == expected


def test_a_run_killed_outright_is_ended_by_the_next_start(mlflow_uri, train_result, train_out):
    client = MlflowClient(tracking_uri=mlflow_uri)
    experiment = client.create_experiment("innopoints")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    host = socket.gethostname()
    orphan = client.create_run(experiment, tags={"innopoints.host": host, "innopoints.pid": dead.stdout.strip()})
    alive = client.create_run(experiment, tags={"innopoints.host": host, "innopoints.pid": str(os.getpid()),
                                                "innopoints.pid_start": tracking._start_time(os.getpid())})
    elsewhere = client.create_run(experiment, tags={"innopoints.host": "another-machine", "innopoints.pid": "1"})
    log_train(train_result, train_out, params=PARAMS, uri=mlflow_uri)
    assert client.get_run(orphan.info.run_id).info.status == "KILLED"
    assert "was gone" in client.get_run(orphan.info.run_id).data.tags["innopoints.ended_by"]
    assert client.get_run(alive.info.run_id).info.status == "RUNNING"
    assert client.get_run(elsewhere.info.run_id).info.status == "RUNNING"


@pytest.mark.slow
def test_ctrl_c_while_logging_ends_every_open_run_as_killed(mlflow_uri, train_result, train_out, monkeypatch):
    calls = []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # during the second formula
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    real = tracking.log_formula_model
    monkeypatch.setattr(tracking, "log_formula_model", interrupted)
    with pytest.raises(KeyboardInterrupt):
        log_train(train_result, train_out, params=PARAMS, uri=mlflow_uri)
    runs = _runs()
    assert len(runs) == 3  # the parent and two formula runs
    assert set(runs["status"]) == {"KILLED"}
    assert set(runs["tags.innopoints.ended_by"]) == {"Ctrl-C"}


def test_log_batch_splits_at_mlflows_limits(mlflow_uri):
    client = MlflowClient(tracking_uri=mlflow_uri)
    run = client.create_run(client.create_experiment("batch"))
    sent = []
    real = client.log_batch
    client.log_batch = lambda run_id, **kw: sent.append(kw) or real(run_id, **kw)
    params = {f"p{i}": str(i) for i in range(150)}
    metrics = {f"m{i}": float(i) for i in range(1200)}
    tracking.log_batch(client, run.info.run_id, params=params, metrics=metrics, tags={"t": "x"})
    assert len(sent) == 2  # 100 params + 1 tag + 899 metrics, then the rest
    assert all(len(b["params"]) <= 100 and len(b["params"]) + len(b["metrics"]) + len(b["tags"]) <= 1000
               for b in sent)
    data = client.get_run(run.info.run_id).data
    assert len(data.params) == 150 and len(data.metrics) == 1200 and data.tags["t"] == "x"


SIGTERM_SCRIPT = """
import sys, time
from pathlib import Path
from innopoints.experiments import tracking
from tests.experiments.conftest import PARAMS, make_train_result, write_train_out

real, calls = tracking.log_formula_model, []
def slow(*args, **kwargs):
    calls.append(1)
    if len(calls) == 2:
        Path(sys.argv[2]).write_text("logging")
        time.sleep(120)
    return real(*args, **kwargs)
tracking.log_formula_model = slow
result = make_train_result()
tracking.log_train(result, write_train_out(Path(sys.argv[3]), result), params=PARAMS, uri=sys.argv[1])
"""


@pytest.mark.slow
def test_sigterm_while_logging_ends_every_open_run_as_killed(mlflow_uri, tmp_path):
    import signal
    import time

    marker = tmp_path / "marker"
    proc = subprocess.Popen([sys.executable, "-c", SIGTERM_SCRIPT, mlflow_uri, str(marker), str(tmp_path / "out")],
                            cwd=Path(__file__).resolve().parents[2], stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not marker.exists():
        assert proc.poll() is None, proc.stderr.read()[-2000:]
        assert time.monotonic() < deadline
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 128 + signal.SIGTERM
    runs = _runs()
    assert len(runs) == 3 and set(runs["status"]) == {"KILLED"}
    assert set(runs["tags.innopoints.ended_by"]) == {"SIGTERM"}
