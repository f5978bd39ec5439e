"""Rolling-origin backtest of a points formula: several test years, and metrics that follow the policy.

One test year holds too few defaults to judge a formula (about 1,500 loans and 24 defaults), and cutting
the top share on test loans is not what the policy does: it qualifies firms by one cut-off on the whole
population of firms of the year. This module

- picks several test years (:func:`rolling_origins`); the caller refits the formula on the years before
  each one and scores that year's test loans and population with it;
- measures each year the way the policy works (:func:`policy_metrics`): the cut-off that qualifies the top
  ``share`` of the *population*, the default rate of the test loans that reach it, and how many defaults
  the lowest-scored 10%, 20%, 30% of test loans hold;
- puts the years side by side with a pooled row and flags thin years (:func:`backtest`).

Intervals
    AUC, ΔAUC and capture: 95% percentile bootstrap of loans. Each resample draws the defaults and the
    non-defaults of a year separately with replacement (as :func:`~.metrics.paired_bootstrap` does), so it
    keeps every year's counts of defaults; a candidate and its baseline are scored on the same resample.
    The qualified default rate: Wilson score interval (:func:`~innopoints.models.policy.loss.wilson_interval`),
    which stays informative when the qualified loans hold no default at all (0 of 200 gives [0, 1.9%]),
    where a bootstrap collapses to [0, 0].

Pooled row
    Each year is scored by its own refit, so points of different years need not share a scale. The pooled
    row therefore compares loans only within their year: the pooled AUC counts default/non-default pairs
    of the same year (the pair-weighted mean of the yearly AUCs), pooled capture adds up the defaults in
    each year's own lowest-scored loans, and a loan qualifies under its own year's cut-off.

Same inputs give identical outputs: every bootstrap starts from ``numpy.random.default_rng(seed)``, a
year's numbers do not depend on which other years are backtested, and rows are put in a canonical order
before resampling, so shuffling the input rows changes nothing either.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from innopoints.features.errors import EvaluationError
from innopoints.models.evaluation.evaluate import _flags, _numeric, _observed, _require
from innopoints.models.evaluation.metrics import (
    QUALIFIED_SHARE,
    _auc_counts,
    _binary,
    _both_classes,
    _scores,
    top_mask,
)
from innopoints.models.policy.loss import wilson_interval

__all__ = [
    "MIN_TEST_DEFAULTS",
    "backtest",
    "interval_note",
    "policy_metrics",
    "rolling_origins",
]

MIN_TEST_DEFAULTS = 30
# Defaults, not loans, set the precision of a ranking metric. With 30 defaults among ~1,500 loans the AUC of a
# formula near 0.7 has a standard error of about 0.05 (Hanley & McNeil; 0.048 by simulation), a 95% interval
# of about ±0.1; with fewer it widens quickly (24 defaults: 0.053) and a year can no longer tell a useful
# formula (0.7) from a weak one (0.6). So 30 is a floor for a readable number, not a promise of precision:
# halving the interval takes four times the defaults (~120, e.g. four pooled years, SE ≈ 0.027).

CI = 0.95
"""Coverage of every interval reported here."""


# -------------------------------------------------------------------------------------------- test years


def rolling_origins(
    loans: pd.DataFrame,
    k: int,
    *,
    min_train_years: int = 2,
    min_defaults: int = 1,
    year_col: str = "year",
) -> list[int]:
    """The last ``k`` origination years that can serve as out-of-time test years, most recent last.

    Only loans with ``outcome_observed == True`` count. Year ``Y`` qualifies when its observed loans hold at
    least ``min_defaults`` defaults and at least one non-default (AUC needs both), and at least
    ``min_train_years`` earlier years have observed loans (the refit for ``Y`` trains on every observed year
    before it). Years short of ``MIN_TEST_DEFAULTS`` defaults are kept: :func:`backtest` flags them, and the
    pooled row is what makes them useful. Fewer than ``k`` years are returned when fewer qualify.

    Raises
    ------
    EvaluationError
        When ``k``, ``min_train_years`` or ``min_defaults`` is below 1, a column is missing, or no year
        qualifies (the message lists every observed year with its defaults and earlier years).
    """
    for name, value in (("k", k), ("min_train_years", min_train_years), ("min_defaults", min_defaults)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise EvaluationError(f"rolling_origins: {name} must be a whole number >= 1, got {value!r}")
    _require(loans, (year_col,), "loans")
    observed, _ = _observed(loans, "loans")
    if observed.empty:
        raise EvaluationError("loans: no loan has outcome_observed == True, so no year can be a test year")
    years = _numeric(observed, year_col, "loans").astype(np.int64)
    defaulted = _flags(observed, "defaulted", "loans")
    distinct = np.unique(years)
    counts = []
    for position, year in enumerate(distinct):
        in_year = years == year
        counts.append((int(year), int(defaulted[in_year].sum()), int(in_year.sum()), position))
    eligible = [
        year
        for year, n_def, n, earlier in counts
        if n_def >= min_defaults and n_def < n and earlier >= min_train_years
    ]
    if not eligible:
        listing = ", ".join(f"{y}: {d} defaults of {n} loans, {e} earlier years" for y, d, n, e in counts)
        raise EvaluationError(
            f"loans: no origination year can serve as a test year (rule: at least {min_defaults} default(s) "
            f"and one non-default among its observed loans, and at least {min_train_years} earlier years "
            f"with observed loans); observed years: {listing}"
        )
    return eligible[-k:]


def interval_note(n_defaults: int, min_defaults: int = MIN_TEST_DEFAULTS) -> str | None:
    """The warning a report shows next to intervals resting on too few defaults, or None when enough."""
    if n_defaults >= min_defaults:
        return None
    return f"only {n_defaults} test defaults (< {min_defaults}): intervals are wide"


# ---------------------------------------------------------------------------------- one block of loans


@dataclass(frozen=True)
class _Block:
    """The test loans of one year, ready to resample: group ids of equal points, lowest points first."""

    groups: np.ndarray
    n_groups: int
    base_groups: np.ndarray | None
    n_base_groups: int
    pos_rows: np.ndarray
    neg_rows: np.ndarray


def _block(y: np.ndarray, points: np.ndarray, baseline: np.ndarray | None) -> _Block:
    # Rows in a canonical order within each class, so that the draws do not depend on the input row order.
    key = (points,) if baseline is None else (baseline, points)
    order = np.lexsort(key)
    pos_rows, neg_rows = order[y[order] == 1], order[y[order] == 0]
    _, groups = np.unique(points, return_inverse=True)
    base_groups, n_base = None, 0
    if baseline is not None:
        uniq, base_groups = np.unique(baseline, return_inverse=True)
        n_base = len(uniq)
    return _Block(groups, int(groups.max()) + 1, base_groups, n_base, pos_rows, neg_rows)


def _fractions(deciles: Sequence[int]) -> np.ndarray:
    return np.array([d / 10.0 for d in deciles])


def _captured(pos: np.ndarray, total: np.ndarray, fraction: float) -> float:
    """Defaults among the lowest-scored ``fraction`` of loans, from counts per points group (lowest first).

    The group straddling the line counts in proportion to the part of it inside: what a random tie-break
    gives on average, so the result depends neither on row order nor on how coarse the points are.
    """
    inside = round(fraction * total.sum(), 9)
    before = np.cumsum(total) - total
    part = np.clip((inside - before) / np.maximum(total, 1.0), 0.0, 1.0)
    return float((part * pos).sum())


def _pair_wins(pos: np.ndarray, neg: np.ndarray) -> float:
    """Default/non-default pairs the points rank correctly (ties one half); groups lowest points first."""
    # _auc_counts takes groups by ascending risk, i.e. by descending points.
    return _auc_counts(pos[::-1], neg[::-1]) * pos.sum() * neg.sum()


def _block_stats(block: _Block, pos_rows: np.ndarray, neg_rows: np.ndarray, fractions: np.ndarray) -> np.ndarray:
    """Additive statistics of one draw: pair wins, pairs, baseline wins, captured defaults, defaults."""
    pos = np.bincount(block.groups[pos_rows], minlength=block.n_groups).astype(np.float64)
    neg = np.bincount(block.groups[neg_rows], minlength=block.n_groups).astype(np.float64)
    total = pos + neg
    base_wins = 0.0
    if block.base_groups is not None:
        base_pos = np.bincount(block.base_groups[pos_rows], minlength=block.n_base_groups).astype(np.float64)
        base_neg = np.bincount(block.base_groups[neg_rows], minlength=block.n_base_groups).astype(np.float64)
        base_wins = _pair_wins(base_pos, base_neg)
    captured = [_captured(pos, total, f) for f in fractions]
    return np.array([_pair_wins(pos, neg), pos.sum() * neg.sum(), base_wins, *captured, pos.sum()])


def _bootstrap(blocks: Sequence[_Block], fractions: np.ndarray, n_boot: int, seed: int):
    """Statistics of the full sample and of ``n_boot`` resamples drawn within year and default status."""
    full = sum(_block_stats(b, b.pos_rows, b.neg_rows, fractions) for b in blocks)
    rng = np.random.default_rng(seed)
    boot = np.empty((n_boot, len(full)))
    for i in range(n_boot):
        boot[i] = sum(
            _block_stats(
                b,
                b.pos_rows[rng.integers(0, len(b.pos_rows), len(b.pos_rows))],
                b.neg_rows[rng.integers(0, len(b.neg_rows), len(b.neg_rows))],
                fractions,
            )
            for b in blocks
        )
    return full, boot


def _metrics(stats: np.ndarray, deciles: Sequence[int]) -> dict[str, np.ndarray]:
    """AUC, baseline AUC and capture from summed statistics (a vector, or one row per resample)."""
    out = {"auc": stats[..., 0] / stats[..., 1], "baseline_auc": stats[..., 2] / stats[..., 1]}
    for i, d in enumerate(deciles):
        out[_capture_key(d)] = stats[..., 3 + i] / stats[..., -1]
    return out


def _capture_key(decile: int) -> str:
    return f"capture_bottom{10 * decile}"


def _percentiles(values: np.ndarray) -> tuple[float, float]:
    alpha = (1.0 - CI) / 2.0
    low, high = np.quantile(values, [alpha, 1.0 - alpha])
    return float(low), float(high)


# ------------------------------------------------------------------------------------------ the policy


def _check_settings(deciles: Sequence[int], n_boot: int) -> tuple[int, ...]:
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 1:
        raise EvaluationError(f"n_boot: must be a whole number >= 1, got {n_boot!r}")
    for d in deciles:
        if isinstance(d, bool) or not isinstance(d, (int, np.integer)) or not 1 <= d <= 9:
            raise EvaluationError(
                f"deciles: each must be a whole number from 1 to 9 (1 = the lowest-scored 10% of test loans), "
                f"got {d!r}"
            )
    return tuple(sorted({int(d) for d in deciles}))


def _qualification(points: np.ndarray, population: np.ndarray, share: float) -> tuple[np.ndarray, dict]:
    """Which test loans qualify under the population's cut-off, and the cut-off's numbers."""
    pop = np.asarray(population, dtype=np.float64)
    pop = _scores(pop, len(pop), "population_points")
    if len(pop) == 0:
        raise EvaluationError("population_points: no firms, so there is no cut-off to qualify test loans by")
    in_pop, cutoff = top_mask(pop, share)
    return points >= cutoff, {
        "share": float(share),
        "cutoff": cutoff,
        "population_n": len(pop),
        "population_qualified": int(in_pop.sum()),
        "population_qualified_share": float(in_pop.mean()),
    }


def _qualified_rate(y: np.ndarray, qualified: np.ndarray) -> dict:
    n, d = int(qualified.sum()), int(y[qualified].sum())
    rate = low = high = None
    if n:
        low_arr, high_arr = wilson_interval(d, n, CI)
        rate, low, high = d / n, float(low_arr), float(high_arr)
    return {
        "qualified_n": n,
        "qualified_test_share": n / len(y),
        "qualified_defaults": d,
        "qualified_default_rate": rate,
        "qualified_default_rate_low": low,
        "qualified_default_rate_high": high,
        "qualified_interval": "wilson",
    }


def _capture_fields(full: dict, boot: dict, deciles: Sequence[int]) -> dict:
    out: dict = {}
    for d in deciles:
        key = _capture_key(d)
        low, high = _percentiles(boot[key])
        out.update({key: float(full[key]), f"{key}_low": low, f"{key}_high": high})
    return out


def policy_metrics(
    y_test,
    points_test,
    population_points,
    *,
    share: float = QUALIFIED_SHARE,
    n_boot: int = 1000,
    seed: int = 0,
    deciles: Sequence[int] = (1, 2, 3),
) -> dict:
    """What the policy would have done with one year's test loans, judged on their outcomes.

    Cut-off and ties: the cut-off is the points of the ``k``-th best firm of the *population*,
    ``k = ceil(share * n_firms)``, and every firm (and test loan) with points at or above it qualifies, so
    firms tied at the cut-off all qualify (as :func:`~.metrics.top_mask` rules). The test loans are not
    used to place the cut-off: borrowers score better than the population, so more than ``share`` of them
    usually qualify (``qualified_test_share``).

    Capture: the lowest-scored ``d``·10% of test loans is ``d / 10 * n`` loans counted from the lowest
    points up; a group of loans tied at the line counts in proportion to the part of it inside (the mean
    of a random tie-break), so ties never favour a formula and the result does not depend on row order.

    Args:
        y_test: default flags (bool or 0/1) of the test loans, at least one default and one non-default.
        points_test: points of the test loans (higher = safer).
        population_points: points of every firm scored in the test year (one value per firm).
        share: qualified share of the population.
        n_boot, seed: resamples and seed of the capture bootstrap (defaults and non-defaults drawn apart).
        deciles: which lowest-scored tenths of the test loans to report capture for.

    Returns:
        dict with ``n_loans`` and ``n_defaults`` (the test defaults every interval rests on); the cut-off:
        ``share``, ``cutoff``, ``population_n``, ``population_qualified``, ``population_qualified_share``;
        the qualified test loans: ``qualified_n``, ``qualified_test_share``, ``qualified_defaults``,
        ``qualified_default_rate`` with ``_low`` / ``_high`` (None when no test loan qualifies; NaN in
        :func:`backtest`) and
        ``qualified_interval`` = ``"wilson"``; per decile ``capture_bottom{10d}`` with ``_low`` / ``_high``;
        ``capture_interval`` = ``"bootstrap"``, ``n_boot``, ``seed``.
    """
    deciles = _check_settings(deciles, n_boot)
    y = _binary(y_test, "y_test")
    points = _scores(points_test, len(y), "points_test")
    _both_classes(y, "policy_metrics")
    qualified, cut = _qualification(points, population_points, share)
    full, boot = _bootstrap([_block(y, points, None)], _fractions(deciles), n_boot, seed)
    return {
        "n_loans": len(y),
        "n_defaults": int(y.sum()),
        **cut,
        **_qualified_rate(y, qualified),
        **_capture_fields(_metrics(full, deciles), _metrics(boot, deciles), deciles),
        "capture_interval": "bootstrap",
        "n_boot": int(n_boot),
        "seed": int(seed),
    }


# ---------------------------------------------------------------------------------------------- backtest


@dataclass(frozen=True)
class _Year:
    year: int
    y: np.ndarray
    points: np.ndarray
    baseline: np.ndarray | None
    qualified: np.ndarray
    cut: dict
    n_unobserved: int


def _years(loans: pd.DataFrame, population: pd.DataFrame, points_col: str, baseline_col: str | None,
           year_col: str, share: float) -> list[_Year]:
    """Check both tables and split them into test years, each with its population's cut-off applied."""
    _require(loans, (year_col, "defaulted", "outcome_observed", points_col), "loans")
    _require(population, (year_col, points_col), "population")
    loan_years = _numeric(loans, year_col, "loans").astype(np.int64)
    pop_years = _numeric(population, year_col, "population").astype(np.int64)
    pop_points = _numeric(population, points_col, "population")
    if "firm_id" in population.columns:
        twice = population.duplicated([year_col, "firm_id"])
        if twice.any():
            first = int(np.argmax(twice.to_numpy()))
            raise EvaluationError(
                f"population: one row per firm and year (rule: a firm is counted once against the cut-off), "
                f"e.g. firm {population['firm_id'].iloc[first]} appears twice in {pop_years[first]}"
            )
    out = []
    for year in np.unique(loan_years):
        rows = loans.loc[loan_years == year]
        test, n_unobserved = _observed(rows, "loans")
        y = _flags(test, "defaulted", "loans").astype(np.int64)
        n_def = int(y.sum())
        if n_def == 0 or n_def == len(y):
            raise EvaluationError(
                f"loans: test year {year} has {n_def} defaults among {len(y)} observed loans; AUC needs both "
                "defaults and non-defaults (pick test years with rolling_origins)"
            )
        in_pop = pop_years == year
        if not in_pop.any():
            raise EvaluationError(
                f"population: no firm scored in test year {year} (rule: the cut-off is taken on the population "
                f"of the test year); population years are {sorted(int(v) for v in np.unique(pop_years))}"
            )
        points = _numeric(test, points_col, "loans")
        baseline = None if baseline_col is None else _numeric(test, baseline_col, "loans")
        qualified, cut = _qualification(points, pop_points[in_pop], share)
        out.append(_Year(int(year), y, points, baseline, qualified, cut, n_unobserved))
    if not out:
        raise EvaluationError("loans: no test loans to backtest")
    return out


def _row(years: Sequence[_Year], deciles: tuple[int, ...], *, n_boot: int, seed: int,
         min_test_defaults: int, has_baseline: bool) -> dict:
    """One line of the backtest table for one year, or for several years pooled."""
    y = np.concatenate([t.y for t in years])
    qualified = np.concatenate([t.qualified for t in years])
    n_def = int(y.sum())
    blocks = [_block(t.y, t.points, t.baseline) for t in years]
    full, boot = _bootstrap(blocks, _fractions(deciles), n_boot, seed)
    full_m, boot_m = _metrics(full, deciles), _metrics(boot, deciles)
    note = interval_note(n_def, min_test_defaults)
    row: dict = {
        "test_year": years[0].year if len(years) == 1 else "pooled",
        "n_loans": len(y),
        "n_defaults": n_def,
        "default_rate": n_def / len(y),
        "n_unobserved": sum(t.n_unobserved for t in years),
        "thin": note is not None,
        "warning": note,
        "auc": float(full_m["auc"]),
    }
    row["auc_low"], row["auc_high"] = _percentiles(boot_m["auc"])
    if has_baseline:
        row["baseline_auc"] = float(full_m["baseline_auc"])
        row["delta_auc"] = float(full_m["auc"] - full_m["baseline_auc"])
        row["delta_auc_low"], row["delta_auc_high"] = _percentiles(boot_m["auc"] - boot_m["baseline_auc"])
    if len(years) == 1:
        cut = years[0].cut
    else:
        # Every year has its own cut-off; the pooled row adds up the firms and keeps no single cut-off.
        pop_n = sum(t.cut["population_n"] for t in years)
        pop_q = sum(t.cut["population_qualified"] for t in years)
        cut = {"share": years[0].cut["share"], "cutoff": math.nan, "population_n": pop_n,
               "population_qualified": pop_q, "population_qualified_share": pop_q / pop_n}
    row.update(cut)
    row.update(_qualified_rate(y, qualified))
    row.update(_capture_fields(full_m, boot_m, deciles))
    row["bootstrap_strata"] = "defaulted" if len(years) == 1 else "year x defaulted"
    row["n_boot"], row["seed"] = int(n_boot), int(seed)
    return row


def backtest(
    loans: pd.DataFrame,
    population: pd.DataFrame,
    *,
    points_col: str = "points",
    baseline_col: str | None = None,
    year_col: str = "year",
    share: float = QUALIFIED_SHARE,
    n_boot: int = 1000,
    seed: int = 0,
    min_test_defaults: int = MIN_TEST_DEFAULTS,
    deciles: Sequence[int] = (1, 2, 3),
) -> pd.DataFrame:
    """One row per test year and a pooled row (two years or more): AUC, ΔAUC against a baseline and the policy metrics.

    The caller refits the formula once per test year ``Y`` on the years before it (:func:`rolling_origins`
    picks the years) and scores with that refit both the test loans of ``Y`` and the population of ``Y``.

    Args:
        loans: test loans of every test year: ``year_col``, ``defaulted``, ``outcome_observed``,
            ``points_col`` and optionally ``baseline_col`` (points of the formula to beat, same years).
            Loans whose outcome is not observed are left out and counted in ``n_unobserved``. Every year
            present is a test year and needs a default and a non-default.
        population: every firm scored in each test year: ``year_col`` and ``points_col`` (and, if given,
            ``firm_id``, which must be unique within a year). Only the years of ``loans`` are used.
        share: qualified share of each year's population (ties at the cut-off qualify, see
            :func:`policy_metrics`).
        n_boot, seed: resamples and seed of every bootstrap; each row starts from the same seed.
        min_test_defaults: below it a row is ``thin`` and carries a ``warning``.
        deciles: lowest-scored tenths of test loans to report capture for.

    Returns:
        DataFrame, one row per test year (ascending) and, with two years or more, a last row with
        ``test_year == "pooled"``:
        ``test_year``, ``n_loans``, ``n_defaults`` (the defaults every interval of the row rests on),
        ``default_rate``, ``n_unobserved``, ``thin``, ``warning`` (:func:`interval_note`, missing unless
        thin), ``auc``, ``auc_low``, ``auc_high``; with a baseline ``baseline_auc``, ``delta_auc``
        (formula minus baseline), ``delta_auc_low``, ``delta_auc_high``; then the keys of
        :func:`policy_metrics` from ``share`` on (``cutoff`` is NaN in the pooled row, whose population
        counts add up the years), ``bootstrap_strata`` (``"defaulted"`` or ``"year x defaulted"``),
        ``n_boot`` and ``seed``.
    """
    deciles = _check_settings(deciles, n_boot)
    if baseline_col is not None and baseline_col == points_col:
        raise EvaluationError(f"baseline_col: must differ from points_col, both are {points_col!r}")
    years = _years(loans, population, points_col, baseline_col, year_col, share)
    settings = {"n_boot": n_boot, "seed": seed, "min_test_defaults": min_test_defaults,
                "has_baseline": baseline_col is not None}
    rows = [_row([t], deciles, **settings) for t in years]
    if len(years) > 1:  # one year is its own total: a pooled row would repeat it under the same label
        rows.append(_row(years, deciles, **settings))
    return pd.DataFrame(rows)
