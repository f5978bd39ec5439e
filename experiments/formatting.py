"""How the reports write numbers: one place for the en dash of a missing value, percentages, money and
``mid [low, high]`` intervals, so every report reads the same; and how every CSV the project writes is
encoded (:func:`csv_text`)."""

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


CSV_BOM = "\ufeff"
"""Every CSV starts with the UTF-8 byte-order mark: without it Excel on Chinese Windows reads the file in the
local code page (GBK) and garbles the Chinese names. Readers take CSV with or without it (``utf-8-sig``)."""
CSV_ENCODING = "utf-8-sig"
"""The same as a codec name, for writers that stream a large table to a file (pandas writes the BOM first)."""
CSV_DATE_FORMAT = "%Y-%m-%d"


def csv_text(frame: pd.DataFrame, *, index: bool = False) -> str:
    """``frame`` as CSV text for people and Excel: BOM first, ``\\n`` line ends, ISO dates."""
    return CSV_BOM + frame.to_csv(index=index, date_format=CSV_DATE_FORMAT, lineterminator="\n")


READABLE_DIGITS = {"max_points": 2, "points": 2, "fraction": 4}
"""Decimals of the point columns in tables for people; band edges keep :data:`EDGE_DIGITS` significant digits."""
EDGE_DIGITS = 6


def readable_table(table: pd.DataFrame) -> pd.DataFrame:
    """A weights or points table rounded for reading (CSV, xlsx): points to 2 decimals, fractions to 4, band
    edges (``from``, ``to``) to 6 significant digits. The formula file keeps full precision; a value within
    rounding of an edge is scored by the file, not by the rounded table."""
    out = table.copy()
    for col, digits in READABLE_DIGITS.items():
        if col in out.columns:
            out[col] = pd.to_numeric(out[col]).round(digits)
    for col in ("from", "to"):
        if col in out.columns:
            out[col] = [None if v is None or pd.isna(v) else float(f"{float(v):.{EDGE_DIGITS}g}") for v in out[col]]
    return out
