"""Tests for models/evaluation/backtest.py: test years, policy metrics and the backtest table."""

import numpy as np
import pandas as pd
import pytest

from innopoints.features.errors import EvaluationError
from innopoints.models.evaluation.backtest import (
    MIN_TEST_DEFAULTS,
    backtest,
    interval_note,
    policy_metrics,
    rolling_origins,
)
from innopoints.models.evaluation.metrics import auc, top_share

# --------------------------------------------------------------------------------------------- fixtures


def _origin_loans() -> pd.DataFrame:
    """Two loans a year; 2020 has no default and 2023's outcomes are not observed yet."""
    return pd.DataFrame(
        {
            "year": [2018, 2018, 2019, 2019, 2020, 2020, 2021, 2021, 2022, 2022, 2023, 2023],
            "defaulted": [1, 0, 1, 0, 0, 0, 1, 0, 1, 0, 1, 0],
            "outcome_observed": [True] * 10 + [False] * 2,
        }
    )


def _scored(seed: int = 0, years=(2021, 2022, 2023), n: int = 600, shift=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Seeded test loans (points, baseline) and firm populations for a few test years."""
    rng = np.random.default_rng(seed)
    frames, pops = [], []
    for i, year in enumerate(years):
        quality = rng.normal(size=n)
        offset = 0.0 if shift is None else shift[i]
        frame = pd.DataFrame(
            {
                "year": year,
                "points": np.round(60 + 10 * quality + 4 * rng.normal(size=n)) + offset,
                "baseline": np.round(60 + 10 * quality + 12 * rng.normal(size=n)),
                "defaulted": rng.random(n) < 1 / (1 + np.exp(3.5 + 1.0 * quality)),
                "outcome_observed": rng.random(n) < 0.95,
            }
        )
        frames.append(frame)
        pops.append(pd.DataFrame({"year": year, "points": np.round(55 + 12 * rng.normal(size=3 * n)) + offset}))
    return pd.concat(frames, ignore_index=True), pd.concat(pops, ignore_index=True)


@pytest.fixture(scope="module")
def scored() -> tuple[pd.DataFrame, pd.DataFrame]:
    return _scored()


@pytest.fixture(scope="module")
def table(scored) -> pd.DataFrame:
    loans, population = scored
    return backtest(loans, population, baseline_col="baseline", n_boot=200, seed=3)


# ------------------------------------------------------------------------------------------- test years


def test_rolling_origins_picks_the_last_years_with_defaults_and_enough_history():
    loans = _origin_loans()
    # 2019 has one earlier year, 2020 no default, 2023 no observed outcome: 2021 and 2022 remain.
    assert rolling_origins(loans, 3) == [2021, 2022]
    assert rolling_origins(loans, 1) == [2022]
    assert rolling_origins(loans, 3, min_train_years=1) == [2019, 2021, 2022]
    assert rolling_origins(loans, 3, min_train_years=4) == [2022]


def test_rolling_origins_refuses_when_no_year_qualifies():
    with pytest.raises(EvaluationError, match=r"no origination year can serve as a test year") as err:
        rolling_origins(_origin_loans(), 2, min_defaults=2)
    assert "at least 2 default(s)" in str(err.value)
    assert "2022: 1 defaults of 2 loans, 4 earlier years" in str(err.value)


def test_rolling_origins_refuses_a_k_below_one():
    with pytest.raises(EvaluationError, match=r"k must be a whole number >= 1, got 0"):
        rolling_origins(_origin_loans(), 0)


def test_rolling_origins_refuses_loans_without_a_year_column():
    with pytest.raises(EvaluationError, match=r"missing column\(s\) \['year'\]"):
        rolling_origins(_origin_loans().drop(columns="year"), 2)


# --------------------------------------------------------------------------------------- policy metrics


# Ten test loans; the population is 100 firms scored 0..99, so share 0.3 puts the cut-off at 70.
Y_POLICY = np.array([0, 0, 1, 0, 1, 0, 1, 0, 0, 1])
POINTS_POLICY = np.array([95, 90, 65, 60, 55, 50, 40, 30, 20, 10])
POPULATION = np.arange(100)


def test_the_cut_off_is_taken_on_the_population_not_on_the_test_loans():
    out = policy_metrics(Y_POLICY, POINTS_POLICY, POPULATION, share=0.3, n_boot=50, seed=0)
    assert out["cutoff"] == 70.0
    assert (out["population_qualified"], out["qualified_n"], out["qualified_defaults"]) == (30, 2, 0)
    assert out["qualified_default_rate"] == 0.0
    # Cutting the top 30% of the test loans instead would take the loan at 65, a default: a rate of 1/3.
    assert top_share(Y_POLICY, POINTS_POLICY, 0.3)["default_rate"] == pytest.approx(1 / 3)
    # Wilson keeps an informative upper bound for 0 of 2: z^2 / (2 + z^2).
    assert out["qualified_interval"] == "wilson"
    assert out["qualified_default_rate_low"] == pytest.approx(0.0)
    assert out["qualified_default_rate_high"] == pytest.approx(1.959964**2 / (2 + 1.959964**2), rel=1e-6)


def test_firms_tied_at_the_cut_off_all_qualify():
    out = policy_metrics([1, 0, 0], [10, 5, 1], [10, 10, 10, 5, 1], share=0.2, n_boot=10, seed=0)
    assert (out["cutoff"], out["population_qualified"]) == (10.0, 3)
    assert out["population_qualified_share"] == pytest.approx(0.6)
    assert (out["qualified_n"], out["qualified_defaults"]) == (1, 1)


def test_capture_by_hand_with_a_tie_straddling_the_line():
    # Points 1..10 with two loans tied at 3; the defaults score 1, one of the 3s, and 8.
    y = [1, 0, 1, 0, 0, 0, 0, 1, 0, 0]
    points = [1, 2, 3, 3, 5, 6, 7, 8, 9, 10]
    out = policy_metrics(y, points, np.arange(100), deciles=(1, 2, 3, 4), n_boot=50, seed=0)
    assert out["capture_bottom10"] == pytest.approx(1 / 3)  # the loan at 1
    assert out["capture_bottom20"] == pytest.approx(1 / 3)  # loans at 1, 2
    # 30% needs one of the two loans at 3: half the tied group, so half its one default.
    assert out["capture_bottom30"] == pytest.approx(1.5 / 3)
    assert out["capture_bottom40"] == pytest.approx(2 / 3)  # the whole tied group
    assert out["capture_interval"] == "bootstrap"


def test_perfect_ranking_gives_auc_one_and_every_default_in_the_lowest_decile():
    n = 50
    points = np.arange(n, dtype=float)
    y = (points < 5).astype(int)  # 5 defaults = 10% of loans, all scored lowest
    loans = pd.DataFrame({"year": 2022, "points": points, "defaulted": y, "outcome_observed": True})
    population = pd.DataFrame({"year": 2022, "points": points})
    row = backtest(loans, population, n_boot=100, seed=0, deciles=(1,)).iloc[0]
    assert (row["auc"], row["auc_low"], row["auc_high"]) == (1.0, 1.0, 1.0)
    assert (row["capture_bottom10"], row["capture_bottom10_low"], row["capture_bottom10_high"]) == (1.0, 1.0, 1.0)


def test_policy_metrics_pins_the_capture_bootstrap(scored):
    loans, population = scored
    test = loans[(loans["year"] == 2022) & loans["outcome_observed"]]
    out = policy_metrics(
        test["defaulted"], test["points"], population.loc[population["year"] == 2022, "points"], n_boot=200, seed=1
    )
    # Guards the resampling scheme (defaults and non-defaults drawn apart, seeded): a change moves these numbers.
    assert out["n_defaults"] == 27
    assert out["capture_bottom10"] == pytest.approx(0.454938, abs=1e-6)
    assert out["capture_bottom10_low"] == pytest.approx(0.296296, abs=1e-6)
    assert out["capture_bottom10_high"] == pytest.approx(0.669913, abs=1e-6)


def test_policy_metrics_refuses_test_loans_without_a_default():
    with pytest.raises(EvaluationError, match=r"policy_metrics needs at least one default and one non-default"):
        policy_metrics([0, 0, 0], [1, 2, 3], [1, 2, 3])


def test_policy_metrics_refuses_an_empty_population():
    with pytest.raises(EvaluationError, match=r"population_points: no firms"):
        policy_metrics([1, 0], [1, 2], [])


def test_policy_metrics_refuses_a_decile_outside_one_to_nine():
    with pytest.raises(EvaluationError, match=r"deciles: each must be a whole number from 1 to 9.*got 10"):
        policy_metrics([1, 0], [1, 2], [1, 2], deciles=(10,))


def test_policy_metrics_refuses_zero_resamples():
    with pytest.raises(EvaluationError, match=r"n_boot: must be a whole number >= 1, got 0"):
        policy_metrics([1, 0], [1, 2], [1, 2], n_boot=0)


# --------------------------------------------------------------------------------------------- backtest


def test_interval_note_reads_as_a_warning_only_below_the_minimum():
    assert interval_note(24, 30) == "only 24 test defaults (< 30): intervals are wide"
    assert interval_note(30, 30) is None
    assert interval_note(MIN_TEST_DEFAULTS) is None


def test_thin_years_are_flagged_with_the_warning(table):
    # 30, 27 and 32 defaults: 2022 falls short of MIN_TEST_DEFAULTS, the pooled 89 do not.
    assert table["n_defaults"].tolist() == [30, 27, 32, 89]
    assert table["thin"].tolist() == [False, True, False, False]
    assert table["warning"].iloc[1] == "only 27 test defaults (< 30): intervals are wide"
    assert table["warning"].drop(index=1).isna().all()


def test_min_test_defaults_sets_the_thin_line(scored):
    loans, population = scored
    out = backtest(loans, population, n_boot=20, seed=0, min_test_defaults=1000)
    assert out["thin"].all()
    assert out.iloc[-1]["warning"] == f"only {out.iloc[-1]['n_defaults']} test defaults (< 1000): intervals are wide"


def test_one_row_per_test_year_then_the_pooled_row(table):
    assert table["test_year"].tolist() == [2021, 2022, 2023, "pooled"]
    assert table["bootstrap_strata"].tolist() == ["defaulted"] * 3 + ["year x defaulted"]
    assert (table["auc_low"] <= table["auc"]).all() and (table["auc"] <= table["auc_high"]).all()
    assert (table["delta_auc_low"] <= table["delta_auc"]).all()
    assert (table["delta_auc"] <= table["delta_auc_high"]).all()


def test_a_single_test_year_is_its_own_total_and_not_repeated(table, scored):
    loans, population = scored
    one = backtest(loans[loans["year"] == 2023], population[population["year"] == 2023], baseline_col="baseline",
                   n_boot=200, seed=3)
    assert one["test_year"].tolist() == [2023]
    assert one.iloc[0].equals(table.iloc[2])  # the same row as in the three-year table


def test_pooled_counts_are_the_sums_of_the_years(table, scored):
    loans, _ = scored
    years, pooled = table.iloc[:-1], table.iloc[-1]
    for col in ("n_loans", "n_defaults", "n_unobserved", "qualified_n", "qualified_defaults", "population_n",
                "population_qualified"):
        assert pooled[col] == years[col].sum(), col
    assert pooled["n_loans"] + pooled["n_unobserved"] == len(loans)
    assert np.isnan(pooled["cutoff"])


def test_pooled_auc_compares_loans_only_within_their_year():
    # The second year's refit scores everyone 40 points higher: pooling raw points would mix the scales.
    loans, population = _scored(seed=5, years=(2022, 2023), shift=(0.0, 40.0))
    out = backtest(loans, population, n_boot=20, seed=0)
    observed = loans[loans["outcome_observed"]]
    pairs, wins = 0.0, 0.0
    for year in (2022, 2023):
        part = observed[observed["year"] == year]
        d = part["defaulted"].sum()
        year_pairs = d * (len(part) - d)
        pairs += year_pairs
        wins += auc(part["defaulted"], -part["points"]) * year_pairs
    # The pooled AUC is the pair-weighted mean of the yearly AUCs, not the AUC of the concatenated points.
    assert out.iloc[-1]["auc"] == pytest.approx(wins / pairs, abs=1e-12)
    assert out.iloc[-1]["auc"] != pytest.approx(auc(observed["defaulted"], -observed["points"]), abs=1e-3)


def test_a_year_row_matches_policy_metrics_on_that_year(table, scored):
    loans, population = scored
    test = loans[(loans["year"] == 2022) & loans["outcome_observed"]]
    alone = policy_metrics(
        test["defaulted"], test["points"], population.loc[population["year"] == 2022, "points"], n_boot=200, seed=3
    )
    row = table.iloc[1]
    for key in ("cutoff", "qualified_n", "qualified_default_rate_high", "capture_bottom20", "capture_bottom20_low",
                "capture_bottom30_high"):
        assert row[key] == alone[key], key


def test_a_baseline_equal_to_the_formula_gains_nothing(scored):
    loans, population = scored
    same = loans.assign(copy=loans["points"])
    out = backtest(same, population, baseline_col="copy", n_boot=50, seed=0)
    assert (out["delta_auc"] == 0).all() and (out["delta_auc_low"] == 0).all() and (out["delta_auc_high"] == 0).all()


def test_same_inputs_and_seed_give_identical_output(table, scored):
    loans, population = scored
    again = backtest(loans, population, baseline_col="baseline", n_boot=200, seed=3)
    pd.testing.assert_frame_equal(table, again)
    shuffled = backtest(loans.sample(frac=1.0, random_state=9), population.sample(frac=1.0, random_state=9),
                        baseline_col="baseline", n_boot=200, seed=3)
    pd.testing.assert_frame_equal(table, shuffled)
    other = backtest(loans, population, baseline_col="baseline", n_boot=200, seed=4)
    assert not np.allclose(table["auc_low"], other["auc_low"])  # the seed is really used


def test_backtest_refuses_a_year_without_defaults(scored):
    loans, population = scored
    no_defaults = loans.assign(defaulted=np.where(loans["year"] == 2023, False, loans["defaulted"]))
    with pytest.raises(EvaluationError, match=r"test year 2023 has 0 defaults among \d+ observed loans"):
        backtest(no_defaults, population, n_boot=10)


def test_backtest_refuses_a_test_year_missing_from_the_population(scored):
    loans, population = scored
    with pytest.raises(EvaluationError, match=r"population: no firm scored in test year 2023"):
        backtest(loans, population[population["year"] != 2023], n_boot=10)


def test_backtest_refuses_a_firm_counted_twice_in_a_year(scored):
    loans, population = scored
    firms = population.assign(firm_id=np.arange(len(population)))
    firms.loc[1, "firm_id"] = firms.loc[0, "firm_id"]
    with pytest.raises(EvaluationError, match=r"one row per firm and year.*firm 0 appears twice in 2021"):
        backtest(loans, firms, n_boot=10)


def test_backtest_refuses_the_formula_as_its_own_baseline(scored):
    loans, population = scored
    with pytest.raises(EvaluationError, match=r"baseline_col: must differ from points_col, both are 'points'"):
        backtest(loans, population, baseline_col="points")


def test_backtest_refuses_loans_without_the_points_column(scored):
    loans, population = scored
    with pytest.raises(EvaluationError, match=r"loans: missing column\(s\) \['points'\]"):
        backtest(loans.drop(columns="points"), population)
