"""The order of the steps: which step feeds which. No maths here (STYLE 4)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from features.build import Exclusions, loan_features, population_features
from features.catalog import Indicator, list_indicators
from features.local import build_local_indicators
from features.stage import StageRule
from models.formula import Formula
from models.qualify import qualified_mask
from pipeline.config import RunConfig
from pipeline.contract import coerce_tables, require_valid
from pipeline.io import read_tables


def load_tables(data_dir: Path) -> dict[str, pd.DataFrame]:
    """Read the three tables, refuse them on any contract error, return them with canonical dtypes."""
    tables = read_tables(Path(data_dir))
    require_valid(tables)
    return coerce_tables(tables)


def indicator_set(config: RunConfig, extra: list[dict] | None = None) -> list[Indicator]:
    """Built-in catalog plus the config's (and a formula's) local indicators."""
    builtins = list_indicators()
    specs = list(config.local_indicators) + list(extra or [])
    known = {i.id for i in builtins}
    seen: dict[str, object] = {}
    for spec in specs:  # the same declaration may come from the config and from a formula
        key = spec["id"] if isinstance(spec, dict) else spec.id
        seen.setdefault(key, spec)
    return builtins + build_local_indicators(list(seen.values()), known)


def build_loan_table(tables: dict[str, pd.DataFrame], config: RunConfig) -> pd.DataFrame:
    """Point-in-time indicators for every loan (DESIGN §2)."""
    return loan_features(tables["firms"], tables["firm_years"], tables["loans"],
                         indicator_set(config), config.stage_rule)


def default_scoring_year(tables: dict[str, pd.DataFrame]) -> int:
    """The year after the last fiscal year in the data: the points a firm would get now."""
    return int(tables["firm_years"]["year"].max()) + 1


def build_population(tables: dict[str, pd.DataFrame], year: int, config: RunConfig,
                     formula: Formula | None = None) -> tuple[pd.DataFrame, Exclusions]:
    """One row per scoreable firm of ``year``; the formula's own stage rule and local indicators win."""
    extra = list(formula.local_indicators) if formula is not None and formula.local_indicators else []
    rule = StageRule(**formula.stage_rule.model_dump()) if formula is not None else config.stage_rule
    return population_features(tables["firms"], tables["firm_years"], year, indicator_set(config, extra), rule)


@dataclass
class Scored:
    """Points for a population plus what was left out and the qualification rule used."""

    table: pd.DataFrame
    exclusions: Exclusions
    year: int
    rule: str


def score_population(formula: Formula, population: pd.DataFrame, *, share: float | None,
                     cutoff: float | None) -> pd.DataFrame:
    """`firm_id`, `stage`, `points`, `qualified` and one `points_<id>` column per formula item."""
    points = formula.score(population)
    out = pd.DataFrame({"firm_id": population["firm_id"].to_numpy(),
                        "stage": population["stage"].astype(str).to_numpy()})
    out["points"] = points["points"].to_numpy()
    out["qualified"] = qualified_mask(out["points"].to_numpy(), share=share, cutoff=cutoff)
    for col in points.columns:
        if col.startswith("points_") and col not in ("points_base", "points_bonus"):
            out[col] = points[col].to_numpy()
    return out
