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
        t("pr.data", year=d["scoring_year"], firms=f"{d['firms_scored']:,}", calibration=_calibration_phrase(d, lang),
          take_up=take_up_phrase(results, lang)),
        "",
        t("pr.sec_headline"),
        "",
        *(headline_lines(results, lang) or [t("pr.one_formula")]),
        *headline_range_lines(results, lang),
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
    lines += robustness_sections(results, lang)
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


def lending_loss_frontier_plot(results: dict, lang: str = "en") -> Figure:
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


# ------------------------------------------------------------------- assumptions, robustness and risks


def _pct(v, fmt: str = "+.1%") -> str:
    return "–" if v is None else format(v, fmt)


def _pd_cell(pd_: float | None, limit: float) -> str:
    return "–" if pd_ is None else f"{pd_:.2%}" + (" ⚠" if pd_ > limit else "")


def _calibration_phrase(d: dict, lang: str = "en") -> str:
    t = Texts(lang)
    if "calibration_loans" not in d:
        return t("pr.calibration_all", loans=f"{d['observed_loans']:,}", defaults=f"{d['observed_defaults']:,}")
    check = (t("pr.calibration_check", year=d["calibration_check_year"]) if d.get("calibration_check_year")
             else t("pr.calibration_no_check"))
    years = ", ".join(map(str, d["calibration_years"]))
    return t("pr.calibration_fit", loans=f"{d['calibration_loans']:,}", years=years,
             defaults=f"{d['calibration_defaults']:,}", check=check)


def take_up_phrase(results: dict, lang: str = "en") -> str:
    """How take-up was set, as the intro of the report states it (the value and its source)."""
    t = Texts(lang)
    rate = results["policy"]["take_up"]["rate"]
    if rate is not None:
        return t("pr.take_up_flat", rate=f"{rate:g}")
    return t("pr.take_up_estimated", year=results["data"]["estimate_year"])


def headline_range(rows: list[dict], key: str = "equal_loss") -> tuple[float, float] | None:
    """Lowest and highest lending change of a sensitivity grid, matched at ``equal_loss`` or ``equal_firms``."""
    values = [r[key]["volume_ratio"] for r in rows if r[key]["volume_ratio"] is not None]
    return (min(values), max(values)) if values else None


def headline_range_lines(results: dict, lang: str = "en") -> list[str]:
    """One line per compared formula: the headline's range over the sensitivity grid, and its flags."""
    t = Texts(lang)
    lines = []
    limit = results["policy"]["qualification"]["max_marginal_pd"]
    for label, rows in (results.get("sensitivity") or {}).items():
        loss, firms = headline_range(rows), headline_range(rows, "equal_firms")
        flagged = sum(r["equal_loss"]["marginal_pd"] is not None and r["equal_loss"]["marginal_pd"] > limit
                      for r in rows)
        if loss is None:
            continue
        flag = t("pr.headline_range_flag", n=flagged, limit=f"{limit:.1%}") if flagged else ""
        lines.append(t("pr.headline_range", n=len(rows), label=label, loss_low=f"{loss[0]:+.1%}",
                       loss_high=f"{loss[1]:+.1%}", firms_low=f"{firms[0]:+.1%}", firms_high=f"{firms[1]:+.1%}",
                       flag=flag))
    return lines


def sensitivity_lines(results: dict, lang: str = "en") -> list[str]:
    """The headline over the sensitivity grid: each take-up setting and share, at equal qualified firms and at
    equal expected loss, with the range it spans."""
    t = Texts(lang)
    grid = results.get("sensitivity") or {}
    limit = results["policy"]["qualification"]["max_marginal_pd"]
    lines = []
    for label, rows in grid.items():
        eq_loss = [r["equal_loss"]["volume_ratio"] for r in rows if r["equal_loss"]["volume_ratio"] is not None]
        eq_firms = [r["equal_firms"]["volume_ratio"] for r in rows if r["equal_firms"]["volume_ratio"] is not None]
        loss_firms = [r["equal_firms"]["loss_ratio"] for r in rows if r["equal_firms"]["loss_ratio"] is not None]
        lines += [
            t("pr.sens_line", label=label, reference=results["reference"], n=len(rows),
              loss_low=_pct(min(eq_loss, default=None)), loss_high=_pct(max(eq_loss, default=None)),
              firms_low=_pct(min(eq_firms, default=None)), firms_high=_pct(max(eq_firms, default=None)),
              lossf_low=_pct(min(loss_firms, default=None)), lossf_high=_pct(max(loss_firms, default=None))),
            "",
            t("pr.sensitivity_head"),
            "|---|---|---|---|---|",
        ]
        for r in rows:
            ref, f, m = r["reference"], r["equal_firms"], r["equal_loss"]
            take = t("pr.cell_per_band") if r["take_up"] is None else t("pr.cell_flat", rate=f"{r['take_up']:g}")
            lines.append(
                f"| {take} | {r['share']:.2%} | {ref['qualified_firms']:,}, {money(ref['expected_volume'])}, "
                f"{money(ref['expected_loss'])}, {_pd_cell(ref['marginal_pd'], limit)} | "
                f"{_pct(f['volume_ratio'])}, {_pct(f['loss_ratio'])}, {_pd_cell(f['marginal_pd'], limit)} | "
                f"{m['qualified_firms']:,}, {_pct(m['volume_ratio'])}, {_pd_cell(m['marginal_pd'], limit)} |")
        lines.append("")
    return lines


def marginal_lines(results: dict, lang: str = "en") -> list[str]:
    """Where a cut-off lies in a band whose default probability exceeds the limit (⚠), per formula and headline."""
    t = Texts(lang)
    limit = results["policy"]["qualification"]["max_marginal_pd"]
    lines = []
    for label, r in results["formulas"].items():
        m = r.get("marginal") or {}
        if m.get("marginal_pd") is None:
            continue
        flag = t("pr.marginal_flag", limit=f"{limit:.1%}") if m["marginal_pd_flag"] else t("pr.marginal_end")
        lines.append(t("pr.marginal_rule", label=label, points=f"{m['marginal_points']:.2f}",
                       band=m["marginal_band"], pd=f"{m['marginal_pd']:.2%}", flag=flag))
    for h in results["headline"]:
        if h.get("marginal_pd") is not None:
            flag = (t("pr.marginal_match_flag", limit=f"{limit:.1%}") if h["marginal_pd_flag"]
                    else t("pr.marginal_end"))
            lines.append(t("pr.marginal_match", formula=h["formula"], cutoff=f"{h['cutoff']:.2f}",
                           band=h["marginal_band"], pd=f"{h['marginal_pd']:.2%}", flag=flag))
    return lines


def calibration_lines(results: dict, lang: str = "en") -> list[str]:
    """The out-of-time check of each formula's band PDs on the held-out year."""
    t = Texts(lang)
    lines = []
    for label, r in results["formulas"].items():
        cal = r.get("calibration") or {}
        check = cal.get("check")
        if not check:
            lines.append(t("pr.calib_none", label=label, years=cal.get("fit_years")))
            continue
        lines.append(t("pr.calib_check", label=label, years=", ".join(map(str, cal["fit_years"])),
                       year=cal["check_year"], loans=f"{check['loans']:,}",
                       expected=f"{check['expected_defaults']:.1f}", defaults=check["defaults"]))
    return lines


def churn_lines(results: dict, lang: str = "en") -> list[str]:
    """The qualified set's moves by stage, SME flag and province, flagged above the documented threshold."""
    t = Texts(lang)
    ch = results.get("churn") or {}
    lines = []
    for label, c in (ch.get("formulas") or {}).items():
        if "note" in c:
            lines += [t("pr.churn_note", label=label) if t.zh else f"`{label}`: {c['note']}.", ""]
            continue
        flagged = (t("pr.churn_flagged", groups=", ".join(_flagged_group(g, t) for g in c["flagged"]))
                   if c["flagged"] else t("pr.churn_none"))
        lines += [t("pr.churn_line", label=label, reference=results["reference"], kept=f"{c['kept']:,}",
                    ref_n=f"{c['reference_qualified']:,}", left=f"{c['left']:,}", entered=f"{c['entered']:,}",
                    changed=f"{c['changed_share']:.0%}", flag_change=f"{ch['flag_change']:.0%}",
                    min_firms=ch["min_firms"]) + flagged, "",
                  t("pr.churn_head"), "|---|---|---|---|---|---|"]
        for key, rows in c["groups"].items():
            for r in rows:
                if key == "province" and not r["flag"]:
                    continue  # provinces: only the flagged ones, the full list is in policy.json
                group = t.province(r["group"]) if key == "province" else t.term(r["group"])
                lines.append(f"| {t.term(key)} | {group}{' ⚠' if r['flag'] else ''} | {r['reference']:,} | "
                             f"{r['formula']:,} | {_pct(r['change'], '+.0%')} | {r['kept']:,} |")
        lines.append("")
    return lines


def _flagged_group(flagged: str, t: Texts) -> str:
    """A flagged group as ``churn`` names it (``key=group``), in the report's language."""
    key, _, group = str(flagged).partition("=")
    if not t.zh or not group:
        return str(flagged)
    return f"{t.term(key)}={t.province(group) if key == 'province' else t.term(group)}"


def funds_lines(results: dict, lang: str = "en") -> list[str]:
    """Why the funds run out: their sizes beside the claims that drive the exhaustion probability."""
    t = Texts(lang)
    f = results["policy"]["funds"]
    sizes = results.get("fund_sizes") or {}
    total = sum(sizes.values())
    explicit = t("pr.funds_explicit", n=len(f["sizes"])) if f["sizes"] else ""
    lines = [t("pr.funds_hold", n=len(sizes), total=money(total), explicit=explicit, ratio=f"{f['size_ratio']:.5%}",
               coverage=f"{f['coverage']:.0%}"), ""]
    for label, r in results["formulas"].items():
        claims = r["fund_claims"]
        ratio = claims / total if total else None
        times = t("pr.funds_times", ratio=f"{ratio:.1f}") if ratio is not None else t("pr.funds_none")
        lines.append(t("pr.funds_line", label=label, claims=money(claims), times=times,
                       shortfall=money(r["fund_expected_shortfall"]),
                       p=percent(r["fund_exhaustion_probability"], 1)))
    lines += ["", t("pr.funds_warning"), ""]
    return lines


def assumptions_table(results: dict, lang: str = "en") -> str:
    """Every assumption with the value used and its source (set in the policy file, default, or estimated)."""
    t = Texts(lang)
    rows = [t("pr.assumptions_head"), "|---|---|---|---|"]
    for a in results.get("assumptions") or []:
        v = a["value"]
        value = "–" if v is None else (f"{v:,.4g}" if isinstance(v, float) else t.assumption(v))
        rows.append(f"| {t.assumption(a['assumption'])} | {t.assumption(a['how'])} | {value} | "
                    f"{t.assumption(a['source'])} |")
    return "\n".join(rows)


def robustness_sections(results: dict, lang: str = "en") -> list[str]:
    """The sections that say how far the headline survives its assumptions (appended to the report).

    Headings, notes, table headers and sentences come in ``lang``.
    """
    t = Texts(lang)
    one = t("pr.one_formula").removeprefix("- ")
    lines = [t("pr.sec_sensitivity"), "",
             t("pr.sensitivity_note", limit=f"{results['policy']['qualification']['max_marginal_pd']:.1%}"), "",
             *(sensitivity_lines(results, lang) or [one, ""]),
             t("pr.sec_marginal"), "", *marginal_lines(results, lang), "",
             t("pr.sec_calibration"), "", *calibration_lines(results, lang), "",
             t("pr.sec_churn"), "", *(churn_lines(results, lang) or [one, ""]),
             t("pr.sec_funds"), "", *funds_lines(results, lang),
             t("pr.sec_every_assumption"), "", assumptions_table(results, lang), ""]
    return lines
