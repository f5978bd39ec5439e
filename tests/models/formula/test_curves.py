"""Scoring curves: exact values on literal inputs, parameter checks, and the table rendering."""

import numpy as np
import pytest
from pydantic import ValidationError

from innopoints.models.formula.curves import Bins, LinearCap, Percentile

NAN = float("nan")


def _values(curve, xs):
    return curve.fraction(np.array(xs, dtype="float64")).tolist()


def test_linear_cap_rises_then_caps_and_keeps_missing():
    curve = LinearCap(zero_at=0.0, full_at=10.0)
    out = _values(curve, [-1.0, 0.0, 5.0, 10.0, 20.0, NAN])
    # below zero_at → 0, halfway → 0.5, at and above full_at → 1; missing stays missing for the policy
    assert out[:5] == pytest.approx([0.0, 0.0, 0.5, 1.0, 1.0])
    assert np.isnan(out[5])
    assert curve.direction == 1


def test_linear_cap_decreasing_when_full_at_is_below_zero_at():
    curve = LinearCap(zero_at=1.0, full_at=0.0)  # leverage: full score at no debt, nothing at 100%
    assert _values(curve, [0.25, 0.0, 1.5]) == pytest.approx([0.75, 1.0, 0.0])
    assert curve.direction == -1
    assert curve.is_monotone(-1) and not curve.is_monotone(1)


def test_linear_cap_refuses_equal_ends():
    with pytest.raises(ValidationError, match="must differ from zero_at"):
        LinearCap(zero_at=3.0, full_at=3.0)


def test_percentile_interpolates_between_breakpoints():
    curve = Percentile(breakpoints=[0.0, 10.0, 20.0, 30.0, 40.0])
    # breakpoint i of 5 sits at i/4; 5 is halfway between positions 0 and 0.25
    assert _values(curve, [-1.0, 0.0, 5.0, 10.0, 35.0, 40.0, 99.0]) == pytest.approx(
        [0.0, 0.0, 0.125, 0.25, 0.875, 1.0, 1.0]
    )


def test_percentile_ties_take_the_midpoint_of_their_positions():
    # zero-inflated data: three of five breakpoints are 0 (positions 0, .25, .5 → midpoint .25)
    curve = Percentile(breakpoints=[0.0, 0.0, 0.0, 10.0, 20.0])
    out = _values(curve, [-1.0, 0.0, 5.0, 10.0, 20.0, NAN])
    # a firm at the tie gets a mid-rank 0.25; 5 is halfway between 0 (0.25) and 10 (0.75)
    assert out[:5] == pytest.approx([0.0, 0.25, 0.5, 0.75, 1.0])
    assert np.isnan(out[5])


def test_percentile_reversed_for_direction_minus_one():
    curve = Percentile(breakpoints=[0.0, 0.5, 1.0], direction=-1)
    assert _values(curve, [0.0, 0.25, 1.0, 2.0]) == pytest.approx([1.0, 0.75, 0.0, 0.0])


@pytest.mark.parametrize(
    ("breakpoints", "message"),
    [([1.0], "at least 2 values"), ([0.0, 2.0, 1.0], "must be non-decreasing: value 2")],
)
def test_percentile_checks_breakpoints(breakpoints, message):
    with pytest.raises(ValidationError, match=message):
        Percentile(breakpoints=breakpoints)


def test_bins_are_left_closed_steps():
    curve = Bins(edges=[1.0, 5.0], levels=[0.0, 0.5, 1.0])
    out = _values(curve, [0.0, 1.0, 4.99, 5.0, 100.0, NAN])
    # bin i is edges[i-1] <= x < edges[i]: 1 opens the middle bin, 5 the top one
    assert out[:5] == pytest.approx([0.0, 0.5, 0.5, 1.0, 1.0])
    assert np.isnan(out[5])


def test_bins_monotone_check_follows_direction():
    rising = Bins(edges=[1.0], levels=[0.2, 0.8])
    assert rising.is_monotone(1) and not rising.is_monotone(-1)
    flat = Bins(edges=[1.0], levels=[0.5, 0.5])
    assert flat.is_monotone(1) and flat.is_monotone(-1)


@pytest.mark.parametrize(
    ("edges", "levels", "message"),
    [
        ([2.0, 2.0], [0.0, 0.5, 1.0], "edges.*must be strictly increasing: value 1"),
        ([], [0.5], "edges.*at least 1 edge"),
        ([1.0, 2.0], [0.0, 1.0], "levels.*needs len\\(edges\\) \\+ 1 = 3 values, got 2"),
        ([1.0], [0.0, 1.5], "levels.*fraction in \\[0, 1\\]; got 1.5"),
    ],
)
def test_bins_checks_parameters(edges, levels, message):
    # (?s): pydantic puts the field name on its own line before the message
    with pytest.raises(ValidationError, match="(?s)" + message):
        Bins(edges=edges, levels=levels)


def test_describe_is_compact():
    assert LinearCap(zero_at=0.0, full_at=1000.0).describe() == "zero_at=0; full_at=1000"
    assert Bins(edges=[1.0, 5.0], levels=[0.0, 0.5, 1.0]).describe() == "edges=[1, 5]; levels=[0, 0.5, 1]"
    assert Percentile(breakpoints=[0.0, 2.0, 9.0], direction=-1).describe() == (
        "3 breakpoints: min=0; median=2; max=9; reversed"
    )
