"""The propensity of being lent: seeded, point in time, calibrated under subsampling; IPW weights; support."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from innopoints.features.errors import EvaluationError
from innopoints.models.selection.propensity import (
    PropensityModel,
    ipw_weights,
    lending_panel,
    propensity_bin,
    support_summary,
    support_table,
)


def _panel(n_per_year: int = 3000, years=(2020, 2021, 2022), seed: int = 0) -> pd.DataFrame:
    """Firm-years whose chance of a loan rises with ``points`` (logit −3.5 + 2·points); x is noise with gaps."""
    rng = np.random.default_rng(seed)
    parts = []
    for year in years:
        points = rng.normal(size=n_per_year)
        x = np.where(rng.random(n_per_year) < 0.2, np.nan, rng.normal(size=n_per_year))
        p = 1 / (1 + np.exp(-(-3.5 + 2.0 * points)))
        parts.append(pd.DataFrame({"year": year, "points": points, "x": x, "p_true": p,
                                   "lent": rng.random(n_per_year) < p}))
    return pd.concat(parts, ignore_index=True)


def test_the_same_seed_gives_the_same_propensities_and_they_rank_borrowers_out_of_time():
    panel = _panel()
    fit = lambda: PropensityModel(["points", "x"], seed=3, max_rows=2000).fit(  # noqa: E731
        panel, panel["lent"], panel["year"], until_year=2022)
    a, b = fit(), fit()
    test = panel[panel["year"] == 2022]
    np.testing.assert_array_equal(a.predict(test), b.predict(test))
    assert a.years_ == [2020, 2021]
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(test["lent"], a.predict(test)) > 0.8


def test_rows_from_the_year_it_is_applied_to_and_later_never_move_the_model():
    panel = _panel()
    model = PropensityModel(["points", "x"], seed=1, max_rows=2000).fit(panel, panel["lent"], panel["year"],
                                                                        until_year=2022)
    changed = panel.copy()
    later = changed["year"] >= 2022
    changed.loc[later, "lent"] = ~changed.loc[later, "lent"]
    changed.loc[later, "points"] = -changed.loc[later, "points"]
    other = PropensityModel(["points", "x"], seed=1, max_rows=2000).fit(changed, changed["lent"], changed["year"],
                                                                        until_year=2022)
    probe = panel[panel["year"] == 2021]
    np.testing.assert_array_equal(model.predict(probe), other.predict(probe))


def test_subsampling_the_firms_that_did_not_borrow_keeps_the_probabilities_calibrated():
    panel = _panel(n_per_year=6000)
    model = PropensityModel(["points", "x"], seed=1, max_rows=8000).fit(panel, panel["lent"], panel["year"])
    assert model.n_fit_ == len(panel)
    assert model.predict(panel).mean() == pytest.approx(panel["lent"].mean(), rel=0.05)


def test_a_fit_without_borrowers_is_refused_with_the_year_named():
    panel = _panel().assign(lent=False)
    with pytest.raises(EvaluationError, match="before 2022"):
        PropensityModel(["points"]).fit(panel, panel["lent"], panel["year"], until_year=2022)


def test_lending_panel_flags_a_firm_year_once_whatever_the_number_of_loans():
    pops = {2021: pd.DataFrame({"firm_id": ["a", "b", "c"]}), 2022: pd.DataFrame({"firm_id": ["a", "b"]})}
    loans = pd.DataFrame({"firm_id": ["a", "a", "c", "b"], "year": [2021, 2021, 2021, 2023]})
    panel = lending_panel(pops, loans)
    assert panel["lent"].tolist() == [True, False, True, False, False]
    assert panel["year"].tolist() == [2021, 2021, 2021, 2022, 2022]


def test_ipw_weights_are_the_lending_rate_over_the_propensity_clipped_both_ways():
    w = ipw_weights([0.001, 0.05, 0.1, 0.5, 1.0], lending_rate=0.1, max_weight=10)
    np.testing.assert_allclose(w, [10.0, 2.0, 1.0, 0.2, 0.1])


def test_support_counts_firms_loans_and_each_formulas_qualified_firms_per_bin():
    pop_p = np.array([0.001, 0.015, 0.03, 0.3, 0.6])
    qualified = {"a": np.array([False, False, False, True, True]), "b": np.array([True, True, False, True, False])}
    points = {"a": np.array([0.0, 10, 20, 80, 90]), "b": np.array([70.0, 60, 10, 80, 5])}
    loan_p = np.array([0.015, 0.3, 0.3, 0.6])
    table = support_table(pop_p, qualified, loan_p, [1, 0, 1, 0], low_support=0.02)
    np.testing.assert_array_equal(propensity_bin(pop_p), [0, 2, 3, 6, 7])
    assert table["low_support"].tolist() == [True, True, True] + [False] * 5
    assert table["firms"].sum() == 5 and table.loc[2, "observed_loans"] == 1 and table.loc[6, "observed_defaults"] == 1
    assert table["qualified_b"].tolist() == [1, 0, 1, 0, 0, 0, 1, 0]
    summary = support_summary(pop_p, qualified, points, low_support=0.02)
    assert summary["a"]["qualified_share_low_support"] == 0.0
    assert summary["b"]["qualified_share_low_support"] == pytest.approx(2 / 3)
    assert summary["b"]["qualified_points_share_low_support"] == pytest.approx(130 / 210)
    assert summary["b"]["points_mass_share_low_support"] == pytest.approx(130 / 225)


def test_a_subsampled_lending_panel_keeps_every_borrower_and_weighs_the_rest_up_to_the_population():
    pops = {y: pd.DataFrame({"firm_id": [f"f{i}" for i in range(1000)]}) for y in (2021, 2022)}
    loans = pd.DataFrame({"firm_id": ["f1", "f2", "f3"], "year": [2021, 2021, 2022]})
    panel = lending_panel(pops, loans, max_rows=200, seed=4)
    assert len(panel) == 200 and panel["lent"].sum() == 3
    for year in (2021, 2022):
        rows = panel[panel["year"] == year]
        assert rows["weight"].sum() == pytest.approx(1000.0)
    assert panel.equals(lending_panel(pops, loans, max_rows=200, seed=4))  # seeded
