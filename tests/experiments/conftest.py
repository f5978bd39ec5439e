"""A throw-away MLflow store per test and a tiny train result, without running any training.

The store is a SQLite file in ``tmp_path`` named by ``MLFLOW_TRACKING_URI`` (monkeypatched), so nothing
reaches the repository; creating MLflow's tables takes seconds, so one empty store is made per session and
copied for each test. The working directory is a separate empty folder, so a stray ``./mlruns`` shows.

The train result has three formulas: the 2024 baseline and two candidates that move points between
indicators of different groups (so they score differently), plus a hand-made evaluation dict.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from innopoints.experiments.tracking import check_tracking, tracking_uri
from innopoints.models.formula.baseline import official_2024
from innopoints.models.formula.schema import Formula, Provenance

BEST = "fitted-policy"
PARAMS = {"seed": 7, "data_fingerprint": "fp0123456789", "config_hash": "cfg0123456789",
          "fit": {"max_points": 25.0, "group_bounds": {"input": (0.1, 0.5)}}, "n_boot": 200}


@pytest.fixture(scope="session")
def mlflow_template(tmp_path_factory) -> Path:
    """An empty MLflow SQLite store made once per session by ``check_tracking`` in a folder it creates
    (``test_check_tracking_creates_a_local_store`` checks that)."""
    workdir = tmp_path_factory.mktemp("mlflow-template") / "new" / "work"
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        check_tracking(tracking_uri(workdir))
    return workdir / "mlflow.db"


@pytest.fixture
def mlflow_uri(tmp_path, monkeypatch, mlflow_template) -> str:
    """A fresh store in ``tmp_path/store`` set as ``MLFLOW_TRACKING_URI``; the CWD is ``tmp_path/cwd``."""
    store = tmp_path / "store"
    store.mkdir()
    shutil.copy(mlflow_template, store / "mlflow.db")
    uri = f"sqlite:///{store / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.delenv("MLFLOW_RUN_ID", raising=False)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    return uri


def _candidate(base: Formula, name: str, swap: tuple[int, int]) -> Formula:
    """The baseline with the stage points of two indicators swapped (per-stage sums stay 100)."""
    items = list(base.indicators)
    i, j = swap
    items[i], items[j] = (items[i].model_copy(update={"points": items[j].points}),
                          items[j].model_copy(update={"points": items[i].points}))
    provenance = Provenance(method=name, data_fingerprint="fp0123456789", config_hash="cfg0123456789", seed=7)
    return base.model_copy(update={"name": name, "indicators": items, "provenance": provenance}).with_hash()


def _entry(auc: float, delta: list[float] | None) -> dict:
    entry = {"train_n": 800, "train_defaults": 40, "train_auc": None, "test_auc": auc,
             "test_gini": 2 * auc - 1, "test_ks": auc - 0.4, "test_brier": 0.0471, "test_log_loss": 0.1893,
             "test_top_default_rate": 0.0125, "test_top_capture": 0.31, "test_n": 400, "test_defaults": 20,
             "validation_auc": auc - 0.01,
             "top": {"share": 0.1374, "n": 55}, "calibration": [{"band": 1, "n": 40, "default_rate": 0.1}]}
    if delta is not None:
        entry["delta_auc_vs_baseline"] = delta
        entry["delta_top_default_rate_vs_baseline"] = [-0.02, -0.01, 0.003]
    return entry


@pytest.fixture
def train_result() -> SimpleNamespace:
    """What log_train reads of a TrainResult: ``formulas`` (baseline first) and ``evaluation``."""
    base = official_2024()
    last = len(base.indicators) - 1
    formulas = {"baseline": base, BEST: _candidate(base, BEST, (0, last)),
                "recal-10": _candidate(base, "recal-10", (1, last))}
    evaluation = {
        "best": BEST,
        "formulas": {"baseline": _entry(0.6123456789, None),
                     BEST: _entry(0.6456789012, [0.0101, 0.0333, 0.0567]),
                     "recal-10": _entry(0.6234567891, [-0.004, 0.0111, 0.026])},
        "split": {"test_year": 2024, "test_n": 400},
    }
    return SimpleNamespace(formulas=formulas, evaluation=evaluation)


@pytest.fixture
def train_out(tmp_path, train_result) -> Path:
    """A train output folder with the files log_train picks up (report files and explain/)."""
    out = tmp_path / "train"
    (out / "explain").mkdir(parents=True)
    (out / "evaluation.json").write_text(json.dumps(train_result.evaluation), encoding="utf-8")
    (out / "refinement.md").write_text("# Indicator refinement report\n", encoding="utf-8")
    (out / "explain" / "importance.csv").write_text("id,mean_abs_shap\nrd_expense,0.12\n", encoding="utf-8")
    (out / "explain" / "importance.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    return out


@pytest.fixture
def indicator_frame() -> pd.DataFrame:
    """Six firms across the three stages with values around the reference values, one value missing."""
    base = official_2024()
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({c: rng.uniform(0, 2, 6) * item.curve.full_at
                          for c, item in zip(base.required_columns, base.indicators, strict=True)})
    frame.iloc[0, 0] = np.nan
    frame["stage"] = ["startup", "growth", "stable", "startup", "growth", "stable"]
    return frame
