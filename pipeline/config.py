"""One typed config object per run, loaded from YAML and validated once."""

from __future__ import annotations

import hashlib
import json
import reprlib
from pathlib import Path
from typing import Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from innopoints.features.catalog import GROUPS, list_indicators
from innopoints.features.errors import ConfigError
from innopoints.features.local import LocalIndicatorSpec, build_local_indicators
from innopoints.features.safe_yaml import RefusedYAMLError, load_yaml
from innopoints.features.stage import StageRule
from innopoints.models.defaults import CAP_SHARE, GROUP_BOUNDS, LOW_SUPPORT, MAX_WEIGHT, PARCEL_UPLIFT, QUALIFIED_SHARE

M = TypeVar("M", bound=BaseModel)


BASE_POINTS = 100.0
"""Points of every lifecycle stage a formula distributes (the scale of the points system)."""

SEED_MAX = 2**32 - 1
"""The largest seed: scikit-learn and NumPy's legacy generators take seeds below 2**32."""


def check_train_rules(train: TrainConfig) -> None:
    """Refuse training rules that contradict themselves, naming the key, the rule and an example.

    ``group_bounds``: known groups only (a mistyped key would be silently unbounded), each
    ``[min, max]`` with 0 <= min <= max <= 1, the minimums summing to at most 1 and, when every group is
    bounded, the maximums to at least 1. ``change_limits`` positive; every ``recalibrations`` entry one of
    ``change_limits`` (a recalibration is a point of the frontier).

    Raises:
        ValueError: the first broken rule (pydantic turns it into the config error).
    """
    example = "e.g. input: [0.1, 0.5]"
    for group, (lo, hi) in train.group_bounds.items():
        if group not in GROUPS:
            raise ValueError(f"group_bounds: unknown group {group!r}; the groups are {', '.join(GROUPS)}")
        if not 0 <= lo <= hi <= 1:
            raise ValueError(f"group_bounds.{group}: [{lo:g}, {hi:g}] must be [min, max] shares with "
                             f"0 <= min <= max <= 1, {example}")
    lows = sum(lo for lo, _ in train.group_bounds.values())
    if lows > 1 + 1e-9:
        raise ValueError(f"group_bounds: the minimum shares sum to {lows:g} > 1; no formula can give every group "
                         f"its minimum ({example})")
    his = sum(hi for _, hi in train.group_bounds.values())
    if set(GROUPS) <= set(train.group_bounds) and his < 1 - 1e-9:
        raise ValueError(f"group_bounds: the maximum shares sum to {his:g} < 1; the points of a stage cannot all "
                         f"be placed ({example})")
    bad = [x for x in train.change_limits if not x > 0]
    if bad:
        raise ValueError(f"change_limits: {bad[0]:g} must be > 0 (points moved per stage, e.g. [5, 10, 20])")
    missing = [x for x in train.recalibrations if x not in train.change_limits]
    if missing:
        raise ValueError(f"recalibrations: {missing[0]:g} is not one of change_limits "
                         f"{[float(x) for x in train.change_limits]}; add it there or pick one of them")


class CohortConfig(BaseModel):
    """The embedded synthetic cohort `run` makes on first use."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    firms: int = Field(default=20_000, ge=500, description="firms in the synthetic cohort")
    first_year: int = Field(default=2019, ge=1990)
    last_year: int = Field(default=2024, ge=1991)


class EvaluationConfig(BaseModel):
    """How formulas are judged (docs/refinement.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    qualified_share: float = Field(default=QUALIFIED_SHARE, gt=0, lt=1)
    n_boot: int = Field(default=1000, ge=100)
    min_slice_n: int = Field(default=200, ge=1)
    min_slice_defaults: int = Field(default=5, ge=1)
    test_year: int | None = Field(default=None, description="origination year of the test loans; default last")


class TrainConfig(BaseModel):
    """How candidates are learned (issue: models, SHAP, candidate formulas)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    shap_rows: int = Field(default=5000, ge=100, description="rows explained with exact TreeSHAP")
    curves: Literal["risk_bins", "percentile"] = Field(
        default="risk_bins", description="curves of the learned candidates: bands fitted to default risk with "
        "risk-matched missing values, or percentile positions with the stage median for missing values")
    group_bounds: dict[str, tuple[float, float]] = Field(
        default_factory=lambda: dict(GROUP_BOUNDS),
        description="min and max share of the base points per indicator group in fitted formulas")
    max_points: float | None = Field(default=25.0, gt=0, description="max points of one indicator (fitted)")
    change_limits: list[float] = Field(default_factory=lambda: [5.0, 10.0, 20.0, 30.0, 50.0])
    recalibrations: list[float] = Field(default_factory=lambda: [10.0, 30.0])
    recommend: Literal["policy", "data"] = Field(
        default="policy", description="which candidates the recommended formula is chosen among: the "
        "policy-consistent ones (no indicator scored against its policy direction) or the data-driven ones")
    refits: int = Field(default=30, ge=5, description="refits on bootstrap resamples of firms behind every "
                        "importance, direction, incremental value and points interval")
    refit_rows: int = Field(default=15_000, ge=1_000, description="loans per refit at most (firms are "
                            "subsampled, seeded, above it)")
    refit_workers: int = Field(default=2, ge=1, description="refits and reference-model fits run at a time, "
                               "on threads (results do not depend on it)")
    unavailable_share: float = Field(default=0.95, gt=0, le=1, description="an indicator missing for at least "
                                     "this share of a stage's loans gets no points in that stage")
    backtest_years: int = Field(default=3, ge=1, description="test years of the rolling-origin backtest")
    backtest_refits: int = Field(default=10, ge=5, description="refits of the evidence for each earlier "
                                 "backtest year")
    n_estimators: int = Field(default=100, ge=10, description="trees of each refit's LightGBM")
    learning_rate: float = Field(default=0.1, gt=0, le=1, description="learning rate of each refit's LightGBM")
    num_leaves: int = Field(default=7, ge=2, description="leaves per tree of each refit's LightGBM")
    n_jobs: int = Field(default=1, ge=1, description="threads of each reference LightGBM fit, refit_workers of "
                        "which run at once (results are identical for one value)")

    @model_validator(mode="after")
    def _feasible(self) -> TrainConfig:
        """Rules no formula can meet are refused here, before any data is read (see ``check_train_rules``)."""
        check_train_rules(self)
        return self


class SelectionConfig(BaseModel):
    """Who was lent: the propensity model, the support measure and the corrections (docs/policy.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(default=True, description="run the selection analysis in train (selection.json / .md)")
    low_support: float = Field(default=LOW_SUPPORT, gt=0, lt=1, description="propensity of being lent below which a "
                               "segment has little loan support")
    max_weight: float = Field(default=MAX_WEIGHT, gt=1, description="inverse-propensity weights are clipped to "
                              "[1/max_weight, max_weight]")
    parcel_uplift: float = Field(default=PARCEL_UPLIFT, ge=1, le=5, description="rejects' default rate = the approved "
                                 "loans' rate in the same points band × this (reject inference by parcelling)")
    reject_ratio: float = Field(default=1.0, gt=0, le=10, description="total weight of the rejects in the "
                                "parcelled refit, relative to the approved loans")
    propensity_rows: int = Field(default=60_000, ge=1_000, description="firm-years the propensity model is "
                                 "fitted on at most (all lent ones, a seeded subsample of the rest)")


class SignConflictConfig(BaseModel):
    """How one indicator with a sign conflict is handled in the recommended formula (docs/policy.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: Literal["zero", "cap", "plateau"] = Field(default="zero", description="zero points, a capped share on "
                                                   "its official curve, or a curve that stops rewarding at a plateau")
    share: float = Field(default=CAP_SHARE, ge=0, lt=1, description="share of each stage's points (cap, plateau)")
    zero_at: float = Field(default=0.0, description="plateau curve: value scoring nothing")
    plateau: float | None = Field(default=None, description="plateau curve: value beyond which more earns nothing; "
                                  "default the training loans' median")


class RunConfig(BaseModel):
    """Everything a run depends on besides the data; its hash goes into every formula's provenance."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    seed: int = Field(default=1, ge=0, le=SEED_MAX)
    cohort: CohortConfig = CohortConfig()
    stage_rule: StageRule = StageRule()
    local_indicators: list[LocalIndicatorSpec] = Field(default_factory=list)
    evaluation: EvaluationConfig = EvaluationConfig()
    train: TrainConfig = TrainConfig()
    selection: SelectionConfig = SelectionConfig()
    sign_conflicts: dict[str, SignConflictConfig] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _points_reachable(self) -> RunConfig:
        cap = self.train.max_points
        n = len(list_indicators()) + len(self.local_indicators)
        if cap is not None and cap * n < BASE_POINTS:
            raise ValueError(f"train.max_points: {cap:g} points x {n} indicators = {cap * n:g} cannot reach the "
                             f"{BASE_POINTS:g} points of a stage; use at least {BASE_POINTS / n:.3g} (default 25)")
        return self

    def config_hash(self) -> str:
        """sha256 of the canonical JSON of the config (first 16 hex digits)."""
        text = json.dumps(self.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def read_yaml(path: Path, what: str):
    """The data of a small YAML input file (the one reader and safe loader: size, encoding, anchors and depth
    checked); every mistake is one ConfigError naming the file."""
    from innopoints.pipeline.io import read_text_input

    path = Path(path)
    try:
        return load_yaml(read_text_input(path, what))
    except RefusedYAMLError as exc:
        raise ConfigError(f"{what} file {path} is refused: {exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{what} file {path} is not valid YAML: {' '.join(str(exc).split())}") from None


def read_yaml_model(path: Path, model: type[M], what: str) -> M:
    """Read a YAML file into a pydantic model; every mistake is one ConfigError naming the file and field."""
    path = Path(path)
    data = read_yaml(path, what) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{what} file {path}: the top level must be a mapping of sections")
    try:
        return model(**data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        if isinstance(err.get("input"), dict):  # a rule across keys: the message names them
            raise ConfigError(f"{what} file {path}: {where + ': ' if err['loc'] else ''}{msg}") from None
        raise ConfigError(f"{what} file {path}: {where}: {msg} (got {_short_repr(err.get('input'))})") from None


def _short_repr(value: object, limit: int = 80) -> str:
    """``repr`` cut to ``limit`` characters: a message quotes the culprit, never a whole section."""
    short = reprlib.Repr()
    short.maxstring, short.maxother, short.maxlist, short.maxdict, short.maxlevel = limit, limit, 6, 6, 2
    text = short.repr(value)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def load_config(path: Path | None) -> RunConfig:
    """Read and validate a YAML config; ``None`` gives the defaults.

    Raises:
        ConfigError: the file is missing, is not YAML, or breaks a rule (the message names the field).
    """
    if path is None:
        return RunConfig()
    config = read_yaml_model(path, RunConfig, "config")
    # Local indicators are checked here, once, so a bad declaration fails before any data is read.
    build_local_indicators(list(config.local_indicators), {i.id for i in list_indicators()})
    return config
