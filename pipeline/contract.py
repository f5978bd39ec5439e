"""The input data contract (README, "The data contract"): tables, columns, vocabularies, and their validation.

:func:`validate_tables` checks the three tables as read (raw dtypes) and returns a
:class:`ValidationReport`; it never raises on bad data. :func:`require_valid` raises :class:`DataError`
with a one-line summary instead, and :func:`coerce_tables` gives canonical dtypes after a clean check.

Rules: required columns present (extra columns only warn: localities add their own); types; keys unique
and non-null; no null anywhere in ``firms`` and ``loans`` (in ``firm_years`` only the key: missing is not
zero); ``firm_id`` of ``firm_years`` and ``loans`` known in ``firms``; provinces and guarantees from
their vocabularies (a province also in Chinese or another common spelling, mapped to the pinyin by
:func:`canonical_province`); plausible ranges; no firm-year before the firm's founding. Warnings: columns
more than 30% missing, net assets off the balance-sheet identity, loans whose firm has no earlier firm-year, and
defaults reported while the outcome window is still open.

Accepted spellings of a type (CSV gives text, other tools give floats for integers):
- text (ids and codes): text dtypes only, never numbers, whose leading zeros would already be lost;
  blank text counts as null;
- integers (``founded_year``, ``year``, ``term_months``): integer dtypes, or floats/text holding whole
  numbers: 2021.0 is 2021 (a CSV integer column with one blank cell is read as float), 2021.5 is an error;
- booleans: bool dtypes, 0/1, or the text true/false/0/1 in any letter case;
- numbers: numeric dtypes or numeric text, finite; booleans are not numbers;
- dates: datetime dtypes, date objects, or ISO 8601 text (YYYY-MM-DD), unambiguous unlike 03/04/2021.
A value that does not parse is reported once, as a type error, and is then left out of the other rules.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pyarrow as pa_arrow
import pyarrow.compute as pa_compute

from innopoints.features.errors import DataError
from innopoints.features.provinces import PROVINCE_NAMES_ZH

# The 31 provincial-level units of mainland China (pinyin), the only allowed `firms.province` values.
PROVINCES: tuple[str, ...] = tuple(PROVINCE_NAMES_ZH)
_REGION_SUFFIX = {"内蒙古": "自治区", "广西": "壮族自治区", "西藏": "自治区", "宁夏": "回族自治区",
                  "新疆": "维吾尔自治区"}
_MUNICIPALITIES = ("北京", "天津", "上海", "重庆")
# Other pinyin spellings in use for two units.
_PINYIN_VARIANTS = {"Nei Mongol": "Inner Mongolia", "Neimenggu": "Inner Mongolia", "Xizang": "Tibet"}
_ENGLISH_SUFFIXES = (" province", " sheng", " municipality", " shi", " autonomous region", " zizhiqu")


def _latin_key(text: str) -> str:
    """Letter case, spaces, hyphens and a trailing "Province" / "Sheng" / ... do not matter."""
    key = " ".join(text.lower().split())
    for suffix in _ENGLISH_SUFFIXES:
        key = key.removesuffix(suffix)
    return "".join(ch for ch in key if ch not in " -_'’")


def _province_spellings() -> dict[str, str]:
    """Every accepted spelling (Chinese as written, pinyin by :func:`_latin_key`) → the contract's pinyin."""
    out: dict[str, str] = {}
    for pinyin, zh in PROVINCE_NAMES_ZH.items():
        full = zh + (_REGION_SUFFIX.get(zh) or ("市" if zh in _MUNICIPALITIES else "省"))
        for spelling in (zh, full, zh + "省", zh + "市", zh + "自治区"):
            out[spelling] = pinyin
        out[_latin_key(pinyin)] = pinyin
    for variant, pinyin in _PINYIN_VARIANTS.items():
        out[_latin_key(variant)] = pinyin
    return out


_PROVINCE_SPELLINGS = _province_spellings()
PROVINCE_RULE = (
    f"must be one of the {len(PROVINCES)} provincial units, in pinyin (any letter case) or Chinese (省/市/自治区 "
    "optional): " + ", ".join(f"{p} {zh}" for p, zh in PROVINCE_NAMES_ZH.items())
)


def canonical_province(name: str) -> str | None:
    """The contract's pinyin for a province as people write it (广东, 广东省, Guangdong, guangdong); None if unknown."""
    text = str(name).strip()
    return _PROVINCE_SPELLINGS.get(text) or _PROVINCE_SPELLINGS.get(_latin_key(text))


GUARANTEES: tuple[str, ...] = ("credit", "guarantee_fund", "ip_pledge")

TABLES: tuple[str, ...] = ("firms", "firm_years", "loans")

FIRM_COLUMNS: tuple[str, ...] = ("firm_id", "province", "industry", "founded_year", "is_sme")

# Value columns of `firm_years` (besides the key `firm_id, year`); money in CNY 10k. Null means "not
# delivered by the data-sharing source", never zero.
MONEY_COLUMNS: tuple[str, ...] = (
    "revenue", "net_profit", "net_assets", "total_assets", "total_liabilities", "rd_expense",
    "rd_tax_deduction", "tech_contract_turnover", "high_tech_revenue", "vc_raised",
)
COUNT_COLUMNS: tuple[str, ...] = (
    "employees", "st_staff", "postgrad_staff", "new_graduates_hired", "invention_patent_apps",
    "invention_patents_granted", "pct_apps", "utility_models", "software_copyrights", "rd_platforms",
    "st_awards",
)
# Money columns that may legitimately be negative (losses, negative equity).
SIGNED_COLUMNS: tuple[str, ...] = ("net_profit", "net_assets")

FIRM_YEAR_COLUMNS: tuple[str, ...] = (
    "firm_id", "year", "revenue", "net_profit", "net_assets", "total_assets", "total_liabilities",
    "rd_expense", "rd_tax_deduction", "employees", "st_staff", "postgrad_staff", "new_graduates_hired",
    "invention_patent_apps", "invention_patents_granted", "pct_apps", "utility_models",
    "software_copyrights", "tech_contract_turnover", "high_tech_revenue", "vc_raised", "rd_platforms",
    "st_awards",
)

LOAN_COLUMNS: tuple[str, ...] = (
    "loan_id", "firm_id", "bank", "origination_date", "amount", "term_months", "guarantee", "defaulted",
    "outcome_observed",
)

COLUMNS: dict[str, tuple[str, ...]] = {
    "firms": FIRM_COLUMNS,
    "firm_years": FIRM_YEAR_COLUMNS,
    "loans": LOAN_COLUMNS,
}

# Columns read as text from CSV, so that an id such as "000123" never becomes the number 123.
STRING_COLUMNS: tuple[str, ...] = ("firm_id", "loan_id", "province", "industry", "bank", "guarantee")
INTEGER_COLUMNS: tuple[str, ...] = ("founded_year", "year", "term_months")
BOOLEAN_COLUMNS: tuple[str, ...] = ("is_sme", "defaulted", "outcome_observed")
DATE_COLUMNS: tuple[str, ...] = ("origination_date",)
NUMERIC_COLUMNS: tuple[str, ...] = (*MONEY_COLUMNS, *COUNT_COLUMNS, "amount")

# Columns that identify a row; examples in a report show these plus the offending column, never whole rows.
KEY_COLUMNS: dict[str, tuple[str, ...]] = {
    "firms": ("firm_id",),
    "firm_years": ("firm_id", "year"),
    "loans": ("loan_id",),
}

FIRST_FOUNDED_YEAR = 1949
FIRST_DATA_YEAR = 1990
TERM_MONTHS_RANGE = (1, 360)
MISSING_SHARE_WARNING = 0.30
# Tolerance of the balance-sheet identity net_assets = total_assets - total_liabilities (warning only).
BALANCE_TOLERANCE = 0.05
N_EXAMPLES = 3


# ---------------------------------------------------------------------------------------------------------
# Findings and the report
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """One broken rule: where, which rule, how many rows, and a few example rows (key columns only).

    `column` is None for a table-level finding; `count` is None when the finding is not about rows
    (a missing or unexpected column).
    """

    table: str
    column: str | None
    rule: str
    count: int | None
    examples: list[dict[str, Any]] = field(default_factory=list)
    severity: str = "error"

    @property
    def where(self) -> str:
        return self.table if self.column is None else f"{self.table}.{self.column}"

    def render(self) -> str:
        """One line: `firm_years.revenue: must be >= 0 — 3 rows, e.g. {firm_id: F1, year: 2021, ...}`."""
        text = f"{self.where}: {self.rule}"
        if self.count is not None:
            text += f" — {_n_rows(self.count)}"
        if self.examples:
            text += ", e.g. " + ", ".join(
                "{" + ", ".join(f"{k}: {_fmt(v)}" for k, v in ex.items()) + "}" for ex in self.examples
            )
        return text

    def render_short(self) -> str:
        """Compact form with one example: `... must be >= 0 (3 rows, e.g. firm_id=F1 year=2021 ...)`."""
        parts = [] if self.count is None else [_n_rows(self.count)]
        if self.examples:
            parts.append("e.g. " + " ".join(f"{k}={_fmt(v)}" for k, v in self.examples[0].items()))
        return f"{self.where}: {self.rule}" + (f" ({', '.join(parts)})" if parts else "")

    def as_dict(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "column": self.column,
            "rule": self.rule,
            "count": self.count,
            "examples": [dict(ex) for ex in self.examples],
            "severity": self.severity,
        }


@dataclass
class ValidationReport:
    """The outcome of :func:`validate_tables`: errors break the contract, warnings do not."""

    errors: list[Finding] = field(default_factory=list)
    warnings: list[Finding] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        sizes = ", ".join(f"{t} {_n_rows(n)}" for t, n in self.rows.items())
        verdict = "ok" if self.ok else "violated"
        counts = f"{_plural(len(self.errors), 'error')}, {_plural(len(self.warnings), 'warning')}"
        return f"data contract {verdict}: {counts}" + (f" ({sizes})" if sizes else "")

    def render(self) -> str:
        """A summary line, then one line per finding (errors first)."""
        lines = [self.summary()]
        lines += [f"error: {f.render()}" for f in self.errors]
        lines += [f"warning: {f.render()}" for f in self.warnings]
        return "\n".join(lines)

    def render_short(self) -> str:
        """One line for an exception message: the number of errors and the first one."""
        if self.ok:
            return self.summary()
        return (
            f"data contract violated: {_plural(len(self.errors), 'error')}, first: "
            f"{self.errors[0].render_short()}; run innopoints validate for the full report"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "rows": dict(self.rows),
            "errors": [f.as_dict() for f in self.errors],
            "warnings": [f.as_dict() for f in self.warnings],
        }


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def _n_rows(n: int) -> str:
    return _plural(n, "row")


def _fmt(value: Any) -> str:
    if value is None:
        return "null"
    if value == "":
        return '""'
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _native(value: Any) -> Any:
    """A plain, JSON-friendly Python value for an example cell (null → None, dates → ISO text)."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat() if value == value.normalize() else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _examples(
    raw: pd.DataFrame, positions: np.ndarray, columns: Sequence[str], extra: Mapping[str, pd.Series] | None
) -> list[dict[str, Any]]:
    """Up to N_EXAMPLES rows of `raw` at `positions`, showing only `columns` (and `extra` context)."""
    take = positions[:N_EXAMPLES]
    shown = [c for c in dict.fromkeys(columns) if c in raw.columns]
    rows = raw.iloc[take]
    out = []
    for i, pos in enumerate(take):
        ex = {c: _native(rows[c].iloc[i]) for c in shown}
        for name, series in (extra or {}).items():
            ex[name] = _native(series.iloc[pos])
        out.append(ex)
    return out


def _finding(
    table: str,
    column: str | None,
    rule: str,
    raw: pd.DataFrame,
    positions: np.ndarray,
    *,
    context: Sequence[str] = (),
    extra: Mapping[str, pd.Series] | None = None,
    severity: str = "error",
) -> Finding:
    """A row-level finding: every failing row counted, a few shown with key columns and the culprit."""
    positions = np.asarray(positions, dtype=np.int64)
    shown = [*KEY_COLUMNS[table], *([column] if column else []), *context]
    examples = _examples(raw, positions, shown, extra)
    return Finding(table, column, rule, int(len(positions)), examples, severity)


def _where(mask: pd.Series | np.ndarray) -> np.ndarray:
    return np.flatnonzero(np.asarray(mask, dtype=bool))


# ---------------------------------------------------------------------------------------------------------
# Parsing: each column kind to one canonical dtype, with the rows that could not be parsed
# ---------------------------------------------------------------------------------------------------------
# The accepted spellings of each kind are listed in the module docstring.

TYPE_RULES: dict[str, str] = {
    "string": "must be a string",
    "province": "must be a string",
    "integer": "must be an integer",
    "number": "must be a number",
    "boolean": "must be a boolean (true/false or 0/1)",
    "date": "must be a date (YYYY-MM-DD)",
}

_BOOL_TOKENS = {"true": True, "false": False, "1": True, "0": False, "1.0": True, "0.0": False}


def _kind(column: str) -> str:
    if column == "province":
        return "province"
    if column in STRING_COLUMNS:
        return "string"
    if column in INTEGER_COLUMNS:
        return "integer"
    if column in BOOLEAN_COLUMNS:
        return "boolean"
    if column in DATE_COLUMNS:
        return "date"
    return "number"


def _is_text(dtype: Any) -> bool:
    return isinstance(dtype, pd.StringDtype) or dtype == np.dtype(object)


def _parse_string(s: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Text as pandas ``str``; blank text counts as null (an id of "" or "  " identifies nothing)."""
    if isinstance(s.dtype, pd.CategoricalDtype):
        s = s.astype(object)
    if isinstance(s.dtype, pd.StringDtype):
        text, bad = s.astype("str"), np.zeros(len(s), dtype=bool)
    elif s.dtype == np.dtype(object):
        if pd.api.types.infer_dtype(s, skipna=True) in ("string", "empty"):
            text, bad = s.astype("str"), np.zeros(len(s), dtype=bool)
        else:
            # Only a mixed in-memory object column gets here; finding its culprits needs a per-cell look.
            bad = (s.notna() & ~s.map(lambda v: isinstance(v, str))).to_numpy()
            text = s.where(~bad).astype("str")
    else:
        return pd.Series(np.nan, index=s.index, dtype="str"), s.notna().to_numpy()
    return text.where(text.str.strip() != ""), bad


def _parse_province(s: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Text, with every accepted spelling of a province replaced by its pinyin; unknown names stay as written
    (the vocabulary rule then reports them). One look-up per distinct name."""
    text, bad = _parse_string(s)
    codes, names = pd.factorize(text)
    if not len(names):
        return text, bad
    mapped = np.array([canonical_province(n) or n for n in names], dtype=object)
    values = np.where(codes >= 0, mapped[np.maximum(codes, 0)], None)
    return pd.Series(values, index=s.index, dtype="str"), bad


def _parse_number(s: pd.Series) -> tuple[pd.Series, np.ndarray]:
    if pd.api.types.is_bool_dtype(s.dtype):
        num = pd.Series(np.nan, index=s.index, dtype="float64")
    elif pd.api.types.is_numeric_dtype(s.dtype):
        num = s.astype("float64")
    elif _is_text(s.dtype):
        num = pd.to_numeric(s, errors="coerce").astype("float64")
    else:
        num = pd.Series(np.nan, index=s.index, dtype="float64")
    # Unparsable text, a wrong dtype and +-inf all end up here: present in the input, not a finite number.
    bad = (s.notna() & ~np.isfinite(num)).to_numpy()
    return num.where(~bad), bad


def _parse_integer(s: pd.Series) -> tuple[pd.Series, np.ndarray]:
    num, bad = _parse_number(s)
    bad = bad | (num.notna() & (num % 1 != 0)).to_numpy()
    return num.where(~bad), bad


def _parse_boolean(s: pd.Series) -> tuple[pd.Series, np.ndarray]:
    if pd.api.types.is_bool_dtype(s.dtype):
        return s.astype("boolean"), np.zeros(len(s), dtype=bool)
    if pd.api.types.is_numeric_dtype(s.dtype):
        mapped = s.astype("float64").map({0.0: False, 1.0: True})
    elif _is_text(s.dtype):
        mapped = s.astype("str").str.strip().str.lower().map(_BOOL_TOKENS)
    else:
        mapped = pd.Series(np.nan, index=s.index, dtype=object)
    bad = (s.notna() & mapped.isna()).to_numpy()
    return mapped.astype("boolean"), bad


def _parse_date(s: pd.Series) -> tuple[pd.Series, np.ndarray]:
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        parsed = s.dt.tz_localize(None)  # keep the local calendar date the source recorded
    elif pd.api.types.is_datetime64_dtype(s.dtype):
        parsed = s
    elif _is_text(s.dtype):
        parsed = pd.to_datetime(s, format="ISO8601", errors="coerce")
    else:
        parsed = pd.Series(pd.NaT, index=s.index, dtype="datetime64[us]")
    # Microseconds, pandas 3's default unit: wide enough that no parsable date overflows.
    parsed = parsed.astype("datetime64[us]")
    return parsed, (s.notna() & parsed.isna()).to_numpy()


_PARSERS = {
    "string": _parse_string,
    "province": _parse_province,
    "integer": _parse_integer,
    "number": _parse_number,
    "boolean": _parse_boolean,
    "date": _parse_date,
}


# ---------------------------------------------------------------------------------------------------------
# Column rules (pandera) and the checks across columns and tables (pandas)
# ---------------------------------------------------------------------------------------------------------


def _between(lo: int, hi: int) -> str:
    return f"must be between {lo} and {hi}"


def _column_rules(column: str, current_year: int) -> list[tuple[pa.Check, str]]:
    """Value rules of one column as (pandera check, rule text); nulls are left to `nullable`."""
    if column == "province":
        return [(pa.Check.isin(PROVINCES), PROVINCE_RULE)]
    if column == "guarantee":
        return [(pa.Check.isin(GUARANTEES), "must be one of " + ", ".join(GUARANTEES))]
    if column == "founded_year":
        lo, hi = FIRST_FOUNDED_YEAR, current_year
        return [(pa.Check.in_range(lo, hi), _between(lo, hi))]
    if column == "year":
        hi = current_year + 1
        return [(pa.Check.in_range(FIRST_DATA_YEAR, hi), _between(FIRST_DATA_YEAR, hi))]
    if column == "term_months":
        return [(pa.Check.in_range(*TERM_MONTHS_RANGE), _between(*TERM_MONTHS_RANGE))]
    if column == "amount":
        return [(pa.Check.gt(0), "must be > 0")]
    if column == "origination_date":
        lo, hi = FIRST_DATA_YEAR, current_year + 1
        check = pa.Check(lambda s: s.dt.year.between(lo, hi), name="origination_year")
        return [(check, f"year must be between {lo} and {hi}")]
    rules: list[tuple[pa.Check, str]] = []
    if column in COUNT_COLUMNS or (column in MONEY_COLUMNS and column not in SIGNED_COLUMNS):
        rules.append((pa.Check.ge(0), "must be >= 0"))
    if column in COUNT_COLUMNS:
        rules.append((pa.Check(lambda s: s % 1 == 0, name="whole_number"), "must be a whole number"))
    return rules


UNIQUE_RULE = "must be unique"
NULL_RULE = "must not be null"
FIRM_YEAR_UNIQUE_RULE = "must be unique within each firm_id"


def _pandera_findings(
    table: str, raw: pd.DataFrame, parsed: pd.DataFrame, type_bad: dict[str, np.ndarray], current_year: int
) -> list[Finding]:
    """Nulls, uniqueness, vocabularies and ranges of single columns, checked by one pandera schema."""
    rules = {c: _column_rules(c, current_year) for c in parsed.columns}
    keys = KEY_COLUMNS[table]
    columns = {
        c: pa.Column(
            None,
            checks=[check for check, _ in rules[c]],
            # "Missing is not zero": only the value columns of firm_years may be null.
            nullable=table == "firm_years" and c not in keys,
            unique=len(keys) == 1 and c == keys[0],
            report_duplicates="all",
        )
        for c in parsed.columns
    }
    composite = list(keys) if len(keys) > 1 and all(k in parsed.columns for k in keys) else None
    schema = pa.DataFrameSchema(columns, unique=composite, report_duplicates="all")
    try:
        schema.validate(parsed, lazy=True)
        return []
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
    cases = cases[cases["index"].notna()]

    found: dict[tuple[str, str], np.ndarray] = {}
    order: dict[tuple[str, str], tuple[int, int]] = {}
    position = {c: i for i, c in enumerate(parsed.columns)}
    for (column, check, number), group in cases.groupby(["column", "check", "check_number"], dropna=False):
        idx = np.unique(group["index"].to_numpy(dtype=np.int64))
        if check == "multiple_fields_uniqueness":
            column, rule, rank = keys[-1], FIRM_YEAR_UNIQUE_RULE, 1
        elif check == "not_nullable":
            rule, rank = NULL_RULE, 0
        elif check == "field_uniqueness":
            rule, rank = UNIQUE_RULE, 1
        else:
            rule, rank = rules[column][int(number)][1], 2 + int(number)
        # A cell that failed to parse is reported once, as a type error, not again as null or out of range.
        idx = np.setdiff1d(idx, type_bad.get(column, np.empty(0, dtype=np.int64)))
        if rank == 1:  # rows with a null key are reported as nulls, not as duplicates
            idx = idx[parsed.loc[idx, list(keys)].notna().all(axis=1).to_numpy()]
        key = (column, rule)
        found[key] = np.union1d(found.get(key, np.empty(0, dtype=np.int64)), idx)
        order[key] = (position[column], rank)
    return [
        _finding(table, column, rule, raw, found[(column, rule)])
        for column, rule in sorted(found, key=order.__getitem__)
        if len(found[(column, rule)])
    ]


def _row_rules(table: str, raw: pd.DataFrame, parsed: pd.DataFrame) -> list[Finding]:
    """Rules across columns of one row: staff counts within the headcount."""
    if table != "firm_years" or "employees" not in parsed.columns:
        return []
    out = []
    for column in ("st_staff", "postgrad_staff"):
        if column in parsed.columns:
            idx = _where(parsed[column] > parsed["employees"])
            if len(idx):
                out.append(_finding(table, column, "must be <= employees", raw, idx, context=["employees"]))
    return out


def _warnings(table: str, raw: pd.DataFrame, parsed: pd.DataFrame) -> list[Finding]:
    """Signs of trouble that do not break the contract."""
    out = []
    if table == "firm_years":
        for column in parsed.columns:
            if column in KEY_COLUMNS[table]:
                continue
            n_missing = int(raw[column].isna().sum())
            if n_missing > MISSING_SHARE_WARNING * len(raw):
                rule = f"more than {MISSING_SHARE_WARNING:.0%} missing ({n_missing / len(raw):.1%})"
                out.append(Finding(table, column, rule, n_missing, [], "warning"))
        if {"net_assets", "total_assets", "total_liabilities"} <= set(parsed.columns):
            gap = (parsed["net_assets"] - (parsed["total_assets"] - parsed["total_liabilities"])).abs()
            # Relative to the balance sheet, with a floor of 1 (CNY 10k) so rounding in tiny firms passes.
            tolerance = np.maximum(BALANCE_TOLERANCE * parsed["total_assets"].abs(), 1.0)
            idx = _where(gap > tolerance)
            if len(idx):
                rule = (
                    "differs from total_assets - total_liabilities by more than "
                    f"{BALANCE_TOLERANCE:.0%} of total_assets"
                )
                out.append(
                    _finding(
                        table, "net_assets", rule, raw, idx,
                        context=["total_assets", "total_liabilities"], severity="warning",
                    )
                )
    if table == "loans" and {"defaulted", "outcome_observed"} <= set(parsed.columns):
        idx = _where(parsed["defaulted"].fillna(False) & ~parsed["outcome_observed"].fillna(True))
        if len(idx):
            out.append(
                _finding(
                    table, "defaulted", "is true while outcome_observed is false", raw, idx,
                    context=["outcome_observed"], severity="warning",
                )
            )
    return out


# ---------------------------------------------------------------------------------------------------------
# One table, then the rules across tables
# ---------------------------------------------------------------------------------------------------------


@dataclass
class _Checked:
    """A table after its own checks: raw rows (positional index), parsed contract columns, type failures."""

    raw: pd.DataFrame
    parsed: pd.DataFrame
    type_bad: dict[str, np.ndarray]

    def usable(self, *columns: str) -> bool:
        """True when every column is present and parsed without type errors (safe to join on)."""
        return all(c in self.parsed.columns and not len(self.type_bad.get(c, ())) for c in columns)


def _check_table(
    table: str, frame: pd.DataFrame, current_year: int
) -> tuple[list[Finding], list[Finding], _Checked]:
    errors: list[Finding] = []
    warnings: list[Finding] = []
    raw = frame.reset_index(drop=True)  # positions double as row numbers for the examples
    names = pd.Index(raw.columns)
    doubled = set(names[names.duplicated()])
    for column in sorted(doubled, key=str):
        errors.append(Finding(table, str(column), "column name appears more than once", None))
    for column in COLUMNS[table]:
        if column not in names:
            errors.append(Finding(table, column, "required column is missing", None))
    for column in names.unique():
        if column not in COLUMNS[table] and column not in doubled:
            rule = "unexpected column (kept, not checked)"
            warnings.append(Finding(table, str(column), rule, None, [], "warning"))

    usable = [c for c in COLUMNS[table] if c in names and c not in doubled]
    parsed_columns: dict[str, pd.Series] = {}
    type_bad: dict[str, np.ndarray] = {}
    for column in usable:
        kind = _kind(column)
        parsed_columns[column], bad = _PARSERS[kind](raw[column])
        if bad.any():
            type_bad[column] = _where(bad)
            errors.append(_finding(table, column, TYPE_RULES[kind], raw, type_bad[column]))
    parsed = pd.DataFrame(parsed_columns, index=raw.index)

    errors += _pandera_findings(table, raw, parsed, type_bad, current_year)
    errors += _row_rules(table, raw, parsed)
    warnings += _warnings(table, raw, parsed)
    return errors, warnings, _Checked(raw, parsed, type_bad)


def _lookup(values: pd.Series, keys: pd.Series) -> np.ndarray:
    """Position of each value in `keys` (unique, non-null), -1 where absent or null.

    Hashed by Arrow: pandas' `isin` and `map` on `str` columns build the lookup one scalar at a time, which
    takes minutes at national scale (3.1M firm-years against 520k firms).
    """
    left = pa_arrow.array(values, from_pandas=True)
    right = pa_arrow.array(keys, from_pandas=True).cast(left.type)
    return pa_compute.index_in(left, value_set=right).fill_null(-1).to_numpy(zero_copy_only=False)


def _take(values: np.ndarray, code: np.ndarray) -> np.ndarray:
    """`values[code]` as floats, NaN where the code is -1 (no match)."""
    out = np.full(len(code), np.nan)
    found = code >= 0
    out[found] = values[code[found]]
    return out


def _cross_table(checked: dict[str, _Checked]) -> tuple[list[Finding], list[Finding]]:
    """Referential integrity, years against founding, and loans that will lack history."""
    errors: list[Finding] = []
    warnings: list[Finding] = []
    firms = checked.get("firms")
    if firms is None or not firms.usable("firm_id"):
        return errors, warnings
    firm_keys = firms.parsed["firm_id"].dropna().drop_duplicates()
    codes: dict[str, np.ndarray] = {}  # per child table: row -> position in firm_keys, -1 if unknown
    for table in ("firm_years", "loans"):
        child = checked.get(table)
        if child is not None and child.usable("firm_id"):
            ids = child.parsed["firm_id"]
            codes[table] = _lookup(ids, firm_keys)
            idx = _where(ids.notna().to_numpy() & (codes[table] < 0))
            if len(idx):
                errors.append(_finding(table, "firm_id", "must exist in firms.firm_id", child.raw, idx))

    years = checked.get("firm_years")
    if "firm_years" in codes and years.usable("year") and firms.usable("founded_year"):
        founded_by_key = firms.parsed["founded_year"].loc[firm_keys.index].to_numpy()
        founded = pd.Series(_take(founded_by_key, codes["firm_years"])).astype("Int64")
        idx = _where((years.parsed["year"] < founded).fillna(False))
        if len(idx):
            rule = "must not be before the firm's founded_year"
            errors.append(
                _finding("firm_years", "year", rule, years.raw, idx, extra={"founded_year": founded})
            )

    loans = checked.get("loans")
    if {"firm_years", "loans"} <= codes.keys() and years.usable("year") and loans.usable("origination_date"):
        known = codes["firm_years"] >= 0
        first_year = np.full(len(firm_keys), np.inf)
        by_firm = pd.Series(years.parsed["year"].to_numpy()[known]).groupby(codes["firm_years"][known]).min()
        first_year[by_firm.index.to_numpy()] = by_firm.to_numpy()
        loan_code = codes["loans"]
        origination_year = loans.parsed["origination_date"].dt.year.to_numpy(dtype="float64", na_value=np.nan)
        # Loans of unknown firms are errors already; count here only the known firms without history.
        first = _take(first_year, loan_code)
        idx = _where((loan_code >= 0) & ~np.isnan(origination_year) & ~(first <= origination_year - 1))
        if len(idx):
            rule = "firm has no firm_years row before the origination year (its features will be missing)"
            warnings.append(
                _finding(
                    "loans", "firm_id", rule, loans.raw, idx, context=["origination_date"], severity="warning"
                )
            )
    return errors, warnings


# ---------------------------------------------------------------------------------------------------------
# Sanity a credit analyst expects: no empty table, no future loan, no outcome before its window closed, no
# money beyond any plausible firm
# ---------------------------------------------------------------------------------------------------------

OUTCOME_WINDOW_MONTHS = 12
MONEY_LIMIT = 1e12
"""Largest absolute money value accepted (CNY 10k, i.e. 10^16 CNY, beyond any firm): larger values are keying
errors, and near the float limit (1.7e308) sums overflow to infinity."""


def _empty_tables(checked: Mapping[str, _Checked]) -> list[Finding]:
    """A table with no rows gives nothing to learn or score."""
    return [Finding(table, None, "table has no rows; every table needs at least one", 0)
            for table, c in checked.items() if c.raw.empty]


def _money_in_range(checked: Mapping[str, _Checked]) -> list[Finding]:
    """Money (and loan amounts) within +-MONEY_LIMIT."""
    out = []
    for table in ("firm_years", "loans"):
        c = checked.get(table)
        if c is None:
            continue
        for column in (*MONEY_COLUMNS, "amount"):
            if column in c.parsed.columns:
                idx = _where((c.parsed[column].abs() > MONEY_LIMIT).fillna(False))
                if len(idx):
                    rule = f"must be within +-{MONEY_LIMIT:.0e} (CNY 10k); larger is a keying error"
                    out.append(_finding(table, column, rule, c.raw, idx))
    return out


def _loan_dates(checked: Mapping[str, _Checked], today: dt.date) -> list[Finding]:
    """No loan originated after today; no outcome observed before its 12-month window could close."""
    c = checked.get("loans")
    if c is None or not c.usable("origination_date"):
        return []
    out = []
    date = c.parsed["origination_date"]
    today_ts = pd.Timestamp(today)
    idx = _where((date > today_ts).fillna(False))
    if len(idx):
        rule = f"is after today ({today.isoformat()}): a loan cannot be originated in the future"
        out.append(_finding("loans", "origination_date", rule, c.raw, idx, context=["outcome_observed"]))
    if c.usable("outcome_observed"):
        closes = date + pd.DateOffset(months=OUTCOME_WINDOW_MONTHS)
        early = (closes > today_ts).fillna(False) & c.parsed["outcome_observed"].fillna(False).astype(bool)
        idx = np.setdiff1d(_where(early), idx)
        if len(idx):
            rule = (f"outcome_observed is true but the {OUTCOME_WINDOW_MONTHS}-month window closes after today "
                    f"({today.isoformat()}): set it false until the window closes")
            out.append(_finding("loans", "outcome_observed", rule, c.raw, idx, context=["origination_date"]))
    return out


def _sanity(checked: Mapping[str, _Checked], today: dt.date) -> list[Finding]:
    return _money_in_range(checked) + _loan_dates(checked, today)


# ---------------------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------------------


def validate_tables(
    tables: Mapping[str, pd.DataFrame], *, current_year: int | None = None, today: dt.date | None = None
) -> ValidationReport:
    """Check the three input tables against the data contract (README, "The data contract"); never raises on bad data.

    Args:
        tables: ``firms``, ``firm_years`` and ``loans`` as read (raw dtypes, e.g. text from CSV).
        current_year: the year plausibility ranges end at (default: today's year).
        today: the date loans are judged at: none may be originated after it, and none may have an observed
            outcome before its 12-month window closed by it (default: today, or the end of ``current_year``).

    Returns:
        A report whose ``errors`` break the contract and whose ``warnings`` do not; every failing row is
        counted and a few are shown with their key columns.
    """
    year = dt.date.today().year if current_year is None else current_year
    report = ValidationReport()
    checked: dict[str, _Checked] = {}
    for table in TABLES:
        frame = tables.get(table)
        if frame is None:
            report.errors.append(Finding(table, None, "table is missing", None))
            continue
        report.rows[table] = len(frame)
        errors, warnings, checked[table] = _check_table(table, frame, year)
        report.errors += errors
        report.warnings += warnings
    errors, warnings = _cross_table(checked)
    report.errors += errors
    report.warnings += warnings
    if today is None:
        today = dt.date.today() if current_year is None else dt.date(current_year, 12, 31)
    report.errors = _empty_tables(checked) + report.errors + _sanity(checked, today)  # an empty table first
    return report


def require_valid(tables: Mapping[str, pd.DataFrame], *, current_year: int | None = None,
                  today: dt.date | None = None) -> ValidationReport:
    """Validate and raise :class:`DataError` (one line, first error) when the contract is broken."""
    report = validate_tables(tables, current_year=current_year, today=today)
    if not report.ok:
        raise DataError(report.render_short())
    return report


_CANONICAL = {
    "string": "str", "province": "str", "integer": "int64", "number": "float64", "boolean": "bool",
    "date": "datetime64[us]",
}


def coerce_tables(tables: Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Copies of the tables with canonical dtypes, for code downstream of a clean validation.

    Contract columns become: ids and codes ``str``; ``founded_year``, ``year``, ``term_months`` ``int64``;
    flags ``bool``; money, counts and ``amount`` ``float64`` (null stays NaN); ``origination_date``
    ``datetime64[us]``. Other columns and other tables pass through untouched; the index is kept.

    Raises:
        DataError: a contract column is missing or holds a value that cannot take its canonical dtype.
    """
    out = dict(tables)
    for table in TABLES:
        frame = tables.get(table)
        if frame is None:
            continue
        converted = {}
        for column in COLUMNS[table]:
            if column not in frame.columns:
                raise DataError(f"{table}.{column}: required column is missing; run innopoints validate")
            kind = _kind(column)
            values, bad = _PARSERS[kind](frame[column])
            if kind in ("integer", "boolean", "date") and not bad.any():
                # These kinds have no null in the contract (a firm_years year is a key): null is an error.
                bad = values.isna().to_numpy()
                rule = NULL_RULE
            else:
                rule = TYPE_RULES[kind]
            if bad.any():
                raw = frame.reset_index(drop=True)
                finding = _finding(table, column, rule, raw, _where(bad))
                raise DataError(f"cannot convert {finding.render_short()}; run innopoints validate")
            converted[column] = values.astype(_CANONICAL[kind])
        out[table] = frame.assign(**converted)
    return out
