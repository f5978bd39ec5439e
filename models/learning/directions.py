"""Scoring directions chosen on the risk bands: the cheap choice a credit scorecard makes per variable.

For each indicator both directions' monotone risk bands are fitted
(:func:`innopoints.models.learning.candidates.risk_bins_curve`) and the one whose pooled band default rates
give the training outcomes the higher binomial likelihood is kept: optbinning's ``auto_asc_desc`` trend choice,
made on our bands. It needs no model and no SHAP, and costs two band fits per indicator. SHAP
(:mod:`innopoints.models.learning.explain`) stays for explaining a model, not for choosing directions.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from innopoints.models.learning.candidates import risk_bins_curve


def band_log_likelihood(values: np.ndarray, y: np.ndarray, direction: int) -> float:
    """Binomial log-likelihood of the reporting rows' outcomes under the monotone risk bands of ``direction``."""
    yv = np.asarray(y, dtype="float64")
    risk = risk_bins_curve(values, yv, direction)
    seen = risk.steps >= 0
    good = risk.lo + np.asarray(risk.curve.levels)[risk.steps[seen]] * (risk.hi - risk.lo)
    return -float(np.sum(np.logaddexp(0.0, good) - (1 - yv[seen]) * good))  # log P(repaid | good)


def band_directions(X: pd.DataFrame, y: np.ndarray) -> np.ndarray:
    """Per column of ``X``, the direction (+1/−1) whose monotone risk bands fit the training defaults better.

    +1 means more of the indicator goes with less default risk. A tie (no risk difference either way, or a
    column with no values) keeps +1.
    """
    out = []
    for col in X.columns:
        x = X[col].to_numpy(dtype="float64")
        up, down = band_log_likelihood(x, y, 1), band_log_likelihood(x, y, -1)
        out.append(-1 if down > up + 1e-9 else 1)
    return np.array(out, dtype=np.int64)
