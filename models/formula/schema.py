"""The points formula: a versioned, self-contained data file that turns indicator values into points.

A formula is data, not code (docs/architecture.md). This module holds its schema (a tree of frozen pydantic models
with exact keys), its canonical JSON / YAML text, its content hash, its validation (every error names the
field path, e.g. ``indicators[3].curve.edges``) and its vectorised scoring. Nothing here reads or writes a
file: ``pipeline/`` passes text in and takes text out.

Round trip: the canonical JSON is ``json.dumps(formula.to_dict(), indent=2, ensure_ascii=False)`` plus a
newline, with the key order fixed by the field order below and floats written by ``repr`` (exact). YAML
carries the same dict, so JSON → YAML → JSON is byte-identical and the content hash (sha256 of the canonical
JSON with ``provenance.content_hash`` blanked) is the same for both.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
import yaml
from pydantic import Field, ValidationError, model_validator

from innopoints.features.catalog import CATEGORIES, GROUP_DEFAULTS, OFFICIAL_GROUPS, list_indicators
from innopoints.features.errors import FormulaError, IndicatorError
from innopoints.features.safe_yaml import load_yaml
from innopoints.features.stage import STAGE_NAMES_ZH, STAGES, StageRule
from innopoints.models.formula.curves import CURVE_TYPES, Bins, Curve, LinearCap, Percentile, StrictModel

SCHEMA_VERSION = "1.0"
SUPPORTED_SCHEMA_VERSIONS: tuple[str, ...] = ("1.0",)
FORMATS: tuple[str, ...] = ("json", "yaml")
SUM_TOLERANCE = 1e-6
_SLUG = r"^[a-z0-9][a-z0-9_.-]*$"
_COLUMN_ID = r"^[a-z][a-z0-9_]*$"
_TAGS = {"curve": set(CURVE_TYPES), "missing": {"zero", "fixed", "stage_median", "risk_matched"}}
OfficialGroup = Literal[tuple(OFFICIAL_GROUPS)]  # guideline 1.0 groups
Category = Literal[tuple(CATEGORIES)]  # guideline 2.0 categories
_WRITTEN_WHEN_SET: dict[str, tuple[str, ...]] = {
    # Keys added after schema 1.0 was first published: written only when set, so a file sealed before they
    # existed keeps its content hash.
    "indicators": ("category",),
    "bonus": ("official_group", "category"),
}
RESEAL = "innopoints formula seal {source} --out {source}"
"""The command that re-seals a formula file after a deliberate edit (named in the tamper message)."""


# --------------------------------------------------------------------------------------------- schema


class Scale(StrictModel):
    """Base points (the per-stage sum of indicator max points) and the cap on summed bonus points."""

    base_points: float = Field(gt=0)
    bonus_points: float = Field(default=0.0, ge=0)


class StagePoints(StrictModel):
    """Max points of one indicator in each lifecycle stage."""

    startup: float = Field(ge=0)
    growth: float = Field(ge=0)
    stable: float = Field(ge=0)

    def as_array(self) -> np.ndarray:
        """Values in :data:`innopoints.features.stage.STAGES` order, so ``as_array()[stage_codes]`` routes rows."""
        return np.array([getattr(self, s) for s in STAGES], dtype="float64")


class StageFractions(StrictModel):
    """A fraction in [0, 1] per lifecycle stage."""

    startup: float = Field(ge=0, le=1)
    growth: float = Field(ge=0, le=1)
    stable: float = Field(ge=0, le=1)


class MissingZero(StrictModel):
    """A missing value scores nothing: what a data-sharing gap costs a firm under the 2024 practice."""

    policy: Literal["zero"] = "zero"

    def fill(self, codes: np.ndarray) -> np.ndarray:
        return np.zeros(codes.shape, dtype="float64")

    def describe(self, stage: str) -> str:
        return "zero"


class MissingFixed(StrictModel):
    """A missing value scores a fixed fraction of the max points."""

    policy: Literal["fixed"] = "fixed"
    fraction: float = Field(ge=0, le=1)

    def fill(self, codes: np.ndarray) -> np.ndarray:
        return np.full(codes.shape, self.fraction, dtype="float64")

    def describe(self, stage: str) -> str:
        return f"fixed {self.fraction:.6g}"


class _MissingPerStage(StrictModel):
    """A missing value scores a stored fraction per lifecycle stage (the subclass says how it was learned)."""

    policy: str
    fraction: StageFractions

    def fill(self, codes: np.ndarray) -> np.ndarray:
        return np.array([getattr(self.fraction, s) for s in STAGES], dtype="float64")[codes]

    def describe(self, stage: str) -> str:
        return f"{self.policy} {getattr(self.fraction, stage):.6g}"


class MissingStageMedian(_MissingPerStage):
    """A missing value scores the stage's median fraction, stored at fit time (never taken from the batch)."""

    policy: Literal["stage_median"] = "stage_median"


class MissingRiskMatched(_MissingPerStage):
    """A missing value scores, per stage, the fraction at which reporting firms carry the default risk that the
    stage's non-reporting firms showed at fit time (stored; never taken from the batch being scored).

    So a data-sharing gap is neither a free pass nor a penalty by decree: it costs what the loan book says
    it is worth, and no more than the lowest band (the fraction is clipped to [0, 1]).
    """

    policy: Literal["risk_matched"] = "risk_matched"


Missing = Annotated[MissingZero | MissingFixed | MissingStageMedian | MissingRiskMatched,
                    Field(discriminator="policy")]


class IndicatorItem(StrictModel):
    """One scored indicator: its curve, missing-value policy and max points per stage.

    ``direction`` is the direction the formula scores in (defaults to the catalog's policy direction; a
    fitted formula that finds a sign conflict states ``-1`` here explicitly). ``group`` overrides the
    catalog group (the fitting groups); ``official_group`` is the guideline 1.0 group and ``category`` the
    guideline 2.0 category the indicator is counted in (both default to the catalog's in tables).
    """

    id: str = Field(min_length=1)
    group: str | None = None
    official_group: OfficialGroup | None = None
    category: Category | None = None
    direction: Literal[1, -1] | None = None
    points: StagePoints
    curve: Curve
    missing: Missing = MissingZero()


class BonusItem(StrictModel):
    """A bonus item: up to ``points`` extra points from one indicator; the bonus total is capped."""

    id: str = Field(pattern=_COLUMN_ID)
    indicator: str = Field(min_length=1)
    official_group: OfficialGroup | None = None
    category: Category | None = None
    points: float = Field(ge=0)
    curve: Curve
    missing: Missing = MissingZero()


class Provenance(StrictModel):
    """How the formula was produced. Run ids and times live in MLflow, so the file stays reproducible."""

    method: str = Field(min_length=1)
    data_fingerprint: str = ""
    config_hash: str = ""
    seed: int | None = None
    metrics: dict[str, float] = Field(default_factory=dict)
    notes: str = ""
    content_hash: str = ""


def _known_indicators(local: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Metadata by id of the catalog's indicators plus the formula's own local ones."""
    known = {
        ind.id: {"direction": ind.direction, "group": ind.group, "name_zh": ind.name_zh,
                 "name_en": ind.name_en, "official_no": ind.official_no, "unit": ind.unit,
                 "official_group": ind.official_group, "category": ind.category}
        for ind in list_indicators()
    }
    for spec in local:
        # A local definition without a usable direction is read as the policy default (+1).
        direction = spec.get("direction") if spec.get("direction") in (1, -1) else 1
        official_group, category = GROUP_DEFAULTS.get(spec.get("group"), (None, None))
        known[spec["id"]] = {"direction": direction, "group": spec.get("group"),
                             "name_zh": spec.get("name_zh", ""), "name_en": spec.get("name_en", ""),
                             "official_no": None, "unit": spec.get("unit", ""),
                             "official_group": official_group, "category": category}
    return known


class Formula(StrictModel):
    """A points formula (schema 1.0). Build it with :meth:`from_dict` / :meth:`from_text` for people's input.

    Scores are ``points = Σ_indicators max_points[stage] · fraction + min(Σ_bonus points · fraction,
    scale.bonus_points)`` where ``fraction`` is the curve value, or the missing policy's value when the
    indicator is missing. The bonus items' own points may sum above the cap: the cap bounds the total, so
    a firm can reach it along several routes.
    """

    schema_version: Literal["1.0"] = SCHEMA_VERSION
    name: str = Field(pattern=_SLUG)
    version: str = Field(min_length=1)
    title: str = Field(min_length=1)
    description: str = ""
    illustrative: bool = False
    scale: Scale
    stage_rule: StageRule = StageRule()
    indicators: list[IndicatorItem] = Field(min_length=1)
    bonus: list[BonusItem] = Field(default_factory=list)
    local_indicators: list[dict[str, Any]] = Field(default_factory=list)
    provenance: Provenance = Provenance(method="hand-written")

    # ------------------------------------------------------------------------------------- validation

    @model_validator(mode="after")
    def _check(self) -> Formula:
        problems = self.problems()
        if problems:
            error = FormulaError("; ".join(problems))
            error.problems = problems  # every problem, for `innopoints formula check`
            raise error
        return self

    def problems(self) -> list[str]:
        """Every rule the (well-typed) formula breaks, one ``path: message`` line each, in file order."""
        out: list[str] = []
        try:
            _check_local(self.local_indicators)
        except FormulaError as err:
            return [str(err)]
        known = _known_indicators(self.local_indicators)
        seen: dict[str, int] = {}
        for i, item in enumerate(self.indicators):
            path = f"indicators[{i}]"
            if item.id not in known:
                out.append(f"{path}.id: unknown indicator {item.id!r}: not in the catalog and not in "
                           "local_indicators (see `innopoints indicators`)")
                continue
            if item.id in seen:
                out.append(f"{path}.id: duplicate indicator {item.id!r} (also indicators[{seen[item.id]}])")
            seen[item.id] = i
            direction = item.direction or known[item.id]["direction"]
            out += _curve_direction_problems(f"{path}.curve", item.curve, direction, item.id,
                                             item.direction is None)
        for stage in STAGES:
            total = sum(getattr(item.points, stage) for item in self.indicators)
            if abs(total - self.scale.base_points) > SUM_TOLERANCE:
                out.append(f"indicators[*].points.{stage}: the {stage} points sum to {total!r}, must equal "
                           f"scale.base_points ({self.scale.base_points!r})")
        if self.bonus and self.scale.bonus_points == 0:
            out.append(f"bonus: {len(self.bonus)} bonus item(s) but scale.bonus_points is 0, so they could never "
                       "score")
        bonus_seen: dict[str, int] = {}
        for i, item in enumerate(self.bonus):
            path = f"bonus[{i}]"
            if item.id in bonus_seen:
                out.append(f"{path}.id: duplicate bonus item {item.id!r} (also bonus[{bonus_seen[item.id]}])")
            bonus_seen[item.id] = i
            if item.indicator not in known:
                out.append(f"{path}.indicator: unknown indicator {item.indicator!r}: not in the catalog and not in "
                           "local_indicators (see `innopoints indicators`)")
                continue
            out += _curve_direction_problems(f"{path}.curve", item.curve, known[item.indicator]["direction"],
                                             item.indicator, True)
        if not out:
            try:
                _check_output_columns(self)
            except FormulaError as err:
                out.append(str(err))
        return out

    def direction_of(self, indicator_id: str) -> int:
        """The direction the formula scores ``indicator_id`` in (its item's, else the catalog's)."""
        known = _known_indicators(self.local_indicators)
        for item in self.indicators:
            if item.id == indicator_id and item.direction is not None:
                return item.direction
        if indicator_id not in known:
            raise FormulaError(f"indicator {indicator_id!r} is not known to formula {self.name!r}")
        return known[indicator_id]["direction"]

    @property
    def required_columns(self) -> list[str]:
        """Indicator columns :meth:`score` needs (besides ``stage``), in formula order."""
        ids = [item.id for item in self.indicators] + [b.indicator for b in self.bonus]
        return list(dict.fromkeys(ids))

    # --------------------------------------------------------------------------------- text and hash

    def to_dict(self) -> dict[str, Any]:
        """Plain dict in the fixed key order of the schema (every key present, ``null`` for unset)."""
        data = self.model_dump(mode="json")
        for section, keys in _WRITTEN_WHEN_SET.items():
            for item in data[section]:
                for key in keys:
                    if item.get(key) is None:
                        item.pop(key, None)
        return data

    def to_text(self, fmt: str = "json") -> str:
        """Canonical JSON or YAML text of the formula."""
        _check_format(fmt)
        if fmt == "json":
            return _canonical_json(self.to_dict())
        return yaml.safe_dump(self.to_dict(), allow_unicode=True, sort_keys=False)

    def compute_hash(self) -> str:
        """sha256 (hex) of the canonical JSON with ``provenance.content_hash`` blanked."""
        data = self.to_dict()
        data["provenance"]["content_hash"] = ""
        return hashlib.sha256(_canonical_json(data).encode("utf-8")).hexdigest()

    def with_hash(self) -> Formula:
        """A copy whose ``provenance.content_hash`` is filled: do this last, just before saving."""
        provenance = self.provenance.model_copy(update={"content_hash": self.compute_hash()})
        return self.model_copy(update={"provenance": provenance})

    @classmethod
    def from_dict(cls, data: Any, *, allow_unhashed: bool = False, source: str = "FILE") -> Formula:
        """Validate a plain dict into a formula; every problem is a :class:`FormulaError` naming the field.

        A stored ``provenance.content_hash`` must match the content (a file edited after it was sealed is
        refused, and the message names the command that re-seals ``source``); an empty hash is accepted only
        with ``allow_unhashed=True``, and the formula then keeps it empty (see :func:`read_formula` for a
        hand-written file loaded with its hash computed).
        """
        formula = _validated(data)
        stored = formula.provenance.content_hash
        if not stored:
            if not allow_unhashed:
                raise FormulaError(
                    "provenance.content_hash: missing; a formula file carries the hash written when it "
                    f"was sealed (seal a hand-written file with `{RESEAL.format(source=source)}`)"
                )
        elif stored != formula.compute_hash():
            raise FormulaError(
                f"{source}: content_hash mismatch: the file was edited after it was sealed; "
                f"provenance.content_hash is {stored[:12]}… but the content hashes to "
                f"{formula.compute_hash()[:12]}…. If the edit is yours, re-seal the file with "
                f"`{RESEAL.format(source=source)}` (or empty provenance.content_hash to load it unsealed)"
            )
        return formula

    @classmethod
    def from_text(cls, text: str, fmt: str = "json", *, allow_unhashed: bool = False,
                  source: str = "FILE") -> Formula:
        """Parse JSON or YAML text and validate it (see :meth:`from_dict`)."""
        return cls.from_dict(cls.parse_text(text, fmt), allow_unhashed=allow_unhashed, source=source)

    @staticmethod
    def parse_text(text: str, fmt: str = "json") -> Any:
        """JSON (duplicate keys refused) or YAML text to plain data, not validated; a syntax error says where."""
        _check_format(fmt)
        if fmt == "json":
            try:
                data = json.loads(text, object_pairs_hook=_no_duplicate_keys)
            except json.JSONDecodeError as err:
                raise FormulaError(
                    f"formula: not valid JSON at line {err.lineno} column {err.colno}: {err.msg}"
                ) from None
        else:
            try:
                data = load_yaml(text)  # refuses anchors, aliases, huge or deep text
            except yaml.YAMLError as err:
                raise FormulaError(f"formula: not valid YAML: {' '.join(str(err).split())}") from None
        return data

    # ---------------------------------------------------------------------------------------- scoring

    def fractions(self, indicators: pd.DataFrame, *, fill_missing: bool = True) -> pd.DataFrame:
        """Curve value (0–1) per indicator item (column = id) and bonus item (column ``bonus_<id>``).

        With ``fill_missing`` (needs the ``stage`` column for ``stage_median``) missing values take the
        item's missing policy, as in scoring; without it they stay NaN.
        """
        codes = stage_codes(indicators, self.stage_rule) if fill_missing else None
        arrays = self._fraction_arrays(indicators, codes)
        return pd.DataFrame(arrays, index=indicators.index)

    def score(self, indicators: pd.DataFrame) -> pd.DataFrame:
        """Points per row: ``stage``, ``points``, ``points_base``, ``points_bonus`` and the breakdown.

        ``indicators`` has one float column per indicator id (NaN = missing) and a ``stage`` column with
        values in :data:`innopoints.features.stage.STAGES`. The breakdown columns are ``points_<indicator id>`` and
        ``points_bonus_<bonus id>`` (before the bonus cap); the output keeps the input's index. Rows that carry
        the formula's own stages beside ``stage`` (the column :attr:`StageRule.column`) are scored in those.
        """
        codes = stage_codes(indicators, self.stage_rule)
        fractions = self._fraction_arrays(indicators, codes)
        n = len(indicators)
        base = np.zeros(n, dtype="float64")
        breakdown: dict[str, np.ndarray] = {}
        for item in self.indicators:
            pts = item.points.as_array()[codes] * fractions[item.id]
            breakdown[f"points_{item.id}"] = pts
            base += pts
        bonus_raw = np.zeros(n, dtype="float64")
        for item in self.bonus:
            pts = item.points * fractions[f"bonus_{item.id}"]
            breakdown[f"points_bonus_{item.id}"] = pts
            bonus_raw += pts
        bonus = np.minimum(bonus_raw, self.scale.bonus_points)
        columns = {
            "stage": pd.Categorical.from_codes(codes, categories=list(STAGES)),
            "points": base + bonus,
            "points_base": base,
            "points_bonus": bonus,
            **breakdown,
        }
        return pd.DataFrame(columns, index=indicators.index)

    def _fraction_arrays(self, indicators: pd.DataFrame, codes: np.ndarray | None) -> dict[str, np.ndarray]:
        missing = [c for c in self.required_columns if c not in indicators.columns]
        if missing:
            raise FormulaError(
                f"indicator table: missing column(s) {missing} that formula {self.name!r} scores "
                f"(it has {len(indicators.columns)} columns, e.g. {list(indicators.columns[:5])})"
            )
        values = {c: _float_column(indicators, c) for c in self.required_columns}
        items = [(item.id, item.id, item) for item in self.indicators]
        items += [(f"bonus_{b.id}", b.indicator, b) for b in self.bonus]
        out: dict[str, np.ndarray] = {}
        for column, indicator_id, item in items:
            x = values[indicator_id]
            f = item.curve.fraction(x)
            if codes is not None:
                gap = np.isnan(x)
                if gap.any():
                    f = np.where(gap, item.missing.fill(codes), f)
            out[column] = f
        return out


# ------------------------------------------------------------------------------ loading people's files


def _check_version(data: Any) -> None:
    if not isinstance(data, dict):
        raise FormulaError(f"formula: the top level must be a mapping of keys, got {type(data).__name__}")
    version = data.get("schema_version")
    if version not in SUPPORTED_SCHEMA_VERSIONS:
        what = "is missing" if version is None else f"{version!r} is not supported"
        if str(version) in SUPPORTED_SCHEMA_VERSIONS:
            # An unquoted `schema_version: 1.0` in YAML is a number, not the version string.
            what = f"got the number {version!r}; write it as a string ('{version}', quoted in YAML)"
        raise FormulaError(
            f"schema_version: {what}; this version of innopoints reads {list(SUPPORTED_SCHEMA_VERSIONS)}"
        )


def _validated(data: Any) -> Formula:
    """Plain data to a formula, content hash not checked; the first problems as one :class:`FormulaError`."""
    _check_version(data)
    _check_finite(data, "")
    try:
        return Formula.model_validate(data)
    except ValidationError as err:
        raise FormulaError(_format_validation_error(err)) from None
    except IndicatorError as err:
        # The stage rule is the features layer's model; its own checks raise its own error type.
        message = str(err).removeprefix("stage rule: ")
        raise FormulaError(f"stage_rule: {message}") from None


@dataclass(frozen=True)
class LoadedFormula:
    """A formula read from a file, and whether the file was sealed (carried its content hash)."""

    formula: Formula  # with provenance.content_hash filled either way
    sealed: bool


def read_formula(text: str, fmt: str, *, source: str = "FILE") -> LoadedFormula:
    """Read a formula file as people write them: a file without ``provenance.content_hash`` (hand-written)
    is validated and its hash computed on load (``sealed`` is False: the caller says so); a file whose hash
    is present but wrong is refused, naming the command that re-seals ``source``."""
    formula = Formula.from_text(text, fmt, allow_unhashed=True, source=source)
    if formula.provenance.content_hash:
        return LoadedFormula(formula, sealed=True)
    return LoadedFormula(formula.with_hash(), sealed=False)


def formula_problems(text: str, fmt: str, *, source: str = "FILE") -> list[str]:
    """Every problem of a formula file in one pass, one ``path: message`` line each (empty: the file is fine).

    Types and keys are checked first, all at once; the rules between fields (known indicators, directions,
    points summing to the base, ...) are checked, all at once, on a file whose types are right; the content
    hash last. An unsealed file is not a problem (it loads, with its hash computed).
    """
    try:
        data = Formula.parse_text(text, fmt)
        _check_version(data)
        _check_finite(data, "")
    except FormulaError as err:
        return [str(err)]
    try:
        formula = Formula.model_validate(data)
    except ValidationError as err:
        return _validation_lines(err)
    except IndicatorError as err:
        return [f"stage_rule: {str(err).removeprefix('stage rule: ')}"]
    except FormulaError as err:
        return list(getattr(err, "problems", [str(err)]))
    stored = formula.provenance.content_hash
    if stored and stored != formula.compute_hash():
        return [f"provenance.content_hash: is {stored[:12]}… but the content hashes to {formula.compute_hash()[:12]}…"
                f" (edited after it was sealed; re-seal with `{RESEAL.format(source=source)}`)"]
    return []


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a formula file, generated from the pydantic models.

    It checks keys, types, ranges and the closed vocabularies (curve types, missing policies, guideline
    groups); the rules between fields (points summing to the base, known indicator ids, curve directions,
    the content hash) are checked on load and by ``innopoints formula check``.
    """
    schema = Formula.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = f"innopoints points formula, schema {SCHEMA_VERSION}"
    return schema


# ------------------------------------------------------------------------------------------ helpers


def _check_local(local: list[dict[str, Any]]) -> None:
    catalog = {ind.id for ind in list_indicators()}
    seen: set[str] = set()
    for i, spec in enumerate(local):
        ident = spec.get("id")
        if not isinstance(ident, str) or not ident:
            raise FormulaError(f"local_indicators[{i}].id: required (a non-empty string)")
        if ident in catalog:
            raise FormulaError(
                f"local_indicators[{i}].id: {ident!r} is already in the catalog; use another id"
            )
        if ident in seen:
            raise FormulaError(f"local_indicators[{i}].id: duplicate local indicator {ident!r}")
        seen.add(ident)


def _curve_direction_problems(path: str, curve: LinearCap | Percentile | Bins, direction: int,
                              indicator_id: str, from_catalog: bool) -> list[str]:
    """A curve must rise with the scoring direction (bins may opt out with ``monotone: false``)."""
    source = f"the catalog's policy direction of {indicator_id!r}" if from_catalog else "the item's direction"
    if isinstance(curve, Bins):
        if curve.monotone and not curve.is_monotone(direction):
            trend = "non-decreasing" if direction == 1 else "non-increasing"
            return [f"{path}.levels: must be {trend} because the direction is {direction:+d} ({source}); got "
                    f"{curve.levels}. Set \"monotone\": false on the curve to allow it"]
    elif not curve.is_monotone(direction):
        hint = '; set "direction" on the item to score against the policy direction' if from_catalog else ""
        return [f"{path}: the {curve.type} curve runs in direction {-direction:+d} but the direction is "
                f"{direction:+d} ({source}){hint}"]
    return []


def _check_output_columns(formula: Formula) -> None:
    """Output column names must be unique (a local id such as ``base`` would shadow ``points_base``)."""
    names = ["stage", "points", "points_base", "points_bonus"]
    paths = ["", "", "", ""]
    for i, item in enumerate(formula.indicators):
        names.append(f"points_{item.id}")
        paths.append(f"indicators[{i}].id")
    for i, item in enumerate(formula.bonus):
        names.append(f"points_bonus_{item.id}")
        paths.append(f"bonus[{i}].id")
    seen: set[str] = set()
    for name, path in zip(names, paths, strict=True):
        if name in seen:
            raise FormulaError(f"{path}: its score column {name!r} collides with another output column")
        seen.add(name)


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise FormulaError(f"format {fmt!r} is not one of {list(FORMATS)}")


def _canonical_json(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False, sort_keys=False) + "\n"


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise FormulaError(f"formula: key {key!r} appears twice in the same JSON object")
        out[key] = value
    return out


def _check_finite(value: Any, path: str) -> None:
    """NaN and infinity are refused anywhere in the file, including free-form parts (metrics, locals)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise FormulaError(f"{path or 'formula'}: must be a finite number, got {value!r}")
    if isinstance(value, dict):
        for key, item in value.items():
            _check_finite(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_finite(item, f"{path}[{i}]")


def _loc_path(loc: tuple[Any, ...]) -> str:
    """``('indicators', 3, 'curve', 'bins', 'edges')`` → ``indicators[3].curve.edges``."""
    parts: list[str] = []
    previous: Any = None
    for part in loc:
        if isinstance(previous, str) and previous in _TAGS and part in _TAGS[previous]:
            # pydantic puts the discriminator's value into the path; people never wrote that key.
            previous = part
            continue
        if isinstance(part, int):
            parts.append(f"[{part}]")
        else:
            parts.append(f".{part}" if parts else str(part))
        previous = part
    return "".join(parts) or "formula"


_MESSAGES = {
    "extra_forbidden": "unknown key (not part of formula schema 1.0)",
    "missing": "required key is missing",
}


def _validation_lines(err: ValidationError) -> list[str]:
    """One ``path: message`` line per pydantic error."""
    return [f"{_loc_path(e['loc'])}: {_MESSAGES.get(e['type'], e['msg']).removeprefix('Value error, ')}"
            for e in err.errors()]


def _format_validation_error(err: ValidationError) -> str:
    """The pydantic errors in one line, ``path: message``, at most five; no traceback for people."""
    lines = _validation_lines(err)
    extra = f" (and {len(lines) - 5} more)" if len(lines) > 5 else ""
    return "; ".join(lines[:5]) + extra


def stage_codes(indicators: pd.DataFrame, rule: StageRule | None = None) -> np.ndarray:
    """0/1/2 per row for start-up/growth/stable (:data:`STAGES` order); a missing or unknown stage is the
    user's mistake and raises :class:`FormulaError` naming an example row, never a code that indexes a stage.

    With ``rule``, rows built under another rule that carry ``rule``'s own stages (the column
    :attr:`StageRule.column`) are read in those."""
    if "stage" not in indicators.columns:
        raise FormulaError(f"indicator table: column 'stage' is missing (values {list(STAGES)})")
    own = rule.column if rule is not None else None
    stage = indicators[own] if own in indicators.columns else indicators["stage"]
    known = pd.Index(list(STAGES))
    if isinstance(stage.dtype, pd.CategoricalDtype):
        # Map the few categories, not the many rows (a stage column is usually categorical).
        by_category = np.append(known.get_indexer(stage.cat.categories), -1)
        codes = by_category[stage.cat.codes.to_numpy()]  # code −1 (missing) picks the appended −1
    else:
        # Three vectorised comparisons beat hashing half a million strings one by one.
        codes = np.full(len(stage), -1, dtype="int64")
        for code, name in enumerate(STAGES):
            codes[stage.eq(name).to_numpy(dtype=bool, na_value=False)] = code
    bad = codes < 0
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise FormulaError(
            f"indicator table: column 'stage' has {int(bad.sum())} row(s) outside {list(STAGES)}, "
            f"e.g. {stage.iloc[first]!r} at index {indicators.index[first]!r}"
        )
    return codes.astype("int64")


def _float_column(indicators: pd.DataFrame, column: str) -> np.ndarray:
    try:
        return indicators[column].to_numpy(dtype="float64", na_value=np.nan)
    except (TypeError, ValueError):
        raise FormulaError(
            f"indicator table: column {column!r} must be numeric (NaN for missing), got dtype "
            f"{indicators[column].dtype}, e.g. {indicators[column].iloc[0]!r}"
        ) from None


def round_points_preserving_total(points: Sequence[float], total: float, decimals: int = 2) -> list[float]:
    """Round ``points`` to ``decimals`` places so they still sum to ``total`` (largest-remainder method).

    Each value is floored at the precision; the units still missing go, one each, to the values with the
    largest remainders (ties to the earlier position, so the result is deterministic).
    """
    unit = 10**decimals
    scaled = np.round(np.asarray(points, dtype="float64") * unit, 6)  # absorb float noise such as 28.999…
    if not np.all(np.isfinite(scaled)) or np.any(scaled < 0):
        raise FormulaError(f"points to round must be finite and non-negative, got {list(points)}")
    target = round(total * unit)
    if abs(total * unit - target) > 1e-6:
        raise FormulaError(f"total {total!r} has more than {decimals} decimals")
    floors = np.floor(scaled)
    short = int(target - floors.sum())
    if not 0 <= short <= len(floors):
        raise FormulaError(
            f"points sum to {float(np.sum(points))!r}, too far from the total {total!r} to round"
        )
    order = np.argsort(-(scaled - floors), kind="stable")
    floors[order[:short]] += 1
    return [round(float(v) / unit, decimals) for v in floors]


# --------------------------------------------------------------------------------------- reporting


def weights_table(formula: Formula) -> pd.DataFrame:
    """The human table of a formula: one row per item and stage (indicators first, then bonus items).

    ``official_group`` (guideline 1.0) and ``category`` (guideline 2.0) are the item's own, else the
    catalog's; ``*_zh`` are their Chinese names.
    """
    known = _known_indicators(formula.local_indicators)
    rows = []
    items = [("indicator", item.id, item.id, item) for item in formula.indicators]
    items += [("bonus", b.id, b.indicator, b) for b in formula.bonus]
    for kind, item_id, indicator_id, item in items:
        meta = known[indicator_id]
        is_indicator = isinstance(item, IndicatorItem)
        official_group = item.official_group or meta["official_group"]
        category = item.category or meta["category"]
        for stage in STAGES:
            rows.append({
                "kind": kind,
                "id": item_id,
                "indicator": indicator_id,
                "official_no": meta["official_no"],
                "group": (item.group if is_indicator else None) or meta["group"],
                "official_group": official_group,
                "official_group_zh": OFFICIAL_GROUPS.get(official_group or "", ""),
                "category": category,
                "category_zh": CATEGORIES.get(category or "", ""),
                "name_zh": meta["name_zh"],
                "name_en": meta["name_en"],
                "stage": stage,
                "stage_zh": STAGE_NAMES_ZH[stage],
                "max_points": getattr(item.points, stage) if is_indicator else item.points,
                "curve": item.curve.type,
                "reference": item.curve.describe(),
                "missing": item.missing.describe(stage),
                "direction": (item.direction if is_indicator else None) or meta["direction"],
                "policy_direction": meta["direction"],
            })
    table = pd.DataFrame(rows)
    table["official_no"] = table["official_no"].astype("Int64")
    return table


def points_table(formula: Formula) -> pd.DataFrame:
    """The formula as a points table a loan officer can apply by hand: per core indicator and stage, one row
    per band (or anchor) of its curve with the fraction and the points it scores, and one row for a missing
    value. ``rule`` says how a row reads (:data:`models.formula.curves.ROW_RULES`); ``points`` = fraction × the
    indicator's max points in the stage. Bonus items are left out (their points do not depend on the stage
    and are capped together: see the weights table)."""
    known = _known_indicators(formula.local_indicators)
    rows = []
    for item in formula.indicators:
        meta = known[item.id]
        curve_rows = item.curve.rows()
        for code, stage in enumerate(STAGES):
            top = getattr(item.points, stage)
            head = {"id": item.id, "name_zh": meta["name_zh"], "name_en": meta["name_en"], "unit": meta["unit"],
                    "direction": item.direction or meta["direction"], "policy_direction": meta["direction"],
                    "stage": stage, "stage_zh": STAGE_NAMES_ZH[stage], "max_points": top}
            for n, (rule, low, high, fraction) in enumerate(curve_rows, start=1):
                rows.append({**head, "row": n, "rule": rule, "from": low, "to": high, "fraction": fraction,
                             "points": round(fraction * top, 4)})
            missing = float(item.missing.fill(np.array([code]))[0])
            rows.append({**head, "row": len(curve_rows) + 1, "rule": "missing", "from": None, "to": None,
                         "fraction": missing, "points": round(missing * top, 4)})
    columns = ["id", "name_zh", "name_en", "unit", "direction", "policy_direction", "stage", "stage_zh", "max_points",
               "row", "rule", "from", "to", "fraction", "points"]
    return pd.DataFrame(rows, columns=columns)
