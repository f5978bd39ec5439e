"""Directions chosen on the risk bands."""

from __future__ import annotations

import numpy as np
import pandas as pd

from innopoints.models.learning.directions import band_directions, band_log_likelihood


def test_each_column_gets_the_direction_its_default_rates_run_in():
    rng = np.random.default_rng(0)
    n = 4000
    X = pd.DataFrame({"safe": rng.normal(size=n), "risky": rng.normal(size=n), "empty": np.full(n, np.nan)})
    p = 1 / (1 + np.exp(-(-2.0 - X["safe"] + X["risky"])))
    y = (rng.uniform(size=n) < p).astype(float)
    assert band_directions(X, y).tolist() == [1, -1, 1]  # a column with no values keeps +1
    x = X["safe"].to_numpy()
    assert band_log_likelihood(x, y, 1) > band_log_likelihood(x, y, -1)
