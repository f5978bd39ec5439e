"""Tests for models/candidates.py: flavours, learned curves and missing fractions, points, the formula file."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from innopoints.features.catalog import list_indicators
from innopoints.features.stage import STAGES, StageRule
from innopoints.models.formula.curves import Bins, Percentile
from innopoints.models.formula.schema import Formula, MissingStageMedian, Provenance, StageFractions
from innopoints.models.learning.candidates import (
    Curves,
    FitSettings,
    Spec,
    assemble,
    fitted_points,
    flavour_spec,
    integer_points,
    learn_curves,
    percentile_curve,
    risk_bins_curve,
    risk_matched,
    shap_points,
    stage_median,
)
from innopoints.models.learning.fit import fit_stage_points

TOL = 1e-6
CATALOG = {ind.id: ind for ind in list_indicators()}
# Real catalog indicators, one or more per group; leverage is the catalog's one "less is better" (−1).
IDS = ["rd_expense", "invention_patent_apps", "revenue_growth", "roe", "leverage", "pct_apps"]
INDICATORS = [CATALOG[i] for i in IDS]
GROUPS = [ind.group for ind in INDICATORS]  # input, output, growth, growth, financial, output


@pytest.fixture(autouse=True, scope="module")
def one_blas_thread():
    # SLSQP's tiny QPs thrash OpenBLAS threads on a busy box (see tests/models/test_fit.py).
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def test_the_fixture_indicators_are_what_the_tests_assume():
    assert [ind.direction for ind in INDICATORS] == [1, 1, 1, 1, -1, 1]
    assert GROUPS == ["input", "output", "growth", "growth", "financial", "output"]


# ------------------------------------------------------------------------------------------ flavours


LEARNED = pd.Series({"rd_expense": -1, "invention_patent_apps": 1, "revenue_growth": 0, "roe": 1,
                     "leverage": 1})  # pct_apps not learned at all: reads as "no direction"


def test_policy_flavour_scores_in_policy_direction_and_benches_conflicts():
    spec = flavour_spec(INDICATORS, LEARNED, "policy")
    assert spec.ids == IDS
    assert spec.directions.tolist() == [1, 1, 1, 1, -1, 1]  # the catalog's, always
    # rd_expense (learned −1 vs +1) and leverage (learned +1 vs −1) contradict policy: no points.
    assert spec.active.tolist() == [False, True, True, True, False, True]


def test_data_flavour_scores_in_learned_direction_where_there_is_one():
    spec = flavour_spec(INDICATORS, LEARNED, "data")
    # learned where non-zero, catalog where the data show no direction (revenue_growth 0, pct_apps absent)
    assert spec.directions.tolist() == [-1, 1, 1, 1, 1, 1]
    assert spec.active.all()


def test_unknown_flavour_raises():
    with pytest.raises(ValueError, match="flavour must be one of"):
        flavour_spec(INDICATORS, LEARNED, "greedy")


# -------------------------------------------------------------------------------- percentile curve


def test_percentile_curve_has_21_breakpoints_at_5_percent_quantiles_of_non_missing_values():
    x = np.r_[np.arange(101.0), [np.nan] * 50, [np.inf]]  # NaN and inf are not values to rank
    curve = percentile_curve(x, 1)
    assert curve.breakpoints == pytest.approx(np.arange(0.0, 101.0, 5.0).tolist())  # 0, 5, …, 100
    assert curve.direction == 1
    assert curve.fraction(np.array([0.0, 50.0, 100.0, np.nan]))[:3] == pytest.approx([0.0, 0.5, 1.0])


def test_percentile_curve_honours_direction():
    x = np.arange(101.0)
    down = percentile_curve(x, -1)
    assert down.direction == -1
    assert down.breakpoints == percentile_curve(x, 1).breakpoints  # the same quantiles, read reversed
    assert down.fraction(np.array([0.0, 25.0, 100.0])) == pytest.approx([1.0, 0.75, 0.0])


def test_percentile_curve_of_an_all_missing_column_is_valid():
    curve = percentile_curve(np.full(10, np.nan), 1)
    assert curve.breakpoints == [0.0, 1.0]
    assert np.isnan(curve.fraction(np.array([np.nan]))).all()  # still missing: the policy decides


def test_percentile_curve_of_a_constant_column_is_valid_and_increasing():
    curve = percentile_curve(np.full(10, 3.0), 1)
    assert curve.breakpoints == [2.0, 3.0]  # non-degenerate, so the Percentile validator accepts it
    assert curve.fraction(np.array([1.0, 2.5, 9.0])) == pytest.approx([0.0, 0.5, 1.0])


def test_percentile_curve_of_a_constant_column_scores_its_value_full():
    curve = percentile_curve(np.full(10, 3.0), 1)
    assert curve.fraction(np.array([3.0, 5.0])) == pytest.approx([1.0, 1.0])  # "at or above it"


# ------------------------------------------------------------------------------------ stage median


def test_stage_median_per_stage_with_fallback_to_overall():
    curve = Percentile(breakpoints=[0.0, 10.0])  # fraction = x / 10 on [0, 10]
    x = np.array([0.0, 2.0, 4.0, np.nan, 6.0, 8.0, 10.0, np.nan])
    codes = np.array([0, 0, 0, 0, 1, 1, 1, 2])
    miss = stage_median(curve, x, codes)
    assert isinstance(miss, MissingStageMedian)
    # start-up: median of .0/.2/.4; growth: of .6/.8/1; stable reports nothing → all six reported, 0.5
    assert miss.fraction == StageFractions(startup=0.2, growth=0.8, stable=0.5)


def test_stage_median_of_a_stage_without_rows_and_of_an_all_missing_column():
    curve = Percentile(direction=-1, breakpoints=[0.0, 10.0])
    miss = stage_median(curve, np.array([1.0, 3.0, 9.0]), np.array([0, 0, 0]))
    # Reversed fractions .9/.7/.1: start-up's median .7; growth and stable have no rows → overall .7.
    assert miss.fraction == StageFractions(startup=0.7, growth=0.7, stable=0.7)
    empty = stage_median(curve, np.full(3, np.nan), np.array([0, 1, 2]))
    assert empty.fraction == StageFractions(startup=0.0, growth=0.0, stable=0.0)


def test_stage_median_values_are_fractions():
    rng = np.random.default_rng(3)
    x = np.where(rng.uniform(size=500) < 0.3, np.nan, rng.lognormal(size=500))
    curve = percentile_curve(x, -1)
    miss = stage_median(curve, x, rng.integers(0, 3, 500))
    assert all(0.0 <= getattr(miss.fraction, s) <= 1.0 for s in STAGES)


# ------------------------------------------------------------------------------------- learn curves


def test_learn_curves_fills_missing_with_the_stage_median():
    X = pd.DataFrame({
        "rd_expense": [0.0, 10.0, np.nan, 20.0, 30.0, np.nan],
        "leverage": [0.1, np.nan, 0.5, 0.3, np.nan, 0.9],
    })
    codes = np.array([0, 0, 0, 1, 1, 2])
    spec = Spec(["rd_expense", "leverage"], np.array([1, -1]), np.array([True, True]))
    learned = learn_curves(X, np.zeros(6), codes, spec, "percentile")
    assert learned.fractions.shape == (6, 2)
    assert not np.isnan(learned.fractions).any()
    assert [c.direction for c in learned.curves] == [1, -1]
    for j, ind_id in enumerate(spec.ids):
        x = X[ind_id].to_numpy()
        seen = ~np.isnan(x)
        # reported values: the curve's own fraction; missing ones: the stored stage median
        assert learned.fractions[seen, j] == pytest.approx(learned.curves[j].fraction(x[seen]))
        assert learned.fractions[~seen, j] == pytest.approx(learned.missing[j].fill(codes[~seen]))
    # rd_expense, stable: no reported value in the stage → the overall median (of 0, 1/3, 2/3, 1)
    assert learned.missing[0].fraction.stable == pytest.approx(0.5)


def _two_bands(n_low: int = 500, n_high: int = 500, bad_low: int = 100, bad_high: int = 10):
    x = np.r_[np.zeros(n_low), np.ones(n_high)]
    y = np.r_[np.ones(bad_low), np.zeros(n_low - bad_low), np.ones(bad_high), np.zeros(n_high - bad_high)]
    return x, y


def test_risk_bins_levels_are_the_rescaled_smoothed_log_odds_of_repayment():
    x, y = _two_bands()
    risk = risk_bins_curve(x, y, 1)
    assert isinstance(risk.curve, Bins) and risk.curve.edges == [1.0] and risk.curve.levels == [0.0, 1.0]
    overall = 110 / 1000
    low, high = (100 + 10 * overall) / 510, (10 + 10 * overall) / 510  # shrunk by 10 loans at the overall rate
    assert risk.lo == pytest.approx(np.log((1 - low) / low))
    assert risk.hi == pytest.approx(np.log((1 - high) / high))
    # The wrong direction for these data: the bands are pooled into one and nobody is told apart.
    flat = risk_bins_curve(x, y, -1)
    assert flat.curve.levels == [1.0, 1.0] and flat.hi == flat.lo


def test_risk_bins_pool_a_band_whose_risk_breaks_the_direction_with_its_neighbour():
    # Three bands of 500 firms with 100, 10 and 30 defaults; more is better (+1), so the rise from 10 to 30
    # is pooled, weighted by loans plus the prior: both bands take (10 + 30 + 20 × overall) / 1020 and share
    # one level, so only the first edge is kept.
    x = np.repeat([0.0, 1.0, 2.0], 500)
    y = np.zeros(1500)
    y[:100] = y[500:510] = y[1000:1030] = 1.0
    risk = risk_bins_curve(x, y, 1)
    assert risk.curve.edges == [1.0] and risk.curve.levels == [0.0, 1.0]
    overall = 140 / 1500
    pooled = (40 + 20 * overall) / 1020
    assert risk.hi == pytest.approx(np.log((1 - pooled) / pooled))
    assert list(np.unique(risk.steps[500:])) == [1]


def test_risk_bins_recover_a_monotone_risk_with_at_most_twenty_bands_at_training_quantiles():
    rng = np.random.default_rng(3)
    x = rng.lognormal(2, 1, 20_000)
    y = (rng.random(x.size) < 1 / (1 + np.exp(-(-1.0 - 0.8 * np.log(x))))).astype(float)
    risk = risk_bins_curve(x, y, 1)
    levels = np.asarray(risk.curve.levels)
    assert levels[0] == 0.0 and levels[-1] == 1.0 and (np.diff(levels) > 0).all()
    assert 5 <= len(risk.curve.edges) <= 19
    assert set(risk.curve.edges) <= set(x)  # edges are observed values (quantiles, "lower")
    # Each band's default rate is ordered as the levels say; the curve ranks risk almost as well as the truth.
    from innopoints.models.evaluation.metrics import auc
    assert auc(y, -risk.curve.fraction(x)) > auc(y, -np.log(x)) - 0.01
    # A zero-inflated indicator (most firms file nothing) gets no empty band.
    z = np.where(rng.random(x.size) < 0.7, 0.0, x)
    zr = risk_bins_curve(z, y, 1)
    idx = np.searchsorted(zr.curve.edges, z, side="right")
    assert (np.bincount(idx, minlength=len(zr.curve.edges) + 1) > 0).all()
    # The training rows' steps are the curve's own bands (the missing fractions are counted from them).
    z[:100] = np.nan
    zr = risk_bins_curve(z, y, 1)
    assert (zr.steps[:100] == -1).all()
    assert (zr.steps[100:] == np.searchsorted(zr.curve.edges, z[100:], side="right")).all()


def test_risk_matched_places_missing_values_at_the_level_of_equal_risk():
    x, y = _two_bands()
    risk = risk_bins_curve(x, y, 1)
    # Stage 0: non-reporters as risky as the low band; stage 1: safer than anyone; stage 2: nobody missing.
    xm = np.r_[x, np.full(1000, np.nan), np.full(1000, np.nan), 0.0, 1.0, 1.0]
    ym = np.r_[y, np.r_[np.ones(200), np.zeros(800)], np.zeros(1000), 0.0, 0.0, 0.0]
    codes = np.r_[np.zeros(1000, int), np.zeros(1000, int), np.ones(1000, int), 2, 2, 2]
    miss = risk_matched(risk_bins_curve(xm, ym, 1), ym, codes)
    assert miss.policy == "risk_matched"
    assert miss.fraction.startup == 0.0  # 20 % default: below the low band's 20 % after smoothing, clipped
    assert miss.fraction.growth == 1.0  # no default among 1,000: above the best band, clipped
    assert miss.fraction.stable == 1.0  # nobody missing: the stage reporters' median level (1 of 0, 1, 1)
    # In between: the level where the stage's reporters, shifted to their own default rate, carry the
    # non-reporters' risk. Check the defining equation rather than re-deriving the solution.
    xh = np.r_[x, np.full(1000, np.nan)]
    yh = np.r_[y, np.ones(55), np.zeros(945)]
    half = risk_matched(risk_bins_curve(xh, yh, 1), yh, np.zeros(2000, int)).fraction.startup
    assert 0.3 < half < 0.7
    overall = 165 / 2000
    p_nm = (110 + 10 * overall) / 1010
    p_m = (55 + 10 * p_nm) / 1010

    def rate(c: float, level: np.ndarray) -> np.ndarray:
        return 1 / (1 + np.exp(c + risk.lo + level * (risk.hi - risk.lo)))

    c = np.log((1 - p_m) / p_m) - risk.lo - half * (risk.hi - risk.lo)  # the offset the level implies
    assert rate(c, np.array([0.0, 1.0])).mean() == pytest.approx(p_nm, abs=1e-5)  # reporters: half in each band


def test_learn_curves_risk_bins_fill_missing_with_the_risk_matched_fraction():
    rng = np.random.default_rng(4)
    x = rng.lognormal(2, 1, 3000)
    y = (rng.random(3000) < 1 / (1 + np.exp(1.0 + 0.8 * np.log(x)))).astype(float)
    x[rng.random(3000) < 0.2] = np.nan
    X = pd.DataFrame({"rd_expense": x})
    codes = rng.integers(0, 3, 3000)
    learned = learn_curves(X, y, codes, Spec(["rd_expense"], np.array([1]), np.array([True])))
    seen = ~np.isnan(x)
    assert learned.fractions[seen, 0] == pytest.approx(learned.curves[0].fraction(x[seen]))
    assert learned.fractions[~seen, 0] == pytest.approx(learned.missing[0].fill(codes[~seen]))
    with pytest.raises(ValueError, match="curves must be one of"):
        learn_curves(X, y, codes, Spec(["rd_expense"], np.array([1]), np.array([True])), "splines")


# -------------------------------------------------------------------------------------- SHAP points


def test_shap_points_proportional_over_active_and_flat_for_a_silent_stage():
    spec = Spec(["a", "b", "c", "d"], np.ones(4, int), np.array([True, True, False, True]))
    importance = pd.DataFrame(
        # columns out of order and an extra one: the function must align them by id
        {"d": [1.0, 0.0, 0.0], "zz": [9.0, 9.0, 9.0], "a": [3.0, 2.0, 0.0], "c": [5.0, 5.0, 0.0],
         "b": [0.0, 2.0, 0.0]},
        index=["startup", "growth", "stable"],
    )
    pts = shap_points(importance, spec, base=100.0)
    assert pts.shape == (3, 4)
    assert pts[0] == pytest.approx([75.0, 0.0, 0.0, 25.0])  # 3 : 0 : — : 1, inactive c dropped
    assert pts[1] == pytest.approx([50.0, 50.0, 0.0, 0.0])
    assert pts[2] == pytest.approx([100 / 3, 100 / 3, 0.0, 100 / 3])  # no signal: equal over active
    assert pts[:, 2].tolist() == [0.0, 0.0, 0.0]
    assert pts.sum(axis=1) == pytest.approx([100.0] * 3)


def test_shap_points_missing_stage_row_gets_equal_points():
    spec = Spec(["a", "b"], np.ones(2, int), np.array([True, True]))
    importance = pd.DataFrame({"a": [1.0], "b": [3.0]}, index=["growth"])
    pts = shap_points(importance, spec, base=50.0)
    assert pts.tolist() == [[25.0, 25.0], [12.5, 37.5], [25.0, 25.0]]


# ------------------------------------------------------------------------------------ fitted points


BETA = np.array([2.0, 1.5, 1.0, 0.6, 0.4, 0.2])
SETTINGS = FitSettings(
    group_bounds={"input": (0.1, 0.3), "output": (0.2, 0.5), "growth": (0.1, 0.5), "financial": (0.0, 0.3)},
    max_points=30.0,
)


def fit_data(seed: int = 7, n_stage: tuple[int, int, int] = (5000, 5000, 1500), stable_defaults: int = 12,
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fractions, defaults from logit −1 − F β, and stage codes; the stable stage has few defaults."""
    rng = np.random.default_rng(seed)
    codes = np.repeat([0, 1, 2], n_stage)
    F = rng.uniform(size=(len(codes), len(BETA)))
    p = 1.0 / (1.0 + np.exp(-(-1.0 - F @ BETA)))
    y = (rng.uniform(size=len(codes)) < p).astype("float64")
    stable = np.flatnonzero(codes == 2)
    y[stable] = 0.0
    y[stable[:stable_defaults]] = 1.0
    return F, y, codes


def check_rules(points: np.ndarray, settings: FitSettings, spec: Spec) -> None:
    """The issue's rules on a (stages, k) points array."""
    assert (points >= 0).all()
    assert points.sum(axis=1) == pytest.approx([settings.base] * len(STAGES), abs=TOL)
    assert (points[:, ~spec.active] == 0).all()
    assert points.max() <= settings.max_points + TOL
    for g, (lo, hi) in settings.group_bounds.items():
        share = points[:, np.asarray(GROUPS) == g].sum(axis=1) / settings.base
        assert ((share >= lo - TOL) & (share <= hi + TOL)).all(), (g, share)


def test_fitted_points_keep_the_rules_and_borrow_the_pooled_fit_for_a_thin_stage():
    F, y, codes = fit_data()
    spec = Spec(IDS, np.array([ind.direction for ind in INDICATORS]), np.array([1, 1, 1, 1, 1, 0], bool))
    points, fits, notes = fitted_points(F, y, codes, spec, GROUPS, SETTINGS)
    assert points.shape == (3, 6)
    check_rules(points, SETTINGS, spec)
    # input holds the strongest indicator (60% unconstrained) and is capped at 30%: the bound binds
    assert points[:, 0] == pytest.approx([30.0] * 3, abs=TOL)
    # the stable stage has 12 defaults < 30: it takes the fit on all rows, and says so
    pooled = fit_stage_points(F, y, base=100.0, groups=GROUPS, group_bounds=SETTINGS.group_bounds,
                              max_points=30.0, active=spec.active, ridge=SETTINGS.ridge)
    assert np.array_equal(points[2], pooled.points)
    assert (fits[2].intercept, fits[2].slope) == (pooled.intercept, pooled.slope)
    assert notes == ["stable: 12 defaults < 30, points fitted on all stages pooled"]
    assert not np.array_equal(points[0], points[2])  # the other stages are fitted on their own rows


def test_fitted_points_under_a_change_limit_move_at_most_the_limit_in_every_stage():
    F, y, codes = fit_data()
    spec = Spec(IDS, np.ones(6, int), np.ones(6, bool))
    baseline = np.array([[20.0, 20.0, 20.0, 15.0, 15.0, 10.0]] * 3)
    points, _, notes = fitted_points(F, y, codes, spec, GROUPS, SETTINGS, baseline=baseline, max_change=8.0)
    check_rules(points, SETTINGS, spec)
    moved = 0.5 * np.abs(points - baseline).sum(axis=1)
    assert (moved <= 8.0 + TOL).all()
    assert len(notes) == 1  # the thin stable stage: pooled rows, its own baseline and limit


def test_fitted_points_use_all_of_a_binding_change_limit():
    F, y, codes = fit_data()
    spec = Spec(IDS, np.ones(6, int), np.ones(6, bool))
    baseline = np.array([[20.0, 20.0, 20.0, 15.0, 15.0, 10.0]] * 3)
    points, _, _ = fitted_points(F, y, codes, spec, GROUPS, SETTINGS, baseline=baseline, max_change=8.0)
    # Within the rules the optimum moves 14-17 points in every stage, so 8 must be used in full.
    assert 0.5 * np.abs(points - baseline).sum(axis=1) == pytest.approx([8.0] * 3, abs=TOL)


def test_fitted_points_without_thin_stages_have_no_notes():
    F, y, codes = fit_data(n_stage=(3000, 3000, 3000), stable_defaults=40)
    spec = Spec(IDS, np.ones(6, int), np.ones(6, bool))
    _, _, notes = fitted_points(F, y, codes, spec, GROUPS, SETTINGS)
    assert notes == []


# ----------------------------------------------------------------------------------- integer points


def test_integer_points_are_whole_keep_totals_and_move_each_value_less_than_one():
    rng = np.random.default_rng(11)
    raw = rng.dirichlet(np.ones(7), size=3) * 100.0
    whole = integer_points(raw, 100.0)
    assert whole.shape == raw.shape
    assert np.array_equal(whole, np.round(whole))
    assert whole.sum(axis=1).tolist() == [100.0, 100.0, 100.0]
    assert (np.abs(whole - raw) < 1.0).all()
    # largest remainder on a literal row: 3 units short go to .9, .8 and .7
    assert integer_points(np.array([[10.9, 20.8, 30.7, 37.6]]), 100.0).tolist() == [[11.0, 21.0, 31.0, 37.0]]


def test_integer_points_keep_a_binding_group_total():
    # A fitted stage with the output group exactly at a 50% upper bound (members 0-2).
    row = np.array([[16.5, 16.5, 17.0, 16.4, 16.3, 17.3]])
    whole = integer_points(row, 100.0, groups=["output"] * 3 + ["growth"] * 3)
    assert whole[0, :3].sum() <= 50.0


def test_whole_point_fitted_formula_keeps_group_bounds():
    settings = FitSettings(group_bounds={"input": (0.1, 0.3), "output": (0.2, 0.4), "growth": (0.1, 0.3),
                                         "financial": (0.0, 0.3)}, max_points=None)
    F, y, codes = fit_data(seed=0, n_stage=(3000, 3000, 3000), stable_defaults=40)
    spec = Spec(IDS, np.ones(6, int), np.ones(6, bool))
    points, _, _ = fitted_points(F, y, codes, spec, GROUPS, settings)
    growth = np.asarray(GROUPS) == "growth"
    assert points[:, growth].sum(axis=1) == pytest.approx([30.0] * 3, abs=TOL)  # the bound binds
    whole = integer_points(points, 100.0, GROUPS)
    assert (whole[:, growth].sum(axis=1) <= 30.0).all()


# ----------------------------------------------------------------------------------------- assemble


def literal_curves() -> tuple[Curves, np.ndarray]:
    """Data flavour: invention_patent_apps scored against policy (−1); roe gets no points anywhere."""
    ids = ["rd_expense", "invention_patent_apps", "leverage", "roe"]
    spec = Spec(ids, np.array([1, -1, -1, 1]), np.ones(4, bool))
    medians = MissingStageMedian(fraction=StageFractions(startup=0.5, growth=0.25, stable=0.0))
    curves = Curves(
        spec=spec,
        curves=[Percentile(direction=1, breakpoints=[0.0, 100.0]),
                Percentile(direction=-1, breakpoints=[0.0, 10.0]),
                Percentile(direction=-1, breakpoints=[0.0, 1.0]),
                Percentile(direction=1, breakpoints=[0.0, 1.0])],
        missing=[medians] * 4,
        fractions=np.zeros((0, 4)),
    )
    points = np.array([[50.0, 30.0, 20.0, 0.0], [40.0, 40.0, 20.0, 0.0], [100 / 3, 100 / 3, 100 / 3, 0.0]])
    return curves, points


def make_formula(curves: Curves, points: np.ndarray, **kw) -> Formula:
    return assemble(name="fitted-data", version="1", title="Fitted points (data)", description="test",
                    indicators=[CATALOG[i] for i in curves.spec.ids], curves=curves, points=points,
                    stage_rule=StageRule(), provenance=Provenance(method="fitted-data"), **kw)


def test_assemble_writes_a_hashed_formula_that_loads_back():
    formula = make_formula(*literal_curves())
    assert formula.provenance.content_hash == formula.compute_hash() != ""
    again = Formula.from_text(formula.to_text("json"), "json")  # refuses a wrong or missing hash
    assert again == formula
    assert formula.scale.base_points == 100.0 and not formula.illustrative


def test_assemble_rounds_points_keeping_each_stage_total_exact():
    formula = make_formula(*literal_curves())
    for stage in STAGES:
        cents = [round(getattr(item.points, stage) * 100) for item in formula.indicators]
        assert sum(cents) == 10000, stage  # exactly 100.00 in the file's 2-decimal units
    # 100/3 three times, one indicator per group: group totals are rounded first and the tie's spare cent
    # goes to the first group in name order (financial: leverage)
    assert [item.points.stable for item in formula.indicators] == [33.33, 33.33, 33.34]


def test_assemble_leaves_out_zero_point_indicators_and_writes_only_non_policy_directions():
    formula = make_formula(*literal_curves())
    assert [item.id for item in formula.indicators] == ["rd_expense", "invention_patent_apps", "leverage"]
    # rd_expense (+1) and leverage (−1) follow the catalog: no direction key; the conflict states −1
    assert [item.direction for item in formula.indicators] == [None, -1, None]
    assert formula.direction_of("invention_patent_apps") == -1


def test_assemble_scores_a_literal_frame_by_hand():
    formula = make_formula(*literal_curves())
    frame = pd.DataFrame({
        "rd_expense": [50.0, np.nan, 100.0],
        "invention_patent_apps": [2.0, 10.0, 0.0],
        "leverage": [0.25, 0.0, 1.0],
        "stage": ["startup", "growth", "stable"],
    })
    points = formula.score(frame)["points"].tolist()
    # startup: 50·0.5 + 30·(1 − 0.2) + 20·(1 − 0.25) = 64
    # growth:  40·0.25 (missing → growth median) + 40·0 + 20·1 = 30
    # stable:  33.33·1 + 33.33·1 + 33.34·0 = 66.66
    assert points == pytest.approx([64.0, 30.0, 66.66])


def test_data_flavour_conflict_is_written_with_direction_minus_one_and_a_decreasing_curve():
    rng = np.random.default_rng(2)
    ids = ["rd_expense", "invention_patent_apps"]
    X = pd.DataFrame({"rd_expense": rng.lognormal(3, 1, 400),
                      "invention_patent_apps": rng.poisson(3, 400).astype("float64")})
    codes = rng.integers(0, 3, 400)
    spec = flavour_spec([CATALOG[i] for i in ids], pd.Series({"rd_expense": 1, "invention_patent_apps": -1}),
                        "data")
    # Risk falls with R&D and rises with applications (the conflict the data flavour scores openly).
    p = 1 / (1 + np.exp(-(-1.0 - np.log(X["rd_expense"]) + 0.5 * X["invention_patent_apps"])))
    y = (rng.random(400) < p).to_numpy(dtype="float64")
    for kind in ("percentile", "risk_bins"):
        curves = learn_curves(X, y, codes, spec, kind)
        formula = make_formula(curves, np.array([[60.0, 40.0]] * 3))
        item = formula.indicators[1]
        assert item.id == "invention_patent_apps" and item.direction == -1
        assert item.curve.type == {"percentile": "percentile", "risk_bins": "bins"}[kind]
        f = item.curve.fraction(np.array([0.0, 3.0, 30.0]))
        assert f[0] > f[1] > f[2]  # more applications, fewer points
        assert formula.indicators[0].direction is None
        assert Formula.from_text(formula.to_text("json"), "json") == formula


def test_assemble_with_whole_points():
    curves, points = literal_curves()
    formula = make_formula(curves, integer_points(points, 100.0), decimals=0)
    assert [item.points.stable for item in formula.indicators] == [34.0, 33.0, 33.0]


def test_risk_bins_of_an_empty_or_constant_indicator_score_everyone_alike():
    rng = np.random.default_rng(6)
    y = (rng.random(500) < 0.1).astype(float)
    X = pd.DataFrame({"rd_expense": np.full(500, np.nan), "leverage": np.full(500, 0.4)})
    codes = rng.integers(0, 3, 500)
    learned = learn_curves(X, y, codes, Spec(["rd_expense", "leverage"], np.array([1, -1]), np.array([True, True])))
    assert not np.isnan(learned.fractions).any()
    for curve in learned.curves:
        assert isinstance(curve, Bins) and curve.levels == [1.0, 1.0]
    assert (learned.fractions[:, 0] == 0.0).all()  # nobody reports: nothing to score, missing scores nothing
    assert (learned.fractions[:, 1] == 1.0).all()  # everybody reports the same: all alike


def test_curves_transform_gives_new_rows_the_training_fractions():
    # Scoring the training rows again must reproduce the fractions the fit saw, missing values included.
    rng = np.random.default_rng(3)
    X = pd.DataFrame({"a": rng.normal(size=600), "b": rng.exponential(size=600)})
    X.loc[::7, "b"] = np.nan
    y = (rng.uniform(size=600) < 1 / (1 + np.exp(2 + X["a"]))).astype(float)
    codes = np.arange(600) % 3
    spec = Spec(ids=["a", "b"], directions=np.array([1, -1]), active=np.array([True, True]))
    for kind in ("risk_bins", "percentile"):
        curves = learn_curves(X, y, codes, spec, kind)
        np.testing.assert_allclose(curves.transform(X, codes), curves.fractions, atol=1e-12)
        np.testing.assert_allclose(curves.transform(X.to_numpy(), codes), curves.fractions, atol=1e-12)
