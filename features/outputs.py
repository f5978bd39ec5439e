"""Innovation *output* indicators: patents, contracts, awards, high-tech products."""

from __future__ import annotations

import pandas as pd

from innopoints.features.arith import ratio, window_sum
from innopoints.features.catalog import indicator


@indicator(name_zh="与主营业务相关的发明专利申请量", name_en="Invention-patent applications", group="output",
           unit="count", direction=1, status="official", official_no=5, valid_range=(0, None), inflatable=True)
def invention_patent_apps(invention_patent_apps: pd.Series) -> pd.Series:
    """Invention-patent applications filed in the as-of year."""
    return invention_patent_apps


@indicator(name_zh="与主营业务相关的PCT专利申请量", name_en="PCT applications", group="output", unit="count",
           direction=1, status="official", official_no=6, valid_range=(0, None), inflatable=True)
def pct_apps(pct_apps: pd.Series) -> pd.Series:
    """PCT international patent applications filed in the as-of year."""
    return pct_apps


@indicator(name_zh="企业技术合同成交额", name_en="Technology-contract turnover", group="output", unit="CNY 10k",
           direction=1, status="official", official_no=7, valid_range=(0, None))
def tech_contract_turnover(tech_contract_turnover: pd.Series) -> pd.Series:
    """Registered technology-contract turnover in the as-of year."""
    return tech_contract_turnover


@indicator(name_zh="高新技术产品收入", name_en="High-tech product revenue", group="output", unit="CNY 10k",
           direction=1, status="official", official_no=8, valid_range=(0, None))
def high_tech_revenue(high_tech_revenue: pd.Series) -> pd.Series:
    """Revenue from high-tech products in the as-of year."""
    return high_tech_revenue


@indicator(name_zh="近两年获得省级及以上科技奖励", name_en="Provincial+ S&T awards (2 years)", group="output",
           unit="count", direction=1, status="official", official_no=16, valid_range=(0, None))
def st_awards_2y(st_awards: pd.Series, st_awards_lag1: pd.Series, exists_lag1: pd.Series) -> pd.Series:
    """Provincial-or-higher S&T awards in the as-of year and the year before."""
    return window_sum(st_awards, st_awards_lag1, exists_lag1)


@indicator(name_zh="发明专利授权量", name_en="Invention patents granted", group="output", unit="count",
           direction=1, valid_range=(0, None))
def invention_patents_granted(invention_patents_granted: pd.Series) -> pd.Series:
    """Invention patents granted in the as-of year (quality, harder to inflate than applications)."""
    return invention_patents_granted


@indicator(name_zh="发明专利授权率", name_en="Invention-patent grant ratio", group="output", unit="ratio",
           direction=1, valid_range=(0, None))
def patent_grant_ratio(
    invention_patents_granted: pd.Series,
    invention_patents_granted_lag1: pd.Series,
    invention_patent_apps: pd.Series,
    invention_patent_apps_lag1: pd.Series,
    exists_lag1: pd.Series,
) -> pd.Series:
    """Grants over applications across the as-of year and the year before (missing with no applications)."""
    return ratio(window_sum(invention_patents_granted, invention_patents_granted_lag1, exists_lag1),
                 window_sum(invention_patent_apps, invention_patent_apps_lag1, exists_lag1))


@indicator(name_zh="实用新型专利数", name_en="Utility models", group="output", unit="count", direction=1,
           valid_range=(0, None), inflatable=True)
def utility_models(utility_models: pd.Series) -> pd.Series:
    """Utility-model patents in the as-of year (easily inflated; kept so the data can judge it)."""
    return utility_models


@indicator(name_zh="软件著作权数", name_en="Software copyrights", group="output", unit="count", direction=1,
           valid_range=(0, None), inflatable=True)
def software_copyrights(software_copyrights: pd.Series) -> pd.Series:
    """Software copyrights registered in the as-of year (easily inflated; kept so the data can judge it)."""
    return software_copyrights


@indicator(name_zh="高新技术产品收入占比", name_en="High-tech revenue share", group="output", unit="ratio",
           direction=1, valid_range=(0, None))
def high_tech_revenue_share(high_tech_revenue: pd.Series, revenue: pd.Series) -> pd.Series:
    """High-tech product revenue divided by operating revenue."""
    return ratio(high_tech_revenue, revenue)


@indicator(name_zh="研发产出效率", name_en="R&D productivity (grants per CNY 10 m of R&D)", group="output",
           unit="count per CNY 10m", direction=1, valid_range=(0, None))
def rd_productivity(invention_patents_granted: pd.Series, rd_expense: pd.Series) -> pd.Series:
    """Invention patents granted per CNY 10 million of R&D expense."""
    return ratio(invention_patents_granted, rd_expense / 1000.0)


@indicator(name_zh="近三年发明专利授权量", name_en="Invention patents granted, last 3 years (stock)", group="output",
           unit="count", direction=1, valid_range=(0, None))
def invention_patents_granted_3y(
    invention_patents_granted: pd.Series,
    invention_patents_granted_lag1: pd.Series,
    invention_patents_granted_lag2: pd.Series,
    exists_lag1: pd.Series,
    exists_lag2: pd.Series,
) -> pd.Series:
    """Invention patents granted over the as-of year and the two before (pre-founding 0, undelivered missing)."""
    # A stock, not a flow: credit studies find patent stock lowers default risk. A year before founding is a
    # real 0; a year the firm existed but was not delivered would understate the stock, so it makes it missing.
    recent = window_sum(invention_patents_granted, invention_patents_granted_lag1, exists_lag1)
    return window_sum(recent, invention_patents_granted_lag2, exists_lag2)
