"""Scoring curves: how a raw indicator value becomes a fraction (0 to 1) of the indicator's max points.

A closed vocabulary (STYLE §6): a curve is one of ``linear_cap``, ``percentile`` or ``bins``, each with
exactly its own parameters, checked on load. Every curve maps a missing value (NaN) to NaN, so that the
formula's missing-value policy, not the curve, decides what a data-sharing gap is worth.
"""

from __future__ import annotations

from typing import Annotated, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator


class StrictModel(BaseModel):
    """Base of every formula part: exact keys, immutable, no silent type coercion, finite numbers only."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


def _fmt(value: float) -> str:
    """A compact human rendering of a number for tables (the formula file itself keeps the exact value)."""
    return f"{value:.6g}"


class LinearCap(StrictModel):
    """Capped linear: 0 at ``zero_at``, rising linearly to 1 at ``full_at`` and staying there.

    The official platform stores a "full-score reference value" (满分值参考) per indicator; reading it as
    ``zero_at=0, full_at=reference`` is the plausible reading, not a published rule. ``full_at < zero_at``
    gives a decreasing curve (for indicators where less is better).
    """

    type: Literal["linear_cap"] = "linear_cap"
    zero_at: float
    full_at: float

    @field_validator("full_at")
    @classmethod
    def _distinct(cls, full_at: float, info: ValidationInfo) -> float:
        if "zero_at" in info.data and full_at == info.data["zero_at"]:
            raise ValueError(f"must differ from zero_at (both are {full_at!r}): the slope would be infinite")
        return full_at

    @property
    def direction(self) -> int:
        return 1 if self.full_at > self.zero_at else -1

    def is_monotone(self, direction: int) -> bool:
        """Whether the curve never moves against ``direction`` (+1: never falls as the value rises)."""
        return self.direction == direction

    def fraction(self, x: np.ndarray) -> np.ndarray:
        """clip((x − zero_at) / (full_at − zero_at), 0, 1); NaN stays NaN."""
        return np.clip((x - self.zero_at) / (self.full_at - self.zero_at), 0.0, 1.0)

    def describe(self) -> str:
        return f"zero_at={_fmt(self.zero_at)}; full_at={_fmt(self.full_at)}"

    def rows(self) -> list[tuple[str, float | None, float | None, float]]:
        """The curve as a table (see :data:`ROW_RULES`): below, two anchors, above."""
        (lo, f_lo), (hi, f_hi) = sorted([(self.zero_at, 0.0), (self.full_at, 1.0)])
        return [("below", None, lo, f_lo), ("anchor", lo, None, f_lo), ("anchor", hi, None, f_hi),
                ("above", hi, None, f_hi)]


class Percentile(StrictModel):
    """Empirical-CDF position against stored breakpoints (quantiles learned at fit time, never re-fitted).

    Breakpoint ``i`` of ``n`` sits at position ``i / (n − 1)``; between breakpoints the position is
    interpolated linearly, below the first it is 0, above the last 1. Tied breakpoints (zero-inflated data:
    most firms file no PCT application) share the midpoint of their positions, so a firm at the tie gets
    a mid-rank instead of 0 or 1. ``direction = -1`` reverses the fraction (1 − position).
    """

    type: Literal["percentile"] = "percentile"
    direction: Literal[1, -1] = 1
    breakpoints: list[float]

    @field_validator("breakpoints")
    @classmethod
    def _sorted(cls, breakpoints: list[float]) -> list[float]:
        if len(breakpoints) < 2:
            raise ValueError(f"needs at least 2 values, got {len(breakpoints)}")
        drops = [i for i in range(1, len(breakpoints)) if breakpoints[i] < breakpoints[i - 1]]
        if drops:
            i = drops[0]
            raise ValueError(
                f"must be non-decreasing: value {i} ({breakpoints[i]!r}) is below value {i - 1} "
                f"({breakpoints[i - 1]!r})"
            )
        return breakpoints

    def is_monotone(self, direction: int) -> bool:
        return self.direction == direction

    def _anchors(self) -> tuple[np.ndarray, np.ndarray]:
        """Distinct breakpoint values and their (tie-averaged) positions in [0, 1]."""
        b = np.asarray(self.breakpoints, dtype="float64")
        positions = np.arange(b.size) / (b.size - 1)
        values, inverse = np.unique(b, return_inverse=True)
        # Mean position of each group of tied breakpoints.
        mid = np.bincount(inverse, weights=positions) / np.bincount(inverse)
        return values, mid

    def fraction(self, x: np.ndarray) -> np.ndarray:
        values, mid = self._anchors()
        f = np.interp(x, values, mid, left=0.0, right=1.0)
        f = np.where(np.isnan(x), np.nan, f)
        return f if self.direction == 1 else 1.0 - f

    def rows(self) -> list[tuple[str, float | None, float | None, float]]:
        """The curve as a table (see :data:`ROW_RULES`): below the first breakpoint, one anchor per distinct
        breakpoint (tied ones at their mid-rank), above the last."""
        values, mid = self._anchors()
        f = mid if self.direction == 1 else 1.0 - mid
        below, above = (0.0, 1.0) if self.direction == 1 else (1.0, 0.0)
        return ([("below", None, float(values[0]), below)]
                + [("anchor", float(v), None, float(x)) for v, x in zip(values, f, strict=True)]
                + [("above", float(values[-1]), None, above)])

    def describe(self) -> str:
        b = self.breakpoints
        return (
            f"{len(b)} breakpoints: min={_fmt(b[0])}; median={_fmt(float(np.median(b)))}; max={_fmt(b[-1])}"
            + ("; reversed" if self.direction == -1 else "")
        )


class Bins(StrictModel):
    """Step function: ``k`` strictly increasing edges cut the line into ``k + 1`` bins with one level each.

    Bin ``i`` is ``edges[i-1] <= x < edges[i]``: bin 0 is everything below the first edge, bin ``k`` the
    last edge and above. ``levels[i]`` is the fraction of the indicator's max points in bin
    ``i``. Levels must follow the indicator's direction unless ``monotone`` is set to false explicitly.
    """

    type: Literal["bins"] = "bins"
    edges: list[float]
    levels: list[float]
    monotone: bool = True

    @field_validator("edges")
    @classmethod
    def _increasing(cls, edges: list[float]) -> list[float]:
        if not edges:
            raise ValueError("needs at least 1 edge")
        for i in range(1, len(edges)):
            if edges[i] <= edges[i - 1]:
                raise ValueError(
                    f"must be strictly increasing: value {i} ({edges[i]!r}) is not above value {i - 1} "
                    f"({edges[i - 1]!r})"
                )
        return edges

    @field_validator("levels")
    @classmethod
    def _one_more_than_edges(cls, levels: list[float], info: ValidationInfo) -> list[float]:
        edges = info.data.get("edges")
        if edges is not None and len(levels) != len(edges) + 1:
            raise ValueError(f"needs len(edges) + 1 = {len(edges) + 1} values, got {len(levels)}")
        outside = [v for v in levels if not 0.0 <= v <= 1.0]
        if outside:
            raise ValueError(f"each level is a fraction in [0, 1]; got {outside[0]!r}")
        return levels

    def is_monotone(self, direction: int) -> bool:
        steps = np.diff(np.asarray(self.levels, dtype="float64")) * direction
        return bool(np.all(steps >= 0))

    def fraction(self, x: np.ndarray) -> np.ndarray:
        idx = np.searchsorted(np.asarray(self.edges, dtype="float64"), x, side="right")
        # NaN sorts after every edge; index into a padded array, then put NaN back.
        f = np.asarray(self.levels, dtype="float64")[np.minimum(idx, len(self.edges))]
        return np.where(np.isnan(x), np.nan, f)

    def rows(self) -> list[tuple[str, float | None, float | None, float]]:
        """The curve as a table (see :data:`ROW_RULES`): one band per level."""
        lows = [None, *self.edges]
        highs = [*self.edges, None]
        return [("band", lo, hi, float(v)) for lo, hi, v in zip(lows, highs, self.levels, strict=True)]

    def describe(self) -> str:
        return (
            f"edges=[{', '.join(_fmt(e) for e in self.edges)}]; "
            f"levels=[{', '.join(_fmt(v) for v in self.levels)}]"
            + ("" if self.monotone else "; not monotone")
        )


ROW_RULES: dict[str, str] = {
    "band": "from <= value < to scores this fraction (an empty end is unbounded)",
    "anchor": "value = from scores this fraction; between two anchors the fraction is linear in the value",
    "below": "value < to scores this fraction",
    "above": "value > from scores this fraction",
    "missing": "a missing value scores this fraction (the formula's missing-value policy, for the stage)",
}

Curve = Annotated[LinearCap | Percentile | Bins, Field(discriminator="type")]
CURVE_TYPES: tuple[str, ...] = ("linear_cap", "percentile", "bins")
