"""Formulas as versions of one registered model, with aliases (``official``, ``candidate``, ``champion``).

MLflow aliases, not the retired stages (docs/mlflow.md). The registry is a shared record, so:

- **One version per distinct formula.** A formula whose content hash is already registered reuses that
  version (tagged with the new run) instead of registering a copy. Two processes registering the same new
  formula at once both create a version, then re-read: the lower version number wins and the other process
  deletes its own copy.
- **Aliases move only on purpose.** ``train`` and ``run`` never move ``official``; they move ``candidate``
  only when the recommended formula passes :func:`gate` and nobody set the alias by hand (``promote``)
  since; ``--set-alias NAME`` / ``--no-alias`` make the choice explicit. Every move re-reads the alias first
  and leaves it alone when it changed since the run started (the last writer never silently wins).
- **Who moved an alias** is recorded on the version it points at: tags ``innopoints.alias.<alias>.set_by``
  (``promote:<user>`` or ``run:<run id>``) and ``innopoints.alias.<alias>.set_at`` (UTC, ISO 8601).

References understood by :func:`resolve_formula` and :func:`promote`: ``models:/NAME@ALIAS``,
``models:/NAME/VERSION``, ``runs:/RUN_ID`` and a bare 32-hex run id (a formula run, not the parent train
run); :func:`promote` also takes a bare version number. A registered version is read from the registered
model itself (its ``formula`` artifact), not from the run that logged it.
"""

from __future__ import annotations

import getpass
import math
import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from innopoints.experiments.pyfunc import quiet_mlflow
from innopoints.experiments.tracking import (
    TAG_FORMULA,
    TAG_HASH,
    TrackingError,
    fluent_uri,
    mlflow_errors,
)
from innopoints.models.formula.schema import Formula

DEFAULT_MODEL = "innopoints-formula"
CANDIDATE = "candidate"
OFFICIAL = "official"
MODEL_ALIAS = re.compile(r"^models:/(?P<name>[^/@]+)@(?P<alias>[^/@]+)$")
MODEL_VERSION = re.compile(r"^models:/(?P<name>[^/@]+)/(?P<version>\d+)$")
RUN_REF = re.compile(r"^(?:runs:/)?(?P<run>[0-9a-f]{32})/?$")
MODEL_DESCRIPTION = "Points formulas of innopoints: each version scores firms with one formula."
REF_FORMS = "models:/NAME@ALIAS, models:/NAME/VERSION, runs:/RUN_ID or a 32-hex run id"
TAG_RUN = "innopoints.run_id"  # the run that registered the version
TAG_LAST_RUN = "innopoints.last_run_id"  # the newest run that produced the same formula
TAG_MODEL_VERSION = "innopoints.model_version"  # on a formula run: NAME/VERSION it is registered as
TAG_RUNS = "innopoints.runs"  # every run that produced it, comma-separated, newest last (bounded)
MAX_RUNS_TAG = 4000  # MLflow's tag values hold 5,000 characters; older run ids drop off the front
# The gate `candidate` must pass to move on its own: the test year's ΔAUC interval against the baseline lies
# above zero and rests on at least this many test defaults (below it, the reports already warn that
# intervals are wide).
GATE_MIN_TEST_DEFAULTS = 30


def alias_tag(alias: str, what: str) -> str:
    """``innopoints.alias.<alias>.set_by`` / ``.set_at``: who set ``alias`` on a version, and when."""
    return f"innopoints.alias.{alias}.{what}"


def current_user() -> str:
    """Who is acting: the tracking server's user name when one is set, else the login name."""
    user = os.environ.get("MLFLOW_TRACKING_USERNAME", "").strip()
    if user:
        return user
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name (a container without a passwd entry)
        return "unknown"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ------------------------------------------------------------------------------------------ the gate


def gate(evaluation: Mapping[str, Any], *, min_defaults: int = GATE_MIN_TEST_DEFAULTS) -> tuple[bool, str]:
    """Whether the recommended formula may move ``candidate`` on its own, and why (one phrase).

    It passes when its test ΔAUC against the baseline (paired-bootstrap 95 % interval) is above zero and the
    test year has at least ``min_defaults`` defaults.
    """
    best = evaluation.get("best")
    if not best or best == "baseline":
        return False, "the recommended formula is the baseline"
    entry = evaluation.get("formulas", {}).get(best, {})
    defaults = entry.get("test_defaults", evaluation.get("split", {}).get("test_defaults"))
    delta = entry.get("delta_auc_vs_baseline")
    if delta is None or len(delta) != 3 or not all(_finite(v) for v in delta):
        return False, f"{best} has no ΔAUC interval against the baseline"
    interval = f"test ΔAUC {delta[1]:+.3f} [{delta[0]:+.3f}, {delta[2]:+.3f}]"
    if defaults is None or int(defaults) < min_defaults:
        return False, f"{best}: only {defaults} test defaults (the gate needs ≥ {min_defaults}); {interval}"
    if delta[0] <= 0:
        return False, f"{best}: {interval} includes zero ({defaults} test defaults)"
    return True, f"{best}: {interval} above zero, {defaults} test defaults ≥ {min_defaults}"


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


# ------------------------------------------------------------------------------------------ versions


def alias_snapshot(aliases: Sequence[str], *, name: str = DEFAULT_MODEL, uri: str) -> dict[str, str | None]:
    """The version each alias points at now (None: unset or no model yet). Taken before training, it is
    what an alias move compares against afterwards."""
    client = MlflowClient(tracking_uri=uri)
    with mlflow_errors(f"registered model {name!r} in {uri}"):
        try:
            model = client.get_registered_model(name)
        except MlflowException as err:
            if err.error_code == "RESOURCE_DOES_NOT_EXIST":
                return dict.fromkeys(aliases)
            raise
    return {alias: _str_or_none(model.aliases.get(alias)) for alias in aliases}


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def registered_hashes(*, name: str = DEFAULT_MODEL, uri: str) -> dict[str, str]:
    """Content hash → the lowest version of ``name`` registered with it."""
    client = MlflowClient(tracking_uri=uri)
    with mlflow_errors(f"versions of {name!r} in {uri}"):
        versions = _all_versions(client, name)
    out: dict[str, str] = {}
    for v in sorted(versions, key=lambda v: int(v.version)):
        out.setdefault(v.tags.get(TAG_HASH, ""), str(v.version))
    out.pop("", None)
    return out


def _all_versions(client: MlflowClient, name: str) -> list:
    found, token = [], None
    while True:
        page = client.search_model_versions(f"name = '{name}'", max_results=1000, page_token=token)
        found.extend(page)
        token = page.token
        if not token:
            return found


def register_formulas(log_result: Mapping[str, Any], *, name: str = DEFAULT_MODEL, uri: str) -> dict[str, dict]:
    """Register every formula run of :func:`innopoints.experiments.tracking.log_train` as a version of ``name``,
    one version per distinct content hash. Moves no alias (see :func:`move_alias`).

    Returns formula name → ``{"version": "3", "new": bool}``; ``new`` is False when an earlier run had already
    registered the same formula (that version is tagged with this run instead).
    """
    runs, models = log_result["runs"], log_result["models"]
    hashes = log_result.get("content_hashes", {})
    client = MlflowClient(tracking_uri=uri)
    out: dict[str, dict] = {}
    # MLflow looks up a version's logged model through the global tracking URI, so point it at ``uri``.
    with fluent_uri(uri), mlflow_errors(f"registered model {name!r} in {uri}"):
        try:
            client.create_registered_model(name, description=MODEL_DESCRIPTION)
        except MlflowException as err:
            if err.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
        known = registered_hashes(name=name, uri=uri)
        for formula, run_id in runs.items():
            content_hash = hashes.get(formula, "")
            version = known.get(content_hash) if content_hash else None
            new = version is None
            if new:
                version, new = _create_version(client, name, formula, content_hash, run_id, models.get(formula),
                                               log_result.get("lineage", {}))
                if content_hash:
                    known[content_hash] = version
            if not new:  # a new version got its run tags when it was created
                _tag_reuse(client, name, version, run_id)
            client.set_tag(run_id, TAG_MODEL_VERSION, f"{name}/{version}")
            out[formula] = {"version": version, "new": new}
    return out


def _create_version(client: MlflowClient, name: str, formula: str, content_hash: str, run_id: str,
                    model_uri: str | None, lineage: Mapping[str, str] | None = None) -> tuple[str, bool]:
    """A new version and True; when another process registered the same hash meanwhile, the lowest version
    wins, this process deletes its own copy and returns that one and False."""
    if not model_uri:
        raise TrackingError(f"formula {formula!r}: no logged model to register (run {run_id})")
    tags = {**(lineage or {}), TAG_FORMULA: formula, TAG_HASH: content_hash, TAG_RUN: run_id, TAG_RUNS: run_id,
            TAG_LAST_RUN: run_id}
    # await_creation_for=0: local and served stores create versions READY at once (no polling, no waiting line).
    created = client.create_model_version(name, source=model_uri, run_id=run_id, tags=tags,
                                          model_id=model_uri.removeprefix("models:/"), await_creation_for=0)
    version = str(created.version)
    if content_hash:
        same = [v for v in _all_versions(client, name) if v.tags.get(TAG_HASH) == content_hash]
        lowest = str(min(int(v.version) for v in same)) if same else version
        if lowest != version:
            client.delete_model_version(name, version)
            return lowest, False
    return version, True


def _tag_reuse(client: MlflowClient, name: str, version: str, run_id: str) -> None:
    """Record ``run_id`` among the runs that produced the version's formula."""
    runs = client.get_model_version(name, version).tags.get(TAG_RUNS, "")
    listed = [r for r in runs.split(",") if r and r != run_id] + [run_id]
    text = ",".join(listed)
    while len(text) > MAX_RUNS_TAG:
        listed.pop(0)
        text = ",".join(listed)
    client.set_model_version_tag(name, version, TAG_RUNS, text)
    client.set_model_version_tag(name, version, TAG_LAST_RUN, run_id)


# ------------------------------------------------------------------------------------------ aliases


@dataclass(frozen=True)
class AliasOutcome:
    """What happened to one alias: ``moved`` to ``version`` or left at ``current``, and why."""

    alias: str
    moved: bool
    version: str | None  # the version the run wanted the alias at
    current: str | None  # where the alias points after the decision
    reason: str

    def line(self, name: str = DEFAULT_MODEL) -> str:
        if self.moved:
            state = f"moved to version {self.current}"
        else:
            state = f"left at version {self.current}" if self.current else "left unset"
        return f"models:/{name}@{self.alias} {state}: {self.reason}"


def move_alias(alias: str, version: str, *, seen: str | None, run_id: str, reason: str,
               respect_manual: bool, name: str = DEFAULT_MODEL, uri: str) -> AliasOutcome:
    """Point ``alias`` at ``version`` unless it changed since the run read it (``seen``) or, with
    ``respect_manual``, someone set it by hand with ``promote``. Records who and when on the version."""
    client = MlflowClient(tracking_uri=uri)
    with mlflow_errors(f"alias {alias!r} of {name!r} in {uri}"):
        current = _alias_version(client, name, alias)
        if current == version:
            return AliasOutcome(alias, False, version, current, f"already there ({reason})")
        if current != seen:
            by = _set_by(client, name, current, alias)
            return AliasOutcome(alias, False, version, current,
                                f"it moved from {_v(seen)} to {_v(current)} while this run worked"
                                f"{by}; not overwritten (`innopoints promote` moves it on purpose)")
        if respect_manual and current is not None:
            tags = client.get_model_version(name, current).tags
            if tags.get(alias_tag(alias, "set_by"), "").startswith("promote:"):
                return AliasOutcome(alias, False, version, current,
                                    f"set by hand ({tags[alias_tag(alias, 'set_by')]} at "
                                    f"{tags.get(alias_tag(alias, 'set_at'), '?')}); `innopoints promote` moves it")
        _set_alias(client, name, alias, version, f"run:{run_id}")
        after = _alias_version(client, name, alias)
    if after != version:  # someone set it between our read and our write: say so, never claim the move
        return AliasOutcome(alias, False, version, after, f"another writer set it to {_v(after)} at the same time")
    return AliasOutcome(alias, True, version, after, reason)


def decide_aliases(evaluation: Mapping[str, Any], versions: Mapping[str, Mapping[str, Any]], *,
                   set_alias: str | None, no_alias: bool, seen: Mapping[str, str | None], run_id: str,
                   name: str = DEFAULT_MODEL, uri: str) -> list[AliasOutcome]:
    """What a train or run does with aliases: nothing (``no_alias``), ``set_alias`` pointed at the recommended
    formula's version (on purpose: no gate, no hand-set check), or by default ``candidate`` moved only when
    the recommended formula passes :func:`gate` and the alias was not set by hand. ``official`` is never
    moved here. ``seen`` is :func:`alias_snapshot` taken before training."""
    best = evaluation.get("best")
    if no_alias or not best or best not in versions:
        return []
    version = str(versions[best]["version"])
    if set_alias:
        return [move_alias(set_alias, version, seen=seen.get(set_alias), run_id=run_id,
                           reason=f"--set-alias {set_alias} ({best})", respect_manual=False, name=name, uri=uri)]
    passed, why = gate(evaluation)
    if not passed:
        return [AliasOutcome(CANDIDATE, False, version, seen.get(CANDIDATE), f"gate not passed: {why}")]
    return [move_alias(CANDIDATE, version, seen=seen.get(CANDIDATE), run_id=run_id, reason=f"gate passed: {why}",
                       respect_manual=True, name=name, uri=uri)]


def _v(version: str | None) -> str:
    return f"version {version}" if version else "unset"


def _alias_version(client: MlflowClient, name: str, alias: str) -> str | None:
    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except MlflowException as err:
        if err.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"):
            return None
        raise


def _set_by(client: MlflowClient, name: str, version: str | None, alias: str) -> str:
    if version is None:
        return ""
    tags = client.get_model_version(name, version).tags
    who = tags.get(alias_tag(alias, "set_by"))
    return f" (by {who} at {tags.get(alias_tag(alias, 'set_at'), '?')})" if who else ""


def _set_alias(client: MlflowClient, name: str, alias: str, version: str, set_by: str) -> None:
    client.set_model_version_tag(name, version, alias_tag(alias, "set_by"), set_by)
    client.set_model_version_tag(name, version, alias_tag(alias, "set_at"), _now())
    client.set_registered_model_alias(name, alias, version)


def promote(ref: str, alias: str, *, name: str = DEFAULT_MODEL, uri: str) -> tuple[str, str | None]:
    """Point ``alias`` of model ``name`` at the version behind ``ref``, recording who and when on it.

    Returns ``(version, previous version or None)``. A run never overrides a ``candidate`` set here.
    """
    client = MlflowClient(tracking_uri=uri)
    version = _version_of(client, ref.strip(), name, uri)
    with mlflow_errors(f"setting alias {alias!r} of {name!r} to version {version}"):
        previous = _alias_version(client, name, alias)
        _set_alias(client, name, alias, version, f"promote:{current_user()}")
    return version, previous


def _version_of(client: MlflowClient, ref: str, name: str, uri: str) -> str:
    """The version of ``name`` a reference names (a run: the version registered with its formula)."""
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
        if not found:  # a rerun of an already registered formula: its version lists the run
            found = [v for v in _all_versions(client, name)
                     if run["run"] in v.tags.get(TAG_RUNS, "").split(",")]
    if not found:
        raise TrackingError(f"run {run['run']} has no version of {name!r} in {uri}; register it first")
    return str(max(int(v.version) for v in found))


def _model_version(client: MlflowClient, match: re.Match, ref: str, uri: str):
    with mlflow_errors(f"{ref} in {uri}"):
        if "alias" in match.groupdict():
            return client.get_model_version_by_alias(match["name"], match["alias"])
        return client.get_model_version(match["name"], match["version"])


# ------------------------------------------------------------------------------------------ formulas


def resolve_formula(ref: str, *, uri: str) -> Formula:
    """The formula behind a registry or run reference, its content hash checked.

    A registry reference reads the ``formula`` artifact of the registered model itself, so it keeps working
    after the logging run's artifacts are gone (``mlflow gc``) as long as the model is there.
    """
    ref = ref.strip()
    client = MlflowClient(tracking_uri=uri)
    match = MODEL_ALIAS.match(ref) or MODEL_VERSION.match(ref)
    if match:
        version = _model_version(client, match, ref, uri)
        formula = _model_formula(client, version, ref, uri)
        tagged = version.tags.get(TAG_HASH)
        if tagged and tagged != formula.provenance.content_hash:
            raise TrackingError(
                f"{ref}: the formula of version {version.version} hashes to "
                f"{formula.provenance.content_hash[:12]}… but the version was registered with "
                f"{tagged[:12]}…"
            )
        return formula
    run = RUN_REF.match(ref)
    if run is None:
        raise TrackingError(f"unknown formula reference {ref!r}: use {REF_FORMS}, a file or builtin:NAME")
    return _run_formula(client, run["run"], uri)


def _model_formula(client: MlflowClient, version, ref: str, uri: str) -> Formula:
    """The formula file inside a registered version's model (``artifacts/<name>.json``)."""
    from mlflow.store.artifact.models_artifact_repo import ModelsArtifactRepository

    with tempfile.TemporaryDirectory() as tmp, quiet_mlflow(), fluent_uri(uri), \
            mlflow_errors(f"{ref} (version {version.version}) in {uri}"):
        repo = ModelsArtifactRepository(f"models:/{version.name}/{version.version}")
        files = [f.path for f in repo.list_artifacts("artifacts") if f.path.endswith(".json")]
        if len(files) != 1:
            raise TrackingError(f"{ref}: version {version.version} holds {len(files)} formula files, expected 1; "
                                "it was not registered by innopoints")
        text = Path(repo.download_artifacts(files[0], dst_path=tmp)).read_text(encoding="utf-8")
    return Formula.from_text(text, "json")


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
