"""The order of the steps: which step feeds which. No maths here."""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path

import pandas as pd

from innopoints.features.build import Exclusions, loan_features, population_features
from innopoints.features.catalog import Indicator, list_indicators
from innopoints.features.errors import ConfigError, DataError, OutputError
from innopoints.features.local import build_local_indicators
from innopoints.features.stage import StageRule
from innopoints.models.formula.qualify import qualified_mask
from innopoints.models.formula.schema import Formula
from innopoints.pipeline.config import RunConfig
from innopoints.pipeline.contract import coerce_tables, require_valid
from innopoints.pipeline.io import read_tables


def make_cohort(out: Path, firms: int, seed: int, years: tuple[int, int], fmt: str) -> None:
    """Simulate a synthetic cohort and write its three tables and ``truth.json`` into ``out``."""
    import json

    from innopoints.pipeline.io import write_tables, write_text_atomic
    from innopoints.pipeline.simulate import simulate

    cohort = simulate(firms, seed, years)
    write_tables({"firms": cohort.firms, "firm_years": cohort.firm_years, "loans": cohort.loans}, out, fmt)
    write_text_atomic(out / "truth.json", json.dumps(cohort.truth, indent=2, sort_keys=True, ensure_ascii=False)
                      + "\n")


def load_tables(data_dir: Path) -> dict[str, pd.DataFrame]:
    """Read the three tables, refuse them on any contract error, return them with canonical dtypes."""
    tables = read_tables(Path(data_dir))
    require_valid(tables)
    return coerce_tables(tables)


def indicator_set(config: RunConfig, extra: list[dict] | None = None) -> list[Indicator]:
    """Built-in catalog plus the config's (and a formula's) local indicators."""
    builtins = list_indicators()
    specs = list(config.local_indicators) + list(extra or [])
    known = {i.id for i in builtins}
    seen: dict[str, object] = {}
    for spec in specs:  # the same declaration may come from the config and from a formula
        key = spec["id"] if isinstance(spec, dict) else spec.id
        seen.setdefault(key, spec)
    return builtins + build_local_indicators(list(seen.values()), known)


def _row_inputs(config: RunConfig, formula: Formula | None) -> tuple[list[Indicator], StageRule]:
    """The indicators and stage rule rows are built with: the formula's own rule and local indicators win."""
    extra = list(formula.local_indicators) if formula is not None and formula.local_indicators else []
    rule = StageRule(**formula.stage_rule.model_dump()) if formula is not None else config.stage_rule
    return indicator_set(config, extra), rule


class Rows:
    """Loan tables and populations of one run, built once per set of indicators and stage rule.

    ``run`` trains, compares, simulates the policy and scores on the same tables; at national scale one loan
    table takes about 8 s and one population about 3 s, so each is built once and handed to every step that
    needs the same rows. Without a ``Rows`` every step builds its own.
    """

    def __init__(self, tables: dict[str, pd.DataFrame]) -> None:
        self.tables = tables
        self._built: dict[tuple, object] = {}

    @functools.cached_property
    def fingerprint(self) -> str:
        """The tables' data fingerprint (hashing every row), computed once for train and compare."""
        from innopoints.pipeline.fingerprint import data_fingerprint

        return data_fingerprint(self.tables)

    @staticmethod
    def _key(indicators: list[Indicator], rule: StageRule) -> tuple:
        return tuple(i.id for i in indicators), rule.model_dump_json()

    def loans(self, indicators: list[Indicator], rule: StageRule) -> pd.DataFrame:
        key = ("loans", *self._key(indicators, rule))
        if key not in self._built:
            t = self.tables
            self._built[key] = loan_features(t["firms"], t["firm_years"], t["loans"], indicators, rule)
        return self._built[key]

    def population(self, year: int, indicators: list[Indicator], rule: StageRule) -> tuple[pd.DataFrame, Exclusions]:
        key = ("population", year, *self._key(indicators, rule))
        if key not in self._built:
            t = self.tables
            self._built[key] = population_features(t["firms"], t["firm_years"], year, indicators, rule)
        return self._built[key]


def build_loan_table(tables: dict[str, pd.DataFrame], config: RunConfig,
                     formula: Formula | None = None, rows: Rows | None = None) -> pd.DataFrame:
    """Point-in-time indicators for every loan; the formula's own stage rule and local indicators win."""
    indicators, rule = _row_inputs(config, formula)
    return (rows or Rows(tables)).loans(indicators, rule)


def default_scoring_year(tables: dict[str, pd.DataFrame]) -> int:
    """The year after the last fiscal year in the data: the points a firm would get now."""
    return int(tables["firm_years"]["year"].max()) + 1


def build_population(tables: dict[str, pd.DataFrame], year: int, config: RunConfig,
                     formula: Formula | None = None, rows: Rows | None = None) -> tuple[pd.DataFrame, Exclusions]:
    """One row per scoreable firm of ``year``; the formula's own stage rule and local indicators win."""
    indicators, rule = _row_inputs(config, formula)
    return (rows or Rows(tables)).population(year, indicators, rule)


def require_scoring_year(tables: dict[str, pd.DataFrame], year: int, option: str) -> None:
    """Refuse, before building any indicator, a scoring year without a single scoreable firm: one founded
    before ``year`` with a fiscal year ``year - 1`` (a typo such as 1800 would write an empty table)."""
    fy, firms = tables["firm_years"], tables["firms"]
    ids = fy.loc[fy["year"] == year - 1, "firm_id"]
    if firms["firm_id"][firms["founded_year"] < year].isin(ids).any():
        return
    years = fy["year"]
    span = (f"firm_years cover {int(years.min())}-{int(years.max())}, so give a year from {int(years.min()) + 1} "
            f"to {int(years.max()) + 1}") if len(years) else "firm_years has no rows"
    raise DataError(f"{option} {year}: no firm can be scored (a firm needs a firm_years row of {year - 1} and "
                    f"to be founded before {year}); {span}")


MIN_SPLIT_YEARS = 3
"""Origination years with observed outcomes `train` needs: fitting years, a validation year and a test year."""


def require_split(loans: pd.DataFrame, test_year: int | None = None) -> None:
    """Refuse, before any model is fitted, loans that cannot give an out-of-time split with defaults in each
    part: at least :data:`MIN_SPLIT_YEARS` origination years with observed outcomes up to the test year, and
    defaults in the fitting years, the validation year and the test year."""
    observed = loans[loans["outcome_observed"].astype(bool)]
    if test_year is not None:
        observed = observed[observed["year"] <= test_year]
    per_year = observed.groupby("year")["defaulted"].agg(["size", "sum"]).sort_index()
    years = [int(y) for y in per_year.index]
    if len(years) < MIN_SPLIT_YEARS:
        shown = ", ".join(map(str, years)) or "none"
        raise DataError(f"loans: outcomes are observed for origination year(s) {shown} only; train needs at least "
                        f"{MIN_SPLIT_YEARS} (fitting years, a validation year, a test year) for its out-of-time "
                        "split")
    test, valid = years[-1], years[-2]
    parts = {f"test year {test}": per_year.loc[[test]], f"validation year {valid}": per_year.loc[[valid]],
             f"fitting years {years[0]}-{years[-3]}": per_year.loc[years[:-2]]}
    for part, rows in parts.items():
        if int(rows["sum"].sum()) == 0:
            raise DataError(f"loans: the {part} has {int(rows['size'].sum())} observed loans but no defaults; "
                            "train needs defaults in the fitting, validation and test years (more loans, or "
                            "evaluation.test_year set to an earlier year)")


def check_qualification(share: float, cutoff: float | None) -> None:
    """Refuse a qualified share outside (0, 1) or a non-finite points cut-off, before any work."""
    if cutoff is not None and not math.isfinite(cutoff):
        raise ConfigError(f"--cutoff {cutoff}: must be a finite number of points, e.g. --cutoff 60")
    if not (math.isfinite(share) and 0 < share < 1):
        raise ConfigError(f"--share {share}: must be a share between 0 and 1, e.g. --share 0.1374")


REPORT_SIDE_FILES = {".md": "Markdown summary", ".json": "JSON report"}
"""What `compare` writes beside its HTML report OUT: OUT with each suffix."""


def check_report_path(out: Path) -> None:
    """The reviewer report is OUT (HTML), OUT with ``.md`` and OUT with ``.json``: all must be different files."""
    suffix = Path(out).suffix.lower()
    if suffix in REPORT_SIDE_FILES:
        raise OutputError(f"--out {out}: the {REPORT_SIDE_FILES[suffix]} is written to OUT with {suffix}, the same "
                          f"file as the HTML report; give the HTML path, e.g. --out {Path(out).with_suffix('.html')}")


def score_population(formula: Formula, population: pd.DataFrame, *, share: float | None,
                     cutoff: float | None, reasons: int = 3) -> pd.DataFrame:
    """`firm_id`, `stage`, `points`, `qualified`, one `points_<id>` column per formula item and, with
    ``reasons``, `reason_1..K` / `missed_1..K`: the indicators where the firm missed the most points."""
    from innopoints.models.formula.reasons import reason_codes

    points = formula.score(population)
    out = pd.DataFrame({"firm_id": population["firm_id"].to_numpy(),
                        "stage": population["stage"].astype(str).to_numpy()})
    out["points"] = points["points"].to_numpy()
    out["qualified"] = qualified_mask(out["points"].to_numpy(), share=share, cutoff=cutoff)
    for col in points.columns:
        if col.startswith("points_") and col not in ("points_base", "points_bonus"):
            out[col] = points[col].to_numpy()
    if reasons > 0 and formula.indicators:
        codes = reason_codes(formula, points, reasons)
        for col in codes.columns:
            out[col] = codes[col].to_numpy()
    # Provenance in the file's metadata (Parquet keeps DataFrame.attrs): which formula gave these points.
    out.attrs["innopoints"] = {"formula": formula.name, "formula_version": formula.version,
                               "content_hash": formula.provenance.content_hash}
    return out


def train_settings(config: RunConfig):
    """The typed config mapped onto the workflow's settings."""
    from innopoints.models.learning.candidates import FitSettings
    from innopoints.models.learning.evidence import EvidenceSettings
    from innopoints.models.learning.train import TrainSettings
    from innopoints.models.policy.constraints import ConflictRule

    t, e = config.train, config.evaluation
    return TrainSettings(
        seed=config.seed, share=e.qualified_share, n_boot=e.n_boot, shap_rows=t.shap_rows, curves=t.curves,
        lgbm={"n_jobs": t.n_jobs},
        fit=FitSettings(group_bounds={g: tuple(b) for g, b in t.group_bounds.items()}, max_points=t.max_points),
        change_limits=tuple(t.change_limits), recalibrations=tuple(t.recalibrations), recommend=t.recommend,
        evidence=EvidenceSettings(refits=t.refits, max_rows=t.refit_rows, workers=t.refit_workers,
                                  n_estimators=t.n_estimators, learning_rate=t.learning_rate,
                                  num_leaves=t.num_leaves, seed=config.seed),
        unavailable_share=t.unavailable_share, backtest_years=t.backtest_years, backtest_refits=t.backtest_refits,
        min_slice_n=e.min_slice_n, min_slice_defaults=e.min_slice_defaults, test_year=e.test_year,
        selection=_selection_settings(config),
        sign_conflicts={i: ConflictRule(**r.model_dump()) for i, r in config.sign_conflicts.items()},
    )


def _selection_settings(config: RunConfig):
    from innopoints.models.selection.analysis import SelectionSettings

    s = config.selection
    return SelectionSettings(enabled=s.enabled, low_support=s.low_support, max_weight=s.max_weight,
                             parcel_uplift=s.parcel_uplift, max_rows=s.propensity_rows, reject_ratio=s.reject_ratio)


INDICATOR_STEP = "loan indicators and firms"
"""The step :func:`train` reports before the training workflow's own steps."""


def train(tables: dict[str, pd.DataFrame], config: RunConfig, baseline: Formula, *, progress=None,
          rows: Rows | None = None):
    """Loan indicators and each year's firms → evidence, candidate formulas, evaluation, backtest
    (models.learning.train.train_candidates)."""
    from innopoints.models.learning.train import train_candidates

    if progress is not None:
        progress(INDICATOR_STEP)
    rows = rows or Rows(tables)
    indicators = indicator_set(config, list(baseline.local_indicators))
    loans = _with_stages_of(baseline, rows.loans(indicators, config.stage_rule),
                            lambda: rows.loans(indicators, baseline.stage_rule))
    observed_years = sorted(int(y) for y in loans.loc[loans["outcome_observed"], "year"].unique())
    require_split(loans, config.evaluation.test_year)
    settings = train_settings(config)
    # The firms of the last test years: the policy qualifies the top share of them, not of the loans.
    # The selection analysis models who was lent in every year, so it needs every year's firms.
    pop_years = observed_years if config.selection.enabled else observed_years[-settings.backtest_years:]
    populations = {year: _with_stages_of(baseline, rows.population(year, indicators, config.stage_rule)[0],
                                         lambda year=year: rows.population(year, indicators, baseline.stage_rule)[0])
                   for year in pop_years}
    fingerprint = rows.fingerprint
    provenance = {"data_fingerprint": fingerprint, "config_hash": config.config_hash(),
                  "version": f"{fingerprint[:8]}.{config.config_hash()[:8]}"}
    local = [s.model_dump() for s in config.local_indicators] + list(baseline.local_indicators)
    return train_candidates(loans, indicators, baseline, settings,
                            stage_rule=config.stage_rule, provenance=provenance,
                            local_indicators=list({d["id"]: d for d in local}.values()), populations=populations,
                            progress=progress)


def _with_stages_of(formula: Formula, frame: pd.DataFrame, built_with_its_rule) -> pd.DataFrame:
    """``frame`` (built with the run's stage rule) plus the stage of every row under ``formula``'s own rule,
    when that differs, in the column :attr:`StageRule.column` that scoring reads: candidates are fitted
    with the run's rule, the baseline and its recalibrations are scored with their own."""
    own = built_with_its_rule()
    if own is frame or own["stage"].equals(frame["stage"]):
        return frame
    if not own["firm_id"].equals(frame["firm_id"]):  # the builders keep one row order for any rule
        raise AssertionError("rows built with two stage rules are not aligned")
    return frame.assign(**{formula.stage_rule.column: own["stage"].to_numpy()})


def write_train_outputs(result, out_dir: Path, lang: str = "en") -> dict[str, Path]:
    """Write formulas/, evaluation.json, refinement.json, refinement.md and explain/ into ``out_dir``; the
    reports and the plots in ``lang`` (en or zh).

    Everything is written to a scratch folder first and moved in at the end, so a failure leaves no
    partial output behind.
    """
    from innopoints.experiments.formatting import csv_text
    from innopoints.experiments.i18n import Texts
    from innopoints.experiments.reports import refinement_markdown
    from innopoints.models.learning.explain import dependence_curve
    from innopoints.models.plots import (
        dependence_plot,
        fonts_for,
        group_bar,
        importance_bar,
        recalibration_frontier_plot,
    )
    from innopoints.pipeline.outputs import dumps, staged_dir, write_formula_files

    out_dir = Path(out_dir)
    t = Texts(lang)
    labels = t.plot_labels()
    best = result.formulas[result.evaluation["best"]]
    about = {"recommended": best.name, "data_fingerprint": best.provenance.data_fingerprint,
             "config_hash": best.provenance.config_hash}
    with fonts_for(lang), staged_dir(out_dir, about) as tmp:
        (tmp / "formulas").mkdir()
        (tmp / "explain").mkdir()
        write_formula_files(tmp / "formulas", result.formulas)
        (tmp / "evaluation.json").write_text(dumps(result.evaluation), encoding="utf-8")
        refinement = result.refinement.to_dict(orient="records")
        (tmp / "refinement.json").write_text(dumps({
            "recommended": result.evaluation["best"], "recommend": result.evaluation["recommend"],
            "evidence": result.evaluation["evidence"], "indicators": refinement}), encoding="utf-8")
        (tmp / "frontier.json").write_text(dumps(result.frontier), encoding="utf-8")
        if result.selection:
            from innopoints.experiments.reports import selection_markdown

            (tmp / "selection.json").write_text(dumps(result.selection), encoding="utf-8")
            (tmp / "selection.md").write_text(selection_markdown(result.selection, lang),
                                                 encoding="utf-8")
        for name, formula in result.graded.items():  # the recommended formula with a graded sign-conflict rule
            (tmp / "formulas" / f"{name}.json").write_text(formula.to_text("json"), encoding="utf-8")
        (tmp / "refinement.md").write_text(
            refinement_markdown(result.refinement, result.evaluation, result.frontier, result.notes, lang=lang),
            encoding="utf-8")
        ex = tmp / "explain"
        ref = result.refinement
        name_zh = dict(zip(ref["id"], ref["name_zh"], strict=True))
        for name, table in result.explain.items():
            if table.index.name == "feature":  # one row per indicator: its Chinese name beside the id
                table = table.copy()
                table.insert(0, "name_zh", [name_zh.get(i, "") for i in table.index])
            (ex / f"{name}.csv").write_text(csv_text(table, index=True), encoding="utf-8")
        names = {i: t.indicator(i, en or None, zh or None)
                 for i, en, zh in zip(ref["id"], ref["name_en"], ref["name_zh"], strict=True)}
        imp = result.explain["importance"].copy()
        imp["name"] = [names.get(i, i) for i in imp.index]
        if "group" in imp.columns:
            imp["group"] = [t.group(str(g)) for g in imp["group"]]
        _save(importance_bar(imp, labels=labels), ex / "importance.png")
        groups = result.explain["group_importance"].copy()
        groups["name"] = [t.group(str(g)) for g in (groups["name"] if "name" in groups.columns else groups.index)]
        _save(group_bar(groups, labels=labels), ex / "groups.png")
        _save(recalibration_frontier_plot(result.frontier, labels=labels), ex / "frontier.png")
        for ind_id in list(imp.index[:6]):
            # Binned means of SHAP by value: an aggregate, no firm's row is drawn.
            curve = dependence_curve(result.plots["contrib"], result.plots["values"], ind_id)
            _save(dependence_plot(curve, ind_id, names.get(ind_id), labels=labels), ex / f"dependence_{ind_id}.png")
    return {"formulas": out_dir / "formulas", "evaluation": out_dir / "evaluation.json",
            "refinement": out_dir / "refinement.json", "report": out_dir / "refinement.md",
            "explain": out_dir / "explain"}


def _save(fig, path: Path) -> None:
    fig.savefig(path, dpi=100)


def compare(a: Formula, b: Formula, tables: dict[str, pd.DataFrame], config: RunConfig, *,
            importance_b: pd.DataFrame | None = None, year: int | None = None, rows: Rows | None = None):
    """Both formulas on the same loans (out of time) and the same scoring-year firms, each scoring rows built
    with its own stage rule and local indicators (as :func:`build_population`)."""
    from innopoints.experiments.compare import compare_formulas

    year = year or default_scoring_year(tables)
    rows = rows or Rows(tables)  # the same rows for both formulas are built once
    loans_a = build_loan_table(tables, config, a, rows)
    population_a, _ = build_population(tables, year, config, a, rows)
    loans_b = build_loan_table(tables, config, b, rows)
    population_b, _ = build_population(tables, year, config, b, rows)
    ev = config.evaluation
    return compare_formulas(a, b, loans_a, population_a, loans_b=loans_b, population_b=population_b,
                            share=ev.qualified_share, n_boot=ev.n_boot, seed=config.seed, test_year=ev.test_year,
                            importance_b=importance_b, data_fingerprint=rows.fingerprint)


def write_comparison(comparison, out: Path, lang: str = "en") -> list[Path]:
    """The self-contained HTML report, its Markdown summary (``.md``), both in ``lang``, and its aggregates as
    JSON (``.json``) beside it."""
    from innopoints.experiments.html import render_html, render_markdown
    from innopoints.pipeline.io import write_text_atomic

    out = Path(out)
    md = out.with_suffix(".md")
    data = out.with_suffix(".json")  # the same aggregates as data (migration table included)
    write_text_atomic(out, render_html(comparison, lang))
    write_text_atomic(md, render_markdown(comparison, lang))
    write_text_atomic(data, json.dumps(comparison.as_dict(), indent=2, ensure_ascii=False) + "\n")
    return [out, md, data]
