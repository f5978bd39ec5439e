"""The reviewer comparison of two points formulas: what changes when scoring moves from A to B.

A is the baseline (the reference) and B the candidate; every difference is B minus A. The comparison is
built from the loan indicator table (all loans, :func:`innopoints.features.build.loan_features`) and the population
of one scoring year (:func:`innopoints.features.build.population_features`), and holds aggregates only: counts, rates,
metrics and tables per indicator, stage, province or SME flag. No firm id, loan id or raw row ever enters
it, so :meth:`Comparison.as_dict` can go into MLflow or a review thread as it is.

Which firms enter and leave the qualified set is reported twice, because each answers its own question:

- on the **population** (the scoring year): how many firms each formula qualifies differently, by
  province, stage and SME flag (no outcomes exist yet for that year);
- on the **test loans** (the last year with observed outcomes): each loan is qualified at origination by
  each formula's own top share, and the default rates of loans that enter, leave or stay tell whether the
  change swaps risky firms for safer ones. Entering plus staying loans are exactly B's top set of
  :func:`innopoints.models.evaluation.evaluate.evaluate_points`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from html import escape

import numpy as np
import pandas as pd

from innopoints.experiments.i18n import Texts
from innopoints.features.catalog import list_indicators
from innopoints.features.stage import STAGES
from innopoints.models.evaluation.backtest import policy_metrics
from innopoints.models.evaluation.evaluate import (
    evaluate_points,
    jsonable,
    jsonable_records,
    points_psi_by_year,
    qualified_changes,
    temporal_split,
    temporal_split_report,
)
from innopoints.models.evaluation.metrics import QUALIFIED_SHARE, EvaluationError, psi
from innopoints.models.formula.qualify import qualified_mask
from innopoints.models.formula.schema import Formula, weights_table
from innopoints.models.learning.explain import sign_conflicts as _learned_conflicts

SLICES: tuple[str, ...] = ("province", "stage", "is_sme")
"""Columns the qualified-set changes are broken down by."""

GROUPS: tuple[str, ...] = ("entering", "leaving", "staying")
"""Qualified-set status of a firm or loan that is qualified under at least one formula."""

N_BIGGEST = 5
"""Point changes shown in the headline."""

HIST_BINS = 20
"""Bins of the points distribution histogram (population, common edges for A and B)."""

_TOL = 1e-9  # a points change smaller than this is float noise, not a change


@dataclass
class Comparison:
    """Everything the reviewer report shows, as plain dicts and DataFrames (aggregates only).

    Attributes
    ----------
    label_a, label_b : "name version (hash prefix)" of the baseline A and the candidate B.
    formula_a, formula_b : name, version, title, content hash, illustrative flag and provenance.
    settings : share, n_boot, seed, test year, the temporal split counts, population year and size.
    headline : the differences first: ΔAUC and Δ top-share default rate (B − A, ``[low, mid, high]``),
        DeLong, qualified-set entering / leaving counts and default rates, the biggest point changes.
    metrics_a, metrics_b : :func:`models.evaluation.evaluate.evaluate_points` on the test loans (B with A as baseline).
    points : one row per item and stage: ``points_a``, ``points_b``, ``change`` (missing item = 0 points).
    importance : SHAP importance of A's and B's models side by side, or None when neither was given.
    sign_conflicts : items whose scored or learned direction contradicts the policy direction.
    qualified_population : :func:`innopoints.models.evaluation.evaluate.qualified_changes` on the population.
    qualified_loans : entering / leaving / staying test loans with default rates, overall and by slice.
    calibration_a, calibration_b : points band → observed default rate on the test loans.
    psi : PSI of each formula's points between consecutive loan years, and of B against A.
    distribution : histogram of the population's points under A and B on common bins.
    policy : optional policy simulation of A and B (``innopoints.pipeline.policy.report_summary``): totals per formula
        and the matched-loss headline; None when none was run.
    migration : :func:`migration_table`: who enters and leaves the qualified set, overall and by stage,
        province and SME flag, with the test loans' default rates of those who enter and leave.
    structure : :func:`structure_table`: the points of A and B per guideline 1.0 group and 2.0 category and
        stage, so a 1.0 and a 2.0 formula can be read side by side.
    """

    label_a: str
    label_b: str
    formula_a: dict
    formula_b: dict
    settings: dict
    headline: dict
    metrics_a: dict
    metrics_b: dict
    points: pd.DataFrame
    importance: pd.DataFrame | None
    sign_conflicts: pd.DataFrame
    qualified_population: dict
    qualified_loans: dict
    calibration_a: pd.DataFrame
    calibration_b: pd.DataFrame
    psi: dict
    distribution: pd.DataFrame
    policy: dict | None = None
    migration: pd.DataFrame | None = None
    structure: pd.DataFrame | None = None

    def migration_html(self, lang: str = "en") -> str:
        """The migration table as an HTML section of the reviewer report (:func:`migration_html`)."""
        return migration_html(self, lang)

    def migration_markdown(self, lang: str = "en") -> list[str]:
        """The migration table as Markdown lines of the summary (:func:`migration_markdown`)."""
        return migration_markdown(self, lang)

    def as_dict(self) -> dict:
        """JSON-ready dict: DataFrames become lists of records, numpy scalars and NaN become plain values."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = jsonable(value)
        return out


# ---------------------------------------------------------------------------------------- public API


def compare_formulas(
    a: Formula,
    b: Formula,
    loans: pd.DataFrame,
    population: pd.DataFrame,
    *,
    share: float = QUALIFIED_SHARE,
    n_boot: int = 1000,
    seed: int = 0,
    test_year: int | None = None,
    importance_a: pd.DataFrame | None = None,
    importance_b: pd.DataFrame | None = None,
    label_a: str | None = None,
    label_b: str | None = None,
    data_fingerprint: str | None = None,
    loans_b: pd.DataFrame | None = None,
    population_b: pd.DataFrame | None = None,
) -> Comparison:
    """Compare the baseline formula ``a`` with the candidate ``b`` on the same loans and population.

    Args:
        a, b: the baseline and the candidate formula.
        loans: the loan indicator table of every loan (:func:`innopoints.features.build.loan_features`), with
            ``year``, ``stage``, ``defaulted``, ``outcome_observed`` and the slice columns.
        population: one row per firm of the scoring year (:func:`innopoints.features.build.population_features`),
            with ``firm_id``, ``stage``, ``province`` and ``is_sme``.
        share: the qualified share (top points, ties at the cut-off included).
        n_boot, seed: paired bootstrap of ΔAUC and Δ top default rate on the test loans.
        test_year: the out-of-time test year; default the last year with observed outcomes.
        importance_a, importance_b: optional SHAP importance of each formula's model
            (:func:`innopoints.models.learning.explain.global_importance`: indexed by indicator id or with a ``feature``
            column, ``mean_abs_shap`` and optionally ``lo``, ``hi``, ``rank`` and a learned ``direction``).
        label_a, label_b: how the report names the formulas; default ``name version (hash prefix)``.
        data_fingerprint: fingerprint of the compared data, shown in the report's provenance.
        loans_b, population_b: the same loans and firms built for ``b`` when its stage rule or local
            indicators differ from ``a``'s (each formula scores rows built with its own rule); default
            ``loans`` and ``population``. B's metrics and the qualified-set slices read B's rows.
    Returns:
        A :class:`Comparison`.
    Raises:
        EvaluationError: when the loans cannot be split or evaluated, or an importance table is malformed.
        FormulaError: when a formula cannot score the tables (e.g. an indicator column is missing).
    """
    label_a = label_a or formula_label(a)
    label_b = label_b or formula_label(b)
    loans_b = loans if loans_b is None else _same_loans(loans, loans_b)
    population_b = population if population_b is None else population_b
    both = {"points_a": a.score(loans)["points"].to_numpy(), "points_b": b.score(loans_b)["points"].to_numpy()}
    scored, scored_b = loans.assign(**both), loans_b.assign(**both)
    train, test = temporal_split(scored, "year", test_year)
    train_b, test_b = temporal_split(scored_b, "year", test_year)
    split = temporal_split_report(scored, "year", test_year)
    common = {"share": share, "n_boot": n_boot, "seed": seed}
    metrics_a = evaluate_points(train, test, "points_a", **common)
    metrics_b = evaluate_points(train_b, test_b, "points_b", baseline_col="points_a", **common)

    pop_a = _population_points(population, a)
    pop_b = _population_points(population_b, b)
    by = [c for c in SLICES if c in population.columns]
    q_pop = qualified_changes(pop_a, pop_b, share=share, by=by)
    q_loans = loan_qualified_changes(test_b, "points_a", "points_b", share=share, by=by)
    # The policy's own rule: a firm qualifies at the cut-off that admits the top share of the scoring year's
    # firms, so the test loans are judged at that cut-off, not at a top share of the loans themselves.
    y_test = test["defaulted"].to_numpy().astype(np.int64)
    qualified = {side: policy_metrics(y_test, frame[f"points_{side}"].to_numpy(), pop["points"].to_numpy(),
                                      share=share, n_boot=n_boot, seed=seed)
                 for side, frame, pop in (("a", test, pop_a), ("b", test_b, pop_b))}
    points = points_changes(a, b)
    conflicts = sign_conflicts(a, b, importance_a, importance_b, label_a, label_b)
    psi_result = {
        "by_year_a": points_psi_by_year(scored, "points_a"),
        "by_year_b": points_psi_by_year(scored, "points_b"),
        "a_vs_b_population": psi(pop_a["points"], pop_b["points"]),
        "a_vs_b_test_loans": psi(test["points_a"], test["points_b"]),
    }
    settings = {
        "share": share,
        "n_boot": n_boot,
        "seed": seed,
        "test_year": split["test_year"],
        "split": split,
        "population_year": _single_year(population),
        "population_n": len(population),
        "data_fingerprint": data_fingerprint or "",
    }
    return Comparison(
        label_a=label_a,
        label_b=label_b,
        formula_a=formula_summary(a),
        formula_b=formula_summary(b),
        settings=settings,
        headline=_headline(metrics_a, metrics_b, q_pop, q_loans, points, conflicts, psi_result, qualified),
        metrics_a=metrics_a,
        metrics_b=metrics_b,
        points=points,
        importance=importance_side_by_side(importance_a, importance_b),
        sign_conflicts=conflicts,
        qualified_population=q_pop,
        qualified_loans=q_loans,
        calibration_a=pd.DataFrame(metrics_a["calibration"]),
        calibration_b=pd.DataFrame(metrics_b["calibration"]),
        psi=psi_result,
        distribution=points_distribution(pop_a["points"], pop_b["points"]),
        migration=migration_table(q_pop, q_loans),
        structure=structure_table(a, b),
    )


def formula_label(formula: Formula) -> str:
    """``name version (first 8 hex of the content hash)``: how the report names a formula."""
    return f"{formula.name} {formula.version} ({_content_hash(formula)[:8]})"


def formula_summary(formula: Formula) -> dict:
    """What the report says about a formula: identity, scale and provenance (no weights, no metrics)."""
    p = formula.provenance
    return {
        "name": formula.name,
        "version": formula.version,
        "title": formula.title,
        "content_hash": _content_hash(formula),
        "illustrative": formula.illustrative,
        "base_points": formula.scale.base_points,
        "bonus_points": formula.scale.bonus_points,
        "n_indicators": len(formula.indicators),
        "n_bonus": len(formula.bonus),
        "method": p.method,
        "data_fingerprint": p.data_fingerprint,
        "config_hash": p.config_hash,
        "seed": p.seed,
    }


def points_changes(a: Formula, b: Formula) -> pd.DataFrame:
    """Max points per item and stage under A and B and the change; an item a formula lacks has 0 points.

    Rows follow A's items, then B's new ones, each in stage order. Columns: ``kind``, ``id``, ``indicator``,
    ``name_en``, ``name_zh``, ``stage``, ``points_a``, ``points_b``, ``change``, ``curve_a``, ``curve_b``
    (the curve and its reference values, None when the item is absent), ``direction_a``, ``direction_b``
    (the direction each scores the item in) and ``policy_direction``.
    """
    keys = ["kind", "id", "stage"]
    keep = ["indicator", "name_en", "name_zh", "max_points", "reference", "direction", "policy_direction"]
    ta = weights_table(a).set_index(keys)[keep]
    tb = weights_table(b).set_index(keys)[keep]
    order = ta.index.append(tb.index[~tb.index.isin(ta.index)])
    ra, rb = ta.reindex(order), tb.reindex(order)
    out = pd.DataFrame(index=order)
    for col in ("indicator", "name_en", "name_zh"):
        out[col] = ra[col].where(ra[col].notna(), rb[col])
    out["points_a"] = ra["max_points"].fillna(0.0).astype("float64")
    out["points_b"] = rb["max_points"].fillna(0.0).astype("float64")
    # Rounded at 1e-9 so float noise (3.000000000000001) neither shows as a change nor breaks ties.
    out["change"] = (out["points_b"] - out["points_a"]).round(9)
    out["curve_a"] = _described_curve(ra)
    out["curve_b"] = _described_curve(rb)
    out["direction_a"] = ra["direction"].astype("Int64")
    out["direction_b"] = rb["direction"].astype("Int64")
    out["policy_direction"] = ra["policy_direction"].where(ra["policy_direction"].notna(),
                                                           rb["policy_direction"]).astype("Int64")
    out = out.reset_index()
    cols = ["kind", "id", "indicator", "name_en", "name_zh", "stage", "points_a", "points_b", "change",
            "curve_a", "curve_b", "direction_a", "direction_b", "policy_direction"]
    return out[cols]


def scored_direction(direction, policy_direction) -> str:
    """How a formula scores an item, in words: a reversed direction is always said."""
    if direction is None or direction is pd.NA or policy_direction is None or policy_direction is pd.NA:
        return "–"
    return "as policy" if int(direction) == int(policy_direction) else "REVERSED: against policy"


def biggest_changes(points: pd.DataFrame, n: int = N_BIGGEST) -> pd.DataFrame:
    """The ``n`` item-stage rows of :func:`points_changes` with the largest absolute change (ties: order)."""
    moved = points.loc[points["change"].abs() > _TOL]
    order = np.argsort(-moved["change"].abs().to_numpy(), kind="stable")
    return moved.iloc[order[:n]].reset_index(drop=True)


def sign_conflicts(
    a: Formula,
    b: Formula,
    importance_a: pd.DataFrame | None = None,
    importance_b: pd.DataFrame | None = None,
    label_a: str = "A",
    label_b: str = "B",
) -> pd.DataFrame:
    """Items scored against their policy direction, and indicators whose learned direction contradicts it.

    One row per conflict: ``formula`` (the label), ``source`` (``scored`` for a formula item, ``learned``
    for a model's SHAP direction), ``id``, ``name_en``, ``name_zh``, ``policy_direction``, ``direction``.
    """
    names = {ind.id: (ind.name_en, ind.name_zh) for ind in list_indicators()}
    policy = {ind.id: ind.direction for ind in list_indicators()}
    rows = []
    for label, formula, importance in ((label_a, a, importance_a), (label_b, b, importance_b)):
        table = weights_table(formula).drop_duplicates(["kind", "id"])
        for r in table.itertuples():
            names.setdefault(r.indicator, (r.name_en, r.name_zh))
            policy.setdefault(r.indicator, int(r.policy_direction))
            if int(r.direction) != int(r.policy_direction):
                rows.append((label, "scored", r.id, int(r.policy_direction), int(r.direction)))
        if importance is not None:
            learned = _importance_frame(importance, label)
            if "direction" in learned.columns:
                directions = learned["direction"].dropna().astype("int64")
                for ind_id in _learned_conflicts(directions, policy):
                    rows.append((label, "learned", ind_id, policy[ind_id], int(directions[ind_id])))
    frame = pd.DataFrame(rows, columns=["formula", "source", "id", "policy_direction", "direction"])
    frame.insert(3, "name_en", [names.get(i, ("", ""))[0] for i in frame["id"]])
    frame.insert(4, "name_zh", [names.get(i, ("", ""))[1] for i in frame["id"]])
    return frame.astype({"policy_direction": "int64", "direction": "int64"})


def importance_side_by_side(importance_a: pd.DataFrame | None,
                            importance_b: pd.DataFrame | None) -> pd.DataFrame | None:
    """SHAP importance of A's and B's models per indicator (outer join), most important first.

    Columns ``importance_a``, ``lo_a``, ``hi_a``, ``rank_a`` (and ``direction_a`` when given), the same for
    ``b``, plus ``name_en``; indexed by indicator id. None when neither table is given.
    """
    if importance_a is None and importance_b is None:
        return None
    parts = []
    for suffix, table in (("a", importance_a), ("b", importance_b)):
        if table is None:
            continue
        frame = _importance_frame(table, suffix.upper())
        cols = [c for c in ("mean_abs_shap", "lo", "hi", "rank", "direction") if c in frame.columns]
        parts.append(frame[cols].rename(columns={"mean_abs_shap": "importance"}).add_suffix(f"_{suffix}"))
    out = pd.concat(parts, axis=1, join="outer", sort=False)
    score = out[[c for c in ("importance_b", "importance_a") if c in out.columns]].max(axis=1)
    out = out.iloc[np.argsort(-score.to_numpy(), kind="stable")]
    names = {ind.id: ind.name_en for ind in list_indicators()}
    out.insert(0, "name_en", [names.get(i, "") for i in out.index])
    out.index.name = "feature"
    return out


def loan_qualified_changes(
    test: pd.DataFrame,
    points_a: str,
    points_b: str,
    *,
    share: float = QUALIFIED_SHARE,
    by: Sequence[str] = SLICES,
) -> dict:
    """Loans qualified at origination by each formula's top ``share``: who enters, leaves and stays.

    Only loans with an observed outcome count. Returns ``n``, ``threshold_a``, ``threshold_b``, ``overall``
    (``entering``, ``leaving``, ``staying``, each ``n``, ``defaults``, ``default_rate``) and ``by``
    (per slice column, one record per value with the same three groups).
    """
    observed = test.loc[test["outcome_observed"].astype(bool)]
    y = observed["defaulted"].astype(bool).to_numpy()
    pa = observed[points_a].to_numpy(dtype="float64")
    pb = observed[points_b].to_numpy(dtype="float64")
    in_a, in_b = qualified_mask(pa, share=share), qualified_mask(pb, share=share)
    status = _status(in_a, in_b)
    out: dict = {
        "n": len(observed),
        "share": share,
        "threshold_a": float(pa[in_a].min()),
        "threshold_b": float(pb[in_b].min()),
        "overall": _group_rates(status, y),
        "by": {},
    }
    for col in (c for c in by if c in observed.columns):
        keys = observed[col].astype(str).to_numpy()
        values = observed[col].astype(object).to_numpy()
        rows = []
        for key in sorted(set(keys)):
            m = keys == key
            rows.append({"value": values[np.argmax(m)], "n": int(m.sum()), **_group_rates(status[m], y[m])})
        out["by"][col] = rows
    return jsonable(out)


def points_distribution(points_a, points_b, bins: int = HIST_BINS) -> pd.DataFrame:
    """Histogram counts of two points samples on common, equal-width bins (``lower``, ``upper``, ``n_a``,
    ``n_b``); the last bin includes its upper edge."""
    pa = np.asarray(points_a, dtype="float64")
    pb = np.asarray(points_b, dtype="float64")
    lo, hi = float(min(pa.min(), pb.min())), float(max(pa.max(), pb.max()))
    edges = np.linspace(lo, hi, bins + 1) if hi > lo else np.array([lo, lo + 1.0])
    n_a, _ = np.histogram(pa, edges)
    n_b, _ = np.histogram(pb, edges)
    return pd.DataFrame({"lower": edges[:-1], "upper": edges[1:], "n_a": n_a, "n_b": n_b})


MIGRATION_SLICES: tuple[str, ...] = ("stage", "province", "is_sme")
"""Order of the migration table's slices (the overall row first)."""


def migration_table(q_pop: dict, q_loans: dict) -> pd.DataFrame:
    """Who enters and leaves the qualified set when scoring moves from A to B: one row overall, then one per
    stage, province and SME flag.

    Columns: ``slice``, ``value``, ``firms``, ``qualified_a``, ``qualified_b``, ``entering``, ``leaving``,
    ``staying``, ``net`` (entering − leaving) on the scoring year's firms, and on the test loans (qualified at
    origination by each formula's top share) ``loans_entering``, ``default_rate_entering``, ``loans_leaving``,
    ``default_rate_leaving``: whether the change swaps risky firms for safer ones. Aggregates only.
    """
    def loan_cells(groups: dict | None) -> dict:
        groups = groups or {}
        out = {}
        for g in ("entering", "leaving"):
            cell = groups.get(g) or {}
            out[f"loans_{g}"] = cell.get("n", 0)
            out[f"default_rate_{g}"] = cell.get("default_rate")
        return out

    rows = [{"slice": "all", "value": "all", "firms": q_pop["n_b"], "qualified_a": q_pop["qualified_a"],
             "qualified_b": q_pop["qualified_b"], "entering": q_pop["entering"], "leaving": q_pop["leaving"],
             "staying": q_pop["staying"], **loan_cells(q_loans.get("overall"))}]
    for col in (c for c in MIGRATION_SLICES if c in q_pop["by"]):
        loans_by = {str(r["value"]): r for r in q_loans.get("by", {}).get(col, [])}
        for r in q_pop["by"][col]:
            rows.append({"slice": col, "value": str(r["value"]), "firms": r["n"], "qualified_a": r["qualified_a"],
                         "qualified_b": r["qualified_b"], "entering": r["entering"], "leaving": r["leaving"],
                         "staying": r["staying"], **loan_cells(loans_by.get(str(r["value"])))})
    table = pd.DataFrame(rows)
    table.insert(8, "net", table["entering"] - table["leaving"])
    return table


def structure_table(a: Formula, b: Formula) -> pd.DataFrame:
    """Max points of A and B per guideline scheme (``1.0``: official group; ``2.0``: category; ``bonus``: the
    bonus cap and items), group and stage: how a 1.0 and a 2.0 formula divide their points."""
    rows = []
    tables = {"a": weights_table(a), "b": weights_table(b)}
    for scheme, col in (("1.0", "official_group"), ("2.0", "category")):
        keys = sorted(set().union(*(t.loc[t["kind"] == "indicator", col].dropna() for t in tables.values())))
        for key in keys:
            for stage in STAGES:
                row = {"scheme": scheme, "group": key, "stage": stage}
                for side, t in tables.items():
                    m = (t["kind"] == "indicator") & (t[col] == key) & (t["stage"] == stage)
                    row[f"points_{side}"] = float(t.loc[m, "max_points"].sum())
                rows.append(row)
    rows.append({"scheme": "bonus", "group": "cap", "stage": "all", "points_a": a.scale.bonus_points,
                 "points_b": b.scale.bonus_points})
    out = pd.DataFrame(rows, columns=["scheme", "group", "stage", "points_a", "points_b"])
    out["change"] = (out["points_b"] - out["points_a"]).round(9)
    return out


def migration_html(c: Comparison, lang: str = "en") -> str:
    """The migration table as a self-contained HTML section (empty when the comparison has none), in ``lang``."""

    if c.migration is None or c.migration.empty:
        return ""
    t = Texts(lang)
    head = t("mig.head_html").split("|")
    body = []
    for r in c.migration.itertuples():
        cells = [t.term(r.slice), t.slice_value(r.slice, r.value), r.firms, r.qualified_a, r.qualified_b,
                 r.entering, r.leaving, r.staying,
                 f"{r.net:+d}", _loans_cell(r.loans_entering, r.default_rate_entering),
                 _loans_cell(r.loans_leaving, r.default_rate_leaving)]
        body.append("<tr>" + "".join(f"<td>{escape(str(v))}</td>" for v in cells) + "</tr>")
    table = ("<table><thead><tr>" + "".join(f"<th>{escape(h)}</th>" for h in head) + "</tr></thead><tbody>"
             + "".join(body) + "</tbody></table>")
    return (f'<section id="migration"><h2>{escape(Texts(lang)("mig.title"))}</h2>'
            f"<p class=\"note\">{escape(_migration_note(c, t))}</p>{table}</section>")


def migration_markdown(c: Comparison, lang: str = "en") -> list[str]:
    """The migration table as Markdown lines (overall and by stage and SME flag; provinces in the JSON/HTML),
    in ``lang``."""

    if c.migration is None or c.migration.empty:
        return []
    t = Texts(lang)
    lines = ["", f"**{t('mig.label')}:** {_migration_note(c, t)}", "",
             t("mig.head_md"),
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in c.migration.loc[c.migration["slice"] != "province"].itertuples():
        lines.append(f"| {t.term(r.slice)} | {t.slice_value(r.slice, r.value)} | {r.firms} | {r.qualified_a} | "
                     f"{r.qualified_b} | {r.entering} | "
                     f"{r.leaving} | {r.net:+d} | {_loans_cell(r.loans_entering, r.default_rate_entering)} | "
                     f"{_loans_cell(r.loans_leaving, r.default_rate_leaving)} |")
    return lines


def _migration_note(c: Comparison, t: Texts | None = None) -> str:
    t = t or Texts()
    scale = [t("mig.scale", side=side, base=f"{f['base_points']:g}", bonus=f"{f['bonus_points']:g}")
             for side, f in (("A", c.formula_a), ("B", c.formula_b))]
    return t("mig.note", share=f"{c.settings['share']:.1%}", scale=t("mig.scale_sep").join(scale))


def _loans_cell(n, rate) -> str:
    if not n:
        return "0"
    return f"{n} ({rate:.1%})" if rate is not None and not pd.isna(rate) else f"{n}"


# ------------------------------------------------------------------------------------------- helpers


def _content_hash(formula: Formula) -> str:
    # A draft loaded without its hash still gets a stable name from its content.
    return formula.provenance.content_hash or formula.compute_hash()


def _described_curve(table: pd.DataFrame) -> pd.Series:
    # object dtype keeps None for an absent item (a str column would turn it into NaN).
    values = [None if pd.isna(ref) else str(ref) for ref in table["reference"]]
    return pd.Series(values, index=table.index, dtype=object)


def _population_points(population: pd.DataFrame, formula: Formula) -> pd.DataFrame:
    """``firm_id``, ``points`` and the slice columns: the frame :func:`qualified_changes` reads."""
    if "firm_id" not in population.columns:
        raise EvaluationError("population: column 'firm_id' is missing (rule: one row per firm to qualify)")
    points = formula.score(population)  # first: it names a missing `stage` or indicator column clearly
    cols = ["firm_id"] + [c for c in SLICES if c in population.columns]
    frame = population[cols].copy()
    frame["stage"] = points["stage"].astype(str).to_numpy()  # plain labels, not categories, in the slices
    frame["points"] = points["points"].to_numpy()
    return frame


def _same_loans(loans: pd.DataFrame, loans_b: pd.DataFrame) -> pd.DataFrame:
    """``loans_b`` when it holds the same loans in the same order as ``loans`` (only B's columns differ)."""
    same = len(loans_b) == len(loans) and loans_b.index.equals(loans.index)
    if same and "loan_id" in loans.columns and "loan_id" in loans_b.columns:
        same = bool((loans_b["loan_id"].to_numpy() == loans["loan_id"].to_numpy()).all())
    if not same:
        raise EvaluationError(f"loans_b: must hold the same {len(loans)} loans in the same order as loans (rule: "
                              f"built from the same tables with B's stage rule), got {len(loans_b)} rows")
    return loans_b


def _single_year(population: pd.DataFrame) -> int | None:
    if "year" not in population.columns:
        return None
    years = pd.unique(population["year"].dropna())
    return int(years[0]) if len(years) == 1 else None


def _status(in_a: np.ndarray, in_b: np.ndarray) -> np.ndarray:
    return np.select([in_b & ~in_a, in_a & ~in_b, in_a & in_b], list(GROUPS), default="never")


def _group_rates(status: np.ndarray, y: np.ndarray) -> dict:
    out = {}
    for group in GROUPS:
        m = status == group
        n, d = int(m.sum()), int(y[m].sum())
        out[group] = {"n": n, "defaults": d, "default_rate": d / n if n else None}
    return out


def _importance_frame(table: pd.DataFrame, label: str) -> pd.DataFrame:
    """An importance table indexed by indicator id, checked for the columns the report reads."""
    what = f"importance table of {label}"
    if not isinstance(table, pd.DataFrame):
        raise EvaluationError(f"{what}: expected a DataFrame, got {type(table).__name__}")
    frame = table.set_index("feature") if "feature" in table.columns else table
    if "mean_abs_shap" not in frame.columns:
        raise EvaluationError(
            f"{what}: column 'mean_abs_shap' is missing (rule: rows of models.learning.explain.global_importance); "
            f"columns present are e.g. {list(frame.columns[:6])}"
        )
    if frame.index.duplicated().any():
        raise EvaluationError(
            f"{what}: indicator {frame.index[frame.index.duplicated()][0]!r} appears twice (rule: one row "
            "per indicator)"
        )
    if "direction" in frame.columns:
        bad = ~frame["direction"].isin([-1, 0, 1]) & frame["direction"].notna()
        if bad.any():
            raise EvaluationError(
                f"{what}: column 'direction' must be -1, 0 or 1, e.g. "
                f"{frame['direction'][bad].tolist()[0]!r} for {frame.index[bad][0]!r}"
            )
    frame = frame.copy()
    frame.index = frame.index.astype(str)
    return frame


def _headline(metrics_a: dict, metrics_b: dict, q_pop: dict, q_loans: dict, points: pd.DataFrame,
              conflicts: pd.DataFrame, psi_result: dict, qualified: dict) -> dict:
    """The differences a reviewer reads first, in the order the report shows them."""
    return {
        "auc_a": metrics_a["test_auc"],
        "auc_b": metrics_b["test_auc"],
        "delta_auc": metrics_b["delta_auc_vs_baseline"],
        "delong": metrics_b["delong_vs_baseline"],
        "top_default_rate_a": metrics_a["test_top_default_rate"],
        "top_default_rate_b": metrics_b["test_top_default_rate"],
        "delta_top_default_rate": metrics_b["delta_top_default_rate_vs_baseline"],
        "qualified_a": qualified["a"],
        "qualified_b": qualified["b"],
        "population": {k: q_pop[k] for k in ("n_a", "n_b", "qualified_a", "qualified_b", "entering",
                                              "leaving", "staying")},
        "test_loans": q_loans["overall"],
        "biggest_changes": jsonable_records(biggest_changes(points)),
        "n_items_changed": int(points.loc[points["change"].abs() > _TOL, ["kind", "id"]]
                               .drop_duplicates().shape[0]),
        "points_moved": {s: float(points.loc[points["stage"] == s, "change"].clip(lower=0).sum())
                         for s in STAGES},
        "n_sign_conflicts": len(conflicts),
        "psi_a_vs_b_population": psi_result["a_vs_b_population"],
    }
