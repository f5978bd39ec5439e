"""Tests for models/formula/template.py: a formula as a commented YAML template to edit by hand."""

from __future__ import annotations

import pytest

from innopoints.models.formula.baseline import official_2024
from innopoints.models.formula.guideline import guideline_2025
from innopoints.models.formula.schema import read_formula
from innopoints.models.formula.template import template


@pytest.mark.parametrize("formula", [official_2024(), guideline_2025()], ids=lambda f: f.name)
def test_the_template_is_commented_and_loads_unsealed_as_it_is(formula):
    text = template(formula, f"builtin:{formula.name}")
    assert text.startswith("# innopoints points formula: a template to edit, made from builtin:")
    assert "- id: rd_expense  # 研发费用金额 R&D expense · 1.0 技术创新 · 2.0 投入 · direction +1 · CNY 10k" in text
    assert "  curve:  # value -> fraction of the max points: linear_cap | percentile | bins" in text
    loaded = read_formula(text, "yaml")
    assert not loaded.sealed
    assert loaded.formula.indicators == formula.indicators and loaded.formula.bonus == formula.bonus


def test_the_template_says_where_it_came_from_and_is_not_sealed():
    formula = official_2024()
    text = template(formula, "builtin:official-2024")
    loaded = read_formula(text, "yaml").formula
    assert loaded.provenance.method == "hand-written"
    assert f"from builtin:official-2024 ({formula.name} {formula.version}, {formula.compute_hash()[:12]})" in \
        loaded.provenance.notes
