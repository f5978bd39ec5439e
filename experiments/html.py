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
from innopoints.experiments.i18n import Texts
from innopoints.features.stage import STAGES
from innopoints.models.plots import fonts_for

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
body { font-family: system-ui, -apple-system, "Segoe UI", "Noto Sans CJK SC", "Noto Sans SC",
       "Source Han Sans SC", "PingFang SC", "Hiragino Sans GB", "Microsoft YaHei", "WenQuanYi Micro Hei",
       sans-serif; color: #1f2328; margin: 0 auto; max-width: 1120px;
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


def _qualified_rate(m: dict) -> str:
    return (f"{percent(m['qualified_default_rate'], 2)} [{percent(m['qualified_default_rate_low'], 2)}, "
            f"{percent(m['qualified_default_rate_high'], 2)}]")


def _qualified_count(m: dict, t: Texts) -> str:
    return t("qualified.count", defaults=m["qualified_defaults"], n=m["qualified_n"])


def _verdict_auc(delta: Sequence[float] | None, t: Texts) -> str:
    if not delta:
        return ""
    low, mid, high = delta
    if low == mid == high == 0:
        return t("verdict.identical")
    if low > 0:
        return t("verdict.better")
    if high < 0:
        return t("verdict.worse")
    return t("verdict.unclear")


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


def _block(title: str, table: str, n_rows: int, t: Texts, fold: bool = True) -> str:
    """A titled table; a long one is folded (click to open, no script needed)."""
    if fold and n_rows > FOLD_ROWS:
        return f"<details><summary>{escape(t('folded', title=title, n=n_rows))}</summary>{table}</details>"
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


def _figure_png(make, t: Texts) -> bytes:
    """Build a figure with ``make()`` and save it as PNG, with the fonts ``t``'s language needs."""
    with fonts_for(t.lang):
        return _png(make())


def _short(text: str, width: int = 38) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def change_plot(points: pd.DataFrame, t: Texts | None = None) -> Figure:
    """Horizontal bars of the points change (B − A) of every moved item, one bar per stage."""
    t = t or Texts()
    moved_ids = points.loc[points["change"].abs() > _TOL, "id"].drop_duplicates().tolist()
    n = len(moved_ids)
    fig = Figure(figsize=(8, 1.6 + 0.45 * max(n, 1)), dpi=DPI)
    ax = fig.subplots()
    if not moved_ids:
        ax.text(0.5, 0.5, t("fig.no_move"), ha="center", va="center", fontsize=12)
        ax.set_axis_off()
        return fig
    y = np.arange(n)[::-1]
    height = 0.8 / len(STAGES)
    labels = []
    for i, item_id in enumerate(moved_ids):
        rows = points.loc[points["id"] == item_id]
        labels.append(_short(t.indicator(rows["indicator"].iloc[0], rows["name_en"].iloc[0] or None,
                                         rows["name_zh"].iloc[0] or None) or str(item_id)))
        for k, stage in enumerate(STAGES):
            change = rows.loc[rows["stage"] == stage, "change"]
            value = float(change.iloc[0]) if len(change) else 0.0
            ax.barh(y[i] + (1 - k) * height, value, height=height, color=_STAGE_COLORS[k],
                    label=(t.stage(stage) if t.zh else stage) if i == 0 else None)
    ax.set_yticks(y, labels)
    ax.axvline(0.0, color="0.3", linewidth=0.8)
    ax.set_xlabel(t("fig.change_x"))
    ax.set_title(t("fig.change_title"))
    ax.legend(fontsize="small", loc="best")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


def calibration_plot(cal_a: pd.DataFrame, cal_b: pd.DataFrame, label_a: str, label_b: str,
                     t: Texts | None = None) -> Figure:
    """Observed default rate per points band (1 = lowest points) for A and B; dashed: the fitted PD."""
    t = t or Texts()
    fig = Figure(figsize=(7, 4), dpi=DPI)
    ax = fig.subplots()
    for cal, label, color in ((cal_a, f"A {label_a}", _A_COLOR), (cal_b, f"B {label_b}", _B_COLOR)):
        ax.plot(cal["band"], cal["default_rate"], marker="o", color=color, label=t("fig.observed", label=_short(label)))
        if "mean_predicted_pd" in cal.columns:
            ax.plot(cal["band"], cal["mean_predicted_pd"], linestyle="--", color=color, alpha=0.8,
                    label=t("fig.fitted", label=_short(label)))
    ax.set_xlabel(t("fig.cal_x"))
    ax.set_ylabel(t("fig.cal_y"))
    ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    ax.set_title(t("fig.cal_title"))
    ax.legend(fontsize="small")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def distribution_plot(dist: pd.DataFrame, threshold_a: float | None, threshold_b: float | None,
                      label_a: str, label_b: str, t: Texts | None = None) -> Figure:
    """Histogram of the population's points under A and B, with each formula's qualifying cut-off."""
    t = t or Texts()
    fig = Figure(figsize=(7, 3.8), dpi=DPI)
    ax = fig.subplots()
    edges = np.append(dist["lower"].to_numpy(), dist["upper"].to_numpy()[-1])
    ax.stairs(dist["n_a"].to_numpy(), edges, color=_A_COLOR, linewidth=1.8, label=f"A {_short(label_a)}")
    ax.stairs(dist["n_b"].to_numpy(), edges, color=_B_COLOR, linewidth=1.8, label=f"B {_short(label_b)}")
    for threshold, color, name in ((threshold_a, _A_COLOR, "A"), (threshold_b, _B_COLOR, "B")):
        if threshold is not None:
            ax.axvline(threshold, color=color, linestyle=":", linewidth=1.5,
                       label=t("fig.cutoff", name=name))
    ax.set_xlabel(t("fig.dist_x"))
    ax.set_ylabel(t("fig.dist_y"))
    ax.set_title(t("fig.dist_title"))
    ax.legend(fontsize="small")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


# -------------------------------------------------------------------------------------------- sections


def _population(c: Comparison, t: Texts) -> str:
    year = c.settings["population_year"]
    return t("population") if year is None else t("population.of", year=year)


def _year_suffix(c: Comparison, t: Texts) -> str:
    year = c.settings["population_year"]
    return "" if year is None else t("card.year", year=year)


def _header(c: Comparison, t: Texts) -> str:
    s = c.settings
    split = s["split"]
    who = "".join(
        f'<span class="tag {k}">{k.upper()} · {escape(t(role))}</span><div><strong>{escape(label)}</strong> — '
        f"{escape(f['title'])}</div>"
        for k, role, label, f in (("a", "role.baseline", c.label_a, c.formula_a),
                                  ("b", "role.candidate", c.label_b, c.formula_b))
    )
    facts = t("html.facts", test_year=split["test_year"], test_n=split["test_n"],
              test_defaults=split["test_defaults"], train_years=split["train_years"], population=_population(c, t),
              population_n=s["population_n"], share=f"{s['share']:.1%}")
    return (f"<header><h1>{escape(t('html.h1', b=c.label_b, a=c.label_a))}</h1>"
            f'<div class="who">{who}</div>{_p(facts, "note")}</header>')


def _what_changes(c: Comparison, t: Texts) -> str:
    h = c.headline
    delong = h["delong"] or {}
    pop, loans = h["population"], h["test_loans"]
    year = _year_suffix(c, t)
    cards = [
        _card(t("card.delta_auc"), interval(h["delta_auc"]),
              [t("card.auc_sub", a=number(h["auc_a"]), b=number(h["auc_b"]), p=number(delong.get("p_value"))),
               _verdict_auc(h["delta_auc"], t)]),
        _card(t("card.qualified", share=f"{c.settings['share']:.1%}"),
              f"{_qualified_rate(h['qualified_a'])} → {_qualified_rate(h['qualified_b'])}",
              [t("card.qualified_sub", a=_qualified_count(h["qualified_a"], t), b=_qualified_count(h["qualified_b"], t),
                 n=h["qualified_b"]["n_defaults"])]),
        _card(t("card.entering", year=year), f"{pop['entering']:,}",
              [t("card.entering_sub", qa=f"{pop['qualified_a']:,}", qb=f"{pop['qualified_b']:,}", n=f"{pop['n_b']:,}"),
               t("card.entering_loans", n=loans["entering"]["n"], rate=percent(loans["entering"]["default_rate"]))]),
        _card(t("card.leaving", year=year), f"{pop['leaving']:,}",
              [t("card.staying", n=f"{pop['staying']:,}"),
               t("card.leaving_loans", n=loans["leaving"]["n"], rate=percent(loans["leaving"]["default_rate"]))]),
        _card(t("card.moved"), " / ".join(number(h["points_moved"][s], ".1f") for s in STAGES),
              [t("card.moved_sub", n=h["n_items_changed"]),
               t("card.moved_sub2", n=h["n_sign_conflicts"], psi=number(h["psi_a_vs_b_population"]))]),
    ]
    big = biggest_changes(c.points)
    if big.empty:
        table = _p(t("no_change"), "note")
    else:
        rows = [[_text(r.id), _text(t.indicator(r.indicator, r.name_en or None, r.name_zh or None)),
                 _text(t.stage(r.stage)),
                 _cell(number(r.points_a, ".2f")), _cell(number(r.points_b, ".2f")),
                 _cell(number(r.change, "+.2f"), _change_class(r.change)),
                 _text(t.term(scored_direction(r.direction_b if r.points_b > 0 else r.direction_a,
                                               r.policy_direction)))]
                for r in big.itertuples()]
        head = [t("col.indicator"), t("col.name"), t("col.stage"), "A", "B", t("col.change"), t("col.direction")]
        table = _table(head, rows, text_columns=3)
    return (f'<section id="what-changes"><h2>{escape(t("sec.what_changes"))}</h2>'
            f'<div class="cards">{"".join(cards)}</div>'
            f"<h3>{escape(t('biggest', n=len(big)))}</h3>{table}"
            f"{_img(_figure_png(lambda: change_plot(c.points, t), t), t('fig.change_title'))}</section>")


_IMPORTANCE_COLUMNS = (
    ("importance", "imp.importance", ".4f"), ("lo", "imp.lo", ".4f"), ("hi", "imp.hi", ".4f"),
    ("rank", "imp.rank", ".0f"), ("direction", "imp.direction", "+.0f"),
)

_METRICS = (
    ("test_auc", ".3f"), ("test_gini", ".3f"), ("test_ks", ".3f"), ("test_brier", ".4f"), ("test_log_loss", ".4f"),
    ("test_top_default_rate", ".2%"), ("test_top_capture", ".2%"), ("test_top_good_capture", ".2%"),
    ("train_auc", ".3f"),
)


def _metrics(c: Comparison, t: Texts) -> str:
    a, b = c.metrics_a, c.metrics_b
    rows = []
    for key, spec in _METRICS:
        va, vb = a.get(key), b.get(key)
        diff = vb - va if va is not None and vb is not None else None
        diff_spec = "+.2%" if spec.endswith("%") else "+" + spec
        rows.append([_text(t(f"metric.{key}")), _cell(number(va, spec)), _cell(number(vb, spec)),
                     _cell(number(diff, diff_spec))])
    rows.append([_text(t("metric.cutoff")), _cell(number(a["top"]["threshold"], ".2f")),
                 _cell(number(b["top"]["threshold"], ".2f")), _cell("")])
    table = _table([t("col.metric"), "A", "B", "B − A"], rows)
    delong = b.get("delong_vs_baseline") or {}
    boot = b.get("bootstrap") or {}
    extra = _table([t("col.difference"), t("col.estimate")], [
        [_text(t("delta.bootstrap", n=boot.get("n_boot"), seed=boot.get("seed"))),
         _cell(interval(b.get("delta_auc_vs_baseline")))],
        [_text(t("delta.delong")), _cell(interval([delong.get("low"), delong.get("delta"), delong.get("high")])
                                         if delong else "–")],
        [_text(t("delta.delong_zp")), _cell(f"{number(delong.get('z'), '.2f')} / {number(delong.get('p_value'))}")],
        [_text(t("delta.top_rate")), _cell(pp(b.get("delta_top_default_rate_vs_baseline")))],
    ])
    slices = []
    for col, rows_b in (b.get("slices") or {}).items():
        by_value = {str(r["value"]): r for r in (a.get("slices") or {}).get(col, [])}
        rows = []
        for rb in _slice_order(col, rows_b):
            ra = by_value.get(str(rb["value"]), {})
            rows.append([_text(t.slice_value(col, rb["value"])), _cell(rb["n"]), _cell(rb["defaults"]),
                         _cell(number(ra.get("auc"))), _cell(number(rb["auc"])),
                         _cell(percent(ra.get("top_default_rate"))), _cell(percent(rb["top_default_rate"]))])
        head = [t.term(col), t("col.loans"), t("col.defaults"), t("col.auc", k="A"), t("col.auc", k="B"),
                t("col.top_rate", k="A"), t("col.top_rate", k="B")]
        slices.append(_block(t("loans_by", col=t.term(col)), _table(head, rows), len(rows), t))
    return (f'<section id="metrics"><h2>{escape(t("sec.metrics"))}</h2><div class="side">{table}{extra}</div>'
            f'<div class="side">{"".join(slices)}</div>{_p(t("note.metrics"), "note")}</section>')


def _points(c: Comparison, t: Texts) -> str:
    p = c.points
    head = [t("col.item"), t("col.name") if t.zh else "name · 名称"]
    for s in STAGES:
        stage = t.stage(s) if t.zh else s
        head += [f"{stage} A", f"{stage} B", f"{stage} Δ"]
    head += [t("col.curve", k="A"), t("col.curve", k="B")]
    rows, classes = [], []
    for (kind, item_id), item in p.groupby(["kind", "id"], sort=False):
        by_stage = item.set_index("stage")
        first = item.iloc[0]
        if t.zh:
            name = t.indicator(first["indicator"], first["name_en"] or None, first["name_zh"] or None)
        else:
            name = " · ".join(str(n) for n in (first["name_en"], first["name_zh"]) if n)
        cells = [_text(item_id if kind == "indicator" else t("bonus_item", id=item_id)), _text(name)]
        for s in STAGES:
            r = by_stage.loc[s]
            cells += [_cell(number(r["points_a"], ".2f")), _cell(number(r["points_b"], ".2f")),
                      _cell(number(r["change"], "+.2f"), _change_class(r["change"]))]
        curve_a, curve_b = first["curve_a"], first["curve_b"]
        curve_cls = "t up" if curve_a != curve_b else "t"
        shown_b = t("same") if curve_a == curve_b else curve_b or t("absent")
        cells += [_cell(curve_a or t("absent"), curve_cls), _cell(shown_b, curve_cls)]
        rows.append(cells)
        classes.append("moved" if (item["change"].abs() > _TOL).any() or curve_a != curve_b else "")
    return (f'<section id="points"><h2>{escape(t("sec.points"))}</h2>{_p(t("note.points"), "note")}'
            f"{_table(head, rows, classes, text_columns=2)}</section>")


def _importance(c: Comparison, t: Texts) -> str:
    imp = c.importance
    if imp is None:
        return ""
    head, cols = [t("col.indicator"), t("col.name")], []
    for k in ("a", "b"):
        for col, key, spec in _IMPORTANCE_COLUMNS:
            if f"{col}_{k}" in imp.columns:
                head.append(f"{t(key)} {k.upper()}")
                cols.append((f"{col}_{k}", spec))
    rows = []
    for feature, r in imp.iterrows():
        cells = [_text(feature), _text(t.indicator(str(feature), r["name_en"] or None))]
        for col, spec in cols:
            value = r[col]
            cells.append(_cell(number(None if pd.isna(value) else float(value), spec)))
        rows.append(cells)
    return (f'<section id="importance"><h2>{escape(t("sec.importance"))}</h2>{_p(t("note.importance"), "note")}'
            f"{_table(head, rows, text_columns=2)}</section>")


def _conflicts(c: Comparison, t: Texts) -> str:
    sc = c.sign_conflicts
    intro = _p(t("note.conflicts"), "note")
    if sc.empty:
        body = _p(t("none_found"))
    else:
        rows = [[_text(r.formula), _text(t.term(r.source)), _text(r.id), _text(r.name_en), _text(r.name_zh),
                 _cell(f"{r.policy_direction:+d}"), _cell(f"{r.direction:+d}", "down")]
                for r in sc.itertuples()]
        body = _table([t("col.formula"), t("col.source"), t("col.indicator"), "name", "名称", t("col.policy"),
                       t("col.direction")], rows, text_columns=5)
    return f'<section id="sign-conflicts"><h2>{escape(t("sec.conflicts"))}</h2>{intro}{body}</section>'


def _rate_cell(group: dict) -> str:
    if not group["n"]:
        return _cell("0")
    return _cell(f"{group['n']} ({percent(group['default_rate'])})")


def _qualified(c: Comparison, t: Texts) -> str:
    q, ql = c.qualified_population, c.qualified_loans
    groups = [t.term(g) for g in GROUPS]
    parts = [_p(t("note.qualified", population=_population(c, t), share=f"{q['share']:.1%}",
                  ta=number(q["threshold_a"], ".2f"), tb=number(q["threshold_b"], ".2f")), "note")]
    for col, rows in q["by"].items():
        rows = _slice_order(col, rows)
        body = [[_text(t.slice_value(col, r["value"])), _cell(r["n"]), _cell(r["qualified_a"]),
                 _cell(r["qualified_b"]), _cell(r["entering"], "up" if r["entering"] else None),
                 _cell(r["leaving"], "down" if r["leaving"] else None), _cell(r["staying"])]
                for r in rows]
        table = _table([t.term(col), t("col.firms"), t("col.qualified", k="A"), t("col.qualified", k="B"), *groups],
                       body)
        parts.append(_block(t("firms_by", col=t.term(col)), table, len(body), t, fold=False))
    loans_note = _p(t("note.qualified_loans", n=ql["n"], share=f"{ql['share']:.1%}"), "note")
    overall = ql["overall"]
    loan_tables = [_table([t("test_loans"), *groups],
                          [[_text(t.term("all")), *(_rate_cell(overall[g]) for g in GROUPS)]])]
    for col, rows in ql["by"].items():
        body = [[_text(t.slice_value(col, r["value"])), _cell(r["n"]), *(_rate_cell(r[g]) for g in GROUPS)]
                for r in _slice_order(col, rows)]
        loan_tables.append(_block(t("loans_by", col=t.term(col)),
                                  _table([t.term(col), t("col.loans"), *groups], body), len(body), t))
    return (f'<section id="qualified"><h2>{escape(t("sec.qualified"))}</h2>'
            f'{parts[0]}<div class="side">{"".join(parts[1:])}</div>{loans_note}'
            f'<div class="side">{"".join(loan_tables)}</div></section>')


def _calibration_table(cal: pd.DataFrame, name: str, t: Texts) -> str:
    rows = [[_cell(int(r["band"])), _cell(f"{r['lower']:.2f}–{r['upper']:.2f}"), _cell(int(r["n"])),
             _cell(int(r["defaults"])), _cell(percent(r["default_rate"], 2)),
             _cell(percent(r.get("mean_predicted_pd"), 2))]
            for _, r in cal.iterrows()]
    head = [t("col.band"), t("col.points"), t("col.loans"), t("col.defaults"), t("col.default_rate"),
            t("col.fitted_pd")]
    return f"<div><h3>{escape(name)}</h3>" + _table(head, rows, text_columns=0) + "</div>"


def _calibration(c: Comparison, t: Texts) -> str:
    img = _img(_figure_png(lambda: calibration_plot(c.calibration_a, c.calibration_b, c.label_a, c.label_b, t), t),
               t("alt.calibration"))
    tables = (_calibration_table(c.calibration_a, f"A {c.label_a}", t)
              + _calibration_table(c.calibration_b, f"B {c.label_b}", t))
    return (f'<section id="calibration"><h2>{escape(t("sec.calibration"))}</h2>{img}'
            f'{_p(t("note.calibration"), "note")}<div class="side">{tables}</div></section>')


def _psi(c: Comparison, t: Texts) -> str:
    by_b = {(r["year_from"], r["year_to"]): r for r in c.psi["by_year_b"]}
    rows = []
    for r in c.psi["by_year_a"]:
        rb = by_b.get((r["year_from"], r["year_to"]), {})
        rows.append([_text(f"{r['year_from']} → {r['year_to']}"), _cell(r["n_from"]), _cell(r["n_to"]),
                     _psi_cell(r["psi"]), _psi_cell(rb.get("psi"))])
    table = _table([t("col.loan_years"), t("col.loans_from"), t("col.loans_to"), t("col.psi", k="A"),
                    t("col.psi", k="B")], rows)
    ab = _table([t("col.b_vs_a"), "PSI"], [
        [_text(t("psi.population")), _psi_cell(c.psi["a_vs_b_population"])],
        [_text(t("psi.test_loans")), _psi_cell(c.psi["a_vs_b_test_loans"])],
    ])
    q = c.qualified_population
    img = _img(_figure_png(lambda: distribution_plot(c.distribution, q.get("threshold_a"), q.get("threshold_b"),
                                                     c.label_a, c.label_b, t), t), t("alt.distribution"))
    note = _p(t("note.psi", watch=PSI_WATCH, act=PSI_ACT), "note")
    return (f'<section id="psi"><h2>{escape(t("sec.psi"))}</h2>{note}'
            f'<div class="side">{table}{ab}</div>{img}</section>')


def _psi_cell(value) -> str:
    return _cell(number(value), "down" if value is not None and value > PSI_ACT else None)


def _policy(c: Comparison, t: Texts) -> str:
    """Lending and losses under the policy (simulated), and what B unlocks at A's expected loss."""
    if not c.policy:
        return ""
    pol = c.policy
    head = [t("col.formula"), *(t(f"pol.{k}") for k in ("qualified_firms", "expected_volume", "default_rate",
                                                        "expected_loss", "split", "p99", "exhausted"))]
    rows = []
    for side, label in zip(("A", "B"), pol["labels"], strict=False):
        r = pol["totals"][label]
        rows.append([_text(f"{side} {label}"), _cell(money(r["qualified_firms"])), _cell(money(r["expected_volume"])),
                     _cell(percent(r["expected_default_rate"], 2)), _cell(money(r["expected_loss"])),
                     _cell(f"{money(r['loss_bank'])} / {money(r['loss_guarantee'])} / {money(r['loss_funds'])}"),
                     _cell(money(r["loss_p99"])), _cell(percent(r["fund_exhaustion_probability"]))])
    h = pol.get("headline")
    text = ""
    if h:
        text = t("pol.headline", loss=money(h["target_expected_loss"]), firms=money(h["qualified_firms"]),
                 cutoff=number(h["cutoff"], ".1f"), volume=money(h["expected_volume"]),
                 diff=money(h["volume_difference"]), ratio=percent((h["volume_ratio"] or 1.0) - 1.0))
    note = t("pol.note", year=pol["scoring_year"], draws=f"{pol['draws']:,}")
    lead, groups, ranges = churn_summary(pol, t)
    churn = ""
    if lead or ranges:
        items = "".join(f"<li>{escape(g)}</li>" for g in groups)
        churn = (f"<h3>{escape(t('pol.churn_title'))}</h3>{''.join(_p(x) for x in lead)}"
                 + (f"<ul>{items}</ul>" if items else "") + "".join(_p(_plain(x)) for x in ranges))
    return (f"<section><h2>{escape(t('sec.policy'))}</h2>{_p(text) if text else ''}"
            f"{_table(head, rows, text_columns=1)}{_p(note, 'note')}{churn}</section>")


def _plain(markdown_line: str) -> str:
    """A Markdown list line as plain text for HTML (no bullet, bold or code marks)."""
    return markdown_line.removeprefix("- ").replace("**", "").replace("`", "")


def churn_summary(pol: dict, t: Texts) -> tuple[list[str], list[str], list[str]]:
    """The reviewer's view of the policy simulation's churn (``churn`` of ``innopoints.pipeline.policy``, passed
    on by its report summary): lead sentences, the flagged groups with their qualified firms under A → B, and
    the headline's range over the sensitivity grid (:func:`~innopoints.experiments.policy_report.
    headline_range_lines`). Empty when the summary has none."""
    from innopoints.experiments.policy_report import headline_range_lines

    ranges = []
    if pol.get("sensitivity"):
        ranges = headline_range_lines({"sensitivity": pol["sensitivity"],
                                       "policy": {"qualification": {"max_marginal_pd": pol["max_marginal_pd"]}}},
                                      t.lang)
    ch = pol.get("churn") or {}
    labels = pol.get("labels") or []
    c = (ch.get("formulas") or {}).get(labels[1]) if len(labels) > 1 else None
    if c is None:
        return [], [], ranges
    if "note" in c:
        return [t("pr.churn_note", label=labels[1]) if t.zh else f"{labels[1]}: {c['note']}."], [], ranges
    lead = [t("pol.churn_total", kept=f"{c['kept']:,}", ref_n=f"{c['reference_qualified']:,}", left=f"{c['left']:,}",
              entered=f"{c['entered']:,}")]
    limits = {"change": f"{ch['flag_change']:.0%}", "min_firms": ch["min_firms"]}
    groups = []
    for key, rows in c["groups"].items():
        for r in rows:
            if not r["flag"]:
                continue
            group = t.province(r["group"]) if key == "province" else t.term(r["group"])
            change = t("pol.churn_new") if r["change"] is None else f"{r['change']:+.0%}"
            groups.append(t("pol.churn_group", by=t.term(key), group=group, a=f"{r['reference']:,}",
                            b=f"{r['formula']:,}", change=change))
    lead.append(t("pol.churn_flagged", **limits) if groups else t("pol.churn_none", **limits))
    return lead, groups, ranges


def _footer(c: Comparison, t: Texts) -> str:
    fields = (("method", "method"), ("data_fingerprint", "data_fingerprint"), ("config_hash", "config_hash"),
              ("seed", "seed"), ("content_hash", "content_hash"), ("illustrative", "illustrative"),
              ("points", None), ("items", None))
    rows = []
    for name, key in fields:
        if name == "points":
            va = f"{c.formula_a['base_points']:g} / {c.formula_a['bonus_points']:g}"
            vb = f"{c.formula_b['base_points']:g} / {c.formula_b['bonus_points']:g}"
        elif name == "items":
            va = f"{c.formula_a['n_indicators']} / {c.formula_a['n_bonus']}"
            vb = f"{c.formula_b['n_indicators']} / {c.formula_b['n_bonus']}"
        else:
            va, vb = c.formula_a[key], c.formula_b[key]
        cls = "t hash" if key in ("content_hash", "data_fingerprint", "config_hash") else "t"
        rows.append([_text(t(f"prov.{name}")), *(_cell("–" if v in (None, "") else v, cls) for v in (va, vb))])
    s = c.settings
    run = t("prov.run", fingerprint=s["data_fingerprint"] or t("prov.not_given"), share=f"{s['share']:.4g}",
            n_boot=s["n_boot"], seed=s["seed"], test_year=s["test_year"],
            excluded=s["split"]["excluded"]["outcome_not_observed"])
    return (f"<footer><h2>{escape(t('sec.provenance'))}</h2>"
            f"{_table(['', f'A {c.label_a}', f'B {c.label_b}'], rows, text_columns=3)}{_p(run, 'note')}"
            f"{_p(t('made_by'), 'muted')}</footer>")


# ------------------------------------------------------------------------------------------ public API


def render_html(comparison: Comparison, lang: str = "en") -> str:
    """The reviewer report as one self-contained HTML document (UTF-8, no external resource), in ``lang``
    (``en`` or ``zh``: headings, labels, notes, plot labels and indicator names)."""
    c, t = comparison, Texts(lang)
    title = t("html.title", b=c.label_b, a=c.label_a)
    sections = [_header(c, t), _what_changes(c, t), _metrics(c, t), _points(c, t), _importance(c, t),
                _conflicts(c, t), _qualified(c, t), c.migration_html(lang),
                _policy(c, t), _calibration(c, t), _psi(c, t), _footer(c, t)]
    return (
        f'<!DOCTYPE html>\n<html lang="{t.html_lang}"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{escape(CSP, quote=False)}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="referrer" content="no-referrer"><title>{escape(title)}</title>'
        f"<style>{_CSS}</style></head>\n<body>\n" + "\n".join(s for s in sections if s) + "\n</body></html>\n"
    )


def _md(value) -> str:
    """Text safe in Markdown: no HTML tag (review threads render inline HTML), pipes escaped for tables."""
    return str(value).replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|").replace("\n", " ")


def render_markdown(comparison: Comparison, lang: str = "en") -> str:
    """A short summary for review threads, in ``lang``: the differences first, then where to look in the HTML."""
    c, t = comparison, Texts(lang)
    h, s = c.headline, c.settings
    delong = h["delong"] or {}
    pop, loans = h["population"], h["test_loans"]
    year = s["population_year"]
    population = t("population") if year is None else f"{t('population')} {year}"
    if t.zh:
        population = _population(c, t)
    lines = [
        "### " + t("md.title", b=_md(c.label_b), a=_md(c.label_a)),
        "",
        "- " + t("md.a", label=_md(c.label_a), title=_md(c.formula_a["title"])),
        "- " + t("md.b", label=_md(c.label_b), title=_md(c.formula_b["title"])),
        "- " + t("md.facts", test_year=s["test_year"], test_n=s["split"]["test_n"],
                 test_defaults=s["split"]["test_defaults"], population=population if t.zh else population.lower(),
                 population_n=s["population_n"], share=f"{s['share']:.1%}"),
        "",
        t("md.what_changes"),
        "",
        "- " + t("md.auc", delta=interval(h["delta_auc"]), a=number(h["auc_a"]), b=number(h["auc_b"]),
                 p=number(delong.get("p_value")), verdict=_verdict_auc(h["delta_auc"], t)),
        "- " + t("md.qualified", share=f"{s['share']:.1%}", ra=_qualified_rate(h["qualified_a"]),
                 ca=_qualified_count(h["qualified_a"], t), rb=_qualified_rate(h["qualified_b"]),
                 cb=_qualified_count(h["qualified_b"], t), n=h["qualified_b"]["n_defaults"]),
        "- " + t("md.set", entering=f"{pop['entering']:,}", leaving=f"{pop['leaving']:,}",
                 staying=f"{pop['staying']:,}", qa=f"{pop['qualified_a']:,}", qb=f"{pop['qualified_b']:,}",
                 le=loans["entering"]["n"], re=percent(loans["entering"]["default_rate"]),
                 ll=loans["leaving"]["n"], rl=percent(loans["leaving"]["default_rate"]),
                 ls=loans["staying"]["n"], rs=percent(loans["staying"]["default_rate"])),
        "- " + t("md.moved", moved=" / ".join(number(h["points_moved"][st], ".1f") for st in STAGES),
                 n=h["n_items_changed"], conflicts=h["n_sign_conflicts"], psi=number(h["psi_a_vs_b_population"])),
        "",
    ]
    big = biggest_changes(c.points)
    if big.empty:
        lines.append(t("md.no_change"))
    else:
        lines += [t("md.head"), "|---|---|---:|---:|---:|---|"]
        lines += [f"| `{_md(r.id)}` {_md(t.indicator(r.indicator, r.name_en or None, r.name_zh or None))} | "
                  f"{t.stage(r.stage) if t.zh else r.stage} | {r.points_a:.2f} | {r.points_b:.2f} | {r.change:+.2f} | "
                  + t.term(scored_direction(r.direction_b if r.points_b > 0 else r.direction_a, r.policy_direction))
                  + " |"
                  for r in big.itertuples()]
    if not c.sign_conflicts.empty:
        lines += ["", t("md.conflicts") + "; ".join(
            t("md.conflict", formula=_md(r.formula), source=t.term(r.source), id=_md(r.id),
              direction=f"{r.direction:+d}", policy=f"{r.policy_direction:+d}")
            for r in c.sign_conflicts.itertuples())]
    if c.policy and c.policy.get("headline"):
        ph = c.policy["headline"]
        lines += ["", t("md.policy", volume=money(ph["expected_volume"]), diff=money(ph["volume_difference"]),
                        firms=money(ph["qualified_firms"]))]
    if c.policy:
        lead, groups, ranges = churn_summary(c.policy, t)
        if lead or ranges:
            space, sep, end = ("", ";", "。") if t.zh else (" ", "; ", ".")
            lines += ["", t("md.churn") + space.join(lead) + ("" if not groups else space + sep.join(groups) + end),
                      *(["", *ranges] if ranges else [])]
    lines += c.migration_markdown(lang)
    lines += ["", t("md.full")]
    return "\n".join(lines) + "\n"
