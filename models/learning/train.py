"""The training workflow: learn which indicators predict repayment, explain it, turn it into candidate
formulas, choose the best on a validation slice, and judge every formula on the same out-of-time loans.

No files, no MLflow, no printing: the caller gets a :class:`TrainResult` and decides what to write.

The loans are split three ways by origination year (observed outcomes only):

- **test**: the last year (:func:`models.evaluation.evaluate.temporal_split`), never seen by any fit or choice;
- **validation**: the last training year, used once, to choose the ``best`` candidate;
- **fit**: the years before it.

Every candidate is built twice with the same recipe: on *fit* (scored on *validation*, for the choice) and
on all training years (scored on *test*, for the report and the shipped file). Curves, breakpoints,
missing fractions and points only ever come from the rows a recipe is given.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from innopoints.features.catalog import Indicator
from innopoints.features.stage import STAGES, StageRule
from innopoints.models.evaluation.evaluate import evaluate_model_probs, evaluate_points, temporal_split
from innopoints.models.evaluation.metrics import PointsCalibrator, auc, log_loss
from innopoints.models.formula.schema import Formula, Provenance, StagePoints, round_points_preserving_total
from innopoints.models.learning.candidates import (
    FLAVOURS,
    Curves,
    FitSettings,
    assemble,
    fitted_points,
    flavour_spec,
    integer_points,
    learn_curves,
    shap_points,
)
from innopoints.models.learning.explain import (
    global_importance,
    group_importance,
    learned_direction,
    sample_weights,
    shap_sample,
)
from innopoints.models.learning.fit import PointsFit, fit_stage_points, scaled_init
from innopoints.models.learning.learners import LGBMDefaultModel, LogisticDefaultModel

Progress = Callable[[str], None]


@dataclass(frozen=True)
class TrainSettings:
    """Everything the workflow needs besides the data (it all goes into provenance via the config hash)."""

    seed: int = 1
    share: float = 0.1374
    n_boot: int = 1000
    shap_rows: int = 5000
    curves: str = "risk_bins"  # innopoints.models.learning.candidates.CURVE_KINDS
    importance_boot: int = 200
    lgbm: dict = field(default_factory=dict)
    fit: FitSettings = FitSettings(
        group_bounds={"input": (0.1, 0.5), "output": (0.1, 0.5), "growth": (0.1, 0.5), "financial": (0.0, 0.3)},
        max_points=25.0,
    )
    change_limits: tuple[float, ...] = (5.0, 10.0, 20.0, 30.0, 50.0)
    recalibrations: tuple[float, ...] = (10.0, 30.0)  # change limits shipped as recal-<limit> formulas
    drop_one: bool = True
    drop_one_workers: int = 2  # refits at a time (the target machine has 2 cores); results do not depend on it
    min_slice_n: int = 200
    min_slice_defaults: int = 5
    test_year: int | None = None


@dataclass
class Recipe:
    """What one fitting pass learned from its rows (the explanation lives here too)."""

    model: LGBMDefaultModel
    sample: pd.Index
    values: pd.DataFrame  # indicator values of the explained sample (kept in memory, never written)
    contrib: pd.DataFrame
    directions: pd.DataFrame
    importance: pd.DataFrame
    group_importance: pd.DataFrame
    stage_importance: pd.DataFrame
    formulas: dict[str, Formula]
    frontier: list[dict]
    notes: list[str]


@dataclass
class TrainResult:
    """Formulas (the baseline included), evaluation, refinement table and the explanation tables."""

    formulas: dict[str, Formula]
    evaluation: dict
    refinement: pd.DataFrame
    frontier: list[dict]
    explain: dict[str, pd.DataFrame]
    models: dict
    split: dict
    notes: list[str] = field(default_factory=list)
    final: Recipe | None = None


def _stage_codes(frame: pd.DataFrame) -> np.ndarray:
    return pd.Categorical(frame["stage"].astype(str), categories=list(STAGES)).codes.astype(np.int64)


def split_fit_validation(train: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The last training year is the validation slice; the years before it are for fitting."""
    last = int(train["year"].max())
    fit, valid = train[train["year"] < last], train[train["year"] == last]
    if fit.empty or valid["defaulted"].sum() == 0:
        from innopoints.models.evaluation.metrics import EvaluationError

        raise EvaluationError(
            f"loans: need observed loans in at least two training years with defaults in the last ({last}) "
            "to choose a formula on a validation slice"
        )
    return fit, valid


def _stage_importance(contrib: pd.DataFrame, stage_codes: np.ndarray, weights: np.ndarray,
                      ids: list[str]) -> pd.DataFrame:
    """Weighted mean |SHAP| per stage and indicator (a stage without rows borrows the overall mean)."""
    absc = contrib[ids].abs().to_numpy() * weights[:, None]
    overall = absc.sum(axis=0) / weights.sum()
    rows = []
    for code in range(len(STAGES)):
        m = stage_codes == code
        rows.append(absc[m].sum(axis=0) / weights[m].sum() if m.any() else overall)
    return pd.DataFrame(rows, index=list(STAGES), columns=ids)


def _reweighted(baseline: Formula, ids: list[str], points: np.ndarray, *, name: str, title: str,
                description: str, provenance: Provenance) -> Formula:
    """The baseline's curves and missing policies with new per-stage points (2 decimals, totals kept)."""
    base = baseline.scale.base_points
    rounded = np.vstack([round_points_preserving_total(row, base, 2) for row in points])
    col = {i: j for j, i in enumerate(ids)}
    items = [
        item.model_copy(update={"points": StagePoints(**{s: float(rounded[c, col[item.id]])
                                                         for c, s in enumerate(STAGES)})})
        for item in baseline.indicators
    ]
    return Formula(
        name=name, version=baseline.version, title=title, description=description, illustrative=False,
        scale=baseline.scale, stage_rule=baseline.stage_rule, indicators=items, bonus=baseline.bonus,
        local_indicators=baseline.local_indicators, provenance=provenance,
    ).with_hash()


def _baseline_points(baseline: Formula) -> tuple[list[str], np.ndarray]:
    ids = [item.id for item in baseline.indicators]
    return ids, np.vstack([[getattr(item.points, s) for item in baseline.indicators] for s in STAGES])


def build_recipe(data: pd.DataFrame, indicators: Sequence[Indicator], baseline: Formula, settings: TrainSettings,
                 *, stage_rule: StageRule, provenance: dict, local_indicators: list[dict],
                 progress: Progress | None = None) -> Recipe:
    """Learn everything from ``data`` (loans with outcomes) and build every candidate formula."""
    say = progress or (lambda _msg: None)
    ids = [ind.id for ind in indicators]
    groups = [ind.group for ind in indicators]
    X = data[ids].astype("float64")
    y = data["defaulted"].to_numpy(dtype="float64")
    years = data["year"].to_numpy()
    codes = _stage_codes(data)
    say("LightGBM")
    model = LGBMDefaultModel(seed=settings.seed, **settings.lgbm).fit(X, y, time=years)
    say("SHAP")
    sample = shap_sample(X, n_max=settings.shap_rows, seed=settings.seed, stratify=y)
    contrib = model.contributions(X.loc[sample])
    weights = sample_weights(y, sample, X.index)
    directions = learned_direction(contrib, X.loc[sample])
    group_of = dict(zip(ids, groups, strict=True))
    importance = global_importance(contrib, X.loc[sample], groups=group_of, n_boot=settings.importance_boot,
                                   seed=settings.seed, weights=weights)
    g_importance = group_importance(contrib, X.loc[sample], group_of, n_boot=settings.importance_boot,
                                    seed=settings.seed, weights=weights)
    pos = X.index.get_indexer(sample)
    stage_imp = _stage_importance(contrib, codes[pos], weights.to_numpy(), ids)

    say("candidate formulas")
    formulas: dict[str, Formula] = {}
    notes: list[str] = []
    base = baseline.scale.base_points

    def prov(method: str, extra: str = "") -> Provenance:
        return Provenance(method=method, data_fingerprint=provenance.get("data_fingerprint", ""),
                          config_hash=provenance.get("config_hash", ""), seed=settings.seed, notes=extra)

    common = dict(indicators=indicators, stage_rule=stage_rule, base=base, local_indicators=local_indicators,
                  version=provenance.get("version", "1"))
    for flavour in FLAVOURS:
        spec = flavour_spec(indicators, directions["direction"], flavour)
        curves: Curves = learn_curves(X, y, codes, spec, settings.curves)
        how = ("policy-consistent: indicators whose learned direction contradicts policy get zero points"
               if flavour == "policy" else
               "data-driven: every indicator scored in the direction the data show")
        pts = shap_points(stage_imp, spec, base)
        formulas[f"shap-{flavour}"] = assemble(
            name=f"shap-{flavour}", title=f"SHAP-importance points ({flavour})",
            description=f"Max points proportional to mean |SHAP| per stage; {how}.",
            curves=curves, points=pts, provenance=prov(f"shap-{flavour}"), **common)
        fpts, _fits, fnotes = fitted_points(curves.fractions, y, codes, spec, groups, settings.fit)
        notes += [f"fitted-{flavour}: {n}" for n in fnotes]
        constraints = _describe_constraints(settings.fit)
        formulas[f"fitted-{flavour}"] = assemble(
            name=f"fitted-{flavour}", title=f"Fitted points ({flavour})",
            description=f"Max points that maximise the likelihood of repayment through the formula score "
                        f"({constraints}); {how}.",
            curves=curves, points=fpts, provenance=prov(f"fitted-{flavour}", "; ".join(fnotes)), **common)
        formulas[f"fitted-{flavour}-int"] = assemble(
            name=f"fitted-{flavour}-int", title=f"Fitted points ({flavour}), whole points",
            description=f"fitted-{flavour} rounded to whole points per stage, totals preserved; {how}.",
            curves=curves, points=integer_points(fpts, base, groups), provenance=prov(f"fitted-{flavour}-int"),
            decimals=0, **common)

    say("recalibration frontier")
    frontier, recal = _frontier(data, y, codes, baseline, directions, settings)
    b_ids, _ = _baseline_points(baseline)
    for limit, pts in recal.items():
        formulas[f"recal-{int(limit)}"] = _reweighted(
            baseline, b_ids, pts, name=f"recal-{int(limit)}",
            title=f"Baseline recalibrated, at most {limit:g} points moved per stage",
            description=f"The baseline's indicators, curves and missing policies with max points refitted to "
                        f"loan outcomes, moving at most {limit:g} of {base:g} points per stage "
                        "(policy-consistent: no points for a sign conflict).",
            provenance=prov(f"recal-{int(limit)}"))
    return Recipe(model, sample, X.loc[sample], contrib, directions, importance, g_importance, stage_imp,
                  formulas, frontier, notes)


def _describe_constraints(fit: FitSettings) -> str:
    parts = ["non-negative points", f"{fit.base:g} per stage"]
    if fit.max_points is not None:
        parts.append(f"at most {fit.max_points:g} per indicator")
    if fit.group_bounds:
        parts.append("group shares " + ", ".join(f"{g} {lo:.0%}-{hi:.0%}"
                                                 for g, (lo, hi) in sorted(fit.group_bounds.items())))
    return "; ".join(parts)


def _frontier(data: pd.DataFrame, y: np.ndarray, codes: np.ndarray, baseline: Formula,
              directions: pd.DataFrame, settings: TrainSettings) -> tuple[list[dict], dict[float, np.ndarray]]:
    """Smallest-change recalibration: the baseline's curves, points refitted under growing change limits.

    Policy-consistent: a sign-conflict indicator must lose its points, so a limit below the points it holds
    is raised to that (reported as ``effective_change``). Each limit warm-starts from the tighter one, whose
    solution is still feasible, and a solve that comes back worse keeps it: the training loss along the
    frontier never rises.
    """
    ids, w0 = _baseline_points(baseline)
    base = baseline.scale.base_points
    F = baseline.fractions(data[ids + ["stage"]])[ids].to_numpy(dtype="float64")
    learned = directions["direction"].reindex(ids).fillna(0).to_numpy()
    active = np.array([learned[j] != -baseline.direction_of(i) for j, i in enumerate(ids)])
    rows: list[dict] = []
    shipped: dict[float, np.ndarray] = {}
    prev: list[PointsFit | None] = [None] * len(STAGES)
    for limit in sorted(settings.change_limits):
        pts = w0.copy()
        loss = np.zeros(len(STAGES))
        effective = np.zeros(len(STAGES))
        refitted = []
        for code in range(len(STAGES)):
            m = codes == code
            needed = float(w0[code][~active].sum())
            effective[code] = max(limit, needed)
            if y[m].sum() < settings.fit.min_stage_defaults:
                continue  # too few defaults in this stage to move anything: keep the baseline
            warm = None if prev[code] is None else scaled_init(prev[code], base)
            fit = fit_stage_points(F[m], y[m], base=base, active=active, baseline=w0[code],
                                   max_change=effective[code], ridge=settings.fit.ridge, init=warm)
            if prev[code] is not None and fit.loss > prev[code].loss:
                fit = prev[code]
            prev[code] = fit
            pts[code] = fit.points
            loss[code] = fit.loss * m.sum()
            refitted.append(STAGES[code])
        score = (F * pts[codes]).sum(axis=1)
        n_refit = int(np.isin(codes, [STAGES.index(s) for s in refitted]).sum())
        rows.append({
            "max_change": float(limit),
            "stages_refitted": refitted,
            "effective_change": [float(v) for v in effective],
            "points_moved": [float(v) for v in 0.5 * np.abs(pts - w0).sum(axis=1)],
            # over the loans of the refitted stages (a thin stage keeps the baseline and has no link fit)
            "train_log_loss": float(loss.sum() / max(n_refit, 1)),
            "train_auc": auc(y, -score),
        })
        if limit in settings.recalibrations:
            shipped[limit] = pts
    return rows, shipped


def _validation_log_loss(points_fit: np.ndarray, y_fit: np.ndarray, points_valid: np.ndarray,
                         y_valid: np.ndarray) -> float:
    """Log loss on the validation year of P(default | points), the link fitted on the fit years (one
    intercept and slope for all stages: the points rank all firms together)."""
    return log_loss(y_valid, PointsCalibrator().fit(points_fit, y_fit).predict_pd(points_valid))


def _score(formula: Formula, frame: pd.DataFrame) -> np.ndarray:
    return formula.score(frame[formula.required_columns + ["stage"]])["points"].to_numpy()


def train_candidates(loans: pd.DataFrame, indicators: Sequence[Indicator], baseline: Formula,
                     settings: TrainSettings, *, stage_rule: StageRule | None = None,
                     provenance: dict | None = None, local_indicators: list[dict] | None = None,
                     progress: Progress | None = None) -> TrainResult:
    """Run the whole workflow on a loan indicator table (see the module docstring).

    Args:
        loans: one row per loan (``innopoints.features.build.loan_features``), all loans; unobserved ones are excluded
            here and counted in ``split``.
        indicators: the indicators candidates may use (catalog plus local).
        baseline: the formula every candidate is compared with.
        settings: :class:`TrainSettings`.
        stage_rule: written into candidate formulas (default: the baseline's).
        provenance: ``data_fingerprint``, ``config_hash``, ``version`` for the candidate files.
    Returns:
        :class:`TrainResult`.
    """
    # SLSQP makes thousands of tiny BLAS calls; threads only fight over them (measured: 7-37 s vs ~1 s).
    with threadpool_limits(limits=1, user_api="blas"):
        return _train_candidates(loans, indicators, baseline, settings, stage_rule=stage_rule,
                                 provenance=provenance, local_indicators=local_indicators, progress=progress)


def _train_candidates(loans: pd.DataFrame, indicators: Sequence[Indicator], baseline: Formula,
                      settings: TrainSettings, *, stage_rule: StageRule | None,
                      provenance: dict | None, local_indicators: list[dict] | None,
                      progress: Progress | None) -> TrainResult:
    say = progress or (lambda _msg: None)
    provenance = provenance or {}
    stage_rule = stage_rule or baseline.stage_rule
    local_indicators = local_indicators or []
    missing = [c for c in baseline.required_columns if c not in loans.columns]
    if missing:
        from innopoints.features.errors import FormulaError

        raise FormulaError(f"baseline {baseline.name!r} scores indicator(s) {missing} the loan table lacks")
    train, test = temporal_split(loans, test_year=settings.test_year)
    fit_part, valid = split_fit_validation(train)
    split = {
        "loans": int(len(loans)), "unobserved_excluded": int((~loans["outcome_observed"]).sum()),
        "train_years": sorted(int(v) for v in train["year"].unique()), "test_year": int(test["year"].iloc[0]),
        "validation_year": int(valid["year"].iloc[0]),
        "train_n": int(len(train)), "train_defaults": int(train["defaulted"].sum()),
        "validation_n": int(len(valid)), "validation_defaults": int(valid["defaulted"].sum()),
        "test_n": int(len(test)), "test_defaults": int(test["defaulted"].sum()),
    }
    split["after_test_year_excluded"] = int(
        (loans["outcome_observed"] & (loans["year"] > split["test_year"])).sum())
    kw = dict(stage_rule=stage_rule, provenance=provenance, local_indicators=local_indicators)

    say("selection pass (fit years → validation year)")
    selection = build_recipe(fit_part, indicators, baseline, settings, progress=say, **kw)
    yv = valid["defaulted"].to_numpy(dtype="float64")
    yf = fit_part["defaulted"].to_numpy(dtype="float64")
    valid_auc, valid_loss = {}, {}
    for name, f in selection.formulas.items():
        points_v = _score(f, valid)
        valid_auc[name] = auc(yv, -points_v)
        valid_loss[name] = _validation_log_loss(_score(f, fit_part), yf, points_v, yv)
    valid_auc_baseline = auc(yv, -_score(baseline, valid))
    # The proper scoring rule, not AUC: near-ties in AUC are common among candidates (0.0002 apart at national
    # scale) and AUC ignores how far apart the points put safe and risky firms; the log loss sees both.
    best = min(sorted(valid_loss), key=lambda name: valid_loss[name])

    say("final pass (all training years)")
    final = build_recipe(train, indicators, baseline, settings, progress=say, **kw)

    say("evaluation on the test year")
    train = train.copy()
    test = test.copy()
    train["points_baseline"] = _score(baseline, train)
    test["points_baseline"] = _score(baseline, test)
    ev_kw = dict(share=settings.share, n_boot=settings.n_boot, seed=settings.seed,
                 min_slice_n=settings.min_slice_n, min_slice_defaults=settings.min_slice_defaults)
    results = {"baseline": evaluate_points(train, test, "points_baseline", **ev_kw)}
    results["baseline"]["validation_auc"] = valid_auc_baseline
    formulas: dict[str, Formula] = {}
    for name, formula in final.formulas.items():
        train["points_candidate"] = _score(formula, train)
        test["points_candidate"] = _score(formula, test)
        res = evaluate_points(train, test, "points_candidate", baseline_col="points_baseline", **ev_kw)
        res["validation_auc"] = valid_auc[name]
        results[name] = res
        metrics = {k: float(v) for k, v in res.items()
                   if k.startswith("test_") and isinstance(v, int | float) and np.isfinite(v)}
        metrics["validation_auc"] = float(valid_auc[name])
        formulas[name] = formula.model_copy(update={
            "provenance": formula.provenance.model_copy(update={"metrics": metrics})}).with_hash()
    formulas = {"baseline": baseline, **formulas}

    say("models")
    models = _model_metrics(train, test, indicators, settings, ev_kw)
    say("refinement")
    from innopoints.models.learning.refine import refinement_table

    refinement = refinement_table(
        indicators=indicators, final=final, train=train, fit_part=fit_part, valid=valid, baseline=baseline,
        formulas=formulas, settings=settings)
    evaluation = {
        "formulas": results,
        "best": best,
        "selection": {"metric": "validation_log_loss", "validation_year": split["validation_year"],
                      "validation_log_loss": valid_loss, "validation_auc": valid_auc,
                      "baseline_validation_auc": valid_auc_baseline},
        "models": models,
        "split": split,
    }
    explain = {
        "importance": final.importance,
        "group_importance": final.group_importance,
        "stage_importance": final.stage_importance,
        "directions": final.directions,
    }
    return TrainResult(formulas=formulas, evaluation=evaluation, refinement=refinement,
                       frontier=final.frontier, explain=explain, models=models, split=split,
                       notes=final.notes, final=final)


def _model_metrics(train: pd.DataFrame, test: pd.DataFrame, indicators: Sequence[Indicator],
                   settings: TrainSettings, ev_kw: dict) -> dict:
    """Test metrics of the learners themselves: the ceiling a readable formula is measured against."""
    ids = [ind.id for ind in indicators]
    X, y, years = train[ids].astype("float64"), train["defaulted"].to_numpy(), train["year"].to_numpy()
    out = {}
    learners = {
        "lgbm": LGBMDefaultModel(seed=settings.seed, **settings.lgbm),
        "lgbm_monotone": LGBMDefaultModel(seed=settings.seed, monotone_directions={i.id: i.direction
                                                                                   for i in indicators},
                                          **settings.lgbm),
        "logistic": LogisticDefaultModel(seed=settings.seed),
    }
    for name, model in learners.items():
        if name == "logistic":
            model.fit(X, y)
        else:
            model.fit(X, y, time=years)
        tr, te = train.copy(), test.copy()
        tr["p"] = model.predict_proba(X)[:, 1]
        te["p"] = model.predict_proba(test[ids].astype("float64"))[:, 1]
        res = evaluate_model_probs(tr, te, "p", baseline_col="points_baseline", **ev_kw)
        out[name] = {k: v for k, v in res.items() if k.startswith("test_") or k.startswith("delta_")}
    return out
