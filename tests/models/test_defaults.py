"""Tests for models/defaults.py: the documented defaults, light to import and the same objects everywhere."""

from __future__ import annotations

import subprocess
import sys

from innopoints.models import defaults


def test_the_defaults_are_consistent():
    assert defaults.QUALIFIED_SHARE == 0.1374  # 71,435 of 520,000 firms qualified in 2024
    lows = sum(lo for lo, _ in defaults.GROUP_BOUNDS.values())
    highs = sum(hi for _, hi in defaults.GROUP_BOUNDS.values())
    assert lows <= 1.0 <= highs  # the default group bounds admit a formula
    assert all(0 <= lo <= hi <= 1 for lo, hi in defaults.GROUP_BOUNDS.values())
    assert 0 < defaults.LOW_SUPPORT < 1 and defaults.MAX_WEIGHT > 1 and defaults.PARCEL_UPLIFT >= 1
    assert 0 < defaults.CAP_SHARE < 1


def test_their_home_modules_re_export_the_same_objects():
    from innopoints.models.evaluation import metrics
    from innopoints.models.learning import candidates
    from innopoints.models.policy import constraints
    from innopoints.models.selection import correct, propensity

    assert metrics.QUALIFIED_SHARE is defaults.QUALIFIED_SHARE
    assert candidates.GROUP_BOUNDS is defaults.GROUP_BOUNDS
    assert constraints.CAP_SHARE is defaults.CAP_SHARE
    assert correct.PARCEL_UPLIFT is defaults.PARCEL_UPLIFT
    assert (propensity.LOW_SUPPORT, propensity.MAX_WEIGHT) == (defaults.LOW_SUPPORT, defaults.MAX_WEIGHT)


def test_the_command_line_starts_without_the_learning_stack():
    # A refused config or formula must answer at once: importing the CLI loads no scikit-learn, LightGBM or MLflow.
    code = ("import sys, innopoints.pipeline.cli; "
            "print(sorted(m for m in ('sklearn', 'lightgbm', 'mlflow', 'shap', 'matplotlib') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
