"""Lifecycle stage (初创期 / 成长期 / 稳定期) per firm and scoring year, by a documented, configurable rule.

The 2024 national trial sets weights separately for start-up, growth and stable firms but does not publish
the boundary. Our default reads the common local practice: a firm is a start-up in its first three years,
in growth until its tenth year, stable after that. A locality can move the age limits, and can also keep a
firm whose revenue is still tiny in the start-up stage (``startup_max_revenue``).
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ModelWrapValidatorHandler, ValidationError, model_validator

from innopoints.features.errors import IndicatorError

STAGES: tuple[str, ...] = ("startup", "growth", "stable")
STAGE_NAMES_ZH: dict[str, str] = {"startup": "初创期", "growth": "成长期", "stable": "稳定期"}


class StageRule(BaseModel):
    """Age (years since founding at the scoring year) and optional revenue limits of the stages."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    method: str = Field(default="age", pattern="^age$")
    startup_max_age: int = Field(default=3, ge=1, description="younger than this (years) is a start-up")
    growth_max_age: int = Field(default=10, ge=2, description="younger than this (and not a start-up) is growth")
    startup_max_revenue: float | None = Field(
        default=None, ge=0, description="optional: revenue (CNY 10k) below this keeps a firm a start-up"
    )

    @model_validator(mode="wrap")
    @classmethod
    def _as_user_error(cls, data: Any, handler: ModelWrapValidatorHandler[StageRule]) -> StageRule:
        # A mistake in a stage rule is the user's: one IndicatorError naming the field, not a pydantic dump.
        try:
            return handler(data)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"]) or "stage_rule"
            raise IndicatorError(f"stage rule: {where}: {err['msg']}") from None

    @model_validator(mode="after")
    def _ordered(self) -> StageRule:
        if self.growth_max_age <= self.startup_max_age:
            raise IndicatorError(
                f"stage rule: growth_max_age ({self.growth_max_age}) must exceed startup_max_age "
                f"({self.startup_max_age})"
            )
        return self

    def assign(self, age: pd.Series, revenue: pd.Series | None = None) -> pd.Series:
        """Stage label per row from firm age at the scoring year (and revenue of the as-of year)."""
        age = age.astype("float64")
        stage = np.where(age < self.startup_max_age, "startup",
                         np.where(age < self.growth_max_age, "growth", "stable")).astype(object)
        if self.startup_max_revenue is not None and revenue is not None:
            small = (revenue.astype("float64") < self.startup_max_revenue).to_numpy()
            stage = np.where(small & (stage == "growth"), "startup", stage)
        stage[age.isna().to_numpy()] = None  # an unknown age is an unknown stage, not "stable"
        return pd.Series(pd.Categorical(stage, categories=list(STAGES)), index=age.index, name="stage")

    @property
    def column(self) -> str:
        """Name of a loan table's extra column holding each row's stage under this rule.

        A table is built with one rule (its ``stage`` column); when a formula with another rule is scored on
        the same rows (a hand-written baseline whose start-ups are younger than 8, say), the builder adds its
        stages under this name, and scoring reads a formula's own
        (:func:`innopoints.models.formula.schema.stage_codes`).
        """
        return "stage@" + hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:10]
