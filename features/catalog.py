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
