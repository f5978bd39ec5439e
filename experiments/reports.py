"""Human-readable reports (Markdown) built from the training results: aggregates only, never firm rows."""

from __future__ import annotations

import pandas as pd

from innopoints.experiments.formatting import interval as _interval
from innopoints.experiments.formatting import number as _f
from innopoints.models.evaluation.metrics import QUALIFIED_SHARE

REC_ORDER = ("drop", "reweight", "add", "keep", "leave out", "uncertain")


def _role(name: str, evaluation: dict) -> str:
    if name == evaluation.get("best"):
        return " **(recommended)**"
    if name == evaluation.get("best_data") and evaluation.get("recommend") == "policy":
        return " (best data-driven)"
    if name == evaluation.get("best_policy") and evaluation.get("recommend") == "data":
        return " (best policy-consistent)"
    return ""


def formulas_table(evaluation: dict) -> str:
    """Markdown table of every formula's test metrics; the recommended one is marked."""
    rows = ["| formula | validation log loss | validation AUC | test AUC | KS | Brier "
            "| default rate of qualified test loans [95%] | defaults in lowest 10% | ΔAUC vs baseline (95%) |",
            "|---|---|---|---|---|---|---|---|---|"]
    for name, r in evaluation["formulas"].items():
        pm = r.get("policy_metrics") or {}
        qualified = (f"{pm['qualified_default_rate']:.2%} [{pm['qualified_default_rate_low']:.2%}, "
                     f"{pm['qualified_default_rate_high']:.2%}] ({pm['qualified_defaults']} of {pm['qualified_n']})"
                     if pm else "–")
        capture = (f"{pm['capture_bottom10']:.0%} [{pm['capture_bottom10_low']:.0%}, {pm['capture_bottom10_high']:.0%}]"
                   if pm else "–")
        rows.append(f"| `{name}`{_role(name, evaluation)} | {_f(r.get('validation_log_loss'), '.4f')} | "
                    f"{_f(r.get('validation_auc'))} | {_f(r.get('test_auc'))} | {_f(r.get('test_ks'))} | "
                    f"{_f(r.get('test_brier'), '.4f')} | {qualified} | {capture} | "
                    f"{_interval(r.get('delta_auc_vs_baseline'))} |")
    return "\n".join(rows)


def _points_cell(r) -> str:
    """Points per stage in the recommended formula, with the refits' interval; a reversed direction said."""
    pts, iv = r["points"], r.get("points_interval")
    if not any(v >= 0.005 for v in pts.values()):
        return "0"
    cells = []
    for s in ("startup", "growth", "stable"):
        cell = f"{pts[s]:.1f}"
        if iv:
            cell += f" [{iv[s][0]:.1f}, {iv[s][1]:.1f}]"
        cells.append(cell)
    text = " / ".join(cells)
    return f"{text} ⚠ reversed" if r.get("reversed") else text


def _backtest_lines(back: dict) -> list[str]:
    if not back or not back.get("recommended"):
        return [f"Not run: {back.get('note', 'no test years')}." if back else "Not run.", ""]
    lines = [back["method"] + ".", "",
             "| test year | loans | defaults | AUC recommended [95%] | AUC baseline | ΔAUC [95%] | default rate of "
             "qualified loans, recommended [95%] | baseline | defaults in lowest 10%, recommended | note |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for rec, base in zip(back["recommended"], back["baseline"], strict=True):
        lines.append(
            f"| {rec['test_year']} | {rec['n_loans']} | {rec['n_defaults']} | "
            f"{rec['auc']:.3f} [{rec['auc_low']:.3f}, {rec['auc_high']:.3f}] | {rec['baseline_auc']:.3f} | "
            f"{rec['delta_auc']:+.3f} [{rec['delta_auc_low']:+.3f}, {rec['delta_auc_high']:+.3f}] | "
            f"{rec['qualified_default_rate']:.2%} [{rec['qualified_default_rate_low']:.2%}, "
            f"{rec['qualified_default_rate_high']:.2%}] | {base['qualified_default_rate']:.2%} | "
            f"{rec['capture_bottom10']:.0%} | {rec.get('warning') or ''} |")
    return lines + [""]


def refinement_markdown(refinement: pd.DataFrame, evaluation: dict, frontier: list[dict],
                        notes: list[str] | None = None) -> str:
    """The indicator refinement report: which formula is recommended, what to keep, reweight, drop or add, and
    how sure the evidence is. Every number of points in it is the recommended formula's."""
    split = evaluation.get("split", {})
    best = evaluation.get("best")
    recommend = evaluation.get("recommend", "policy")
    ev = evaluation.get("evidence", {})
    cost = evaluation.get("policy_cost") or {}
    lines = [
        "# Indicator refinement report 指标优化报告",
        "",
        f"**Recommended formula: `{best}`**, the lowest validation log loss among the "
        + ("policy-consistent candidates (no indicator scored against its policy direction)"
           if recommend == "policy" else "data-driven candidates (indicators may be scored against policy)")
        + f" (`train.recommend: {recommend}`). Every point shown below is this formula's.",
        "",
        f"Loans with observed outcomes: training years {split.get('train_years')} "
        f"({split.get('train_n')} loans, {split.get('train_defaults')} defaults), choice among candidates on "
        f"{split.get('validation_year')}, test year {split.get('test_year')} ({split.get('test_n')} loans, "
        f"**{split.get('test_defaults')} defaults**). Excluded: {split.get('unobserved_excluded')} loans whose "
        "12-month window is still open." + (f" ⚠ {split['test_warning']}." if split.get("test_warning") else ""),
        "",
    ]
    if cost:
        d = cost["delta_auc"]
        lines += [
            "## What policy consistency costs",
            "",
            f"Best policy-consistent candidate `{cost['policy']}` against the best data-driven one `{cost['data']}` "
            f"on the test year: ΔAUC {d[1]:+.3f}, 95% interval [{d[0]:+.3f}, {d[2]:+.3f}] (paired bootstrap of the "
            f"test loans, {cost['test_defaults']} defaults)."
            + (" The interval includes zero: on this evidence consistency costs no measurable accuracy."
               if d[0] <= 0 <= d[2] else "")
            + (f" ⚠ {cost['warning']}." if cost.get("warning") else ""),
            "",
        ]
    lines += [
        "## Formulas on the test year",
        "",
        "The qualified loans are those whose points reach the cut-off that qualifies the top "
        f"{evaluation['formulas']['baseline'].get('policy_metrics', {}).get('share', QUALIFIED_SHARE):.1%} of the test "
        "year's **firms** (the policy's rule), with a Wilson interval; capture is the share of test defaults "
        "among the 10% lowest-scored test loans, with a bootstrap interval.",
        "",
        formulas_table(evaluation),
        "",
    ]
    models = evaluation.get("models") or {}
    if models:
        best_auc = evaluation["formulas"][best].get("test_auc")
        ref = {k: v.get("test_auc") for k, v in models.items()}
        beaten = [k for k, v in ref.items() if v is not None and best_auc is not None and best_auc >= v]
        lines += ["Reference models (LightGBM with its capacity tuned on the validation year, the same with "
                  "monotone constraints in the policy directions, a logistic regression): "
                  + ", ".join(f"{k} test AUC {_f(v)}" for k, v in ref.items()) + "."
                  + (f" The recommended formula scores at least as high as {', '.join(beaten)}: these are "
                     "references, not a ceiling." if beaten else ""), ""]
    lines += ["## Rolling-origin backtest", ""] + _backtest_lines(evaluation.get("backtest") or {})
    refits = ev.get("refits", "–")
    shadow = ev.get("best_shadow_importance", {}).get("indicator")
    lines += [
        "## How the evidence was gathered",
        "",
        f"{refits} refits of a LightGBM default model on bootstrap resamples of firms (all loans of a firm "
        f"together; at most {ev.get('rows_per_refit_at_most', '–')} loans each), each beside a shadow copy "
        "of every indicator (the indicator block with its rows permuted: same joint distribution, no link to "
        "default). Importance is mean |SHAP| on the default log-odds; intervals are the 2.5 and 97.5 percentiles "
        "over the refits. An indicator (or a cluster of twins) has a **measurable link** when its importance "
        "beats the best shadow's in at least 80% of the refits, **none** at 20% or less, and is **uncertain** "
        "in between; a direction is learned when at least half of the refits show one and 80% of those agree. "
        + (f"Best shadow importance: {shadow[1]:.3f} [{shadow[0]:.3f}, {shadow[2]:.3f}]. " if shadow else "")
        + f"Twins: |Spearman| ≥ {ev.get('cluster_corr', 0.8)} (average linkage). An indicator missing for at "
        f"least {ev.get('unavailable_share', 0.95):.0%} of a stage's loans gets no points in that stage.",
        "",
        "## Clusters of indicators, ranked",
        "",
        "Ranked by importance above the cluster's own shadow (the same members on the permuted block).",
        "",
        "| rank | cluster | importance [95%] | beats the best shadow | link | carried by | verdicts |",
        "|---|---|---|---|---|---|---|",
    ]
    for rank, group in refinement.groupby("cluster_rank", sort=True):
        r = group.iloc[0]
        lo, hi = r["cluster_importance_interval"]
        verdicts = ", ".join(f"`{i}` {v}" for i, v in zip(group["id"], group["recommendation"], strict=True))
        lines.append(f"| {rank} | {', '.join(r['cluster_members'])} | {r['cluster_importance']:.3f} "
                     f"[{lo:.3f}, {hi:.3f}] | {r['cluster_beats_noise']:.0%} of refits | {r['cluster_link']} | "
                     f"`{r['carrier']}` | {verdicts} |")
    lines.append("")
    conflicts = refinement[refinement["sign_conflict"]]
    lines += ["## Sign conflicts", ""]
    if conflicts.empty:
        lines += ["None found.", ""]
    else:
        for _, r in conflicts.iterrows():
            lines.append(f"- **{r['id']}** ({r['name_zh']}, {r['name_en']}): policy direction "
                         f"{r['policy_direction']:+d}, learned {r['learned_direction']:+d} in "
                         f"{r['direction_share']:.0%} of refits; in `{best}`: "
                         + ("scored **against policy** (reversed)" if r["reversed"] else "no points") + ".")
        lines.append("")
    lines += ["## Recommendations", ""]
    for rec in REC_ORDER:
        sub = refinement[refinement["recommendation"] == rec]
        if sub.empty:
            continue
        lines.append(f"**{rec}** ({len(sub)}): " + ", ".join(f"`{i}`" for i in sub["id"]))
        lines.append("")
    lines += [
        "## Every indicator",
        "",
        f"Points: `{best}`'s max points for start-up / growth / stable firms, with the 95% interval from refitting "
        "its points on the refits' resamples.",
        "",
        "| cluster | indicator | 指标 | group | status | importance [95%] | beats shadow | learned / policy | "
        "AUC lost when permuted [95%] | missing | baseline pts | points (start-up / growth / stable) | "
        "recommendation | reason |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for _, r in refinement.iterrows():
        lo, hi = r["importance_interval"]
        ilo, ihi = r["incremental_auc_interval"]
        lines.append(
            f"| {r['cluster_rank']} | `{r['id']}` | {r['name_zh']} | {r['group']} | {r['status']} | "
            f"{r['importance']:.3f} [{lo:.3f}, {hi:.3f}] | {r['beats_noise']:.0%} | "
            f"{r['learned_direction']:+d} / {r['policy_direction']:+d}{' ⚠' if r['sign_conflict'] else ''} | "
            f"{r['incremental_auc']:+.4f} [{ilo:+.4f}, {ihi:+.4f}] | {r['missing_share']:.1%} | "
            f"{r['baseline_points']:.1f} | {_points_cell(r)} | {r['recommendation']} | {r['reason']} |")
    lines += ["", "## Smallest-change recalibration frontier", "",
              "| max points moved per stage | moved (start-up / growth / stable) | training log loss | training AUC |",
              "|---|---|---|---|"]
    for row in frontier:
        moved = " / ".join(f"{v:.1f}" for v in row["points_moved"])
        lines.append(f"| {row['max_change']:g} | {moved} | {row['train_log_loss']:.5f} | {row['train_auc']:.3f} |")
    if notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------ who was lent


def _share(v) -> str:
    return "–" if v is None else f"{v:.1%}"


def selection_markdown(sel: dict) -> str:
    """The selection report: how much of each formula's qualified set lies where few loans were ever made,
    and what inverse-propensity weights and reject inference do to the recommended formula's points."""
    if "support" not in sel:
        return "\n".join(["# Who was lent: support and corrections 贷款样本选择", "",
                          sel.get("note", "Not run (`selection.enabled: false`)."), "",
                          *sign_conflict_lines(sel.get("sign_conflicts"))])
    s, prop, sup = sel["settings"], sel["propensity"], sel["support"]
    names = list(sup["formulas"])
    lines = [
        "# Who was lent: support and corrections 贷款样本选择",
        "",
        "Every AUC, weight and recommendation is learned from approved loans, and banks lend mostly to firms the "
        "formula in force qualifies. Where a formula qualifies firms unlike any funded firm, what it promises "
        "for them is an extrapolation. " + sel["method"] + f". Out of time on {prop['test_year']}, the "
        f"propensity separates firms that borrowed from those that did not with AUC "
        f"{_f(prop['test_auc'])} (lending rate {prop['test_lending_rate']:.1%}, mean propensity "
        f"{prop['test_mean_propensity']:.1%}).",
        "",
        "## Support behind each formula's qualified set",
        "",
        f"Low support: a modelled chance of a loan below **{s['low_support']:.1%}** (`selection.low_support`). "
        f"Qualified: the top {s['share']:.2%} of the {prop['test_year']} firms under each formula.",
        "",
        "| formula | qualified firms | in low support | share of qualified | share of qualified points | "
        "share of all points (mass) | qualified, not qualified by the formula in force | of those in low support |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, r in sup["formulas"].items():
        lines.append(f"| `{name}` | {r['qualified_firms']:,} | {r['qualified_low_support']:,} | "
                     f"{_share(r['qualified_share_low_support'])} | "
                     f"{_share(r['qualified_points_share_low_support'])} | "
                     f"{_share(r['points_mass_share_low_support'])} | {r['qualified_new_vs_in_force']:,} | "
                     f"{r['qualified_new_low_support']:,} |")
    lines += ["", "Observed loans (training years, outcome known) behind every propensity segment:", "",
              "| propensity | firms | observed loans | defaults | " + " | ".join(f"qualified `{n}`" for n in names)
              + " |", "|---|---|---|---|" + "---|" * len(names)]
    for b in sup["bins"]:
        flag = " ⚠ low support" if b["low_support"] else ""
        lines.append(f"| {b['propensity_from']:.1%}–{b['propensity_to']:.1%}{flag} | {b['firms']:,} | "
                     f"{b['observed_loans']:,} | {b['observed_defaults']:,} | "
                     + " | ".join(f"{b[f'qualified_{n}']:,}" for n in names) + " |")
    w, we = sel["weights_ipw"], sel["weighted_evaluation"]
    lines += [
        "",
        "## Inverse-propensity weights (a sensitivity analysis)",
        "",
        f"Each training loan weighs lending rate ÷ its propensity, clipped to [{1 / s['max_weight']:.2f}, "
        f"{s['max_weight']:g}] (`selection.max_weight`): range {w['min']:.2f}–{w['max']:.2f}, "
        f"{w['clipped_share']:.1%} clipped, {w['effective_loans']:,.0f} effective loans of "
        f"{w['training_loans']:,}. Test loans are weighted with the same model (fitted before the test year).",
        "",
        "| formula | test AUC | test AUC, weighted |",
        "|---|---|---|",
        *(f"| `{n}` | {_f(r['test_auc'])} | {_f(r['test_auc_ipw'])} |" for n, r in we.items()),
        "",
    ]
    wt = sel["weights"]
    labels = {"shipped": "as shipped", "refit_unweighted": "refit, unweighted", "refit_ipw": "refit, weighted",
              "refit_parcelled": "refit, parcelled rejects"}
    pts = wt["points"]
    lines += [
        f"## The recommended formula's points, corrected (`{wt['formula']}`)",
        "",
        "Its max points refitted on its own curves by the constrained likelihood fit, where it gives points: "
        "unweighted, with the weights above, and augmented with "
        f"{wt['rejects']:,} firm-years that were never lent (rejects, each weighing {wt['reject_weight']:.2f}) "
        f"whose default probability is inferred by **parcelling**: the approved loans' observed rate in the "
        f"same points band × {s['parcel_uplift']:g} (`selection.parcel_uplift`; mean inferred "
        f"{wt['mean_reject_pd']:.2%} against {wt['approved_default_rate']:.2%} observed). Mean points over the "
        "three stages:",
        "",
        "| indicator | " + " | ".join(labels[k] for k in pts) + " |",
        "|---|" + "---|" * len(pts),
    ]
    first = next(iter(pts.values()))
    for ind in first:
        values = [pts[k][ind]["mean"] for k in pts]
        if max(values) < 0.005:
            continue
        lines.append(f"| `{ind}` | " + " | ".join(f"{v:.1f}" for v in values) + " |")
    ev = wt["evaluation"]
    lines += ["", "| points | moved from the unweighted refit (per stage) | test AUC | test AUC, weighted |",
              "|---|---|---|---|",
              *(f"| {labels[k]} | {r['points_moved_from_unweighted']:.1f} | {_f(r['test_auc'])} | "
                f"{_f(r['test_auc_ipw'])} |" for k, r in ev.items()),
              "",
              "Read these as sensitivity analyses: the weights only reach firms like some that were lent (a "
              "propensity of 0 cannot be weighted up), and parcelling assumes how much riskier a refused firm is.",
              ""]
    lines += sign_conflict_lines(sel.get("sign_conflicts"))
    return "\n".join(lines)


def sign_conflict_lines(costs: dict | None) -> list[str]:
    """Graded handling of each sign conflict (zero, capped share, plateau) with its AUC cost; chosen one marked."""
    if not costs:
        return []
    lines = ["## Sign conflicts: graded policy constraints", "",
             f"Each indicator whose learned direction contradicts policy, handled three ways in `{costs['formula']}` "
             "(the other indicators' points scaled so every stage keeps its total): **zero** points, a **capped "
             "share** on its official curve, or a **plateau** curve that stops rewarding beyond a value. Chosen "
             "per indicator in the run config (`sign_conflicts.<indicator>.mode`); ΔAUC against zero on the test "
             f"year ({costs['test_defaults']} defaults), paired bootstrap 95%.", "",
             "| indicator | handling | share of points | curve | test AUC | ΔAUC vs zero [95%] |",
             "|---|---|---|---|---|---|"]
    for r in costs["modes"]:
        d = r["delta_auc_vs_zero"]
        lines.append(f"| `{r['indicator']}` | {r['mode']}{' **(chosen)**' if r['chosen'] else ''} | "
                     f"{r['share']:.0%} | {r['curve']} | {_f(r['test_auc'])} | "
                     f"{d[1]:+.3f} [{d[0]:+.3f}, {d[2]:+.3f}] |")
    return lines + [""]
