"""Human-readable reports (Markdown) built from the training results: aggregates only, never firm rows.

In English or Chinese (``lang``): headings, table headers and sentences from :mod:`innopoints.experiments.i18n`,
indicator names from the catalog. The per-indicator reasons are rendered from the refinement's fragments
in the language.
"""

from __future__ import annotations

import pandas as pd

from innopoints.experiments.formatting import interval as _interval
from innopoints.experiments.formatting import number as _f
from innopoints.experiments.i18n import Texts
from innopoints.models.evaluation.metrics import QUALIFIED_SHARE

REC_ORDER = ("drop", "reweight", "add", "keep", "leave out", "uncertain")


def _role(name: str, evaluation: dict, t: Texts) -> str:
    if name == evaluation.get("best"):
        return t("ref.role_recommended")
    if name == evaluation.get("best_data") and evaluation.get("recommend") == "policy":
        return t("ref.role_best_data")
    if name == evaluation.get("best_policy") and evaluation.get("recommend") == "data":
        return t("ref.role_best_policy")
    return ""


def formulas_table(evaluation: dict, lang: str = "en") -> str:
    """Markdown table of every formula's test metrics; the recommended one is marked."""
    t = Texts(lang)
    rows = [t("ref.formulas_head"), "|---|---|---|---|---|---|---|---|---|"]
    for name, r in evaluation["formulas"].items():
        pm = r.get("policy_metrics") or {}
        qualified = (f"{pm['qualified_default_rate']:.2%} [{pm['qualified_default_rate_low']:.2%}, "
                     f"{pm['qualified_default_rate_high']:.2%}] "
                     + t("ref.of", k=pm["qualified_defaults"], n=pm["qualified_n"]) if pm else "–")
        capture = (f"{pm['capture_bottom10']:.0%} [{pm['capture_bottom10_low']:.0%}, {pm['capture_bottom10_high']:.0%}]"
                   if pm else "–")
        rows.append(f"| `{name}`{_role(name, evaluation, t)} | {_f(r.get('validation_log_loss'), '.4f')} | "
                    f"{_f(r.get('validation_auc'))} | {_f(r.get('test_auc'))} | {_f(r.get('test_ks'))} | "
                    f"{_f(r.get('test_brier'), '.4f')} | {qualified} | {capture} | "
                    f"{_interval(r.get('delta_auc_vs_baseline'))} |")
    return "\n".join(rows)


def _points_cell(r, t: Texts | None = None) -> str:
    """Points per stage in the recommended formula, with the refits' interval; a reversed direction said."""
    t = t or Texts()
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
    return f"{text} ⚠ {t('ref.reversed')}" if r.get("reversed") else text


def _backtest_lines(back: dict, t: Texts | None = None) -> list[str]:
    t = t or Texts()
    if not back or not back.get("recommended"):
        return [t("ref.not_run_because", note=back.get("note", "no test years")) if back else t("ref.not_run"), ""]
    lines = [back["method"] + ".", "", t("ref.backtest_head"), "|---|---|---|---|---|---|---|---|---|---|"]
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
                        notes: list[str] | None = None, lang: str = "en") -> str:
    """The indicator refinement report, in ``lang`` (en or zh): which formula is recommended, what to keep,
    reweight, drop or add, and how sure the evidence is. Every number of points in it is the recommended
    formula's."""
    t = Texts(lang)
    split = evaluation.get("split", {})
    best = evaluation.get("best")
    recommend = evaluation.get("recommend", "policy")
    ev = evaluation.get("evidence", {})
    cost = evaluation.get("policy_cost") or {}
    warning = f" ⚠ {split['test_warning']}." if split.get("test_warning") else ""
    lines = [
        t("ref.title"),
        "",
        t("ref.recommended", best=best, among=t("ref.among_policy" if recommend == "policy" else "ref.among_data"),
          recommend=recommend),
        "",
        t("ref.split", train_years=split.get("train_years"), train_n=split.get("train_n"),
          train_defaults=split.get("train_defaults"), validation_year=split.get("validation_year"),
          test_year=split.get("test_year"), test_n=split.get("test_n"), test_defaults=split.get("test_defaults"),
          excluded=split.get("unobserved_excluded")) + warning,
        "",
    ]
    if cost:
        d = cost["delta_auc"]
        lines += [
            t("ref.sec_cost"),
            "",
            t("ref.cost", policy=cost["policy"], data=cost["data"], mid=f"{d[1]:+.3f}", low=f"{d[0]:+.3f}",
              high=f"{d[2]:+.3f}", defaults=cost["test_defaults"])
            + (t("ref.cost_zero") if d[0] <= 0 <= d[2] else "")
            + (f" ⚠ {cost['warning']}." if cost.get("warning") else ""),
            "",
        ]
    share = evaluation["formulas"]["baseline"].get("policy_metrics", {}).get("share", QUALIFIED_SHARE)
    lines += [t("ref.sec_formulas"), "", t("ref.formulas_note", share=f"{share:.1%}"), "",
              formulas_table(evaluation, lang), ""]
    models = evaluation.get("models") or {}
    if models:
        best_auc = evaluation["formulas"][best].get("test_auc")
        ref = {k: v.get("test_auc") for k, v in models.items()}
        beaten = [k for k, v in ref.items() if v is not None and best_auc is not None and best_auc >= v]
        lines += [t("ref.models", models=", ".join(f"{k} {t('ref.test_auc')} {_f(v)}" for k, v in ref.items()))
                  + (t("ref.models_beaten", beaten=", ".join(beaten)) if beaten else ""), ""]
    lines += [t("ref.sec_backtest"), ""] + _backtest_lines(evaluation.get("backtest") or {}, t)
    shadow = ev.get("best_shadow_importance", {}).get("indicator")
    lines += [
        t("ref.sec_evidence"),
        "",
        t("ref.evidence", refits=ev.get("refits", "–"), rows=ev.get("rows_per_refit_at_most", "–"))
        + (t("ref.shadow", mid=f"{shadow[1]:.3f}", low=f"{shadow[0]:.3f}", high=f"{shadow[2]:.3f}") if shadow else "")
        + t("ref.twins", corr=ev.get("cluster_corr", 0.8), share=f"{ev.get('unavailable_share', 0.95):.0%}"),
        "",
        t("ref.sec_clusters"),
        "",
        t("ref.clusters_note"),
        "",
        t("ref.clusters_head"),
        "|---|---|---|---|---|---|---|",
    ]
    for rank, group in refinement.groupby("cluster_rank", sort=True):
        r = group.iloc[0]
        lo, hi = r["cluster_importance_interval"]
        verdicts = ", ".join(f"`{i}` {t.term(v)}" for i, v in zip(group["id"], group["recommendation"], strict=True))
        members = ", ".join(r["cluster_members"]) if not t.zh else ", ".join(
            f"{m} {t.indicator(m)}" for m in r["cluster_members"])
        lines.append(f"| {rank} | {members} | {r['cluster_importance']:.3f} "
                     f"[{lo:.3f}, {hi:.3f}] | {t('ref.of_refits', share=f'{r.cluster_beats_noise:.0%}')} | "
                     f"{t.term(r['cluster_link'])} | `{r['carrier']}` | {verdicts} |")
    lines.append("")
    conflicts = refinement[refinement["sign_conflict"]]
    lines += [t("ref.sec_conflicts"), ""]
    if conflicts.empty:
        lines += [t("none_found"), ""]
    else:
        for _, r in conflicts.iterrows():
            verdict = t("ref.conflict_reversed") if r["reversed"] else t("ref.conflict_zero")
            lines.append(t("ref.conflict", id=r["id"], name_zh=r["name_zh"], name_en=r["name_en"],
                           policy=f"{r['policy_direction']:+d}", learned=f"{r['learned_direction']:+d}",
                           share=f"{r['direction_share']:.0%}", best=best, verdict=verdict))
        lines.append("")
    lines += [t("ref.sec_recommendations"), ""]
    for rec in REC_ORDER:
        sub = refinement[refinement["recommendation"] == rec]
        if sub.empty:
            continue
        lines.append(f"**{t.term(rec)}** ({len(sub)}): " + ", ".join(f"`{i}`" for i in sub["id"]))
        lines.append("")
    lines += [
        t("ref.sec_every"),
        "",
        t("ref.every_note", best=best),
        "",
        t("ref.every_head"),
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for _, r in refinement.iterrows():
        lo, hi = r["importance_interval"]
        ilo, ihi = r["incremental_auc_interval"]
        lines.append(
            f"| {r['cluster_rank']} | `{r['id']}` | {r['name_zh']} | {t.group(r['group'])} | {t.term(r['status'])} | "
            f"{r['importance']:.3f} [{lo:.3f}, {hi:.3f}] | {r['beats_noise']:.0%} | "
            f"{r['learned_direction']:+d} / {r['policy_direction']:+d}{' ⚠' if r['sign_conflict'] else ''} | "
            f"{r['incremental_auc']:+.4f} [{ilo:+.4f}, {ihi:+.4f}] | {r['missing_share']:.1%} | "
            f"{r['baseline_points']:.1f} | {_points_cell(r, t)} | {t.term(r['recommendation'])} | {_reason(r, t)} |")
    lines += ["", t("ref.sec_frontier"), "", t("ref.frontier_head"), "|---|---|---|---|"]
    for row in frontier:
        moved = " / ".join(f"{v:.1f}" for v in row["points_moved"])
        lines.append(f"| {row['max_change']:g} | {moved} | {row['train_log_loss']:.5f} | {row['train_auc']:.3f} |")
    if notes:
        lines += ["", t("ref.sec_notes"), ""] + [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"


def _reason(row, t: Texts) -> str:
    """A row's reason in the report's language: from its fragments when the table has them (older tables
    only have the English sentence)."""
    parts = row.get("reason_parts") if hasattr(row, "get") else None
    if isinstance(parts, list) and parts:
        return t.reason(parts, english=row["reason"])
    return row["reason"]


# ------------------------------------------------------------------------------------ who was lent


def _share(v) -> str:
    return "–" if v is None else f"{v:.1%}"


def selection_markdown(sel: dict, lang: str = "en") -> str:
    """The selection report: how much of each formula's qualified set lies where few loans were ever made,
    and what inverse-propensity weights and reject inference do to the recommended formula's points.
    In ``lang``; a note written by the analysis when it did not run stays in its own words."""
    t = Texts(lang)
    if "support" not in sel:
        return "\n".join([t("sel.title"), "",
                          sel.get("note", t("sel.not_run")), "",
                          *sign_conflict_lines(sel.get("sign_conflicts"), lang)])
    s, prop, sup = sel["settings"], sel["propensity"], sel["support"]
    names = list(sup["formulas"])
    method = sel["method"]
    if t.zh and prop.get("fit_years"):
        method = t("sel.method", first=prop["fit_years"][0], last=prop["fit_years"][-1], year=prop["test_year"])
    lines = [
        t("sel.title"),
        "",
        t("sel.intro", method=method, year=prop["test_year"], auc=_f(prop["test_auc"]),
          rate=f"{prop['test_lending_rate']:.1%}", mean=f"{prop['test_mean_propensity']:.1%}"),
        "",
        t("sel.sec_support"),
        "",
        t("sel.low_support", low=f"{s['low_support']:.1%}", share=f"{s['share']:.2%}", year=prop["test_year"]),
        "",
        t("sel.support_head"),
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, r in sup["formulas"].items():
        lines.append(f"| `{name}` | {r['qualified_firms']:,} | {r['qualified_low_support']:,} | "
                     f"{_share(r['qualified_share_low_support'])} | "
                     f"{_share(r['qualified_points_share_low_support'])} | "
                     f"{_share(r['points_mass_share_low_support'])} | {r['qualified_new_vs_in_force']:,} | "
                     f"{r['qualified_new_low_support']:,} |")
    lines += ["", t("sel.bins_intro"), "",
              t("sel.bins_head", qualified=" | ".join(t("sel.bins_qualified", name=n) for n in names)),
              "|---|---|---|---|" + "---|" * len(names)]
    for b in sup["bins"]:
        flag = t("sel.low_flag") if b["low_support"] else ""
        lines.append(f"| {b['propensity_from']:.1%}–{b['propensity_to']:.1%}{flag} | {b['firms']:,} | "
                     f"{b['observed_loans']:,} | {b['observed_defaults']:,} | "
                     + " | ".join(f"{b[f'qualified_{n}']:,}" for n in names) + " |")
    w, we = sel["weights_ipw"], sel["weighted_evaluation"]
    lines += [
        "",
        t("sel.sec_weights"),
        "",
        t("sel.weights_note", lo=f"{1 / s['max_weight']:.2f}", hi=f"{s['max_weight']:g}", min=f"{w['min']:.2f}",
          max=f"{w['max']:.2f}", clipped=f"{w['clipped_share']:.1%}", effective=f"{w['effective_loans']:,.0f}",
          loans=f"{w['training_loans']:,}"),
        "",
        t("sel.weights_head"),
        "|---|---|---|",
        *(f"| `{n}` | {_f(r['test_auc'])} | {_f(r['test_auc_ipw'])} |" for n, r in we.items()),
        "",
    ]
    wt = sel["weights"]
    labels = {k: t(f"sel.{k}") for k in ("refit_unweighted", "refit_ipw", "refit_parcelled")}
    labels["shipped"] = t("sel.as_shipped")
    pts = wt["points"]
    lines += [
        t("sel.sec_points", formula=wt["formula"]),
        "",
        t("sel.points_note", rejects=f"{wt['rejects']:,}", weight=f"{wt['reject_weight']:.2f}",
          uplift=f"{s['parcel_uplift']:g}", inferred=f"{wt['mean_reject_pd']:.2%}",
          observed=f"{wt['approved_default_rate']:.2%}"),
        "",
        t("sel.points_head", labels=" | ".join(labels[k] for k in pts)),
        "|---|" + "---|" * len(pts),
    ]
    first = next(iter(pts.values()))
    for ind in first:
        values = [pts[k][ind]["mean"] for k in pts]
        if max(values) < 0.005:
            continue
        lines.append(f"| `{ind}` | " + " | ".join(f"{v:.1f}" for v in values) + " |")
    ev = wt["evaluation"]
    lines += ["", t("sel.eval_head"),
              "|---|---|---|---|",
              *(f"| {labels[k]} | {r['points_moved_from_unweighted']:.1f} | {_f(r['test_auc'])} | "
                f"{_f(r['test_auc_ipw'])} |" for k, r in ev.items()),
              "",
              t("sel.read_as"),
              ""]
    lines += sign_conflict_lines(sel.get("sign_conflicts"), lang)
    return "\n".join(lines)


def sign_conflict_lines(costs: dict | None, lang: str = "en") -> list[str]:
    """Graded handling of each sign conflict (zero, capped share, plateau) with its AUC cost; chosen one marked.
    In ``lang``."""
    if not costs:
        return []
    t = Texts(lang)
    lines = [t("sel.sec_sign_conflicts"), "",
             t("sel.conflicts_note", formula=costs["formula"], defaults=costs["test_defaults"]), "",
             t("sel.conflicts_head"),
             "|---|---|---|---|---|---|"]
    for r in costs["modes"]:
        d = r["delta_auc_vs_zero"]
        curve = f"`{r['curve']}`" if t.zh else r["curve"]
        lines.append(f"| `{r['indicator']}` | {t.term(r['mode'])}{t('sel.chosen') if r['chosen'] else ''} | "
                     f"{r['share']:.0%} | {curve} | {_f(r['test_auc'])} | "
                     f"{d[1]:+.3f} [{d[0]:+.3f}, {d[2]:+.3f}] |")
    return lines + [""]
