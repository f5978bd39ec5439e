"""Tests for models/formula/guideline.py: the illustrative guideline 2.0 formula."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from innopoints.features.catalog import get
from innopoints.features.stage import STAGES
from innopoints.models.formula.guideline import guideline_2025
from innopoints.models.formula.schema import Formula, weights_table

SHIPPED = Path(__file__).resolve().parents[3] / "pipeline" / "formulas" / "guideline-2025.json"


def test_the_shipped_file_is_the_function_output_byte_for_byte():
    # Regenerate after a deliberate change with:
    #   Path('pipeline/formulas/guideline-2025.json').write_text(guideline_2025().to_text('json'),
    #                                                            encoding='utf-8')
    assert SHIPPED.read_text(encoding="utf-8") == guideline_2025().to_text("json")
    assert Formula.from_text(SHIPPED.read_text(encoding="utf-8")) == guideline_2025()


def test_it_has_the_published_structure_and_says_what_is_illustrative():
    f = guideline_2025()
    assert f.illustrative and "not public" in f.description and "NOT the official" in f.description
    assert (f.scale.base_points, f.scale.bonus_points) == (100.0, 30.0)
    assert len(f.indicators) == 9 and len(f.bonus) == 3
    assert sum(b.points for b in f.bonus) == 30.0
    categories = {item.category for item in f.indicators}
    assert categories == {"input", "output", "development", "impact"}
    for stage in STAGES:
        assert sum(getattr(i.points, stage) for i in f.indicators) == pytest.approx(100.0, abs=1e-9)
    for item in f.indicators:  # the item's 1.0 group is the catalog's
        assert item.official_group == get(item.id).official_group


def test_points_never_pass_130_and_the_bonus_never_30():
    f = guideline_2025()
    rng = np.random.default_rng(0)
    n = 2000
    frame = pd.DataFrame({c: rng.exponential(5000.0, n) for c in f.required_columns})
    frame.iloc[:10] = 1e9  # firms far above every reference value
    frame["stage"] = rng.choice(list(STAGES), n)
    scored = f.score(frame)
    assert scored["points"].max() == pytest.approx(130.0)
    assert (scored["points"] <= 130.0 + 1e-9).all() and (scored["points_bonus"] <= 30.0 + 1e-9).all()
    assert (scored["points_base"] <= 100.0 + 1e-9).all()


def test_the_weights_table_names_both_guideline_structures_in_chinese():
    table = weights_table(guideline_2025())
    row = table[(table["id"] == "new_graduates_hired") & (table["stage"] == "growth")].iloc[0]
    assert (row["official_group"], row["official_group_zh"], row["category"], row["category_zh"]) == (
        "auxiliary", "辅助", "impact", "影响")
    bonus = table[table["kind"] == "bonus"]
    assert set(bonus["category_zh"]) == {"影响", "发展"} and bonus["official_group_zh"].eq("辅助").all()
