"""The policy simulation for people: a Markdown report and PNG plots, built from ``policy.json`` results.

Every function takes the JSON-ready results of :func:`innopoints.pipeline.policy.policy_results` (aggregates only) and
touches no file; plots are :class:`matplotlib.figure.Figure` objects built without pyplot. Headings, table
headers and plot labels come in ``lang`` (en or zh) from :mod:`innopoints.experiments.i18n`.
"""

from __future__ import annotations

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from innopoints.experiments.formatting import interval, money, percent
from innopoints.experiments.i18n import Texts

DPI = 100
_PALETTE = matplotlib.colormaps["tab10"]
_SPLIT = (("loss_bank", "pr.banks"), ("loss_guarantee", "pr.guarantee_system"), ("loss_funds", "pr.funds_name"))


def _bounds(r: dict, key: str) -> list:
    """``[low, value, high]`` of a figure reported with its interval (``key``, ``key_low``, ``key_high``)."""
    return [r[f"{key}_low"], r[key], r[f"{key}_high"]]


# --------------------------------------------------------------------------------------------- Markdown


def headline_lines(results: dict, lang: str = "en") -> list[str]:
    """One sentence per compared formula: how much more lending it unlocks at the reference's expected loss."""
    t = Texts(lang)
    lines = []
    for h in results["headline"]:
        if h["cutoff"] is None:
            lines.append(t("pr.cannot", formula=h["formula"], reference=h["reference"],
                           loss=money(h["target_expected_loss"])))
            continue
        ratio = f" ({h['volume_ratio'] - 1:+.1%})" if h["volume_ratio"] is not None else ""
        lines.append(t("pr.headline", reference=h["reference"], loss=money(h["target_expected_loss"]),
                       formula=h["formula"], cutoff=f"{h['cutoff']:.2f}", firms=f"{h['qualified_firms']:,}",
                       volume=money(h["expected_volume"]), ref_volume=money(h["reference_expected_volume"]),
                       diff=f"{h['volume_difference']:+,.0f}", ratio=ratio))
    return lines


def summary_table(results: dict, lang: str = "en") -> str:
    """Markdown table: one row per formula, the figures of policy.json."""
    rows = [Texts(lang)("pr.summary_head"), "|---|---|---|---|---|---|---|---|---|---|---|"]
    for label, r in results["formulas"].items():
        rows.append(
            f"| `{label}` | {r['qualified_firms']:,.0f} | {r['expected_loans']:,.0f} | "
            f"{money(r['expected_volume'])} | {interval(_bounds(r, 'expected_default_rate'), '.2%')} | "
            f"{interval(_bounds(r, 'expected_loss'), ',.0f')} | "
            f"{money(r['loss_bank'])} | {money(r['loss_guarantee'])} | {money(r['loss_funds'])} | "
            f"{money(r['loss_p99'])} | {percent(r['fund_exhaustion_probability'], 1)} |")
    return "\n".join(rows)


def bands_table(bands: list[dict], lang: str = "en") -> str:
    """Markdown table of a formula's bands: observed defaults, calibrated PD, take-up and loan size."""
    rows = [Texts(lang)("pr.bands_head"), "|---|---|---|---|---|---|---|---|---|---|"]
    for b in bands:
        lower = "–" if b["lower"] is None else f"{b['lower']:.2f}"
        rows.append(f"| {b['band']} | {lower} | {b['n']:,} | {b['defaults']:,} | {b['default_rate']:.2%} | "
                    f"{b['pd']:.2%} [{b['pd_low']:.2%}, {b['pd_high']:.2%}] | {b['firms']:,} | {b['borrowers']:,} | "
                    f"{b['take_up']:.1%} | {b['mean_amount']:,.0f} |")
    return "\n".join(rows)


def province_table(by_province: dict, lang: str = "en") -> str:
    """Markdown table per province, largest expected loss first."""
    t = Texts(lang)
    rows = [t("pr.province_head"), "|---|---|---|---|---|---|---|---|---|---|"]
    order = sorted(by_province.items(), key=lambda kv: -(kv[1]["expected_loss"] or 0.0))
    for prov, r in order:
        rows.append(f"| {t.province(prov)} | {r['qualified_firms']:,.0f} | {money(r['expected_volume'])} | "
                    f"{money(r['expected_loss'])} | {money(r['loss_bank'])} | {money(r['loss_guarantee'])} | "
                    f"{money(r['loss_funds'])} | {money(r['fund_size'])} | {money(r['loss_p99'])} | "
                    f"{percent(r['fund_exhaustion_probability'], 1)} |")
    return "\n".join(rows)


def policy_markdown(results: dict, plots: list[str] | None = None, lang: str = "en") -> str:
    """The whole report in ``lang``: headline, totals, assumptions, then bands and provinces per formula."""
    t = Texts(lang)
    d, p = results["data"], results["policy"]
    mc, loss, rs, funds = p["monte_carlo"], p["loss"], p["risk_sharing"], p["funds"]
    q = p["qualification"]
    rule = (t("pr.rule_cutoff", cutoff=q["cutoff"]) if q["rule"] == "cutoff" else
            t("pr.rule_top", share=f"{q['share']:.1%}") + (t("pr.rule_province") if q["by_province"] else ""))
    lines = [
        t("pr.title"),
        "",
        t("pr.data", year=d["scoring_year"], firms=f"{d['firms_scored']:,}", loans=f"{d['observed_loans']:,}",
          defaults=f"{d['observed_defaults']:,}", estimate_year=d["estimate_year"]),
        "",
        t("pr.sec_headline"),
        "",
        *(headline_lines(results, lang) or [t("pr.one_formula")]),
        "",
        t("pr.cutoff_note"),
        "",
        t("pr.sec_formula"),
        "",
        t("pr.formula_note", rule=rule, draws=f"{mc['draws']:,}", correlation=loss["correlation"], seed=mc["seed"]),
        "",
        summary_table(results, lang),
        "",
        t("pr.sec_assumptions"),
        "",
        t("pr.lgd", lgd=f"{loss['lgd']:.0%}", tenor=f"{loss['tenor_months']:g}"),
        t("pr.guarantee", share=f"{rs['guarantee_share_of_loss']:.0%}", keep=f"{1 - rs['guarantee_share_of_loss']:.0%}",
          cap=money(rs["guarantee_cap"]), guaranteed=f"{rs['guaranteed_share']:.1%}"),
        t("pr.funds", coverage=f"{funds['coverage']:.0%}")
        + (t("pr.funds_cap", cap=money(funds["cap_per_loan"])) if funds["cap_per_loan"] is not None else "")
        + t("pr.funds_size", ratio=f"{funds['size_ratio']:.5%}"),
        t("pr.refinance", share=f"{p['refinancing']['eligible_share']:.0%}",
          advantage=f"{p['refinancing']['rate_advantage']:.2%}"),
        t("pr.take_up"),
        "",
    ]
    if plots:
        lines += [t("pr.sec_plots"), "", *(f"![{name}]({name})" for name in plots), ""]
    for label, r in results["formulas"].items():
        lines += [f"## `{label}`", "",
                  t("pr.refinancing", volume=money(r["refinancing_volume"]),
                    saving=money(r["refinancing_interest_saving"])), "",
                  t("pr.sec_bands"), "", bands_table(r["bands"], lang), "",
                  t("pr.sec_province"), "", province_table(r["by_province"], lang), ""]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------ plots


def frontier_plot(results: dict, lang: str = "en") -> Figure:
    """Expected volume against expected loss as each formula's cut-off falls; the policy and matched points."""
    t = Texts(lang)
    fig = Figure(figsize=(7, 4.5), dpi=DPI)
    ax = fig.subplots()
    for i, (label, r) in enumerate(results["formulas"].items()):
        curve = r["curve"]
        ax.plot([c["expected_loss"] for c in curve], [c["expected_volume"] for c in curve], color=_PALETTE(i),
                label=label)
        ax.plot([r["expected_loss"]], [r["expected_volume"]], "o", color=_PALETTE(i))
    names = list(results["formulas"])
    for h in results["headline"]:
        if h["cutoff"] is not None:
            ax.plot([h["expected_loss"]], [h["expected_volume"]], "*", ms=12, color=_PALETTE(names.index(h["formula"])))
    if results["headline"]:
        ax.axvline(results["headline"][0]["target_expected_loss"], color="0.5", ls="--", lw=1)
    ax.set_xlabel(t("pr.fig_loss_x"))
    ax.set_ylabel(t("pr.fig_volume_y"))
    ax.set_title(t("pr.fig_frontier"), fontsize="medium")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def loss_distribution_plot(losses: dict[str, np.ndarray], results: dict, lang: str = "en") -> Figure:
    """Histogram of the simulated total loss per formula, with its expected loss and 99th percentile."""
    t = Texts(lang)
    fig = Figure(figsize=(7, 4.5), dpi=DPI)
    ax = fig.subplots()
    # The far tail would squeeze the body into a few bins: show up to the largest 99.9th percentile.
    top = max((float(np.quantile(v, 0.999)) for v in losses.values() if len(v)), default=0.0)
    bins = np.linspace(0.0, top * 1.05, 60) if top > 0 else 10
    for i, (label, total) in enumerate(losses.items()):
        ax.hist(total, bins=bins, density=True, alpha=0.45, color=_PALETTE(i), label=label)
        r = results["formulas"][label]
        ax.axvline(r["expected_loss"], color=_PALETTE(i), lw=1)
        ax.axvline(r["loss_p99"], color=_PALETTE(i), lw=1, ls="--")
    ax.set_xlabel(t("pr.fig_total_x"))
    ax.set_ylabel(t("pr.fig_density"))
    ax.set_title(t("pr.fig_distribution"))
    ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def loss_split_plot(results: dict, lang: str = "en") -> Figure:
    """Stacked bars: who carries each formula's expected loss."""
    t = Texts(lang)
    fig = Figure(figsize=(7, 1.8 + 0.6 * len(results["formulas"])), dpi=DPI)
    ax = fig.subplots()
    labels = list(results["formulas"])
    y = np.arange(len(labels))[::-1]
    left = np.zeros(len(labels))
    for i, (key, name) in enumerate(_SPLIT):
        values = np.array([results["formulas"][k][key] for k in labels], dtype="float64")
        ax.barh(y, values, left=left, color=_PALETTE(i), label=t(name))
        left += values
    ax.set_yticks(y, labels)
    ax.set_xlabel(t("pr.fig_loss_x"))
    ax.set_title(t("pr.fig_split"))
    ax.legend(fontsize="small", loc="lower right")
    fig.tight_layout()
    return fig


def exhaustion_plot(results: dict, lang: str = "en") -> Figure:
    """Probability that each province's fund is exhausted, per formula (provinces by reference volume)."""
    t = Texts(lang)
    ref = results["formulas"][results["reference"]]["by_province"]
    provinces = sorted(ref, key=lambda p: -(ref[p]["expected_volume"] or 0.0))
    fig = Figure(figsize=(9, 4.5), dpi=DPI)
    ax = fig.subplots()
    n = len(results["formulas"])
    width = 0.8 / max(n, 1)
    x = np.arange(len(provinces))
    for i, (label, r) in enumerate(results["formulas"].items()):
        probs = [r["by_province"].get(p, {}).get("fund_exhaustion_probability") or 0.0 for p in provinces]
        ax.bar(x + i * width, probs, width=width, color=_PALETTE(i), label=label)
    ax.set_xticks(x + width * (n - 1) / 2, [t.province(p) for p in provinces], rotation=90, fontsize="small")
    ax.set_ylabel(t("pr.fig_exhausted_y"))
    ax.set_ylim(0, 1.05)
    ax.set_title(t("pr.fig_exhaustion"))
    ax.legend(fontsize="small")
    fig.tight_layout()
    return fig
