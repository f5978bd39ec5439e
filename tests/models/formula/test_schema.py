"""The formula file: exact round trips, the content hash, every invalid-file case, and scoring by hand."""

import copy
import json

import numpy as np
import pandas as pd
import pytest
import yaml
from pandas.testing import assert_frame_equal

from innopoints.features.errors import FormulaError
from innopoints.features.stage import STAGES
from innopoints.models.formula.curves import Bins, LinearCap
from innopoints.models.formula.schema import Formula, round_points_preserving_total, stage_codes, weights_table

NAN = float("nan")


def _spec() -> dict:
    """A small formula: 3 indicators (one per curve type and missing policy), 2 bonus items, base 10."""
    return {
        "schema_version": "1.0",
        "name": "tiny",
        "version": "0.1",
        "title": "tiny test formula",
        "description": "three indicators, two bonus items",
        "illustrative": True,
        "scale": {"base_points": 10.0, "bonus_points": 5.0},
        "stage_rule": {"method": "age", "startup_max_age": 3, "growth_max_age": 10,
                       "startup_max_revenue": None},
        "indicators": [
            {
                "id": "rd_expense",
                "points": {"startup": 5.0, "growth": 4.0, "stable": 2.0},
                "curve": {"type": "linear_cap", "zero_at": 0.0, "full_at": 100.0},
                "missing": {"policy": "zero"},
            },
            {
                "id": "pct_apps",
                "points": {"startup": 3.0, "growth": 2.0, "stable": 2.0},
                "curve": {"type": "bins", "edges": [1.0, 3.0], "levels": [0.0, 0.5, 1.0]},
                "missing": {"policy": "fixed", "fraction": 0.5},
            },
            {
                "id": "leverage",  # catalog direction −1: less debt scores more
                "points": {"startup": 2.0, "growth": 4.0, "stable": 6.0},
                "curve": {"type": "percentile", "direction": -1, "breakpoints": [0.0, 0.5, 1.0]},
                "missing": {"policy": "stage_median",
                            "fraction": {"startup": 0.2, "growth": 0.4, "stable": 0.6}},
            },
        ],
        "bonus": [
            {"id": "vc", "indicator": "vc_raised", "points": 3.0,
             "curve": {"type": "linear_cap", "zero_at": 0.0, "full_at": 1000.0}},
            {"id": "awards", "indicator": "st_awards_2y", "points": 3.0,
             "curve": {"type": "bins", "edges": [1.0], "levels": [0.0, 1.0]}},
        ],
        "provenance": {"method": "hand", "seed": 7, "metrics": {"test_auc": 0.7}},
    }


def _load(spec: dict) -> Formula:
    return Formula.from_dict(spec, allow_unhashed=True)


def _firms() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "stage": ["startup", "growth", "stable"],
            "rd_expense": [50.0, NAN, 200.0],
            "pct_apps": [2.0, NAN, 0.0],
            "leverage": [0.5, NAN, 0.25],
            "vc_raised": [500.0, 2000.0, NAN],
            "st_awards_2y": [1.0, 2.0, 0.0],
        },
        index=pd.Index(["a", "b", "c"], name="firm_id"),
    )


# ------------------------------------------------------------------------------------------ scoring


def test_three_firms_scored_by_hand():
    out = _load(_spec()).score(_firms())
    expected = pd.DataFrame(
        {
            "stage": pd.Categorical(["startup", "growth", "stable"], categories=list(STAGES)),
            # a: 2.5 + 1.5 + 1.0 = 5.0 base, bonus 1.5 + 3 = 4.5 (under the cap of 5)
            # b: rd missing → 0; pct missing → fixed .5 × 2 = 1.0; leverage missing → growth median .4 × 4
            #    = 1.6; bonus 3 + 3 = 6 capped at 5
            # c: rd 200 → capped at 2; pct 0 → 0; leverage .25 → 1 − .25 = .75 × 6 = 4.5; no bonus
            "points": [9.5, 7.6, 6.5],
            "points_base": [5.0, 2.6, 6.5],
            "points_bonus": [4.5, 5.0, 0.0],
            "points_rd_expense": [2.5, 0.0, 2.0],
            "points_pct_apps": [1.5, 1.0, 0.0],
            "points_leverage": [1.0, 1.6, 4.5],
            "points_bonus_vc": [1.5, 3.0, 0.0],  # per-item bonus columns are before the cap
            "points_bonus_awards": [3.0, 3.0, 0.0],
        },
        index=_firms().index,
    )
    assert_frame_equal(out, expected)


def test_stage_routes_points():
    firms = pd.DataFrame({"stage": list(STAGES), "rd_expense": [100.0] * 3, "pct_apps": [0.0] * 3,
                          "leverage": [1.0] * 3, "vc_raised": [0.0] * 3, "st_awards_2y": [0.0] * 3})
    # the same full rd_expense is worth its per-stage max: 5 / 4 / 2
    assert _load(_spec()).score(firms)["points"].tolist() == pytest.approx([5.0, 4.0, 2.0])


def test_stage_as_categorical_scores_like_strings():
    firms = _firms()
    as_cat = firms.assign(stage=pd.Categorical(firms["stage"], categories=list(STAGES)))
    formula = _load(_spec())
    assert_frame_equal(formula.score(as_cat), formula.score(firms))


def test_fractions_with_and_without_missing_policy():
    formula = _load(_spec())
    filled = formula.fractions(_firms())
    assert list(filled.columns) == ["rd_expense", "pct_apps", "leverage", "bonus_vc", "bonus_awards"]
    # firm b: zero, fixed .5, growth median .4 for the three missing indicators
    assert filled.loc["b", ["rd_expense", "pct_apps", "leverage"]].tolist() == pytest.approx([0.0, 0.5, 0.4])
    raw = formula.fractions(_firms().drop(columns="stage"), fill_missing=False)
    assert raw.loc["b", ["rd_expense", "pct_apps", "leverage"]].isna().all()


def test_score_names_a_missing_column():
    with pytest.raises(FormulaError, match=r"missing column\(s\) \['pct_apps'\]"):
        _load(_spec()).score(_firms().drop(columns="pct_apps"))


def test_score_names_an_unknown_stage_with_an_example():
    firms = _firms().assign(stage=["startup", "成长期", "stable"])
    with pytest.raises(FormulaError, match="column 'stage' has 1 row.*e.g. '成长期' at index 'b'"):
        _load(_spec()).score(firms)


def test_stage_codes_follow_stages_for_text_and_categories_and_refuse_a_missing_stage():
    text = pd.DataFrame({"stage": ["stable", "startup", "growth"]}, index=["a", "b", "c"])
    np.testing.assert_array_equal(stage_codes(text), [2, 0, 1])
    cats = text.astype({"stage": pd.CategoricalDtype(["growth", "stable", "startup"])})  # other category order
    np.testing.assert_array_equal(stage_codes(cats), [2, 0, 1])
    # A missing stage is an error, not code −1 (which would silently index the last stage, stable).
    for frame in (text.assign(stage=["stable", None, "growth"]),
                  cats.assign(stage=pd.Categorical(["stable", None, "growth"], categories=list(STAGES)))):
        with pytest.raises(FormulaError, match="column 'stage' has 1 row.*e.g. .* at index 'b'"):
            stage_codes(frame)
    with pytest.raises(FormulaError, match="column 'stage' is missing"):
        stage_codes(text.drop(columns="stage"))


def test_score_refuses_a_text_column():
    firms = _firms().assign(pct_apps=["1", "x", "2"])
    with pytest.raises(FormulaError, match="column 'pct_apps' must be numeric"):
        _load(_spec()).score(firms)


def test_required_columns():
    expected = ["rd_expense", "pct_apps", "leverage", "vc_raised", "st_awards_2y"]
    assert _load(_spec()).required_columns == expected


# --------------------------------------------------------------------------------------- round trip


def _hashed(spec: dict) -> Formula:
    return _load(spec).with_hash()


def test_json_yaml_json_is_byte_identical_with_awkward_floats():
    spec = _spec()
    # floats that a lossy writer would change: 0.1 + 0.2, tiny and huge magnitudes
    spec["indicators"][0]["curve"]["full_at"] = 0.1 + 0.2
    spec["indicators"][2]["curve"]["breakpoints"] = [1e-7, 0.30000000000000004, 1e20]
    spec["provenance"]["metrics"] = {"test_auc": 0.7123456789012345, "test_ks": 1e-12}
    formula = _hashed(spec)
    text = formula.to_text("json")
    again = Formula.from_text(Formula.from_text(text, "json").to_text("yaml"), "yaml")
    assert again.to_text("json") == text
    assert again == formula


def test_load_save_load_gives_same_object_and_scores():
    formula = _hashed(_spec())
    for fmt in ("json", "yaml"):
        reloaded = Formula.from_text(formula.to_text(fmt), fmt)
        assert reloaded == formula
        assert_frame_equal(reloaded.score(_firms()), formula.score(_firms()), check_exact=True)


def test_hash_is_the_same_for_json_and_yaml():
    formula = _hashed(_spec())
    from_yaml = Formula.from_text(formula.to_text("yaml"), "yaml")
    assert from_yaml.provenance.content_hash == formula.provenance.content_hash == formula.compute_hash()
    assert len(formula.provenance.content_hash) == 64


def test_tampered_file_is_refused():
    text = _hashed(_spec()).to_text("json")
    tampered = text.replace('"full_at": 100.0', '"full_at": 90.0', 1)
    assert tampered != text
    with pytest.raises(FormulaError, match="content_hash mismatch: the file was edited after it was"):
        Formula.from_text(tampered, "json")


def test_unhashed_file_needs_explicit_permission():
    with pytest.raises(FormulaError, match="provenance.content_hash: missing"):
        Formula.from_dict(_spec())
    assert Formula.from_dict(_spec(), allow_unhashed=True).provenance.content_hash == ""


def test_to_dict_has_a_fixed_key_order_and_every_key():
    data = _load(_spec()).to_dict()
    assert list(data) == ["schema_version", "name", "version", "title", "description", "illustrative",
                          "scale", "stage_rule", "indicators", "bonus", "local_indicators", "provenance"]
    assert list(data["indicators"][0]) == ["id", "group", "official_group", "direction", "points", "curve",
                                           "missing"]
    assert data["indicators"][0]["direction"] is None  # unset: the catalog's direction applies


# -------------------------------------------------------------------------------------- invalid files


def _broken(edit) -> dict:
    spec = copy.deepcopy(_spec())
    edit(spec)
    return spec


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        pytest.param(lambda s: s["indicators"][0].update(curve={"type": "spline"}),
                     "indicators[0].curve: Input tag 'spline'", id="unknown-curve-type"),
        pytest.param(lambda s: s["indicators"][0]["curve"].update(edges=[1.0]),
                     "indicators[0].curve.edges: unknown key", id="extra-curve-key"),
        pytest.param(lambda s: s.update(colour="red"), "colour: unknown key", id="extra-top-level-key"),
        pytest.param(lambda s: s["indicators"][1].pop("points"),
                     "indicators[1].points: required key is missing", id="missing-key"),
        pytest.param(lambda s: s["indicators"][1]["points"].update(growth=1.0),
                     "indicators[*].points.growth: the growth points sum to 9.0, must equal "
                     "scale.base_points (10.0)",
                     id="points-not-summing"),
        pytest.param(lambda s: s["indicators"][1].update(id="nope"),
                     "indicators[1].id: unknown indicator 'nope'", id="unknown-indicator"),
        pytest.param(lambda s: s["indicators"][1].update(id="rd_expense"),
                     "indicators[1].id: duplicate indicator 'rd_expense' (also indicators[0])",
                     id="duplicate"),
        pytest.param(lambda s: s["indicators"][1]["curve"].update(levels=[0.0, 1.0, 0.5]),
                     "indicators[1].curve.levels: must be non-decreasing because the direction is +1",
                     id="non-monotone-bins"),
        pytest.param(lambda s: s["indicators"][1]["curve"].update(edges=[3.0, 1.0]),
                     "indicators[1].curve.edges: must be strictly increasing", id="edges-not-increasing"),
        pytest.param(lambda s: s["indicators"][0]["points"].update(startup=-1.0, growth=10.0),
                     "indicators[0].points.startup: Input should be greater than or equal to 0",
                     id="negative-points"),
        pytest.param(lambda s: s["indicators"][0]["curve"].update(full_at=NAN),
                     "indicators[0].curve.full_at: must be a finite number, got nan", id="nan"),
        pytest.param(lambda s: s["provenance"]["metrics"].update(test_auc=float("inf")),
                     "provenance.metrics.test_auc: must be a finite number, got inf", id="inf-in-metrics"),
        pytest.param(lambda s: s["indicators"][0]["curve"].update(full_at="100"),
                     "indicators[0].curve.full_at: Input should be a valid number", id="text-for-number"),
        pytest.param(lambda s: s["indicators"][2]["missing"].update(fraction=0.5),
                     "indicators[2].missing.fraction: Input should be a valid dictionary",
                     id="stage-median-needs-per-stage"),
        pytest.param(lambda s: s["indicators"][0]["curve"].update(zero_at=100.0, full_at=0.0),
                     "indicators[0].curve: the linear_cap curve runs in direction -1 but the direction is +1",
                     id="curve-against-direction"),
        pytest.param(lambda s: s["bonus"][0].update(indicator="nope"),
                     "bonus[0].indicator: unknown indicator 'nope'", id="bonus-unknown-indicator"),
        pytest.param(lambda s: s["bonus"][1].update(id="vc"), "bonus[1].id: duplicate bonus item 'vc'",
                     id="bonus-duplicate"),
        pytest.param(lambda s: s["scale"].update(bonus_points=0.0),
                     "bonus: 2 bonus item(s) but scale.bonus_points is 0", id="bonus-without-cap"),
        pytest.param(lambda s: s["stage_rule"].update(startup_max_age=12),
                     "stage_rule: growth_max_age (10) must exceed startup_max_age (12)", id="stage-rule"),
        pytest.param(lambda s: s.update(local_indicators=[{"name_en": "x"}]),
                     "local_indicators[0].id: required", id="local-without-id"),
        pytest.param(lambda s: s.update(local_indicators=[{"id": "revenue"}]),
                     "local_indicators[0].id: 'revenue' is already in the catalog",
                     id="local-shadows-catalog"),
        pytest.param(lambda s: s.update(schema_version="2.0"),
                     "schema_version: '2.0' is not supported", id="schema-version"),
        pytest.param(lambda s: s.pop("schema_version"), "schema_version: is missing", id="no-schema-version"),
        pytest.param(lambda s: s.update(schema_version=1.0),
                     "schema_version: got the number 1.0; write it as a string",
                     id="unquoted-schema-version"),
    ],
)
def test_invalid_formula_names_the_field(edit, message):
    with pytest.raises(FormulaError) as err:
        Formula.from_dict(_broken(edit), allow_unhashed=True)
    assert message in str(err.value)


def test_non_monotone_bins_allowed_when_declared():
    spec = _broken(lambda s: s["indicators"][1]["curve"].update(levels=[0.0, 1.0, 0.5], monotone=False))
    assert isinstance(_load(spec).indicators[1].curve, Bins)


def test_decreasing_curve_allowed_with_explicit_direction():
    spec = _broken(lambda s: s["indicators"][0].update(direction=-1))
    spec["indicators"][0]["curve"] = {"type": "linear_cap", "zero_at": 100.0, "full_at": 0.0}
    formula = _load(spec)
    assert formula.direction_of("rd_expense") == -1
    assert isinstance(formula.indicators[0].curve, LinearCap)


def test_local_indicator_is_known_and_kept_verbatim():
    local = {"id": "local_incubator", "name_en": "Incubator graduate", "direction": 1, "extra": {"k": [1, 2]}}
    spec = _broken(lambda s: s.update(local_indicators=[local]))
    spec["indicators"][0]["points"]["startup"] = 4.0
    spec["indicators"].append({"id": "local_incubator",
                               "points": {"startup": 1.0, "growth": 0.0, "stable": 0.0},
                               "curve": {"type": "bins", "edges": [1.0], "levels": [0.0, 1.0]}})
    formula = _load(spec).with_hash()
    assert Formula.from_text(formula.to_text("yaml"), "yaml").local_indicators == [local]
    firms = _firms().assign(local_incubator=[1.0, 1.0, 1.0])
    assert formula.score(firms)["points_local_incubator"].tolist() == pytest.approx([1.0, 0.0, 0.0])


def test_nan_literal_in_json_text_is_refused():
    text = json.dumps(_spec()).replace('"full_at": 100.0', '"full_at": NaN')
    with pytest.raises(FormulaError, match=r"indicators\[0\].curve.full_at: must be a finite number"):
        Formula.from_text(text, "json", allow_unhashed=True)


@pytest.mark.parametrize(
    ("text", "fmt", "message"),
    [
        ('{"name": "a",', "json", "not valid JSON at line 1"),
        ('{"name": "a", "name": "b"}', "json", "key 'name' appears twice"),
        ("[1, 2]", "json", "the top level must be a mapping"),
        ("name: [unclosed", "yaml", "not valid YAML"),
        ("{}", "xml", "format 'xml' is not one of"),
    ],
)
def test_unreadable_text(text, fmt, message):
    with pytest.raises(FormulaError, match=message):
        Formula.from_text(text, fmt)


def test_yaml_written_by_hand_loads():
    text = yaml.safe_dump(_spec(), allow_unicode=True, sort_keys=False)
    assert Formula.from_text(text, "yaml", allow_unhashed=True) == _load(_spec())


# ------------------------------------------------------------------------------------ weights table


def test_weights_table_has_one_row_per_item_and_stage():
    table = weights_table(_load(_spec()))
    assert len(table) == (3 + 2) * len(STAGES)
    lev = table[(table["id"] == "leverage") & (table["stage"] == "growth")].iloc[0]
    assert lev["max_points"] == pytest.approx(4.0)
    assert lev["missing"] == "stage_median 0.4"
    assert lev["direction"] == -1 and lev["group"] == "financial"
    assert lev["reference"] == "3 breakpoints: min=0; median=0.5; max=1; reversed"
    bonus = table[table["kind"] == "bonus"]
    assert bonus["id"].unique().tolist() == ["vc", "awards"]
    # indicator rows carry the formula's max points per stage: they sum to base points in each stage
    per_stage = table[table["kind"] == "indicator"].groupby("stage")["max_points"].sum()
    assert per_stage.tolist() == pytest.approx([10.0, 10.0, 10.0])


# ---------------------------------------------------------------------------------------- rounding


def test_round_points_preserving_total_uses_largest_remainders():
    # 50 / 7 = 7.142857…: five floors of 7.14 and two 7.15 (ties go to earlier positions)
    out = round_points_preserving_total([50 / 7] * 7, 50.0, 2)
    assert out == [7.15, 7.15, 7.14, 7.14, 7.14, 7.14, 7.14]
    assert sum(out) == pytest.approx(50.0, abs=1e-9)
    # the largest remainder (.7 on the second value) takes the missing unit
    assert round_points_preserving_total([0.333, 0.337, 0.33], 1.0, 2) == [0.33, 0.34, 0.33]


def test_round_points_preserving_total_refuses_far_totals():
    with pytest.raises(FormulaError, match="too far from the total"):
        round_points_preserving_total([1.0, 1.0], 5.0, 2)


def test_scores_are_vectorised_over_many_rows():
    # guards the column-at-a-time implementation: 30k rows in one call, same as row by row for a sample
    rng = np.random.default_rng(3)
    n = 30_000
    firms = pd.DataFrame({
        "stage": rng.choice(list(STAGES), n),
        "rd_expense": rng.uniform(0, 150, n), "pct_apps": rng.integers(0, 5, n).astype(float),
        "leverage": rng.uniform(0, 1.2, n), "vc_raised": rng.uniform(0, 2000, n),
        "st_awards_2y": rng.integers(0, 3, n).astype(float),
    })
    formula = _load(_spec())
    whole = formula.score(firms)
    sample = firms.iloc[[0, 17, 29_999]]
    assert_frame_equal(whole.iloc[[0, 17, 29_999]], formula.score(sample))
    assert (whole["points"] <= 10.0 + 5.0).all()


def test_a_formula_scores_rows_in_its_own_rules_stages():
    # Rows built under the run's rule carry a formula's own stages in its rule's column when the rules differ:
    # every scoring path (score, fractions, stage_codes with the rule) reads those, so a baseline whose
    # start-ups are younger than 8 is never scored on the run's stages, whoever calls it.
    from innopoints.models.formula.baseline import official_2024

    base = official_2024()
    own = base.model_copy(update={"stage_rule": base.stage_rule.model_copy(update={"startup_max_age": 8})})
    rows = pd.DataFrame({i: [1.0, 1.0] for i in own.required_columns})
    rows["stage"] = ["growth", "stable"]
    rows[own.stage_rule.column] = ["startup", "stable"]
    assert stage_codes(rows, own.stage_rule).tolist() == [0, 2]
    assert stage_codes(rows, base.stage_rule).tolist() == [1, 2]  # another rule: the table's own stages
    assert own.score(rows)["stage"].astype(str).tolist() == ["startup", "stable"]
    expected = own.score(rows.assign(stage=["startup", "stable"]).drop(columns=own.stage_rule.column))
    assert own.score(rows)["points"].tolist() == expected["points"].tolist()
    assert own.fractions(rows).equals(own.fractions(rows.assign(stage=["startup", "stable"])))
