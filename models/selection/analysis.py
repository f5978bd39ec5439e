"""The selection analysis of a training run: support of each formula, and the corrections beside it.

:func:`selection_analysis` takes the loan table, the populations of firms of every origination year, the
baseline (the formula in force, which drove who was lent) and the recommended formula, and returns a
JSON-ready dict (aggregates only):

1. ``propensity``: the propensity model (:class:`~innopoints.models.selection.propensity.PropensityModel`),
   fitted on the firm-years of the training years only, and how well it separates lent from not lent on the
   test year (AUC, out of time).
2. ``support``: the test year's firms in propensity bins, the observed training loans (and defaults) behind
   each bin, and per formula the firms it qualifies there; per formula the share of its qualified set and
   points mass below the low-support threshold.
3. ``weighted_evaluation``: test AUC of each formula unweighted and inverse-propensity weighted.
4. ``weights``: the recommended formula's points per indicator as shipped, refitted on its own curves
   unweighted, refitted with inverse-propensity weights, and refitted with parcelled rejects; the points each
   correction moves, and the test AUC of each refit.

Settings and their reasons are documented in docs/policy.md ("Selection: who never got a loan").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from innopoints.features.catalog import Indicator
from innopoints.features.stage import STAGES
from innopoints.models.evaluation.evaluate import jsonable_records
from innopoints.models.formula.qualify import qualified_mask
from innopoints.models.formula.schema import Formula
from innopoints.models.formula.schema import stage_codes as _stage_codes
from innopoints.models.learning.candidates import FitSettings
from innopoints.models.selection.correct import (
    PARCEL_UPLIFT,
    formula_fractions,
    formula_points,
    parcel_rejects,
    points_by_indicator,
    points_moved,
    refit_points,
    score_with,
)
from innopoints.models.selection.propensity import (
    LOW_SUPPORT,
    MAX_WEIGHT,
    PROPENSITY_EDGES,
    PropensityModel,
    ipw_weights,
    lending_panel,
    support_summary,
    support_table,
    weighted_auc,
)

IN_FORCE = "points_in_force"
"""Column of the propensity features: the points of the formula in force (the baseline)."""


@dataclass(frozen=True)
class SelectionSettings:
    """The knobs of the selection analysis (run config ``selection``; docs/policy.md)."""

    enabled: bool = True
    low_support: float = LOW_SUPPORT
    max_weight: float = MAX_WEIGHT
    parcel_uplift: float = PARCEL_UPLIFT
    max_rows: int = 60_000  # firm-years the propensity model is fitted on at most
    reject_ratio: float = 1.0  # rejects in the parcelled refit: total weight relative to the approved loans


def _qualified(points: np.ndarray, share: float) -> np.ndarray:
    return qualified_mask(points, share=share)


def selection_analysis(*args, **kwargs) -> dict:
    """:func:`_selection_analysis` with BLAS on one thread (SLSQP's tiny calls only fight over threads)."""
    with threadpool_limits(limits=1, user_api="blas"):
        return _selection_analysis(*args, **kwargs)


def _selection_analysis(loans: pd.DataFrame, populations: Mapping[int, pd.DataFrame], baseline: Formula,
                       recommended: Formula, indicators: Sequence[Indicator], *, test_year: int, share: float,
                       seed: int, fit: FitSettings, settings: SelectionSettings = SelectionSettings()) -> dict:
    """The selection analysis (see the module docstring) of ``recommended`` against ``baseline``.

    Args:
        loans: every loan with its point-in-time indicators (``features.build.loan_features``); the observed
            ones of years before ``test_year`` are the training loans, those of ``test_year`` the test loans.
        populations: year → scoreable firms of that year (fiscal year before it); the years before
            ``test_year`` fit the propensity model, ``test_year``'s firms are judged for support.
        baseline: the formula in force (its points are a propensity feature).
        recommended: the formula whose extrapolation is measured and whose weights are refitted.
        indicators: the indicator set (for groups and the propensity features).
        test_year, share, seed, fit: the run's split, qualified share, seed and points-fit rules.
    """
    ids = [i.id for i in indicators]
    features = [IN_FORCE, *ids]
    years = sorted(y for y in populations if y <= test_year)
    if test_year not in populations or not [y for y in years if y < test_year]:
        return {"note": f"no population of firms for the test year {test_year} and the years before it: the "
                        "propensity of being lent cannot be modelled"}
    # The fit years subsampled (all lent firm-years, a weighted sample of the others); the test year whole.
    panel = lending_panel({y: populations[y] for y in years if y < test_year}, loans, max_rows=settings.max_rows,
                          seed=seed)
    panel[IN_FORCE] = baseline.score(panel)["points"].to_numpy()
    model = PropensityModel(features, seed=seed, max_rows=settings.max_rows)
    model.fit(panel, panel["lent"], panel["year"], until_year=test_year, sample_weight=panel["weight"])
    pop = lending_panel({test_year: populations[test_year]}, loans)
    pop[IN_FORCE] = baseline.score(pop)["points"].to_numpy()
    p_pop = model.predict(pop)

    observed = loans["outcome_observed"].to_numpy(bool).copy()
    if "has_history" in loans:
        observed &= loans["has_history"].to_numpy(bool)
    train = loans[observed & (loans["year"].to_numpy() < test_year)].copy()
    test = loans[observed & (loans["year"].to_numpy() == test_year)].copy()
    for frame in (train, test):
        frame[IN_FORCE] = baseline.score(frame)["points"].to_numpy()
    p_train, p_test = model.predict(train), model.predict(test)
    y_train = train["defaulted"].to_numpy(dtype="float64")
    y_test = test["defaulted"].to_numpy(dtype=int)

    formulas = {"baseline": baseline, recommended.name: recommended}
    pop_points = {name: f.score(pop)["points"].to_numpy() for name, f in formulas.items()}
    qualified = {name: _qualified(pts, share) for name, pts in pop_points.items()}
    table = support_table(p_pop, qualified, p_train, y_train, low_support=settings.low_support)
    summary = support_summary(p_pop, qualified, pop_points, low_support=settings.low_support)
    for name in formulas:
        q = qualified[name]
        low = p_pop < settings.low_support
        summary[name]["observed_loans_behind_low_support"] = int((p_train < settings.low_support).sum())
        summary[name]["qualified_new_vs_in_force"] = int((q & ~qualified["baseline"]).sum())
        summary[name]["qualified_new_low_support"] = int((q & ~qualified["baseline"] & low).sum())

    rate = model.lending_rate_
    w_train = ipw_weights(p_train, rate, settings.max_weight)
    w_test = ipw_weights(p_test, rate, settings.max_weight)
    weighted_eval = {}
    for name, f in formulas.items():
        risk = -f.score(test)["points"].to_numpy()
        weighted_eval[name] = {"test_auc": weighted_auc(y_test, risk),
                               "test_auc_ipw": weighted_auc(y_test, risk, w_test)}

    # The recommended formula's points refitted on its own curves: unweighted, weighted, with parcelled rejects.
    groups = {i.id: i.group for i in indicators}
    rec_ids, F_test = formula_fractions(recommended, test)
    codes_test = _stage_codes(test)
    shipped = formula_points(recommended)
    unweighted = refit_points(recommended, train, y_train, groups, fit)
    weighted = refit_points(recommended, train, y_train, groups, fit, sample_weight=w_train)
    rejects = panel[~panel["lent"].to_numpy()]
    n_rejects = min(len(rejects), max(1, int(round(len(train) * settings.reject_ratio))))
    rng = np.random.default_rng(seed)
    rejects = rejects.iloc[np.sort(rng.choice(len(rejects), n_rejects, replace=False))]
    train_points = recommended.score(train)["points"].to_numpy()
    reject_pd = parcel_rejects(train_points, y_train, recommended.score(rejects)["points"].to_numpy(),
                               uplift=settings.parcel_uplift)
    # The rejects together weigh reject_ratio × the approved loans (each reject stands for many firm-years).
    r_weight = settings.reject_ratio * len(train) / n_rejects
    cols = [*recommended.required_columns, "stage"]
    augmented = pd.concat([train[cols], rejects[cols]], ignore_index=True)
    parcelled = refit_points(recommended, augmented, np.concatenate([y_train, reject_pd]), groups, fit,
                             sample_weight=np.concatenate([np.ones(len(train)), np.full(n_rejects, r_weight)]),
                             approved=np.arange(len(augmented)) < len(train))
    fits = {"shipped": shipped, "refit_unweighted": unweighted, "refit_ipw": weighted,
            "refit_parcelled": parcelled}
    fit_eval = {}
    for name, pts in fits.items():
        risk = -score_with(pts, F_test, codes_test)
        fit_eval[name] = {"test_auc": weighted_auc(y_test, risk), "test_auc_ipw": weighted_auc(y_test, risk, w_test),
                          "points_moved_from_unweighted": points_moved(pts, unweighted)}
    ess = float(w_train.sum() ** 2 / (w_train ** 2).sum())
    return {
        "method": ("The propensity of being lent: LightGBM on the points of the formula in force and every indicator "
                   f"(fiscal year before), fitted on the firm-years of {model.years_[0]}–{model.years_[-1]} "
                   f"(before the test year {test_year}); support judged on the {test_year} firms"),
        "settings": {"low_support": settings.low_support, "max_weight": settings.max_weight,
                     "parcel_uplift": settings.parcel_uplift, "reject_ratio": settings.reject_ratio,
                     "edges": list(PROPENSITY_EDGES), "share": share, "seed": seed},
        "propensity": {"fit_years": model.years_, "fit_firm_years": model.n_fit_, "fit_lent": model.n_lent_,
                       "lending_rate": rate, "test_year": test_year,
                       "test_auc": weighted_auc(pop["lent"].to_numpy(), p_pop) if pop["lent"].any() else None,
                       "test_lending_rate": float(pop["lent"].mean()),
                       "test_mean_propensity": float(p_pop.mean())},
        "support": {"bins": jsonable_records(table), "formulas": summary},
        "weights_ipw": {"min": float(w_train.min()), "max": float(w_train.max()), "mean": float(w_train.mean()),
                        "clipped_share": float(((w_train <= 1 / settings.max_weight) |
                                                (w_train >= settings.max_weight)).mean()),
                        "effective_loans": ess, "training_loans": int(len(train))},
        "weighted_evaluation": weighted_eval,
        "weights": {"formula": recommended.name, "stages": list(STAGES), "rejects": int(n_rejects),
                    "reject_weight": r_weight, "mean_reject_pd": float(reject_pd.mean()),
                    "approved_default_rate": float(y_train.mean()),
                    "points": {name: points_by_indicator(pts, rec_ids) for name, pts in fits.items()},
                    "evaluation": fit_eval},
    }
