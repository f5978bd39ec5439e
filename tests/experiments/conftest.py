"""A tiny train result for the MLflow tests, without running any training; one comparison of two formulas
for the compare and report tests.

The throw-away MLflow store of each test is ``mlflow_uri`` in ``tests/conftest.py``.

The train result has three formulas: the 2024 baseline and two candidates that move points between
indicators of different groups (so they score differently), plus a hand-made evaluation dict.

The comparison is made once per session on a small simulated cohort (4,000 firms): the baseline is the
illustrative official formula, the candidate moves ``MOVED`` points per stage from R&D expense to
invention-patent applications and carries a title that needs escaping.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from innopoints.experiments.compare import compare_formulas
from innopoints.experiments.html import render_html
from innopoints.features.build import loan_features, population_features
from innopoints.features.stage import STAGES
from innopoints.models.formula.baseline import official_2024
from innopoints.models.formula.schema import Formula, Provenance, StagePoints
from innopoints.pipeline.simulate import simulate

BEST = "fitted-policy"
PARAMS = {"seed": 7, "data_fingerprint": "fp0123456789", "config_hash": "cfg0123456789",
          "fit": {"max_points": 25.0, "group_bounds": {"input": (0.1, 0.5)}}, "n_boot": 200}


def _candidate(base: Formula, name: str, swap: tuple[int, int]) -> Formula:
    """The baseline with the stage points of two indicators swapped (per-stage sums stay 100)."""
    items = list(base.indicators)
    i, j = swap
    items[i], items[j] = (items[i].model_copy(update={"points": items[j].points}),
                          items[j].model_copy(update={"points": items[i].points}))
    provenance = Provenance(method=name, data_fingerprint="fp0123456789", config_hash="cfg0123456789", seed=7)
    return base.model_copy(update={"name": name, "indicators": items, "provenance": provenance}).with_hash()


def _entry(auc: float, delta: list[float] | None) -> dict:
    entry = {"train_n": 800, "train_defaults": 40, "train_auc": None, "test_auc": auc,
             "test_gini": 2 * auc - 1, "test_ks": auc - 0.4, "test_brier": 0.0471, "test_log_loss": 0.1893,
             "test_top_default_rate": 0.0125, "test_top_capture": 0.31, "test_n": 400, "test_defaults": 20,
             "validation_auc": auc - 0.01,
             "top": {"share": 0.1374, "n": 55}, "calibration": [{"band": 1, "n": 40, "default_rate": 0.1}]}
    if delta is not None:
        entry["delta_auc_vs_baseline"] = delta
        entry["delta_top_default_rate_vs_baseline"] = [-0.02, -0.01, 0.003]
    return entry


def make_train_result() -> SimpleNamespace:
    """What log_train reads of a TrainResult: ``formulas`` (baseline first) and ``evaluation``."""
    base = official_2024()
    last = len(base.indicators) - 1
    formulas = {"baseline": base, BEST: _candidate(base, BEST, (0, last)),
                "recal-10": _candidate(base, "recal-10", (1, last))}
    evaluation = {
        "best": BEST,
        "formulas": {"baseline": _entry(0.6123456789, None),
                     BEST: _entry(0.6456789012, [0.0101, 0.0333, 0.0567]),
                     "recal-10": _entry(0.6234567891, [-0.004, 0.0111, 0.026])},
        "split": {"test_year": 2024, "test_n": 400},
    }
    return SimpleNamespace(formulas=formulas, evaluation=evaluation)


@pytest.fixture
def train_result() -> SimpleNamespace:
    """:func:`make_train_result`, fresh for each test."""
    return make_train_result()


def write_train_out(out: Path, train_result) -> Path:
    """A train output folder with the files log_train picks up (report files and explain/)."""
    (out / "explain").mkdir(parents=True)
    (out / "evaluation.json").write_text(json.dumps(train_result.evaluation), encoding="utf-8")
    (out / "refinement.md").write_text("# Indicator refinement report\n", encoding="utf-8")
    (out / "explain" / "importance.csv").write_text("id,mean_abs_shap\nrd_expense,0.12\n", encoding="utf-8")
    (out / "explain" / "importance.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    return out


@pytest.fixture
def train_out(tmp_path, train_result) -> Path:
    """:func:`write_train_out` in ``tmp_path/train``."""
    return write_train_out(tmp_path / "train", train_result)


@pytest.fixture
def indicator_frame() -> pd.DataFrame:
    """Six firms across the three stages with values around the reference values, one value missing."""
    base = official_2024()
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({c: rng.uniform(0, 2, 6) * item.curve.full_at
                          for c, item in zip(base.required_columns, base.indicators, strict=True)})
    frame.iloc[0, 0] = np.nan
    frame["stage"] = ["startup", "growth", "stable", "startup", "growth", "stable"]
    return frame


# ------------------------------------------------------------------------------ one comparison

TEST_YEAR = 2024  # 219 observed loans with 13 defaults in this cohort (2025 has only 3)
N_BOOT = 200
MOVED = 3.0
SCRIPT_TITLE = "<script>alert('x')</script> & candidate"


def _shift(item, delta: float):
    points = StagePoints(**{s: getattr(item.points, s) + delta for s in STAGES})
    return item.model_copy(update={"points": points})


def validated(formula: Formula) -> Formula:
    """model_copy skips validation: a round trip through from_dict proves the edited formula is valid."""
    return Formula.from_dict(formula.with_hash().to_dict())


def moved_formula(base: Formula) -> Formula:
    """``MOVED`` points per stage from rd_expense to invention_patent_apps; a title that needs escaping."""
    delta = {"rd_expense": -MOVED, "invention_patent_apps": MOVED}
    items = [_shift(i, delta[i.id]) if i.id in delta else i for i in base.indicators]
    return validated(base.model_copy(update={"indicators": items, "name": "candidate-moved", "version": "1",
                                              "title": SCRIPT_TITLE}))


@pytest.fixture(scope="session")
def data():
    """Loan indicators and the 2025 population of the cohort; do not modify."""
    cohort = simulate(4000, 1, default_rate=0.08)
    loans = loan_features(cohort.firms, cohort.firm_years, cohort.loans)
    population, _ = population_features(cohort.firms, cohort.firm_years, 2025)
    return loans, population


@pytest.fixture(scope="session")
def formulas():
    a = official_2024()
    return a, moved_formula(a)


@pytest.fixture(scope="session")
def comparison(data, formulas):
    """The official formula (A) against ``moved_formula`` (B) on the test year; do not modify."""
    loans, population = data
    a, b = formulas
    return compare_formulas(a, b, loans, population, n_boot=N_BOOT, test_year=TEST_YEAR, seed=3)


@pytest.fixture(scope="session")
def report(comparison) -> str:
    return render_html(comparison)
