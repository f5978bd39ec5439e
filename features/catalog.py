"""The indicator catalog: one small pure function per indicator, with its metadata on it.

An indicator function is named after the column it produces; its arguments are the columns it reads from
the point-in-time panel (raw columns of `firm_years` for the as-of fiscal year, the same with `_lag1` /
`_lag2` for one and two years earlier, `founded_year` and `as_of_year`). The decorator records the metadata
in :data:`CATALOG`, so there is no second list to keep in sync.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd

from innopoints.features.errors import IndicatorError

GROUPS = ("input", "output", "growth", "financial")
STATUSES = ("official", "candidate", "local")

OFFICIAL_GROUPS: dict[str, str] = {
    # guideline 1.0 (2022; the 2024 national trial keeps it): the three published groups of core indicators
    "technology_innovation": "技术创新",
    "growth_operation": "成长经营",
    "auxiliary": "辅助",
}
CATEGORIES: dict[str, str] = {
    # guideline 2.0 (29 Oct 2025): the four categories of indicators
    "input": "投入",
    "output": "产出",
    "development": "发展",
    "impact": "影响",
}

GUIDELINES: dict[str, tuple[str, str]] = {
    # indicator id -> (1.0 official group, 2.0 category). Official indicators 1-17 take their published 1.0
    # group; a candidate takes the group it would be counted in. The 2.0 indicator list is not public, so
    # every 2.0 category here is our reading of the category names (docs/formula.md).
    "rd_expense": ("technology_innovation", "input"),
    "rd_expense_growth": ("technology_innovation", "development"),
    "rd_intensity": ("technology_innovation", "input"),
    "st_staff_share": ("technology_innovation", "input"),
    "invention_patent_apps": ("technology_innovation", "output"),
    "pct_apps": ("technology_innovation", "output"),
    "tech_contract_turnover": ("technology_innovation", "impact"),
    "high_tech_revenue": ("growth_operation", "impact"),
    "revenue": ("growth_operation", "development"),
    "revenue_growth": ("growth_operation", "development"),
    "postgrad_share": ("growth_operation", "input"),
    "rd_tax_deduction": ("growth_operation", "input"),
    "roe": ("growth_operation", "development"),
    "new_graduates_hired": ("auxiliary", "impact"),
    "rd_platforms_2y": ("auxiliary", "impact"),
    "st_awards_2y": ("auxiliary", "impact"),
    "vc_raised": ("auxiliary", "development"),
    "rd_expense_growth_2y": ("technology_innovation", "development"),
    "rd_per_employee": ("technology_innovation", "input"),
    "rd_expense_3y": ("technology_innovation", "input"),
    "invention_patents_granted": ("technology_innovation", "output"),
    "patent_grant_ratio": ("technology_innovation", "output"),
    "utility_models": ("technology_innovation", "output"),
    "software_copyrights": ("technology_innovation", "output"),
    "rd_productivity": ("technology_innovation", "output"),
    "invention_patents_granted_3y": ("technology_innovation", "output"),
    "high_tech_revenue_share": ("growth_operation", "impact"),
    "revenue_growth_2y": ("growth_operation", "development"),
    "employment_growth": ("growth_operation", "development"),
    "revenue_per_employee": ("growth_operation", "development"),
    "leverage": ("growth_operation", "development"),
    "firm_age": ("auxiliary", "development"),
    "profit_margin": ("growth_operation", "development"),
}

GROUP_DEFAULTS: dict[str, tuple[str, str]] = {
    # our group -> (1.0 official group, 2.0 category) for an indicator not in GUIDELINES (a local one)
    "input": ("technology_innovation", "input"),
    "output": ("technology_innovation", "output"),
    "growth": ("growth_operation", "development"),
    "financial": ("growth_operation", "development"),
}


@dataclass(frozen=True)
class Indicator:
    """Metadata of one indicator and the function that computes it."""

    id: str
    name_zh: str
    name_en: str
    group: str
    unit: str
    direction: int
    status: str
    inputs: tuple[str, ...]
    valid_range: tuple[float | None, float | None] = (None, None)
    official_no: int | None = None
    description: str = ""
    inflatable: bool = False  # a count firms can inflate cheaply (applications, utility models, copyrights)
    func: Callable[..., pd.Series] | None = field(default=None, repr=False, compare=False)
    official_group: str | None = None  # guideline 1.0 group (OFFICIAL_GROUPS); default from GUIDELINES
    category: str | None = None  # guideline 2.0 category (CATEGORIES); default from GUIDELINES

    def __post_init__(self) -> None:
        official_group, category = GUIDELINES.get(self.id) or GROUP_DEFAULTS.get(self.group, (None, None))
        if self.official_group is None:
            object.__setattr__(self, "official_group", official_group)
        if self.category is None:
            object.__setattr__(self, "category", category)

    @property
    def official(self) -> bool:
        return self.status == "official"

    def compute(self, panel: pd.DataFrame) -> pd.Series:
        """Compute the indicator from a point-in-time panel; missing inputs give missing values."""
        missing = [c for c in self.inputs if c not in panel.columns]
        if missing:
            raise IndicatorError(
                f"indicator {self.id!r} needs column(s) {missing} that the panel does not have"
            )
        assert self.func is not None
        out = self.func(*(panel[c] for c in self.inputs))
        out = pd.to_numeric(out, errors="coerce").astype("float64")
        out.name = self.id
        return out

    def as_dict(self) -> dict:
        return {
            "id": self.id,
            "name_zh": self.name_zh,
            "name_en": self.name_en,
            "group": self.group,
            "official_group": self.official_group,
            "official_group_zh": OFFICIAL_GROUPS.get(self.official_group or "", ""),
            "category": self.category,
            "category_zh": CATEGORIES.get(self.category or "", ""),
            "unit": self.unit,
            "direction": self.direction,
            "official": self.official,
            "status": self.status,
            "official_no": self.official_no,
            "inputs": list(self.inputs),
            "valid_range": list(self.valid_range),
            "inflatable": self.inflatable,
            "description": self.description,
        }


CATALOG: dict[str, Indicator] = {}


def check_metadata(ind: Indicator) -> None:
    """Raise :class:`IndicatorError` naming the field when an indicator's metadata is malformed."""
    if not ind.id.isidentifier() or ind.id != ind.id.lower():
        raise IndicatorError(f"indicator id {ind.id!r}: must be a lower_snake identifier")
    if ind.group not in GROUPS:
        raise IndicatorError(f"indicator {ind.id!r}: group {ind.group!r} is not one of {list(GROUPS)}")
    if ind.official_group not in OFFICIAL_GROUPS:
        raise IndicatorError(f"indicator {ind.id!r}: official_group {ind.official_group!r} is not one of "
                             f"{list(OFFICIAL_GROUPS)}")
    if ind.category not in CATEGORIES:
        raise IndicatorError(f"indicator {ind.id!r}: category {ind.category!r} is not one of {list(CATEGORIES)}")
    if ind.direction not in (1, -1):
        raise IndicatorError(f"indicator {ind.id!r}: direction must be 1 or -1, got {ind.direction!r}")
    if ind.status not in STATUSES:
        raise IndicatorError(f"indicator {ind.id!r}: status {ind.status!r} is not one of {list(STATUSES)}")
    if not ind.name_zh or not ind.name_en or not ind.unit:
        raise IndicatorError(f"indicator {ind.id!r}: name_zh, name_en and unit are required")
    lo, hi = ind.valid_range
    if lo is not None and hi is not None and lo > hi:
        raise IndicatorError(f"indicator {ind.id!r}: valid_range lower bound {lo} exceeds upper {hi}")


def indicator(
    *,
    name_zh: str,
    name_en: str,
    group: str,
    unit: str,
    direction: int,
    status: str = "candidate",
    official_no: int | None = None,
    valid_range: tuple[float | None, float | None] = (None, None),
    inflatable: bool = False,
) -> Callable[[Callable[..., pd.Series]], Callable[..., pd.Series]]:
    """Register the decorated function as an indicator; its argument names are the columns it reads."""

    def register(func: Callable[..., pd.Series]) -> Callable[..., pd.Series]:
        ind = Indicator(
            id=func.__name__,
            name_zh=name_zh,
            name_en=name_en,
            group=group,
            unit=unit,
            direction=direction,
            status=status,
            inputs=tuple(inspect.signature(func).parameters),
            valid_range=valid_range,
            official_no=official_no,
            inflatable=inflatable,
            description=(inspect.getdoc(func) or "").splitlines()[0] if func.__doc__ else "",
            func=func,
        )
        check_metadata(ind)
        if ind.id in CATALOG:
            raise IndicatorError(f"indicator {ind.id!r} is registered twice")
        CATALOG[ind.id] = ind
        return func

    return register


def _load_builtins() -> None:
    # Importing the modules runs their decorators; kept here so `CATALOG` is complete on first use.
    from innopoints.features import financial, growth, inputs, outputs  # noqa: F401


def list_indicators(
    *, group: str | None = None, official: bool | None = None, status: str | None = None
) -> list[Indicator]:
    """Catalog entries filtered by group and status, in catalog order (official number, then id)."""
    _load_builtins()
    out = [
        ind
        for ind in CATALOG.values()
        if (group is None or ind.group == group)
        and (official is None or ind.official == official)
        and (status is None or ind.status == status)
    ]
    return sorted(out, key=lambda i: (i.official_no is None, i.official_no or 0, i.group, i.id))


def get(indicator_id: str) -> Indicator:
    """The catalog entry for ``indicator_id``; a clear error when it is unknown."""
    _load_builtins()
    try:
        return CATALOG[indicator_id]
    except KeyError:
        raise IndicatorError(f"unknown indicator {indicator_id!r}; see `innopoints indicators`") from None
