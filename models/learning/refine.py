"""The indicator refinement verdicts: for every indicator, what the evidence says and what to do about it.

Two steps, both pure.

1. **Who may score** (:func:`eligibility`), from the refits of :mod:`innopoints.models.learning.evidence`,
   before any formula is fitted. Verdicts are made at the level of **clusters of twins** first:

   - a cluster whose importance does not beat the best shadow reliably has *no measurable link*; one that
     beats it in between :data:`~innopoints.models.learning.evidence.NOISE` and
     :data:`~innopoints.models.learning.evidence.STABLE` of the refits is *uncertain*;
   - in a cluster with a link, an indicator that beats the best shadow on its own may score; of the others,
     only the **carrier** may: the member more important than each twin in at least ``STABLE`` of the
     refits, or, when no member is reliably ahead, the preferred one among those not reliably behind:
     official before candidate, harder to inflate before easy (application counts, utility models and
     software copyrights), fewer missing values, more incremental value. A twin that does not carry the
     cluster is *redundant*, never "no measurable link": its cluster has one;
   - a learned direction must be stable (the same in ``STABLE`` of the refits) for an indicator to score;
     one that is not is *uncertain*.

   An indicator whose stable learned direction contradicts policy is a **sign conflict** (unless it has no
   link at all): the policy-consistent formulas give it no points, the data-driven ones score it reversed
   when it may score.

2. **The verdict against the recommended formula** (:func:`refinement_table`): ``keep`` / ``reweight`` /
   ``drop`` for indicators in the baseline, ``add`` / ``leave out`` for the others, and ``uncertain`` when the
   evidence cannot carry a verdict (the reason says which rule it straddles). The points shown are the
   recommended formula's own, per stage, with their 95 % interval from refitting the points on the same
   resamples; a verdict of ``drop`` or ``leave out`` always goes with zero points in it, and a direction the
   formula scores against policy is always said.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from innopoints.features.catalog import Indicator
from innopoints.features.stage import STAGES
from innopoints.models.formula.schema import Formula
from innopoints.models.learning.evidence import CLEAR, NOISE, STABLE, Evidence, dominance

REWEIGHT_POINTS = 3.0
"""Recommended and baseline points (mean over stages) differing by at least this: reweight."""

SCORED = 0.005
"""Points below this in every stage count as none (rounding)."""

VERDICTS = ("keep", "reweight", "add", "drop", "leave out", "uncertain")


def _preference(ind: Indicator, ev_row: pd.Series) -> tuple:
    """Sort key among twins that the refits cannot tell apart: smaller is preferred."""
    return (not ind.official, ind.inflatable, float(ev_row["missing_share"]), -float(ev_row["incremental"]),
            -float(ev_row["importance"]), ind.id)


def _carrier(members: list[str], evidence: Evidence, by_id: dict[str, Indicator]) -> tuple[str, str]:
    """The member that carries a cluster, and why (module docstring)."""
    ev = evidence.indicators
    if len(members) == 1:
        return members[0], "the cluster's only member"
    cols = {i: j for j, i in enumerate(ev.index)}
    per = evidence.per_refit["importance"]
    ranked = sorted(members, key=lambda i: (-ev.loc[i, "importance"], i))
    top = ranked[0]
    contenders = [top] + [m for m in ranked[1:] if dominance(per, cols[top], cols[m]) < STABLE]
    if len(contenders) == 1:
        return top, (f"more important than each twin in at least {STABLE:.0%} of the refits")
    chosen = min(contenders, key=lambda i: _preference(by_id[i], ev.loc[i]))
    others = [c for c in contenders if c != chosen]
    why = []
    if by_id[chosen].official and not all(by_id[o].official for o in others):
        why.append("official")
    if not by_id[chosen].inflatable and any(by_id[o].inflatable for o in others):
        why.append("harder to inflate")
    miss = ev.loc[chosen, "missing_share"]
    if all(miss < ev.loc[o, "missing_share"] for o in others):
        why.append(f"fewer missing values ({miss:.1%} vs "
                   + ", ".join(f"{ev.loc[o, 'missing_share']:.1%}" for o in others) + ")")
    if not why:
        why.append("more incremental value")
    return chosen, (f"as important as {', '.join(others)} within the refits' spread; preferred as "
                    + " and ".join(why))


def eligibility(evidence: Evidence, indicators: Sequence[Indicator]) -> pd.DataFrame:
    """Per indicator (index = id): ``eligible`` (may score), ``status`` and ``note`` (why), the cluster's
    ``carrier`` and ``carrier_reason``, ``sign_conflict`` (eligible, stable direction against policy)."""
    by_id = {ind.id: ind for ind in indicators}
    ev, cl = evidence.indicators, evidence.clusters
    n = evidence.settings.refits
    rows = {}
    for _cluster, c in cl.iterrows():
        members = list(c["members"])
        carrier, carrier_reason = _carrier(members, evidence, by_id)
        for i in members:
            e = ev.loc[i]
            own = f"beat the best shadow in {round(e['beats_noise'] * n)} of {n} refits"
            stable = int(e["direction"]) != 0
            if c["link"] == "no":
                status, note = "no_link", f"no measurable link to repayment: {own}"
                if len(members) > 1:
                    note += f", its cluster ({', '.join(members)}) in {round(c['beats_noise'] * n)}"
            elif c["link"] == "uncertain" and e["link"] != "yes":
                status, note = "uncertain", (f"insufficient evidence of a link: its cluster beat the best shadow "
                                             f"in {round(c['beats_noise'] * n)} of {n} refits (rule: at least "
                                             f"{STABLE:.0%} for a link, at most {NOISE:.0%} for none)")
            elif e["link"] == "yes" or (i == carrier and c["link"] == "yes"):
                how = own if e["link"] == "yes" else f"carries its cluster ({carrier_reason})"
                if stable:
                    status, note = "link", f"measurable link: {how}"
                else:
                    status, note = "uncertain", (f"a link ({how}) but no stable direction: "
                                                 f"{int(e['direction_mode']):+d} in {e['direction_share']:.0%} "
                                                 f"of refits, the opposite in {e['direction_opposite']:.0%} (rule: "
                                                 f"a clear direction in at least {CLEAR:.0%} of refits, "
                                                 f"{STABLE:.0%} of them agreeing)")
            else:
                status, note = "redundant", (f"moves with {', '.join(m for m in members if m != i)}; "
                                             f"{carrier} carries the cluster ({carrier_reason}); on its own it "
                                             f"{own}")
            eligible = status == "link"
            # Reported wherever the data show a stable direction against policy, unless there is no link at
            # all: an uncertain link with a reversed direction is still evidence that rewarding it is wrong.
            conflict = status != "no_link" and int(e["direction"]) == -by_id[i].direction
            rows[i] = {"eligible": eligible, "status": status, "note": note, "carrier": carrier,
                       "carrier_reason": carrier_reason, "sign_conflict": conflict}
    return pd.DataFrame.from_dict(rows, orient="index").reindex([ind.id for ind in indicators])


def _stage_points(formula: Formula | None, ind_id: str) -> tuple[np.ndarray, int | None]:
    """Points per stage of an indicator in a formula (zeros when absent) and the direction it is scored in."""
    if formula is not None:
        for item in formula.indicators:
            if item.id == ind_id:
                return np.array([getattr(item.points, s) for s in STAGES], dtype="float64"), item.direction
    return np.zeros(len(STAGES)), None


def refinement_table(*, indicators: Sequence[Indicator], evidence: Evidence, eligible: pd.DataFrame,
                     available: np.ndarray, baseline: Formula, recommended: Formula,
                     points_interval: np.ndarray | None, unavailable_share: float) -> pd.DataFrame:
    """One row per indicator with the evidence, the recommended formula's points and the verdict.

    Args:
        evidence: the refits (:func:`~innopoints.models.learning.evidence.gather_evidence`).
        eligible: :func:`eligibility`.
        available: (stages, k) whether the stage's firms can have the indicator (catalog order).
        baseline, recommended: the formulas compared; the points shown are ``recommended``'s.
        points_interval: (2, stages, k) 2.5 and 97.5 percentiles of the recommended points over the refits'
            resamples (catalog order), or None.
        unavailable_share: the missing share at or above which a stage cannot have an indicator.
    Returns:
        Rows ordered by cluster rank, then importance; ``attrs`` holds the recommended formula's name.
    """
    ev, cl = evidence.indicators, evidence.clusters
    in_baseline = {item.id for item in baseline.indicators}
    n = evidence.settings.refits
    rows = []
    for j, ind in enumerate(indicators):
        i = ind.id
        e, el = ev.loc[i], eligible.loc[i]
        c = cl.loc[e["cluster"]]
        pts, scored_dir = _stage_points(recommended, i)
        b_pts, _ = _stage_points(baseline, i)
        has_points = bool((pts >= SCORED).any())
        reversed_ = has_points and scored_dir is not None and scored_dir == -ind.direction
        interval = None if points_interval is None else points_interval[:, :, j]
        off_stages = [s for code, s in enumerate(STAGES) if not available[code, j]]
        evidence_text = (f"importance {e['importance']:.3f} [{e['importance_lo']:.3f}, {e['importance_hi']:.3f}] "
                         f"over {n} refits; AUC lost when permuted {e['incremental']:+.4f} "
                         f"[{e['incremental_lo']:+.4f}, {e['incremental_hi']:+.4f}]")
        out_word = "drop" if i in in_baseline else "leave out"
        weak = el["status"] != "link" and has_points
        if el["sign_conflict"] and not reversed_ and not weak:
            rec = out_word
            reason = ("sign conflict: higher values go with more defaults, but policy rewards them"
                      if ind.direction == 1 else
                      "sign conflict: higher values go with fewer defaults, but policy penalises them")
            reason += (f" (learned in {e['direction_share']:.0%} of refits, the opposite in "
                       f"{e['direction_opposite']:.0%}); the recommended formula gives it no points")
            if el["status"] != "link":
                reason += f"; {el['note']}"
        elif el["status"] != "link" and not has_points:
            rec = "uncertain" if el["status"] == "uncertain" else out_word
            reason = f"{el['note']}; not scored"
        elif not has_points:
            rec = out_word
            reason = (f"{el['note']}, but the recommended formula gives it no points: it adds too little beside "
                      "the other indicators under the points rules")
            if len(off_stages) == len(STAGES):
                reason = f"{el['note']}, but no stage's firms can have it"
        else:
            mean_pts, mean_base = float(pts.mean()), float(b_pts.mean())
            if i in in_baseline and abs(mean_pts - mean_base) >= REWEIGHT_POINTS:
                lo = hi = None
                if interval is not None:
                    lo, hi = float(interval[0].mean()), float(interval[1].mean())
                if lo is not None and lo <= mean_base <= hi:
                    rec = "uncertain"
                    reason = (f"keep or reweight: {mean_pts:.1f} points on average against the baseline's "
                              f"{mean_base:.1f}, but the refits' interval [{lo:.1f}, {hi:.1f}] includes the "
                              f"baseline (rule: a change of {REWEIGHT_POINTS:g} points or more outside the interval)")
                else:
                    rec = "reweight"
                    reason = f"predicts repayment, with a different weight ({mean_base:.1f} → {mean_pts:.1f})"
            elif i in in_baseline:
                rec, reason = "keep", "predicts repayment in the policy direction"
            else:
                rec, reason = "add", "predicts repayment beyond the baseline's indicators"
            if reversed_:
                reason = ("SCORED AGAINST POLICY (data-driven formula): higher values earn fewer points; "
                          + reason.replace(" in the policy direction", ""))
            reason += f"; {el['note']}"
            if weak:
                scored_in = [s for c_, s in enumerate(STAGES) if pts[c_] >= SCORED]
                reason = (f"WEAK EVIDENCE: scored only because no indicator with a measurable link can be had by "
                          f"{', '.join(scored_in)} firms; " + reason)
        if off_stages and has_points:
            reason += (f"; no points for {', '.join(off_stages)} firms (missing for at least "
                       f"{unavailable_share:.0%} of their loans)")
        reason += f"; {evidence_text}"
        rows.append({
            "id": i, "name_zh": ind.name_zh, "name_en": ind.name_en, "group": ind.group,
            "status": ind.status, "in_baseline": i in in_baseline,
            "cluster": int(e["cluster"]), "cluster_rank": int(c["rank"]),
            "cluster_members": list(c["members"]),
            "cluster_importance": float(c["importance"]),
            "cluster_importance_interval": [float(c["importance_lo"]), float(c["importance_hi"])],
            "cluster_beats_noise": float(c["beats_noise"]), "cluster_link": str(c["link"]),
            "carrier": el["carrier"], "carrier_reason": el["carrier_reason"],
            "importance": float(e["importance"]),
            "importance_interval": [float(e["importance_lo"]), float(e["importance_hi"])],
            "importance_share": float(e["importance_share"]), "rank": int(e["rank"]),
            "beats_noise": float(e["beats_noise"]), "link": str(e["link"]),
            "evidence_status": el["status"],
            "learned_direction": int(e["direction"]), "direction_share": float(e["direction_share"]),
            "policy_direction": int(ind.direction), "sign_conflict": bool(el["sign_conflict"]),
            "scored_direction": (scored_dir or ind.direction) if has_points else None,
            "reversed": bool(reversed_),
            "incremental_auc": float(e["incremental"]),
            "incremental_auc_interval": [float(e["incremental_lo"]), float(e["incremental_hi"])],
            "missing_share": float(e["missing_share"]),
            "unavailable_stages": off_stages,
            "baseline_points": float(b_pts.mean()),
            "points": {s: float(pts[c_]) for c_, s in enumerate(STAGES)},
            "points_interval": (None if interval is None else
                                {s: [float(interval[0, c_]), float(interval[1, c_])] for c_, s in enumerate(STAGES)}),
            "recommended_points": float(pts.mean()),
            "recommendation": rec, "reason": reason,
        })
    table = pd.DataFrame(rows).sort_values(["cluster_rank", "importance", "id"], ascending=[True, False, True],
                                           kind="stable").reset_index(drop=True)
    table.attrs["recommended"] = recommended.name
    return table
