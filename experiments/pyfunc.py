"""A points formula as an MLflow pyfunc model: the registered form of a formula (docs/architecture.md).

The model holds nothing but the formula file (artifact ``formula``); ``predict`` is :meth:`Formula.score`.
Loading it needs the innopoints packages importable (``features``, ``models``, ``experiments``): the model is
pickled by reference, and its pip requirements are pinned explicitly so logging never asks the network.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path

import mlflow
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, Schema

from innopoints.models.formula.schema import Formula

MODEL_NAME = "model"  # the logged model's name inside a formula's run
ARTIFACT_KEY = "formula"
PROGRESS_BAR = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"
# What the model needs at load time besides innopoints itself; pinned to the running versions.
REQUIREMENTS = ("mlflow", "pandas", "numpy", "pyarrow", "pydantic", "pyyaml", "cloudpickle")


class FormulaModel(mlflow.pyfunc.PythonModel):
    """Scores firms with the formula file stored as the model's ``formula`` artifact."""

    def load_context(self, context) -> None:
        """Read and validate the formula file (its content hash is checked)."""
        path = Path(context.artifacts[ARTIFACT_KEY])
        self.formula = Formula.from_text(path.read_text(encoding="utf-8"), "json")

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        """``Formula.score`` of ``model_input`` (a DataFrame with the indicator columns and ``stage``)."""
        return self.formula.score(pd.DataFrame(model_input))


def formula_signature(formula: Formula) -> ModelSignature:
    """Input: one double column per indicator the formula scores (NaN = missing) and ``stage`` (string)."""
    columns = [ColSpec("double", name) for name in formula.required_columns]
    return ModelSignature(inputs=Schema([*columns, ColSpec("string", "stage")]))


def model_input(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """``frame`` in the model's signature: the indicator ``columns`` as float64 and ``stage`` as string.

    ``columns`` is e.g. ``model.metadata.get_input_schema().input_names()`` (``stage`` may be among them).
    MLflow's schema check refuses what the pipeline's tables hold: a categorical ``stage`` and integer
    indicator columns (no "safe" int → double cast). Other columns (firm ids, ...) are left out.
    """
    out = frame[[c for c in columns if c != "stage"]].astype("float64")
    out["stage"] = frame["stage"].astype(str).to_numpy()
    return out


def pip_requirements() -> list[str]:
    """Pinned requirements of the running environment (explicit, so no inference and no network)."""
    return [f"{name}=={metadata.version(name)}" for name in REQUIREMENTS]


def log_formula_model(formula_path: Path, formula: Formula, *, name: str = MODEL_NAME):
    """Log the formula as a pyfunc model in the active run; returns MLflow's ``ModelInfo``."""
    with quiet_mlflow():
        return mlflow.pyfunc.log_model(
            name=name,
            python_model=FormulaModel(),
            artifacts={ARTIFACT_KEY: str(formula_path)},
            signature=formula_signature(formula),
            pip_requirements=pip_requirements(),
        )


@contextmanager
def quiet_mlflow() -> Iterator[None]:
    """Hide MLflow's generic advice (pickling notice, missing input example) and its download bar.

    The pickled object is our own class, referenced by module, and an input example would be a firm row,
    which never goes into MLflow (docs/architecture.md).
    """
    logger = logging.getLogger("mlflow.pyfunc")
    level, bar = logger.level, os.environ.get(PROGRESS_BAR)
    logger.setLevel(logging.ERROR)
    os.environ[PROGRESS_BAR] = "false"  # MLflow's download bar would cut through the caller's progress bars
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=UserWarning, module="mlflow")
            yield
    finally:
        logger.setLevel(level)
        if bar is None:
            os.environ.pop(PROGRESS_BAR, None)
        else:
            os.environ[PROGRESS_BAR] = bar
