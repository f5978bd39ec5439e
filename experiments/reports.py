"""Human-readable reports (Markdown) built from the training results: aggregates only, never firm rows."""

from __future__ import annotations

import pandas as pd

REC_ORDER = ("drop", "reweight", "add", "keep", "leave out")


def _f(value, spec: str = ".3f") -> str:
    return "–" if value is None or (isinstance(value, float) and value != value) else format(value, spec)


def _interval(values) -> str:
    if not values:
        return "–"
    lo, mid, hi = values
    return f"{mid:+.3f} [{lo:+.3f}, {hi:+.3f}]"


def formulas_table(evaluation: dict) -> str:
    """Markdown table of every formula's test metrics, the best first after the baseline."""
    best = evaluation.get("best")
    rows = ["| formula | validation AUC | test AUC | Gini | KS | Brier | top-share default rate "
            "| ΔAUC vs baseline (95%) |",
            "|---|---|---|---|---|---|---|---|"]
    for name, r in evaluation["formulas"].items():
        mark = " **(best)**" if name == best else ""
        rows.append(f"| `{name}`{mark} | {_f(r.get('validation_auc'))} | {_f(r.get('test_auc'))} | "
                    f"{_f(r.get('test_gini'))} | {_f(r.get('test_ks'))} | {_f(r.get('test_brier'), '.4f')} | "
                    f"{_f(r.get('test_top_default_rate'), '.2%')} | {_interval(r.get('delta_auc_vs_baseline'))} |")
    return "\n".join(rows)


def refinement_markdown(refinement: pd.DataFrame, evaluation: dict, frontier: list[dict],
                        notes: list[str] | None = None) -> str:
    """The indicator refinement report: what to keep, reweight, drop or add, and why."""
    split = evaluation.get("split", {})
    lines = [
        "# Indicator refinement report",
        "",
        f"Loans with observed outcomes: training years {split.get('train_years')} "
        f"({split.get('train_n')} loans, {split.get('train_defaults')} defaults), choice of the best formula on "
        f"{split.get('validation_year')}, test year {split.get('test_year')} ({split.get('test_n')} loans, "
        f"{split.get('test_defaults')} defaults). Excluded: {split.get('unobserved_excluded')} loans whose "
        "12-month window is still open.",
        "",
        "Directions are on one scale: +1 means a higher value goes with lower default risk (more points). "
        "A **sign conflict** is an indicator whose learned direction is the opposite of its policy direction.",
        "",
        "## Formulas on the test year",
        "",
        formulas_table(evaluation),
        "",
        f"Best candidate, chosen on the validation year (never on the test loans): `{evaluation.get('best')}`.",
        "",
    ]
    models = evaluation.get("models") or {}
    if models:
        lines += ["Models (the ceiling a readable formula is measured against): "
                  + ", ".join(f"{k} test AUC {_f(v.get('test_auc'))}" for k, v in models.items()) + ".", ""]
    conflicts = refinement[refinement["sign_conflict"]]
    lines += ["## Sign conflicts", ""]
    if conflicts.empty:
        lines += ["None found.", ""]
    else:
        for _, r in conflicts.iterrows():
            lines.append(f"- **{r['id']}** ({r['name_zh']}, {r['name_en']}): policy direction "
                         f"{r['policy_direction']:+d}, learned {r['learned_direction']:+d}. {r['reason']}.")
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
        "| # | indicator | 指标 | group | status | importance [95%] | share | learned / policy | missing | "
        "drop-one ΔAUC | baseline pts | fitted pts | recommendation | reason |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for _, r in refinement.iterrows():
        lo, hi = r["importance_interval"]
        lines.append(
            f"| {r['rank']} | `{r['id']}` | {r['name_zh']} | {r['group']} | {r['status']} | "
            f"{r['importance']:.3f} [{lo:.3f}, {hi:.3f}] | {r['importance_share']:.1%} | "
            f"{r['learned_direction']:+d} / {r['policy_direction']:+d}{' ⚠' if r['sign_conflict'] else ''} | "
            f"{r['missing_share']:.1%} | {_f(r['drop_one_delta_auc'], '+.4f')} | {r['baseline_points']:.1f} | "
            f"{r['fitted_points']:.1f} | {r['recommendation']} | {r['reason']} |")
    lines += ["", "## Smallest-change recalibration frontier", "",
              "| max points moved per stage | moved (start-up / growth / stable) | training log loss | training AUC |",
              "|---|---|---|---|"]
    for row in frontier:
        moved = " / ".join(f"{v:.1f}" for v in row["points_moved"])
        lines.append(f"| {row['max_change']:g} | {moved} | {row['train_log_loss']:.5f} | {row['train_auc']:.3f} |")
    if notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"
