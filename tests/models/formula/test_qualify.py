"""Tests for models/formula/qualify.py: which firms qualify, by top share or by points cut-off."""

from __future__ import annotations

import numpy as np
import pytest

from innopoints.models.formula.qualify import qualified_mask

POINTS = np.array([55.0, 12.5, 80.0, 40.0, 55.0, 70.0, 3.0, 61.0, 40.0, 20.0])


def test_a_cutoff_qualifies_everyone_at_or_above_it():
    assert qualified_mask(POINTS, cutoff=55.0).tolist() == [True, False, True, False, True, True, False, True,
                                                            False, False]


def test_a_given_cutoff_wins_over_the_share():
    np.testing.assert_array_equal(qualified_mask(POINTS, share=0.1, cutoff=40.0), POINTS >= 40.0)


def test_a_share_qualifies_the_top_firms():
    assert np.flatnonzero(qualified_mask(POINTS, share=0.2)).tolist() == [2, 5]  # 80 and 70 points
    assert qualified_mask(list(POINTS), share=1.0).all()  # any array-like


def test_firms_tied_at_the_threshold_all_qualify():
    # The top 40% is 4 firms, but the 4th and 5th both have 55 points: both qualify.
    mask = qualified_mask(POINTS, share=0.4)
    assert np.flatnonzero(mask).tolist() == [0, 2, 4, 5, 7]


def test_neither_share_nor_cutoff_is_refused():
    with pytest.raises(ValueError, match="give a share or a cutoff"):
        qualified_mask(POINTS)
