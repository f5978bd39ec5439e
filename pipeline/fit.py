"""`innopoints fit`: a points formula from a table of indicators someone already computed.

One row per loan (or firm), one 0/1 target column, numeric indicator columns and optionally a lifecycle-stage
column, a time column or a given split. Only the table's columns are indicators: the built-in catalog never
joins. The steps, in order:

1. **Read and check** (:func:`read_indicator_table`, :func:`check_table`): every mistake knowable up front
   (an unknown column name, a non-numeric, constant or all-missing indicator, a target that is not 0/1, a
   split without defaults) is one :class:`~innopoints.features.errors.DataError` line, before any fitting.
2. **Split** (:func:`split_rows`): out of time by ``--time`` (the last period is the test, as ``train``
   does), as given by ``--split`` (``train`` / ``test``), or stratified by ``--test-share`` and ``--seed``.
3. **Fit** (:func:`fit_table`): :class:`~innopoints.models.learning.estimator.PointsFormulaClassifier` with
   the evidence refits (shadow controls: only columns with a measurable link score), the data-driven formula
   and, when the indicators file declares policy directions, the policy-consistent one; the points' 95 %
   intervals from refitting them on the evidence's resamples.
4. **Judge** on the test rows with the same functions as ``train`` (AUC, KS, Brier, calibration, the
   paired-bootstrap ΔAUC against a logistic regression on the same columns), beside a logistic regression and
   LightGBM.
5. **Write** (:func:`write_fit_outputs`) ``formulas/``, ``evaluation.json``, ``refinement.json`` and
   ``refinement.md``, all at once.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from pandas.api.types import is_bool_dtype, is_numeric_dtype

from innopoints.features.catalog import GROUPS
from innopoints.features.errors import ConfigError, DataError
from innopoints.features.stage import STAGE_NAMES_ZH, STAGES
from innopoints.models.formula.schema import Formula
from innopoints.pipeline.config import read_yaml

TABLE_SUFFIXES = (".parquet", ".csv", ".xlsx", ".xls")
META_KEYS = ("name_zh", "name_en", "group", "unit", "direction")
SPLIT_VALUES = ("train", "test")
DEFAULT_TEST_SHARE = 0.3
SHOWN = 8  # columns named in an error message at most


@dataclass(frozen=True)
class FitOptions:
    """What ``innopoints fit`` was asked to do (everything but the table itself)."""

    target: str
    stage: str | None = None
    time: str | None = None
    split: str | None = None
    test_share: float | None = None
    seed: int = 1
    exclude: tuple[str, ...] = ()
    total: float = 100.0
    max_points: float | None = None
    curves: str = "risk_bins"
    refits: int = 30
    n_boot: int = 1000

    def options_hash(self, meta: dict) -> str:
        """sha256 (16 hex digits) of the options and the indicators file's content: the formula's config hash."""
        text = json.dumps({"options": self.__dict__, "indicators": meta}, sort_keys=True, ensure_ascii=False,
                          default=str)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


@dataclass
class FitResult:
    """Formulas, their evaluation and the refinement table (the shape ``log_train`` logs)."""

    formulas: dict[str, Formula]
    evaluation: dict
    refinement: pd.DataFrame
    notes: list[str] = field(default_factory=list)


# ------------------------------------------------------------------------------------------ reading


def read_indicator_table(path: Path) -> pd.DataFrame:
    """Read a Parquet, CSV (UTF-8, BOM allowed) or Excel (first sheet; needs openpyxl) table."""
    path = Path(path)
    if path.suffix.lower() not in TABLE_SUFFIXES:
        raise DataError(f"table {path}: unknown file type {path.suffix!r}; use one of {list(TABLE_SUFFIXES)}")
    if not path.is_file():
        raise DataError(f"table {path}: file not found")
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            return pd.read_parquet(path)
        if suffix == ".csv":
            return pd.read_csv(path, encoding="utf-8-sig")
        return pd.read_excel(path)
    except ImportError as exc:
        raise DataError(f"table {path}: reading Excel needs openpyxl (pip install openpyxl), or save the sheet "
                        f"as CSV ({exc})") from None
    except (OSError, ValueError) as exc:
        raise DataError(f"table {path}: cannot read it: {type(exc).__name__}: {exc}") from None


def load_indicator_meta(path: Path | None) -> tuple[dict[str, dict], dict | None]:
    """The indicators file: ``indicators: {column: {name_zh, name_en, group, unit, direction}}`` and an optional
    ``group_bounds: {group: [min share, max share]}``. Returns (metadata by column, group bounds)."""
    if path is None:
        return {}, None
    path = Path(path)
    data = read_yaml(path, "indicators")
    if not isinstance(data, dict) or not isinstance(data.get("indicators"), dict):
        raise ConfigError(f"indicators file {path}: needs a mapping `indicators:` of column -> metadata, e.g. "
                          "indicators: {income: {name_zh: 收入, group: financial, unit: 万元, direction: 1}}")
    extra = sorted(set(data) - {"indicators", "group_bounds"})
    if extra:
        raise ConfigError(f"indicators file {path}: unknown key(s) {extra}; allowed: indicators, group_bounds")
    meta = {}
    for column, spec in data["indicators"].items():
        spec = spec or {}
        where = f"indicators file {path}: indicators.{column}"
        if not isinstance(spec, dict):
            raise ConfigError(f"{where}: must be a mapping of {list(META_KEYS)}, got {spec!r}")
        unknown = sorted(set(spec) - set(META_KEYS))
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {unknown}; allowed: {list(META_KEYS)}")
        if "group" in spec and spec["group"] not in GROUPS:
            raise ConfigError(f"{where}.group: {spec['group']!r} is not one of {list(GROUPS)}")
        if "direction" in spec and spec["direction"] not in (1, -1):
            raise ConfigError(f"{where}.direction: must be 1 (more is safer) or -1, got {spec['direction']!r}")
        meta[str(column)] = {k: spec[k] for k in META_KEYS if k in spec}
    bounds = data.get("group_bounds")
    if bounds is not None:
        if not isinstance(bounds, dict):
            raise ConfigError(f"indicators file {path}: group_bounds must map a group to [min share, max share]")
        for g, pair in bounds.items():
            ok = (g in GROUPS and isinstance(pair, list) and len(pair) == 2
                  and all(isinstance(v, (int, float)) and 0 <= v <= 1 for v in pair) and pair[0] <= pair[1])
            if not ok:
                raise ConfigError(f"indicators file {path}: group_bounds.{g}: needs a group of {list(GROUPS)} and "
                                  f"[min, max] shares with 0 <= min <= max <= 1, got {pair!r}")
        bounds = {g: (float(lo), float(hi)) for g, (lo, hi) in bounds.items()}
    return meta, bounds


# ------------------------------------------------------------------------------------------ checks


def _names(columns: Sequence) -> str:
    shown = ", ".join(str(c) for c in list(columns)[:SHOWN])
    return shown + (f", ... ({len(columns)} in all)" if len(columns) > SHOWN else "")


def check_table(frame: pd.DataFrame, options: FitOptions, meta: dict[str, dict], name: str) -> list[str]:
    """Refuse a table the fit cannot use, in one line naming the table, the column and the rule; return the
    indicator columns (every column but the target, stage, time, split and excluded ones)."""
    if frame.empty:
        raise DataError(f"table {name}: no rows")
    roles = {"--target": [options.target], "--stage": [options.stage], "--time": [options.time],
             "--split": [options.split], "--exclude": list(options.exclude), "--indicators": list(meta)}
    for option, columns in roles.items():
        for column in columns:
            if column is not None and column not in frame.columns:
                raise DataError(f"table {name}: column {column!r} ({option}) is not in the table; its columns: "
                                f"{_names(frame.columns)}")
    if options.time and options.split:
        raise ConfigError("give one of --time (out of time) and --split (a given split), not both")
    target = frame[options.target]
    values = set(pd.unique(target.dropna()))
    if target.isna().any() or not values <= {0, 1}:
        example = next((v for v in target if pd.isna(v) or v not in (0, 1)), None)
        raise DataError(f"table {name}: target column {options.target!r} must hold 0 (repaid) or 1 (defaulted) in "
                        f"every row; {int((target.isna() | ~target.isin([0, 1])).sum())} row(s) do not, e.g. "
                        f"{example!r}")
    if len(values) < 2:
        raise DataError(f"table {name}: target column {options.target!r} is {values.pop()} in every row; "
                        "a formula needs both defaults (1) and repaid loans (0)")
    taken = {options.target, options.stage, options.time, options.split, *options.exclude}
    indicators = [c for c in frame.columns if c not in taken]
    if not indicators:
        raise DataError(f"table {name}: no indicator column left besides {sorted(str(t) for t in taken if t)}")
    for column in indicators:
        col = frame[column]
        if not (is_numeric_dtype(col) or is_bool_dtype(col)) or col.dtype == object:
            example = col.dropna().iloc[0] if col.notna().any() else None
            raise DataError(f"table {name}: column {column!r} is not numeric (e.g. {example!r}); encode it as "
                            "numbers or leave it out with --exclude")
        seen = col.dropna()
        if seen.empty:
            raise DataError(f"table {name}: column {column!r} is missing in every row; leave it out with "
                            "--exclude")
        if seen.nunique() < 2:
            raise DataError(f"table {name}: column {column!r} is constant ({seen.iloc[0]!r} wherever present): "
                            "it cannot rank anyone; leave it out with --exclude")
        if np.isinf(seen.to_numpy(dtype="float64")).any():
            raise DataError(f"table {name}: column {column!r} holds infinite values; use empty cells for missing")
    if options.stage:
        known = set(STAGES) | set(STAGE_NAMES_ZH.values())
        bad = ~frame[options.stage].isin(known)
        if bad.any():
            raise DataError(f"table {name}: stage column {options.stage!r} has {int(bad.sum())} row(s) outside "
                            f"{list(STAGES)} (or {list(STAGE_NAMES_ZH.values())}), e.g. "
                            f"{frame[options.stage][bad].iloc[0]!r}")
    return indicators


def split_rows(frame: pd.DataFrame, options: FitOptions, name: str) -> tuple[np.ndarray, dict]:
    """Boolean mask of the test rows and a description of the split; each side needs defaults and repayments."""
    y = frame[options.target].to_numpy(dtype="int64")
    if options.time:
        raw = frame[options.time]
        period = (pd.to_datetime(raw, errors="coerce").dt.year if not is_numeric_dtype(raw) else raw)
        if period.isna().any():
            raise DataError(f"table {name}: time column {options.time!r} has {int(period.isna().sum())} row(s) "
                            f"that are not a year or a date, e.g. {raw[period.isna()].iloc[0]!r}")
        periods = sorted(pd.unique(period))
        if len(periods) < 2:
            raise DataError(f"table {name}: time column {options.time!r} has one period ({periods[0]}); an "
                            "out-of-time split needs at least two")
        test = (period == periods[-1]).to_numpy()
        how = {"kind": "time", "column": options.time, "test_period": _plain(periods[-1]),
               "train_periods": [_plain(p) for p in periods[:-1]]}
    elif options.split:
        labels = frame[options.split].astype(str).str.strip().str.lower()
        bad = ~labels.isin(SPLIT_VALUES)
        if bad.any():
            raise DataError(f"table {name}: split column {options.split!r} must say train or test; "
                            f"{int(bad.sum())} row(s) do not, e.g. {frame[options.split][bad].iloc[0]!r}")
        test = (labels == "test").to_numpy()
        how = {"kind": "given", "column": options.split}
    else:
        from sklearn.model_selection import train_test_split

        share = options.test_share if options.test_share is not None else DEFAULT_TEST_SHARE
        if not 0 < share < 1:
            raise ConfigError(f"--test-share must be between 0 and 1, got {share}")
        _, test_rows = train_test_split(np.arange(len(y)), test_size=share, stratify=y, random_state=options.seed)
        test = np.zeros(len(y), dtype=bool)
        test[test_rows] = True
        how = {"kind": "stratified", "test_share": share, "seed": options.seed}
    for side, mask in (("train", ~test), ("test", test)):
        n, d = int(mask.sum()), int(y[mask].sum())
        if d == 0 or d == n:
            raise DataError(f"table {name}: the {side} rows ({n}) have {'no defaults' if d == 0 else 'only defaults'}"
                            f" in {options.target!r}; the split needs both on each side")
        how[f"{side}_n"], how[f"{side}_defaults"] = n, d
    return test, how


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value


# ------------------------------------------------------------------------------------------ fitting


def fit_table(frame: pd.DataFrame, indicators: list[str], test: np.ndarray, split: dict, options: FitOptions,
              meta: dict[str, dict], group_bounds: dict | None, *, fingerprint: str = "",
              progress=None) -> FitResult:
    """Fit, judge and explain (module docstring, steps 3 and 4). ``progress`` gets the name of each step."""
    from innopoints.models.evaluation.evaluate import evaluate_model_probs, evaluate_points
    from innopoints.models.learning.estimator import PointsFormulaClassifier
    from innopoints.models.learning.learners import LGBMDefaultModel, LogisticDefaultModel

    mark = progress or (lambda _msg: None)
    columns = indicators + ([options.stage] if options.stage else [])
    X, y = frame.loc[~test, columns], frame.loc[~test, options.target].to_numpy(dtype="int64")
    Xt, yt = frame.loc[test, columns], frame.loc[test, options.target].to_numpy(dtype="int64")
    common = dict(total=options.total, max_points=options.max_points, curves=options.curves,
                  indicators={c: m for c, m in meta.items() if c in indicators}, group_bounds=group_bounds,
                  stage=options.stage)
    mark("evidence and the data-driven formula")
    data = PointsFormulaClassifier(**common, flavour="data", evidence=True, refits=options.refits,
                                   random_state=options.seed).fit(X, y)
    eligible = [c for c, ok in zip(indicators, data.active_, strict=True) if ok]
    models = {"fitted-data": data}
    if any("direction" in meta.get(c, {}) for c in indicators):
        mark("the policy-consistent formula")
        models["fitted-policy"] = PointsFormulaClassifier(**common, flavour="policy", select=eligible).fit(X, y)
    mark("points intervals")
    intervals = {name: _points_interval(m, X, y, data.evidence_.resamples) for name, m in models.items()}

    mark("reference models")
    ids = data.indicator_ids_
    frame_x = X[indicators].set_axis(ids, axis=1).astype("float64")
    frame_xt = Xt[indicators].set_axis(ids, axis=1).astype("float64")
    logistic = LogisticDefaultModel().fit(frame_x, y)
    lightgbm = LGBMDefaultModel(n_jobs=1).fit(frame_x, y)
    train_rows = pd.DataFrame({"defaulted": y, "outcome_observed": True})
    test_rows = pd.DataFrame({"defaulted": yt, "outcome_observed": True,
                              "logistic": logistic.predict_proba(frame_xt)[:, 1]})
    slices = ("stage",) if options.stage else ()
    if options.stage:
        test_rows["stage"] = Xt[options.stage].map({**{s: s for s in STAGES},
                                                    **{v: k for k, v in STAGE_NAMES_ZH.items()}}).to_numpy()
    kw = dict(n_boot=options.n_boot, seed=options.seed, slices=slices, min_slice_n=50, min_slice_defaults=5)

    mark("evaluation on the test rows")
    results, formulas = {}, {}
    for name, model in models.items():
        train_rows["points"] = model.points(X)
        test_rows["points"] = model.points(Xt)
        results[name] = evaluate_points(train_rows, test_rows, "points", baseline_col="logistic",
                                        baseline_kind="prob", **kw)
        formulas[name] = _finished(model.to_formula(name=name), fingerprint, options.options_hash(meta),
                                   options.seed, results[name])
    references = {}
    for name, model in (("logistic", logistic), ("lightgbm", lightgbm)):
        train_rows["p"] = model.predict_proba(frame_x)[:, 1]
        test_rows["p"] = model.predict_proba(frame_xt)[:, 1]
        references[name] = evaluate_model_probs(train_rows, test_rows, "p", **{**kw, "n_boot": 0})
    best = "fitted-policy" if "fitted-policy" in models else "fitted-data"
    evaluation = {
        "best": best, "recommend": "policy" if best == "fitted-policy" else "data",
        "split": split, "table": {"rows": len(frame), "indicators": len(indicators), "ids": dict(zip(
            indicators, ids, strict=True))},
        "formulas": results,
        "models": {k: {m: v[m] for m in ("test_auc", "test_gini", "test_ks", "test_brier", "test_log_loss")}
                   for k, v in references.items()},
        "evidence": {"refits": options.refits, "rule": "a column may score when its importance beats the best "
                     "permuted shadow column in at least 80% of the refits and its learned direction is stable",
                     "best_shadow_importance": data.evidence_.shadow},
        "settings": {"staged": options.stage is not None, "total": options.total,
                     "max_points": {n: m.max_points_ for n, m in models.items()},
                     "curves": options.curves},
    }
    mark("refinement")
    refinement = refinement_rows(models, indicators, intervals, meta)
    notes = [f"{name}: {n}" for name, m in models.items() for n in m.notes_]
    return FitResult(formulas=formulas, evaluation=evaluation, refinement=refinement, notes=notes)


def _points_interval(model, X: pd.DataFrame, y: np.ndarray, resamples: list[np.ndarray]) -> np.ndarray:
    """(2, stages, k): 2.5 and 97.5 percentiles of the points refitted on every evidence resample, with the
    model's own directions and scoring columns (so the interval is about the weights, not the choices)."""
    from sklearn.base import clone

    names = list(X.columns.drop(model.stage) if model.stage else X.columns)
    select = [n for n, ok in zip(names, model.active_, strict=True) if ok]
    runs = []
    for rows in resamples:
        refit = clone(model).set_params(evidence=False, select=select, directions=dict(zip(
            names, model.directions_.tolist(), strict=True)), flavour="data")
        try:
            runs.append(refit.fit(X.iloc[rows], y[rows]).points_)
        except ValueError:  # a resample with one class only: no refit
            continue
    return np.percentile(np.stack(runs), [2.5, 97.5], axis=0) if runs else np.full((2, 3, len(names)), np.nan)


def _finished(formula: Formula, fingerprint: str, config_hash: str, seed: int, result: dict) -> Formula:
    """The formula with the run's provenance (data fingerprint, options hash, seed, test metrics), re-hashed."""
    data = formula.to_dict()
    metrics = {k: float(result[k]) for k in ("test_auc", "test_ks", "test_brier") if result.get(k) is not None}
    data["provenance"].update(data_fingerprint=fingerprint, config_hash=config_hash, seed=seed, metrics=metrics,
                              content_hash="")
    return Formula.from_dict(data, allow_unhashed=True).with_hash()


def refinement_rows(models: dict, indicators: list[str], intervals: dict, meta: dict[str, dict]) -> pd.DataFrame:
    """One row per column: the evidence, the points of every formula with intervals, and the verdict."""
    data = models["fitted-data"]
    ev, el = data.evidence_.indicators, data.eligibility_
    rows = []
    for j, (column, ind) in enumerate(zip(indicators, data.indicators_, strict=True)):
        e, eligible = ev.loc[ind.id], el.loc[ind.id]
        row = {"column": column, "id": ind.id, "name_zh": ind.name_zh, "name_en": ind.name_en, "group": ind.group,
               "link": str(e["link"]), "beats_noise": float(e["beats_noise"]),
               "importance": float(e["importance"]),
               "importance_interval": [float(e["importance_lo"]), float(e["importance_hi"])],
               "incremental_auc": float(e["incremental"]),
               "incremental_auc_interval": [float(e["incremental_lo"]), float(e["incremental_hi"])],
               "learned_direction": int(e["direction"]), "band_direction": int(data.directions_[j]),
               "policy_direction": meta.get(column, {}).get("direction"),
               "missing_share": float(e["missing_share"]), "cluster": int(e["cluster"]),
               "evidence_status": str(eligible["status"]), "evidence_note": str(eligible["note"])}
        for name, model in models.items():
            pts, iv = model.points_[:, j], intervals[name][:, :, j]
            row[f"points_{name}"] = {s: float(pts[c]) for c, s in enumerate(STAGES)}
            row[f"points_interval_{name}"] = {s: [float(iv[0, c]), float(iv[1, c])] for c, s in enumerate(STAGES)}
        best = models.get("fitted-policy", data)
        scored = bool(best.points_[:, j].any())
        policy = row["policy_direction"]
        conflict = policy is not None and int(data.directions_[j]) == -int(policy)
        if scored:
            verdict, reason = "score", f"{eligible['note']}; scored in direction {int(data.directions_[j]):+d}"
        elif not data.active_[j]:
            verdict, reason = ("uncertain" if eligible["status"] == "uncertain" else "leave out"), eligible["note"]
        elif conflict and "fitted-policy" in models:
            verdict, reason = "leave out", (f"sign conflict: the data score it {int(data.directions_[j]):+d}, policy "
                                            f"says {int(policy):+d}; the policy-consistent formula gives it no points")
        else:
            verdict, reason = "leave out", (f"{eligible['note']}, but the fit gives it no points: it adds too "
                                            "little beside the other columns")
        row.update(sign_conflict=conflict, verdict=verdict, reason=reason)
        rows.append(row)
    order = {"score": 0, "uncertain": 1, "leave out": 2}
    table = pd.DataFrame(rows)
    table["_order"] = table["verdict"].map(order)
    return table.sort_values(["_order", "importance"], ascending=[True, False], kind="stable").drop(
        columns="_order").reset_index(drop=True)


# ------------------------------------------------------------------------------------------ writing


def refinement_markdown(result: FitResult, table_name: str) -> str:
    """The refinement report of a fitted table (Markdown; aggregates only)."""
    ev, split = result.evaluation, result.evaluation["split"]
    best = ev["best"]
    r = ev["formulas"][best]
    d = r.get("delta_auc_vs_baseline")
    how = {"time": f"out of time on `{split.get('column')}`: test = {split.get('test_period')}, train = "
                   f"{split.get('train_periods')}",
           "given": f"as given by column `{split.get('column')}`",
           "stratified": f"stratified at random, {split.get('test_share')} of the rows as test (seed "
                         f"{split.get('seed')})"}[split["kind"]]
    lines = [
        f"# Indicator refinement report 指标优化报告: `{table_name}`", "",
        f"**Recommended formula: `{best}`** ("
        + ("no column scored against the policy direction its indicators file declares" if best == "fitted-policy"
           else "every column scored in the direction its risk bands show") + ").", "",
        f"Split {how}: train {split['train_n']} rows ({split['train_defaults']} defaults), test {split['test_n']} "
        f"rows (**{split['test_defaults']} defaults**)." + (" ⚠ fewer than 30 test defaults: every interval is "
                                                           "wide." if split["test_defaults"] < 30 else ""), "",
        "## On the test rows", "",
        "| model | test AUC | KS | Brier |", "|---|---|---|---|",
    ]
    for name, m in ev["formulas"].items():
        lines.append(f"| formula `{name}` | {m['test_auc']:.4f} | {m['test_ks']:.4f} | {m['test_brier']:.4f} |")
    for name, m in ev["models"].items():
        lines.append(f"| {name} (reference) | {m['test_auc']:.4f} | {m['test_ks']:.4f} | {m['test_brier']:.4f} |")
    if d:
        lines += ["", f"`{best}` against the logistic regression on the same columns: ΔAUC {d[1]:+.4f}, 95% "
                      f"interval [{d[0]:+.4f}, {d[2]:+.4f}] (paired bootstrap of the test rows)."]
    lines += [
        "", "## How the evidence was gathered", "",
        f"{ev['evidence']['refits']} LightGBM refits on bootstrap resamples of the training rows, each beside a "
        "shadow copy of every column (the column block with its rows permuted: no link to the target). A column "
        "has a **measurable link** when its importance (mean |SHAP|) beats the best shadow's in at least 80% of "
        "the refits, **none** at 20% or less, and is **uncertain** in between; only columns with a link and a "
        "stable direction may score. Directions are chosen on the risk bands; the points' intervals are the 2.5 "
        "and 97.5 percentiles of the points refitted on the same resamples.", "",
        "## Every column", "",
        f"Points: `{best}`'s max points [95% interval]"
        + (" for start-up / growth / stable rows" if ev["settings"]["staged"] else ", the same in every stage")
        + ".", "",
        "| column | 指标 | group | link (beats shadow) | importance [95%] | AUC lost when permuted [95%] | "
        "direction (bands / SHAP / policy) | missing | points | verdict | reason |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for _, row in result.refinement.iterrows():
        pts, iv = row[f"points_{best}"], row[f"points_interval_{best}"]
        same = len({pts[s] for s in STAGES}) == 1 and len({tuple(iv[s]) for s in STAGES}) == 1
        shown = (f"{pts[STAGES[0]]:.1f} [{iv[STAGES[0]][0]:.1f}, {iv[STAGES[0]][1]:.1f}]" if same else
                 " / ".join(f"{pts[s]:.1f} [{iv[s][0]:.1f}, {iv[s][1]:.1f}]" for s in STAGES))
        lo, hi = row["importance_interval"]
        ilo, ihi = row["incremental_auc_interval"]
        policy = "–" if row["policy_direction"] is None or pd.isna(row["policy_direction"]) else \
            f"{int(row['policy_direction']):+d}"
        lines.append(
            f"| `{row['column']}` | {row['name_zh']} | {row['group']} | {row['link']} ({row['beats_noise']:.0%}) | "
            f"{row['importance']:.3f} [{lo:.3f}, {hi:.3f}] | {row['incremental_auc']:+.4f} [{ilo:+.4f}, "
            f"{ihi:+.4f}] | {row['band_direction']:+d} / {row['learned_direction']:+d} / {policy} | "
            f"{row['missing_share']:.1%} | {shown} | **{row['verdict']}** | {row['reason']} |")
    if result.notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in result.notes]
    return "\n".join(lines) + "\n"


def write_fit_outputs(result: FitResult, out_dir: Path, table_name: str) -> dict[str, Path]:
    """Write formulas/ (JSON + weights table), evaluation.json, refinement.json and refinement.md, all at once."""
    from innopoints.pipeline.outputs import dumps, staged_dir, write_formula_files

    out_dir = Path(out_dir)
    with staged_dir(out_dir) as tmp:
        (tmp / "formulas").mkdir()
        write_formula_files(tmp / "formulas", result.formulas)
        (tmp / "evaluation.json").write_text(dumps(result.evaluation), encoding="utf-8")
        (tmp / "refinement.json").write_text(dumps({
            "recommended": result.evaluation["best"], "evidence": result.evaluation["evidence"],
            "notes": result.notes, "indicators": result.refinement.to_dict(orient="records")}), encoding="utf-8")
        (tmp / "refinement.md").write_text(refinement_markdown(result, table_name), encoding="utf-8")
    return {"formulas": out_dir / "formulas", "evaluation": out_dir / "evaluation.json",
            "refinement": out_dir / "refinement.json", "report": out_dir / "refinement.md"}
