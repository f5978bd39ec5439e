"""Tests for models/policy.py: a hand-computed two-band case first, then the calibration, the split and the
one-factor simulation on tiny literal inputs."""

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import NotFittedError

from innopoints.models.policy.loss import (
    BandCalibrator,
    PolicyError,
    Qualification,
    Terms,
    assess,
    calibration_check,
    cells,
    conditional_pd,
    expected_cells,
    firm_year_lending,
    guaranteed_volume_share,
    lending_by_band,
    lifetime_pd,
    marginal_pd,
    match_expected_loss,
    match_qualified_firms,
    per_default,
    qualify,
    sensitivity_grid,
    simulate_losses,
    summarise,
    threshold_curve,
    wilson_interval,
)

# Two bands, lowest points first. Band 1: PD 4%, half the firms borrow CNY 2 m; band 2: PD 1%, a quarter
# borrow CNY 4 m. Province A has 10 qualified firms in band 1 and 20 in band 2.
BANDS = pd.DataFrame({"band": [1, 2], "take_up": [0.5, 0.25], "mean_amount": [200.0, 400.0],
                      "pd": [0.04, 0.01], "pd_low": [0.02, 0.005], "pd_high": [0.08, 0.02]})
TERMS = Terms(lgd=0.5, guaranteed_share=0.5, guarantee_cover=0.8, guarantee_cap=3000.0, fund_coverage=0.25,
              tenor_months=12, correlation=0.12)
POINTS = np.array([10.0] * 10 + [50.0] * 20)
BAND = np.array([0] * 10 + [1] * 20)
PROVINCES = np.array(["A"] * 30, dtype=object)


def _hand_cells() -> pd.DataFrame:
    return expected_cells(cells(BAND, PROVINCES, np.ones(30, dtype=bool), BANDS), TERMS)


def test_two_band_case_reproduces_the_hand_computation():
    # By hand. Band 1: 10 firms x 0.5 = 5 loans, volume 1,000; defaults 5 x 0.04 = 0.2; loss per default
    # 200 x 0.5 = 100, so EL 20. Guarantee per default: half the loans guaranteed, 0.8 x 0.5 x 200 = 80 on
    # those, so 40 -> 8. Fund: 0.25 of the bank's loss, (100 - 80) x 0.25 = 5 on guaranteed loans and 25 on
    # the rest, 15 on average -> 3. Bank: 20 - 8 - 3 = 9.
    # Band 2: 5 loans, volume 2,000, defaults 0.05, loss per default 200 -> EL 10; guarantee 0.5 x 160 = 80
    # -> 4; fund 0.5 x 10 + 0.5 x 50 = 30 -> 1.5; bank 4.5.
    band1, band2 = _hand_cells().sort_values("band").to_dict(orient="records")
    assert band1["expected_loans"] == pytest.approx(5.0)
    assert band1["expected_volume"] == pytest.approx(1000.0)
    assert band1["expected_loss"] == pytest.approx(20.0)
    assert (band1["loss_guarantee"], band1["fund_claims"], band1["loss_bank"]) == pytest.approx((8.0, 3.0, 9.0))
    assert band2["expected_loss"] == pytest.approx(10.0)
    assert (band2["loss_guarantee"], band2["fund_claims"], band2["loss_bank"]) == pytest.approx((4.0, 1.5, 4.5))
    total = summarise(_hand_cells()).iloc[0]
    # 10 loans, 0.25 expected defaults: a 2.5% expected default rate; volume 3,000; EL 30 = 12 + 4.5 + 13.5.
    assert total["qualified_firms"] == 30
    assert total["expected_default_rate"] == pytest.approx(0.025)
    assert total["expected_volume"] == pytest.approx(3000.0)
    assert (total["expected_loss"], total["loss_guarantee"], total["fund_claims"], total["loss_bank"]) == \
        pytest.approx((30.0, 12.0, 4.5, 13.5))
    # The band interval: PD bounds 2% / 0.5% and 8% / 2% give 5 x 0.02 + 5 x 0.005 and twice that.
    assert (total["expected_default_rate_low"], total["expected_default_rate_high"]) == pytest.approx(
        (0.0125, 0.05))


def test_two_band_case_through_assess_with_a_fund_too_large_to_run_out():
    # A fund of 10^9 can pay any claim, so nothing falls back to the banks and the hand split stands.
    a = assess(POINTS, PROVINCES, BAND, BANDS, TERMS, Qualification(share=1.0), {"A": 1e9}, n_draws=2000,
               seed=3, chunk=500)
    t = a.total
    assert (t["expected_loss"], t["loss_guarantee"], t["loss_funds"], t["loss_bank"]) == pytest.approx(
        (30.0, 12.0, 4.5, 13.5))
    assert t["fund_expected_shortfall"] == 0.0
    assert t["fund_exhaustion_probability"] == 0.0
    # Refinancing: 60% of 3,000 eligible at a 1% advantage for 12 months saves 18.
    assert (t["refinancing_volume"], t["refinancing_interest_saving"]) == pytest.approx((1800.0, 18.0))


@pytest.mark.parametrize("fund", [0.0, 0.5, 2.0, 1e9])
@pytest.mark.parametrize("terms", [
    TERMS,
    Terms(lgd=0.45, guaranteed_share=0.9, guarantee_cover=0.8, guarantee_cap=250.0, fund_coverage=0.6,
          fund_cap_per_loan=10.0, tenor_months=36, correlation=0.3),
    Terms(lgd=1.0, guaranteed_share=0.0, guarantee_cover=0.0, fund_coverage=0.0, correlation=0.0),
])
def test_the_loss_split_always_adds_up_to_the_expected_loss(terms, fund):
    # Guards the core promise: whatever the terms and however often the fund runs out, banks + guarantee
    # system + funds carry exactly the expected loss, nationally and in every province.
    provinces = np.array(["A"] * 10 + ["B"] * 20, dtype=object)
    a = assess(POINTS, provinces, BAND, BANDS, terms, Qualification(share=1.0), {"A": fund, "B": fund},
               n_draws=3000, seed=1, chunk=700)
    t = a.total
    assert t["loss_bank"] + t["loss_guarantee"] + t["loss_funds"] == pytest.approx(t["expected_loss"], rel=1e-12)
    by = a.by_province
    np.testing.assert_allclose(by["loss_bank"] + by["loss_guarantee"] + by["loss_funds"], by["expected_loss"],
                               rtol=1e-12)
    assert (by["loss_funds"] >= -1e-12).all() and (by["loss_funds"] <= by["fund_size"] + 1e-9).all()


def test_per_default_split_respects_the_guarantee_cap_and_the_fund_cap():
    terms = Terms(lgd=0.5, guaranteed_share=1.0, guarantee_cover=0.8, guarantee_cap=3000.0, fund_coverage=0.5,
                  fund_cap_per_loan=100.0)
    s = per_default(np.array([4000.0]), terms)
    # Loss 2,000; guarantee 0.8 x 0.5 x 3,000 (capped principal) = 1,200; fund 0.5 x 800 = 400 capped at 100.
    assert (s["loss"][0], s["guarantee"][0], s["fund"][0], s["bank"][0]) == pytest.approx((2000, 1200, 100, 700))


def test_lifetime_pd_is_the_identity_at_twelve_months_and_compounds_beyond():
    p = np.array([0.0, 0.02, 0.5])
    np.testing.assert_array_equal(lifetime_pd(p, 12), p)
    np.testing.assert_allclose(lifetime_pd(p, 24), 1 - (1 - p) ** 2)  # two independent years
    np.testing.assert_allclose(lifetime_pd(p, 6), 1 - (1 - p) ** 0.5)


# ------------------------------------------------------------------------------------------ calibration


def test_wilson_interval_matches_the_closed_form():
    # 0 defaults in 10: the Wilson upper bound is z² / (n + z²) = 3.8415 / 13.8415.
    low, high = wilson_interval(np.array([0.0]), np.array([10.0]))
    assert low[0] == pytest.approx(0.0, abs=1e-15)
    assert high[0] == pytest.approx(1.959964 ** 2 / (10 + 1.959964 ** 2), rel=1e-6)
    low, high = wilson_interval(np.array([5.0]), np.array([10.0]))
    assert (low[0], high[0]) == pytest.approx((0.236593, 0.763407), abs=1e-6)  # textbook value for 5/10


@pytest.fixture
def loans():
    rng = np.random.default_rng(5)
    points = rng.uniform(0, 100, 4000)
    defaulted = rng.random(4000) < 0.08 * np.exp(-points / 30)
    return points, defaulted


def test_band_calibrator_is_monotone_floored_and_covers_every_band(loans):
    points, defaulted = loans
    cal = BandCalibrator(n_bands=10, pd_floor=0.001).fit(points, defaulted)
    t = cal.table_
    assert len(t) == 10 and (t["n"] > 0).all() and t["n"].sum() == 4000
    assert (np.diff(t["pd"]) <= 0).all()  # more points never means a higher PD
    assert (t["pd"] >= 0.001).all()
    assert (t["pd_low"] <= t["pd"]).all() and (t["pd"] <= t["pd_high"]).all()
    assert t["defaults"].sum() == defaulted.sum()
    # Band lookup agrees with the table's edges, and the highest points get the last band's PD.
    np.testing.assert_array_equal(cal.predict_pd([-1e9, 1e9]), t["pd"].to_numpy()[[0, -1]])


def test_band_calibrator_pools_a_rise_and_gives_bands_of_one_rate_one_interval():
    # Four bands of 20, 20, 20 and 21 loans (81 distinct points) with 2, 6, 4 and 1 defaults: 0.1 then 0.3
    # breaks "non-increasing" and pools to 8 / 40 = 0.2, which band 3's own 0.2 joins. Bands that share a
    # monotone rate share its interval, on the pooled 12 defaults of 60 loans.
    defaulted = np.zeros(81, dtype=bool)
    defaulted[[0, 1, 20, 21, 22, 23, 24, 25, 40, 41, 42, 43, 60]] = True
    t = BandCalibrator(n_bands=4, pd_floor=0.0).fit(np.arange(81.0), defaulted).table_
    assert list(t["n"]) == [20, 20, 20, 21] and list(t["defaults"]) == [2, 6, 4, 1]
    np.testing.assert_allclose(t["pd"], [0.2, 0.2, 0.2, 1 / 21])
    low, high = wilson_interval(np.array([12.0, 1.0]), np.array([60.0, 21.0]))
    np.testing.assert_allclose(t["pd_low"], [low[0]] * 3 + [low[1]])
    np.testing.assert_allclose(t["pd_high"], [high[0]] * 3 + [high[1]])


def test_band_calibrator_refuses_loans_without_defaults_and_unfitted_use():
    with pytest.raises(PolicyError, match="none of the 3 observed loans defaulted"):
        BandCalibrator().fit([1.0, 2.0, 3.0], [False, False, False])
    with pytest.raises(NotFittedError):
        BandCalibrator().predict_pd([1.0])


# ------------------------------------------------------------------------------------- take-up and size


def test_lending_by_band_counts_firms_borrowers_and_yearly_amounts():
    loans = pd.DataFrame({"firm_id": ["a", "a", "b", "c"], "year": [2024, 2024, 2024, 2023],
                          "points": [80.0, 80.0, 20.0, 20.0], "amount": [100.0, 50.0, 300.0, 100.0]})
    lending = firm_year_lending(loans)
    # Firm a borrowed twice in 2024: one borrower with 150.
    assert lending["amount"].tolist() == [150.0, 300.0, 100.0]
    band = (lending["points"] > 50).astype(int).to_numpy()
    table = lending_by_band(np.array([0, 0, 0, 0, 1, 1]), band[lending["year"].to_numpy() == 2024], band,
                            lending["amount"].to_numpy(), 2)
    assert table["take_up"].tolist() == pytest.approx([1 / 4, 1 / 2])
    assert table["mean_amount"].tolist() == pytest.approx([200.0, 150.0])


def test_guaranteed_share_is_a_share_of_volume_not_of_loans():
    # One guaranteed loan of 300 among 400 in all: 75% of the volume, though 1 loan in 2.
    assert guaranteed_volume_share(np.array([True, False]), np.array([300.0, 100.0])) == 0.75
    assert guaranteed_volume_share(np.array([], dtype=bool), np.array([])) == 0.0


# -------------------------------------------------------------------------------------- qualification


def test_qualify_by_share_by_province_and_with_province_cutoffs():
    points = np.array([1.0, 2.0, 3.0, 4.0, 10.0, 20.0, 30.0, 40.0])
    prov = np.array(["A"] * 4 + ["B"] * 4, dtype=object)
    # Nationally the top quarter is B's two best; per province each keeps its own best quarter.
    assert qualify(points, prov, Qualification(share=0.25)).tolist() == [0] * 6 + [1, 1]
    assert qualify(points, prov, Qualification(share=0.25, by_province=True)).tolist() == [0, 0, 0, 1, 0, 0, 0, 1]
    rule = Qualification(share=0.25, province_cutoffs={"A": 2.0})
    assert qualify(points, prov, rule).tolist() == [0, 1, 1, 1, 0, 0, 1, 1]
    assert qualify(points, prov, Qualification(share=None, cutoff=20.0)).tolist() == [0] * 5 + [1, 1, 1]


# ----------------------------------------------------------------------------------- threshold search


def test_threshold_curve_and_match_expected_loss_on_the_two_band_case():
    terms = Terms(lgd=0.5)
    curve = threshold_curve(POINTS, BAND, BANDS, terms)
    # Cut-off 50: 20 band-2 firms, EL 20 x 0.25 x 0.01 x 400 x 0.5 = 10; cut-off 10 adds band 1's 20.
    assert curve["cutoff"].tolist() == [50.0, 10.0]
    assert curve["expected_loss"].tolist() == pytest.approx([10.0, 30.0])
    assert curve["expected_volume"].tolist() == pytest.approx([2000.0, 3000.0])
    assert match_expected_loss(POINTS, BAND, BANDS, terms, 30.0)["cutoff"] == 10.0  # exact target: itself
    assert match_expected_loss(POINTS, BAND, BANDS, terms, 29.9)["cutoff"] == 50.0
    assert match_expected_loss(POINTS, BAND, BANDS, terms, 5.0) == {
        "cutoff": None, "qualified_firms": 0, "expected_loss": 0.0, "expected_volume": 0.0}


# ---------------------------------------------------------------------------------- loss distribution


def test_conditional_pd_averages_back_to_the_unconditional_pd():
    # Gauss–Hermite over the standard normal factor: E[p(Z)] = p is what makes the Monte Carlo unbiased.
    x, w = np.polynomial.hermite_e.hermegauss(80)
    p = np.array([0.001, 0.02, 0.3])
    for rho in (0.0, 0.12, 0.5):
        mean = (conditional_pd(p, x, rho) * w[:, None]).sum(axis=0) / w.sum()
        np.testing.assert_allclose(mean, p, rtol=1e-6)


def test_simulated_loss_is_unbiased_seeded_and_correlation_fattens_the_tail():
    expected = _hand_cells().assign(firms=lambda d: d["firms"] * 100)  # 3,000 firms: a visible tail
    terms0 = Terms(**{**TERMS.__dict__, "correlation": 0.0})
    a = simulate_losses(expected, TERMS, {"A": 0.0}, n_draws=20_000, seed=7, chunk=3000)
    b = simulate_losses(expected, TERMS, {"A": 0.0}, n_draws=20_000, seed=7, chunk=3000)
    c = simulate_losses(expected, terms0, {"A": 0.0}, n_draws=20_000, seed=7, chunk=3000)
    np.testing.assert_array_equal(a.total, b.total)  # same seed, same draws
    el = 100 * float(expected["expected_loss"].sum())
    se = a.total.std() / np.sqrt(len(a.total))
    assert abs(a.total.mean() - el) < 4 * se  # unbiased within four standard errors
    assert a.quantiles["loss_p99"] > c.quantiles["loss_p99"]  # correlated defaults cluster in bad years


def test_fund_exhaustion_is_the_probability_that_claims_exceed_the_fund():
    # One firm that surely borrows, PD 50%, no correlation: claims are 0 or 30 with equal odds. A fund of 0
    # is exhausted exactly when the firm defaults; a fund of 30 never is.
    one = pd.DataFrame({"province": ["A"], "firms": [1], "take_up": [1.0], "mean_amount": [100.0],
                        "pd_life": [0.5]})
    terms = Terms(lgd=0.6, guaranteed_share=0.0, fund_coverage=0.5, correlation=0.0)
    empty = simulate_losses(one, terms, {"A": 0.0}, n_draws=40_000, seed=2)
    assert empty.provinces["fund_exhaustion_probability"].iloc[0] == pytest.approx(0.5, abs=0.01)
    assert empty.provinces["fund_expected_shortfall"].iloc[0] == pytest.approx(15.0, abs=0.3)
    assert empty.provinces["fund_paid_share"].iloc[0] == 0.0  # an empty fund pays nothing
    full = simulate_losses(one, terms, {"A": 30.0}, n_draws=1000, seed=2)
    assert full.provinces["fund_exhaustion_probability"].iloc[0] == 0.0


def test_terms_refuse_out_of_range_values():
    with pytest.raises(PolicyError, match="terms.lgd"):
        Terms(lgd=1.5)
    with pytest.raises(PolicyError, match="terms.correlation"):
        Terms(correlation=1.0)


# ------------------------------------------------------------------------ headline under assumptions


def test_match_qualified_firms_takes_the_lowest_cutoff_within_the_count_ties_together():
    terms = Terms(lgd=0.5)
    assert match_qualified_firms(POINTS, BAND, BANDS, terms, 25)["cutoff"] == 50.0  # 20 firms; 30 would overshoot
    assert match_qualified_firms(POINTS, BAND, BANDS, terms, 30) == {
        "cutoff": 10.0, "qualified_firms": 30, "expected_loss": pytest.approx(30.0),
        "expected_volume": pytest.approx(3000.0)}
    assert match_qualified_firms(POINTS, BAND, BANDS, terms, 5)["cutoff"] is None


def test_marginal_pd_is_the_pd_of_the_lowest_qualified_firms_band():
    assert marginal_pd(POINTS, np.ones(30, bool), BAND, BANDS) == {"band": 1, "points": 10.0, "pd": 0.04}
    assert marginal_pd(POINTS, POINTS >= 50, BAND, BANDS)["pd"] == 0.01
    assert marginal_pd(POINTS, np.zeros(30, bool), BAND, BANDS)["pd"] is None


def test_sensitivity_grid_of_a_formula_against_itself_changes_nothing_and_take_up_scales_volume():
    bands = BANDS.assign(take_up_estimated=BANDS["take_up"])
    rows = sensitivity_grid((POINTS, BAND, bands), (POINTS, BAND, bands), Terms(lgd=0.5), [2 / 3, 1.0], [None, 0.5])
    assert [(r["take_up"], r["share"]) for r in rows] == [(None, 2 / 3), (None, 1.0), (0.5, 2 / 3), (0.5, 1.0)]
    for r in rows:
        assert r["equal_firms"]["volume_ratio"] == pytest.approx(0.0)
        assert r["equal_firms"]["loss_ratio"] == pytest.approx(0.0)
        assert r["equal_loss"]["volume_ratio"] == pytest.approx(0.0)
    # Everyone qualifies: estimated take-up gives 3,000 of volume; a flat 0.5 gives 10 x 0.5 x 200 + 20 x 0.5 x 400.
    assert rows[1]["reference"]["expected_volume"] == pytest.approx(3000.0)
    assert rows[3]["reference"]["expected_volume"] == pytest.approx(5000.0)
    assert rows[1]["reference"]["marginal_pd"] == 0.04 and rows[0]["reference"]["marginal_pd"] == 0.01


def test_calibration_check_counts_observed_against_expected_defaults_per_band(loans):
    points, y = loans
    cal = BandCalibrator(n_bands=4).fit(points, y)
    check = calibration_check(cal, points, y)
    assert check["loans"] == len(y) and check["defaults"] == int(y.sum())
    assert sum(b["loans"] for b in check["bands"]) == len(y)
    # In sample, pooled monotone rates reproduce the observed count (floors aside).
    assert check["expected_defaults"] == pytest.approx(y.sum(), rel=0.05)
