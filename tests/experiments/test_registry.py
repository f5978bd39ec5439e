"""Registry: formulas as versions of one model with aliases; references back to formulas (docs/architecture.md)."""

from __future__ import annotations

import os
import shutil

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from innopoints.experiments.pyfunc import model_input
from innopoints.experiments.registry import (
    DEFAULT_MODEL,
    promote,
    register_formulas,
    resolve_formula,
)
from innopoints.experiments.tracking import TAG_HASH, TrackingError, log_train, tracking_uri
from innopoints.features.errors import FormulaError
from innopoints.features.stage import STAGES
from tests.experiments.conftest import BEST, PARAMS


def _aliases(uri: str) -> dict[str, str]:
    """Alias → version of the registered model, read straight from MLflow."""
    model = MlflowClient(tracking_uri=uri).get_registered_model(DEFAULT_MODEL)
    return {alias: str(version) for alias, version in model.aliases.items()}


@pytest.fixture
def registered(mlflow_uri, train_result, train_out) -> dict:
    """A logged and registered train run: versions 1-3 are baseline, fitted-policy, recal-10."""
    logged = log_train(train_result, train_out, params=PARAMS, uri=mlflow_uri)
    return {"logged": logged, "versions": register_formulas(logged, uri=mlflow_uri)}


def test_register_makes_one_version_per_formula_with_default_aliases(registered, mlflow_uri, train_result):
    assert registered["versions"] == {"baseline": "1", BEST: "2", "recal-10": "3"}
    assert _aliases(mlflow_uri) == {"candidate": "2", "official": "1"}
    client = MlflowClient(tracking_uri=mlflow_uri)
    for name, version in registered["versions"].items():
        mv = client.get_model_version(DEFAULT_MODEL, version)
        assert mv.run_id == registered["logged"]["runs"][name]
        assert mv.tags == {"innopoints.formula": name,
                           "innopoints.content_hash": train_result.formulas[name].provenance.content_hash}


def test_candidate_pyfunc_scores_exactly_like_the_formula(registered, train_result, indicator_frame):
    model = mlflow.pyfunc.load_model(f"models:/{DEFAULT_MODEL}@candidate")  # via MLFLOW_TRACKING_URI
    got = model.predict(indicator_frame)
    expected = train_result.formulas[BEST].score(indicator_frame)
    assert list(got.columns) == list(expected.columns)
    assert np.array_equal(got["points"].to_numpy(), expected["points"].to_numpy())  # exact, not approx
    assert np.array_equal(got.filter(like="points_").to_numpy(), expected.filter(like="points_").to_numpy())
    assert got["stage"].astype(str).tolist() == indicator_frame["stage"].tolist()
    # The candidate really differs from the baseline on this frame, so the alias is not a no-op.
    official = mlflow.pyfunc.load_model(f"models:/{DEFAULT_MODEL}@official").predict(indicator_frame)
    assert not np.array_equal(official["points"].to_numpy(), got["points"].to_numpy())


def test_pyfunc_signature_requires_every_indicator_and_the_stage(registered, indicator_frame):
    model = mlflow.pyfunc.load_model(f"models:/{DEFAULT_MODEL}@candidate")
    inputs = model.metadata.get_input_schema().input_dict()
    assert inputs["stage"].type.name == "string"
    assert {spec.type.name for name, spec in inputs.items() if name != "stage"} == {"double"}
    with pytest.raises(mlflow.exceptions.MlflowException, match="stage"):
        model.predict(indicator_frame.drop(columns="stage"))


def test_promote_moves_an_alias(registered, mlflow_uri):
    assert promote(f"models:/{DEFAULT_MODEL}@candidate", "champion", uri=mlflow_uri) == "2"
    assert _aliases(mlflow_uri)["champion"] == "2"
    assert promote(registered["logged"]["runs"]["recal-10"], "champion", uri=mlflow_uri) == "3"
    assert promote(f"models:/{DEFAULT_MODEL}/1", "candidate", uri=mlflow_uri) == "1"
    assert promote("2", "official", uri=mlflow_uri) == "2"
    assert _aliases(mlflow_uri) == {"candidate": "1", "champion": "3", "official": "2"}


def test_resolve_formula_from_every_kind_of_reference(registered, mlflow_uri, train_result):
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


def test_aliases_must_name_formulas_of_the_run(mlflow_uri, train_result, train_out):
    logged = log_train(train_result, train_out, params=PARAMS, uri=mlflow_uri)
    with pytest.raises(TrackingError, match="aliases {'champion': 'fitted-data'}: no such formula"):
        register_formulas(logged, uri=mlflow_uri, aliases={"champion": "fitted-data"})
    assert MlflowClient(tracking_uri=mlflow_uri).search_registered_models() == []


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
    model = mlflow.pyfunc.load_model(f"models:/{DEFAULT_MODEL}@candidate")
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
    formula = resolve_formula(f"models:/{DEFAULT_MODEL}@candidate", uri=uri)
    assert formula.provenance.content_hash == train_result.formulas[BEST].provenance.content_hash
    # MLflow's global state is put back: nothing pinned in the environment, nothing in the CWD.
    assert "MLFLOW_TRACKING_URI" not in os.environ
    assert list((tmp_path / "cwd").iterdir()) == []
    assert (tmp_path / "work" / "mlartifacts").is_dir()
