"""How the reports write numbers: one place for the en dash of a missing value, percentages, money and
``mid [low, high]`` intervals, so every report reads the same."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd

MISSING = "–"
"""What a report shows for a value that is not there (None, NaN, NA)."""


def number(value, spec: str = ".3f") -> str:
    """``value`` in the format ``spec``, or an en dash when there is none."""
    if value is None or value is pd.NA or (isinstance(value, float) and not math.isfinite(value)):
        return MISSING
    return format(value, spec)


def percent(value, digits: int = 1) -> str:
    """A fraction as a percentage with ``digits`` decimals (0.1234 → ``12.3%``)."""
    return number(value, f".{digits}%")


def money(value) -> str:
    """An amount (CNY 10k) with thousands separators and no decimals."""
    return number(value, ",.0f")


def interval(values: Sequence | None, spec: str = "+.3f") -> str:
    """``mid [low, high]`` of a ``[low, mid, high]`` interval, each in ``spec``."""
    if not values:
        return MISSING
    low, mid, high = values
    return f"{number(mid, spec)} [{number(low, spec)}, {number(high, spec)}]"


def pp(values: Sequence | None) -> str:
    """A ``[low, mid, high]`` difference of rates, in percentage points."""
    if not values:
        return MISSING
    return interval([v * 100 if v is not None else None for v in values], "+.2f") + " pp"
