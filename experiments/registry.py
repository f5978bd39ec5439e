"""Formulas as versions of one registered model, with aliases (``official``, ``candidate``, ``champion``).

MLflow aliases, not the retired stages (docs/field.md). Every version carries the formula name and
content hash as tags, and the formula it resolves to is checked against that hash.

References understood by :func:`resolve_formula` and :func:`promote`: ``models:/NAME@ALIAS``,
``models:/NAME/VERSION``, ``runs:/RUN_ID`` and a bare 32-hex run id (a formula run, not the parent train
run); :func:`promote` also takes a bare version number.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from innopoints.experiments.pyfunc import quiet_mlflow
from innopoints.experiments.tracking import TAG_FORMULA, TAG_HASH, TrackingError, fluent_uri, mlflow_errors
from innopoints.models.formula.schema import Formula

DEFAULT_MODEL = "innopoints-formula"
MODEL_ALIAS = re.compile(r"^models:/(?P<name>[^/@]+)@(?P<alias>[^/@]+)$")
MODEL_VERSION = re.compile(r"^models:/(?P<name>[^/@]+)/(?P<version>\d+)$")
RUN_REF = re.compile(r"^(?:runs:/)?(?P<run>[0-9a-f]{32})/?$")
MODEL_DESCRIPTION = "Points formulas of innopoints: each version scores firms with one formula."
REF_FORMS = "models:/NAME@ALIAS, models:/NAME/VERSION, runs:/RUN_ID or a 32-hex run id"


def register_formulas(log_result: Mapping[str, Any], *, name: str = DEFAULT_MODEL, uri: str,
                      aliases: Mapping[str, str] | None = None) -> dict[str, str]:
    """Register every formula run of :func:`innopoints.experiments.tracking.log_train` as a version of ``name``.

    ``aliases`` maps alias → formula name; the default points ``official`` at the baseline and
    ``candidate`` at the formula chosen on the validation year. Returns formula name → version.
    """
    runs, models = log_result["runs"], log_result["models"]
    hashes = log_result.get("content_hashes", {})
    if aliases is None:
        aliases = {"official": "baseline"}
        if log_result.get("best"):
            aliases["candidate"] = log_result["best"]
    unknown = {alias: formula for alias, formula in aliases.items() if formula not in runs}
    if unknown:
        raise TrackingError(
            f"aliases {unknown}: no such formula in this train run (formulas: {', '.join(runs)})"
        )
    client = MlflowClient(tracking_uri=uri)
    versions: dict[str, str] = {}
    # MLflow looks up a version's logged model through the global tracking URI, so point it at ``uri``.
    with fluent_uri(uri), mlflow_errors(f"registered model {name!r} in {uri}"):
        try:
            client.create_registered_model(name, description=MODEL_DESCRIPTION)
        except MlflowException as err:
            if err.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
        for formula, run_id in runs.items():
            tags = {TAG_FORMULA: formula, TAG_HASH: hashes.get(formula, "")}
            version = client.create_model_version(name, source=models[formula], run_id=run_id, tags=tags,
                                                  model_id=models[formula].removeprefix("models:/"))
            versions[formula] = str(version.version)
        for alias, formula in aliases.items():
            client.set_registered_model_alias(name, alias, versions[formula])
    return versions


def promote(ref: str, alias: str, *, name: str = DEFAULT_MODEL, uri: str) -> str:
    """Point ``alias`` of model ``name`` at the version behind ``ref``; returns that version."""
    client = MlflowClient(tracking_uri=uri)
    version = _version_of(client, ref.strip(), name, uri)
    with mlflow_errors(f"setting alias {alias!r} of {name!r} to version {version}"):
        client.set_registered_model_alias(name, alias, version)
    return version


def _version_of(client: MlflowClient, ref: str, name: str, uri: str) -> str:
    """The version of ``name`` a reference names (a run: its newest version)."""
    if ref.isdigit():
        ref = f"models:/{name}/{ref}"
    match = MODEL_ALIAS.match(ref) or MODEL_VERSION.match(ref)
    if match:
        if match["name"] != name:
            raise TrackingError(f"{ref!r} names model {match['name']!r}; aliases are moved within {name!r}")
        return str(_model_version(client, match, ref, uri).version)
    run = RUN_REF.match(ref)
    if run is None:
        raise TrackingError(f"unknown model reference {ref!r}: use a version number, {REF_FORMS}")
    with mlflow_errors(f"versions of {name!r} in {uri}"):
        found = client.search_model_versions(f"name = '{name}' and run_id = '{run['run']}'")
    if not found:
        raise TrackingError(f"run {run['run']} has no version of {name!r} in {uri}; register it first")
    return str(max(int(v.version) for v in found))


def _model_version(client: MlflowClient, match: re.Match, ref: str, uri: str):
    with mlflow_errors(f"{ref} in {uri}"):
        if "alias" in match.groupdict():
            return client.get_model_version_by_alias(match["name"], match["alias"])
        return client.get_model_version(match["name"], match["version"])


def resolve_formula(ref: str, *, uri: str) -> Formula:
    """The formula behind a registry or run reference (its ``formula/*.json`` artifact, hash checked)."""
    ref = ref.strip()
    client = MlflowClient(tracking_uri=uri)
    match = MODEL_ALIAS.match(ref) or MODEL_VERSION.match(ref)
    if match:
        version = _model_version(client, match, ref, uri)
        if not version.run_id:
            raise TrackingError(
                f"{ref}: version {version.version} has no run; it was not registered by innopoints")
        formula = _run_formula(client, version.run_id, uri)
        tagged = version.tags.get(TAG_HASH)
        if tagged and tagged != formula.provenance.content_hash:
            raise TrackingError(
                f"{ref}: the formula of run {version.run_id} hashes to "
                f"{formula.provenance.content_hash[:12]}… but the version was registered with "
                f"{tagged[:12]}…"
            )
        return formula
    run = RUN_REF.match(ref)
    if run is None:
        raise TrackingError(f"unknown formula reference {ref!r}: use {REF_FORMS}, a file or builtin:NAME")
    return _run_formula(client, run["run"], uri)


def _run_formula(client: MlflowClient, run_id: str, uri: str) -> Formula:
    with mlflow_errors(f"run {run_id} in {uri}"):
        run = client.get_run(run_id)
        files = [f.path for f in client.list_artifacts(run_id, "formula") if f.path.endswith(".json")]
    if len(files) != 1:
        raise TrackingError(
            f"run {run_id} has {len(files)} formula/*.json artifacts, expected 1: is it a formula run? "
            f"{_formula_runs_hint(client, run)}"
        )
    with tempfile.TemporaryDirectory() as tmp, quiet_mlflow(), mlflow_errors(f"run {run_id} in {uri}"):
        text = Path(client.download_artifacts(run_id, files[0], dst_path=tmp)).read_text(encoding="utf-8")
    return Formula.from_text(text, "json")


def _formula_runs_hint(client: MlflowClient, run) -> str:
    """For a parent train run: the ids of its formula runs."""
    children = client.search_runs([run.info.experiment_id], f"tags.mlflow.parentRunId = '{run.info.run_id}'")
    if not children:
        return "Formula runs are the nested runs of a train run."
    listed = ", ".join(f"{c.info.run_name} {c.info.run_id}" for c in children[:5])
    return f"It is a train run; its formula runs are: {listed}{' …' if len(children) > 5 else ''}"
