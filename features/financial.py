"""*Financial* credit controls: not innovation, but what a lender checks anyway."""

from __future__ import annotations

import pandas as pd

from innopoints.features.arith import ratio
from innopoints.features.catalog import indicator


@indicator(name_zh="资产负债率", name_en="Leverage (liabilities / assets)", group="financial", unit="ratio",
           direction=-1, valid_range=(0, None))
def leverage(total_liabilities: pd.Series, total_assets: pd.Series) -> pd.Series:
    """Total liabilities divided by total assets."""
    return ratio(total_liabilities, total_assets)


@indicator(name_zh="企业年龄", name_en="Firm age", group="financial", unit="years", direction=1,
           valid_range=(0, None))
def firm_age(founded_year: pd.Series, as_of_year: pd.Series) -> pd.Series:
    """Years from founding to the as-of fiscal year."""
    return (as_of_year - founded_year).astype("float64")


@indicator(name_zh="营业利润率", name_en="Profit margin", group="financial", unit="ratio", direction=1)
def profit_margin(net_profit: pd.Series, revenue: pd.Series) -> pd.Series:
    """Net profit divided by operating revenue."""
    return ratio(net_profit, revenue)
