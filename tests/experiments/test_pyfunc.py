"""Tests for experiments/pyfunc.py: a points formula as an MLflow pyfunc model."""

from __future__ import annotations

import logging
import os
from importlib import metadata
from pathlib import Path
from types import SimpleNamespace

import mlflow
import numpy as np
import pandas as pd
import pytest

from innopoints.experiments.pyfunc import (
    PROGRESS_BAR,
    REQUIREMENTS,
    FormulaModel,
    formula_signature,
    input_example,
    log_formula_model,
    model_input,
    pip_requirements,
    quiet_mlflow,
)
from innopoints.experiments.tracking import ensure_experiment
from innopoints.features.catalog import list_indicators
from innopoints.features.stage import STAGES
from innopoints.models.formula.baseline import official_2024


@pytest.fixture
def formula_file(tmp_path):
    path = tmp_path / "official-2024.json"
    path.write_text(official_2024().to_text("json"), encoding="utf-8")
    return path


def test_signature_is_the_stage_and_an_optional_double_per_catalog_indicator():
    formula = official_2024()
    signature = formula_signature(formula)
    catalog = [ind.id for ind in list_indicators()]
    assert signature.inputs.input_names() == ["stage", *catalog]
    assert set(formula.required_columns) < set(catalog)  # every indicator, not only the formula's own
    assert [(s.type.name, s.required) for s in signature.inputs.inputs] == [("string", True)] + [
        ("double", False)] * len(catalog)
    outputs = signature.outputs.input_names()
    assert outputs == ["stage", "points", "points_base", "points_bonus", *(f"points_{c}" for c in catalog), "error"]
    # Another formula over the catalog has the very same interface.
    other = official_2024().model_copy(update={"name": "other"})
    assert formula_signature(other).to_dict() == signature.to_dict()


def test_model_input_casts_to_the_signature_and_drops_other_columns():
    frame = pd.DataFrame({"firm_id": ["F1", "F2"], "revenue": [10, 20], "roe": [0.1, np.nan],
                          "stage": pd.Categorical(["growth", "startup"], categories=list(STAGES))})
    out = model_input(frame, ["revenue", "roe", "stage"])
    expected = pd.DataFrame({"revenue": [10.0, 20.0], "roe": [0.1, np.nan], "stage": ["growth", "startup"]})
    pd.testing.assert_frame_equal(out, expected)
    assert frame["revenue"].dtype == "int64"  # the caller's table is left as it was


def test_pip_requirements_pin_the_running_versions():
    pins = pip_requirements()
    assert pins == [f"{name}=={metadata.version(name)}" for name in REQUIREMENTS]
    assert "mlflow" in REQUIREMENTS and "pandas" in REQUIREMENTS


def test_the_model_scores_exactly_like_its_formula(formula_file, indicator_frame):
    model = FormulaModel()
    model.load_context(SimpleNamespace(artifacts={"formula": str(formula_file)}))
    got = model.predict(None, indicator_frame)
    expected = official_2024().score(indicator_frame)
    for column in expected.columns.drop("stage"):
        np.testing.assert_array_equal(got[column].to_numpy(dtype=float), expected[column].to_numpy(), column)
    assert got["stage"].tolist() == indicator_frame["stage"].tolist() and got["error"].isna().all()
    unscored = [c for c in got.columns if c.startswith("points_") and c not in expected]
    assert unscored and (got[unscored] == 0).all().all()  # catalog indicators the formula gives no points


def test_a_bad_row_is_named_and_the_others_are_scored(formula_file, indicator_frame):
    model = FormulaModel()
    model.load_context(SimpleNamespace(artifacts={"formula": str(formula_file)}))
    frame = indicator_frame.astype({"rd_expense": object})
    frame.loc[1, "stage"] = "startp"
    frame.loc[3, "rd_expense"] = -5.0
    frame.loc[4, "rd_expense"] = "n/a"
    got = model.predict(None, frame)
    assert got.loc[1, "error"] == ("row 1, column stage: 'startp' is not one of startup, growth, stable "
                                   "(example: growth)")
    assert got.loc[3, "error"] == "row 3, column rd_expense: -5 is not a number in [0, ∞] (null = missing)"
    assert got.loc[4, "error"] == "row 4, column rd_expense: 'n/a' is not a number in [0, ∞] (null = missing)"
    assert got.loc[[1, 3, 4], "points"].isna().all()
    good = [0, 2, 5]
    expected = official_2024().score(indicator_frame.loc[good])["points"].to_numpy()
    np.testing.assert_array_equal(got.loc[good, "points"].to_numpy(dtype=float), expected)
    assert got.loc[good, "error"].isna().all()


def test_the_input_example_is_made_up_and_scores(formula_file):
    example = input_example(official_2024())
    assert example["stage"].tolist() == list(STAGES)
    assert example.iloc[0, 1:].isna().sum() == 1  # one missing value shown
    model = FormulaModel()
    model.load_context(SimpleNamespace(artifacts={"formula": str(formula_file)}))
    assert model.predict(None, example)["error"].isna().all()


def test_a_tampered_formula_file_is_refused_on_load(formula_file):
    text = formula_file.read_text(encoding="utf-8")
    formula_file.write_text(text.replace('"full_at": 1000.0', '"full_at": 999.0', 1), encoding="utf-8")
    with pytest.raises(Exception, match="content_hash"):
        FormulaModel().load_context(SimpleNamespace(artifacts={"formula": str(formula_file)}))


@pytest.mark.parametrize("before", [None, "true"])
def test_quiet_mlflow_hides_the_bar_and_advice_then_puts_them_back(monkeypatch, before):
    if before is None:
        monkeypatch.delenv(PROGRESS_BAR, raising=False)
    else:
        monkeypatch.setenv(PROGRESS_BAR, before)
    logger = logging.getLogger("mlflow.pyfunc")
    monkeypatch.setattr(logger, "level", logging.INFO)
    with pytest.raises(RuntimeError, match="inside"), quiet_mlflow():
        assert os.environ[PROGRESS_BAR] == "false" and logger.level == logging.ERROR
        raise RuntimeError("inside")
    assert os.environ.get(PROGRESS_BAR) == before and logger.level == logging.INFO


def test_a_logged_formula_loads_back_and_scores_the_same(mlflow_uri, formula_file, indicator_frame):
    client = mlflow.MlflowClient(tracking_uri=mlflow_uri)
    # An experiment of our own: the store's Default experiment keeps artifacts wherever it was made.
    with mlflow.start_run(experiment_id=ensure_experiment(client, "pyfunc", mlflow_uri)):
        info = log_formula_model(formula_file, official_2024(), name="official-2024")
    assert info.name == "official-2024"  # logged models are named after their formula
    local = Path(mlflow.artifacts.download_artifacts(info.model_uri))
    # Self-contained: the innopoints code travels with the model, and there is an input example.
    assert (local / "code" / "innopoints" / "models" / "formula" / "schema.py").is_file()
    assert (local / "code" / "innopoints" / "experiments" / "pyfunc.py").is_file()
    assert not list(local.rglob("__pycache__"))
    assert (local / "input_example.json").is_file() and (local / "serving_input_example.json").is_file()
    model = mlflow.pyfunc.load_model(info.model_uri)
    got = model.predict(indicator_frame)
    assert np.array_equal(got["points"].to_numpy(), official_2024().score(indicator_frame)["points"].to_numpy())
    assert model.metadata.get_input_schema().input_names()[0] == "stage"


HIDE_INSTALLED = """
import sys
sys.meta_path = [f for f in sys.meta_path if "editable" not in repr(f).lower()]
sys.path_hooks = [h for h in sys.path_hooks if "editable" not in repr(h).lower()]
sys.path = [p for p in sys.path if "__editable__" not in p]
sys.path_importer_cache.clear()
try:
    import innopoints.features
except ImportError:
    pass
else:
    raise SystemExit("innopoints is still importable")
import mlflow.pyfunc
model = mlflow.pyfunc.load_model(sys.argv[1])
import innopoints.models.formula.schema as schema
assert schema.__file__.startswith(sys.argv[1]), schema.__file__
import json, pandas as pd
example = pd.read_json(sys.argv[1] + "/input_example.json", orient="split")
print(json.dumps(model.predict(example)["points"].round(6).tolist()))
"""


@pytest.mark.slow
def test_the_logged_model_carries_the_code_it_needs(mlflow_uri, formula_file):
    """Loaded where innopoints cannot be imported, the model scores with the code in its own code/ folder."""
    import json
    import subprocess
    import sys

    client = mlflow.MlflowClient(tracking_uri=mlflow_uri)
    with mlflow.start_run(experiment_id=ensure_experiment(client, "pyfunc", mlflow_uri)):
        info = log_formula_model(formula_file, official_2024(), name="official-2024")
    local = mlflow.artifacts.download_artifacts(info.model_uri)
    done = subprocess.run([sys.executable, "-c", HIDE_INSTALLED, local], capture_output=True, text=True,
                          timeout=120, cwd=local)
    assert done.returncode == 0, done.stderr[-2000:]
    expected = official_2024().score(input_example(official_2024()))["points"].round(6).tolist()
    assert json.loads(done.stdout.strip().splitlines()[-1]) == expected
