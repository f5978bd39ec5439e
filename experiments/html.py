"""The reviewer report of a formula comparison: one self-contained HTML file, and a Markdown summary.

The HTML needs nothing but itself: CSS inline, plots embedded as base64 PNG data URIs, no script, no font,
link or image fetched from anywhere, and a Content-Security-Policy that forbids any request except
``data:`` images, so a browser makes no network request even if a future edit slips a URL in. Every piece
of text (formula titles, labels, indicator names, slice values) is escaped with :func:`html.escape`.

The report shows the differences first ("What changes"), then the detail a reviewer checks: metrics side
by side, points per indicator and stage, SHAP importance, sign conflicts, qualified-set changes, calibration
and PSI, and the provenance of both formulas. Plots are matplotlib :class:`~matplotlib.figure.Figure`
objects (no pyplot, no global state) saved without a timestamp, so the same comparison gives the same file.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Iterable, Sequence
from html import escape

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from innopoints.experiments.compare import GROUPS, Comparison, biggest_changes, scored_direction
from innopoints.experiments.formatting import interval, money, number, percent, pp
from innopoints.features.stage import STAGE_NAMES_ZH, STAGES

DPI = 100
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
"""Content-Security-Policy of the report: inline styles and data-URI images only, nothing fetched."""

PSI_WATCH, PSI_ACT = 0.1, 0.25
"""Usual PSI reading: below 0.1 stable, 0.1–0.25 worth watching, above 0.25 a real shift."""

_A_COLOR, _B_COLOR = matplotlib.colormaps["tab10"](0), matplotlib.colormaps["tab10"](1)
_STAGE_COLORS = [matplotlib.colormaps["tab10"](i) for i in (2, 4, 5)]
_TOL = 1e-9

_CSS = """
:root { --a: #1f77b4; --b: #ff7f0e; --line: #d0d7de; --muted: #57606a; }
* { box-sizing: border-box; }
body { font-family: system-ui, -apple-system, "Segoe UI", "Noto Sans CJK SC", "PingFang SC",
       "Microsoft YaHei", sans-serif; color: #1f2328; margin: 0 auto; max-width: 1120px;
       padding: 24px 28px 48px; line-height: 1.45; font-size: 15px; }
h1 { font-size: 26px; margin: 0 0 8px; }
h2 { font-size: 20px; margin: 36px 0 10px; padding-bottom: 4px; border-bottom: 2px solid var(--line); }
h3 { font-size: 16px; margin: 20px 0 8px; }
p.note, .muted { color: var(--muted); font-size: 13px; }
.who { display: grid; grid-template-columns: auto 1fr; gap: 4px 12px; margin: 10px 0; }
.tag { display: inline-block; padding: 1px 8px; border-radius: 10px; color: #fff; font-weight: 600;
       font-size: 13px; white-space: nowrap; }
.tag.a { background: var(--a); } .tag.b { background: var(--b); }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(240px, 1fr)); gap: 12px; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px; background: #f6f8fa; }
.card .k { font-size: 13px; color: var(--muted); }
.card .v { font-size: 22px; font-weight: 650; margin: 2px 0; font-variant-numeric: tabular-nums; }
.card .s { font-size: 13px; }
table { border-collapse: collapse; margin: 6px 0 14px; font-size: 13px; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid var(--line); padding: 3px 8px; text-align: right; vertical-align: top; }
th { background: #f6f8fa; font-weight: 600; }
td.t, th.t { text-align: left; }
td.up { background: #dafbe1; font-weight: 600; } td.down { background: #ffebe9; font-weight: 600; }
tr.moved td.t:first-child { border-left: 3px solid var(--b); }
.side { display: flex; flex-wrap: wrap; gap: 24px; align-items: flex-start; }
img { max-width: 100%; height: auto; border: 1px solid var(--line); border-radius: 4px; }
.scroll { overflow-x: auto; max-width: 100%; }
td.hash { word-break: break-all; min-width: 16em; }
details { margin: 10px 0; } summary { cursor: pointer; font-weight: 600; font-size: 15px; margin: 8px 0; }
footer { margin-top: 40px; border-top: 2px solid var(--line); padding-top: 10px; }
"""


# ------------------------------------------------------------------------------------------ formatting


def _stage_label(stage: str) -> str:
    return f"{stage} {STAGE_NAMES_ZH.get(stage, '')}".strip()


def _qualified_rate(m: dict) -> str:
    return (f"{percent(m['qualified_default_rate'], 2)} [{percent(m['qualified_default_rate_low'], 2)}, "
            f"{percent(m['qualified_default_rate_high'], 2)}]")


def _qualified_count(m: dict) -> str:
    return f"{m['qualified_defaults']} defaults in {m['qualified_n']} loans"


def _verdict_auc(delta: Sequence[float] | None) -> str:
    if not delta:
        return ""
    low, mid, high = delta
    if low == mid == high == 0:
        return "Identical ranking of the test loans."
    if low > 0:
        return "B ranks defaults better than A: the 95% interval is above 0."
    if high < 0:
        return "B ranks defaults worse than A: the 95% interval is below 0."
    return "No clear difference: the 95% interval includes 0."


# ------------------------------------------------------------------------------------- HTML building


def _cell(value, cls: str | None = None, tag: str = "td") -> str:
    """One escaped table cell; ``value`` is text or a number already formatted by the caller."""
    attr = f' class="{escape(cls)}"' if cls else ""
    return f"<{tag}{attr}>{escape(str(value))}</{tag}>"


def _text(value) -> str:
    return _cell(value, "t")


def _table(head: Sequence[str], rows: Iterable[Sequence[str]], row_classes: Sequence[str] | None = None,
           text_columns: int = 1) -> str:
    """A table from a header (plain text, escaped here) and rows of cells built with :func:`_cell`."""
    ths = "".join(_cell(h, "t" if i < text_columns else None, "th") for i, h in enumerate(head))
    body = []
    for i, cells in enumerate(rows):
        cls = f' class="{escape(row_classes[i])}"' if row_classes and row_classes[i] else ""
        body.append(f"<tr{cls}>{''.join(cells)}</tr>")
    table = f'<table><thead><tr>{ths}</tr></thead><tbody>{"".join(body)}</tbody></table>'
    return f'<div class="scroll">{table}</div>'


def _change_class(change: float | None) -> str | None:
    if change is None or (isinstance(change, float) and math.isnan(change)) or abs(change) <= _TOL:
        return None
    return "up" if change > 0 else "down"


def _img(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{escape(alt)}">'


FOLD_ROWS = 12
"""Slice tables longer than this (e.g. 31 provinces) are folded into a <details> element."""


def _block(title: str, table: str, n_rows: int, fold: bool = True) -> str:
    """A titled table; a long one is folded (click to open, no script needed)."""
    if fold and n_rows > FOLD_ROWS:
        return f"<details><summary>{escape(title)} ({n_rows} rows)</summary>{table}</details>"
    return f"<div><h3>{escape(title)}</h3>{table}</div>"


def _slice_order(col: str, rows: list[dict]) -> list[dict]:
    """Slice rows as given, except stages, which read in lifecycle order rather than alphabetically."""
    if col != "stage":
        return rows
    rank = {s: i for i, s in enumerate(STAGES)}
    return sorted(rows, key=lambda r: rank.get(str(r["value"]), len(rank)))


def _p(text: str, cls: str | None = None) -> str:
    attr = f' class="{escape(cls)}"' if cls else ""
    return f"<p{attr}>{escape(text)}</p>"


def _card(key: str, value: str, sub: Iterable[str] = ()) -> str:
    subs = "".join(f'<div class="s">{escape(s)}</div>' for s in sub if s)
    return (f'<div class="card"><div class="k">{escape(key)}</div><div class="v">{escape(value)}</div>'
            f"{subs}</div>")


# ---------------------------------------------------------------------------------------------- plots


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    # No "Software" or date chunk: the same comparison gives byte-identical images.
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()


def _short(text: str, width: int = 38) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def change_plot(points: pd.DataFrame) -> Figure:
    """Horizontal bars of the points change (B − A) of every moved item, one bar per stage."""
    moved_ids = points.loc[points["change"].abs() > _TOL, "id"].drop_duplicates().tolist()
    n = len(moved_ids)
    fig = Figure(figsize=(8, 1.6 + 0.45 * max(n, 1)), dpi=DPI)
    ax = fig.subplots()
    if not moved_ids:
        ax.text(0.5, 0.5, "No points moved between A and B", ha="center", va="center", fontsize=12)
        ax.set_axis_off()
        return fig
    y = np.arange(n)[::-1]
    height = 0.8 / len(STAGES)
    labels = []
    for i, item_id in enumerate(moved_ids):
        rows = points.loc[points["id"] == item_id]
        labels.append(_short(str(rows["name_en"].iloc[0] or item_id)))
        for k, stage in enumerate(STAGES):
            change = rows.loc[rows["stage"] == stage, "change"]
            value = float(change.iloc[0]) if len(change) else 0.0
            ax.barh(y[i] + (1 - k) * height, value, height=height, color=_STAGE_COLORS[k],
                    label=stage if i == 0 else None)
    ax.set_yticks(y, labels)
    ax.axvline(0.0, color="0.3", linewidth=0.8)
    ax.set_xlabel("max points, B − A")
    ax.set_title("Points moved per indicator and stage")
    ax.legend(fontsize="small", loc="best")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


def calibration_plot(cal_a: pd.DataFrame, cal_b: pd.DataFrame, label_a: str, label_b: str) -> Figure:
    """Observed default rate per points band (1 = lowest points) for A and B; dashed: the fitted PD."""
    fig = Figure(figsize=(7, 4), dpi=DPI)
    ax = fig.subplots()
    for cal, label, color in ((cal_a, f"A {label_a}", _A_COLOR), (cal_b, f"B {label_b}", _B_COLOR)):
        ax.plot(cal["band"], cal["default_rate"], marker="o", color=color, label=f"{_short(label)} observed")
        if "mean_predicted_pd" in cal.columns:
            ax.plot(cal["band"], cal["mean_predicted_pd"], linestyle="--", color=color, alpha=0.8,
                    label=f"{_short(label)} fitted")
    ax.set_xlabel("points band on the test loans (1 = lowest points)")
    ax.set_ylabel("default rate")
    ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    ax.set_title("Calibration: default rate by points band")
    ax.legend(fontsize="small")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def distribution_plot(dist: pd.DataFrame, threshold_a: float | None, threshold_b: float | None,
                      label_a: str, label_b: str) -> Figure:
    """Histogram of the population's points under A and B, with each formula's qualifying cut-off."""
    fig = Figure(figsize=(7, 3.8), dpi=DPI)
    ax = fig.subplots()
    edges = np.append(dist["lower"].to_numpy(), dist["upper"].to_numpy()[-1])
    ax.stairs(dist["n_a"].to_numpy(), edges, color=_A_COLOR, linewidth=1.8, label=f"A {_short(label_a)}")
    ax.stairs(dist["n_b"].to_numpy(), edges, color=_B_COLOR, linewidth=1.8, label=f"B {_short(label_b)}")
    for threshold, color, name in ((threshold_a, _A_COLOR, "A"), (threshold_b, _B_COLOR, "B")):
        if threshold is not None:
            ax.axvline(threshold, color=color, linestyle=":", linewidth=1.5,
                       label=f"{name} qualifying cut-off")
    ax.set_xlabel("points")
    ax.set_ylabel("firms")
    ax.set_title("Points distribution of the population")
    ax.legend(fontsize="small")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


# -------------------------------------------------------------------------------------------- sections


def _header(c: Comparison) -> str:
    s = c.settings
    split = s["split"]
    who = "".join(
        f'<span class="tag {k}">{k.upper()} · {role}</span><div><strong>{escape(label)}</strong> — '
        f"{escape(f['title'])}</div>"
        for k, role, label, f in (("a", "baseline", c.label_a, c.formula_a),
                                  ("b", "candidate", c.label_b, c.formula_b))
    )
    pop_year = s["population_year"]
    facts = (f"Test year {split['test_year']}: {split['test_n']} loans with observed outcomes, "
             f"{split['test_defaults']} defaults (trained on {split['train_years']}). Population"
             f"{'' if pop_year is None else f' of {pop_year}'}: {s['population_n']} firms. "
             f"Qualified share {s['share']:.1%}. Every difference is B − A.")
    return (f"<header><h1>Points formula comparison: {escape(c.label_b)} vs {escape(c.label_a)}</h1>"
            f'<div class="who">{who}</div>{_p(facts, "note")}</header>')


def _what_changes(c: Comparison) -> str:
    h = c.headline
    delong = h["delong"] or {}
    pop, loans = h["population"], h["test_loans"]
    pop_year = c.settings["population_year"]
    cards = [
        _card("ΔAUC on the test loans (95% bootstrap)", interval(h["delta_auc"]),
              [f"AUC A {number(h['auc_a'])} → B {number(h['auc_b'])}; DeLong p = {number(delong.get('p_value'))}",
               _verdict_auc(h["delta_auc"])]),
        _card(f"Default rate of qualified test loans (cut-off on the firms, top {c.settings['share']:.1%})",
              f"{_qualified_rate(h['qualified_a'])} → {_qualified_rate(h['qualified_b'])}",
              [f"A {_qualified_count(h['qualified_a'])}; B {_qualified_count(h['qualified_b'])}; 95% Wilson "
               f"intervals; {h['qualified_b']['n_defaults']} test defaults in all"]),
        _card(f"Firms entering the qualified set{'' if pop_year is None else f' ({pop_year})'}",
              f"{pop['entering']:,}",
              [f"qualified A {pop['qualified_a']:,} → B {pop['qualified_b']:,} of {pop['n_b']:,} firms",
               f"test loans entering: {loans['entering']['n']}, default rate "
               f"{percent(loans['entering']['default_rate'])}"]),
        _card(f"Firms leaving the qualified set{'' if pop_year is None else f' ({pop_year})'}",
              f"{pop['leaving']:,}",
              [f"{pop['staying']:,} firms stay qualified",
               f"test loans leaving: {loans['leaving']['n']}, default rate "
               f"{percent(loans['leaving']['default_rate'])}"]),
        _card("Points moved per stage", " / ".join(number(h["points_moved"][s], ".1f") for s in STAGES),
              [f"start-up / growth / stable; {h['n_items_changed']} item(s) changed",
               f"sign conflicts: {h['n_sign_conflicts']}; PSI B vs A {number(h['psi_a_vs_b_population'])}"]),
    ]
    big = biggest_changes(c.points)
    if big.empty:
        table = _p("No item's points change in any stage.", "note")
    else:
        rows = [[_text(r.id), _text(r.name_en or ""), _text(_stage_label(r.stage)),
                 _cell(number(r.points_a, ".2f")), _cell(number(r.points_b, ".2f")),
                 _cell(number(r.change, "+.2f"), _change_class(r.change)),
                 _text(scored_direction(r.direction_b if r.points_b > 0 else r.direction_a, r.policy_direction))]
                for r in big.itertuples()]
        table = _table(["indicator", "name", "stage", "A", "B", "change", "direction"], rows, text_columns=3)
    return (f'<section id="what-changes"><h2>What changes</h2><div class="cards">{"".join(cards)}</div>'
            f"<h3>The {len(big)} biggest point changes</h3>{table}"
            f"{_img(_png(change_plot(c.points)), 'Points moved per indicator and stage')}</section>")


_IMPORTANCE_COLUMNS = (
    ("importance", "mean |SHAP|", ".4f"), ("lo", "lo", ".4f"), ("hi", "hi", ".4f"), ("rank", "rank", ".0f"),
    ("direction", "direction", "+.0f"),
)

_METRICS = (
    ("test_auc", "AUC", ".3f"), ("test_gini", "Gini", ".3f"), ("test_ks", "KS", ".3f"),
    ("test_brier", "Brier score", ".4f"), ("test_log_loss", "log loss", ".4f"),
    ("test_top_default_rate", "top-share default rate", ".2%"),
    ("test_top_capture", "defaults captured in the top share", ".2%"),
    ("test_top_good_capture", "non-defaults in the top share", ".2%"),
    ("train_auc", "AUC on the training years", ".3f"),
)


def _metrics(c: Comparison) -> str:
    a, b = c.metrics_a, c.metrics_b
    rows = []
    for key, name, spec in _METRICS:
        va, vb = a.get(key), b.get(key)
        diff = vb - va if va is not None and vb is not None else None
        diff_spec = "+.2%" if spec.endswith("%") else "+" + spec
        rows.append([_text(name), _cell(number(va, spec)), _cell(number(vb, spec)), _cell(number(diff, diff_spec))])
    rows.append([_text("points cut-off of the top share"), _cell(number(a["top"]["threshold"], ".2f")),
                 _cell(number(b["top"]["threshold"], ".2f")), _cell("")])
    table = _table(["metric (test loans)", "A", "B", "B − A"], rows)
    delong = b.get("delong_vs_baseline") or {}
    boot = b.get("bootstrap") or {}
    extra = _table(["difference B − A", "estimate [95% interval]"], [
        [_text(f"ΔAUC, paired bootstrap ({boot.get('n_boot')} resamples, seed {boot.get('seed')})"),
         _cell(interval(b.get("delta_auc_vs_baseline")))],
        [_text("ΔAUC, DeLong"), _cell(interval([delong.get("low"), delong.get("delta"), delong.get("high")])
                                      if delong else "–")],
        [_text("DeLong z / p-value"), _cell(f"{number(delong.get('z'), '.2f')} / {number(delong.get('p_value'))}")],
        [_text("Δ top-share default rate, paired bootstrap"),
         _cell(pp(b.get("delta_top_default_rate_vs_baseline")))],
    ])
    slices = []
    for col, rows_b in (b.get("slices") or {}).items():
        by_value = {str(r["value"]): r for r in (a.get("slices") or {}).get(col, [])}
        rows = []
        for rb in _slice_order(col, rows_b):
            ra = by_value.get(str(rb["value"]), {})
            rows.append([_text(rb["value"]), _cell(rb["n"]), _cell(rb["defaults"]), _cell(number(ra.get("auc"))),
                         _cell(number(rb["auc"])), _cell(percent(ra.get("top_default_rate"))),
                         _cell(percent(rb["top_default_rate"]))])
        head = [col, "loans", "defaults", "AUC A", "AUC B", "top rate A", "top rate B"]
        slices.append(_block(f"Test loans by {col}", _table(head, rows), len(rows)))
    note = _p("Slices with too few loans or defaults show no AUC or top rate (coverage rule of the "
              "evaluation). Brier score and log loss use a points-to-PD calibration fitted on the training "
              "years only.", "note")
    return (f'<section id="metrics"><h2>Metrics side by side</h2><div class="side">{table}{extra}</div>'
            f'<div class="side">{"".join(slices)}</div>{note}</section>')


def _points(c: Comparison) -> str:
    p = c.points
    head = ["item", "name · 名称"]
    for s in STAGES:
        head += [f"{s} A", f"{s} B", f"{s} Δ"]
    head += ["curve A", "curve B"]
    rows, classes = [], []
    for (kind, item_id), item in p.groupby(["kind", "id"], sort=False):
        by_stage = item.set_index("stage")
        first = item.iloc[0]
        name = " · ".join(str(n) for n in (first["name_en"], first["name_zh"]) if n)
        cells = [_text(item_id if kind == "indicator" else f"bonus {item_id}"), _text(name)]
        for s in STAGES:
            r = by_stage.loc[s]
            cells += [_cell(number(r["points_a"], ".2f")), _cell(number(r["points_b"], ".2f")),
                      _cell(number(r["change"], "+.2f"), _change_class(r["change"]))]
        curve_a, curve_b = first["curve_a"], first["curve_b"]
        curve_cls = "t up" if curve_a != curve_b else "t"
        shown_b = "same" if curve_a == curve_b else curve_b or "(absent)"
        cells += [_cell(curve_a or "(absent)", curve_cls), _cell(shown_b, curve_cls)]
        rows.append(cells)
        classes.append("moved" if (item["change"].abs() > _TOL).any() or curve_a != curve_b else "")
    note = _p("Max points per lifecycle stage; an item a formula does not have counts as 0. Highlighted: "
              "points that change, and curves whose type or reference values differ.", "note")
    return (f'<section id="points"><h2>Points per indicator and stage</h2>{note}'
            f"{_table(head, rows, classes, text_columns=2)}</section>")


def _importance(c: Comparison) -> str:
    imp = c.importance
    if imp is None:
        return ""
    head, cols = ["indicator", "name"], []
    for k in ("a", "b"):
        for col, name, spec in _IMPORTANCE_COLUMNS:
            if f"{col}_{k}" in imp.columns:
                head.append(f"{name} {k.upper()}")
                cols.append((f"{col}_{k}", spec))
    rows = []
    for feature, r in imp.iterrows():
        cells = [_text(feature), _text(r["name_en"] or "")]
        for col, spec in cols:
            value = r[col]
            cells.append(_cell(number(None if pd.isna(value) else float(value), spec)))
        rows.append(cells)
    note = _p("Mean |SHAP| on the default log-odds of each formula's model, with its 95% bootstrap interval; "
              "direction +1 = a higher value goes with lower default risk.", "note")
    return (f'<section id="importance"><h2>SHAP importance side by side</h2>{note}'
            f"{_table(head, rows, text_columns=2)}</section>")


def _conflicts(c: Comparison) -> str:
    sc = c.sign_conflicts
    intro = _p("A sign conflict is an indicator scored (or learned by a model) in the opposite direction of "
               "its policy direction (+1 = a higher value earns more points).", "note")
    if sc.empty:
        body = _p("None found.")
    else:
        rows = [[_text(r.formula), _text(r.source), _text(r.id), _text(r.name_en), _text(r.name_zh),
                 _cell(f"{r.policy_direction:+d}"), _cell(f"{r.direction:+d}", "down")]
                for r in sc.itertuples()]
        body = _table(["formula", "source", "indicator", "name", "名称", "policy", "direction"], rows,
                      text_columns=5)
    return f'<section id="sign-conflicts"><h2>Sign conflicts</h2>{intro}{body}</section>'


def _rate_cell(group: dict) -> str:
    if not group["n"]:
        return _cell("0")
    return _cell(f"{group['n']} ({percent(group['default_rate'])})")


def _qualified(c: Comparison) -> str:
    q, ql = c.qualified_population, c.qualified_loans
    pop_year = c.settings["population_year"]
    parts = [_p(f"Population{'' if pop_year is None else f' of {pop_year}'}: each formula qualifies its "
                f"top {q['share']:.1%} (cut-off A {number(q['threshold_a'], '.2f')}, "
                f"B {number(q['threshold_b'], '.2f')} points). No outcome is known yet for these firms.", "note")]
    for col, rows in q["by"].items():
        rows = _slice_order(col, rows)
        body = [[_text(r["value"]), _cell(r["n"]), _cell(r["qualified_a"]), _cell(r["qualified_b"]),
                 _cell(r["entering"], "up" if r["entering"] else None),
                 _cell(r["leaving"], "down" if r["leaving"] else None), _cell(r["staying"])]
                for r in rows]
        table = _table([col, "firms", "qualified A", "qualified B", *GROUPS], body)
        parts.append(_block(f"Firms by {col}", table, len(body), fold=False))
    loans_note = _p(f"Test loans ({ql['n']} with observed outcomes): each loan qualified at origination "
                    f"by each formula's top {ql['share']:.1%}; cells show loans (default rate).", "note")
    overall = ql["overall"]
    loan_tables = [_table(["test loans", *GROUPS],
                          [[_text("all"), *(_rate_cell(overall[g]) for g in GROUPS)]])]
    for col, rows in ql["by"].items():
        body = [[_text(r["value"]), _cell(r["n"]), *(_rate_cell(r[g]) for g in GROUPS)]
                for r in _slice_order(col, rows)]
        loan_tables.append(_block(f"Test loans by {col}", _table([col, "loans", *GROUPS], body), len(body)))
    return (f'<section id="qualified"><h2>Qualified-set changes by province, stage and SME</h2>'
            f'{parts[0]}<div class="side">{"".join(parts[1:])}</div>{loans_note}'
            f'<div class="side">{"".join(loan_tables)}</div></section>')


def _calibration_table(cal: pd.DataFrame, name: str) -> str:
    rows = [[_cell(int(r["band"])), _cell(f"{r['lower']:.2f}–{r['upper']:.2f}"), _cell(int(r["n"])),
             _cell(int(r["defaults"])), _cell(percent(r["default_rate"], 2)),
             _cell(percent(r.get("mean_predicted_pd"), 2))]
            for _, r in cal.iterrows()]
    return (f"<div><h3>{escape(name)}</h3>"
            + _table(["band", "points", "loans", "defaults", "default rate", "fitted PD"], rows,
                     text_columns=0)
            + "</div>")


def _calibration(c: Comparison) -> str:
    img = _img(_png(calibration_plot(c.calibration_a, c.calibration_b, c.label_a, c.label_b)),
               "Calibration curves of A and B")
    tables = (_calibration_table(c.calibration_a, f"A {c.label_a}")
              + _calibration_table(c.calibration_b, f"B {c.label_b}"))
    note = _p("Quantile bands of each formula's points on the test loans; fitted PD is the points-to-PD "
              "calibration from the training years.", "note")
    return (f'<section id="calibration"><h2>Calibration</h2>{img}{note}'
            f'<div class="side">{tables}</div></section>')


def _psi(c: Comparison) -> str:
    by_b = {(r["year_from"], r["year_to"]): r for r in c.psi["by_year_b"]}
    rows = []
    for r in c.psi["by_year_a"]:
        rb = by_b.get((r["year_from"], r["year_to"]), {})
        rows.append([_text(f"{r['year_from']} → {r['year_to']}"), _cell(r["n_from"]), _cell(r["n_to"]),
                     _psi_cell(r["psi"]), _psi_cell(rb.get("psi"))])
    table = _table(["loan years", "loans from", "loans to", "PSI A", "PSI B"], rows)
    ab = _table(["B against A", "PSI"], [
        [_text("population points"), _psi_cell(c.psi["a_vs_b_population"])],
        [_text("test-loan points"), _psi_cell(c.psi["a_vs_b_test_loans"])],
    ])
    q = c.qualified_population
    fig = distribution_plot(c.distribution, q.get("threshold_a"), q.get("threshold_b"), c.label_a, c.label_b)
    img = _img(_png(fig), "Points distribution of the population, A and B")
    note = _p(f"Population stability index of points between consecutive origination years (earlier year = "
              f"expected, 10 quantile bins). Below {PSI_WATCH} stable, {PSI_WATCH}–{PSI_ACT} worth "
              f"watching, above {PSI_ACT} a real shift (highlighted).", "note")
    return (f'<section id="psi"><h2>Population stability (PSI)</h2>{note}'
            f'<div class="side">{table}{ab}</div>{img}</section>')


def _psi_cell(value) -> str:
    return _cell(number(value), "down" if value is not None and value > PSI_ACT else None)


def _policy(c: Comparison) -> str:
    """Lending and losses under the policy (simulated), and what B unlocks at A's expected loss."""
    if not c.policy:
        return ""
    pol = c.policy
    head = ["formula", "qualified firms", "expected volume", "default rate", "expected loss",
            "bank / guarantee / funds", "99th pct loss", "a fund exhausted"]
    rows = []
    for side, label in zip(("A", "B"), pol["labels"], strict=False):
        t = pol["totals"][label]
        rows.append([_text(f"{side} {label}"), _cell(money(t["qualified_firms"])), _cell(money(t["expected_volume"])),
                     _cell(percent(t["expected_default_rate"], 2)), _cell(money(t["expected_loss"])),
                     _cell(f"{money(t['loss_bank'])} / {money(t['loss_guarantee'])} / {money(t['loss_funds'])}"),
                     _cell(money(t["loss_p99"])), _cell(percent(t["fund_exhaustion_probability"]))])
    h = pol.get("headline")
    text = ""
    if h:
        text = (f"At A's expected loss ({money(h['target_expected_loss'])}), B qualifies "
                f"{money(h['qualified_firms'])} firms (cut-off {number(h['cutoff'], '.1f')} points) and lends "
                f"{money(h['expected_volume'])}: {money(h['volume_difference'])} more than A "
                f"({percent((h['volume_ratio'] or 1.0) - 1.0)}).")
    note = (f"Simulated for the scoring year {pol['scoring_year']} under the default policy (docs/policy.md: "
            f"take-up, loan size and default probability per points band from the observed loans, losses split "
            f"between bank, guarantee fund and provincial risk-compensation funds, {pol['draws']:,} one-factor "
            "Monte Carlo draws). Money in CNY 10k. The full simulation is in policy/ beside this report.")
    return (f"<section><h2>Lending and losses under the policy</h2>{_p(text) if text else ''}"
            f"{_table(head, rows, text_columns=1)}{_p(note, 'note')}</section>")


def _footer(c: Comparison) -> str:
    fields = (("method", "method"), ("data fingerprint", "data_fingerprint"), ("config hash", "config_hash"),
              ("seed", "seed"), ("content hash", "content_hash"), ("illustrative", "illustrative"),
              ("base / bonus points", None), ("indicators / bonus items", None))
    rows = []
    for name, key in fields:
        if key is None and name.startswith("base"):
            va = f"{c.formula_a['base_points']:g} / {c.formula_a['bonus_points']:g}"
            vb = f"{c.formula_b['base_points']:g} / {c.formula_b['bonus_points']:g}"
        elif key is None:
            va = f"{c.formula_a['n_indicators']} / {c.formula_a['n_bonus']}"
            vb = f"{c.formula_b['n_indicators']} / {c.formula_b['n_bonus']}"
        else:
            va, vb = c.formula_a[key], c.formula_b[key]
        cls = "t hash" if key in ("content_hash", "data_fingerprint", "config_hash") else "t"
        rows.append([_text(name), *(_cell("–" if v in (None, "") else v, cls) for v in (va, vb))])
    s = c.settings
    fingerprint = s["data_fingerprint"] or "not given"
    run = (f"Fingerprint of the compared data: {fingerprint}. Qualified share {s['share']:.4g}; paired "
           f"bootstrap {s['n_boot']} resamples, seed {s['seed']}; test year {s['test_year']}; loans excluded "
           f"as still open: {s['split']['excluded']['outcome_not_observed']}. Aggregates only: no firm or "
           "loan identifier appears in this report.")
    return (f"<footer><h2>Provenance</h2>"
            f"{_table(['', f'A {c.label_a}', f'B {c.label_b}'], rows, text_columns=3)}{_p(run, 'note')}"
            f"{_p('Made by innopoints compare.', 'muted')}</footer>")


# ------------------------------------------------------------------------------------------ public API


def render_html(comparison: Comparison) -> str:
    """The reviewer report as one self-contained HTML document (UTF-8, no external resource)."""
    c = comparison
    title = f"Compare {c.label_b} vs {c.label_a}"
    sections = [_header(c), _what_changes(c), _metrics(c), _points(c), _importance(c), _conflicts(c),
                _qualified(c), c.migration_html(), _policy(c), _calibration(c), _psi(c), _footer(c)]
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f'<meta http-equiv="Content-Security-Policy" content="{escape(CSP, quote=False)}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="referrer" content="no-referrer"><title>{escape(title)}</title>'
        f"<style>{_CSS}</style></head>\n<body>\n" + "\n".join(s for s in sections if s) + "\n</body></html>\n"
    )


def _md(value) -> str:
    """Text safe in Markdown: no HTML tag (review threads render inline HTML), pipes escaped for tables."""
    return str(value).replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|").replace("\n", " ")


def render_markdown(comparison: Comparison) -> str:
    """A short summary for review threads: the differences first, then where to look in the HTML."""
    c = comparison
    h, s = c.headline, c.settings
    delong = h["delong"] or {}
    pop, loans = h["population"], h["test_loans"]
    pop_year = s["population_year"]
    lines = [
        f"### Formula comparison: `{_md(c.label_b)}` vs `{_md(c.label_a)}`",
        "",
        f"- **A (baseline):** `{_md(c.label_a)}` — {_md(c.formula_a['title'])}",
        f"- **B (candidate):** `{_md(c.label_b)}` — {_md(c.formula_b['title'])}",
        f"- Test year {s['test_year']}: {s['split']['test_n']} loans, "
        f"{s['split']['test_defaults']} defaults; "
        f"population{'' if pop_year is None else f' {pop_year}'}: {s['population_n']} firms; "
        f"qualified share {s['share']:.1%}. Differences are B − A.",
        "",
        "**What changes**",
        "",
        f"- ΔAUC {interval(h['delta_auc'])} (95% paired bootstrap); AUC A {number(h['auc_a'])} → B "
        f"{number(h['auc_b'])}; DeLong p = {number(delong.get('p_value'))}. {_verdict_auc(h['delta_auc'])}",
        f"- Default rate of the test loans whose points reach the cut-off that qualifies the top "
        f"{c.settings['share']:.1%} of the firms: A {_qualified_rate(h['qualified_a'])} "
        f"({_qualified_count(h['qualified_a'])}) → B {_qualified_rate(h['qualified_b'])} "
        f"({_qualified_count(h['qualified_b'])}); 95% Wilson intervals; {h['qualified_b']['n_defaults']} test "
        "defaults in all.",
        f"- Qualified set: {pop['entering']:,} firms enter, {pop['leaving']:,} leave, "
        f"{pop['staying']:,} stay "
        f"(qualified A {pop['qualified_a']:,} → B {pop['qualified_b']:,}). On the test loans: entering "
        f"{loans['entering']['n']} (default rate {percent(loans['entering']['default_rate'])}), leaving "
        f"{loans['leaving']['n']} ({percent(loans['leaving']['default_rate'])}), staying "
        f"{loans['staying']['n']} ({percent(loans['staying']['default_rate'])}).",
        f"- Points moved (start-up / growth / stable): "
        f"{' / '.join(number(h['points_moved'][st], '.1f') for st in STAGES)} in {h['n_items_changed']} item(s); "
        f"sign conflicts: {h['n_sign_conflicts']}; PSI B vs A (population) {number(h['psi_a_vs_b_population'])}.",
        "",
    ]
    big = biggest_changes(c.points)
    if big.empty:
        lines.append("No item's points change.")
    else:
        lines += ["| indicator | stage | A | B | change | direction |", "|---|---|---:|---:|---:|---|"]
        lines += [f"| `{_md(r.id)}` {_md(r.name_en or '')} | {r.stage} | {r.points_a:.2f} | "
                  f"{r.points_b:.2f} | {r.change:+.2f} | "
                  f"{scored_direction(r.direction_b if r.points_b > 0 else r.direction_a, r.policy_direction)} |"
                  for r in big.itertuples()]
    if not c.sign_conflicts.empty:
        lines += ["", "**Sign conflicts:** " + "; ".join(
            f"{_md(r.formula)} {r.source} `{_md(r.id)}` ({r.direction:+d} vs policy {r.policy_direction:+d})"
            for r in c.sign_conflicts.itertuples())]
    if c.policy and c.policy.get("headline"):
        ph = c.policy["headline"]
        lines += ["", f"**Policy (simulated):** at A's expected loss, B lends {money(ph['expected_volume'])} "
                      f"({money(ph['volume_difference'])} more than A, CNY 10k) to {money(ph['qualified_firms'])} "
                      "qualified firms."]
    lines += c.migration_markdown()
    lines += ["", "Full report (metrics, slices, policy, calibration, PSI, provenance): the HTML file of this "
              "comparison."]
    return "\n".join(lines) + "\n"
