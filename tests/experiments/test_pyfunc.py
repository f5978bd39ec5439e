"""Tests for experiments/pyfunc.py: a points formula as an MLflow pyfunc model."""

from __future__ import annotations

import logging
import os
from importlib import metadata
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
    log_formula_model,
    model_input,
    pip_requirements,
    quiet_mlflow,
)
from innopoints.features.stage import STAGES
from innopoints.models.formula.baseline import official_2024


@pytest.fixture
def formula_file(tmp_path):
    path = tmp_path / "official-2024.json"
    path.write_text(official_2024().to_text("json"), encoding="utf-8")
    return path


def test_signature_is_one_double_per_indicator_and_the_stage_as_string():
    formula = official_2024()
    inputs = formula_signature(formula).inputs
    assert inputs.input_names() == [*formula.required_columns, "stage"]
    assert [spec.type.name for spec in inputs.inputs] == ["double"] * len(formula.required_columns) + ["string"]


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
    pd.testing.assert_frame_equal(model.predict(None, indicator_frame), official_2024().score(indicator_frame))


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
    with mlflow.start_run():
        info = log_formula_model(formula_file, official_2024())
    model = mlflow.pyfunc.load_model(info.model_uri)
    got = model.predict(indicator_frame)
    assert np.array_equal(got["points"].to_numpy(), official_2024().score(indicator_frame)["points"].to_numpy())
    assert model.metadata.get_input_schema().input_names()[-1] == "stage"
