"""MLflow tracking of a train run: one parent run per invocation, one nested run per formula (docs/architecture.md).

Fixed names: metrics ``{split}_{metric}`` exactly as in the evaluation (``test_auc``,
``validation_auc``, ``delta_auc_vs_baseline_low|mid|high``), params flat and lower_snake, artifacts in
``formula/``, ``explain/`` and ``report/``; each formula run also holds the formula as a pyfunc model
(:mod:`innopoints.experiments.pyfunc`) ready for the registry (:mod:`innopoints.experiments.registry`).

Aggregates only: params are settings, metrics are scalars, artifacts are the formula files, the report and
the explanation tables and plots. A param value that is a table or an array is refused.

The store is ``MLFLOW_TRACKING_URI`` when set, else a SQLite file in the working directory with artifacts
next to it in ``mlartifacts/`` (never ``./mlruns`` in whatever folder the command runs from).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import socket
import tempfile
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import mlflow
import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from innopoints.experiments.formatting import csv_text, readable_table
from innopoints.experiments.pyfunc import MODEL_NAME, log_formula_model
from innopoints.features.errors import TrackingError
from innopoints.models.formula.schema import Formula, weights_table
from innopoints.models.policy.loss import SUMMARY_TOTALS

DEFAULT_EXPERIMENT = "innopoints"
DB_FILE = "mlflow.db"
ARTIFACT_DIR = "mlartifacts"
PARENT_RUN_NAME = "train"
REPORT_FILES = ("refinement.md", "evaluation.json", "refinement.json", "frontier.json")
METRIC_SPLITS = ("train", "validation", "test")
INTERVAL_SUFFIXES = ("low", "mid", "high")
MAX_PARAM_CHARS = 500  # far above any setting; a longer value is data, which never goes into MLflow
TAG_KIND = "innopoints.kind"
TAG_BEST = "innopoints.best"
TAG_FORMULA = "innopoints.formula"
TAG_HASH = "innopoints.content_hash"



# ------------------------------------------------------------------------------------------ the store


def tracking_uri(workdir: Path) -> str:
    """``MLFLOW_TRACKING_URI`` when set, else ``sqlite:///<workdir>/mlflow.db`` (absolute)."""
    uri = os.environ.get("MLFLOW_TRACKING_URI", "").strip()
    if uri:
        return uri
    return f"sqlite:///{(Path(workdir).absolute() / DB_FILE).as_posix()}"


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI (None for other stores)."""
    if not uri.startswith("sqlite:///"):
        return None
    return Path(unquote(uri[len("sqlite:///"):]))


def artifact_location(uri: str) -> str | None:
    """Where a new experiment keeps artifacts: ``mlartifacts/`` beside a SQLite file; the server's choice
    for any other store (a shared server has its own artifact root)."""
    db = sqlite_path(uri)
    return (db.absolute().parent / ARTIFACT_DIR).as_uri() if db is not None else None


def check_tracking(uri: str, timeout_s: float = 5.0) -> None:
    """Fail fast, with one :class:`TrackingError`, when the store at ``uri`` cannot be used.

    Called before heavy work. A SQLite store is created on first use (its folder too; MLflow's tables
    take a few seconds, so no deadline there). For a server, the port is probed first, then one request
    is made with retries off (MLflow's own retries would wait minutes on a dead server), and the store
    gets ``timeout_s`` to answer.
    """
    db = sqlite_path(uri)
    if db is not None:
        try:
            db.absolute().parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise TrackingError(_unusable(uri, f"cannot create the folder of {db} ({err})")) from None
        error = _probe(uri)
    else:
        parsed = urlparse(uri)
        if parsed.scheme in ("http", "https"):
            host = parsed.hostname or "localhost"
            port = parsed.port or (443 if parsed.scheme == "https" else 80)
            try:
                with socket.create_connection((host, port), timeout=timeout_s):
                    pass
            except OSError as err:
                raise TrackingError(_unusable(uri, f"cannot connect to {host}:{port} ({err})")) from None
        error = _probe_with_deadline(uri, timeout_s)
    if error is not None:
        reason = error.message if isinstance(error, MlflowException) else f"{type(error).__name__}: {error}"
        raise TrackingError(_unusable(uri, " ".join(str(reason).split())[:400]))


def _probe(uri: str) -> BaseException | None:
    """The error of one cheap request to the store, or None."""
    try:
        MlflowClient(tracking_uri=uri).search_experiments(max_results=1)
    except Exception as err:  # any failure means the store is unusable; the caller reports it
        return err
    return None


def _probe_with_deadline(uri: str, timeout_s: float) -> BaseException | None:
    """:func:`_probe` with MLflow's HTTP retries off, bounded by a deadline.

    A daemon thread also bounds stores without a timeout of their own (a database that never answers).
    """
    outcome: list[BaseException | None] = []
    seconds = str(max(1, math.ceil(timeout_s)))
    with _env(MLFLOW_HTTP_REQUEST_MAX_RETRIES="0", MLFLOW_HTTP_REQUEST_TIMEOUT=seconds):
        thread = threading.Thread(target=lambda: outcome.append(_probe(uri)), name="mlflow-probe",
                                  daemon=True)
        thread.start()
        thread.join(timeout_s + 2.0)
    if not outcome:
        return TimeoutError(f"no answer within {timeout_s:g} s")
    return outcome[0]


def _unusable(uri: str, reason: str) -> str:
    fix = ("Check the path and its permissions" if sqlite_path(uri) is not None else
           "Start the server or correct MLFLOW_TRACKING_URI")
    return (f"MLflow tracking store {uri!r} is not usable: {reason}. {fix} (without MLFLOW_TRACKING_URI "
            "the store is a local SQLite file in the working directory)")


@contextmanager
def _env(**values: str) -> Iterator[None]:
    """Set environment variables for the duration of the block, then restore them."""
    old = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextmanager
def mlflow_errors(what: str) -> Iterator[None]:
    """Turn MLflow's refusals (not found, bad alias, ...) into one :class:`TrackingError` line."""
    try:
        yield
    except MlflowException as err:
        raise TrackingError(f"{what}: {' '.join(err.message.split())}") from None


@contextmanager
def fluent_uri(uri: str) -> Iterator[None]:
    """Point MLflow's fluent API (``start_run``, ``log_model``) at ``uri``, then restore what was there.

    ``mlflow.set_tracking_uri`` also rewrites ``MLFLOW_TRACKING_URI``, so both are put back.
    """
    from mlflow.tracking._tracking_service import utils  # the only place the global URI is kept

    previous, env = utils._tracking_uri, os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(previous)
        if env is not None:
            os.environ["MLFLOW_TRACKING_URI"] = env


def ensure_experiment(client: MlflowClient, name: str, uri: str) -> str:
    """The id of experiment ``name``, created with its artifacts beside a SQLite store if it is new."""
    with mlflow_errors(f"experiment {name!r} in {uri}"):
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            try:
                return client.create_experiment(name, artifact_location=artifact_location(uri))
            except MlflowException:
                experiment = client.get_experiment_by_name(name)  # created meanwhile by another process
                if experiment is None:
                    raise
    if experiment.lifecycle_stage == "deleted":
        raise TrackingError(
            f"experiment {name!r} in {uri} is deleted; restore it (`mlflow experiments restore "
            f"--experiment-id {experiment.experiment_id}`) or log to another experiment name"
        )
    return experiment.experiment_id


# ------------------------------------------------------------------------------ params and metrics


def flat_params(params: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested settings (dicts, dataclasses, pydantic models) as flat lower_snake params.

    ``{"fit": {"max_points": 25}}`` → ``{"fit_max_points": "25"}``; lists are JSON; None is left out.
    Tables and arrays are refused: only settings and aggregates go into MLflow.
    """
    out: dict[str, str] = {}
    for key, value in params.items():
        name = _snake(f"{prefix}{key}")
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            value = dataclasses.asdict(value)
        elif hasattr(value, "model_dump"):
            value = value.model_dump(mode="json")
        if isinstance(value, Mapping):
            out.update(flat_params(value, f"{name}_"))
            continue
        if isinstance(value, pd.DataFrame | pd.Series | pd.Index | np.ndarray):
            raise TrackingError(
                f"param {name!r}: a {type(value).__name__} of {len(value)} rows cannot be logged to MLflow "
                "(params are settings; no firm rows go into MLflow)"
            )
        if value is None:
            continue
        text = json.dumps(list(value)) if isinstance(value, list | tuple) else str(value)
        if len(text) > MAX_PARAM_CHARS:
            raise TrackingError(
                f"param {name!r}: {len(text)} characters, more than {MAX_PARAM_CHARS}; params are short "
                f"settings (no data goes into MLflow), got {text[:60]!r}…"
            )
        out[name] = text
    return out


def _snake(key: str) -> str:
    """``maxPoints`` / ``max-points`` / ``Max Points`` → ``max_points``."""
    key = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", str(key))
    return re.sub(r"[^a-z0-9]+", "_", key.lower()).strip("_")


def formula_metrics(entry: Mapping[str, Any]) -> dict[str, float]:
    """Scalar ``{split}_{metric}`` values of one formula's evaluation, plus each ``delta_*`` interval as
    ``<name>_low``, ``<name>_mid`` and ``<name>_high``. Non-finite and missing values are left out."""
    out: dict[str, float] = {}
    for key, value in entry.items():
        if key.split("_", 1)[0] in METRIC_SPLITS and _is_number(value):
            out[key] = float(value)
        elif key.startswith("delta_") and isinstance(value, list | tuple) and len(value) == 3:
            for suffix, v in zip(INTERVAL_SUFFIXES, value, strict=True):
                if _is_number(v):
                    out[f"{key}_{suffix}"] = float(v)
    return out


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | np.number) and not isinstance(value, bool) and math.isfinite(value)


# -------------------------------------------------------------------------------------------- runs


def log_train(result, out_dir: Path, *, experiment: str = DEFAULT_EXPERIMENT, params: Mapping[str, Any],
              uri: str) -> dict[str, Any]:
    """Log a train invocation: a parent run, and one nested run per formula (the baseline included).

    Args:
        result: a :class:`innopoints.models.learning.train.TrainResult` (``formulas``, ``evaluation``).
        out_dir: the folder :func:`innopoints.pipeline.steps.write_train_outputs` wrote; its ``explain/`` and report
            files (``refinement.md``, ``evaluation.json``, ...) become the parent's artifacts.
        experiment: experiment name (created on first use).
        params: run settings (seed, data_fingerprint, config_hash, constraints, ...), flattened by
            :func:`flat_params`; logged on the parent and on every formula run.
        uri: the tracking store (see :func:`tracking_uri`).
    Returns:
        ``{"parent_run_id", "experiment_id", "best", "runs": {name: run_id}, "models": {name: model_uri},
        "content_hashes": {name: hash}}``. Run names are the formula names; the parent is ``train``.

    Under ``mlflow run`` (``MLFLOW_RUN_ID`` set) the entry point's run is the parent.
    """
    out_dir = Path(out_dir)
    _check_inputs(result, out_dir)
    run_params = flat_params(params)
    with _experiment_or_outer_run(experiment, uri) as (experiment_id, outer):
        return _log_runs(result, out_dir, run_params, uri=uri, experiment_id=experiment_id, outer=outer)


@contextmanager
def _experiment_or_outer_run(experiment: str, uri: str) -> Iterator[tuple[str, str | None]]:
    """``(experiment id, outer run id)``: under ``mlflow run`` (``MLFLOW_RUN_ID`` set) the entry point's run
    and its experiment, else ``experiment`` (created on first use) and no outer run."""
    client = MlflowClient(tracking_uri=uri)
    outer = os.environ.pop("MLFLOW_RUN_ID", None)  # consumed here, else every nested run would resume it
    try:
        if outer:
            with mlflow_errors(f"run {outer} (MLFLOW_RUN_ID)"):
                experiment_id = client.get_run(outer).info.experiment_id
        else:
            experiment_id = ensure_experiment(client, experiment, uri)
        yield experiment_id, outer
    finally:
        if outer:
            os.environ["MLFLOW_RUN_ID"] = outer


POLICY_RUN_NAME = "policy"
POLICY_HEADLINE = ("cutoff", "qualified_firms", "expected_volume", "volume_difference", "volume_ratio")


def log_policy(results: Mapping[str, Any], out_dir: Path, *, experiment: str = DEFAULT_EXPERIMENT,
               uri: str) -> str:
    """Log a policy simulation as one run (``policy``): the resolved policy as params, each formula's totals
    as metrics ``{formula}_{key}`` and the matched-loss headline as ``{formula}_at_equal_loss_{key}``, and
    every file of ``out_dir`` (policy.json, policy.md, plots) under ``policy/``. Aggregates only. Returns
    the run id (under ``mlflow run``, the entry point's run)."""
    out_dir = Path(out_dir)
    if not (out_dir / "policy.json").is_file():
        raise TrackingError(f"{out_dir}: no policy.json; log_policy logs the folder the policy step wrote")
    params = flat_params({"policy": results["policy"], "reference": results["reference"],
                          "scoring_year": results.get("data", {}).get("scoring_year")})
    params.update({f"formula_{_snake(label)}_content_hash": r["formula"]["content_hash"]
                   for label, r in results["formulas"].items()})
    metrics = {f"{_snake(label)}_{key}": float(r[key]) for label, r in results["formulas"].items()
               for key in SUMMARY_TOTALS if _is_number(r.get(key))}
    metrics.update({f"{_snake(h['formula'])}_at_equal_loss_{key}": float(h[key]) for h in results["headline"]
                    for key in POLICY_HEADLINE if _is_number(h.get(key))})
    with _experiment_or_outer_run(experiment, uri) as (experiment_id, outer), fluent_uri(uri), \
            mlflow_errors(f"logging the policy simulation to {uri}"):
        with mlflow.start_run(run_id=outer or None, experiment_id=experiment_id,
                              run_name=None if outer else POLICY_RUN_NAME) as run:
            mlflow.set_tags({TAG_KIND: "policy"})
            _log_params(params)
            mlflow.log_metrics(metrics)
            mlflow.log_artifacts(str(out_dir), "policy")
    return run.info.run_id


def _log_runs(result, out_dir: Path, run_params: dict[str, str], *, uri: str, experiment_id: str,
              outer: str | None) -> dict[str, Any]:
    """The parent run with its artifacts, then one nested run per formula (see :func:`log_train`)."""
    evaluation = result.evaluation
    best = evaluation.get("best")
    runs: dict[str, str] = {}
    models: dict[str, str] = {}
    hashes: dict[str, str] = {}
    with fluent_uri(uri), mlflow_errors(f"logging to {uri}"), tempfile.TemporaryDirectory() as scratch:
        # An outer run keeps its own name; otherwise the parent is named "train".
        with mlflow.start_run(run_id=outer or None, experiment_id=experiment_id,
                              run_name=None if outer else PARENT_RUN_NAME,
                              nested=mlflow.active_run() is not None) as parent:
            mlflow.set_tags({TAG_KIND: "train", TAG_BEST: str(best)})
            _log_params(run_params)
            if (out_dir / "explain").is_dir():
                mlflow.log_artifacts(str(out_dir / "explain"), "explain")
            for file in REPORT_FILES:
                if (out_dir / file).is_file():
                    mlflow.log_artifact(str(out_dir / file), "report")
            for name, formula in result.formulas.items():
                folder = Path(scratch) / name
                folder.mkdir()
                with mlflow.start_run(experiment_id=experiment_id, run_name=name, nested=True) as child:
                    info = _log_formula_run(formula, name, evaluation["formulas"].get(name, {}),
                                            is_best=name == best, params=run_params, folder=folder)
                runs[name], models[name] = child.info.run_id, info.model_uri
                hashes[name] = formula.provenance.content_hash
    return {"parent_run_id": parent.info.run_id, "experiment_id": experiment_id, "best": best, "runs": runs,
            "models": models, "content_hashes": hashes}


def _check_inputs(result, out_dir: Path) -> None:
    """Refuse before logging anything: a half-logged train run is worse than none."""
    if not (out_dir / "evaluation.json").is_file():
        raise TrackingError(
            f"{out_dir}: no evaluation.json; log_train logs the folder written by the train step "
            "(write_train_outputs) and it is missing or incomplete"
        )
    for name, formula in result.formulas.items():
        stored = formula.provenance.content_hash
        if not stored or stored != formula.compute_hash():
            raise TrackingError(
                f"formula {name!r}: provenance.content_hash is missing or stale; call with_hash() before "
                "logging, so the logged file loads back"
            )


def _log_params(params: Mapping[str, str]) -> None:
    items = list(params.items())
    for start in range(0, len(items), 100):  # MLflow takes at most 100 params per request
        mlflow.log_params(dict(items[start:start + 100]))


def _log_formula_run(formula: Formula, name: str, entry: Mapping[str, Any], *, is_best: bool,
                     params: Mapping[str, str], folder: Path):
    """Params, metrics, ``formula/`` and ``report/`` artifacts and the pyfunc model of one formula."""
    provenance = formula.provenance
    run_level = {key: params.get(key) or value for key, value in (
        ("seed", provenance.seed), ("data_fingerprint", provenance.data_fingerprint),
        ("config_hash", provenance.config_hash))}
    own = {"method": provenance.method, "formula_name": name, "formula_version": formula.version,
           "is_best": str(is_best).lower()}
    _log_params({**params, **flat_params(run_level), **flat_params(own)})
    mlflow.set_tags({TAG_KIND: "formula", TAG_FORMULA: name, TAG_HASH: provenance.content_hash})
    mlflow.log_metrics(formula_metrics(entry))
    path = folder / f"{name}.json"
    path.write_text(formula.to_text("json"), encoding="utf-8")
    weights = folder / f"{name}.weights.csv"
    weights.write_text(csv_text(readable_table(weights_table(formula))), encoding="utf-8")
    mlflow.log_artifact(str(path), "formula")
    mlflow.log_artifact(str(weights), "formula")
    mlflow.log_dict(dict(entry), "report/evaluation.json")  # this formula's aggregates only
    return log_formula_model(path, formula, name=MODEL_NAME)


def log_files(run_ids: list[str], files: list[Path], *, folder: str, uri: str) -> None:
    """Attach files (the comparison report) to existing runs under ``folder``."""
    client = MlflowClient(tracking_uri=uri)
    for run_id in run_ids:
        for path in files:
            with mlflow_errors(f"logging {path.name} to run {run_id}"):
                client.log_artifact(run_id, str(path), folder)
