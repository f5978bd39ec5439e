"""The illustrative 1.0 / 2024 baseline and its shipped file."""

from pathlib import Path

import pandas as pd
import pytest

from innopoints.features.catalog import list_indicators
from innopoints.features.stage import STAGES
from innopoints.models.formula.baseline import GROUP_SHARES, REFERENCE_VALUES, official_2024
from innopoints.models.formula.schema import Formula

SHIPPED = Path(__file__).resolve().parents[3] / "pipeline" / "formulas" / "official-2024.json"


def test_shipped_file_is_the_generator_output_byte_for_byte():
    # regenerate with: python -c "from pathlib import Path; from models.formula.baseline import official_2024;
    #   Path('pipeline/formulas/official-2024.json').write_text(official_2024().to_text('json'),
    #   encoding='utf-8')"
    assert SHIPPED.read_text(encoding="utf-8") == official_2024().to_text("json")


def test_shipped_file_loads_with_a_valid_hash():
    formula = Formula.from_text(SHIPPED.read_text(encoding="utf-8"), "json")
    assert formula.provenance.content_hash == formula.compute_hash()
    assert formula == official_2024()


def test_each_stage_sums_to_exactly_100_with_two_decimals():
    formula = official_2024()
    for stage in STAGES:
        values = [getattr(item.points, stage) for item in formula.indicators]
        cents = [round(v * 100) for v in values]
        assert [c / 100 for c in cents] == values  # no more than 2 decimals
        assert sum(cents) == 10_000  # exactly 100.00 in decimal, not just within float tolerance


def test_official_structure():
    formula = official_2024()
    official = [ind.id for ind in list_indicators(official=True)]
    assert [item.id for item in formula.indicators] == official and len(official) == 17
    groups = pd.Series([item.official_group for item in formula.indicators]).value_counts().to_dict()
    assert groups == {"technology_innovation": 7, "growth_operation": 6, "auxiliary": 4}
    assert set(REFERENCE_VALUES) == set(official)
    assert formula.illustrative and formula.provenance.method == "illustrative-baseline"
    assert "neither the weights nor the rule" in formula.description
    assert formula.description.startswith("Illustrative baseline, NOT the official formula")


def test_group_shares_and_equal_weight_within_group():
    formula = official_2024()
    for stage in STAGES:
        by_group: dict[str, list[float]] = {}
        for item in formula.indicators:
            by_group.setdefault(item.official_group, []).append(getattr(item.points, stage))
        for group, values in by_group.items():
            assert sum(values) == pytest.approx(GROUP_SHARES[stage][group], abs=1e-9)
            assert max(values) - min(values) <= 0.010001  # equal up to the rounding cent


def test_reference_firm_scores_100_and_empty_firm_scores_0():
    formula = official_2024()
    full = {i: [REFERENCE_VALUES[i][0]] * 3 for i in formula.required_columns}
    missing = {i: [float("nan")] * 3 for i in formula.required_columns}
    at_reference = formula.score(pd.DataFrame({"stage": list(STAGES), **full}))
    # at every full-score reference value a firm gets the whole 100 base points in any stage
    assert at_reference["points"].tolist() == pytest.approx([100.0, 100.0, 100.0])
    # missing data scores zero under the baseline's policy
    assert formula.score(pd.DataFrame({"stage": list(STAGES), **missing}))["points"].tolist() == [0.0] * 3


def test_baseline_survives_yaml_with_its_long_bilingual_text():
    # the long description and Chinese title are folded by the YAML writer; reading must restore them exactly
    formula = official_2024()
    assert Formula.from_text(formula.to_text("yaml"), "yaml").to_text("json") == formula.to_text("json")
