"""Weighted refits and reject inference by parcelling."""

from __future__ import annotations

import numpy as np
import pytest

from innopoints.models.selection.correct import parcel_rejects, points_moved


def test_parcelling_gives_a_reject_its_bands_smoothed_rate_times_the_uplift_capped_at_one():
    approved = np.repeat(np.arange(10.0), 100)  # ten bands of 100 loans, one band per points value
    defaulted = np.zeros(1000)
    defaulted[:50] = 1  # band 0: 50 of 100 default; every other band none
    pd_ = parcel_rejects(approved, defaulted, [0.0, 9.0, -5.0, 50.0], uplift=2.0, n_bands=10)
    overall = 0.05
    low = (50 + 10 * overall) / 110
    high = (0 + 10 * overall) / 110
    np.testing.assert_allclose(pd_, [min(2 * low, 1.0), 2 * high, min(2 * low, 1.0), 2 * high])
    assert parcel_rejects(approved, defaulted, [0.0], uplift=4.0)[0] == 1.0


def test_points_moved_is_half_the_l1_distance_per_stage_averaged():
    a = np.array([[50.0, 50.0], [100.0, 0.0], [0.0, 100.0]])
    b = np.array([[40.0, 60.0], [100.0, 0.0], [100.0, 0.0]])
    assert points_moved(a, b) == pytest.approx((10 + 0 + 100) / 3)
