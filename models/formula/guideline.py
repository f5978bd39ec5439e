"""The illustrative guideline 2.0 (2025) formula: the published structure, with documented neutral numbers.

Guideline 2.0 (29 Oct 2025) publishes its structure: four categories of indicators (input 投入, output 产出,
development 发展, impact 影响), 9 quantitative indicators worth 100 base points and 3 bonus indicators worth
up to 30 bonus points. It does not publish, in a form this project could use, which 9 + 3 indicators they
are, their weights, or the rule that turns raw values into points (docs/formula.md). This file fills those
gaps with choices a reviewer can read and argue with:

- the 9 base indicators (:data:`BASE_INDICATORS`): two or three per category, taken from the catalog's
  indicators whose inputs the data-sharing platform delivers, preferring granted over applied-for patents
  (harder to inflate);
- category points per stage (:data:`CATEGORY_SHARES`): young firms more on input, mature firms more on
  development, as in the 1.0 baseline; equal weight within a category;
- the 3 bonus items (:data:`BONUS_ITEMS`): the recognitions and financing the 1.0 auxiliary group holds,
  10 points each, capped together at 30 (a firm never passes 130 points);
- ``linear_cap`` curves from 0 to the same full-score reference values as the 1.0 baseline; a missing value
  scores 0.
"""

from __future__ import annotations

from innopoints.features.catalog import get
from innopoints.features.stage import StageRule
from innopoints.models.formula.baseline import REFERENCE_VALUES, equal_split_points
from innopoints.models.formula.curves import LinearCap
from innopoints.models.formula.schema import (
    BonusItem,
    Formula,
    IndicatorItem,
    MissingZero,
    Provenance,
    Scale,
    StagePoints,
)

BASE_POINTS = 100.0
BONUS_POINTS = 30.0

BASE_INDICATORS: dict[str, tuple[str, ...]] = {
    # 2.0 category -> the base indicators counted in it (9 in all)
    "input": ("rd_expense", "rd_intensity", "st_staff_share"),
    "output": ("invention_patents_granted", "tech_contract_turnover"),
    "development": ("revenue", "revenue_growth"),
    "impact": ("high_tech_revenue", "new_graduates_hired"),
}

CATEGORY_SHARES: dict[str, dict[str, float]] = {
    # stage -> base points per 2.0 category (sums to the 100 base points)
    "startup": {"input": 30.0, "output": 25.0, "development": 25.0, "impact": 20.0},
    "growth": {"input": 25.0, "output": 25.0, "development": 30.0, "impact": 20.0},
    "stable": {"input": 20.0, "output": 25.0, "development": 35.0, "impact": 20.0},
}

BONUS_ITEMS: dict[str, tuple[str, float]] = {
    # bonus item id -> (indicator, max bonus points); the bonus total is capped at BONUS_POINTS
    "platform": ("rd_platforms_2y", 10.0),
    "award": ("st_awards_2y", 10.0),
    "venture_capital": ("vc_raised", 10.0),
}

EXTRA_REFERENCE_VALUES: dict[str, tuple[float, str]] = {
    # reference values of base indicators that the 1.0 baseline does not score
    "invention_patents_granted": (5.0, "5 invention patents granted a year"),
}

_DESCRIPTION = (
    "Illustrative guideline 2.0 formula, NOT the official one. Guideline 2.0 (29 Oct 2025) publishes four "
    "categories of indicators (input 投入, output 产出, development 发展, impact 影响), 9 quantitative "
    "indicators worth 100 base points and 3 bonus indicators worth up to 30 bonus points; the indicator list, "
    "the weights and the rule that turns raw values into points are not public. This file keeps the published "
    "structure and fills the gaps with neutral, documented choices: 9 catalog indicators, two or three per "
    "category; category points per stage start-up 30/25/25/20, growth 25/25/30/20, stable 20/25/35/20 "
    "(input/output/development/impact), equal within a category; 3 bonus items (provincial-or-higher R&D "
    "platforms, S&T awards, venture capital) of 10 points each, capped together at 30, so no firm passes 130 "
    "points; each indicator scored linearly from 0 up to the same full-score reference values (满分值参考) as "
    "the 1.0 baseline; a missing value scores 0. Load the real formula from its own file where it is available."
)


def _reference(indicator_id: str) -> tuple[float, str]:
    return EXTRA_REFERENCE_VALUES.get(indicator_id) or REFERENCE_VALUES[indicator_id]


_NOTES = (
    "Structure from guideline 2.0 of the innovation points system (创新积分制, 29 Oct 2025): 100 base points over "
    "four categories and a 30-point bonus section. Which indicators, weights and curves: illustrative. "
    "Full-score reference values (money in CNY 10k): "
    + "; ".join(f"{i} {_reference(i)[0]:g} ({_reference(i)[1]})"
                for ids in BASE_INDICATORS.values() for i in ids)
    + "; bonus: " + "; ".join(f"{ind} {_reference(ind)[0]:g} ({_reference(ind)[1]})"
                              for ind, _pts in BONUS_ITEMS.values())
    + ". Points are split equally within a category and rounded to 2 decimals by largest remainder (earlier "
    "indicators take the extra 0.01), so every stage sums to exactly 100."
)


def guideline_2025() -> Formula:
    """The illustrative guideline 2.0 formula: 9 indicators, 100 base points per stage, 30 bonus points."""
    points = equal_split_points(BASE_INDICATORS, CATEGORY_SHARES)
    items = []
    for category, ids in BASE_INDICATORS.items():
        for indicator_id in ids:
            ind = get(indicator_id)
            items.append(IndicatorItem(
                id=ind.id, group=ind.group, official_group=ind.official_group, category=category,
                direction=ind.direction, points=StagePoints(**points[ind.id]),
                curve=LinearCap(zero_at=0.0, full_at=_reference(ind.id)[0]), missing=MissingZero()))
    bonus = []
    for item_id, (indicator_id, max_points) in BONUS_ITEMS.items():
        ind = get(indicator_id)
        bonus.append(BonusItem(
            id=item_id, indicator=ind.id, official_group=ind.official_group, category=ind.category,
            points=max_points, curve=LinearCap(zero_at=0.0, full_at=_reference(ind.id)[0]), missing=MissingZero()))
    formula = Formula(
        name="guideline-2025",
        version="2025.1",
        title="创新积分制 2.0 (guideline of 29 Oct 2025): illustrative formula with the published structure",
        description=_DESCRIPTION,
        illustrative=True,
        scale=Scale(base_points=BASE_POINTS, bonus_points=BONUS_POINTS),
        stage_rule=StageRule(),
        indicators=items,
        bonus=bonus,
        provenance=Provenance(method="illustrative-baseline", notes=_NOTES),
    )
    return formula.with_hash()
