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

REASON_EN: dict[str, str] = {
    "sep": "; ",
    "close": ")",
    "and": " and ",
    "carrier.only": "the cluster's only member",
    "carrier.dominant": "more important than each twin in at least {stable:.0%} of the refits",
    "carrier.preferred": "as important as {others} within the refits' spread; preferred as ",
    "why.official": "official",
    "why.inflate": "harder to inflate",
    "why.missing": "fewer missing values ({missing:.1%} vs {others_missing})",
    "why.incremental": "more incremental value",
    "note.own": "beat the best shadow in {k} of {n} refits",
    "note.no_link": "no measurable link to repayment: ",
    "note.cluster_beats": ", its cluster ({members}) in {k}",
    "note.cluster_uncertain": ("insufficient evidence of a link: its cluster beat the best shadow in {k} of {n} "
                               "refits (rule: at least {stable:.0%} for a link, at most {noise:.0%} for none)"),
    "note.carries": "carries its cluster (",
    "note.link": "measurable link: ",
    "note.unstable": "a link (",
    "note.unstable_tail": (") but no stable direction: {mode:+d} in {share:.0%} of refits, the opposite in "
                           "{opposite:.0%} (rule: a clear direction in at least {clear:.0%} of refits, {stable:.0%} "
                           "of them agreeing)"),
    "note.redundant": "moves with {twins}; {carrier} carries the cluster (",
    "note.redundant_own": "); on its own it ",
    "r.conflict_more": "sign conflict: higher values go with more defaults, but policy rewards them",
    "r.conflict_fewer": "sign conflict: higher values go with fewer defaults, but policy penalises them",
    "r.conflict_tail": (" (learned in {share:.0%} of refits, the opposite in {opposite:.0%}); the recommended "
                        "formula gives it no points"),
    "r.not_scored": "; not scored",
    "r.no_points": (", but the recommended formula gives it no points: it adds too little beside the other "
                    "indicators under the points rules"),
    "r.no_stage": ", but no stage's firms can have it",
    "r.keep_or_reweight": ("keep or reweight: {mean:.1f} points on average against the baseline's {base:.1f}, "
                           "but the refits' interval [{lo:.1f}, {hi:.1f}] includes the baseline (rule: a change of "
                           "{rule:g} points or more outside the interval)"),
    "r.reweight": "predicts repayment, with a different weight ({base:.1f} → {mean:.1f})",
    "r.keep": "predicts repayment in the policy direction",
    "r.keep_reversed": "predicts repayment",
    "r.add": "predicts repayment beyond the baseline's indicators",
    "r.reversed": "SCORED AGAINST POLICY (data-driven formula): higher values earn fewer points; ",
    "r.weak": "WEAK EVIDENCE: scored only because no indicator with a measurable link can be had by {stages} firms; ",
    "r.off_stages": "; no points for {stages} firms (missing for at least {share:.0%} of their loans)",
    "r.evidence": ("; importance {imp:.3f} [{imp_lo:.3f}, {imp_hi:.3f}] over {n} refits; AUC lost when permuted "
                   "{inc:+.4f} [{inc_lo:+.4f}, {inc_hi:+.4f}]"),
}
"""The fragments of a reason (code → English template). A reason is kept as ``reason_parts``, a list of
``[code, args]`` whose rendered templates, concatenated, give the English ``reason``; reports render the
same parts in another language with their own templates (:func:`render_reason`). List arguments are joined
with ", " (fractions as percentages with one decimal)."""

Parts = list[list]


def _part(code: str, **args) -> list:
    return [code, args]


def render_reason(parts: Sequence, templates: dict[str, str] | None = None, *, join_list=None) -> str:
    """Concatenate the fragments ``parts`` with ``templates`` (default English). ``join_list(key, items)``
    renders a list argument (default: items joined with ", ", floats as ``.1%``)."""
    templates = REASON_EN if templates is None else templates

    def default_join(_key, items):
        return ", ".join(f"{x:.1%}" if isinstance(x, float) else str(x) for x in items)

    join = join_list or default_join
    out = []
    for code, args in parts:
        values = {k: join(k, v) if isinstance(v, (list, tuple)) else v for k, v in args.items()}
        out.append(templates[code].format(**values))
    return "".join(out)


def _preference(ind: Indicator, ev_row: pd.Series) -> tuple:
    """Sort key among twins that the refits cannot tell apart: smaller is preferred."""
    return (not ind.official, ind.inflatable, float(ev_row["missing_share"]), -float(ev_row["incremental"]),
            -float(ev_row["importance"]), ind.id)


def _carrier(members: list[str], evidence: Evidence, by_id: dict[str, Indicator]) -> tuple[str, Parts]:
    """The member that carries a cluster, and why (module docstring; fragments of :data:`REASON_EN`)."""
    ev = evidence.indicators
    if len(members) == 1:
        return members[0], [_part("carrier.only")]
    cols = {i: j for j, i in enumerate(ev.index)}
    per = evidence.per_refit["importance"]
    ranked = sorted(members, key=lambda i: (-ev.loc[i, "importance"], i))
    top = ranked[0]
    contenders = [top] + [m for m in ranked[1:] if dominance(per, cols[top], cols[m]) < STABLE]
    if len(contenders) == 1:
        return top, [_part("carrier.dominant", stable=STABLE)]
    chosen = min(contenders, key=lambda i: _preference(by_id[i], ev.loc[i]))
    others = [c for c in contenders if c != chosen]
    why = []
    if by_id[chosen].official and not all(by_id[o].official for o in others):
        why.append(_part("why.official"))
    if not by_id[chosen].inflatable and any(by_id[o].inflatable for o in others):
        why.append(_part("why.inflate"))
    miss = ev.loc[chosen, "missing_share"]
    if all(miss < ev.loc[o, "missing_share"] for o in others):
        why.append(_part("why.missing", missing=float(miss),
                         others_missing=[float(ev.loc[o, "missing_share"]) for o in others]))
    if not why:
        why.append(_part("why.incremental"))
    parts = [_part("carrier.preferred", others=others)]
    for k, w in enumerate(why):
        parts += ([_part("and")] if k else []) + [w]
    return chosen, parts


def eligibility(evidence: Evidence, indicators: Sequence[Indicator]) -> pd.DataFrame:
    """Per indicator (index = id): ``eligible`` (may score), ``status`` and ``note`` (why), the cluster's
    ``carrier`` and ``carrier_reason``, ``sign_conflict`` (eligible, stable direction against policy);
    ``note_parts`` is ``note`` as fragments of :data:`REASON_EN`."""
    by_id = {ind.id: ind for ind in indicators}
    ev, cl = evidence.indicators, evidence.clusters
    n = evidence.settings.refits
    rows = {}
    for _cluster, c in cl.iterrows():
        members = list(c["members"])
        carrier, carrier_parts = _carrier(members, evidence, by_id)
        for i in members:
            e = ev.loc[i]
            own = [_part("note.own", k=int(round(e["beats_noise"] * n)), n=n)]
            stable = int(e["direction"]) != 0
            if c["link"] == "no":
                status, note = "no_link", [_part("note.no_link"), *own]
                if len(members) > 1:
                    note.append(_part("note.cluster_beats", members=members, k=int(round(c["beats_noise"] * n))))
            elif c["link"] == "uncertain" and e["link"] != "yes":
                status, note = "uncertain", [_part("note.cluster_uncertain", k=int(round(c["beats_noise"] * n)), n=n,
                                                   stable=STABLE, noise=NOISE)]
            elif e["link"] == "yes" or (i == carrier and c["link"] == "yes"):
                how = own if e["link"] == "yes" else [_part("note.carries"), *carrier_parts, _part("close")]
                if stable:
                    status, note = "link", [_part("note.link"), *how]
                else:
                    status, note = "uncertain", [
                        _part("note.unstable"), *how,
                        _part("note.unstable_tail", mode=int(e["direction_mode"]),
                              share=float(e["direction_share"]), opposite=float(e["direction_opposite"]),
                              clear=CLEAR, stable=STABLE)]
            else:
                status, note = "redundant", [
                    _part("note.redundant", twins=[m for m in members if m != i], carrier=carrier),
                    *carrier_parts, _part("note.redundant_own"), *own]
            eligible = status == "link"
            # Reported wherever the data show a stable direction against policy, unless there is no link at
            # all: an uncertain link with a reversed direction is still evidence that rewarding it is wrong.
            conflict = status != "no_link" and int(e["direction"]) == -by_id[i].direction
            rows[i] = {"eligible": eligible, "status": status, "note": render_reason(note), "carrier": carrier,
                       "carrier_reason": render_reason(carrier_parts), "sign_conflict": conflict,
                       "note_parts": note}
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
        out_word = "drop" if i in in_baseline else "leave out"
        weak = el["status"] != "link" and has_points
        note = list(el["note_parts"])
        if el["sign_conflict"] and not reversed_ and not weak:
            rec = out_word
            parts = [_part("r.conflict_more" if ind.direction == 1 else "r.conflict_fewer"),
                     _part("r.conflict_tail", share=float(e["direction_share"]),
                           opposite=float(e["direction_opposite"]))]
            if el["status"] != "link":
                parts += [_part("sep"), *note]
        elif el["status"] != "link" and not has_points:
            rec = "uncertain" if el["status"] == "uncertain" else out_word
            parts = [*note, _part("r.not_scored")]
        elif not has_points:
            rec = out_word
            parts = [*note, _part("r.no_stage" if len(off_stages) == len(STAGES) else "r.no_points")]
        else:
            mean_pts, mean_base = float(pts.mean()), float(b_pts.mean())
            if i in in_baseline and abs(mean_pts - mean_base) >= REWEIGHT_POINTS:
                lo = hi = None
                if interval is not None:
                    lo, hi = float(interval[0].mean()), float(interval[1].mean())
                if lo is not None and lo <= mean_base <= hi:
                    rec = "uncertain"
                    parts = [_part("r.keep_or_reweight", mean=mean_pts, base=mean_base, lo=lo, hi=hi,
                                   rule=REWEIGHT_POINTS)]
                else:
                    rec = "reweight"
                    parts = [_part("r.reweight", base=mean_base, mean=mean_pts)]
            elif i in in_baseline:
                rec, parts = "keep", [_part("r.keep_reversed" if reversed_ else "r.keep")]
            else:
                rec, parts = "add", [_part("r.add")]
            if reversed_:
                parts = [_part("r.reversed"), *parts]
            parts += [_part("sep"), *note]
            if weak:
                scored_in = [s for c_, s in enumerate(STAGES) if pts[c_] >= SCORED]
                parts = [_part("r.weak", stages=scored_in), *parts]
        if off_stages and has_points:
            parts.append(_part("r.off_stages", stages=off_stages, share=float(unavailable_share)))
        parts.append(_part("r.evidence", imp=float(e["importance"]), imp_lo=float(e["importance_lo"]),
                           imp_hi=float(e["importance_hi"]), n=n, inc=float(e["incremental"]),
                           inc_lo=float(e["incremental_lo"]), inc_hi=float(e["incremental_hi"])))
        reason = render_reason(parts)
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
            "recommendation": rec, "reason": reason, "reason_parts": parts,
        })
    table = pd.DataFrame(rows).sort_values(["cluster_rank", "importance", "id"], ascending=[True, False, True],
                                           kind="stable").reset_index(drop=True)
    table.attrs["recommended"] = recommended.name
    return table
