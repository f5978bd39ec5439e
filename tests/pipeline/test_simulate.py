"""Tests for pipeline/simulate.py: the synthetic cohort meets the contract and its documented truth."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from innopoints.pipeline import simulate as simulate_module
from innopoints.pipeline.contract import (
    COUNT_COLUMNS,
    FIRM_COLUMNS,
    FIRM_YEAR_COLUMNS,
    GUARANTEES,
    LOAN_COLUMNS,
    MONEY_COLUMNS,
    PROVINCES,
    SIGNED_COLUMNS,
)
from innopoints.pipeline.simulate import (
    INDICATORS,
    OFFICIAL_INDICATORS,
    Cohort,
    SimulationError,
    as_of_indicators,
    default_logit,
    simulate,
)

YEARS = (2019, 2024)
# Candidate stocks added beside the yearly flows, with no planted effect of their own.
STOCKS = ("invention_patents_granted_3y", "rd_expense_3y")


@pytest.fixture(scope="module")
def cohort() -> Cohort:
    return simulate(20_000, 11, YEARS)


@pytest.fixture(scope="module")
def small() -> tuple[Cohort, Cohort, Cohort]:
    """Two cohorts with the same seed and one with another seed."""
    return simulate(3_000, 5), simulate(3_000, 5), simulate(3_000, 6)


def _origination_year(loans: pd.DataFrame) -> pd.Series:
    return loans["origination_date"].dt.year


# --- the data contract -------------------------------------------------------------------------------------


def test_tables_have_the_contract_columns_in_order(cohort):
    assert tuple(cohort.firms.columns) == FIRM_COLUMNS
    assert tuple(cohort.firm_years.columns) == FIRM_YEAR_COLUMNS
    assert tuple(cohort.loans.columns) == LOAN_COLUMNS


def test_dtypes(cohort):
    firms, fy, loans = cohort.firms, cohort.firm_years, cohort.loans
    for col in ("firm_id", "province", "industry"):
        assert firms[col].dtype == "str", col
    assert firms["founded_year"].dtype == "int64"
    assert firms["is_sme"].dtype == "bool"
    assert fy["firm_id"].dtype == "str"
    assert fy["year"].dtype == "int64"
    for col in MONEY_COLUMNS + COUNT_COLUMNS:
        assert fy[col].dtype == "float64", col
    for col in ("loan_id", "firm_id", "bank", "guarantee"):
        assert loans[col].dtype == "str", col
    assert pd.api.types.is_datetime64_dtype(loans["origination_date"])
    assert loans["amount"].dtype == "float64"
    assert loans["term_months"].dtype == "int64"
    assert loans["defaulted"].dtype == "bool"
    assert loans["outcome_observed"].dtype == "bool"


def test_vocabularies(cohort):
    assert set(cohort.firms["province"]) == set(PROVINCES)  # 20k firms reach even Tibet
    assert set(cohort.loans["guarantee"]) == set(GUARANTEES)
    assert set(cohort.loans["term_months"]) == {12, 24, 36}
    assert cohort.loans["bank"].nunique() == 21
    assert cohort.firms["firm_id"].iloc[0] == "F0000001"
    # Dates carry day precision only.
    assert (cohort.loans["origination_date"] == cohort.loans["origination_date"].dt.normalize()).all()


def test_tables_are_sorted_by_unique_keys(cohort):
    firms, fy, loans = cohort.firms, cohort.firm_years, cohort.loans
    assert firms["firm_id"].is_unique and firms["firm_id"].is_monotonic_increasing
    assert loans["loan_id"].is_unique and loans["loan_id"].is_monotonic_increasing
    assert not fy.duplicated(["firm_id", "year"]).any()
    pd.testing.assert_frame_equal(fy, fy.sort_values(["firm_id", "year"], ignore_index=True))


def test_values_are_plausible(cohort):
    fy = cohort.firm_years
    for col in COUNT_COLUMNS:
        values = fy[col].dropna()
        assert (values == values.round()).all(), f"{col} counts must be whole numbers"
    for col in (c for c in MONEY_COLUMNS + COUNT_COLUMNS if c not in SIGNED_COLUMNS):
        assert (fy[col].dropna() >= 0).all(), col
    both = fy[["net_assets", "total_assets", "total_liabilities"]].dropna()
    gap = both["net_assets"] - (both["total_assets"] - both["total_liabilities"])
    assert gap.abs().max() < 0.011  # the identity holds to the CNY 100 rounding
    assert (fy["net_profit"] < 0).mean() > 0.05  # losses happen


# --- shape of the cohort ---------------------------------------------------------------------------------


def test_sme_share_and_stages(cohort):
    assert cohort.firms["is_sme"].mean() == pytest.approx(0.92, abs=0.01)
    age = YEARS[1] - cohort.firms["founded_year"]
    assert age.between(0, 30).all()
    shares = pd.cut(age, [-1, 2, 9, 30]).value_counts(normalize=True).sort_index().to_numpy()
    assert shares == pytest.approx([0.25, 0.45, 0.30], abs=0.02)  # start-up / growth / stable split


def test_provinces_are_uneven(cohort):
    share = cohort.firms["province"].value_counts(normalize=True)
    assert share.index[0] == "Guangdong"
    assert set(share.index[:6]) == {"Guangdong", "Jiangsu", "Zhejiang", "Beijing", "Shandong", "Shanghai"}
    assert set(share.index[-3:]) == {"Tibet", "Qinghai", "Ningxia"}


def test_heavy_tails_zero_inflation_and_ratio_ranges(cohort):
    fy = cohort.firm_years
    revenue = fy["revenue"].dropna()
    assert revenue.quantile(0.99) / revenue.median() > 10
    for col in ("pct_apps", "vc_raised", "tech_contract_turnover", "invention_patent_apps"):
        assert (fy[col].dropna() == 0).mean() > 0.4, col
    ind = as_of_indicators(cohort.firms, fy, 2023)
    assert ind["rd_intensity"].between(0.01, 0.15).mean() > 0.8  # mostly 1-15% ...
    assert (ind["rd_intensity"] > 0.3).mean() > 0.005  # ... with a few very high
    assert ind["st_staff_share"].between(0.1, 0.6).mean() > 0.7
    assert ind["leverage"].between(0.2, 0.8).mean() > 0.8


def test_panels_are_autocorrelated(cohort):
    fy = cohort.firm_years.set_index("firm_id")
    margin = fy["net_profit"] / fy["revenue"].where(fy["revenue"] > 0)
    this_year, last_year = margin[fy["year"] == 2024], margin[fy["year"] == 2023]
    assert this_year.rank().corr(last_year.reindex(this_year.index).rank()) > 0.5  # Spearman


def test_firm_years_start_at_founding(cohort):
    fy = cohort.firm_years.merge(cohort.firms[["firm_id", "founded_year"]], on="firm_id")
    assert (fy["year"] >= fy["founded_year"]).all()
    assert fy["year"].between(*YEARS).all()
    first = fy.groupby("firm_id")[["year", "founded_year"]].min()
    assert (first["year"] == first["founded_year"].clip(lower=YEARS[0])).all()


# --- data-sharing gaps -------------------------------------------------------------------------------------


def test_gaps_are_nan_in_value_columns_and_never_in_keys(cohort):
    fy = cohort.firm_years
    assert not fy[["firm_id", "year"]].isna().any().any()
    assert not cohort.firms.isna().any().any()
    assert not cohort.loans.isna().any().any()
    share = fy[list(MONEY_COLUMNS + COUNT_COLUMNS)].isna().mean()
    assert (share > 0.01).all()  # every value column has gaps ...
    assert (share < 0.30).all()  # ... none so large the contract warns


def test_whole_province_and_province_year_gaps(cohort):
    fy = cohort.firm_years.merge(cohort.firms[["firm_id", "province"]], on="firm_id")
    plan = cohort.truth["missingness"]
    assert len(plan["whole_province"]["tech_contract_turnover"]) == 3
    for col, provinces in plan["whole_province"].items():
        inside = fy["province"].isin(provinces)
        assert inside.sum() > 0
        assert fy.loc[inside, col].isna().all(), col
        assert fy.loc[~inside, col].notna().mean() > 0.9, col
    for col, cells in plan["province_years"].items():
        for province, year in cells:
            rows = (fy["province"] == province) & (fy["year"] == year)
            assert rows.sum() > 0 and fy.loc[rows, col].isna().all(), (col, province, year)
    assert all(year == YEARS[0] for _, year in plan["province_years"]["rd_tax_deduction"])


# --- loans -------------------------------------------------------------------------------------------------


def test_loans_follow_their_firm_history(cohort):
    loans, firms = cohort.loans, cohort.firms
    year = _origination_year(loans)
    assert year.min() == YEARS[0] + 1 and year.max() == YEARS[1] + 1
    founded = loans["firm_id"].map(firms.set_index("firm_id")["founded_year"])
    assert founded.notna().all()  # every loan's firm exists
    assert (founded < year).all()
    # ... and has a firm_years row for the as-of year.
    keys = pd.MultiIndex.from_arrays([loans["firm_id"], year - 1])
    assert keys.isin(pd.MultiIndex.from_frame(cohort.firm_years[["firm_id", "year"]])).all()


def test_loan_volume_selection_and_amounts(cohort):
    loans, truth = cohort.loans, cohort.truth
    for row in truth["selection"]["per_year"]:
        assert row["loans"] == round(0.06 * row["active_firms"])
    # ~85% of loans go to the top 13.7% of the points proxy.
    assert cohort.loan_truth["qualified"].mean() == pytest.approx(0.85, abs=0.01)
    assert loans["amount"].median() == pytest.approx(300, rel=0.1)
    big = loans["firm_id"].map(cohort.firms.set_index("firm_id")["is_sme"]) == False  # noqa: E712
    assert loans.loc[big, "amount"].median() > loans.loc[~big, "amount"].median()


def test_unobserved_loans_are_the_latest_and_not_defaulted(cohort):
    loans = cohort.loans
    unobserved = loans[~loans["outcome_observed"]]
    assert len(unobserved) > 0
    assert unobserved["origination_date"].min() > loans.loc[loans["outcome_observed"], "origination_date"].max()
    # The 12-month window of a loan made after 30 June of last_year + 1 is still open at the cut-off.
    assert unobserved["origination_date"].min() == pd.Timestamp(YEARS[1] + 1, 7, 1)
    assert not unobserved["defaulted"].any()
    assert cohort.truth["params"]["cutoff_date"] == f"{YEARS[1] + 2}-06-30"


def test_observed_default_rate_is_calibrated(cohort):
    loans = cohort.loans
    observed = loans[loans["outcome_observed"]]
    rate = observed["defaulted"].mean()
    assert 0.01 <= rate <= 0.03
    assert cohort.truth["observed_default_rate"] == pytest.approx(rate, abs=1e-6)
    # The intercept is bisected on the loans' own draws: the realised count hits ceil(2% of observed) ...
    assert observed["defaulted"].sum() == math.ceil(0.02 * len(observed))
    # ... and the mean probability stays near 2% (it varies with the sample, so only roughly).
    mean_p = cohort.loan_truth.loc[loans["outcome_observed"].to_numpy(), "p_default"].mean()
    assert mean_p == pytest.approx(0.02, abs=0.004)
    assert cohort.truth["expected_observed_default_rate"] == pytest.approx(mean_p, abs=1e-6)


# --- determinism -------------------------------------------------------------------------------------------


def test_same_seed_gives_identical_cohorts(small):
    a, b, _ = small
    for name in ("firms", "firm_years", "loans", "loan_truth"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name))
    assert json.dumps(a.truth, sort_keys=True) == json.dumps(b.truth, sort_keys=True)


def test_no_effect_stocks_leave_the_drawn_data_unchanged(small, monkeypatch):
    # Adding indicators without an effect must not consume random numbers or move a default: the cohort
    # drawn without them is the same, table for table.
    a, _, _ = small
    monkeypatch.setattr(simulate_module, "INDICATORS", tuple(i for i in INDICATORS if i not in STOCKS))
    monkeypatch.setattr(simulate_module, "FROM_CATALOG", ())
    without = simulate(3_000, 5)
    for name in ("firms", "firm_years", "loans"):
        pd.testing.assert_frame_equal(getattr(without, name), getattr(a, name))
    assert without.truth["intercept"] == a.truth["intercept"]
    pd.testing.assert_frame_equal(without.loan_truth, a.loan_truth.drop(columns=list(STOCKS)))


def test_different_seed_gives_different_data(small):
    a, _, c = small
    assert not a.firm_years["revenue"].equals(c.firm_years["revenue"])
    assert not a.firms["province"].equals(c.firms["province"])
    assert a.truth["intercept"] != c.truth["intercept"]


# --- the truth ---------------------------------------------------------------------------------------------


def test_truth_is_json_serialisable(cohort):
    text = json.dumps(cohort.truth, indent=2, sort_keys=True, ensure_ascii=False)
    assert json.loads(text) == cohort.truth  # plain Python types only: a numpy scalar would not round-trip
    params = cohort.truth["params"]
    assert params["n_firms"] == 20_000 and params["seed"] == 11 and params["years"] == list(YEARS)
    assert params["loan_rate"] == 0.06


def test_truth_records_every_effect(cohort):
    truth = cohort.truth
    effects = {e["indicator"]: e for e in truth["effects"]}
    assert list(effects) == list(INDICATORS)
    for ind, e in effects.items():
        assert e["importance"] == pytest.approx(abs(e["coef"]) * e["sd"], abs=1e-5), ind
        expected = "raises_risk" if e["coef"] > 0 else "lowers_risk" if e["coef"] < 0 else "none"
        assert e["risk_direction"] == expected, ind
    # The easily inflated counts and the do-nothing official indicators have no effect at all.
    for ind in ("utility_models", "software_copyrights", "invention_patent_apps", "new_graduates_hired",
                "pct_apps"):
        assert effects[ind]["coef"] == 0.0 and ind in truth["no_effect"], ind
    for ind in STOCKS:
        assert effects[ind]["coef"] == 0.0 and ind in truth["no_effect"] and not effects[ind]["official"], ind
    for ind in ("invention_patents_granted", "revenue_growth", "roe", "tech_contract_turnover"):
        assert effects[ind]["risk_direction"] == "lowers_risk", ind
    assert effects["leverage"]["risk_direction"] == "raises_risk"
    # The planted sign conflict: official, rewarded by policy, but raising the risk.
    assert truth["sign_conflicts"] == ["rd_intensity"]
    assert "rd_intensity" in OFFICIAL_INDICATORS and effects["rd_intensity"]["coef"] > 0
    assert truth["interaction"]["coef"] > 0 and truth["interaction"]["share_of_loans_affected"] > 0.01
    # Standardized effects are the design targets, so the ranking is the same at every size and seed.
    assert truth["strongest"] == ["leverage", "invention_patents_granted", "revenue_growth", "roe",
                                  "tech_contract_turnover"]
    assert effects["leverage"]["importance"] == pytest.approx(0.70, abs=1e-4)
    assert set(truth["province_effects"]) == set(PROVINCES)


def test_recorded_logit_is_the_default_logit_of_the_as_of_values(cohort):
    lt = cohort.loan_truth
    assert (lt["as_of_year"] == _origination_year(cohort.loans) - 1).all()
    z = default_logit(lt[list(INDICATORS)], lt["province"], cohort.truth)
    np.testing.assert_allclose(z, lt["logit_systematic"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(lt["logit"], lt["logit_systematic"] + lt["noise"], rtol=0, atol=1e-12)
    assert lt["noise"].std() == pytest.approx(cohort.truth["noise_sd"], rel=0.05)


def test_recorded_indicators_come_from_the_as_of_year_rows(cohort):
    """Where nothing was masked, the truth's indicators are the published rows t, t−1, t−2 and no later."""
    lt = cohort.loan_truth.assign(firm_id=cohort.loans["firm_id"])
    fy = cohort.firm_years
    clean = fy[fy.drop(columns=["firm_id", "year"]).notna().all(axis=1)]
    checked = 0
    for t in range(YEARS[0] + 1, YEARS[1] + 1):
        window = clean[clean["year"].between(t - 2, t)]
        full = window.groupby("firm_id")["year"].nunique()
        founded = cohort.firms.set_index("firm_id")["founded_year"]
        first = np.maximum(max(t - 2, YEARS[0]), founded.reindex(full.index).to_numpy())
        complete = full.index[full.to_numpy() == t - first + 1]  # every published row of the window is clean
        loans_t = lt[(lt["as_of_year"] == t) & lt["firm_id"].isin(complete)]
        published = as_of_indicators(cohort.firms, fy, t).reindex(loans_t["firm_id"])
        pd.testing.assert_frame_equal(
            published.reset_index(drop=True), loans_t[list(INDICATORS)].reset_index(drop=True)
        )
        checked += len(loans_t)
    assert checked > 600


def test_as_of_indicators_ignore_rows_outside_the_window(cohort):
    fy, t = cohort.firm_years, 2021
    before = as_of_indicators(cohort.firms, fy, t)
    outside = (fy["year"] > t) | (fy["year"] < t - 2)
    value_cols = list(MONEY_COLUMNS + COUNT_COLUMNS)
    changed = fy.copy()
    changed.loc[outside, value_cols] = changed.loc[outside, value_cols] * 7 + 1
    pd.testing.assert_frame_equal(as_of_indicators(cohort.firms, changed, t), before)
    # The guard can fail: changing the as-of year itself does change the indicators.
    changed.loc[fy["year"] == t, "total_liabilities"] *= 1.5
    assert not as_of_indicators(cohort.firms, changed, t)["leverage"].equals(before["leverage"])


def test_default_logit_pinned_on_literal_values():
    truth = {
        "intercept": -4.0,
        "effects": [
            {"indicator": "leverage", "transform": "clip", "clip": [0.0, 1.5], "fill_missing": 1.0,
             "center": 0.5, "coef": 2.0},
            {"indicator": "revenue", "transform": "log1p", "clip": None, "fill_missing": 0.0,
             "center": 0.0, "coef": 0.0},
        ],
        "interaction": {"indicators": ["rd_intensity", "revenue_growth"], "rd_threshold": 0.15,
                        "rd_scale": 0.10, "rd_cap": 3.0, "revenue_scale": 0.20, "coef": 1.0, "center": 0.0},
        "province_effects": {"Beijing": 0.1, "Tibet": -0.2},
    }
    values = pd.DataFrame({
        "leverage": [0.8, np.nan, 0.5],
        "revenue": [100.0, 5.0, np.nan],
        "rd_intensity": [0.35, np.nan, 0.35],
        "revenue_growth": [-0.1, np.nan, 0.2],
    })
    z = default_logit(values, ["Beijing", "Tibet", "Beijing"], truth)
    # Row 1: -4 + 2*(0.8-0.5) + high_rd 2 * weak 0.5 + 0.1; row 2: missing leverage reads as 1.0, missing
    # growth as no weakness; row 3: growing revenue switches the R&D interaction off.
    assert z == pytest.approx([-2.3, -3.2, -3.9])


def test_high_rd_intensity_with_falling_revenue_raises_the_logit(cohort):
    base = cohort.loan_truth[list(INDICATORS)].iloc[:1]
    rows = pd.concat([base] * 3, ignore_index=True)
    rows["rd_intensity"] = [0.05, 0.40, 0.40]
    rows["revenue_growth"] = [-0.3, 0.1, -0.3]
    z = default_logit(rows, ["Beijing"] * 3, cohort.truth)
    assert z[0] < z[1] < z[2]


def test_indicators_match_the_catalog(cohort):
    """The simulator's numpy indicators equal the catalog functions in features/ on the published data."""
    from innopoints.features.build import as_of_panel, compute_indicators
    from innopoints.features.catalog import list_indicators

    catalog = [ind for ind in list_indicators() if ind.id in INDICATORS]
    assert {ind.id for ind in catalog} == set(INDICATORS)
    firms = cohort.firms.iloc[:3000]
    fy = cohort.firm_years[cohort.firm_years["firm_id"].isin(firms["firm_id"])]
    for t in (2019, 2022):
        mine = as_of_indicators(firms, fy, t)
        keys = pd.DataFrame({"firm_id": mine.index.to_numpy(), "as_of_year": t})
        panel = as_of_panel(firms, fy, keys, sorted({c for ind in catalog for c in ind.inputs}))
        theirs = compute_indicators(panel, catalog).set_index(mine.index)[list(INDICATORS)]
        pd.testing.assert_frame_equal(mine, theirs, check_exact=False, rtol=1e-12)


# --- settings and progress ---------------------------------------------------------------------------------


def test_progress_reports_stages():
    seen: list[str] = []
    simulate(1_000, 1, (2021, 2022), progress=seen.append)
    assert seen[0] == "firms" and "defaults" in seen and len(seen) >= 5


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_firms": 10, "seed": 1}, "n_firms"),
        ({"n_firms": 5_000, "seed": 1, "years": (2024, 2019)}, "years"),
        ({"n_firms": 5_000, "seed": 1, "loan_rate": 0.0}, "loan_rate"),
    ],
)
def test_bad_settings_are_rejected(kwargs, message):
    with pytest.raises(SimulationError, match=message):
        simulate(**kwargs)
