"""The synthetic national cohort: `firms`, `firm_years` and `loans` in the input contract, with a known truth.

Real loan-level data for innovation-points loans is not public, so the pipeline is developed and checked on
a cohort whose generating process is written down in ``truth``:

* firms with persistent latent traits (size, innovativeness, health, a taste for inflating counts) whose
  yearly accounts are autocorrelated, heavy-tailed and zero-inflated where reality is;
* data-sharing gaps: columns missing for whole provinces, for province-years, and at random;
* loans that go mostly to firms a points proxy ranks in the top 13.7% (selection bias, as in reality);
* default drawn from a documented logit of the point-in-time indicators (as-of year = origination year − 1,
  true values before masking), with a planted sign conflict: R&D intensity is rewarded by policy but
  raises the risk, most of all when revenue is weak.

Everything is vectorised over firms; the only loops run over years, provinces and columns.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import expit

from innopoints.features.build import compute_indicators, panel_columns, split_panel_column
from innopoints.features.catalog import get
from innopoints.features.errors import SimulationError
from innopoints.models.evaluation.metrics import QUALIFIED_SHARE
from innopoints.pipeline.contract import (
    FIRM_COLUMNS,
    FIRM_YEAR_COLUMNS,
    GUARANTEES,
    LOAN_COLUMNS,
    PROVINCES,
)

# ---------------------------------------------------------------------------------------------------------
# Vocabularies and fixed settings of the generator (recorded in truth["params"] where they matter).

# Relative number of tech SMEs per provincial unit (per mille, rounded): coastal giants, a long inland tail.
PROVINCE_WEIGHTS: dict[str, float] = {
    "Beijing": 70, "Tianjin": 22, "Hebei": 22, "Shanxi": 8, "Inner Mongolia": 5, "Liaoning": 18,
    "Jilin": 7, "Heilongjiang": 7, "Shanghai": 60, "Jiangsu": 120, "Zhejiang": 100, "Anhui": 35,
    "Fujian": 28, "Jiangxi": 16, "Shandong": 70, "Henan": 30, "Hubei": 35, "Hunan": 28, "Guangdong": 150,
    "Guangxi": 9, "Hainan": 4, "Chongqing": 18, "Sichuan": 30, "Guizhou": 7, "Yunnan": 8, "Tibet": 0.5,
    "Shaanxi": 25, "Gansu": 4, "Qinghai": 1.2, "Ningxia": 2, "Xinjiang": 4,
}

# GB/T 4754 industry codes: (share, innovativeness shift, R&D-intensity log shift, software-copyright shift).
INDUSTRIES: dict[str, tuple[float, float, float, float]] = {
    "C26": (0.06, -0.1, -0.2, -0.5),  # chemical materials and products
    "C27": (0.07, 0.3, 0.5, -0.5),  # pharmaceuticals
    "C34": (0.08, -0.1, -0.1, 0.0),  # general-purpose machinery
    "C35": (0.12, 0.0, 0.0, 0.0),  # special-purpose machinery
    "C38": (0.09, 0.0, 0.0, 0.0),  # electrical machinery
    "C39": (0.16, 0.3, 0.2, 0.5),  # computers, communication and electronic equipment
    "C40": (0.05, 0.2, 0.2, 0.2),  # instruments and meters
    "I65": (0.22, 0.2, 0.3, 1.8),  # software and IT services
    "M73": (0.06, 0.5, 0.6, 0.3),  # research and experimental development
    "M75": (0.09, 0.0, 0.0, 0.8),  # technology promotion and application services
}

# The 21 cooperating banks (2024), big state-owned banks lending most.
BANKS: dict[str, float] = {
    "ICBC": 12, "CCB": 12, "ABC": 10, "BOC": 10, "BOCOM": 7, "PSBC": 6, "CMB": 6, "CITIC": 4, "SPDB": 4,
    "CIB": 4, "CMBC": 3, "CEB": 3, "HXB": 2, "PAB": 3, "CGB": 2, "CZB": 2, "BOB": 3, "BOSC": 2,
    "NJCB": 2, "HZCB": 2, "JSB": 2,
}
TERMS: dict[int, float] = {12: 0.6, 24: 0.25, 36: 0.15}
GUARANTEE_BASE: dict[str, float] = {"credit": 0.55, "guarantee_fund": 0.33, "ip_pledge": 0.12}

SME_SHARE = 0.92
# The 2024 qualified share to three places (0.137): every cohort, and every number pinned on one, was drawn
# with it; the fourth place would redraw each year's loans (a different sample of the same world).
SIMULATED_QUALIFIED_SHARE = round(QUALIFIED_SHARE, 3)
LOANS_TO_QUALIFIED = 0.85
STAGE_SPLIT = {"startup": 0.25, "growth": 0.45, "stable": 0.30}  # ages 0-2, 3-9, 10-30 at the last year
PROVINCE_EFFECT_SD = 0.15
NOISE_SD = 0.5  # idiosyncratic part of the default logit, not explained by any indicator
AMOUNT_MEDIAN = 300.0  # CNY 10k
AMOUNT_RANGE = (20.0, 3000.0)  # the per-firm guarantee cap is CNY 30 m
BURN_IN = 2  # unpublished years simulated before the first fiscal year so lags and grants have a history

OFFICIAL_INDICATORS: tuple[str, ...] = (
    "rd_expense", "rd_expense_growth", "rd_intensity", "st_staff_share", "invention_patent_apps", "pct_apps",
    "tech_contract_turnover", "high_tech_revenue", "revenue", "revenue_growth", "postgrad_share",
    "rd_tax_deduction", "roe", "new_graduates_hired", "rd_platforms_2y", "st_awards_2y", "vc_raised",
)
CANDIDATE_INDICATORS: tuple[str, ...] = (
    "invention_patents_granted", "patent_grant_ratio", "revenue_growth_2y", "rd_expense_growth_2y",
    "employment_growth", "leverage", "firm_age", "profit_margin", "utility_models", "software_copyrights",
    "high_tech_revenue_share", "rd_productivity", "revenue_per_employee", "rd_per_employee",
    "invention_patents_granted_3y", "rd_expense_3y",
)
# Computed by their catalog functions in features/ rather than re-implemented in numpy below.
FROM_CATALOG: tuple[str, ...] = ("invention_patents_granted_3y", "rd_expense_3y")
INDICATORS: tuple[str, ...] = OFFICIAL_INDICATORS + CANDIDATE_INDICATORS


@dataclass(frozen=True)
class _Effect:
    """How one indicator enters the default logit: transform, fill for a missing value, target effect."""

    transform: str  # "log1p" (money, counts) or "clip" (ratios, growth, age)
    lower: float | None = None
    upper: float | None = None
    fill: float = 0.0  # value the raw indicator takes when it is missing (undefined), before the transform
    target: float = 0.0  # signed standardized effect: logit change per sd over loans; + raises risk


_L = _Effect("log1p")
_GROWTH = _Effect("clip", -0.9, 2.0)
_SHARE = _Effect("clip", 0.0, 1.0)
# Planted truth. Targets are logit per sd of the transformed value over loans, so "importance" reads the
# same at every cohort size. Missing roe / profit margin (no equity, no revenue) are read as the worst
# case; missing growth (no history) as none; missing R&D intensity (R&D without revenue) as the cap.
EFFECTS: dict[str, _Effect] = {
    "rd_expense": _L, "rd_expense_growth": _GROWTH,
    "rd_intensity": _Effect("clip", 0.0, 0.5, fill=0.5, target=0.35),
    "st_staff_share": _SHARE, "invention_patent_apps": _L, "pct_apps": _L,
    "tech_contract_turnover": _Effect("log1p", target=-0.40),
    "high_tech_revenue": _L,
    "revenue": _Effect("log1p", target=-0.15),
    "revenue_growth": _Effect("clip", -0.5, 1.0, fill=0.0, target=-0.55),
    "postgrad_share": _SHARE, "rd_tax_deduction": _L,
    "roe": _Effect("clip", -0.5, 0.5, fill=-0.5, target=-0.45),
    "new_graduates_hired": _L, "rd_platforms_2y": _L, "st_awards_2y": _L, "vc_raised": _L,
    "invention_patents_granted": _Effect("log1p", target=-0.60),
    "patent_grant_ratio": _Effect("clip", 0.0, 1.0, fill=0.0),
    "revenue_growth_2y": _GROWTH, "rd_expense_growth_2y": _GROWTH, "employment_growth": _GROWTH,
    "leverage": _Effect("clip", 0.0, 1.5, fill=1.0, target=0.70),
    "firm_age": _Effect("clip", 0.0, 30.0, target=-0.10),
    "profit_margin": _Effect("clip", -1.0, 0.5, fill=-1.0, target=-0.20),
    "utility_models": _L, "software_copyrights": _L, "high_tech_revenue_share": _SHARE,
    "rd_productivity": _L, "revenue_per_employee": _L, "rd_per_employee": _L,
    # Three-year stocks: no effect of their own, though they move with the yearly counts that have one.
    "invention_patents_granted_3y": _L, "rd_expense_3y": _L,
}
# The sign-conflict interaction: very high R&D intensity together with falling revenue.
INTERACTION = {
    "name": "rd_intensity_x_weak_revenue",
    "indicators": ["rd_intensity", "revenue_growth"],
    "rd_threshold": 0.15, "rd_scale": 0.10, "rd_cap": 3.0,
    "revenue_scale": 0.20,
    "coef": 1.2,
    "definition": (
        "high_rd = clip((rd_intensity - 0.15) / 0.10, 0, 3) (missing rd_intensity = 3); "
        "weak_revenue = clip(-revenue_growth / 0.20, 0, 1) (missing revenue_growth = 0); "
        "term = high_rd * weak_revenue, centred on its loan mean"
    ),
}



@dataclass
class Cohort:
    """A synthetic cohort: the three contract tables, the generating truth, and per-loan truth.

    ``loan_truth`` (one row per loan, sorted by ``loan_id``) holds what no real table would: the as-of year,
    the true (unmasked) indicator values the default draw used, the logit parts and the probability.
    """

    firms: pd.DataFrame
    firm_years: pd.DataFrame
    loans: pd.DataFrame
    truth: dict
    loan_truth: pd.DataFrame | None = None


# ---------------------------------------------------------------------------------------------------------
# Point-in-time indicators (definitions follow the catalog in features/, in numpy for national scale).


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den; missing when either is missing or the denominator is not positive."""
    out = np.full(num.shape, np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out


def _growth(cur: np.ndarray, base: np.ndarray, years: int = 1) -> np.ndarray:
    """cur/base − 1 annualised; 0 when both are 0; missing on a zero base, a negative or missing side."""
    out = np.full(cur.shape, np.nan)
    ok = (base > 0) & (cur >= 0)
    out[ok] = (cur[ok] / base[ok]) ** (1.0 / years) - 1.0
    out[(base == 0) & (cur == 0)] = 0.0
    return out


def _prev_or_zero(prev: np.ndarray, exists: np.ndarray) -> np.ndarray:
    """A previous year before the firm existed counts as 0; a missing one stays missing."""
    return np.where(~exists & np.isnan(prev), 0.0, prev)


def _catalog_values(cur: Mapping[str, np.ndarray], lag1: Mapping[str, np.ndarray],
                    lag2: Mapping[str, np.ndarray], firm_age: np.ndarray) -> dict[str, np.ndarray]:
    """The :data:`FROM_CATALOG` indicators, from a point-in-time panel built out of the aligned arrays."""
    catalog = [get(ind) for ind in FROM_CATALOG]
    by_lag = (cur, lag1, lag2)
    derived = {"exists_lag1": firm_age >= 1, "exists_lag2": firm_age >= 2}
    panel = {}
    for col in panel_columns(catalog):
        raw, lag = split_panel_column(col)
        panel[col] = derived[col] if col in derived else by_lag[lag][raw]
    values = compute_indicators(pd.DataFrame(panel), catalog)
    return {ind: values[ind].to_numpy(dtype="float64") for ind in FROM_CATALOG}


def _indicator_values(cur: Mapping[str, np.ndarray], lag1: Mapping[str, np.ndarray],
                      lag2: Mapping[str, np.ndarray], firm_age: np.ndarray) -> dict[str, np.ndarray]:
    """All indicators for one as-of year from the raw columns of years t, t−1, t−2 (arrays aligned)."""
    rev, rd, emp = cur["revenue"], cur["rd_expense"], cur["employees"]
    granted, apps = cur["invention_patents_granted"], cur["invention_patent_apps"]
    exists1 = firm_age >= 1
    prev_platforms = _prev_or_zero(lag1["rd_platforms"], exists1)
    platforms = np.where(np.isnan(cur["rd_platforms"]) | np.isnan(prev_platforms), np.nan,
                         np.fmax(cur["rd_platforms"], prev_platforms))
    out = {
        "rd_expense": rd,
        "rd_expense_growth": _growth(rd, lag1["rd_expense"]),
        "rd_intensity": _ratio(rd, rev),
        "st_staff_share": _ratio(cur["st_staff"], emp),
        "invention_patent_apps": apps,
        "pct_apps": cur["pct_apps"],
        "tech_contract_turnover": cur["tech_contract_turnover"],
        "high_tech_revenue": cur["high_tech_revenue"],
        "revenue": rev,
        "revenue_growth": _growth(rev, lag1["revenue"]),
        "postgrad_share": _ratio(cur["postgrad_staff"], emp),
        "rd_tax_deduction": cur["rd_tax_deduction"],
        "roe": _ratio(cur["net_profit"], cur["net_assets"]),
        "new_graduates_hired": cur["new_graduates_hired"],
        "rd_platforms_2y": platforms,
        "st_awards_2y": cur["st_awards"] + _prev_or_zero(lag1["st_awards"], exists1),
        "vc_raised": cur["vc_raised"],
        "invention_patents_granted": granted,
        "patent_grant_ratio": _ratio(granted + _prev_or_zero(lag1["invention_patents_granted"], exists1),
                                     apps + _prev_or_zero(lag1["invention_patent_apps"], exists1)),
        "revenue_growth_2y": _growth(rev, lag2["revenue"], years=2),
        "rd_expense_growth_2y": _growth(rd, lag2["rd_expense"], years=2),
        "employment_growth": _growth(emp, lag1["employees"]),
        "leverage": _ratio(cur["total_liabilities"], cur["total_assets"]),
        "firm_age": firm_age.astype("float64"),
        "profit_margin": _ratio(cur["net_profit"], rev),
        "utility_models": cur["utility_models"],
        "software_copyrights": cur["software_copyrights"],
        "high_tech_revenue_share": _ratio(cur["high_tech_revenue"], rev),
        "rd_productivity": _ratio(granted, rd / 1000.0),
        "revenue_per_employee": _ratio(rev, emp),
        "rd_per_employee": _ratio(rd, emp),
        **_catalog_values(cur, lag1, lag2, firm_age),
    }
    return {k: out[k] for k in INDICATORS}


def as_of_indicators(firms: pd.DataFrame, firm_years: pd.DataFrame, as_of_year: int) -> pd.DataFrame:
    """Every indicator of :data:`INDICATORS` at ``as_of_year`` for the firms with a row in that year.

    Reads only the `firm_years` rows of years ``as_of_year``, ``− 1`` and ``− 2`` (point in time).

    Args:
        firms: the `firms` table (for `founded_year`).
        firm_years: the `firm_years` table (published or true values).
        as_of_year: the fiscal year t (a loan originated in Y has t = Y − 1).
    Returns:
        One row per firm with a year-t row, indexed by `firm_id` in sorted order, one float column per
        indicator.
    """
    window = firm_years[firm_years["year"].between(as_of_year - 2, as_of_year)]
    ids = np.sort(window.loc[window["year"] == as_of_year, "firm_id"].to_numpy(dtype=object))
    by_year = {lag: window[window["year"] == as_of_year - lag].set_index("firm_id").reindex(ids)
               for lag in (0, 1, 2)}
    values = [c for c in FIRM_YEAR_COLUMNS if c not in ("firm_id", "year")]
    cols = [{c: by_year[lag][c].to_numpy(dtype="float64", na_value=np.nan) for c in values} for lag in (0, 1, 2)]
    founded = firms.set_index("firm_id")["founded_year"].reindex(ids).to_numpy(dtype="float64")
    out = _indicator_values(cols[0], cols[1], cols[2], as_of_year - founded)
    return pd.DataFrame(out, index=pd.Index(ids, name="firm_id", dtype="str"))


# ---------------------------------------------------------------------------------------------------------
# The documented default model.


def _transform(values: np.ndarray, effect: Mapping) -> np.ndarray:
    """Fill a missing raw indicator, then apply the recorded transform (``log1p`` or ``clip``)."""
    x = np.where(np.isnan(values), effect["fill_missing"], values)
    if effect["transform"] == "log1p":
        return np.log1p(np.maximum(x, 0.0))
    lower, upper = effect["clip"]
    return np.clip(x, lower, upper)


def _interaction_term(rd_intensity: np.ndarray, revenue_growth: np.ndarray, spec: Mapping) -> np.ndarray:
    """High R&D intensity times weak revenue, as defined in ``spec`` (see :data:`INTERACTION`)."""
    rd = np.where(np.isnan(rd_intensity), np.inf, rd_intensity)
    high_rd = np.clip((rd - spec["rd_threshold"]) / spec["rd_scale"], 0.0, spec["rd_cap"])
    growth = np.where(np.isnan(revenue_growth), 0.0, revenue_growth)
    weak = np.clip(-growth / spec["revenue_scale"], 0.0, 1.0)
    return high_rd * weak


def default_logit(as_of_values: pd.DataFrame, province, truth: Mapping) -> np.ndarray:
    """The systematic default logit of each row, from its as-of indicator values only.

    intercept + Σ coef_k · (transform_k(indicator_k) − center_k) + interaction + province effect. The
    per-loan idiosyncratic noise (``truth["noise_sd"]``) is not included.

    Args:
        as_of_values: one row per loan, one column per indicator with a non-zero coefficient (true values
            at the as-of year; extra columns are ignored).
        province: the firm's province for each row (array-like of str).
        truth: the truth dict of a cohort (``effects``, ``interaction``, ``province_effects``, ``intercept``).
    Returns:
        float64 array, one logit per row.
    """
    z = np.full(len(as_of_values), float(truth["intercept"]))
    for eff in truth["effects"]:
        if eff["coef"] != 0.0:
            x = _transform(as_of_values[eff["indicator"]].to_numpy(dtype="float64", na_value=np.nan), eff)
            z += eff["coef"] * (x - eff["center"])
    inter = truth["interaction"]
    term = _interaction_term(
        as_of_values[inter["indicators"][0]].to_numpy(dtype="float64", na_value=np.nan),
        as_of_values[inter["indicators"][1]].to_numpy(dtype="float64", na_value=np.nan), inter,
    )
    z += inter["coef"] * (term - inter["center"])
    effects = truth["province_effects"]
    z += np.array([effects[p] for p in np.asarray(province, dtype=object)], dtype="float64")
    return z


def _calibrate_intercept(z: np.ndarray, u: np.ndarray, rate: float) -> float:
    """The smallest shift b (to 1e-9) at which the share of draws ``u < sigmoid(b + z)`` reaches ``rate``.

    Calibrating on the loans' own uniform draws, not on the mean probability, makes the realised default
    rate of a small cohort land on the target too (bisection: deterministic, at most 200 halvings).
    """
    lo, hi = -30.0, 30.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if (u < expit(mid + z)).mean() < rate:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-9:
            break
    return hi


# ---------------------------------------------------------------------------------------------------------
# Firms and their yearly accounts (true values).


def _draw_firms(rng: np.random.Generator, n: int, last_year: int) -> dict[str, np.ndarray]:
    """Static firm attributes and latent traits."""
    pw = np.array([PROVINCE_WEIGHTS[p] for p in PROVINCES])
    province = rng.choice(len(PROVINCES), size=n, p=pw / pw.sum())
    iw = np.array([v[0] for v in INDUSTRIES.values()])
    industry = rng.choice(len(INDUSTRIES), size=n, p=iw / iw.sum())
    # Age at the last fiscal year: start-up 0-2, growth 3-9, stable 10-30 (older ones rarer).
    stage = rng.choice(3, size=n, p=list(STAGE_SPLIT.values()))
    stable_ages = np.arange(10, 31)
    stable_p = np.exp(-(stable_ages - 10) / 8.0)
    age = np.select(
        [stage == 0, stage == 1],
        [rng.integers(0, 3, n), rng.integers(3, 10, n)],
        rng.choice(stable_ages, size=n, p=stable_p / stable_p.sum()),
    )
    size = rng.standard_normal(n)
    innov_shift = np.array([v[1] for v in INDUSTRIES.values()])[industry]
    innov = 0.3 * size + np.sqrt(0.91) * rng.standard_normal(n) + innov_shift
    # Non-SMEs are the largest firms: the top 8% of size plus a little noise.
    sme_score = size + 0.3 * rng.standard_normal(n)
    is_sme = sme_score < np.quantile(sme_score, SME_SHARE)
    return {
        "province": province, "industry": industry, "founded_year": (last_year - age).astype("int64"),
        "is_sme": is_sme, "size": size, "innov": innov,
        "inflate": rng.standard_normal(n),  # taste for inflating easy counts: no effect on repayment
        "quality": 0.7 * innov + 0.7 * rng.standard_normal(n),  # patent quality: drives grants
    }


class _Noise:
    """Gaussian draws shaped (firms, years) or per firm, from one generator."""

    def __init__(self, rng: np.random.Generator, n: int, t: int) -> None:
        self.rng, self.n, self.t = rng, n, t

    def yearly(self, sd: float = 1.0) -> np.ndarray:
        return sd * self.rng.standard_normal((self.n, self.t))

    def firm(self, sd: float) -> np.ndarray:
        """A persistent firm effect, broadcast over years."""
        return sd * self.rng.standard_normal(self.n)[:, None]


def _draw_panel(rng: np.random.Generator, firms: Mapping[str, np.ndarray],
                years: tuple[int, int]) -> dict[str, np.ndarray]:
    """True raw columns as (n_firms, n_years) arrays for the fiscal years; NaN before founding."""
    n = len(firms["founded_year"])
    cal = np.arange(years[0] - BURN_IN, years[1] + 1)
    age = cal[None, :] - firms["founded_year"][:, None]
    noise = _Noise(rng, n, len(cal))

    # Health: a stationary AR(1) per firm, the driver of growth, profit and leverage.
    health = noise.yearly()
    for j in range(1, len(cal)):
        health[:, j] = 0.75 * health[:, j - 1] + np.sqrt(1 - 0.75**2) * health[:, j]
    # Latent log scale: a founding level, then stage-dependent growth (start-ups grow fastest).
    found_level = np.log(250.0) + 0.9 * firms["size"] + 0.4 * rng.standard_normal(n)
    mean_growth = 0.5 * np.exp(-np.arange(32) / 4.0) + 0.04
    mean_growth[0] = 0.0
    growth = (mean_growth[np.clip(age, 0, 31)] + 0.12 * health + 0.04 * rng.standard_normal(len(cal))[None, :]
              + noise.yearly(0.12))
    level = np.empty((n, len(cal)))
    first_age = np.clip(age[:, 0], 0, 31)
    level[:, 0] = (found_level + np.cumsum(mean_growth)[first_age]
                   + 0.35 * np.sqrt(np.minimum(first_age, 10)) * rng.standard_normal(n))
    for j in range(1, len(cal)):
        level[:, j] = np.where(age[:, j] <= 0, found_level, level[:, j - 1] + growth[:, j])

    raw = {
        **_draw_accounts(rng, noise, firms, cal, age, health, level),
        **_draw_people(rng, noise, firms, level),
        **_draw_innovation(rng, noise, firms, age, health),
    }
    # Publishable window only; cells before founding are missing (the row will not exist).
    return {c: np.where(age >= 0, raw[c], np.nan)[:, BURN_IN:].astype("float64") for c in FIRM_YEAR_COLUMNS[2:]}


def _draw_accounts(rng: np.random.Generator, noise: _Noise, firms: Mapping[str, np.ndarray], cal: np.ndarray,
                   age: np.ndarray, health: np.ndarray, level: np.ndarray) -> dict[str, np.ndarray]:
    """Revenue, profit, balance sheet, R&D and its tax relief (CNY 10k, rounded to CNY 100)."""
    n = len(level)
    innov = firms["innov"][:, None]
    # Some start-ups have no revenue yet in their first year or two.
    pre_revenue_years = rng.choice(3, size=n, p=[0.82, 0.13, 0.05])
    revenue = np.where(age < pre_revenue_years[:, None], 0.0, np.exp(level))
    high_tech_share = expit(0.3 + 0.7 * innov + noise.firm(0.6) + noise.yearly(0.1))
    certified = (rng.random(n) < expit(0.8 + 0.8 * firms["innov"]))[:, None]

    # R&D follows a smoothed scale, so intensity jumps when revenue falls; a few firms spend very heavily.
    industry_rd = np.array([v[2] for v in INDUSTRIES.values()])[firms["industry"]][:, None]
    heavy = (rng.random(n) < 0.04)[:, None]
    intensity = np.exp(np.log(0.045) + 0.35 * innov + industry_rd + np.log(4.0) * heavy + noise.firm(0.35)
                       + noise.yearly(0.12))
    smooth = level.copy()
    smooth[:, 1:] = np.where(age[:, 1:] >= 1, 0.5 * (level[:, 1:] + level[:, :-1]), level[:, 1:])
    rd = intensity * np.exp(smooth)

    margin = 0.05 + 0.06 * health - 0.12 * (age < 3) + noise.firm(0.03) + noise.yearly(0.04)
    net_profit = np.where(revenue > 0, margin * revenue, -0.5 * rd - 20.0)
    # Super-deduction: 75% of R&D added to costs before 2021, 100% after; 15% high-tech income tax rate.
    eligible = (rng.random(n) < 0.8)[:, None]
    deduction_rate = np.where(cal < 2021, 0.75, 1.0)[None, :]
    relief = rd * deduction_rate * 0.15 * eligible * np.where(net_profit > 0, 1.0, 0.4)

    total_assets = np.round(np.exp(level + noise.firm(0.35) + noise.yearly(0.05)), 2)
    leverage = 1.15 * expit(-0.1 - 0.5 * health + noise.firm(0.5) + noise.yearly(0.15))
    liabilities = np.round(leverage * total_assets, 2)
    return {
        "revenue": np.round(revenue, 2), "net_profit": np.round(net_profit, 2),
        "net_assets": np.round(total_assets - liabilities, 2), "total_assets": total_assets,
        "total_liabilities": liabilities, "rd_expense": np.round(rd, 2), "rd_tax_deduction": np.round(relief, 2),
        "high_tech_revenue": np.round(revenue * high_tech_share * certified, 2),
    }


def _draw_people(rng: np.random.Generator, noise: _Noise, firms: Mapping[str, np.ndarray],
                 level: np.ndarray) -> dict[str, np.ndarray]:
    """Employees scale with the business; S&T and postgraduate staff with innovativeness."""
    innov = firms["innov"][:, None]
    employees = np.maximum(3.0, np.round(np.exp(np.log(30.0) + 0.75 * (level - np.log(2500.0))
                                                 + noise.firm(0.35) + noise.yearly(0.06))))
    st_share = expit(-0.7 + 0.6 * innov + noise.firm(0.4) + noise.yearly(0.1))
    st_staff = rng.binomial(employees.astype("int64"), st_share)
    pg_share = expit(-1.7 + 0.5 * innov + noise.firm(0.4) + noise.yearly(0.1))
    return {
        "employees": employees, "st_staff": st_staff, "postgrad_staff": rng.binomial(st_staff, pg_share),
        # Hiring graduates scales with headcount only: it says nothing about repayment.
        "new_graduates_hired": rng.poisson(employees * 0.05 * np.exp(noise.firm(0.4))),
    }


def _draw_innovation(rng: np.random.Generator, noise: _Noise, firms: Mapping[str, np.ndarray],
                     age: np.ndarray, health: np.ndarray) -> dict[str, np.ndarray]:
    """Patents, copyrights, contracts, venture capital, platforms and awards: mostly zero, heavy-tailed."""
    n, t = age.shape
    alive = age >= 0
    innov, size = firms["innov"][:, None], firms["size"][:, None]
    inflate, quality = firms["inflate"][:, None], firms["quality"][:, None]
    industry_sw = np.array([v[3] for v in INDUSTRIES.values()])[firms["industry"]][:, None]

    # Applications are partly inflated; grants arrive one and two years later, by quality.
    patenting = (rng.random(n) < expit(0.5 + firms["innov"]))[:, None]
    apps = rng.poisson(np.exp(-0.6 + 0.8 * innov + 0.35 * size + 0.5 * inflate + noise.firm(0.4)
                              + noise.yearly(0.3)) * patenting * alive)
    grant_p = 0.35 * expit(0.2 + 1.0 * quality - 0.6 * inflate)
    granted = np.zeros((n, t), dtype="int64")
    granted[:, 1:] += rng.binomial(apps[:, :-1], grant_p)
    granted[:, 2:] += rng.binomial(apps[:, :-2], grant_p)
    pct_firm = (rng.random(n) < expit(-1.5 + firms["innov"]))[:, None]
    um_firm = (rng.random(n) < 0.6)[:, None]

    contract_p = expit(-1.3 + 0.8 * innov + 0.3 * size + noise.firm(0.8))
    contracts = (rng.random((n, t)) < contract_p) * np.exp(np.log(60.0) + 0.6 * innov + 0.6 * size
                                                           + noise.yearly(1.0))
    vc_p = expit(-3.2 + 0.6 * innov + 1.0 * (age < 5) + 0.3 * health)
    vc = (rng.random((n, t)) < vc_p) * np.exp(np.log(1500.0) + 0.5 * size + noise.yearly(0.9))
    # Platforms are held: a stock that only grows.
    platform_base = rng.poisson(np.exp(-2.3 + 0.8 * innov + 0.5 * size))
    platform_new = rng.random((n, t)) < 0.03 * np.exp(0.5 * innov)
    return {
        "invention_patent_apps": apps, "invention_patents_granted": granted,
        "pct_apps": rng.poisson(0.3 * np.exp(0.6 * innov + 0.3 * size) * pct_firm * alive),
        "utility_models": rng.poisson(np.exp(0.2 + 0.3 * size + 0.9 * inflate + noise.firm(0.5)) * um_firm),
        "software_copyrights": rng.poisson(np.exp(-0.8 + industry_sw + 0.3 * innov + 0.9 * inflate
                                                  + noise.firm(0.5)) * np.ones((1, t))),
        "tech_contract_turnover": np.round(contracts, 2), "vc_raised": np.round(vc, 2),
        "rd_platforms": platform_base + np.cumsum(platform_new & alive, axis=1),
        "st_awards": rng.poisson(np.exp(-3.0 + 0.8 * innov + 0.4 * size) * np.ones((1, t))),
    }


# ---------------------------------------------------------------------------------------------------------
# Loans: selection on the points proxy, amounts, dates; then default from the documented truth.


def _points_proxy(values: Mapping[str, np.ndarray]) -> np.ndarray:
    """Mean percentile rank of the official indicators (a missing indicator scores 0)."""
    frame = pd.DataFrame({k: values[k] for k in OFFICIAL_INDICATORS})
    return frame.rank(pct=True, method="average").fillna(0.0).to_numpy().mean(axis=1)


def _draw_loans(rng: np.random.Generator, firms: Mapping[str, np.ndarray], panel: Mapping[str, np.ndarray],
                years: tuple[int, int], loan_rate: float) -> tuple[dict[str, np.ndarray], list[dict]]:
    """Per origination year: rank active firms by the points proxy, pick borrowers, draw loan terms."""
    first, last = years
    parts: dict[str, list[np.ndarray]] = {}
    per_year = []
    for j, as_of in enumerate(range(first, last + 1)):
        active = np.flatnonzero(firms["founded_year"] <= as_of)
        nothing = np.full(len(active), np.nan)  # years before the first fiscal year are not published
        cur, lag1, lag2 = (
            {c: (v[active, j - lag] if j >= lag else nothing) for c, v in panel.items()} for lag in (0, 1, 2)
        )
        values = _indicator_values(cur, lag1, lag2, as_of - firms["founded_year"][active])
        score = _points_proxy(values)
        order = np.argsort(-score, kind="stable")
        n_qualified = int(round(SIMULATED_QUALIFIED_SHARE * len(active)))
        n_loans = int(round(loan_rate * len(active)))
        n_from_q = min(int(round(LOANS_TO_QUALIFIED * n_loans)), n_qualified)
        n_from_rest = min(n_loans - n_from_q, len(active) - n_qualified)
        pick = np.concatenate([
            rng.choice(order[:n_qualified], n_from_q, replace=False),
            rng.choice(order[n_qualified:], n_from_rest, replace=False),
        ]).astype("int64")
        qualified = np.zeros(len(active), dtype=bool)
        qualified[order[:n_qualified]] = True
        year = as_of + 1
        start = np.datetime64(f"{year}-01-01")
        days = (np.datetime64(f"{year + 1}-01-01") - start).astype("int64")
        chunk = {
            "firm": active[pick], "year": np.full(len(pick), year, dtype="int64"),
            "as_of_year": np.full(len(pick), as_of, dtype="int64"),
            "date": start + rng.integers(0, days, len(pick)).astype("timedelta64[D]"),
            "qualified": qualified[pick],
            **{k: v[pick] for k, v in values.items()},
        }
        for k, v in chunk.items():
            parts.setdefault(k, []).append(v)
        per_year.append({"year": year, "active_firms": int(len(active)), "qualified_firms": n_qualified,
                         "loans": int(len(pick)), "loans_to_qualified": int(n_from_q)})
    loans = {k: np.concatenate(v) for k, v in parts.items()}
    # Loan ids follow origination order; a firm borrows at most once a year, so (date, firm) is unique.
    order = np.lexsort((loans["firm"], loans["date"]))
    loans = {k: v[order] for k, v in loans.items()}

    n_loans = len(loans["firm"])
    log_rev = np.log1p(np.nan_to_num(loans["revenue"], nan=0.0))
    amount = np.exp(np.log(AMOUNT_MEDIAN) + 0.35 * (log_rev - np.median(log_rev)) + 0.45 * rng.standard_normal(
        n_loans))
    loans["amount"] = np.round(np.clip(amount, *AMOUNT_RANGE), 1)
    bank_p = np.array(list(BANKS.values()))
    loans["bank"] = rng.choice(len(BANKS), size=n_loans, p=bank_p / bank_p.sum())
    loans["term"] = rng.choice(list(TERMS), size=n_loans, p=list(TERMS.values())).astype("int64")
    # Firms with granted invention patents pledge IP more often.
    u = rng.random(n_loans)
    ip_p = GUARANTEE_BASE["ip_pledge"] + 0.10 * (np.nan_to_num(loans["invention_patents_granted"]) > 0)
    fund_p = GUARANTEE_BASE["guarantee_fund"]
    loans["guarantee"] = np.where(u < ip_p, 2, np.where(u < ip_p + fund_p, 1, 0))
    return loans, per_year


def _effects_truth(loans: Mapping[str, np.ndarray]) -> tuple[list[dict], dict]:
    """Coefficients from the standardized targets: coef = target / sd of the transformed value over loans."""
    effects = []
    for ind in INDICATORS:
        spec = EFFECTS[ind]
        eff = {
            "indicator": ind, "transform": spec.transform,
            "clip": None if spec.transform == "log1p" else [spec.lower, spec.upper],
            "fill_missing": spec.fill,
            "official": ind in OFFICIAL_INDICATORS,
        }
        x = _transform(loans[ind], eff)
        sd = float(np.round(x.std(), 6))
        coef = float(np.round(spec.target / sd, 6)) if spec.target and sd > 0 else 0.0
        eff.update({
            "center": float(np.round(x.mean(), 6)), "sd": sd, "coef": coef,
            "importance": float(np.round(abs(coef) * sd, 6)),
            "risk_direction": "raises_risk" if coef > 0 else "lowers_risk" if coef < 0 else "none",
        })
        effects.append(eff)
    inter = {**INTERACTION, "indicators": list(INTERACTION["indicators"])}
    term = _interaction_term(loans["rd_intensity"], loans["revenue_growth"], inter)
    inter["center"] = float(np.round(term.mean(), 6))
    inter["sd"] = float(np.round(term.std(), 6))
    inter["importance"] = float(np.round(abs(inter["coef"]) * inter["sd"], 6))
    inter["share_of_loans_affected"] = float(np.round((term > 0).mean(), 6))
    inter["risk_direction"] = "raises_risk"
    return effects, inter


def _observed(dates: np.ndarray, cutoff: dt.date) -> np.ndarray:
    """Whether the 12-month outcome window (origination + 12 months) has closed by the cut-off."""
    window_end = pd.DatetimeIndex(dates) + pd.DateOffset(months=12)
    return np.asarray(window_end <= pd.Timestamp(cutoff))


def _draw_defaults(rng: np.random.Generator, loans: Mapping[str, np.ndarray], province: np.ndarray,
                   observed: np.ndarray, default_rate: float) -> tuple[dict, dict[str, np.ndarray]]:
    """Fix the effects, calibrate the intercept on observed loans, then draw each loan's default.

    Returns the core of ``truth`` and per-loan arrays (``logit_systematic``, ``noise``, ``logit``,
    ``p_default``, ``defaulted``). Only the as-of indicator values in ``loans`` enter the logit.
    """
    effects, interaction = _effects_truth(loans)
    province_effects = dict(zip(PROVINCES, np.round(
        rng.normal(0.0, PROVINCE_EFFECT_SD, len(PROVINCES)), 6).tolist(), strict=True))
    noise = NOISE_SD * rng.standard_normal(len(province))
    u = rng.random(len(province))
    as_of_values = pd.DataFrame({k: loans[k] for k in INDICATORS})
    truth = {"intercept": 0.0, "effects": effects, "interaction": interaction,
             "province_effects": province_effects, "noise_sd": NOISE_SD}
    z0 = default_logit(as_of_values, province, truth) + noise
    # Rounded up so the recorded intercept still reaches the target count.
    truth["intercept"] = float(np.ceil(_calibrate_intercept(z0[observed], u[observed], default_rate) * 1e6) / 1e6)
    # Recomputed from the recorded (rounded) truth, so default_logit(truth) reproduces it exactly.
    systematic = default_logit(as_of_values, province, truth)
    logit = systematic + noise
    p_default = expit(logit)
    # Drawn for every loan; a loan whose window is still open cannot be seen to default.
    defaulted = (u < p_default) & observed
    return truth, {"logit_systematic": systematic, "noise": noise, "logit": logit, "p_default": p_default,
                   "defaulted": defaulted}


# ---------------------------------------------------------------------------------------------------------
# Data-sharing gaps.


def _gap_plan(rng: np.random.Generator, years: tuple[int, int]) -> dict:
    """Which province, province-year and random cells each column loses (drawn once, recorded in truth)."""
    # Mid-sized provinces only, so a gap is visible even in a small cohort and never wipes out a giant.
    pool = [p for p in PROVINCES if 15 <= PROVINCE_WEIGHTS[p] <= 40]
    first, last = years

    def pick(k: int) -> list[str]:
        chosen = set(rng.choice(pool, size=k, replace=False).tolist())
        return [p for p in PROVINCES if p in chosen]

    def province_years(k: int) -> list[list]:
        provs = rng.choice(pool, size=k, replace=False).tolist()
        yrs = rng.integers(first, last + 1, size=k).tolist()
        return sorted([p, int(y)] for p, y in zip(provs, yrs, strict=True))

    whole = {"tech_contract_turnover": pick(3), "postgrad_staff": pick(2), "new_graduates_hired": pick(1)}
    by_year = {
        "rd_tax_deduction": [[p, first] for p in pick(4)],
        "vc_raised": province_years(4),
        "st_awards": province_years(2),
    }
    at_random = {
        "revenue": 0.02, "net_profit": 0.03, "net_assets": 0.02, "total_assets": 0.02,
        "total_liabilities": 0.02, "rd_expense": 0.03, "rd_tax_deduction": 0.03, "employees": 0.02,
        "st_staff": 0.03, "postgrad_staff": 0.04, "new_graduates_hired": 0.05, "invention_patent_apps": 0.02,
        "invention_patents_granted": 0.02, "pct_apps": 0.03, "utility_models": 0.04,
        "software_copyrights": 0.04, "tech_contract_turnover": 0.04, "high_tech_revenue": 0.05,
        "vc_raised": 0.03, "rd_platforms": 0.03, "st_awards": 0.03,
    }
    return {
        "whole_province": whole, "province_years": by_year, "at_random": at_random,
        "description": (
            "Missing means not delivered by the data-sharing source (NaN, never 0). whole_province: the column "
            "is missing in every year for these provinces; province_years: missing for [province, year]; "
            "at_random: share of remaining cells dropped independently. Defaults and loan selection use the "
            "true values before masking."
        ),
    }


def _firm_year_table(rng: np.random.Generator, firms: Mapping[str, np.ndarray], firm_ids: pd.Series,
                     panel: Mapping[str, np.ndarray], years: tuple[int, int], plan: Mapping) -> pd.DataFrame:
    """The published `firm_years`: rows from the founding year on, gaps applied, sorted by (firm_id, year)."""
    cal = np.arange(years[0], years[1] + 1)
    valid = cal[None, :] >= firms["founded_year"][:, None]
    firm_idx, year_idx = np.nonzero(valid)  # row-major: firm order, then year order
    province = np.asarray(PROVINCES, dtype=object)[firms["province"][firm_idx]]
    year = cal[year_idx].astype("int64")
    out = {"firm_id": firm_ids.iloc[firm_idx].reset_index(drop=True), "year": year}
    for col in FIRM_YEAR_COLUMNS[2:]:
        values = panel[col][valid]
        drop = rng.random(len(values)) < plan["at_random"].get(col, 0.0)
        if col in plan["whole_province"]:
            drop |= np.isin(province, plan["whole_province"][col])
        for prov, yr in plan["province_years"].get(col, []):
            drop |= (province == prov) & (year == yr)
        values[drop] = np.nan
        out[col] = values
    return pd.DataFrame(out)


# ---------------------------------------------------------------------------------------------------------


def simulate(n_firms: int, seed: int, years: tuple[int, int] = (2019, 2024), *, loan_rate: float = 0.06,
             default_rate: float = 0.02, progress: Callable[[str], None] | None = None) -> Cohort:
    """Simulate a national cohort of tech SMEs, their accounts and their innovation-points loans.

    Args:
        n_firms: number of firms (520,000 is the 2024 national scale; at least 1,000).
        seed: the one random seed; the same ``(n_firms, seed, years)`` gives identical tables.
        years: first and last fiscal year of `firm_years`; loans originate in first+1 .. last+1.
        loan_rate: loans per year as a share of firms active (founded before the origination year).
        default_rate: target default rate of loans whose outcome is observed (intercept calibration).
        progress: optional callable receiving a short message as each stage starts.
    Returns:
        A :class:`Cohort` with the three contract tables (sorted by key), ``truth`` (JSON-ready) and
        ``loan_truth``.
    """
    _check_settings(n_firms, years, loan_rate, default_rate)
    check_memory(n_firms, years)
    say = progress or (lambda _msg: None)
    first, last = int(years[0]), int(years[1])
    years = (first, last)
    cutoff = dt.date(last + 2, 6, 30)
    firm_rng, panel_rng, loan_rng, default_rng, gap_rng, mask_rng = np.random.default_rng(seed).spawn(6)

    say("firms")
    firms = _draw_firms(firm_rng, n_firms, last)
    width = max(7, len(str(n_firms)))
    firm_ids = pd.Series([f"F{i:0{width}d}" for i in range(1, n_firms + 1)], dtype="str")
    say("firm-years")
    panel = _draw_panel(panel_rng, firms, years)

    say("loans")
    loans, per_year = _draw_loans(loan_rng, firms, panel, years, loan_rate)
    say("defaults")
    observed = _observed(loans["date"], cutoff)
    loan_province = np.asarray(PROVINCES, dtype=object)[firms["province"][loans["firm"]]]
    truth, draw = _draw_defaults(default_rng, loans, loan_province, observed, default_rate)

    say("missingness")
    plan = _gap_plan(gap_rng, years)
    firm_years = _firm_year_table(mask_rng, firms, firm_ids, panel, years, plan)
    del panel

    say("tables")
    firms_df = pd.DataFrame({
        "firm_id": firm_ids,
        "province": pd.Series(np.asarray(PROVINCES, dtype=object)[firms["province"]], dtype="str"),
        "industry": pd.Series(np.asarray(list(INDUSTRIES), dtype=object)[firms["industry"]], dtype="str"),
        "founded_year": firms["founded_year"].astype("int64"),
        "is_sme": firms["is_sme"].astype(bool),
    })
    n_loans = len(observed)
    loan_ids = pd.Series([f"L{i:0{max(7, len(str(n_loans)))}d}" for i in range(1, n_loans + 1)], dtype="str")
    loans_df = pd.DataFrame({
        "loan_id": loan_ids,
        "firm_id": firm_ids.iloc[loans["firm"]].reset_index(drop=True),
        "bank": pd.Series(np.asarray(list(BANKS), dtype=object)[loans["bank"]], dtype="str"),
        "origination_date": pd.Series(loans["date"].astype("datetime64[ns]")),
        "amount": loans["amount"].astype("float64"),
        "term_months": loans["term"],
        "guarantee": pd.Series(np.asarray(GUARANTEES, dtype=object)[loans["guarantee"]], dtype="str"),
        "defaulted": draw["defaulted"],
        "outcome_observed": observed,
    })
    loan_truth = pd.DataFrame({
        "loan_id": loan_ids, "as_of_year": loans["as_of_year"], "province": pd.Series(loan_province, dtype="str"),
        "qualified": loans["qualified"], **{k: loans[k] for k in INDICATORS},
        **{k: draw[k] for k in ("logit_systematic", "noise", "logit", "p_default")},
    })

    truth.update(_truth_summary(truth["effects"], per_year, plan, draw["defaulted"], observed, draw["p_default"],
                                n_firms=n_firms, seed=seed, years=years, loan_rate=loan_rate,
                                default_rate=default_rate, cutoff=cutoff, sme_share=float(firms_df["is_sme"].mean())))
    return Cohort(firms=firms_df[list(FIRM_COLUMNS)], firm_years=firm_years[list(FIRM_YEAR_COLUMNS)],
                  loans=loans_df[list(LOAN_COLUMNS)], truth=truth, loan_truth=loan_truth)


BYTES_PER_FIRM_YEAR = 600
"""Peak memory of :func:`simulate` per firm and fiscal year, measured at 520,000 firms x 6 years (1.9 GB,
benchmarks/results/simulate.md), rounded up."""


def memory_needed(n_firms: int, years: tuple[int, int]) -> int:
    """Bytes :func:`simulate` needs at its peak for ``n_firms`` over ``years`` (estimate, see above)."""
    return int(n_firms) * (int(years[1]) - int(years[0]) + 1) * BYTES_PER_FIRM_YEAR


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation (Linux ``MemAvailable``), None where unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def check_memory(n_firms: int, years: tuple[int, int]) -> None:
    """Refuse a cohort that cannot fit in memory, before allocating anything, naming what it would need."""
    need, have = memory_needed(n_firms, years), available_memory()
    if have is not None and need > have:
        fit = have // max(memory_needed(1, years), 1)
        raise SimulationError(f"simulate: {n_firms:,} firms x {int(years[1]) - int(years[0]) + 1} years would need "
                              f"about {_bytes(need)} of memory; {_bytes(have)} is available; use at most "
                              f"{fit:,} firms (520,000 is the national scale)")


def _bytes(n: int) -> str:
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n:,} bytes"


def _check_settings(n_firms: int, years: tuple[int, int], loan_rate: float, default_rate: float) -> None:
    if not isinstance(n_firms, int | np.integer) or n_firms < 1000:
        raise SimulationError(f"simulate: n_firms must be an integer of at least 1000, got {n_firms!r}")
    if len(years) != 2 or int(years[1]) < int(years[0]) or int(years[0]) < 1990:
        raise SimulationError(f"simulate: years must be (first, last) with 1990 <= first <= last, got {years!r}")
    if not 0.0 < loan_rate <= 0.5:
        raise SimulationError(f"simulate: loan_rate must be in (0, 0.5], got {loan_rate!r}")
    if not 0.0 < default_rate < 0.5:
        raise SimulationError(f"simulate: default_rate must be in (0, 0.5), got {default_rate!r}")


def _truth_summary(effects: list[dict], per_year: list[dict], plan: Mapping,
                   defaulted: np.ndarray, observed: np.ndarray, p_default: np.ndarray, *, n_firms: int,
                   seed: int, years: tuple[int, int], loan_rate: float, default_rate: float, cutoff: dt.date,
                   sme_share: float) -> dict:
    """The JSON-ready rest of ``truth``: rankings, realised rates, parameters and the gap plan."""
    ranked = sorted((e for e in effects if e["coef"] != 0.0), key=lambda e: (-e["importance"], e["indicator"]))
    n_obs = int(observed.sum())
    return {
        "description": (
            "Synthetic innovation-points cohort. Default (90+ days past due within 12 months) is drawn from "
            "logit(p) = intercept + sum_k coef_k * (transform_k(indicator_k) - center_k) + interaction "
            "+ province effect + N(0, noise_sd^2), with indicators computed point-in-time at as-of year "
            "Y-1 from the true values before masking. The intercept is the smallest value (bisection on "
            "the loans' own uniform draws) at which observed loans default at target_default_rate; "
            "defaulted = u < p and outcome observed. rd_intensity is official (policy direction +1) but "
            "raises the risk, most of all with falling revenue: the planted sign conflict. Application "
            "counts, utility models and software copyrights have no effect. Loans go mostly to the top "
            f"{SIMULATED_QUALIFIED_SHARE:.1%} of an illustrative points proxy (selection bias)."
        ),
        "sign_conflicts": [e["indicator"] for e in effects if e["official"] and e["coef"] > 0],
        "no_effect": [e["indicator"] for e in effects if e["coef"] == 0.0],
        "strongest": [e["indicator"] for e in ranked[:5]],
        "observed_loans": n_obs,
        "observed_defaults": int(defaulted.sum()),
        "observed_default_rate": round(float(defaulted.sum()) / n_obs, 6) if n_obs else None,
        "expected_observed_default_rate": round(float(p_default[observed].mean()), 6) if n_obs else None,
        "selection": {
            "qualified_share": SIMULATED_QUALIFIED_SHARE, "loans_to_qualified": LOANS_TO_QUALIFIED,
            "score": ("mean percentile rank, among firms active in year Y, of the official indicators at "
                      "as-of year Y-1 (true values; a missing indicator scores 0)"),
            "per_year": per_year,
        },
        "missingness": plan,
        "params": {
            "n_firms": int(n_firms), "seed": int(seed), "years": [int(years[0]), int(years[1])],
            "origination_years": [int(years[0]) + 1, int(years[1]) + 1],
            "loan_rate": float(loan_rate), "target_default_rate": float(default_rate),
            "cutoff_date": cutoff.isoformat(), "outcome_window_months": 12,
            "sme_share": round(sme_share, 6), "stage_split_at_last_year": STAGE_SPLIT,
            "province_effect_sd": PROVINCE_EFFECT_SD, "amount_median": AMOUNT_MEDIAN,
            "amount_range": list(AMOUNT_RANGE), "banks": list(BANKS), "industries": list(INDUSTRIES),
        },
    }
