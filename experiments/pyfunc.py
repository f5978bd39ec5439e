"""A points formula as an MLflow pyfunc model: the registered form of a formula (docs/mlflow.md).

The model holds the formula file (artifact ``formula``); ``predict`` is :meth:`Formula.score` with a check of
every row. It is self-contained: the code it needs (``innopoints.features``, ``innopoints.models``,
``innopoints.experiments``) travels in the model's ``code/`` folder, and its pip requirements are pinned
explicitly (so logging never asks the network), so ``mlflow models serve`` works with the default environment
manager, where innopoints is not installed.

The interface is the same for every version, so moving an alias never breaks a client's payload:

- **input**: ``stage`` (string, one of ``startup``, ``growth``, ``stable``) and one optional double column per
  catalog indicator (and per local indicator of the formula); a column left out or null is a missing value,
  scored by the formula's missing-value policy;
- **output**: ``stage``, ``points``, ``points_base``, ``points_bonus``, one ``points_<indicator>`` per catalog
  indicator (0 where the formula gives it none) and ``error``: null, or why the row was not scored, naming
  the row and the column (``row 3, column stage: 'startp' is not one of startup, growth, stable``). A bad row
  is reported in its own ``error`` with null points; the other rows of the batch are scored.

The input example is made up (catalog reference values, one row per stage), never a firm's row.
"""

from __future__ import annotations

import importlib
import logging
import math
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, Schema

from innopoints.features.catalog import list_indicators
from innopoints.features.stage import STAGES
from innopoints.models.formula.schema import Formula

ARTIFACT_KEY = "formula"
ERROR_COLUMN = "error"
PROGRESS_BAR = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"
# What the model needs at load time besides the innopoints code it carries; pinned to the running versions.
REQUIREMENTS = ("mlflow", "pandas", "numpy", "pyarrow", "pydantic", "pyyaml", "cloudpickle")
# The innopoints modules scoring needs, copied into the model's code/ (each file is one upload to a server, so
# only these; a test loads the model with innopoints hidden to prove the list complete).
CODE_MODULES = (
    "features/__init__.py", "features/arith.py", "features/catalog.py", "features/errors.py", "features/financial.py",
    "features/growth.py", "features/inputs.py", "features/local.py", "features/outputs.py", "features/stage.py",
    "features/safe_yaml.py",
    "models/__init__.py", "models/formula/__init__.py", "models/formula/curves.py", "models/formula/schema.py",
    "experiments/__init__.py", "experiments/pyfunc.py",
)


def input_columns(formula: Formula) -> list[str]:
    """The indicator columns of the input: every catalog indicator, then the formula's own local ones."""
    catalog = [ind.id for ind in list_indicators()]
    return catalog + [c for c in formula.required_columns if c not in catalog]


def output_columns(formula: Formula) -> list[str]:
    """The output columns: the same for every formula over the built-in catalog (plus its local indicators
    and bonus items)."""
    items = [f"points_{c}" for c in input_columns(formula)]
    bonus = [f"points_bonus_{b.id}" for b in formula.bonus]
    return ["stage", "points", "points_base", "points_bonus", *items, *bonus, ERROR_COLUMN]


def formula_signature(formula: Formula) -> ModelSignature:
    """Input: ``stage`` (string, required) and an optional double per indicator (null = missing).
    Output: :func:`output_columns` (``stage`` and ``error`` strings, points doubles)."""
    inputs = [ColSpec("string", "stage"), *(ColSpec("double", c, required=False) for c in input_columns(formula))]
    outputs = [ColSpec("string" if c in ("stage", ERROR_COLUMN) else "double", c, required=c != ERROR_COLUMN)
               for c in output_columns(formula)]
    return ModelSignature(inputs=Schema(inputs), outputs=Schema(outputs))


def input_example(formula: Formula) -> pd.DataFrame:
    """Three made-up rows, one per stage: each indicator at a value inside its valid range (the lower bound
    and one above it), one left missing. Not a firm's row."""
    ranges = {ind.id: ind.valid_range for ind in list_indicators()}
    rows = []
    for k, stage in enumerate(STAGES):
        row: dict[str, object] = {"stage": stage}
        for column in input_columns(formula):
            lo, hi = ranges.get(column, (None, None))
            value = (0.0 if lo is None else float(lo)) + k * 0.5
            row[column] = min(value, float(hi)) if hi is not None else value
        rows.append(row)
    example = pd.DataFrame(rows)
    example.iloc[0, 1] = np.nan  # missing is not zero: show a null
    return example


class FormulaModel(mlflow.pyfunc.PythonModel):
    """Scores firms with the formula file stored as the model's ``formula`` artifact."""

    def load_context(self, context) -> None:
        """Read and validate the formula file (its content hash is checked)."""
        path = Path(context.artifacts[ARTIFACT_KEY])
        self.formula = Formula.from_text(path.read_text(encoding="utf-8"), "json")

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        """:func:`score_rows` of ``model_input`` with this model's formula."""
        return score_rows(self.formula, pd.DataFrame(model_input))


def row_errors(formula: Formula, frame: pd.DataFrame) -> pd.Series:
    """Per row, the first problem found (``row N, column C: ...``) or None: a stage outside the three, a
    value that is not a number or lies outside its indicator's valid range."""
    errors = pd.Series([None] * len(frame), index=frame.index, dtype="object")
    stage = frame["stage"] if "stage" in frame else pd.Series([None] * len(frame), index=frame.index)
    ranges = {ind.id: ind.valid_range for ind in list_indicators()}
    for position, (index, value) in enumerate(stage.items()):
        if not isinstance(value, str) or value not in STAGES:
            errors[index] = (f"row {position}, column stage: {value!r} is not one of {', '.join(STAGES)} "
                             "(example: growth)")
    for column in input_columns(formula):
        if column not in frame:
            continue
        values = pd.to_numeric(frame[column], errors="coerce").astype("float64")
        lo, hi = ranges.get(column, (None, None))
        bad = (values.isna() & frame[column].notna()) | np.isinf(values)
        if lo is not None:
            bad |= values < lo
        if hi is not None:
            bad |= values > hi
        for position in np.flatnonzero(bad.to_numpy() & errors.isna().to_numpy()):
            raw = frame[column].iloc[position]
            raw = repr(raw) if isinstance(raw, str) else f"{float(raw):g}"
            rule = f"a number in [{_bound(lo)}, {_bound(hi)}]"
            errors.iloc[position] = f"row {position}, column {column}: {raw} is not {rule} (null = missing)"
    return errors


def _bound(value: float | None) -> str:
    return "∞" if value is None else f"{value:g}"


def score_rows(formula: Formula, frame: pd.DataFrame) -> pd.DataFrame:
    """Score the rows without an error; every output column of :func:`output_columns`, in that order."""
    errors = row_errors(formula, frame)
    good = errors.isna().to_numpy()
    columns = input_columns(formula)
    clean = pd.DataFrame({c: pd.to_numeric(frame[c], errors="coerce").astype("float64") if c in frame
                          else np.full(len(frame), np.nan) for c in columns}, index=frame.index)
    clean["stage"] = np.where(good, frame["stage"].astype(object) if "stage" in frame else None, STAGES[0])
    out = pd.DataFrame(index=frame.index, columns=output_columns(formula), dtype="float64")
    scored = formula.score(clean[good]) if good.any() else None
    for column in out.columns:
        if column in ("stage", ERROR_COLUMN):
            continue
        if scored is not None and column in scored:
            out.loc[good, column] = scored[column].to_numpy()
        elif scored is not None:
            out.loc[good, column] = 0.0  # an indicator the formula gives no points
    raw_stage = frame["stage"] if "stage" in frame else pd.Series([None] * len(frame), index=frame.index)
    out["stage"] = [None if v is None or (isinstance(v, float) and math.isnan(v)) else str(v) for v in raw_stage]
    out[ERROR_COLUMN] = errors
    return out


def model_input(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """``frame`` in the model's signature: the indicator ``columns`` it has as float64 and ``stage`` as string.

    ``columns`` is e.g. ``model.metadata.get_input_schema().input_names()`` (``stage`` may be among them).
    MLflow's schema check refuses what the pipeline's tables hold: a categorical ``stage`` and integer
    indicator columns (no "safe" int → double cast). Other columns (firm ids, ...) are left out; indicator
    columns the frame lacks are left out too (they are optional: missing).
    """
    out = frame[[c for c in columns if c != "stage" and c in frame]].astype("float64")
    out["stage"] = frame["stage"].astype(str).to_numpy()
    return out


def pip_requirements() -> list[str]:
    """Pinned requirements of the running environment (explicit, so no inference and no network)."""
    return [f"{name}=={metadata.version(name)}" for name in REQUIREMENTS]


@contextmanager
def packaged_code() -> Iterator[list[str]]:
    """The innopoints code the model needs (:data:`CODE_MODULES`), as an ``innopoints/`` folder for
    ``code_paths``."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "innopoints"
        for module in CODE_MODULES:
            package, _, rest = module.partition("/")
            source = Path(importlib.import_module(f"innopoints.{package}").__file__).resolve().parent / rest
            (root / module).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, root / module)
        yield [str(root)]


def log_formula_model(formula_path: Path, formula: Formula, *, name: str):
    """Log the formula as a self-contained pyfunc model named ``name`` in the active run; MLflow's
    ``ModelInfo``."""
    with quiet_mlflow(), packaged_code() as code:
        return mlflow.pyfunc.log_model(
            name=name,
            python_model=FormulaModel(),
            artifacts={ARTIFACT_KEY: str(formula_path)},
            signature=formula_signature(formula),
            input_example=input_example(formula),
            code_paths=code,
            pip_requirements=pip_requirements(),
        )


@contextmanager
def quiet_mlflow() -> Iterator[None]:
    """Hide MLflow's generic advice (pickling notice) and its download bar."""
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
