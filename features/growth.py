"""*Growth* indicators: revenue, profitability, hiring and capital raised."""

from __future__ import annotations

import pandas as pd

from innopoints.features.arith import growth, ratio
from innopoints.features.catalog import indicator


@indicator(name_zh="营业收入", name_en="Operating revenue", group="growth", unit="CNY 10k", direction=1,
           status="official", official_no=9, valid_range=(0, None))
def revenue(revenue: pd.Series) -> pd.Series:
    """Operating revenue of the as-of fiscal year."""
    return revenue


@indicator(name_zh="营业收入增长率", name_en="Revenue growth", group="growth", unit="ratio", direction=1,
           status="official", official_no=10, valid_range=(-1, None))
def revenue_growth(revenue: pd.Series, revenue_lag1: pd.Series) -> pd.Series:
    """Year-on-year revenue growth (0 when both years are 0, missing on a zero base)."""
    return growth(revenue, revenue_lag1)


@indicator(name_zh="净资产利润率", name_en="Return on net assets", group="growth", unit="ratio", direction=1,
           status="official", official_no=13)
def roe(net_profit: pd.Series, net_assets: pd.Series) -> pd.Series:
    """Net profit divided by net assets (missing when net assets are not positive)."""
    return ratio(net_profit, net_assets)


@indicator(name_zh="吸纳应届毕业生人数", name_en="Fresh graduates hired", group="growth", unit="count",
           direction=1, status="official", official_no=14, valid_range=(0, None))
def new_graduates_hired(new_graduates_hired: pd.Series) -> pd.Series:
    """Fresh graduates hired in the as-of year."""
    return new_graduates_hired


@indicator(name_zh="获得风险投资金额", name_en="Venture capital raised", group="growth", unit="CNY 10k",
           direction=1, status="official", official_no=17, valid_range=(0, None))
def vc_raised(vc_raised: pd.Series) -> pd.Series:
    """Venture capital raised in the as-of year."""
    return vc_raised


@indicator(name_zh="营业收入两年增长率", name_en="Revenue growth (2-year, annualised)", group="growth",
           unit="ratio", direction=1, valid_range=(-1, None))
def revenue_growth_2y(revenue: pd.Series, revenue_lag2: pd.Series) -> pd.Series:
    """Annualised two-year revenue growth."""
    return growth(revenue, revenue_lag2, years=2)


@indicator(name_zh="从业人员增长率", name_en="Employment growth", group="growth", unit="ratio", direction=1,
           valid_range=(-1, None))
def employment_growth(employees: pd.Series, employees_lag1: pd.Series) -> pd.Series:
    """Year-on-year growth of employees."""
    return growth(employees, employees_lag1)


@indicator(name_zh="人均营业收入", name_en="Revenue per employee", group="growth", unit="CNY 10k",
           direction=1, valid_range=(0, None))
def revenue_per_employee(revenue: pd.Series, employees: pd.Series) -> pd.Series:
    """Operating revenue divided by employees."""
    return ratio(revenue, employees)
