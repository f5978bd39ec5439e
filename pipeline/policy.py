"""`innopoints policy`: the policy file (YAML, validated once) and the steps of a policy simulation.

The maths lives in :mod:`models.policy.loss`; this module reads the policy file and the data, scores loans and
firms with each formula, hands the numbers to the model layer in order, and writes ``policy.json``,
``policy.md`` and the plots. Every default of the policy file and its source is in ``docs/policy.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from rich.table import Table

from innopoints.features.stage import StageRule
from innopoints.models.evaluation.metrics import QUALIFIED_SHARE
from innopoints.models.formula.schema import Formula
from innopoints.models.policy.loss import (
    MAX_MARGINAL_PD,
    PD_FLOOR,
    SUMMARY_TOTALS,
    Assessment,
    BandCalibrator,
    PolicyError,
    Qualification,
    Terms,
    assess,
    calibration_check,
    cells,
    cutoff_marginal_pd,
    expected_cells,
    firm_year_lending,
    fund_sizes,
    guaranteed_volume_share,
    lending_by_band,
    marginal_pd,
    match_expected_loss,
    qualify,
    sensitivity_grid,
    summarise,
    threshold_curve,
)
from innopoints.pipeline import steps
from innopoints.pipeline.config import RunConfig, read_yaml_model
from innopoints.pipeline.contract import PROVINCE_RULE, PROVINCES, canonical_province
from innopoints.pipeline.progress import console

# Hebei: a CNY 147 m provincial compensation fund behind CNY 310.7 bn of loans (docs/field.md), in CNY 10k.
HEBEI_FUND = 14_700.0
HEBEI_LOANS = 31_070_000.0
GUARANTEED = "guarantee_fund"
CURVE_POINTS = 200  # rows of each volume-vs-loss curve kept for the JSON and the plot
NATIONAL_TAKE_UP = 0.171  # 12,200 loans / 71,435 qualified firms in 2024 (docs/field.md)


# ------------------------------------------------------------------------------------------ the file


def _check_provinces(mapping: dict[str, float]) -> None:
    unknown = [p for p in mapping if p not in PROVINCES]
    if unknown:
        raise ValueError(f"unknown province {unknown[0]!r}: a province key {PROVINCE_RULE}")


# A province key as people write it (广东, 广东省, guangdong): the contract's pinyin; an unknown one is kept for
# _check_provinces to name.
Province = Annotated[str, BeforeValidator(lambda v: canonical_province(v) or v if isinstance(v, str) else v)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class QualificationPolicy(_Section):
    """Who qualifies: the top share of evaluated firms, or a points cut-off; optionally per province."""

    rule: Literal["top_share", "cutoff"] = "top_share"
    share: float = Field(default=QUALIFIED_SHARE, gt=0, le=1)  # as `score`, evaluation
    cutoff: float | None = None
    by_province: bool = False
    province_cutoffs: dict[Province, float] = Field(default_factory=dict)
    max_marginal_pd: float = Field(default=MAX_MARGINAL_PD, gt=0, le=1)  # flag a cut-off in a band riskier than this

    @model_validator(mode="after")
    def _check(self) -> QualificationPolicy:
        if self.rule == "cutoff" and self.cutoff is None:
            raise ValueError("rule 'cutoff' needs a cutoff (points), e.g. cutoff: 60")
        _check_provinces(self.province_cutoffs)
        return self

    def as_rule(self) -> Qualification:
        if self.rule == "cutoff":
            return Qualification(share=None, cutoff=self.cutoff, province_cutoffs=dict(self.province_cutoffs))
        return Qualification(share=self.share, by_province=self.by_province,
                             province_cutoffs=dict(self.province_cutoffs))


class BandsPolicy(_Section):
    """Points bands and the calibration of default probabilities on observed loans."""

    n_bands: int = Field(default=10, ge=2, le=50)
    pd_floor: float = Field(default=PD_FLOOR, ge=0, lt=1)
    ci: float = Field(default=0.95, gt=0, lt=1)
    # training_years: every observed year but the last, which checks the PDs out of time; all_years: every one
    calibrate_on: Literal["training_years", "all_years"] = "training_years"


class TakeUpPolicy(_Section):
    """Share of qualified firms that borrow in a year: estimated per band unless ``rate`` is given."""

    rate: float | None = Field(default=None, ge=0, le=1)
    estimate_year: int | None = Field(default=None, ge=1990)


class LoanSizePolicy(_Section):
    """Yearly amount a borrowing firm takes (CNY 10k): estimated per band unless ``amount`` is given."""

    amount: float | None = Field(default=None, gt=0)


class LossPolicy(_Section):
    """Loss given default, tenor and default correlation."""

    lgd: float = Field(default=0.6, ge=0, le=1)
    tenor_months: float = Field(default=12.0, gt=0, le=120)
    correlation: float = Field(default=0.12, ge=0, lt=1)


class RiskSharingPolicy(_Section):
    """The guarantee system's share of losses on guaranteed loans (at most 80%: banks keep at least 20%)."""

    guarantee_share_of_loss: float = Field(default=0.8, ge=0, le=0.8)
    guaranteed_share: float | None = Field(default=None, ge=0, le=1)
    guarantee_cap: float = Field(default=3000.0, ge=0)


class FundsPolicy(_Section):
    """Provincial NPL compensation funds: share of the banks' losses they pay, per-loan cap, size."""

    coverage: float = Field(default=0.3, ge=0, le=1)
    cap_per_loan: float | None = Field(default=None, ge=0)
    size_ratio: float = Field(default=HEBEI_FUND / HEBEI_LOANS, ge=0)
    sizes: dict[Province, float] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> FundsPolicy:
        _check_provinces(self.sizes)
        bad = {p: v for p, v in self.sizes.items() if v < 0}
        if bad:
            raise ValueError(f"fund sizes must be >= 0, e.g. {next(iter(bad.items()))}")
        return self


class RefinancingPolicy(_Section):
    """Central-bank refinancing of qualified loans: eligible share of the volume and its rate advantage."""

    eligible_share: float = Field(default=0.6, ge=0, le=1)
    rate_advantage: float = Field(default=0.01, ge=0, le=0.2)


class MonteCarloPolicy(_Section):
    """Draws of the one-factor loss simulation; the seed makes it reproducible."""

    draws: int = Field(default=100_000, ge=1000, le=10_000_000)
    seed: int = Field(default=1, ge=0)
    chunk: int = Field(default=10_000, ge=100)


class SensitivityPolicy(_Section):
    """The grid the headline is recomputed over (by expectation): take-up settings × qualified shares."""

    take_up_rates: list[float | None] = Field(default_factory=lambda: [None, NATIONAL_TAKE_UP])  # None = estimated
    shares: list[float] = Field(default_factory=lambda: [0.10, QUALIFIED_SHARE, 0.20])

    @model_validator(mode="after")
    def _check(self) -> SensitivityPolicy:
        if not self.take_up_rates or not self.shares:
            raise ValueError("give at least one take-up setting and one share, e.g. shares: [0.1374]")
        if any(r is not None and not 0 <= r <= 1 for r in self.take_up_rates) or any(
                not 0 < v <= 1 for v in self.shares):
            raise ValueError("take-up rates must be in [0, 1] (or null = estimated) and shares in (0, 1]")
        return self


class ChurnPolicy(_Section):
    """When a move in the qualified set by stage, SME flag or province is flagged as a policy risk."""

    flag_change: float = Field(default=0.25, gt=0)  # relative change of a group's qualified firms
    min_firms: int = Field(default=30, ge=1)  # groups with fewer qualified firms under both are not flagged


class PolicyFile(_Section):
    """The whole policy file; every section is optional and has documented defaults (docs/policy.md)."""

    schema_version: Literal["1"] = "1"
    qualification: QualificationPolicy = QualificationPolicy()
    bands: BandsPolicy = BandsPolicy()
    take_up: TakeUpPolicy = TakeUpPolicy()
    loan_size: LoanSizePolicy = LoanSizePolicy()
    loss: LossPolicy = LossPolicy()
    risk_sharing: RiskSharingPolicy = RiskSharingPolicy()
    funds: FundsPolicy = FundsPolicy()
    refinancing: RefinancingPolicy = RefinancingPolicy()
    monte_carlo: MonteCarloPolicy = MonteCarloPolicy()
    sensitivity: SensitivityPolicy = SensitivityPolicy()
    churn: ChurnPolicy = ChurnPolicy()

    def terms(self, guaranteed_share: float) -> Terms:
        """The model layer's terms, with the guaranteed share resolved (policy value or estimate)."""
        return Terms(lgd=self.loss.lgd, tenor_months=self.loss.tenor_months, guaranteed_share=guaranteed_share,
                     guarantee_cover=self.risk_sharing.guarantee_share_of_loss,
                     guarantee_cap=self.risk_sharing.guarantee_cap, fund_coverage=self.funds.coverage,
                     fund_cap_per_loan=self.funds.cap_per_loan, refinancing_share=self.refinancing.eligible_share,
                     refinancing_rate_advantage=self.refinancing.rate_advantage,
                     correlation=self.loss.correlation)


def run_policy(config: RunConfig) -> PolicyFile:
    """The documented default policy with the Monte Carlo draws seeded by the run's ``seed``: what `run`
    simulates (it reads no policy file)."""
    return PolicyFile(monte_carlo=MonteCarloPolicy(seed=config.seed))


def load_policy(path: Path | None) -> PolicyFile:
    """Read and validate a policy YAML file; ``None`` gives the defaults.

    Raises:
        ConfigError: the file is missing, is not YAML, or breaks a rule (the message names the field).
    """
    if path is None:
        return PolicyFile()
    return read_yaml_model(path, PolicyFile, "policy")


# ------------------------------------------------------------------------------------------ the steps


@dataclass
class FormulaRun:
    """One formula's scored data, bands and assessment (aggregates leave through :func:`policy_results`)."""

    label: str
    formula: Formula
    points: np.ndarray
    provinces: np.ndarray
    band: np.ndarray
    bands: pd.DataFrame
    assessment: Assessment | None = None
    groups: pd.DataFrame | None = None  # firm_id, stage, is_sme, province of the scored firms (for churn)
    calibration: dict | None = None  # the out-of-time check of the band PDs


def _labels(formulas: list[Formula]) -> list[str]:
    labels, seen = [], {}
    for f in formulas:
        seen[f.name] = seen.get(f.name, 0) + 1
        labels.append(f.name if seen[f.name] == 1 else f"{f.name}#{seen[f.name]}")
    return labels


def prepare(formulas: list[Formula], tables: dict[str, pd.DataFrame], policy: PolicyFile, config: RunConfig,
            year: int | None = None, rows: steps.Rows | None = None) -> tuple[list[FormulaRun], dict]:
    """Score loans and firms with every formula and estimate its bands (PD, take-up, size).

    ``rows``: the loan tables and populations already built in this run (`run` hands over train's), else
    each is built once here. Returns the runs and a ``data`` summary (years, counts, exclusions, the
    guaranteed share used).
    """
    extra = [spec for f in formulas for spec in (f.local_indicators or [])]
    indicators = steps.indicator_set(config, extra)
    scoring_year = year or steps.default_scoring_year(tables)
    steps.require_scoring_year(tables, scoring_year, "--year")
    if policy.take_up.estimate_year is not None:
        steps.require_scoring_year(tables, policy.take_up.estimate_year, "policy take_up.estimate_year")
    rows = rows or steps.Rows(tables)
    runs = []
    for label, f in zip(_labels(formulas), formulas, strict=True):
        loans = rows.loans(indicators, StageRule(**f.stage_rule.model_dump()))
        scored = _scored_loans(loans, f)
        estimate_year = policy.take_up.estimate_year or int(scored["year"].max())
        population, exclusions = steps.build_population(tables, scoring_year, config, f, rows)
        points = f.score(population)["points"].to_numpy()
        if estimate_year == scoring_year:
            estimate_points = points
        else:
            estimate_points = f.score(steps.build_population(tables, estimate_year, config, f, rows)[0])["points"]
        calibrator, bands, calibration = _bands(scored, estimate_points, estimate_year, policy)
        runs.append(FormulaRun(label=label, formula=f, points=points,
                               provinces=population["province"].to_numpy(dtype=object),
                               band=calibrator.band(points), bands=bands, calibration=calibration,
                               groups=population[["firm_id", "stage", "is_sme", "province"]].reset_index(drop=True)))
    observed = scored["outcome_observed"].to_numpy(bool)
    estimated = guaranteed_volume_share(scored["guarantee"].to_numpy(dtype=object) == GUARANTEED,
                                        scored["amount"].to_numpy("float64"))
    share = policy.risk_sharing.guaranteed_share
    info = {
        "scoring_year": scoring_year, "estimate_year": estimate_year, "firms_scored": len(population),
        "firms_excluded": exclusions.counts, "loans": len(loans),
        "loans_excluded": {"no fiscal-year row before origination": len(loans) - len(scored)},
        "observed_loans": int(observed.sum()), "observed_defaults": int(scored.loc[observed, "defaulted"].sum()),
        "guaranteed_share_estimated": estimated,
        "guaranteed_share_used": estimated if share is None else share,
        "calibration_years": runs[0].calibration["fit_years"],
        "calibration_check_year": runs[0].calibration["check_year"],
        "calibration_loans": runs[0].calibration["loans"], "calibration_defaults": runs[0].calibration["defaults"],
    }
    return runs, info


def _scored_loans(loans: pd.DataFrame, formula: Formula) -> pd.DataFrame:
    """Loans with a fiscal year before origination, their points under ``formula`` (the rest are counted)."""
    usable = loans["has_history"].to_numpy(bool)
    if not usable.any():
        raise PolicyError(f"loans: none of the {len(loans)} loans has a firm_years row before its origination "
                          "year, so no loan can be scored")
    scored = loans.loc[usable, ["firm_id", "year", "amount", "guarantee", "defaulted", "outcome_observed"]]
    return scored.assign(points=formula.score(loans.loc[usable])["points"].to_numpy())


def _bands(scored: pd.DataFrame, estimate_points, estimate_year: int,
           policy: PolicyFile) -> tuple[BandCalibrator, pd.DataFrame, dict]:
    """PD per band on observed loans, take-up from the estimation year's borrowers, yearly size per band.

    With ``bands.calibrate_on: training_years`` (the default) the PDs are fitted on every observed year but
    the last, and the last checks them out of time; with one observed year only, all of it is used (said).
    """
    observed = scored[scored["outcome_observed"].to_numpy(bool)]
    years = sorted(int(y) for y in observed["year"].unique())
    check_year = years[-1] if policy.bands.calibrate_on == "training_years" and len(years) > 1 else None
    fit_rows = observed if check_year is None else observed[observed["year"] < check_year]
    calibrator = BandCalibrator(policy.bands.n_bands, policy.bands.pd_floor, policy.bands.ci)
    calibrator.fit(fit_rows["points"].to_numpy(), fit_rows["defaulted"].to_numpy(bool))
    calibration = {"fit_years": sorted(int(y) for y in fit_rows["year"].unique()), "check_year": check_year,
                   "loans": int(len(fit_rows)), "defaults": int(fit_rows["defaulted"].sum()), "check": None}
    if check_year is not None:
        held = observed[observed["year"] == check_year]
        calibration["check"] = calibration_check(calibrator, held["points"].to_numpy(),
                                                 held["defaulted"].to_numpy(bool))
    lending = firm_year_lending(scored)
    borrowers = lending[lending["year"] == estimate_year]
    by_band = lending_by_band(calibrator.band(estimate_points), calibrator.band(borrowers["points"]),
                              calibrator.band(lending["points"]), lending["amount"].to_numpy("float64"),
                              calibrator.n_bands_)
    return calibrator, _with_overrides(calibrator.table_.merge(by_band, on="band"), policy), calibration


def _with_overrides(bands: pd.DataFrame, policy: PolicyFile) -> pd.DataFrame:
    """Keep the estimates beside the values used, so a reader sees what an override replaced."""
    bands = bands.assign(take_up_estimated=bands["take_up"], mean_amount_estimated=bands["mean_amount"])
    if policy.take_up.rate is not None:
        bands["take_up"] = policy.take_up.rate
    if policy.loan_size.amount is not None:
        bands["mean_amount"] = policy.loan_size.amount
    return bands


def simulate_policy(runs: list[FormulaRun], policy: PolicyFile, terms: Terms, *, progress=None) -> dict:
    """Assess every formula under the policy and solve the headline: B's cut-off at A's expected loss.

    The provincial funds are sized once, on the reference formula (the first): ``size_ratio`` × its expected
    volume per province (or the sizes given), so every formula is judged against the same funds.
    """
    rule = policy.qualification.as_rule()
    ref = runs[0]
    ref_cells = expected_cells(cells(ref.band, ref.provinces, qualify(ref.points, ref.provinces, rule), ref.bands),
                               terms)
    volume = summarise(ref_cells, "province")["expected_volume"].to_dict()
    funds = fund_sizes(volume, policy.funds.size_ratio, policy.funds.sizes)
    mc = policy.monte_carlo
    for run in runs:
        if progress:
            progress(f"simulate {run.label}")
        run.assessment = assess(run.points, run.provinces, run.band, run.bands, terms, rule, funds,
                                n_draws=mc.draws, seed=mc.seed, chunk=mc.chunk)
    target = ref.assessment.total["expected_loss"]
    own = match_expected_loss(ref.points, ref.band, ref.bands, terms, target)
    headline = []
    for run in runs[1:]:
        matched = match_expected_loss(run.points, run.band, run.bands, terms, target)
        headline.append({
            "reference": ref.label, "formula": run.label, "target_expected_loss": target,
            "reference_expected_volume": ref.assessment.total["expected_volume"],
            "reference_qualified_firms": ref.assessment.total["qualified_firms"],
            "reference_cutoff_equivalent": own["cutoff"],
            "cutoff": matched["cutoff"], "qualified_firms": matched["qualified_firms"],
            "expected_loss": matched["expected_loss"], "expected_volume": matched["expected_volume"],
            "volume_difference": matched["expected_volume"] - ref.assessment.total["expected_volume"],
            "volume_ratio": matched["expected_volume"] / ref.assessment.total["expected_volume"]
            if ref.assessment.total["expected_volume"] else None,
            **_marginal_keys(cutoff_marginal_pd(run.points, run.band, run.bands, matched["cutoff"]), policy),
        })
    sens = policy.sensitivity
    grid = {run.label: sensitivity_grid((ref.points, ref.band, ref.bands), (run.points, run.band, run.bands), terms,
                                        sens.shares, sens.take_up_rates) for run in runs[1:]}
    marginal = {run.label: _marginal_keys(marginal_pd(run.points, qualify(run.points, run.provinces, rule), run.band,
                                                      run.bands), policy) for run in runs}
    return {"funds": funds, "headline": headline, "sensitivity": grid, "marginal": marginal,
            "churn": churn(runs, rule, policy.churn)}


def _marginal_keys(m: dict, policy: PolicyFile) -> dict:
    """The marginal band's PD and whether it breaks ``qualification.max_marginal_pd``."""
    limit = policy.qualification.max_marginal_pd
    return {"marginal_band": m["band"], "marginal_points": m["points"], "marginal_pd": m["pd"],
            "marginal_pd_limit": limit, "marginal_pd_flag": bool(m["pd"] is not None and m["pd"] > limit)}


def churn(runs: list[FormulaRun], rule: Qualification, settings: ChurnPolicy) -> dict:
    """How the qualified set moves from the reference formula to each other one, in total and by stage, SME flag
    and province; a group is flagged when its qualified firms change by at least ``flag_change`` (relative) and
    it has at least ``min_firms`` qualified firms under one of the two."""
    ref = runs[0]
    ref_q = qualify(ref.points, ref.provinces, rule)
    out = {"flag_change": settings.flag_change, "min_firms": settings.min_firms, "formulas": {}}
    for run in runs[1:]:
        if len(run.groups) != len(ref.groups) or not (run.groups["firm_id"].to_numpy()
                                                      == ref.groups["firm_id"].to_numpy()).all():
            out["formulas"][run.label] = {"note": "the formulas score different firms (stage rules or local "
                                                  "indicators differ): no firm-level churn"}
            continue
        q = qualify(run.points, run.provinces, rule)
        groups = {}
        for key in ("stage", "is_sme", "province"):
            col = ref.groups[key].astype(str).to_numpy()
            rows = []
            for value in sorted(pd.unique(col)):
                m = col == value
                a, b = int(ref_q[m].sum()), int(q[m].sum())
                change = (b - a) / a if a else None
                flagged = max(a, b) >= settings.min_firms and (a == 0 or abs(b - a) / a >= settings.flag_change)
                rows.append({"group": value, "reference": a, "formula": b, "change": change,
                             "kept": int((ref_q & q & m).sum()), "flag": bool(flagged)})
            groups[key] = rows
        out["formulas"][run.label] = {
            "reference_qualified": int(ref_q.sum()), "qualified": int(q.sum()), "kept": int((ref_q & q).sum()),
            "left": int((ref_q & ~q).sum()), "entered": int((q & ~ref_q).sum()),
            "changed_share": float((ref_q ^ q).sum() / max(int((ref_q | q).sum()), 1)),
            "groups": groups,
            "flagged": [f"{key}={r['group']}" for key, rows in groups.items() for r in rows if r["flag"]],
        }
    return out


def _curve(run: FormulaRun, terms: Terms) -> list[dict]:
    """Volume against expected loss as the national cut-off falls, thinned to CURVE_POINTS rows.

    Rows are spread evenly in qualified firms, from the top firm to everyone.
    """
    curve = threshold_curve(run.points, run.band, run.bands, terms)
    firms = curve["qualified_firms"].to_numpy()
    targets = np.linspace(0, firms[-1], CURVE_POINTS)
    rows = np.unique(np.minimum(np.searchsorted(firms, targets), len(curve) - 1))
    return curve.iloc[rows].to_dict(orient="records")


_TOTAL_KEYS = (
    "qualified_firms", "expected_loans", "expected_volume", "expected_default_rate",
    "expected_default_rate_low", "expected_default_rate_high", "expected_defaults", "expected_loss",
    "expected_loss_low", "expected_loss_high", "loss_bank", "loss_guarantee", "loss_funds", "fund_claims",
    "fund_expected_shortfall", "fund_size", "loss_p50", "loss_p95", "loss_p99", "loss_p999",
    "simulated_loss_mean", "fund_exhaustion_probability", "refinancing_volume", "refinancing_interest_saving",
)
_PROVINCE_KEYS = (
    "qualified_firms", "expected_loans", "expected_volume", "expected_default_rate", "expected_loss",
    "loss_bank", "loss_guarantee", "loss_funds", "fund_claims", "fund_size", "fund_expected_shortfall",
    "loss_p99", "fund_exhaustion_probability",
)


def policy_results(runs: list[FormulaRun], sim: dict, policy: PolicyFile, terms: Terms, info: dict) -> dict:
    """The JSON-ready results: aggregates only (bands, provinces, totals), never a firm's row."""
    formulas = {}
    for run in runs:
        a = run.assessment
        by_prov = a.by_province.reset_index(names="province")
        formulas[run.label] = {
            "formula": {"name": run.formula.name, "version": run.formula.version,
                        "content_hash": run.formula.provenance.content_hash,
                        "illustrative": bool(getattr(run.formula, "illustrative", False))},
            **{k: a.total.get(k) for k in _TOTAL_KEYS},
            "by_province": {row["province"]: {k: row.get(k) for k in _PROVINCE_KEYS}
                            for row in by_prov.to_dict(orient="records")},
            "bands": run.bands.replace([np.inf, -np.inf], None).to_dict(orient="records"),
            "curve": _curve(run, terms),
            "marginal": sim["marginal"][run.label],
            "calibration": run.calibration,
        }
    resolved = policy.model_dump(mode="json")
    resolved["risk_sharing"]["guaranteed_share"] = terms.guaranteed_share
    return {
        "schema": "innopoints.policy/1",
        "units": "money in CNY 10k; rates and probabilities as fractions",
        "data": info,
        "policy": resolved,
        "reference": runs[0].label,
        "fund_sizes": sim["funds"],
        "formulas": formulas,
        "headline": sim["headline"],
        "sensitivity": sim["sensitivity"],
        "churn": sim["churn"],
        "assumptions": assumptions(policy, info, runs, terms),
    }


def _source(section, key: str, default: str = "default (docs/policy.md)") -> str:
    return "set in the policy file" if key in section.model_fields_set else default


def assumptions(policy: PolicyFile, info: dict, runs: list[FormulaRun], terms: Terms) -> list[dict]:
    """Every assumption behind the figures with the value actually used and where it comes from."""
    q, b, t, ls = policy.qualification, policy.bands, policy.take_up, policy.loan_size
    ref = runs[0].bands
    firms = ref["firms"].to_numpy("float64")
    mean_take_up = float((ref["take_up_estimated"] * firms).sum() / firms.sum()) if firms.sum() else None
    lending = ref["firm_years"].to_numpy("float64")
    mean_amount = float((ref["mean_amount_estimated"] * lending).sum() / lending.sum()) if lending.sum() else None
    est_year = info["estimate_year"]
    cal = (f"fitted on the observed loans of {', '.join(map(str, info['calibration_years']))}; "
           f"checked out of time on {info['calibration_check_year']}" if info["calibration_check_year"]
           else f"fitted on every observed year ({', '.join(map(str, info['calibration_years']))})")
    rows = [
        ("qualification", "top share of firms" if q.rule == "top_share" else "points cut-off",
         q.share if q.rule == "top_share" else q.cutoff, _source(q, "share" if q.rule == "top_share" else "cutoff",
                                                                 "default: 71,435 of 520,000 firms in 2024")),
        ("marginal band PD limit", "flag above", q.max_marginal_pd, _source(q, "max_marginal_pd")),
        ("default probability per band", f"{b.n_bands} bands, floor {b.pd_floor}", b.calibrate_on,
         f"{_source(b, 'calibrate_on', 'default')}; {cal}"),
        ("take-up", "flat in every band" if t.rate is not None else "per band",
         t.rate if t.rate is not None else mean_take_up,
         "set in the policy file" if t.rate is not None else
         f"estimated from borrowing in {est_year} (firm-weighted mean over bands)"),
        ("loan size (CNY 10k a year)", "flat" if ls.amount is not None else "per band",
         ls.amount if ls.amount is not None else mean_amount,
         "set in the policy file" if ls.amount is not None else "estimated: mean yearly amount of borrowing firms"),
        ("loss given default", "", policy.loss.lgd, _source(policy.loss, "lgd")),
        ("tenor (months)", "", policy.loss.tenor_months, _source(policy.loss, "tenor_months")),
        ("default correlation", "", policy.loss.correlation, _source(policy.loss, "correlation")),
        ("guarantee system's share of loss", "", policy.risk_sharing.guarantee_share_of_loss,
         _source(policy.risk_sharing, "guarantee_share_of_loss")),
        ("guaranteed share of volume", "", terms.guaranteed_share,
         "set in the policy file" if policy.risk_sharing.guaranteed_share is not None
         else "estimated from the loans table (guarantee == guarantee_fund)"),
        ("guarantee cap per firm (CNY 10k)", "", policy.risk_sharing.guarantee_cap,
         _source(policy.risk_sharing, "guarantee_cap")),
        ("fund coverage", "", policy.funds.coverage, _source(policy.funds, "coverage", "default; an assumption, "
                                                                                      "no published figure")),
        ("fund size per unit of volume", "", policy.funds.size_ratio,
         _source(policy.funds, "size_ratio", "default: Hebei, CNY 147 m behind CNY 310.7 bn")),
        ("funds sized explicitly", "", len(policy.funds.sizes), _source(policy.funds, "sizes", "none")),
        ("refinancing eligible share", "", policy.refinancing.eligible_share,
         _source(policy.refinancing, "eligible_share", "default; an assumption")),
        ("Monte Carlo draws", "", policy.monte_carlo.draws, _source(policy.monte_carlo, "draws")),
    ]
    return [{"assumption": a, "how": h, "value": v, "source": s} for a, h, v, s in rows]


def write_policy_outputs(results: dict, runs: list[FormulaRun], out: Path, lang: str = "en") -> list[Path]:
    """Write OUT/policy.json, OUT/policy.md and the PNG plots (in ``lang``), all at once (nothing partial on
    failure)."""
    from innopoints.experiments.policy_report import (
        exhaustion_plot,
        lending_loss_frontier_plot,
        loss_distribution_plot,
        loss_split_plot,
        policy_markdown,
    )
    from innopoints.models.plots import fonts_for
    from innopoints.pipeline.outputs import dumps, staged_dir

    losses = {r.label: r.assessment.distribution.total for r in runs}
    with fonts_for(lang):  # the figures are drawn when saved: the font stack stays set until then
        figures = {
            "frontier.png": lending_loss_frontier_plot(results, lang),
            "loss_distribution.png": loss_distribution_plot(losses, results, lang),
            "loss_split.png": loss_split_plot(results, lang),
            "fund_exhaustion.png": exhaustion_plot(results, lang),
        }
        with staged_dir(out) as tmp:
            (tmp / "policy.json").write_text(dumps(results), encoding="utf-8")
            (tmp / "policy.md").write_text(policy_markdown(results, plots=list(figures), lang=lang), encoding="utf-8")
            for name, fig in figures.items():
                fig.savefig(tmp / name, dpi=100)
    return [out / "policy.json", out / "policy.md", *(out / n for n in figures)]


# ------------------------------------------------------------------------------------------ the steps


def assess_and_write(formulas: list[Formula], tables: dict[str, pd.DataFrame], policy: PolicyFile,
                     config: RunConfig, out: Path, *, year: int | None = None,
                     progress=None, lang: str = "en", rows: steps.Rows | None = None) -> tuple[dict, list[Path]]:
    """Score and calibrate, simulate every formula, write OUT (policy.json, policy.md, plots): the policy
    step as `policy` and `run` do it. ``progress`` hears "simulate <formula>" and "write"; ``rows`` as in
    :func:`prepare`."""
    runs, info = prepare(formulas, tables, policy, config, year, rows)
    terms = policy.terms(info["guaranteed_share_used"])
    sim = simulate_policy(runs, policy, terms, progress=progress)
    if progress:
        progress("write")
    results = policy_results(runs, sim, policy, terms, info)
    return results, write_policy_outputs(results, runs, out, lang)


def report_summary(results: dict) -> dict:
    """What the reviewer report shows of a policy simulation: A's and B's totals, B's headline, the churn of
    the qualified set (:func:`churn`) and the sensitivity grid behind the headline's range."""
    labels = list(results["formulas"])
    return {"labels": labels,
            "totals": {label: {k: results["formulas"][label].get(k) for k in SUMMARY_TOTALS} for label in labels},
            "headline": results["headline"][0] if results["headline"] else None,
            "scoring_year": results["data"].get("scoring_year"),
            "draws": results["policy"]["monte_carlo"]["draws"],
            "churn": results.get("churn"), "sensitivity": results.get("sensitivity"),
            "max_marginal_pd": results["policy"]["qualification"]["max_marginal_pd"]}


def print_summary(results: dict) -> None:
    """The console summary of a policy simulation: one row per formula and the matched-loss headline."""
    table = Table(title=f"policy simulation, scoring year {results['data']['scoring_year']} (money in CNY 10k)")
    for col in ("formula", "qualified", "volume", "default rate", "expected loss", "bank / guarantee / funds",
                "p99 loss", "any fund exhausted"):
        table.add_column(col, justify="left" if col == "formula" else "right")
    for label, r in results["formulas"].items():
        rate = r["expected_default_rate"]
        table.add_row(label, f"{r['qualified_firms']:,.0f}", f"{r['expected_volume']:,.0f}",
                      "–" if rate is None else f"{rate:.2%}", f"{r['expected_loss']:,.0f}",
                      f"{r['loss_bank']:,.0f} / {r['loss_guarantee']:,.0f} / {r['loss_funds']:,.0f}",
                      f"{r['loss_p99']:,.0f}", f"{r['fund_exhaustion_probability']:.1%}")
    console.print(table)
    for h in results["headline"]:
        if h["cutoff"] is None:
            console.print(f"{h['formula']} cannot keep the expected loss of {h['reference']} with any cut-off")
            continue
        console.print(f"at the expected loss of {h['reference']} ({h['target_expected_loss']:,.0f}), {h['formula']} "
                      f"lends {h['expected_volume']:,.0f} (cut-off {h['cutoff']:.2f} points) vs "
                      f"{h['reference_expected_volume']:,.0f}: {h['volume_difference']:+,.0f}"
                      + (f" ⚠ the cut-off's band has a default probability of {h['marginal_pd']:.1%}, above the "
                         f"limit {h['marginal_pd_limit']:.1%}" if h.get("marginal_pd_flag") else ""))
    from innopoints.experiments.policy_report import headline_range_lines

    for line in headline_range_lines(results):
        console.print(line.removeprefix("- ").replace("**", ""))
