"""Null-aware arithmetic shared by the indicator functions. Missing stays missing; nothing becomes zero."""

from __future__ import annotations

import numpy as np
import pandas as pd


def ratio(num: pd.Series, den: pd.Series) -> pd.Series:
    """num / den; missing when either is missing or the denominator is not positive."""
    den = den.astype("float64")
    return num.astype("float64") / den.where(den > 0)


def growth(current: pd.Series, base: pd.Series, years: int = 1) -> pd.Series:
    """Annualised growth current/base − 1 over ``years``.

    Defined as 0 when both are 0 (nothing to grow from or to), missing when the base is 0 and the current
    value positive (infinite growth is not a number a formula can use), missing when either side is
    missing or negative.
    """
    cur = current.astype("float64")
    b = base.astype("float64")
    valid = (b > 0) & (cur >= 0)
    out = pd.Series(np.nan, index=cur.index, dtype="float64")
    out[valid] = (cur[valid] / b[valid]) ** (1.0 / years) - 1.0
    out[(b == 0) & (cur == 0)] = 0.0
    return out


def window_sum(current: pd.Series, previous: pd.Series, previous_exists: pd.Series) -> pd.Series:
    """current + previous; a previous year before the firm existed counts as 0, a missing one as missing."""
    prev = previous.astype("float64").where(~(~previous_exists & previous.isna()), 0.0)
    return current.astype("float64") + prev


def window_max(current: pd.Series, previous: pd.Series, previous_exists: pd.Series) -> pd.Series:
    """max(current, previous) with the same missing rule as :func:`window_sum`."""
    prev = previous.astype("float64").where(~(~previous_exists & previous.isna()), 0.0)
    cur = current.astype("float64")
    out = np.fmax(cur, prev)
    return out.where(cur.notna() & prev.notna())
