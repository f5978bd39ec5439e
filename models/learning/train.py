"""The training workflow: learn which indicators predict repayment, with evidence that states its own
uncertainty, turn it into candidate formulas, recommend one, and judge every formula on the same
out-of-time loans.

No files, no MLflow, no printing: the caller gets a :class:`TrainResult` and decides what to write.

The loans are split three ways by origination year (observed outcomes only):

- **test**: the last year (:func:`innopoints.models.evaluation.evaluate.temporal_split`), never seen by any
  fit or choice;
- **validation**: the last training year, used once, to choose among the candidates;
- **fit**: the years before it.

Steps:

1. **Evidence** (:mod:`innopoints.models.learning.evidence`) from refits on bootstrap resamples of firms of all
   training years, with shadow indicators: importance, learned direction and incremental value with
   intervals, per indicator and per cluster of twins. It decides once which indicators may score and in
   which direction (:func:`innopoints.models.learning.refine.eligibility`); the validation year then only
   chooses how the points are made.
2. **Availability**: an indicator missing for at least ``unavailable_share`` of a stage's training loans
   cannot be had by that stage's firms (growth over two years for a start-up): zero points in that stage.
3. **Candidates**, each built twice with the same recipe: on *fit* (scored on *validation*, for the choice)
   and on all training years (scored on *test*, for the report and the shipped file).
4. **The recommendation**: the candidate with the lowest validation log loss among the policy-consistent
   ones (``recommend="policy"``, the default) or the data-driven ones (``"data"``). The best of the other
   flavour is reported beside it with the cost of policy consistency on the test year.
5. **Points intervals** for the recommended formula: its recipe refitted on every evidence resample.
6. **Reference models** (LightGBM tuned on the validation year, logistic) and a **rolling-origin backtest**.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from innopoints.features.catalog import Indicator
from innopoints.features.errors import EvaluationError, FormulaError
from innopoints.features.stage import STAGES, StageRule
from innopoints.models.evaluation.backtest import (
    MIN_TEST_DEFAULTS,
    backtest,
    interval_note,
    policy_metrics,
    rolling_origins,
)
from innopoints.models.evaluation.evaluate import (
    evaluate_model_probs,
    evaluate_points,
    jsonable_records,
    temporal_split,
)
from innopoints.models.evaluation.metrics import QUALIFIED_SHARE, PointsCalibrator, auc, log_loss, paired_bootstrap
from innopoints.models.formula.schema import Formula, Provenance, StagePoints, round_points_preserving_total
from innopoints.models.formula.schema import stage_codes as _stage_codes
from innopoints.models.learning.candidates import (
    FLAVOURS,
    GROUP_BOUNDS,
    Curves,
    FitSettings,
    Spec,
    assemble,
    bonus_items,
    fit_bonus_points,
    fitted_points,
    flavour_spec,
    integer_points,
    learn_curves,
    shap_points,
)
from innopoints.models.learning.evidence import NOISE, Evidence, EvidenceSettings, gather_evidence
from innopoints.models.learning.explain import shap_sample
from innopoints.models.learning.fit import PointsFit, fit_stage_points, scaled_init
from innopoints.models.learning.learners import LGBMDefaultModel, LogisticDefaultModel, map_on_threads
from innopoints.models.learning.reference import fit_reference, tune_reference
from innopoints.models.learning.refine import eligibility, refinement_table
from innopoints.models.policy.constraints import ConflictRule, constraint_costs
from innopoints.models.selection.analysis import SelectionSettings, selection_analysis

Progress = Callable[[str], None]

RECOMMEND = ("policy", "data")

BACKTEST_BOOT = 500
"""Bootstrap resamples behind each backtest and capture interval, at most (at national scale 1,000 resamples
of every year's loans cost more than the refits behind them)."""

TRAIN_STEPS = (
    "evidence: refits with shadow indicators", "selection pass (fit years → validation year)",
    "candidate formulas", "recalibration frontier", "final pass (all training years)", "candidate formulas",
    "recalibration frontier", "evaluation on the test year", "points intervals", "reference models", "backtest",
    "who was lent: support and corrections", "refinement",
)
"""The steps :func:`train_candidates` reports to its ``progress`` callback, in order (progress bars count them)."""


@dataclass(frozen=True)
class TrainSettings:
    """Everything the workflow needs besides the data (it all goes into provenance via the config hash)."""

    seed: int = 1
    share: float = QUALIFIED_SHARE
    n_boot: int = 1000
    shap_rows: int = 5000  # rows of the reference LightGBM explained for the dependence plots
    curves: str = "risk_bins"  # innopoints.models.learning.candidates.CURVE_KINDS
    lgbm: dict = field(default_factory=dict)
    fit: FitSettings = FitSettings(
        group_bounds=dict(GROUP_BOUNDS),
        max_points=25.0,
    )
    change_limits: tuple[float, ...] = (5.0, 10.0, 20.0, 30.0, 50.0)
    recalibrations: tuple[float, ...] = (10.0, 30.0)  # change limits shipped as recal-<limit> formulas
    recommend: str = "policy"
    evidence: EvidenceSettings = EvidenceSettings()
    unavailable_share: float = 0.95
    backtest_years: int = 3
    backtest_refits: int = 10
    min_slice_n: int = 200
    min_slice_defaults: int = 5
    test_year: int | None = None
    selection: SelectionSettings = SelectionSettings()  # who was lent: support, IPW and reject inference
    sign_conflicts: Mapping[str, ConflictRule] = field(default_factory=dict)  # graded handling; default zero


@dataclass
class Learned:
    """What the evidence decided, once, for every pass: who may score, in which direction, in which stage."""

    evidence: Evidence
    eligible: pd.DataFrame
    available: np.ndarray  # (stages, k) catalog order
    specs: dict[str, Spec]  # flavour -> spec
    notes: list[str] = field(default_factory=list)


@dataclass
class Recipe:
    """What one fitting pass built from its rows."""

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
    plots: dict = field(default_factory=dict)  # SHAP sample of the reference model, for dependence plots
    selection: dict = field(default_factory=dict)  # models.selection.analysis: support, IPW, reject inference
    graded: dict[str, Formula] = field(default_factory=dict)  # the recommended formula with a chosen graded rule


def split_fit_validation(train: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The last training year is the validation slice; the years before it are for fitting."""
    last = int(train["year"].max())
    fit, valid = train[train["year"] < last], train[train["year"] == last]
    if fit.empty or valid["defaulted"].sum() == 0:
        raise EvaluationError(
            f"loans: need observed loans in at least two training years with defaults in the last ({last}) "
            "to choose a formula on a validation slice"
        )
    return fit, valid


def availability(data: pd.DataFrame, ids: list[str], unavailable_share: float,
                 population: pd.DataFrame | None = None) -> np.ndarray:
    """(stages, k): False where an indicator is missing for at least ``unavailable_share`` of a stage's loans
    (and, when given, of the stage's firms in ``population``): that stage's firms cannot have it."""
    out = np.ones((len(STAGES), len(ids)), bool)
    for frame in (data, population):
        if frame is None:
            continue
        codes = _stage_codes(frame)
        missing = frame[ids].isna().to_numpy()
        for c in range(len(STAGES)):
            rows = codes == c
            if rows.any():
                out[c] &= missing[rows].mean(axis=0) < unavailable_share
    return out


def learn(data: pd.DataFrame, indicators: Sequence[Indicator], settings: TrainSettings, *,
          evidence_settings: EvidenceSettings | None = None, population: pd.DataFrame | None = None) -> Learned:
    """Evidence, eligibility, availability and the flavour specs from ``data`` (loans with outcomes)."""
    ids = [ind.id for ind in indicators]
    ev = gather_evidence(data[ids].astype("float64"), data["defaulted"].to_numpy(dtype="float64"),
                         data["firm_id"], _stage_codes(data), evidence_settings or settings.evidence,
                         groups={ind.id: ind.group for ind in indicators})
    eligible = eligibility(ev, indicators)
    available = availability(data, ids, settings.unavailable_share, population)
    learned = ev.indicators["direction"]
    specs, notes = {}, []
    for fl in FLAVOURS:
        spec = flavour_spec(indicators, learned, fl, eligible=eligible["eligible"].to_numpy(dtype=bool),
                            available=available)
        allowed = flavour_spec(indicators, learned, fl, available=available).active
        weak = allowed & (ev.indicators["beats_noise"].to_numpy() > NOISE)[None, :]
        active = spec.active.copy()
        for code, stage in enumerate(STAGES):
            if active[code].any():
                continue
            # Nothing with a measurable link that this stage's firms can have (thin data): the stage still needs
            # its points, so they go to what beat the shadows at least sometimes, else to every allowed one.
            active[code] = weak[code] if weak[code].any() else allowed[code]
            notes.append(f"{fl}: {stage}: no indicator with a measurable link that {stage} firms can have; points "
                         f"go to {int(active[code].sum())} indicator(s) with weaker evidence "
                         f"({', '.join(i for i, a in zip(ids, active[code], strict=True) if a)})")
        specs[fl] = Spec(spec.ids, spec.directions, active)
    return Learned(ev, eligible, available, specs, notes)


def _reweighted(baseline: Formula, ids: list[str], points: np.ndarray, *, name: str, title: str,
                description: str, provenance: Provenance, bonus: np.ndarray | None = None) -> Formula:
    """The baseline's curves and missing policies with new per-stage points (2 decimals, totals kept) and,
    when given, new bonus points (within the baseline's bonus cap)."""
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
        scale=baseline.scale, stage_rule=baseline.stage_rule, indicators=items,
        bonus=baseline.bonus if bonus is None else bonus_items(baseline.bonus, bonus, baseline.scale.bonus_points),
        local_indicators=baseline.local_indicators, provenance=provenance,
    ).with_hash()


def _bonus_inputs(baseline: Formula, data: pd.DataFrame, learned: Learned) -> tuple[np.ndarray, np.ndarray]:
    """(n, m) fractions of the baseline's bonus items on ``data`` and (m,) which may get points: a bonus item
    whose indicator shows a sign conflict gets none (its curve runs in the policy direction)."""
    if not baseline.bonus:
        return np.zeros((len(data), 0)), np.zeros(0, bool)
    fractions = baseline.fractions(data)
    G = fractions[[f"bonus_{b.id}" for b in baseline.bonus]].to_numpy(dtype="float64")
    direction = learned.evidence.indicators["direction"]
    active = np.array([not (b.indicator in direction.index
                            and direction[b.indicator] == -baseline.direction_of(b.indicator))
                       for b in baseline.bonus])
    return G, active


def _shap_bonus(baseline: Formula, learned: Learned, active: np.ndarray) -> np.ndarray:
    """(m,) bonus points proportional to the bonus indicators' mean |SHAP| over the refits (active ones)."""
    imp = learned.evidence.indicators["importance"]
    values = np.array([float(imp.get(b.indicator, 0.0)) for b in baseline.bonus]) * active
    if values.sum() <= 0:
        values = active.astype("float64")
    return baseline.scale.bonus_points * values / max(values.sum(), 1e-12)


def _baseline_points(baseline: Formula) -> tuple[list[str], np.ndarray]:
    ids = [item.id for item in baseline.indicators]
    return ids, np.vstack([[getattr(item.points, s) for item in baseline.indicators] for s in STAGES])


def _baseline_active(baseline: Formula, indicators: Sequence[Indicator], policy: Spec) -> np.ndarray:
    """(stages, k_b): which of the baseline's indicators a recalibration may keep points on: those the
    policy-consistent spec lets score (an indicator the catalog does not know keeps its points)."""
    col = {i: j for j, i in enumerate(policy.ids)}
    b_ids, _ = _baseline_points(baseline)
    return np.column_stack([policy.active[:, col[i]] if i in col else np.ones(len(STAGES), bool) for i in b_ids])


def _fractions(formula: Formula, data: pd.DataFrame, ids: list[str]) -> np.ndarray:
    """(n, k) curve fractions of ``formula``'s items ``ids``, each row in its stage under the formula's rule."""
    return formula.fractions(data)[ids].to_numpy(dtype="float64")


def build_recipe(data: pd.DataFrame, indicators: Sequence[Indicator], baseline: Formula, settings: TrainSettings,
                 learned: Learned, *, stage_rule: StageRule, provenance: dict, local_indicators: list[dict],
                 progress: Progress | None = None) -> Recipe:
    """Build every candidate formula from ``data`` (loans with outcomes) with the evidence's specs."""
    say = progress or (lambda _msg: None)
    groups = [ind.group for ind in indicators]
    ids = [ind.id for ind in indicators]
    X = data[ids].astype("float64")
    y = data["defaulted"].to_numpy(dtype="float64")
    codes = _stage_codes(data)
    say("candidate formulas")
    formulas: dict[str, Formula] = {}
    notes: list[str] = []
    base = baseline.scale.base_points

    def prov(method: str, extra: str = "") -> Provenance:
        return Provenance(method=method, data_fingerprint=provenance.get("data_fingerprint", ""),
                          config_hash=provenance.get("config_hash", ""), seed=settings.seed, notes=extra)

    common = dict(indicators=indicators, stage_rule=stage_rule, base=base, local_indicators=local_indicators,
                  version=provenance.get("version", "1"), bonus_points=baseline.scale.bonus_points)
    cap = baseline.scale.bonus_points
    G, bonus_active = _bonus_inputs(baseline, data, learned)
    bonus_how = (f"; the baseline's {len(baseline.bonus)} bonus item(s) keep their curves, their points "
                 f"{{}} within the {cap:g}-point bonus cap (none for a sign conflict)" if baseline.bonus else "")

    def bonus(points: np.ndarray, fractions: np.ndarray, decimals: int = 2) -> list:
        """The baseline's bonus items with points fitted beside these base points (see fit_bonus_points)."""
        score = (fractions * points[codes]).sum(axis=1)
        fitted = fit_bonus_points(score, G, y, base=base, cap=cap, active=bonus_active, settings=settings.fit)
        return bonus_items(baseline.bonus, fitted, cap, decimals)
    for flavour in FLAVOURS:
        spec = learned.specs[flavour]
        curves: Curves = learn_curves(X, y, codes, spec, settings.curves)
        how = ("policy-consistent: indicators whose learned direction contradicts policy get zero points"
               if flavour == "policy" else
               "data-driven: every indicator scored in the direction the data show")
        how += ("; only indicators with a measurable link to repayment (beating permuted shadow copies in the "
                "refits) score, and none in a stage whose firms cannot have it")
        pts = shap_points(learned.evidence.stage_importance, spec, base)
        formulas[f"shap-{flavour}"] = assemble(
            name=f"shap-{flavour}", title=f"SHAP-importance points ({flavour})",
            description=f"Max points proportional to mean |SHAP| per stage over the refits; {how}"
                        f"{bonus_how.format('proportional to mean |SHAP|')}.",
            curves=curves, points=pts, provenance=prov(f"shap-{flavour}"),
            bonus=bonus_items(baseline.bonus, _shap_bonus(baseline, learned, bonus_active), cap), **common)
        fpts, _fits, fnotes = fitted_points(curves.fractions, y, codes, spec, groups, settings.fit)
        notes += [f"fitted-{flavour}: {n}" for n in fnotes]
        constraints = _describe_constraints(settings.fit)
        formulas[f"fitted-{flavour}"] = assemble(
            name=f"fitted-{flavour}", title=f"Fitted points ({flavour})",
            description=f"Max points that maximise the likelihood of repayment through the formula score "
                        f"({constraints}); {how}{bonus_how.format('fitted to the same likelihood')}.",
            curves=curves, points=fpts, provenance=prov(f"fitted-{flavour}", "; ".join(fnotes)),
            bonus=bonus(fpts, curves.fractions), **common)
        whole = integer_points(fpts, base, groups)
        formulas[f"fitted-{flavour}-int"] = assemble(
            name=f"fitted-{flavour}-int", title=f"Fitted points ({flavour}), whole points",
            description=f"fitted-{flavour} rounded to whole points per stage, totals preserved; {how}.",
            curves=curves, points=whole, provenance=prov(f"fitted-{flavour}-int"),
            decimals=0, bonus=bonus(whole, curves.fractions, 0), **common)

    say("recalibration frontier")
    active = _baseline_active(baseline, indicators, learned.specs["policy"])
    # Recalibrations keep the baseline's stage rule, so they are fitted on its stages.
    frontier, recal = _frontier(data, y, _stage_codes(data, baseline.stage_rule), baseline, active,
                                settings, (G, bonus_active))
    b_ids, _ = _baseline_points(baseline)
    for limit, (pts, bonus_pts) in recal.items():
        formulas[f"recal-{int(limit)}"] = _reweighted(
            baseline, b_ids, pts, name=f"recal-{int(limit)}",
            title=f"Baseline recalibrated, at most {limit:g} points moved per stage",
            description=f"The baseline's indicators, curves and missing policies with max points refitted to "
                        f"loan outcomes, moving at most {limit:g} of {base:g} points per stage, more where "
                        "indicators without a measurable link, with a sign conflict or that a stage's firms "
                        "cannot have must lose their points (policy-consistent)"
                        f"{bonus_how.format(f'moved by at most {limit:g}')}.",
            provenance=prov(f"recal-{int(limit)}"), bonus=bonus_pts)
    return Recipe(formulas, frontier, notes)


def _describe_constraints(fit: FitSettings) -> str:
    parts = ["non-negative points", f"{fit.base:g} per stage"]
    if fit.max_points is not None:
        parts.append(f"at most {fit.max_points:g} per indicator")
    if fit.group_bounds:
        parts.append("group shares " + ", ".join(f"{g} {lo:.0%}-{hi:.0%}"
                                                 for g, (lo, hi) in sorted(fit.group_bounds.items())))
    return "; ".join(parts)


def _recal_stage(F: np.ndarray, y: np.ndarray, w0: np.ndarray, active: np.ndarray, limit: float,
                 settings: TrainSettings, base: float, prev: PointsFit | None) -> tuple[PointsFit | None, float]:
    """One stage's recalibration at one change limit (raised to what inactive indicators must give up)."""
    effective = max(limit, float(w0[~active].sum()))
    if y.sum() < settings.fit.min_stage_defaults or not active.any():
        return None, effective
    warm = None if prev is None else scaled_init(prev, base)
    fit = fit_stage_points(F, y, base=base, active=active, baseline=w0, max_change=effective,
                           ridge=settings.fit.ridge, init=warm)
    if prev is not None and fit.loss > prev.loss:
        fit = prev
    return fit, effective


def _frontier(data: pd.DataFrame, y: np.ndarray, codes: np.ndarray, baseline: Formula, active: np.ndarray,
              settings: TrainSettings, bonus: tuple[np.ndarray, np.ndarray] | None = None,
              ) -> tuple[list[dict], dict[float, tuple[np.ndarray, np.ndarray | None]]]:
    """Smallest-change recalibration: the baseline's curves, points refitted under growing change limits.

    ``active`` (stages, k_b) says which baseline indicators may keep points in each stage; the others must
    lose them, so a limit below the points they hold is raised to that (reported as ``effective_change``).
    Each limit warm-starts from the tighter one, whose solution is still feasible, and a solve that comes
    back worse keeps it: the training loss along the frontier never rises. A stage with too few defaults
    keeps the baseline's points except on inactive indicators, whose points go to the active ones in
    proportion. With bonus items (``bonus``: their fractions and which may score), each limit also moves at
    most that many bonus points within the bonus cap (:func:`fit_bonus_points`, beside the refitted base points).
    """
    ids, w0 = _baseline_points(baseline)
    base = baseline.scale.base_points
    F = _fractions(baseline, data, ids)
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
            fit, effective[code] = _recal_stage(F[m], y[m], w0[code], active[code], limit, settings, base,
                                                prev[code])
            if fit is None:
                pts[code] = _drop_inactive(w0[code], active[code], base)
                continue
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
            bonus_pts = None
            if bonus is not None and baseline.bonus:
                bonus_pts = fit_bonus_points(score, bonus[0], y, base=base, cap=baseline.scale.bonus_points,
                                             active=bonus[1], settings=settings.fit,
                                             baseline=np.array([b.points for b in baseline.bonus]), max_change=limit)
            shipped[limit] = (pts, bonus_pts)
    return rows, shipped


def _drop_inactive(w0: np.ndarray, active: np.ndarray, base: float) -> np.ndarray:
    """The baseline's points with inactive indicators' points handed to the active ones in proportion."""
    if not active.any() or w0[active].sum() <= 0:
        return w0.copy()
    out = np.where(active, w0, 0.0)
    return out * base / out.sum()


def _validation_log_loss(points_fit: np.ndarray, y_fit: np.ndarray, points_valid: np.ndarray,
                         y_valid: np.ndarray) -> float:
    """Log loss on the validation year of P(default | points), the link fitted on the fit years (one
    intercept and slope for all stages: the points rank all firms together)."""
    return log_loss(y_valid, PointsCalibrator().fit(points_fit, y_fit).predict_pd(points_valid))


def _score(formula: Formula, frame: pd.DataFrame) -> np.ndarray:
    """Points of every row, each row in its stage under the formula's own rule (:meth:`Formula.score`)."""
    return formula.score(frame)["points"].to_numpy()


def flavour_of(name: str) -> str | None:
    """``policy`` or ``data`` for a candidate name (recalibrations are policy-consistent), None otherwise."""
    if name.startswith("recal-"):
        return "policy"
    for fl in FLAVOURS:
        if name.endswith(f"-{fl}") or name.endswith(f"-{fl}-int"):
            return fl
    return None


def train_candidates(loans: pd.DataFrame, indicators: Sequence[Indicator], baseline: Formula,
                     settings: TrainSettings, *, stage_rule: StageRule | None = None,
                     provenance: dict | None = None, local_indicators: list[dict] | None = None,
                     populations: Mapping[int, pd.DataFrame] | None = None,
                     progress: Progress | None = None) -> TrainResult:
    """Run the whole workflow on a loan indicator table (see the module docstring).

    Args:
        loans: one row per loan (``features.build.loan_features``), all loans; unobserved ones are excluded
            here and counted in ``split``.
        indicators: the indicators candidates may use (catalog plus local).
        baseline: the formula every candidate is compared with.
        settings: :class:`TrainSettings`.
        stage_rule: written into candidate formulas (default: the baseline's).
        provenance: ``data_fingerprint``, ``config_hash``, ``version`` for the candidate files.
        populations: origination year -> the firms scoreable in that year (``features.build.population_features``
            of that year), for the qualification cut-off of the policy metrics; without them those are left out.
    Returns:
        :class:`TrainResult`.
    """
    if settings.recommend not in RECOMMEND:
        raise EvaluationError(f"train.recommend must be one of {list(RECOMMEND)}, got {settings.recommend!r}")
    # SLSQP makes thousands of tiny BLAS calls; threads only fight over them (measured: 7-37 s vs ~1 s).
    with threadpool_limits(limits=1, user_api="blas"):
        return _train_candidates(loans, indicators, baseline, settings, stage_rule=stage_rule,
                                 provenance=provenance or {}, local_indicators=local_indicators or [],
                                 populations=populations or {}, progress=progress or (lambda _m: None))


def _train_candidates(loans: pd.DataFrame, indicators: Sequence[Indicator], baseline: Formula,
                      settings: TrainSettings, *, stage_rule: StageRule | None, provenance: dict,
                      local_indicators: list[dict], populations: Mapping[int, pd.DataFrame],
                      progress: Progress) -> TrainResult:
    say = progress
    stage_rule = stage_rule or baseline.stage_rule
    missing = [c for c in baseline.required_columns if c not in loans.columns]
    if missing:
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
    split["test_warning"] = interval_note(split["test_defaults"])
    kw = dict(stage_rule=stage_rule, provenance=provenance, local_indicators=local_indicators)
    ids = [ind.id for ind in indicators]

    say("evidence: refits with shadow indicators")
    learned = learn(train, indicators, settings, population=populations.get(split["test_year"]))

    say("selection pass (fit years → validation year)")
    selection = build_recipe(fit_part, indicators, baseline, settings, learned, progress=say, **kw)
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
    best_of = {fl: min(sorted(n for n in valid_loss if flavour_of(n) == fl), key=lambda n: valid_loss[n])
               for fl in FLAVOURS}
    best = best_of[settings.recommend]

    say("final pass (all training years)")
    final = build_recipe(train, indicators, baseline, settings, learned, progress=say, **kw)

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
    test_points = {"baseline": test["points_baseline"].to_numpy()}
    for name, formula in final.formulas.items():
        train["points_candidate"] = _score(formula, train)
        test["points_candidate"] = test_points[name] = _score(formula, test)
        res = evaluate_points(train, test, "points_candidate", baseline_col="points_baseline", **ev_kw)
        res["validation_auc"] = valid_auc[name]
        res["validation_log_loss"] = valid_loss[name]
        res["flavour"] = flavour_of(name)
        results[name] = res
        metrics = {k: float(v) for k, v in res.items()
                   if k.startswith("test_") and isinstance(v, int | float) and np.isfinite(v)}
        metrics["validation_auc"] = float(valid_auc[name])
        metrics["validation_log_loss"] = float(valid_loss[name])
        prov_update = {"metrics": metrics}
        if name == best:
            prov_update["notes"] = "; ".join(filter(None, [
                formula.provenance.notes,
                f"recommended: lowest validation log loss among the {settings.recommend}-"
                f"{'consistent' if settings.recommend == 'policy' else 'driven'} candidates "
                f"(train.recommend: {settings.recommend})"]))
        formulas[name] = formula.model_copy(update={
            "provenance": formula.provenance.model_copy(update=prov_update)}).with_hash()
    formulas = {"baseline": baseline, **formulas}
    _policy_metrics(results, formulas, test, test_points, populations.get(split["test_year"]), settings)

    y_test = test["defaulted"].to_numpy().astype(np.int64)
    other = "data" if settings.recommend == "policy" else "policy"
    cost = paired_bootstrap(y_test, -test_points[best_of["data"]], -test_points[best_of["policy"]], "auc",
                            n_boot=settings.n_boot, seed=settings.seed)
    policy_cost = {
        "policy": best_of["policy"], "data": best_of["data"],
        "delta_auc": [cost["low"], cost["mid"], cost["high"]],
        "test_defaults": split["test_defaults"],
        "meaning": "test AUC of the best policy-consistent candidate minus that of the best data-driven one "
                   "(paired bootstrap of test loans, 95%)",
        "warning": split["test_warning"],
    }

    say("points intervals")
    interval = _points_interval(best, train, indicators, baseline, settings, learned)
    say("reference models")
    models, reference = _model_metrics(train, test, fit_part, valid, indicators, settings, ev_kw)
    say("backtest")
    back = _backtest(loans, best, formulas[best], baseline, indicators, settings, learned, split, populations, kw)
    say("who was lent: support and corrections")
    lent = {}
    if settings.selection.enabled:
        lent = selection_analysis(loans, populations, baseline, formulas[best], indicators,
                                  test_year=split["test_year"], share=settings.share, seed=settings.seed,
                                  fit=settings.fit, settings=settings.selection)
    conflicts = [i for i, ok in learned.eligible["sign_conflict"].items() if ok]
    graded: dict[str, Formula] = {}
    if conflicts:
        lent["sign_conflicts"], graded = constraint_costs(
            formulas[best], {i: settings.sign_conflicts.get(i, ConflictRule()) for i in conflicts},
            baseline=baseline, train=train, test=test, directions={i.id: i.direction for i in indicators},
            n_boot=min(settings.n_boot, BACKTEST_BOOT), seed=settings.seed)

    say("refinement")
    refinement = refinement_table(indicators=indicators, evidence=learned.evidence, eligible=learned.eligible,
                                  available=learned.available, baseline=baseline, recommended=formulas[best],
                                  points_interval=interval, unavailable_share=settings.unavailable_share)
    evaluation = {
        "formulas": results,
        "best": best,
        "best_data": best_of["data"],
        "best_policy": best_of["policy"],
        "recommend": settings.recommend,
        "policy_cost": policy_cost,
        f"best_{other}": best_of[other],
        "selection": {"metric": "validation_log_loss", "validation_year": split["validation_year"],
                      "among": f"{settings.recommend} candidates (train.recommend)",
                      "validation_log_loss": valid_loss, "validation_auc": valid_auc,
                      "baseline_validation_auc": valid_auc_baseline},
        "evidence": _evidence_summary(learned, settings),
        "models": models,
        "backtest": back,
        "split": split,
    }
    ev_ind = learned.evidence.indicators
    explain = {
        "importance": ev_ind.rename(columns={"importance": "mean_abs_shap", "importance_lo": "lo",
                                             "importance_hi": "hi", "importance_share": "share"})
        .assign(group=[ind.group for ind in indicators]).sort_values("rank").rename_axis("feature"),
        "clusters": learned.evidence.clusters.assign(members=lambda d: d["members"].map(" ".join)),
        "group_importance": learned.evidence.groups,
        "stage_importance": learned.evidence.stage_importance,
        "directions": ev_ind[["direction", "direction_mode", "direction_share"]].rename_axis("feature"),
    }
    plots = _reference_explanation(reference, train, ids, settings)
    notes = learned.notes + final.notes + [
        f"{s}: no points for {ind.id} (missing for at least {settings.unavailable_share:.0%} of the stage's loans)"
        for j, ind in enumerate(indicators) for c, s in enumerate(STAGES)
        if not learned.available[c, j] and learned.eligible.iloc[j]["eligible"]]
    return TrainResult(formulas=formulas, evaluation=evaluation, refinement=refinement,
                       frontier=final.frontier, explain=explain, models=models, split=split,
                       notes=notes, plots=plots, selection=lent, graded=graded)


def _evidence_summary(learned: Learned, settings: TrainSettings) -> dict:
    ev = learned.evidence
    s = ev.settings
    return {
        "refits": s.refits, "resampling": "firms drawn with replacement, all loans of a firm together",
        "rows_per_refit_at_most": s.max_rows, "shap_rows_per_refit": s.shap_rows, "seed": s.seed,
        "cluster_corr": s.cluster_corr, "best_shadow_importance": ev.shadow,
        "eligible": [i for i, ok in learned.eligible["eligible"].items() if ok],
        "sign_conflicts": [i for i, ok in learned.eligible["sign_conflict"].items() if ok],
        "unavailable": {st: [i for j, i in enumerate(ev.indicators.index) if not learned.available[c, j]]
                        for c, st in enumerate(STAGES)},
        "unavailable_share": settings.unavailable_share,
    }


def _policy_metrics(results: dict, formulas: dict[str, Formula], test: pd.DataFrame,
                    test_points: Mapping[str, np.ndarray], population: pd.DataFrame | None,
                    settings: TrainSettings) -> None:
    """Per formula on the test year: the qualified default rate at the population's cut-off, and capture
    (``test_points``: each formula's points on the test loans, already scored for the evaluation)."""
    if population is None or population.empty:
        return
    y = test["defaulted"].to_numpy().astype(np.int64)
    for name, formula in formulas.items():
        m = policy_metrics(y, test_points[name], _score(formula, population), share=settings.share,
                           n_boot=min(settings.n_boot, BACKTEST_BOOT), seed=settings.seed)
        results[name]["policy_metrics"] = m
        results[name]["test_qualified_default_rate"] = m["qualified_default_rate"]
        results[name]["test_capture_bottom10"] = m["capture_bottom10"]


def _recipe_points(name: str, data: pd.DataFrame, indicators: Sequence[Indicator], baseline: Formula,
                   settings: TrainSettings, learned: Learned, stage_imp: pd.DataFrame) -> np.ndarray:
    """(stages, k) points of candidate ``name``'s recipe refitted on ``data`` (catalog order)."""
    ids = [ind.id for ind in indicators]
    groups = [ind.group for ind in indicators]
    y = data["defaulted"].to_numpy(dtype="float64")
    codes = _stage_codes(data)
    if name.startswith("recal-"):
        codes = _stage_codes(data, baseline.stage_rule)
        limit = float(name.split("-", 1)[1])
        b_ids, w0 = _baseline_points(baseline)
        active = _baseline_active(baseline, indicators, learned.specs["policy"])
        F = _fractions(baseline, data, b_ids)
        pts = w0.copy()
        for code in range(len(STAGES)):
            m = codes == code
            fit, _ = _recal_stage(F[m], y[m], w0[code], active[code], limit, settings, baseline.scale.base_points,
                                  None)
            pts[code] = _drop_inactive(w0[code], active[code], baseline.scale.base_points) if fit is None \
                else fit.points
        out = np.zeros((len(STAGES), len(ids)))
        for j, i in enumerate(b_ids):
            if i in ids:
                out[:, ids.index(i)] = pts[:, j]
        return out
    spec = learned.specs[flavour_of(name)]
    if name.startswith("shap-"):
        return shap_points(stage_imp, spec, baseline.scale.base_points)
    curves = learn_curves(data[ids].astype("float64"), y, codes, spec, settings.curves)
    pts, _, _ = fitted_points(curves.fractions, y, codes, spec, groups, settings.fit)
    return integer_points(pts, baseline.scale.base_points, groups) if name.endswith("-int") else pts


def _points_interval(name: str, train: pd.DataFrame, indicators: Sequence[Indicator], baseline: Formula,
                     settings: TrainSettings, learned: Learned) -> np.ndarray:
    """(2, stages, k): 2.5 and 97.5 percentiles of the recommended recipe's points over the evidence
    resamples (the same firms drawn as for the importance intervals)."""
    ev = learned.evidence
    ids = [ind.id for ind in indicators]
    draws = []
    for r, rows in enumerate(ev.resamples):
        stage_imp = pd.DataFrame(np.nan_to_num(ev.per_refit["stage_importance"][r]), index=list(STAGES),
                                 columns=ids)
        draws.append(_recipe_points(name, train.iloc[rows], indicators, baseline, settings, learned, stage_imp))
    return np.percentile(np.stack(draws), [2.5, 97.5], axis=0)


def _backtest(loans: pd.DataFrame, best: str, formula: Formula, baseline: Formula,
              indicators: Sequence[Indicator], settings: TrainSettings, learned: Learned, split: dict,
              populations: Mapping[int, pd.DataFrame], kw: dict) -> dict:
    """Rolling origin: for each of the last ``backtest_years`` test years Y, the recommended recipe (evidence
    included, with ``backtest_refits`` refits) refitted on the years before Y, scored on Y's loans and firms."""
    observed = loans[loans["outcome_observed"] & (loans["year"] <= split["test_year"])]
    try:
        years = rolling_origins(observed, settings.backtest_years, min_train_years=3)
    except EvaluationError as exc:
        return {"years": [], "note": str(exc)}
    scored, pop_scored = [], []
    for year in years:
        history = observed[observed["year"] < year]
        if year == split["test_year"]:
            f = formula
        else:
            ev_settings = replace(settings.evidence, refits=settings.backtest_refits)
            lrn = learn(history, indicators, settings, evidence_settings=ev_settings, population=populations.get(year))
            recipe = build_recipe(history, indicators, baseline, settings, lrn, **kw)
            f = recipe.formulas[best]
        rows = observed[observed["year"] == year].copy()
        rows["points"] = _score(f, rows)
        rows["points_baseline"] = _score(baseline, rows)
        scored.append(rows[["year", "defaulted", "outcome_observed", "points", "points_baseline"]])
        pop = populations.get(year)
        if pop is not None and not pop.empty:
            pop_scored.append(pd.DataFrame({"year": year, "points": _score(f, pop),
                                            "points_baseline": _score(baseline, pop)}))
    if len(pop_scored) != len(years):
        return {"years": years, "note": "no population of firms for every test year: policy metrics need the "
                                        "qualification cut-off of each year's firms"}
    frame, pops = pd.concat(scored), pd.concat(pop_scored)
    # 500 resamples per interval: the backtest's intervals rest on every year's loans, and at national scale
    # 1,000 resamples of 45,000 loans cost more than the refits behind them.
    common = dict(share=settings.share, n_boot=min(settings.n_boot, BACKTEST_BOOT), seed=settings.seed)
    rec = backtest(frame, pops, points_col="points", baseline_col="points_baseline", **common)
    base = backtest(frame, pops.assign(points=pops["points_baseline"]), points_col="points", **common)
    return {
        "years": years, "formula": best, "min_test_defaults": MIN_TEST_DEFAULTS,
        "method": (f"for each test year Y the evidence ({settings.backtest_refits} refits; "
                   f"{settings.evidence.refits} for the last year), the indicator choice, curves and points "
                   "are learned again from the years before Y only; the qualification cut-off is the one that "
                   "qualifies the top share of Y's firms"),
        "recommended": jsonable_records(rec), "baseline": jsonable_records(base),
    }


def _reference_explanation(model: LGBMDefaultModel, train: pd.DataFrame, ids: list[str],
                           settings: TrainSettings) -> dict:
    """SHAP values of the tuned reference LightGBM on a sample of training loans: the dependence plots' source."""
    X = train[ids].astype("float64")
    sample = shap_sample(X, n_max=settings.shap_rows, seed=settings.seed, stratify=train["defaulted"].to_numpy())
    return {"contrib": model.contributions(X.loc[sample]), "values": X.loc[sample]}


TUNE_ROWS = 20_000
"""Fit-year loans the reference LightGBM is tuned on at most (a seeded random subset above it): the grid's
ranking of capacities settles well before national scale, and the chosen settings are refitted on all
training loans."""


def _model_metrics(train: pd.DataFrame, test: pd.DataFrame, fit_part: pd.DataFrame, valid: pd.DataFrame,
                   indicators: Sequence[Indicator], settings: TrainSettings,
                   ev_kw: dict) -> tuple[dict, LGBMDefaultModel]:
    """Test metrics of reference models: LightGBM with its capacity tuned on the validation year, the same
    settings with monotone constraints in the policy directions, and a logistic regression; and the tuned
    LightGBM itself (fitted on all training years)."""
    ids = [ind.id for ind in indicators]
    X, y = train[ids].astype("float64"), train["defaulted"].to_numpy()
    threads = int(settings.lgbm.get("n_jobs", 1))
    tune_on = fit_part if len(fit_part) <= TUNE_ROWS else fit_part.sample(n=TUNE_ROWS, random_state=settings.seed)
    # Independent fits run settings.evidence.workers at a time (train.refit_workers); each is seeded on its own.
    workers = settings.evidence.workers
    tuning = tune_reference(tune_on[ids].astype("float64"), tune_on["defaulted"].to_numpy(),
                            valid[ids].astype("float64"), valid["defaulted"].to_numpy(), seed=settings.seed,
                            n_jobs=threads, workers=workers)
    tuned = {**tuning.params, "n_trees": int(tuning.n_trees), "validation_log_loss": float(tuning.validation_log_loss),
             "tuned_on_loans": int(len(tune_on))}
    constraints = {"lgbm": None, "lgbm_monotone": {i.id: i.direction for i in indicators}}
    fitted = dict(zip(constraints, map_on_threads(
        lambda name: fit_reference(X, y, tuning.params, tuning.n_trees, seed=settings.seed,
                                   monotone_directions=constraints[name], n_jobs=threads),
        constraints, workers), strict=True))
    out = {}
    for name, model in fitted.items():
        out[name] = _judge(model, train, test, X, ids, ev_kw)
        out[name]["tuned"] = tuned
    out["logistic"] = _judge(LogisticDefaultModel(seed=settings.seed).fit(X, y), train, test, X, ids, ev_kw)
    return out, fitted["lgbm"]


def _judge(model, train: pd.DataFrame, test: pd.DataFrame, X: pd.DataFrame, ids: list[str], ev_kw: dict) -> dict:
    tr, te = train.copy(), test.copy()
    tr["p"] = model.predict_proba(X)[:, 1]
    te["p"] = model.predict_proba(test[ids].astype("float64"))[:, 1]
    res = evaluate_model_probs(tr, te, "p", baseline_col="points_baseline", **ev_kw)
    return {k: v for k, v in res.items() if k.startswith("test_") or k.startswith("delta_")}
