"""Tests for formulas written by hand: unsealed loading, the tamper check, every problem in one pass, the
JSON Schema and the worked example of docs/formula.md."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import numpy as np
import pandas as pd
import pytest
import yaml

from innopoints.features.errors import FormulaError
from innopoints.models.formula.baseline import official_2024
from innopoints.models.formula.schema import Formula, formula_problems, json_schema, read_formula

ROOT = Path(__file__).resolve().parents[3]
DOC = ROOT / "docs" / "formula.md"
SHIPPED = sorted((ROOT / "pipeline" / "formulas").glob("*.json"))


def doc_example() -> str:
    """The worked example of docs/formula.md: its first YAML block."""
    return re.search(r"```yaml\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S).group(1)


def test_the_worked_example_loads_unsealed_with_its_hash_computed():
    loaded = read_formula(doc_example(), "yaml", source="example.yaml")
    assert not loaded.sealed
    f = loaded.formula
    assert f.provenance.method == "hand-written"
    assert f.provenance.content_hash == f.compute_hash() and len(f.provenance.content_hash) == 64
    # Sealed, the same content reads back as sealed with the same hash, in JSON and in YAML.
    for fmt in ("json", "yaml"):
        again = read_formula(f.to_text(fmt), fmt)
        assert again.sealed and again.formula == f


def test_the_worked_example_scores_the_firm_the_doc_works_through():
    f = read_formula(doc_example(), "yaml").formula
    firm = pd.DataFrame({"stage": ["growth"], "rd_expense": [500.0], "invention_patents_granted": [3.0],
                         "revenue_growth": [0.15], "roe": [np.nan], "st_awards_2y": [1.0]})
    scored = f.score(firm).iloc[0]
    assert scored["points"] == pytest.approx(66.0)
    assert scored["points_bonus"] == pytest.approx(10.0)


def test_an_edited_weight_under_the_old_hash_is_refused_naming_the_reseal_command():
    text = official_2024().to_text("yaml").replace("startup: 7.15", "startup: 8.15", 1).replace(
        "startup: 7.15", "startup: 6.15", 1)
    with pytest.raises(FormulaError, match=re.escape("re-seal the file with `innopoints formula seal my.yaml "
                                                     "--out my.yaml`")):
        read_formula(text, "yaml", source="my.yaml")
    assert formula_problems(text, "yaml", source="my.yaml")[0].startswith("provenance.content_hash: is ")


def test_check_lists_every_problem_in_one_pass():
    data = yaml.safe_load(doc_example())
    data["indicators"][0]["id"] = "no_such_indicator"
    data["indicators"][1]["points"]["growth"] = 31  # growth now sums to 101
    data["bonus"][0]["indicator"] = "nope"
    problems = formula_problems(yaml.safe_dump(data), "yaml")
    assert len(problems) == 3, problems
    assert problems[0].startswith("indicators[0].id: unknown indicator 'no_such_indicator'")
    assert problems[1].startswith("indicators[*].points.growth: the growth points sum to 101.0")
    assert problems[2].startswith("bonus[0].indicator: unknown indicator 'nope'")
    # Type errors are all listed too, before the rules between fields.
    data = yaml.safe_load(doc_example())
    data["scale"]["base_points"] = "a hundred"
    data["indicators"][0]["curve"]["zero_at"] = "zero"
    data["indicators"][1]["category"] = "growth"
    problems = formula_problems(yaml.safe_dump(data), "yaml")
    assert [p.split(":")[0] for p in problems] == ["scale.base_points", "indicators[0].curve.zero_at",
                                                   "indicators[1].category"]
    assert formula_problems(doc_example(), "yaml") == []


def test_files_sealed_before_the_category_keys_keep_their_hash():
    # The new optional keys are written only when set: the canonical text has no `category: null`.
    data = official_2024().to_dict()
    for item in data["indicators"]:
        item.pop("category")
    data["provenance"]["content_hash"] = ""
    old = Formula.from_dict(data, allow_unhashed=True)
    assert '"category"' not in old.to_text("json")
    sealed = old.with_hash()
    assert Formula.from_text(sealed.to_text("json")).provenance.content_hash == sealed.provenance.content_hash


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_the_json_schema_accepts_every_shipped_formula(path):
    jsonschema.validate(json.loads(path.read_text(encoding="utf-8")), json_schema())


def test_the_json_schema_accepts_the_worked_example_and_refuses_a_broken_file():
    schema = json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    example = yaml.safe_load(doc_example())
    jsonschema.validate(example, schema)
    validator = jsonschema.Draft202012Validator(schema)
    for edit in ({"surprise": 1}, {"scale": {"base_points": 0}}, {"schema_version": "2.0"},
                 {"indicators": [{**example["indicators"][0], "curve": {"type": "spline"}}]},
                 {"indicators": [{**example["indicators"][0], "official_group": "input"}]}):
        assert list(validator.iter_errors({**example, **edit})), edit
