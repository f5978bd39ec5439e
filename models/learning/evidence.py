"""Evidence from refits: what the data say about every indicator and every cluster of twins, with intervals.

One fitted model overstates certainty, so the evidence comes from ``R`` refits of the default model on
bootstrap resamples of **firms** (all loans of a drawn firm come together, so a firm's repeated loans never
sit on both sides of a comparison). Each refit also sees a **shadow** copy of every indicator: the whole
indicator block with its rows permuted by one permutation, so the shadows keep the indicators' joint
distribution (twins stay twins) but carry no link to default; a loan drawn twice gets the same shadow row
twice, as it has the same real row twice. From each refit:

- **importance**: mean |SHAP| on the default log-odds over a sample of the refit's rows, per indicator and per
  cluster (|sum of the members' SHAP| per row, so twins that share credit add up);
- **the best shadow**: the largest importance of any shadow indicator (or shadow cluster): what an indicator
  with no link at all reaches by chance in that refit. An indicator (cluster) *beats the noise* in a refit
  when its importance exceeds the best shadow's (Boruta's rule);
- **learned direction**: how SHAP moves with the value (:func:`innopoints.models.learning.explain.learned_direction`);
- **incremental value**: the AUC lost on the refit's out-of-bag firms when the indicator (or the whole
  cluster) is permuted there; the model keeps every other indicator, so a twin's incremental value is what
  it adds beyond its twins.

Across refits each number gets a 95 % percentile interval and each yes/no a share of refits. The rules that
turn those shares into verdicts (:data:`STABLE`, :data:`NOISE`) are here; the verdicts themselves are made in
:mod:`innopoints.models.learning.refine`.

Twins are clusters of indicators that move together: average-linkage clusters of ``1 − |Spearman|`` cut at
``1 − CLUSTER_CORR`` on the training loans (pairwise complete rows; a pair with too few common rows counts as
unrelated).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import squareform

from innopoints.features.stage import STAGES
from innopoints.models.evaluation.metrics import auc
from innopoints.models.learning.explain import learned_direction
from innopoints.models.learning.learners import LGBMDefaultModel, TreeSubsets, map_on_threads

CLUSTER_CORR = 0.8
"""|Spearman| at or above which two indicators are twins (average linkage)."""

STABLE = 0.8
"""Share of refits that makes a finding reliable: beating the best shadow, a learned direction, one twin
being more important than another."""

NOISE = 0.2
"""Share of refits at or below which beating the best shadow counts as chance: "no measurable link". Between
:data:`NOISE` and :data:`STABLE` the evidence is insufficient either way: "uncertain"."""

CLEAR = 0.5
"""Share of refits that must show a clear direction (either way) before a direction can be learned."""

INTERVAL = (2.5, 97.5)
SHADOW = "shadow__"


@dataclass(frozen=True)
class EvidenceSettings:
    """How the refits are made. Every refit is seeded by ``(seed, r)``; results do not depend on ``workers``
    (refits at a time; train's reference-model fits use the same number)."""

    refits: int = 30
    max_rows: int = 15_000  # loans per refit at most: firms are drawn so the resample has about this many
    shap_rows: int = 1_000  # rows of each refit explained with exact TreeSHAP
    oob_rows: int = 8_000  # out-of-bag loans scored for the incremental value, at most
    n_estimators: int = 100
    learning_rate: float = 0.1
    num_leaves: int = 7
    min_child_samples: int = 50
    workers: int = 2
    seed: int = 1
    cluster_corr: float = CLUSTER_CORR


@dataclass
class Evidence:
    """What the refits found.

    ``indicators``: one row per indicator id with ``cluster``, ``importance`` / ``importance_lo`` /
    ``importance_hi`` / ``importance_share``, ``importance_excess`` (mean importance above the indicator's own
    shadow) and ``rank`` (by it), ``beats_noise`` (share of refits), ``link`` (``yes`` / ``uncertain`` /
    ``no``), ``direction`` (the learned direction where it is stable, else 0), ``direction_share`` (share of
    refits that learned the modal non-zero direction), ``direction_opposite`` (share that learned the other
    one), ``direction_mode``, ``incremental`` / ``incremental_lo`` / ``incremental_hi`` (AUC lost when
    permuted out of bag) and ``missing_share``.
    ``clusters``: one row per cluster with ``members``, the same importance, link and incremental columns,
    ``importance_excess`` (above the same members' shadow cluster) and ``rank`` (by it).
    ``groups``: per indicator group, ``mean_abs_shap`` (|sum of its members' SHAP|), ``lo``, ``hi``,
    ``share``, ``n_indicators``, ``rank``. ``stage_importance``: mean |SHAP| per stage (rows) and indicator
    (columns), averaged over refits.
    ``shadow``: the best shadow's importance (mean and interval) for indicators and for clusters.
    ``per_refit``: the raw per-refit arrays (for intervals of anything derived from the same resamples).
    ``resamples``: the row positions of every refit's resample.
    """

    indicators: pd.DataFrame
    clusters: pd.DataFrame
    groups: pd.DataFrame
    stage_importance: pd.DataFrame
    shadow: dict
    per_refit: dict[str, np.ndarray]
    resamples: list[np.ndarray]
    settings: EvidenceSettings


# ------------------------------------------------------------------------------------------------ twins


def twin_clusters(X: pd.DataFrame, threshold: float = CLUSTER_CORR, min_rows: int = 30) -> dict[str, int]:
    """Cluster id per indicator (1, 2, ... in order of first member): average linkage on 1 − |Spearman|."""
    ids = list(X.columns)
    if len(ids) == 1:
        return {ids[0]: 1}
    corr = X.rank().corr(method="pearson", min_periods=min_rows).abs().fillna(0.0).to_numpy().copy()
    np.fill_diagonal(corr, 1.0)
    dist = np.clip(1.0 - (corr + corr.T) / 2.0, 0.0, 1.0)
    labels = fcluster(linkage(squareform(dist, checks=False), method="average"), t=1.0 - threshold,
                      criterion="distance")
    first: dict[int, int] = {}
    for lab in labels:
        first.setdefault(int(lab), len(first) + 1)
    return {i: first[int(lab)] for i, lab in zip(ids, labels, strict=True)}


# ---------------------------------------------------------------------------------------------- resamples


def firm_resample(firm_codes: np.ndarray, n_draw: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Row positions of ``n_draw`` firms drawn with replacement (every loan of a drawn firm, repeated as often
    as it is drawn), and a boolean mask of the rows whose firm was not drawn (out of bag)."""
    n_firms = int(firm_codes.max()) + 1 if firm_codes.size else 0
    order = np.argsort(firm_codes, kind="stable")
    counts = np.bincount(firm_codes, minlength=n_firms)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    drawn = np.sort(rng.integers(0, n_firms, size=n_draw))
    take = counts[drawn]
    total = int(take.sum())
    offsets = np.repeat(starts[drawn] - np.concatenate([[0], np.cumsum(take)[:-1]]), take) + np.arange(total)
    in_bag = np.zeros(n_firms, bool)
    in_bag[drawn] = True
    return order[offsets], ~in_bag[firm_codes]


# ------------------------------------------------------------------------------------------------ refits


def _cluster_sums(values: np.ndarray, members: list[np.ndarray]) -> np.ndarray:
    """(rows, clusters): the sum of each cluster's member columns."""
    return np.column_stack([values[:, m].sum(axis=1) for m in members])


def _one_refit(r: int, X: np.ndarray, y: np.ndarray, firm_codes: np.ndarray, stage_codes: np.ndarray,
               members: list[np.ndarray], group_members: list[np.ndarray], ids: list[str],
               settings: EvidenceSettings) -> dict[str, np.ndarray]:
    rng = np.random.default_rng([settings.seed, r])
    n, k = X.shape
    n_firms = int(firm_codes.max()) + 1
    n_draw = min(n_firms, max(1, math.ceil(n_firms * settings.max_rows / n)))
    rows, oob = firm_resample(firm_codes, n_draw, rng)
    Xr, yr = X[rows], y[rows]
    # One permutation of the original loans, so a loan drawn twice gets the same shadow row twice: otherwise
    # a real indicator with distinct values could tell duplicated loans apart (and memorise their outcome)
    # where its shadow could not, and noise would beat the shadows.
    shadow = X[rng.permutation(n)[rows]]
    names = ids + [SHADOW + i for i in ids]
    model = LGBMDefaultModel(n_estimators=settings.n_estimators, learning_rate=settings.learning_rate,
                             num_leaves=settings.num_leaves, min_child_samples=settings.min_child_samples,
                             early_stopping_rounds=None, n_jobs=1, seed=settings.seed + r)
    model.fit(pd.DataFrame(np.hstack([Xr, shadow]), columns=names), yr)
    pick = np.sort(rng.choice(len(rows), size=min(settings.shap_rows, len(rows)), replace=False))
    sample = pd.DataFrame(np.hstack([Xr[pick], shadow[pick]]), columns=names)
    contrib = model.booster_.predict(sample.to_numpy(), pred_contrib=True, num_threads=1)[:, :-1]
    real, fake = contrib[:, :k], contrib[:, k:]
    stage_imp = np.vstack([np.abs(real[stage_codes[rows[pick]] == c]).mean(axis=0)
                           if (stage_codes[rows[pick]] == c).any() else np.full(k, np.nan)
                           for c in range(len(STAGES))])
    directions = learned_direction(pd.DataFrame(real, columns=ids), pd.DataFrame(Xr[pick], columns=ids))
    # Out of bag: the firms this refit never saw; their shadow block is permuted among themselves.
    oob_rows = np.flatnonzero(oob)
    if oob_rows.size > settings.oob_rows:
        oob_rows = np.sort(rng.choice(oob_rows, size=settings.oob_rows, replace=False))
    incremental = np.full(k, np.nan)
    cluster_incremental = np.full(len(members), np.nan)
    yo = y[oob_rows]
    if 0 < yo.sum() < yo.size:
        Xo = X[oob_rows]
        block = np.hstack([Xo, Xo[rng.permutation(oob_rows.size)]])
        trees = TreeSubsets(model.booster_)
        per_tree = trees.per_tree(block)
        base = auc(yo, per_tree.sum(axis=1))
        perm = rng.permutation(oob_rows.size)

        def lost(cols: np.ndarray) -> float:
            shuffled = block.copy()
            shuffled[:, cols] = block[perm][:, cols]
            return base - auc(yo, trees.raw_score(per_tree, shuffled, cols))

        # Scoring is the cost here: only the trees that split on the permuted columns are scored again
        # (TreeSubsets), and a lone indicator's value is its cluster's.
        cluster_incremental = np.array([lost(m) for m in members])
        for c, m in enumerate(members):
            incremental[m] = cluster_incremental[c] if m.size == 1 else [lost(np.array([j])) for j in m]
    return {
        "importance": np.abs(real).mean(axis=0),
        "shadow_importance": np.abs(fake).mean(axis=0),
        "cluster_importance": np.abs(_cluster_sums(real, members)).mean(axis=0),
        "group_importance": np.abs(_cluster_sums(real, group_members)).mean(axis=0),
        "shadow_cluster_importance": np.abs(_cluster_sums(fake, members)).mean(axis=0),
        "stage_importance": stage_imp,
        "direction": directions["direction"].to_numpy(),
        "incremental": incremental,
        "cluster_incremental": cluster_incremental,
        "rows": rows,
    }


def _interval(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and 95 % percentile interval over refits (axis 0), ignoring refits without a value (a column no
    refit could value stays NaN, without numpy's warning)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(values, axis=0)
        lo, hi = np.nanpercentile(values, INTERVAL, axis=0)
    return mean, lo, hi


def link_status(beats: np.ndarray) -> np.ndarray:
    """``yes`` / ``uncertain`` / ``no`` from the share of refits that beat the best shadow."""
    return np.where(beats >= STABLE, "yes", np.where(beats <= NOISE, "no", "uncertain"))


def _stable_direction(directions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per indicator: the modal non-zero direction, the share of refits that learned it, the share that learned
    the opposite, and the learned direction: the mode where at least :data:`CLEAR` of the refits show a clear
    direction and at least :data:`STABLE` of those agree (else 0). A refit whose model barely uses the
    indicator shows no clear direction; that is no evidence for the opposite one."""
    up = (directions == 1).mean(axis=0)
    down = (directions == -1).mean(axis=0)
    mode = np.where(up >= down, 1, -1)
    share, opposite = np.maximum(up, down), np.minimum(up, down)
    clear = up + down
    mode = np.where(share > 0, mode, 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        agree = np.where(clear > 0, share / np.where(clear > 0, clear, 1.0), 0.0)
    return mode, share, opposite, np.where((clear >= CLEAR) & (agree >= STABLE), mode, 0)


def _summary(importance: np.ndarray, shadow: np.ndarray, best_shadow: np.ndarray, incremental: np.ndarray,
             index: pd.Index) -> pd.DataFrame:
    """Per column over refits: importance with interval and share, the share of refits beating the best
    shadow and the link it gives, incremental value with interval, importance above the column's own shadow
    (``importance_excess``) and the rank by it (ties by label)."""
    imp, lo, hi = _interval(importance)
    inc, inc_lo, inc_hi = _interval(incremental)
    beats = (importance > best_shadow[:, None]).mean(axis=0)
    excess = np.nanmean(importance - shadow, axis=0)
    total = imp.sum()
    frame = pd.DataFrame({
        "importance": imp, "importance_lo": lo, "importance_hi": hi,
        "importance_share": imp / total if total > 0 else np.zeros_like(imp),
        "beats_noise": beats, "link": link_status(beats),
        "incremental": inc, "incremental_lo": inc_lo, "incremental_hi": inc_hi,
        "importance_excess": excess,
    }, index=index)
    order = sorted(range(len(index)), key=lambda j: (-excess[j], index[j]))
    rank = np.zeros(len(index), dtype=np.int64)
    rank[order] = np.arange(1, len(index) + 1)
    frame["rank"] = rank
    return frame


def gather_evidence(X: pd.DataFrame, y: np.ndarray, firm_ids: Sequence, stage_codes: np.ndarray,
                    settings: EvidenceSettings, groups: dict[str, str] | None = None) -> Evidence:
    """Refit the default model ``settings.refits`` times and summarise (see the module docstring).

    Args:
        X: indicator values of the training loans (one float column per indicator id, NaN = missing).
        y: 1 = defaulted, one per row of ``X``.
        firm_ids: the firm of every loan (resampling unit).
        stage_codes: lifecycle stage code per loan (index into ``STAGES``).
        settings: :class:`EvidenceSettings`.
        groups: indicator id to group, for the importance of each group (|sum of its members' SHAP|).
    Returns:
        :class:`Evidence`.
    """
    ids = list(X.columns)
    values = X.to_numpy(dtype="float64")
    yv = np.asarray(y, dtype="float64")
    firm_codes = pd.factorize(pd.Series(list(firm_ids) if not isinstance(firm_ids, pd.Series) else firm_ids),
                              sort=True)[0].astype(np.int64)
    cluster_of = twin_clusters(X, settings.cluster_corr)
    labels = sorted(set(cluster_of.values()))
    members = [np.array([j for j, i in enumerate(ids) if cluster_of[i] == c]) for c in labels]
    group_of = {i: (groups or {}).get(i, "other") for i in ids}
    group_labels = sorted(set(group_of.values()))
    group_members = [np.array([j for j, i in enumerate(ids) if group_of[i] == g]) for g in group_labels]

    def run(r: int) -> dict[str, np.ndarray]:
        return _one_refit(r, values, yv, firm_codes, np.asarray(stage_codes), members, group_members, ids,
                          settings)

    refits = map_on_threads(run, range(settings.refits), settings.workers)
    per = {key: np.stack([f[key] for f in refits]) for key in refits[0] if key != "rows"}
    best_shadow = per["shadow_importance"].max(axis=1)
    best_shadow_cluster = np.maximum(per["shadow_cluster_importance"].max(axis=1), best_shadow)
    per["best_shadow"] = best_shadow
    per["best_shadow_cluster"] = best_shadow_cluster

    # Indicators and clusters are summarised alike; both are ranked by importance above their own shadow:
    # what chance alone gives a column like it (or the same members on the shadow block) is taken off, since
    # a heavy-tailed column earns some |SHAP| from noise splits and summing twins adds their noise too.
    indicators = _summary(per["importance"], per["shadow_importance"], best_shadow, per["incremental"],
                          pd.Index(ids, name="id"))
    mode, share, opposite, stable = _stable_direction(per["direction"])
    indicators.insert(0, "cluster", [cluster_of[i] for i in ids])
    indicators["direction"] = stable.astype(np.int64)
    indicators["direction_mode"] = mode.astype(np.int64)
    indicators["direction_share"] = share
    indicators["direction_opposite"] = opposite
    indicators["missing_share"] = X.isna().mean().to_numpy()
    clusters = _summary(per["cluster_importance"], per["shadow_cluster_importance"], best_shadow_cluster,
                        per["cluster_incremental"], pd.Index(labels, name="cluster"))
    clusters.insert(0, "members", [[ids[j] for j in m] for m in members])

    g_imp, g_lo, g_hi = _interval(per["group_importance"])
    groups_frame = pd.DataFrame({
        "mean_abs_shap": g_imp, "lo": g_lo, "hi": g_hi,
        "share": g_imp / g_imp.sum() if g_imp.sum() > 0 else np.zeros_like(g_imp),
        "n_indicators": [m.size for m in group_members],
    }, index=pd.Index(group_labels, name="group")).sort_values(["mean_abs_shap"], ascending=False, kind="stable")
    groups_frame["rank"] = np.arange(1, len(group_labels) + 1)
    stage_imp = pd.DataFrame(np.nan_to_num(_interval(per["stage_importance"])[0]), index=list(STAGES),
                             columns=ids)
    s_mean, s_lo, s_hi = _interval(best_shadow[:, None])
    sc_mean, sc_lo, sc_hi = _interval(best_shadow_cluster[:, None])
    shadow = {"indicator": [float(s_lo[0]), float(s_mean[0]), float(s_hi[0])],
              "cluster": [float(sc_lo[0]), float(sc_mean[0]), float(sc_hi[0])]}
    return Evidence(indicators=indicators, clusters=clusters, groups=groups_frame, stage_importance=stage_imp,
                    shadow=shadow,
                    per_refit=per, resamples=[f["rows"] for f in refits], settings=settings)


def dominance(per_refit_importance: np.ndarray, a: int, b: int) -> float:
    """Share of refits in which indicator column ``a`` is more important than column ``b``."""
    return float((per_refit_importance[:, a] > per_refit_importance[:, b]).mean())
