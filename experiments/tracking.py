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

import contextlib
import dataclasses
import functools
import json
import math
import os
import re
import shutil
import socket
import tempfile
import threading
import time
import warnings
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import mlflow
import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from innopoints.experiments.formatting import csv_text, readable_table
from innopoints.experiments.pyfunc import log_formula_model
from innopoints.experiments.store import check_store_access, shorten, sqlite_path, unusable
from innopoints.features.errors import TrackingError
from innopoints.models.formula.schema import Formula, weights_table
from innopoints.models.policy.loss import SUMMARY_TOTALS

DEFAULT_EXPERIMENT = "innopoints"
ARTIFACT_DIR = "mlartifacts"
REPORT_FILES = ("refinement.md", "evaluation.json", "refinement.json", "frontier.json")
METRIC_SPLITS = ("train", "validation", "test")
INTERVAL_SUFFIXES = ("low", "mid", "high")
LOCK_TIMEOUT_S = 300  # creating MLflow's tables takes seconds; a lock held this long is a stuck process
MAX_PARAM_CHARS = 500  # far above any setting; a longer value is data, which never goes into MLflow
TAG_KIND = "innopoints.kind"
TAG_BEST = "innopoints.best"
TAG_FORMULA = "innopoints.formula"
TAG_HASH = "innopoints.content_hash"
# Lineage, on every train and formula run (and on the registered versions).
TAG_PACKAGE_VERSION = "innopoints.package_version"
TAG_GIT_COMMIT = "innopoints.git_commit"
TAG_DATA_PATH = "innopoints.data_path"
TAG_DATA_FINGERPRINT = "innopoints.data_fingerprint"
TAG_CONFIG_HASH = "innopoints.config_hash"
TAG_BASELINE = "innopoints.baseline"
LINEAGE_TAGS = (TAG_PACKAGE_VERSION, TAG_GIT_COMMIT, TAG_DATA_PATH, TAG_DATA_FINGERPRINT, TAG_CONFIG_HASH,
                TAG_BASELINE)
# Which process a run belongs to, and how it ended when that process was stopped.
TAG_HOST = "innopoints.host"
TAG_PID = "innopoints.pid"
TAG_PID_START = "innopoints.pid_start"
TAG_ENDED_BY = "innopoints.ended_by"
# Under `mlflow run` with another experiment: the entry point's run and our parent name each other.
TAG_MLFLOW_RUN = "innopoints.mlflow_run"
TAG_PARENT = "innopoints.parent"
TAG_LOGGED_TO = "innopoints.logged_to"
DEFAULT_EXPERIMENT_ID = "0"  # MLflow's "Default"



# ------------------------------------------------------------------------------------------ the store


def artifact_location(uri: str) -> str | None:
    """Where a new experiment keeps artifacts: ``mlartifacts/`` beside a SQLite file; the server's choice
    for any other store (a shared server has its own artifact root)."""
    db = sqlite_path(uri)
    return (db.absolute().parent / ARTIFACT_DIR).as_uri() if db is not None else None


def check_tracking(uri: str, timeout_s: float = 5.0, *, create: bool = True) -> None:
    """Fail fast, with one :class:`TrackingError`, when the store at ``uri`` cannot be used.

    Called before heavy work. A SQLite store must be writable (its folder too: SQLite writes a journal
    beside it), checked before anything is created, so a refused store leaves nothing behind; it is created
    on first use (its folder too; MLflow's tables take a few seconds, so no deadline there) under a file lock,
    so two commands starting on the same fresh store do not race on the schema migration. With ``create``
    False a missing SQLite file is an error instead (a lookup or ``promote`` never makes an empty store).
    For a server, the port is probed first, then one request is made with retries off (MLflow's own
    retries would wait minutes on a dead server), and the store gets ``timeout_s`` to answer.
    """
    check_store_access(uri, create=create)  # the checks that need no MLflow (innopoints.experiments.store)
    probe_tracking(uri, timeout_s)


def probe_tracking(uri: str, timeout_s: float = 5.0) -> None:
    """The part of :func:`check_tracking` that needs MLflow, for a caller that has already run
    :func:`innopoints.experiments.store.check_store_access` (before importing this module)."""
    db = sqlite_path(uri)
    if db is not None:
        db = db.absolute()
        error = _probe_sqlite(uri, db)
    else:
        parsed = urlparse(uri)
        if parsed.scheme in ("http", "https"):
            host = parsed.hostname or "localhost"
            port = parsed.port or (443 if parsed.scheme == "https" else 80)
            try:
                with socket.create_connection((host, port), timeout=timeout_s):
                    pass
            except OSError as err:
                raise TrackingError(unusable(uri, f"cannot connect to {host}:{port} ({err})")) from None
        error = _probe_with_deadline(uri, timeout_s)
    if error is not None:
        reason = error.message if isinstance(error, MlflowException) else f"{type(error).__name__}: {error}"
        raise TrackingError(unusable(uri, shorten(reason), error))


def _probe_sqlite(uri: str, db: Path) -> BaseException | None:
    """:func:`_probe` of a SQLite store under a lock file beside it: the first process creates the tables and
    runs MLflow's schema migration, the others wait and find them made."""
    from filelock import FileLock, Timeout

    lock = FileLock(str(db.with_name(f".{db.name}.lock")), timeout=LOCK_TIMEOUT_S)
    try:
        with lock:
            return _probe(uri)
    except Timeout:
        return TimeoutError(f"another process held {lock.lock_file} for {LOCK_TIMEOUT_S} s")


def _probe(uri: str) -> BaseException | None:
    """The error of one cheap request to the store, or None."""
    try:
        client = MlflowClient(tracking_uri=uri)
        client.search_experiments(max_results=1)
        client.search_registered_models(max_results=1)  # the registry's own store (and tables) too
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
        # MLflow prints a link per run ended against a server; the summary prints one link for all.
        with _env(MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT="true"):
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


def log_train(result, out_dir: Path, *, experiment: str | None = DEFAULT_EXPERIMENT, params: Mapping[str, Any],
              uri: str, lineage: Mapping[str, Any] | None = None, run_name: str | None = None,
              registered: Collection[str] = ()) -> dict[str, Any]:
    """Log a train invocation: a parent run, and one nested run per formula (the baseline included).

    Args:
        result: a :class:`innopoints.models.learning.train.TrainResult` (``formulas``, ``evaluation``).
        out_dir: the folder :func:`innopoints.pipeline.steps.write_train_outputs` wrote; its ``explain/`` and report
            files (``refinement.md``, ``evaluation.json``, ...) become the parent's artifacts.
        experiment: experiment name (created on first use); empty or None: ``MLFLOW_EXPERIMENT_NAME``, else
            the experiment of the ``mlflow run`` entry point's run, else ``innopoints``.
        params: run settings (seed, data_fingerprint, config_hash, constraints, ...), flattened by
            :func:`flat_params`; logged on the parent and on every formula run.
        uri: the tracking store (see :func:`innopoints.experiments.store.tracking_uri`).
        lineage: where the run comes from (:func:`lineage_tags`: package version, git commit, data path and
            fingerprint, cohort size, baseline reference, config hash), set as ``innopoints.*`` tags on every
            run; with ``data_path`` and ``data_fingerprint`` the data is also logged as a dataset
            (``mlflow.log_input``, metadata only).
        run_name: the parent's name (default ``train · <data> · <UTC time>``).
        registered: content hashes that already have a registered version: their formula runs log no model
            (the version is reused, see :func:`innopoints.experiments.registry.register_formulas`).
    Returns:
        ``{"parent_run_id", "experiment_id", "best", "runs": {name: run_id}, "models": {name: model_uri},
        "content_hashes": {name: hash}}``. Formula runs are named after their formulas.

    Under ``mlflow run`` (``MLFLOW_RUN_ID`` set) the parent is nested in the entry point's run when both are in
    the same experiment, else it is linked to it by tags (``innopoints.mlflow_run`` / ``innopoints.parent``);
    the entry point's own params are never rewritten (``-P seed=01`` stays ``01`` there). A run stopped by
    Ctrl-C or SIGTERM is ended as KILLED; one killed outright (``kill -9``) is ended as KILLED by the next
    command that logs to the experiment from the same machine.
    """
    out_dir = Path(out_dir)
    _check_inputs(result, out_dir)
    run_params = flat_params(params)
    tags = {**lineage_tags(), **{k: str(v) for k, v in (lineage or {}).items() if v is not None}}
    run_name = run_name or describe_run("train", tags.get(TAG_DATA_PATH))
    with _experiment_or_outer_run(experiment, uri) as (experiment_id, outer):
        close_orphaned_runs(uri, experiment_id)
        return _log_runs(result, out_dir, run_params, uri=uri, experiment_id=experiment_id, outer=outer,
                         tags=tags, run_name=run_name, registered=set(registered))


def describe_run(kind: str, data_path: str | None) -> str:
    """``<kind> · <data folder> · <UTC time>``: a run name that says what ran, on what, when."""
    data = Path(data_path).name if data_path else "data"
    return f"{kind} · {data} · {datetime.now(UTC).strftime('%Y-%m-%d %H:%M:%S')}"


def lineage_tags() -> dict[str, str]:
    """Package version and, in a git checkout, the commit (``+dirty`` with uncommitted changes)."""
    tags = {TAG_PACKAGE_VERSION: _package_version()}
    commit = git_commit()
    if commit:
        tags[TAG_GIT_COMMIT] = commit
    return tags


def _package_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("innopoints")
    except metadata.PackageNotFoundError:
        return "unknown"


@functools.cache
def git_commit() -> str | None:
    """The commit of the checkout the code runs from, or None outside a git checkout (an installed wheel)."""
    import subprocess

    folder = Path(__file__).resolve().parent
    try:
        head = subprocess.run(["git", "-C", str(folder), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(folder), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{head}+dirty" if dirty else head or None


@contextmanager
def _experiment_or_outer_run(experiment: str | None, uri: str) -> Iterator[tuple[str, str | None]]:
    """``(experiment id, outer run id or None)``. The experiment is ``experiment`` when given, else
    ``MLFLOW_EXPERIMENT_NAME``, else under ``mlflow run`` (``MLFLOW_RUN_ID`` set) the entry point's experiment
    unless it is MLflow's Default, else ``innopoints``. The outer run is the entry point's run when it is in
    that experiment (new runs nest in it), else None (they are linked to it by tags)."""
    client = MlflowClient(tracking_uri=uri)
    name = (experiment or "").strip() or os.environ.get("MLFLOW_EXPERIMENT_NAME", "").strip() or None
    outer = os.environ.pop("MLFLOW_RUN_ID", None)  # consumed here, else every nested run would resume it
    try:
        if outer:
            with mlflow_errors(f"run {outer} (MLFLOW_RUN_ID)"):
                outer_experiment = client.get_experiment(client.get_run(outer).info.experiment_id)
            if name is None and outer_experiment.experiment_id != DEFAULT_EXPERIMENT_ID:
                name = outer_experiment.name
            name = name or DEFAULT_EXPERIMENT
            if name == outer_experiment.name:
                yield outer_experiment.experiment_id, outer
                return
            experiment_id = ensure_experiment(client, name, uri)
            with mlflow_errors(f"run {outer} (MLFLOW_RUN_ID)"):
                client.set_tag(outer, TAG_LOGGED_TO, name)
            _LINKED_OUTER.append(outer)
            try:
                yield experiment_id, None
            finally:
                _LINKED_OUTER.pop()
        else:
            yield ensure_experiment(client, name or DEFAULT_EXPERIMENT, uri), None
    finally:
        if outer:
            os.environ["MLFLOW_RUN_ID"] = outer


_LINKED_OUTER: list[str] = []  # the mlflow-run entry point a parent in another experiment is linked to


# ------------------------------------------------------------------------------ runs that were killed


def _process_marks() -> dict[str, str]:
    """Tags naming this process, so the next command can tell whether a RUNNING run is still alive."""
    return {TAG_HOST: socket.gethostname(), TAG_PID: str(os.getpid()), TAG_PID_START: _start_time(os.getpid())}


def _start_time(pid: int) -> str:
    """The process's start time in clock ticks since boot (Linux), so a reused pid is not taken for it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[1].split()[19]


def _alive(pid: str, started: str) -> bool:
    try:
        os.kill(int(pid), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        pass  # exists, another user's
    return not started or _start_time(int(pid)) in ("", started)


def close_orphaned_runs(uri: str, experiment_id: str) -> list[str]:
    """End as KILLED the RUNNING runs of ``experiment_id`` that a process of this machine started and that
    process is gone (``kill -9``, a power cut). Returns their ids. Runs of other machines are left alone."""
    client = MlflowClient(tracking_uri=uri)
    host = socket.gethostname().replace("'", "")
    with mlflow_errors(f"runs of experiment {experiment_id} in {uri}"):
        running = client.search_runs([experiment_id], f"attributes.status = 'RUNNING' and tags.`{TAG_HOST}` = "
                                     f"'{host}'", max_results=1000)
        closed = []
        for run in running:
            pid, started = run.data.tags.get(TAG_PID, ""), run.data.tags.get(TAG_PID_START, "")
            if pid and not _alive(pid, started):
                client.set_tag(run.info.run_id, TAG_ENDED_BY, f"next start: process {pid} was gone")
                client.set_terminated(run.info.run_id, "KILLED")
                closed.append(run.info.run_id)
    return closed


class _Terminated(BaseException):
    """SIGTERM while logging, raised so every open run is ended (as KILLED) on the way out."""


@contextmanager
def _killed_runs_ended(uri: str, started: list[str]) -> Iterator[None]:
    """End every run in ``started`` as KILLED on Ctrl-C or SIGTERM (then re-raise); other failures leave
    them FAILED, as MLflow ends them."""
    import signal

    previous = None
    in_main = threading.current_thread() is threading.main_thread()
    if in_main:
        def _raise(signum, frame):
            raise _Terminated(signum)

        previous = signal.signal(signal.SIGTERM, _raise)
    try:
        yield
    except (KeyboardInterrupt, _Terminated) as stop:
        client = MlflowClient(tracking_uri=uri)
        for run_id in reversed(started):
            with contextlib.suppress(Exception):
                client.set_tag(run_id, TAG_ENDED_BY, "Ctrl-C" if isinstance(stop, KeyboardInterrupt) else "SIGTERM")
                client.set_terminated(run_id, "KILLED")
        if isinstance(stop, _Terminated):
            raise SystemExit(128 + signal.SIGTERM) from None
        raise
    finally:
        if in_main:
            signal.signal(signal.SIGTERM, previous)


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
              outer: str | None, tags: Mapping[str, str], run_name: str,
              registered: Collection[str] = ()) -> dict[str, Any]:
    """The parent run with its artifacts, then one nested run per formula (see :func:`log_train`).

    Few requests: each run's params, metrics and tags go in one ``log_batch``, and each formula's model is
    logged before its metrics (MLflow would otherwise read back every metric's history to link it).
    """
    evaluation = result.evaluation
    best = evaluation.get("best")
    losses = evaluation.get("selection", {}).get("validation_log_loss", {})

    def entry_of(name: str) -> dict:
        """A formula's evaluation with its validation log loss (the metric that picks the recommendation)."""
        entry = dict(evaluation["formulas"].get(name, {}))
        if name in losses and _is_number(losses[name]):
            entry["validation_log_loss"] = float(losses[name])
        return entry

    runs: dict[str, str] = {}
    models: dict[str, str] = {}
    hashes: dict[str, str] = {}
    started: list[str] = []
    client = MlflowClient(tracking_uri=uri)
    marks = _process_marks()
    dataset = _dataset(tags)
    linked = {TAG_MLFLOW_RUN: _LINKED_OUTER[-1]} if _LINKED_OUTER else {}
    with _killed_runs_ended(uri, started), fluent_uri(uri), mlflow_errors(f"logging to {uri}"), \
            tempfile.TemporaryDirectory() as scratch:
        with mlflow.start_run(experiment_id=experiment_id, run_name=run_name, nested=outer is not None,
                              parent_run_id=outer, tags={**marks, TAG_KIND: "train"}) as parent:
            started.append(parent.info.run_id)
            if linked:
                client.set_tag(linked[TAG_MLFLOW_RUN], TAG_PARENT, parent.info.run_id)
            head = formula_metrics(entry_of(best)) if best else {}
            log_batch(client, parent.info.run_id, params=run_params, metrics=head,
                      tags={**tags, **linked, TAG_BEST: str(best)})
            if dataset is not None:
                mlflow.log_input(dataset, context="training")
            if (out_dir / "explain").is_dir():
                mlflow.log_artifacts(str(out_dir / "explain"), "explain")
            report = Path(scratch) / "report"
            report.mkdir()
            for file in REPORT_FILES:
                if (out_dir / file).is_file():
                    shutil.copy2(out_dir / file, report / file)
            mlflow.log_artifacts(str(report), "report")
            for name, formula in result.formulas.items():
                folder = Path(scratch) / "formulas" / name
                folder.mkdir(parents=True)
                entry = entry_of(name)
                with mlflow.start_run(experiment_id=experiment_id, run_name=name, nested=True,
                                      tags={**marks, TAG_KIND: "formula"}) as child:
                    started.append(child.info.run_id)
                    info = _log_formula_run(client, child.info.run_id, formula, name, entry, is_best=name == best,
                                            params=run_params, tags=tags, folder=folder,
                                            with_model=formula.provenance.content_hash not in registered)
                    if dataset is not None:
                        mlflow.log_input(dataset, context="training")
                runs[name], models[name] = child.info.run_id, info.model_uri if info else None
                hashes[name] = formula.provenance.content_hash
    return {"parent_run_id": parent.info.run_id, "experiment_id": experiment_id, "best": best, "runs": runs,
            "models": models, "content_hashes": hashes, "lineage": {k: tags[k] for k in LINEAGE_TAGS if k in tags}}


def _dataset(tags: Mapping[str, str]):
    """The input data as an MLflow dataset: its folder and fingerprint only (no rows, no profile)."""
    path, digest = tags.get(TAG_DATA_PATH), tags.get(TAG_DATA_FINGERPRINT)
    if not path or not digest:
        return None
    from mlflow.data.dataset_source_registry import resolve_dataset_source
    from mlflow.data.meta_dataset import MetaDataset

    with warnings.catch_warnings():  # MLflow registers the local-file source twice and says so on every call
        warnings.simplefilter("ignore", UserWarning)
        source = resolve_dataset_source(Path(path).absolute().as_posix())
    return MetaDataset(source=source, name=Path(path).name or "data", digest=digest[:36])


def log_batch(client: MlflowClient, run_id: str, *, params: Mapping[str, str] | None = None,
              metrics: Mapping[str, float] | None = None, tags: Mapping[str, str] | None = None) -> None:
    """Params, metrics and tags of one run in as few requests as MLflow's limits allow (100 params, 100 tags,
    1,000 entities per request)."""
    from mlflow.entities import Metric, Param, RunTag

    now = int(time.time() * 1000)
    items = ([("p", Param(k, str(v))) for k, v in (params or {}).items()]
             + [("t", RunTag(k, str(v))) for k, v in (tags or {}).items()]
             + [("m", Metric(k, float(v), now, 0)) for k, v in (metrics or {}).items()])
    while items:
        batch: dict[str, list] = {"p": [], "t": [], "m": []}
        rest = []
        for kind, item in items:
            full = (kind != "m" and len(batch[kind]) >= 100) or sum(map(len, batch.values())) >= 1000
            (rest if full else batch[kind]).append((kind, item) if full else item)
        client.log_batch(run_id, metrics=batch["m"], params=batch["p"], tags=batch["t"])
        items = rest


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


def _log_formula_run(client: MlflowClient, run_id: str, formula: Formula, name: str, entry: Mapping[str, Any], *,
                     is_best: bool, params: Mapping[str, str], tags: Mapping[str, str], folder: Path,
                     with_model: bool = True):
    """The pyfunc model (named after the formula; not when ``with_model`` is False: its version exists),
    ``formula/`` and ``report/`` artifacts, then params, metrics and tags in one batch. The model's
    ``ModelInfo`` or None."""
    provenance = formula.provenance
    run_level = {key: params.get(key) or value for key, value in (
        ("seed", provenance.seed), ("data_fingerprint", provenance.data_fingerprint),
        ("config_hash", provenance.config_hash))}
    own = {"method": provenance.method, "formula_name": name, "formula_version": formula.version,
           "is_best": str(is_best).lower()}
    path = folder / f"{name}.json"
    path.write_text(formula.to_text("json"), encoding="utf-8")
    weights = folder / f"{name}.weights.csv"
    weights.write_text(csv_text(readable_table(weights_table(formula))), encoding="utf-8")
    info = log_formula_model(path, formula, name=name) if with_model else None  # before the metrics: _log_runs
    mlflow.log_artifacts(str(folder), "formula")
    mlflow.log_dict(dict(entry), "report/evaluation.json")  # this formula's aggregates only
    log_batch(client, run_id, params={**params, **flat_params(run_level), **flat_params(own)},
              metrics=formula_metrics(entry),
              tags={**tags, TAG_FORMULA: name, TAG_HASH: provenance.content_hash})
    return info


def log_files(run_ids: list[str], files: list[Path], *, folder: str, uri: str) -> None:
    """Attach files (the comparison report) to existing runs under ``folder``."""
    client = MlflowClient(tracking_uri=uri)
    for run_id in run_ids:
        for path in files:
            with mlflow_errors(f"logging {path.name} to run {run_id}"):
                client.log_artifact(run_id, str(path), folder)
