"""The illustrative 1.0 / 2024 baseline formula: the official structure, with documented neutral numbers.

The official weights and the raw-value-to-points rule are not public (docs/field.md). What is public:
18 core indicators in three groups (technology innovation 7, growth/operation 6, auxiliary 5; the 18th is
not published), weights that differ by lifecycle stage, and a per-indicator "full-score reference value".
This baseline fills the gaps with choices a reviewer can read and argue with:

- group shares per stage (:data:`GROUP_SHARES`): young firms are judged more on innovation effort, mature
  firms more on operation, because a start-up has little revenue or profit to show yet;
- equal weight within a group (no information to do otherwise);
- ``linear_cap`` curves from 0 to a full-score reference value (:data:`REFERENCE_VALUES`): round numbers
  near the 90th percentile of a typical technology SME, so most firms score in the rising part;
- missing policy ``zero``: what a data-sharing gap costs a firm today.
"""

from __future__ import annotations

from innopoints.features.catalog import list_indicators
from innopoints.features.stage import STAGES, StageRule
from innopoints.models.formula.curves import LinearCap
from innopoints.models.formula.schema import (
    Formula,
    IndicatorItem,
    MissingZero,
    Provenance,
    Scale,
    StagePoints,
    round_points_preserving_total,
)

OFFICIAL_GROUPS: dict[str, tuple[int, int]] = {
    # official 1.0 group → range of official numbers (inclusive) in the published list
    "technology_innovation": (1, 7),
    "growth_operation": (8, 13),
    "auxiliary": (14, 18),  # the 18th indicator is not public, so 4 of 5 are scored
}

GROUP_SHARES: dict[str, dict[str, float]] = {
    # stage → points per official group (sums to the 100 base points)
    "startup": {"technology_innovation": 50.0, "growth_operation": 30.0, "auxiliary": 20.0},
    "growth": {"technology_innovation": 45.0, "growth_operation": 40.0, "auxiliary": 15.0},
    "stable": {"technology_innovation": 40.0, "growth_operation": 45.0, "auxiliary": 15.0},
}

REFERENCE_VALUES: dict[str, tuple[float, str]] = {
    # indicator id → (full-score reference value, why); money in CNY 10k
    "rd_expense": (1000.0, "CNY 10 m of R&D a year"),
    "rd_expense_growth": (0.3, "30% year-on-year R&D growth"),
    "rd_intensity": (0.3, "R&D at 30% of revenue; the tech-SME entry bar is 3–6%"),
    "st_staff_share": (0.5, "half of the staff in S&T roles"),
    "invention_patent_apps": (10.0, "10 invention-patent applications a year"),
    "pct_apps": (2.0, "2 PCT applications a year; most SMEs file none"),
    "tech_contract_turnover": (1000.0, "CNY 10 m of registered technology contracts"),
    "high_tech_revenue": (10000.0, "CNY 100 m of high-tech product revenue"),
    "revenue": (20000.0, "CNY 200 m of operating revenue"),
    "revenue_growth": (0.3, "30% year-on-year revenue growth"),
    "postgrad_share": (0.3, "30% of staff with a postgraduate degree"),
    "rd_tax_deduction": (100.0, "CNY 1 m of R&D super-deduction tax relief"),
    "roe": (0.15, "15% return on net assets"),
    "new_graduates_hired": (10.0, "10 fresh graduates hired in the year"),
    "rd_platforms_2y": (1.0, "one provincial-or-higher R&D platform"),
    "st_awards_2y": (1.0, "one provincial-or-higher S&T award in two years"),
    "vc_raised": (5000.0, "CNY 50 m of venture capital in the year"),
}

_DESCRIPTION = (
    "Illustrative baseline, NOT the official formula. The national 1.0 indicator system (2024 trial) "
    "publishes its 18 core indicators in three groups (technology innovation 7, growth/operation 6, "
    "auxiliary 5; the 18th is not public) and weights that differ by lifecycle stage, but neither the "
    "weights nor the rule that turns raw values into points. This file keeps the official structure and "
    "fills the gaps with neutral, documented choices: group points per stage start-up 50/30/20, growth "
    "45/40/15, stable 40/45/15 (young firms are judged more on innovation effort, mature firms more on "
    "operation, because a start-up has little revenue or profit to show yet); equal weight within a "
    "group; each indicator scored linearly from 0 up to a full-score reference value (满分值参考) "
    "set near the 90th percentile of a typical technology SME; a missing value scores 0, which is what a "
    "data-sharing gap costs a firm today. Load the real formula from its own file where it is available."
)

_NOTES = (
    "Structure from the 2024 national trial of the innovation points system (创新积分制): 520,000 firms "
    "evaluated, 71,435 qualified (13.7%). Full-score reference values (money in CNY 10k): "
    + "; ".join(f"{k} {v:g} ({why})" for k, (v, why) in REFERENCE_VALUES.items())
    + ". Points are split equally within a group and rounded to 2 decimals by largest remainder "
    "(earlier official numbers take the extra 0.01), so every stage sums to exactly 100."
)


def official_group(official_no: int) -> str:
    """The official 1.0 group of an indicator from its number in the published list."""
    for group, (first, last) in OFFICIAL_GROUPS.items():
        if first <= official_no <= last:
            return group
    raise ValueError(f"official number {official_no} is outside 1–18")


def equal_split_points(ids_by_group: dict[str, list[str]],
                       shares: dict[str, dict[str, float]] | None = None) -> dict[str, dict[str, float]]:
    """indicator id → stage → points: each group's share of a stage (``shares[stage][group]``, default
    :data:`GROUP_SHARES`) split equally among its indicators, rounded to 2 decimals keeping the group total."""
    shares = GROUP_SHARES if shares is None else shares
    points: dict[str, dict[str, float]] = {i: {} for ids in ids_by_group.values() for i in ids}
    for stage in STAGES:
        for group, ids in ids_by_group.items():
            share = shares[stage][group]
            rounded = round_points_preserving_total([share / len(ids)] * len(ids), share, 2)
            for indicator_id, value in zip(ids, rounded, strict=True):
                points[indicator_id][stage] = value
    return points


def official_2024() -> Formula:
    """The illustrative 1.0 / 2024 baseline: 17 public official indicators, 100 points per stage."""
    official = list_indicators(official=True)
    ids_by_group: dict[str, list[str]] = {group: [] for group in OFFICIAL_GROUPS}
    for ind in official:
        ids_by_group[official_group(ind.official_no)].append(ind.id)
    points = equal_split_points(ids_by_group)
    items = [
        IndicatorItem(
            id=ind.id,
            group=ind.group,
            official_group=official_group(ind.official_no),
            category=ind.category,
            direction=ind.direction,
            points=StagePoints(**points[ind.id]),
            curve=LinearCap(zero_at=0.0, full_at=REFERENCE_VALUES[ind.id][0]),
            missing=MissingZero(),
        )
        for ind in official
    ]
    formula = Formula(
        name="official-2024",
        version="2024.1",
        title="创新积分制 1.0 (2024 national trial): illustrative baseline with the official structure",
        description=_DESCRIPTION,
        illustrative=True,
        scale=Scale(base_points=100.0, bonus_points=0.0),
        stage_rule=StageRule(),
        indicators=items,
        bonus=[],
        provenance=Provenance(method="illustrative-baseline", notes=_NOTES),
    )
    return formula.with_hash()
