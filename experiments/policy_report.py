"""The policy simulation for people: a Markdown report and PNG plots, built from ``policy.json`` results.

Every function takes the JSON-ready results of :func:`innopoints.pipeline.policy.policy_results` (aggregates only) and
touches no file; plots are :class:`matplotlib.figure.Figure` objects built without pyplot.
"""

from __future__ import annotations

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from innopoints.experiments.formatting import interval, money, percent

DPI = 100
_PALETTE = matplotlib.colormaps["tab10"]
_SPLIT = (("loss_bank", "banks"), ("loss_guarantee", "guarantee system"), ("loss_funds", "provincial funds"))


def _bounds(r: dict, key: str) -> list:
    """``[low, value, high]`` of a figure reported with its interval (``key``, ``key_low``, ``key_high``)."""
    return [r[f"{key}_low"], r[key], r[f"{key}_high"]]


# --------------------------------------------------------------------------------------------- Markdown


def headline_lines(results: dict) -> list[str]:
    """One sentence per compared formula: how much more lending it unlocks at the reference's expected loss."""
    lines = []
    for h in results["headline"]:
        if h["cutoff"] is None:
            lines.append(f"- `{h['formula']}` cannot keep the expected loss of `{h['reference']}` "
                         f"({money(h['target_expected_loss'])}) with any cut-off.")
            continue
        ratio = f" ({h['volume_ratio'] - 1:+.1%})" if h["volume_ratio"] is not None else ""
        lines.append(
            f"- At the expected loss of `{h['reference']}` ({money(h['target_expected_loss'])}), `{h['formula']}` "
            f"qualifies everyone at or above **{h['cutoff']:.2f} points** ({h['qualified_firms']:,} firms) and "
            f"lends **{money(h['expected_volume'])}** against {money(h['reference_expected_volume'])}: "
            f"**{h['volume_difference']:+,.0f}**{ratio}.")
    return lines


def summary_table(results: dict) -> str:
    """Markdown table: one row per formula, the figures of policy.json."""
    rows = ["| formula | qualified firms | expected loans | expected volume | default rate [interval] | "
            "expected loss [interval] | banks | guarantee system | provincial funds | p99 loss | "
            "any fund exhausted |",
            "|---|---|---|---|---|---|---|---|---|---|---|"]
    for label, r in results["formulas"].items():
        rows.append(
            f"| `{label}` | {r['qualified_firms']:,.0f} | {r['expected_loans']:,.0f} | "
            f"{money(r['expected_volume'])} | {interval(_bounds(r, 'expected_default_rate'), '.2%')} | "
            f"{interval(_bounds(r, 'expected_loss'), ',.0f')} | "
            f"{money(r['loss_bank'])} | {money(r['loss_guarantee'])} | {money(r['loss_funds'])} | "
            f"{money(r['loss_p99'])} | {percent(r['fund_exhaustion_probability'], 1)} |")
    return "\n".join(rows)


def bands_table(bands: list[dict]) -> str:
    """Markdown table of a formula's bands: observed defaults, calibrated PD, take-up and loan size."""
    rows = ["| band | points from | observed loans | defaults | observed rate | PD (monotone) [95%] | "
            "firms (estimate year) | borrowers | take-up | mean yearly amount |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    for b in bands:
        lower = "–" if b["lower"] is None else f"{b['lower']:.2f}"
        rows.append(f"| {b['band']} | {lower} | {b['n']:,} | {b['defaults']:,} | {b['default_rate']:.2%} | "
                    f"{b['pd']:.2%} [{b['pd_low']:.2%}, {b['pd_high']:.2%}] | {b['firms']:,} | {b['borrowers']:,} | "
                    f"{b['take_up']:.1%} | {b['mean_amount']:,.0f} |")
    return "\n".join(rows)


def province_table(by_province: dict) -> str:
    """Markdown table per province, largest expected loss first."""
    rows = ["| province | qualified | volume | expected loss | banks | guarantee | funds | fund size | "
            "p99 loss | fund exhausted |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    order = sorted(by_province.items(), key=lambda kv: -(kv[1]["expected_loss"] or 0.0))
    for prov, r in order:
        rows.append(f"| {prov} | {r['qualified_firms']:,.0f} | {money(r['expected_volume'])} | "
                    f"{money(r['expected_loss'])} | {money(r['loss_bank'])} | {money(r['loss_guarantee'])} | "
                    f"{money(r['loss_funds'])} | {money(r['fund_size'])} | {money(r['loss_p99'])} | "
                    f"{percent(r['fund_exhaustion_probability'], 1)} |")
    return "\n".join(rows)


def policy_markdown(results: dict, plots: list[str] | None = None) -> str:
    """The whole report: headline, totals, assumptions, then bands and provinces per formula."""
    d, p = results["data"], results["policy"]
    mc, loss, rs, funds = p["monte_carlo"], p["loss"], p["risk_sharing"], p["funds"]
    q = p["qualification"]
    rule = (f"points cut-off {q['cutoff']}" if q["rule"] == "cutoff" else
            f"top {q['share']:.1%} of firms" + (" within each province" if q["by_province"] else ""))
    lines = [
        "# Policy simulation",
        "",
        f"Scoring year {d['scoring_year']}: {d['firms_scored']:,} firms scored. Default probabilities are "
        f"calibrated per points band on {d['observed_loans']:,} loans with an observed outcome "
        f"({d['observed_defaults']:,} defaults); take-up is estimated from borrowing in {d['estimate_year']}. "
        "Money in CNY 10k.",
        "",
        "## Headline: lending unlocked at the same expected loss",
        "",
        *(headline_lines(results) or ["- Only one formula: nothing to compare."]),
        "",
        "The cut-off is the lowest national points threshold at which the formula's expected loss stays within "
        "the reference's (binary search over the cumulative expected loss of the ranked firms).",
        "",
        "## Per formula",
        "",
        f"Qualification: {rule}. Default-rate and loss intervals apply every band's 95% Wilson bound at once "
        "(a conservative envelope). p99 loss and fund exhaustion come from "
        f"{mc['draws']:,} one-factor draws (correlation {loss['correlation']}, seed {mc['seed']}).",
        "",
        summary_table(results),
        "",
        "## Assumptions",
        "",
        f"- Loss given default {loss['lgd']:.0%}, tenor {loss['tenor_months']:g} months.",
        f"- Guarantee system: {rs['guarantee_share_of_loss']:.0%} of the loss on guaranteed loans (banks keep "
        f"{1 - rs['guarantee_share_of_loss']:.0%}), guaranteed principal capped at {money(rs['guarantee_cap'])} "
        f"per firm; {rs['guaranteed_share']:.1%} of the volume is guaranteed.",
        f"- Provincial funds pay {funds['coverage']:.0%} of the banks' remaining loss"
        + (f" (at most {money(funds['cap_per_loan'])} per loan)" if funds["cap_per_loan"] is not None else "")
        + f"; each fund is {funds['size_ratio']:.5%} of the reference formula's expected volume in its province "
        "(Hebei: CNY 147 m behind CNY 310.7 bn) unless sized explicitly. Claims a fund cannot pay stay with the "
        "banks.",
        f"- Refinancing: {p['refinancing']['eligible_share']:.0%} of the volume at a "
        f"{p['refinancing']['rate_advantage']:.2%} rate advantage.",
        "- Take-up per band is what firms in that band did under the formula in force; a formula that qualifies "
        "firms banks did not see may be under-credited. Override it with `take_up.rate` to compare on equal "
        "terms.",
        "",
    ]
    if plots:
        lines += ["## Plots", "", *(f"![{name}]({name})" for name in plots), ""]
    for label, r in results["formulas"].items():
        lines += [f"## `{label}`", "",
                  f"Refinancing: {money(r['refinancing_volume'])} eligible, saving "
                  f"{money(r['refinancing_interest_saving'])} of interest over the tenor.", "",
                  "### Points bands", "", bands_table(r["bands"]), "",
                  "### By province", "", province_table(r["by_province"]), ""]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------ plots


def lending_loss_frontier_plot(results: dict) -> Figure:
    """Expected volume against expected loss as each formula's cut-off falls; the policy and matched points."""
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
    ax.set_xlabel("expected loss (CNY 10k)")
    ax.set_ylabel("expected lending volume (CNY 10k)")
    ax.set_title("Lending against expected loss as the cut-off falls\n(● policy rule, ★ at the reference's loss)",
                 fontsize="medium")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def loss_distribution_plot(losses: dict[str, np.ndarray], results: dict) -> Figure:
    """Histogram of the simulated total loss per formula, with its expected loss and 99th percentile."""
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
    ax.set_xlabel("total loss (CNY 10k, to the 99.9th pct.); solid = expected, dashed = 99th pct.")
    ax.set_ylabel("density")
    ax.set_title("Loss distribution (one-factor Gaussian copula)")
    ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def loss_split_plot(results: dict) -> Figure:
    """Stacked bars: who carries each formula's expected loss."""
    fig = Figure(figsize=(7, 1.8 + 0.6 * len(results["formulas"])), dpi=DPI)
    ax = fig.subplots()
    labels = list(results["formulas"])
    y = np.arange(len(labels))[::-1]
    left = np.zeros(len(labels))
    for i, (key, name) in enumerate(_SPLIT):
        values = np.array([results["formulas"][k][key] for k in labels], dtype="float64")
        ax.barh(y, values, left=left, color=_PALETTE(i), label=name)
        left += values
    ax.set_yticks(y, labels)
    ax.set_xlabel("expected loss (CNY 10k)")
    ax.set_title("Who carries the expected loss")
    ax.legend(fontsize="small", loc="lower right")
    fig.tight_layout()
    return fig


def exhaustion_plot(results: dict) -> Figure:
    """Probability that each province's fund is exhausted, per formula (provinces by reference volume)."""
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
    ax.set_xticks(x + width * (n - 1) / 2, provinces, rotation=90, fontsize="small")
    ax.set_ylabel("P(fund exhausted)")
    ax.set_ylim(0, 1.05)
    ax.set_title("Provincial compensation funds: probability of exhaustion")
    ax.legend(fontsize="small")
    fig.tight_layout()
    return fig
