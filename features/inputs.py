"""Innovation *input* indicators: what a firm puts into R&D (money, people, platforms)."""

from __future__ import annotations

import pandas as pd

from innopoints.features.arith import growth, ratio, window_max, window_sum
from innopoints.features.catalog import indicator


@indicator(name_zh="研发费用金额", name_en="R&D expense", group="input", unit="CNY 10k", direction=1,
           status="official", official_no=1, valid_range=(0, None))
def rd_expense(rd_expense: pd.Series) -> pd.Series:
    """R&D expense of the as-of fiscal year."""
    return rd_expense


@indicator(name_zh="研发费用增速", name_en="R&D expense growth", group="input", unit="ratio", direction=1,
           status="official", official_no=2, valid_range=(-1, None))
def rd_expense_growth(rd_expense: pd.Series, rd_expense_lag1: pd.Series) -> pd.Series:
    """Year-on-year growth of R&D expense (0 when both years are 0, missing on a zero base)."""
    return growth(rd_expense, rd_expense_lag1)


@indicator(name_zh="研发费用占营业收入的比例", name_en="R&D share of revenue", group="input", unit="ratio",
           direction=1, status="official", official_no=3, valid_range=(0, None))
def rd_intensity(rd_expense: pd.Series, revenue: pd.Series) -> pd.Series:
    """R&D expense divided by operating revenue (missing when revenue is not positive)."""
    return ratio(rd_expense, revenue)


@indicator(name_zh="科技人员占职工总数的比重", name_en="S&T staff share", group="input", unit="ratio",
           direction=1, status="official", official_no=4, valid_range=(0, 1))
def st_staff_share(st_staff: pd.Series, employees: pd.Series) -> pd.Series:
    """S&T personnel divided by employees."""
    return ratio(st_staff, employees)


@indicator(name_zh="研究生以上人员占比", name_en="Postgraduate staff share", group="input", unit="ratio",
           direction=1, status="official", official_no=11, valid_range=(0, 1))
def postgrad_share(postgrad_staff: pd.Series, employees: pd.Series) -> pd.Series:
    """Staff with a postgraduate degree divided by employees."""
    return ratio(postgrad_staff, employees)


@indicator(name_zh="研发费用加计扣除所得税减免额", name_en="R&D super-deduction tax relief", group="input",
           unit="CNY 10k", direction=1, status="official", official_no=12, valid_range=(0, None))
def rd_tax_deduction(rd_tax_deduction: pd.Series) -> pd.Series:
    """Income-tax relief from the R&D super-deduction in the as-of year."""
    return rd_tax_deduction


@indicator(name_zh="近两年承担建设省级及以上研发或创新平台数量", name_en="Provincial+ R&D platforms (2 years)",
           group="input", unit="count", direction=1, status="official", official_no=15, valid_range=(0, None))
def rd_platforms_2y(rd_platforms: pd.Series, rd_platforms_lag1: pd.Series, exists_lag1: pd.Series) -> pd.Series:
    """Most provincial-or-higher R&D platforms held in the as-of year or the year before."""
    return window_max(rd_platforms, rd_platforms_lag1, exists_lag1)


@indicator(name_zh="研发费用两年增速", name_en="R&D expense growth (2-year, annualised)", group="input",
           unit="ratio", direction=1, valid_range=(-1, None))
def rd_expense_growth_2y(rd_expense: pd.Series, rd_expense_lag2: pd.Series) -> pd.Series:
    """Annualised two-year growth of R&D expense."""
    return growth(rd_expense, rd_expense_lag2, years=2)


@indicator(name_zh="人均研发费用", name_en="R&D expense per employee", group="input", unit="CNY 10k",
           direction=1, valid_range=(0, None))
def rd_per_employee(rd_expense: pd.Series, employees: pd.Series) -> pd.Series:
    """R&D expense divided by employees."""
    return ratio(rd_expense, employees)


@indicator(name_zh="近三年研发费用累计", name_en="Cumulative R&D expense, last 3 years", group="input", unit="CNY 10k",
           direction=1, valid_range=(0, None))
def rd_expense_3y(rd_expense: pd.Series, rd_expense_lag1: pd.Series, rd_expense_lag2: pd.Series,
                  exists_lag1: pd.Series, exists_lag2: pd.Series) -> pd.Series:
    """R&D expense summed over the as-of year and the two before (pre-founding 0, undelivered missing)."""
    # Same missing rule as invention_patents_granted_3y: treating an undelivered year as 0 would understate it.
    return window_sum(window_sum(rd_expense, rd_expense_lag1, exists_lag1), rd_expense_lag2, exists_lag2)
