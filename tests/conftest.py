"""Fixtures shared across the test folders: a throw-away MLflow store and one quick training on a small cohort.

Both cost seconds to make, so they are made once per session: MLflow's tables (each test gets a copy of the
empty store) and a training pass on a simulated cohort (tests only read its result).

The quick training uses ``FAST_TRAIN`` / ``FAST_EVALUATION``: few refits, trees and resamples and one backtest
year (the test year alone; relearning on earlier years runs in the truth cohorts), the fewest the config allows
or close, on 3,000 firms with an 8% default rate (about 860 loans, 60 defaults), so every step of the workflow
runs in a couple of seconds. Its numbers are not meant to be good, only to exist; tests of what the training
learns live in ``tests/models/learning/test_train.py``.
"""

from __future__ import annotations

import os
import pickle
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import pytest
from filelock import FileLock
from threadpoolctl import threadpool_limits

# innopoints itself is imported inside the fixtures: pytest-xdist's controller process loads this file before it
# starts the workers and needs none of it (importing MLflow, LightGBM and pandas here held both workers back 3 s).
if TYPE_CHECKING:
    import pandas as pd

    from innopoints.pipeline.config import RunConfig

T = TypeVar("T")
SMALL_FIRMS = 3000
SMALL_DEFAULT_RATE = 0.08
FAST_TRAIN = {"refits": 5, "backtest_refits": 5, "backtest_years": 1, "n_estimators": 20, "shap_rows": 200,
              "refit_rows": 1000, "refit_workers": 1}
FAST_EVALUATION = {"n_boot": 100, "min_slice_n": 20}

# One BLAS / OpenMP thread per process: the two pytest-xdist workers already keep both cores busy, and the extra
# threads of OpenBLAS (matrix products, correlations) spin while they wait for a core (the full suite took
# 341 CPU-s and 198 s with them, 299 CPU-s and 176 s without; benchmarks/README.md). The limit holds in this
# process at once; the environment variables pass it to the innopoints commands the tests start. LightGBM is
# given its thread count explicitly everywhere, so no result depends on this.
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")
threadpool_limits(limits=1)


# The files that take longest, first: pytest-xdist hands whole files to its two workers in collection order
# (pyproject.toml: --dist loadfile --no-loadscope-reorder), so they start at once and the workers finish together,
# instead of one of them starting a long file when the other has nothing left. Times: benchmarks/README.md.
LONGEST_FIRST = (
    "tests/models/learning/test_train.py",
    "tests/experiments/test_team_server.py",
    "tests/pipeline/test_run_mlflow.py",
    "tests/pipeline/test_bad_inputs.py",
    "tests/experiments/test_store_faults.py",
    "tests/experiments/test_tracking.py",
    "tests/pipeline/test_cli.py",
    "tests/pipeline/test_steps.py",
    "tests/experiments/test_serve.py",
    "tests/experiments/test_registry.py",
    "tests/pipeline/test_formula_files.py",
    "tests/experiments/test_report_browser.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {path: i for i, path in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))


def fast_config() -> RunConfig:
    """The default run config with the quick training settings."""
    from innopoints.pipeline.config import EvaluationConfig, RunConfig, TrainConfig

    return RunConfig(train=TrainConfig(**FAST_TRAIN), evaluation=EvaluationConfig(**FAST_EVALUATION))


def fast_config_yaml() -> str:
    """``fast_config`` as the YAML a user would pass with ``--config``."""
    train = "".join(f"  {k}: {v}\n" for k, v in FAST_TRAIN.items())
    evaluation = "".join(f"  {k}: {v}\n" for k, v in FAST_EVALUATION.items())
    return f"train:\n{train}evaluation:\n{evaluation}"


def write_fast_config(folder: Path) -> Path:
    """``fast_config_yaml`` written as ``folder/fast.yaml`` (what ``--config`` takes); returns the path."""
    path = folder / "fast.yaml"
    path.write_text(fast_config_yaml(), encoding="utf-8")
    return path


def made_once(tmp_path_factory, name: str, make: Callable[[Path], T]) -> T:
    """``make(folder)`` once per test session, whichever pytest-xdist worker asks first; the others wait for it
    and read its pickle (pytest-xdist's recipe: the workers' temporary folders share a parent). ``folder`` is a
    new folder there for whatever ``make`` writes. Without workers it is simply called."""
    if os.environ.get("PYTEST_XDIST_WORKER") is None:
        return make(tmp_path_factory.mktemp(name))
    shared = tmp_path_factory.getbasetemp().parent
    pickled = shared / f"{name}.pickle"
    with FileLock(str(shared / f"{name}.lock")):
        if pickled.is_file():
            return pickle.loads(pickled.read_bytes())
        folder = shared / name
        folder.mkdir()
        made = make(folder)
        pickled.write_bytes(pickle.dumps(made))
        return made


@pytest.fixture(scope="session")
def mlflow_template(tmp_path_factory) -> Path:
    """An empty MLflow SQLite store made once per session by ``check_tracking`` in a folder it creates
    (``test_check_tracking_creates_a_local_store`` checks that); tests copy it, never change it."""

    def make(folder: Path) -> Path:
        from innopoints.experiments.store import tracking_uri
        from innopoints.experiments.tracking import check_tracking

        workdir = folder / "new" / "work"
        with pytest.MonkeyPatch.context() as mp:
            mp.delenv("MLFLOW_TRACKING_URI", raising=False)
            check_tracking(tracking_uri(workdir))
        return workdir / "mlflow.db"

    return made_once(tmp_path_factory, "mlflow-template", make)


@pytest.fixture
def mlflow_uri(tmp_path, monkeypatch, mlflow_template) -> str:
    """A fresh store in ``tmp_path/store`` set as ``MLFLOW_TRACKING_URI``; the CWD is ``tmp_path/cwd``.

    The store is a copy of the session's empty one, so nothing reaches the repository; the working directory
    is a separate empty folder, so a stray ``./mlruns`` or ``./mlflow.db`` shows.
    """
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


@pytest.fixture(scope="session")
def small_tables() -> dict[str, pd.DataFrame]:
    """The three input tables of a 3,000-firm cohort (seed 1) in canonical dtypes; do not modify."""
    from innopoints.pipeline.contract import coerce_tables
    from innopoints.pipeline.simulate import simulate

    cohort = simulate(SMALL_FIRMS, 1, default_rate=SMALL_DEFAULT_RATE)
    return coerce_tables({"firms": cohort.firms, "firm_years": cohort.firm_years, "loans": cohort.loans})


def hand_baseline():
    """Guideline 2.0 (2025: 130 points with bonus items) with its own stage rule, start-ups up to age 7 (the
    run config's rule stops at 5): a baseline unlike the run's defaults in structure and in rows."""
    from innopoints.models.formula.guideline import guideline_2025

    g = guideline_2025()
    return g.model_copy(update={"name": "guideline-older-startups",
                                "stage_rule": g.stage_rule.model_copy(update={"startup_max_age": 7})}).with_hash()


@pytest.fixture(scope="session")
def hand_baseline_train(small_tables, tmp_path_factory):
    """``steps.train`` of the small cohort with the quick settings against :func:`hand_baseline` (made once for
    both workers; read by the tests of bonus items and of the baseline's own stage rule); do not modify."""
    from innopoints.pipeline import steps

    return made_once(tmp_path_factory, "hand-baseline-train",
                     lambda _: steps.train(small_tables, fast_config(), hand_baseline()))


@pytest.fixture(scope="session")
def small_train(small_tables, tmp_path_factory):
    """``steps.train`` of the small cohort with the quick settings (a TrainResult, made once for both workers);
    do not modify."""
    from innopoints.models.formula.baseline import official_2024
    from innopoints.pipeline import steps

    return made_once(tmp_path_factory, "small-train", lambda _: steps.train(small_tables, fast_config(),
                                                                             official_2024()))
