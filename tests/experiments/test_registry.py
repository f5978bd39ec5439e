"""Registry: one version per distinct formula, aliases moved only on purpose (gate, hand-set, concurrency),
references back to formulas (docs/mlflow.md)."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from innopoints.experiments.pyfunc import model_input
from innopoints.experiments.registry import (
    DEFAULT_MODEL,
    TAG_RUNS,
    alias_snapshot,
    alias_tag,
    decide_aliases,
    gate,
    move_alias,
    promote,
    register_formulas,
    resolve_formula,
)
from innopoints.experiments.store import tracking_uri
from innopoints.experiments.tracking import TAG_HASH, TrackingError, log_train
from innopoints.features.errors import FormulaError
from innopoints.features.stage import STAGES
from tests.experiments.conftest import BEST, PARAMS, make_train_result, write_train_out


def _aliases(uri: str) -> dict[str, str]:
    """Alias → version of the registered model, read straight from MLflow."""
    model = MlflowClient(tracking_uri=uri).get_registered_model(DEFAULT_MODEL)
    return {alias: str(version) for alias, version in model.aliases.items()}


@pytest.fixture
def fresh_registered(request, tmp_path, monkeypatch, mlflow_template, train_result, train_out) -> dict:
    """A store of its own, for tests that add versions or delete artifacts."""
    (tmp_path / "own").mkdir()
    shutil.copy(mlflow_template, tmp_path / "own" / "mlflow.db")
    uri = f"sqlite:///{tmp_path / 'own' / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.delenv("MLFLOW_RUN_ID", raising=False)
    logged = log_train(train_result, train_out, params=PARAMS, uri=uri)
    return {"uri": uri, "logged": logged, "versions": register_formulas(logged, uri=uri)}


def _versions(registered: dict) -> dict[str, str]:
    return {name: v["version"] for name, v in registered["versions"].items()}


def _passing(evaluation: dict) -> dict:
    """The fixture's evaluation with enough test defaults for the gate (its ΔAUC interval is above zero)."""
    out = json.loads(json.dumps(evaluation))
    out["formulas"][BEST]["test_defaults"] = 45
    return out


@pytest.fixture(scope="module")
def registry_store(tmp_path_factory, mlflow_template) -> dict:
    """One logged and registered train run for the module (logging takes seconds): versions 1-3 are baseline,
    fitted-policy, recal-10. Tests may move aliases (``registered`` clears them) but not add versions."""
    root = tmp_path_factory.mktemp("registry")
    shutil.copy(mlflow_template, root / "mlflow.db")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    result, out = make_train_result(), root / "train"
    write_train_out(out, result)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", uri)
        mp.delenv("MLFLOW_RUN_ID", raising=False)
        mp.chdir(root)
        logged = log_train(result, out, params=PARAMS, uri=uri)
        versions = register_formulas(logged, uri=uri)
    return {"uri": uri, "logged": logged, "versions": versions}


@pytest.fixture
def registered(registry_store, monkeypatch, tmp_path) -> dict:
    """The module's registered run with no alias set; ``MLFLOW_TRACKING_URI`` points at it."""
    uri = registry_store["uri"]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.delenv("MLFLOW_RUN_ID", raising=False)
    monkeypatch.chdir(tmp_path)
    client = MlflowClient(tracking_uri=uri)
    for alias in client.get_registered_model(DEFAULT_MODEL).aliases:
        client.delete_registered_model_alias(DEFAULT_MODEL, alias)
    for version in ("1", "2", "3"):
        for tag in client.get_model_version(DEFAULT_MODEL, version).tags:
            if tag.startswith("innopoints.alias."):
                client.delete_model_version_tag(DEFAULT_MODEL, version, tag)
    return registry_store


@pytest.fixture
def mlflow_uri(registered) -> str:
    """The module store (overrides the fresh store of tests/conftest.py for tests that use ``registered``)."""
    return registered["uri"]


def test_register_makes_one_version_per_formula_and_moves_no_alias(registered, mlflow_uri, train_result):
    assert _versions(registered) == {"baseline": "1", BEST: "2", "recal-10": "3"}
    assert all(v["new"] for v in registered["versions"].values())
    assert _aliases(mlflow_uri) == {}
    client = MlflowClient(tracking_uri=mlflow_uri)
    for name, version in _versions(registered).items():
        mv = client.get_model_version(DEFAULT_MODEL, version)
        run_id = registered["logged"]["runs"][name]
        assert mv.run_id == run_id
        assert mv.tags["innopoints.formula"] == name
        assert mv.tags["innopoints.content_hash"] == train_result.formulas[name].provenance.content_hash
        assert mv.tags[TAG_RUNS] == run_id
        assert client.get_run(run_id).data.tags["innopoints.model_version"] == f"{DEFAULT_MODEL}/{version}"


def test_a_rerun_of_the_same_formulas_registers_nothing_new(fresh_registered, train_result, train_out):
    registered, mlflow_uri = fresh_registered, fresh_registered["uri"]
    again = log_train(train_result, train_out, params=PARAMS, uri=mlflow_uri)
    versions = register_formulas(again, uri=mlflow_uri)
    assert {n: v["version"] for n, v in versions.items()} == _versions(registered)
    assert not any(v["new"] for v in versions.values())
    client = MlflowClient(tracking_uri=mlflow_uri)
    assert len(client.search_model_versions(f"name = '{DEFAULT_MODEL}'")) == 3
    runs = client.get_model_version(DEFAULT_MODEL, "2").tags[TAG_RUNS].split(",")
    assert runs == [registered["logged"]["runs"][BEST], again["runs"][BEST]]
    # A run of the rerun still finds its version, through the version's list of runs.
    assert promote(again["runs"][BEST], "champion", uri=mlflow_uri) == ("2", None)


def test_a_version_registered_twice_at_once_keeps_the_lower_one(registered, mlflow_uri, train_result, train_out):
    """Two processes that both saw a formula as new: the later copy is deleted, the earlier version kept."""
    from innopoints.experiments.registry import _create_version

    client = MlflowClient(tracking_uri=mlflow_uri)
    logged = registered["logged"]
    content_hash = train_result.formulas[BEST].provenance.content_hash
    with mlflow_tracking(mlflow_uri):
        version, new = _create_version(client, DEFAULT_MODEL, BEST, content_hash, logged["runs"][BEST],
                                       logged["models"][BEST])
    assert (version, new) == ("2", False)
    assert [v.version for v in client.search_model_versions(f"name = '{DEFAULT_MODEL}'")
            if v.tags.get(TAG_HASH) == content_hash] == [2]


def mlflow_tracking(uri):
    from innopoints.experiments.tracking import fluent_uri

    return fluent_uri(uri)


@pytest.mark.parametrize(("defaults", "delta", "passes", "why"), [
    (45, [0.0101, 0.0333, 0.0567], True, "above zero, 45 test defaults ≥ 30"),
    (20, [0.0101, 0.0333, 0.0567], False, "only 20 test defaults"),
    (45, [-0.004, 0.0111, 0.026], False, "includes zero"),
    (45, None, False, "no ΔAUC interval"),
])
def test_the_gate(train_result, defaults, delta, passes, why):
    evaluation = json.loads(json.dumps(train_result.evaluation))
    entry = evaluation["formulas"][BEST]
    entry["test_defaults"] = defaults
    if delta is None:
        del entry["delta_auc_vs_baseline"]
    else:
        entry["delta_auc_vs_baseline"] = delta
    ok, reason = gate(evaluation)
    assert ok is passes
    assert why in reason and BEST in reason
    assert gate({**evaluation, "best": "baseline"}) == (False, "the recommended formula is the baseline")


def _decide(registered, mlflow_uri, evaluation, seen=None, **kwargs):
    options = {"set_alias": None, "no_alias": False} | kwargs
    return decide_aliases(evaluation, registered["versions"], seen=seen or {}, run_id="r" * 32, uri=mlflow_uri,
                          **options)


def test_candidate_moves_only_when_the_gate_passes_and_official_never(registered, mlflow_uri, train_result):
    [left] = _decide(registered, mlflow_uri, train_result.evaluation)  # 20 test defaults: below the gate
    assert not left.moved and "gate not passed" in left.reason and _aliases(mlflow_uri) == {}
    [moved] = _decide(registered, mlflow_uri, _passing(train_result.evaluation), seen={"candidate": None})
    assert moved.moved and moved.current == "2" and "gate passed" in moved.reason
    assert _aliases(mlflow_uri) == {"candidate": "2"}  # official is never set by a run
    tags = MlflowClient(tracking_uri=mlflow_uri).get_model_version(DEFAULT_MODEL, "2").tags
    assert tags[alias_tag("candidate", "set_by")] == "run:" + "r" * 32
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", tags[alias_tag("candidate", "set_at")])
    assert _decide(registered, mlflow_uri, train_result.evaluation, no_alias=True) == []


def test_a_hand_set_candidate_survives_the_next_run(registered, mlflow_uri, train_result, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "alice")
    assert promote("3", "candidate", uri=mlflow_uri) == ("3", None)
    tags = MlflowClient(tracking_uri=mlflow_uri).get_model_version(DEFAULT_MODEL, "3").tags
    assert tags[alias_tag("candidate", "set_by")] == "promote:alice"
    seen = alias_snapshot(["candidate"], uri=mlflow_uri)
    [left] = _decide(registered, mlflow_uri, _passing(train_result.evaluation), seen=seen)
    assert not left.moved and "set by hand (promote:alice at" in left.reason
    assert _aliases(mlflow_uri) == {"candidate": "3"}


def test_an_alias_moved_meanwhile_is_not_overwritten(registered, mlflow_uri, train_result):
    seen = alias_snapshot(["candidate"], uri=mlflow_uri)  # unset when "this run" started
    assert seen == {"candidate": None}
    other = move_alias("candidate", "3", seen=None, run_id="o" * 32, reason="other run", respect_manual=True,
                       uri=mlflow_uri)
    assert other.moved
    [left] = _decide(registered, mlflow_uri, _passing(train_result.evaluation), seen=seen)
    assert not left.moved and left.current == "3"
    assert "moved from unset to version 3 while this run worked (by run:" + "o" * 32 in left.reason
    assert _aliases(mlflow_uri) == {"candidate": "3"}


def test_set_alias_moves_on_purpose_without_the_gate(registered, mlflow_uri, train_result):
    [moved] = _decide(registered, mlflow_uri, train_result.evaluation, set_alias="champion",
                      seen={"champion": None})
    assert moved.moved and moved.alias == "champion" and "--set-alias champion" in moved.reason
    assert _aliases(mlflow_uri) == {"champion": "2"}
    assert "models:/innopoints-formula@champion moved to version 2" in moved.line()


def test_candidate_pyfunc_scores_exactly_like_the_formula(registered, train_result, indicator_frame):
    model = mlflow.pyfunc.load_model(f"models:/{DEFAULT_MODEL}/2")  # via MLFLOW_TRACKING_URI
    got = model.predict(indicator_frame)
    expected = train_result.formulas[BEST].score(indicator_frame)
    assert np.array_equal(got["points"].to_numpy(), expected["points"].to_numpy())  # exact, not approx
    for column in expected.filter(like="points_").columns:
        assert np.array_equal(got[column].to_numpy(), expected[column].to_numpy()), column
    assert got["stage"].astype(str).tolist() == indicator_frame["stage"].tolist()
    assert got["error"].isna().all()
    # The candidate really differs from the baseline on this frame, so the version is not a no-op.
    official = mlflow.pyfunc.load_model(f"models:/{DEFAULT_MODEL}/1").predict(indicator_frame)
    assert not np.array_equal(official["points"].to_numpy(), got["points"].to_numpy())


def test_pyfunc_schema_is_the_same_for_every_version(registered, indicator_frame):
    schemas = []
    for version in ("1", "2", "3"):
        model = mlflow.pyfunc.load_model(f"models:/{DEFAULT_MODEL}/{version}")
        inputs, outputs = model.metadata.get_input_schema(), model.metadata.get_output_schema()
        schemas.append((inputs.to_json(), outputs.to_json()))
    assert len(set(schemas)) == 1
    spec = inputs.input_dict()
    assert spec["stage"].type.name == "string" and spec["stage"].required
    assert {s.type.name for n, s in spec.items() if n != "stage"} == {"double"}
    assert not any(s.required for n, s in spec.items() if n != "stage")  # optional: null or absent = missing
    with pytest.raises(mlflow.exceptions.MlflowException, match="stage"):
        model.predict(indicator_frame.drop(columns="stage"))


def test_promote_moves_an_alias(registered, mlflow_uri):
    assert promote("2", "candidate", uri=mlflow_uri) == ("2", None)
    assert promote(f"models:/{DEFAULT_MODEL}@candidate", "champion", uri=mlflow_uri) == ("2", None)
    assert _aliases(mlflow_uri)["champion"] == "2"
    assert promote(registered["logged"]["runs"]["recal-10"], "champion", uri=mlflow_uri) == ("3", "2")
    assert promote(f"models:/{DEFAULT_MODEL}/1", "candidate", uri=mlflow_uri) == ("1", "2")
    assert promote("2", "official", uri=mlflow_uri) == ("2", None)
    assert _aliases(mlflow_uri) == {"candidate": "1", "champion": "3", "official": "2"}


def test_resolve_formula_from_every_kind_of_reference(registered, mlflow_uri, train_result):
    promote("2", "candidate", uri=mlflow_uri)
    promote("1", "official", uri=mlflow_uri)
    run_id = registered["logged"]["runs"][BEST]
    expected = train_result.formulas[BEST].provenance.content_hash
    refs = (f"models:/{DEFAULT_MODEL}@candidate", f"models:/{DEFAULT_MODEL}/2", f"runs:/{run_id}", run_id)
    for ref in refs:
        assert resolve_formula(ref, uri=mlflow_uri).provenance.content_hash == expected, ref
    baseline = resolve_formula(f"models:/{DEFAULT_MODEL}@official", uri=mlflow_uri)
    assert baseline.to_text() == train_result.formulas["baseline"].to_text()  # byte-identical round trip


def test_unknown_references_raise_clear_errors(registered, mlflow_uri):
    with pytest.raises(TrackingError, match="unknown formula reference 'best.json'"):
        resolve_formula("best.json", uri=mlflow_uri)
    with pytest.raises(TrackingError, match="innopoints-formula@nope"):
        resolve_formula(f"models:/{DEFAULT_MODEL}@nope", uri=mlflow_uri)
    with pytest.raises(TrackingError, match=f"its formula runs are: .*{BEST}"):
        resolve_formula(registered["logged"]["parent_run_id"], uri=mlflow_uri)
    with pytest.raises(TrackingError, match="run 0{32} in"):
        resolve_formula("0" * 32, uri=mlflow_uri)
    with pytest.raises(TrackingError, match="names model 'other'"):
        promote("models:/other@candidate", "champion", uri=mlflow_uri)
    with pytest.raises(TrackingError, match="unknown model reference 'latest'"):
        promote("latest", "champion", uri=mlflow_uri)


def test_resolve_refuses_a_formula_that_does_not_match_its_version_hash(registered, mlflow_uri):
    MlflowClient(tracking_uri=mlflow_uri).set_model_version_tag(DEFAULT_MODEL, "2", TAG_HASH, "f" * 64)
    with pytest.raises(TrackingError, match="was registered with ffffffffffff"):
        resolve_formula(f"models:/{DEFAULT_MODEL}/2", uri=mlflow_uri)


def test_a_registered_formula_is_read_from_the_model_not_the_run(fresh_registered, train_result):
    registered, mlflow_uri = fresh_registered, fresh_registered["uri"]
    """`mlflow gc` removes a deleted run's artifacts; the registered model keeps its own copy."""
    run_id = registered["logged"]["runs"][BEST]
    run_artifacts = Path(MlflowClient(tracking_uri=mlflow_uri).get_run(run_id).info.artifact_uri.removeprefix(
        "file://"))
    shutil.rmtree(run_artifacts)
    with pytest.raises(TrackingError):
        resolve_formula(run_id, uri=mlflow_uri)
    formula = resolve_formula(f"models:/{DEFAULT_MODEL}/2", uri=mlflow_uri)
    assert formula.to_text() == train_result.formulas[BEST].to_text()


def test_a_tampered_formula_artifact_is_refused(mlflow_uri, train_result, train_out, tmp_path):
    logged = log_train(train_result, train_out, params=PARAMS, uri=mlflow_uri)
    run_id = logged["runs"]["recal-10"]
    formula = train_result.formulas["recal-10"]
    edited = tmp_path / "recal-10.json"
    edited.write_text(formula.to_text().replace(formula.title, "edited by hand"), encoding="utf-8")
    with mlflow.start_run(run_id=run_id):  # overwrite formula/recal-10.json, keeping the stored hash
        mlflow.log_artifact(str(edited), "formula")
    with pytest.raises(FormulaError, match="content_hash mismatch"):
        resolve_formula(run_id, uri=mlflow_uri)



def test_model_input_fits_a_pipeline_table_to_the_signature(registered, train_result, indicator_frame):
    frame = indicator_frame.copy()
    frame["stage"] = pd.Categorical(frame["stage"], categories=list(STAGES))  # as innopoints.features.build makes it
    frame["rd_intensity"] = frame["rd_intensity"].round().astype("int64")
    frame.insert(0, "firm_id", [f"F{i:07d}" for i in range(len(frame))])
    model = mlflow.pyfunc.load_model(f"models:/{DEFAULT_MODEL}/2")
    with pytest.raises(mlflow.exceptions.MlflowException, match="Incompatible input types"):
        model.predict(frame)  # why the helper exists
    got = model.predict(model_input(frame, model.metadata.get_input_schema().input_names()))
    expected = train_result.formulas[BEST].score(frame)
    assert np.array_equal(got["points"].to_numpy(), expected["points"].to_numpy())


def test_default_store_works_without_the_environment_variable(mlflow_template, tmp_path, monkeypatch,
                                                              train_result, train_out):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_RUN_ID", raising=False)
    (tmp_path / "work").mkdir()
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    shutil.copy(mlflow_template, tmp_path / "work" / "mlflow.db")  # skips creating the tables (seconds)
    uri = tracking_uri(tmp_path / "work")
    logged = log_train(train_result, train_out, params=PARAMS, uri=uri)
    register_formulas(logged, uri=uri)
    formula = resolve_formula(f"models:/{DEFAULT_MODEL}/2", uri=uri)
    assert formula.provenance.content_hash == train_result.formulas[BEST].provenance.content_hash
    # MLflow's global state is put back: nothing pinned in the environment, nothing in the CWD.
    assert "MLFLOW_TRACKING_URI" not in os.environ
    assert list((tmp_path / "cwd").iterdir()) == []
    assert (tmp_path / "work" / "mlartifacts").is_dir()
