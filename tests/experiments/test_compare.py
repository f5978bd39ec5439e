"""Tests for experiments/compare.py: the reviewer comparison of two formulas (its rendering: test_html.py).

The comparison is the session's (``tests/experiments/conftest.py``): the illustrative official formula against
a candidate that moves 3 points per stage from R&D expense to invention-patent applications. Every number
the comparison reports is checked against a direct call of the function it comes from, or against a hand
computation with :func:`innopoints.models.formula.qualify.qualified_mask`.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from innopoints.experiments.compare import (
    biggest_changes,
    compare_formulas,
    importance_side_by_side,
    points_changes,
    sign_conflicts,
)
from innopoints.experiments.html import render_html, render_markdown
from innopoints.features.stage import STAGES
from innopoints.models.evaluation.evaluate import evaluate_points, points_psi_by_year, temporal_split
from innopoints.models.evaluation.metrics import QUALIFIED_SHARE, EvaluationError, psi
from innopoints.models.formula.baseline import official_2024
from innopoints.models.formula.curves import LinearCap
from innopoints.models.formula.qualify import qualified_mask
from innopoints.models.formula.schema import Formula
from tests.experiments.conftest import MOVED, N_BOOT, TEST_YEAR, validated

# ----------------------------------------------------------------------------------- numbers match


def test_metrics_match_direct_evaluate_points(data, formulas, comparison):
    loans, _ = data
    a, b = formulas
    scored = loans.assign(pa=a.score(loans)["points"], pb=b.score(loans)["points"])
    train, test = temporal_split(scored, "year", TEST_YEAR)
    direct_a = evaluate_points(train, test, "pa", n_boot=N_BOOT, seed=3)
    direct_b = evaluate_points(train, test, "pb", baseline_col="pa", n_boot=N_BOOT, seed=3)
    for key in ("test_auc", "test_ks", "test_brier", "test_top_default_rate", "train_auc"):
        assert comparison.metrics_a[key] == direct_a[key]
        assert comparison.metrics_b[key] == direct_b[key]
    # B is evaluated against A's points on the same loans: the paired intervals are the headline.
    assert comparison.headline["delta_auc"] == direct_b["delta_auc_vs_baseline"]
    assert comparison.headline["delta_top_default_rate"] == direct_b["delta_top_default_rate_vs_baseline"]
    assert comparison.headline["delong"] == direct_b["delong_vs_baseline"]
    assert comparison.calibration_b.to_dict(orient="records") == direct_b["calibration"]
    assert comparison.settings["test_year"] == TEST_YEAR
    # The simulated cohort must keep enough test defaults for the intervals to mean anything.
    assert comparison.settings["split"]["test_defaults"] >= 5


def test_psi_matches_direct_calls(data, formulas, comparison):
    loans, population = data
    a, b = formulas
    scored = loans.assign(pa=a.score(loans)["points"])
    assert comparison.psi["by_year_a"] == points_psi_by_year(scored, "pa")
    pop_a, pop_b = a.score(population)["points"], b.score(population)["points"]
    assert comparison.psi["a_vs_b_population"] == pytest.approx(psi(pop_a, pop_b), abs=1e-15)
    assert comparison.distribution["n_a"].sum() == len(population)
    assert comparison.distribution["n_b"].sum() == len(population)


def test_population_entering_and_leaving_equal_a_hand_count(data, formulas, comparison):
    _, population = data
    a, b = formulas
    qa = qualified_mask(a.score(population)["points"].to_numpy(), share=QUALIFIED_SHARE)
    qb = qualified_mask(b.score(population)["points"].to_numpy(), share=QUALIFIED_SHARE)
    head = comparison.headline["population"]
    assert head["entering"] == int((qb & ~qa).sum())
    assert head["leaving"] == int((qa & ~qb).sum())
    assert head["staying"] == int((qa & qb).sum())
    assert head["entering"] > 0  # the moved points must change someone's status, or this test proves nothing
    stage = population["stage"].astype(str).to_numpy()
    by_stage = {r["value"]: r for r in comparison.qualified_population["by"]["stage"]}
    for s in STAGES:
        m = stage == s
        assert by_stage[s]["entering"] == int((qb & ~qa & m).sum())
        assert by_stage[s]["leaving"] == int((qa & ~qb & m).sum())
    assert set(comparison.qualified_population["by"]) == {"province", "stage", "is_sme"}


def test_test_loan_groups_equal_a_hand_count(data, formulas, comparison):
    loans, _ = data
    a, b = formulas
    test = loans.loc[(loans["year"] == TEST_YEAR) & loans["outcome_observed"]]
    qa = qualified_mask(a.score(test)["points"].to_numpy(), share=QUALIFIED_SHARE)
    qb = qualified_mask(b.score(test)["points"].to_numpy(), share=QUALIFIED_SHARE)
    y = test["defaulted"].to_numpy()
    groups = comparison.qualified_loans["overall"]
    for name, m in (("entering", qb & ~qa), ("leaving", qa & ~qb), ("staying", qa & qb)):
        assert groups[name]["n"] == int(m.sum())
        assert groups[name]["defaults"] == int(y[m].sum())
    # Entering plus staying loans are B's top set, so their default rate is B's top-share default rate.
    top = groups["entering"]["defaults"] + groups["staying"]["defaults"]
    top_n = groups["entering"]["n"] + groups["staying"]["n"]
    assert top / top_n == pytest.approx(comparison.metrics_b["test_top_default_rate"], abs=1e-12)
    by_sme = comparison.qualified_loans["by"]["is_sme"]
    assert sum(r["entering"]["n"] for r in by_sme) == groups["entering"]["n"]


# --------------------------------------------------------------------------------------- points table


def test_points_change_table_is_exact(formulas, comparison):
    a, b = formulas
    table = comparison.points
    assert len(table) == len(a.indicators) * len(STAGES)
    moved = table.loc[table["change"] != 0]
    assert sorted(set(moved["id"])) == ["invention_patent_apps", "rd_expense"]
    for item in a.indicators:
        rows = table.loc[table["id"] == item.id].set_index("stage")
        for s in STAGES:
            before = getattr(item.points, s)
            expected = before - MOVED if item.id == "rd_expense" else before + MOVED * (
                item.id == "invention_patent_apps")
            assert rows.loc[s, "points_a"] == before
            assert rows.loc[s, "points_b"] == pytest.approx(expected, abs=1e-12)
            assert rows.loc[s, "change"] == pytest.approx(expected - before, abs=1e-9)
    big = biggest_changes(table)
    assert len(big) == 5 and set(big["change"].abs().round(9)) == {MOVED}
    assert comparison.headline["n_items_changed"] == 2
    assert comparison.headline["points_moved"] == {s: pytest.approx(MOVED) for s in STAGES}


def test_points_changes_take_the_union_of_items():
    a = official_2024()
    dropped = next(i for i in a.indicators if i.id == "pct_apps")
    granted = dropped.model_copy(update={"id": "invention_patents_granted", "group": None,
                                         "official_group": None, "curve": LinearCap(zero_at=0, full_at=5)})
    items = [granted if i.id == "pct_apps" else i for i in a.indicators]
    b = validated(a.model_copy(update={"indicators": items, "name": "swap"}))
    table = points_changes(a, b).set_index(["id", "stage"])
    for s in STAGES:
        # The dropped item scores 0 under B, the new one 0 under A: missing = 0, changes are exact.
        assert table.loc[("pct_apps", s), "points_b"] == 0.0
        assert table.loc[("pct_apps", s), "change"] == -getattr(dropped.points, s)
        assert table.loc[("invention_patents_granted", s), "points_a"] == 0.0
        assert table.loc[("invention_patents_granted", s), "change"] == getattr(dropped.points, s)
    assert table.loc[("pct_apps", "growth"), "curve_b"] is None
    assert table.loc[("invention_patents_granted", "growth"), "curve_b"] == "zero_at=0; full_at=5"
    # B's new item comes after all of A's items.
    assert list(points_changes(a, b)["id"])[-3:] == ["invention_patents_granted"] * 3


# ----------------------------------------------------------------------------------- self comparison


def test_a_formula_compared_with_itself_changes_nothing(data, formulas):
    loans, population = data
    a, _ = formulas
    same = compare_formulas(a, a, loans, population, n_boot=50, test_year=TEST_YEAR)
    h = same.headline
    assert h["delta_auc"] == [0.0, 0.0, 0.0]
    assert h["delta_top_default_rate"] == [0.0, 0.0, 0.0]
    assert (h["population"]["entering"], h["population"]["leaving"]) == (0, 0)
    assert h["test_loans"]["entering"]["n"] == 0 and h["test_loans"]["leaving"]["n"] == 0
    assert (same.points["change"] == 0).all() and h["biggest_changes"] == []
    assert h["psi_a_vs_b_population"] == pytest.approx(0.0, abs=1e-12)
    assert "No item&#x27;s points change" in render_html(same)


# ------------------------------------------------------------------------------- B's own rows


def _all_stable(frame: pd.DataFrame) -> pd.DataFrame:
    """The same rows as a stage rule that makes every firm stable would build them."""
    return frame.assign(stage=pd.Categorical(["stable"] * len(frame), categories=list(STAGES)))


def test_b_scores_the_rows_built_with_its_own_stage_rule(data, formulas):
    loans, population = data
    a, b = formulas
    comp = compare_formulas(a, b, loans, population, n_boot=20, test_year=TEST_YEAR,
                            loans_b=_all_stable(loans), population_b=_all_stable(population))
    pa, pb = a.score(population)["points"].to_numpy(), b.score(_all_stable(population))["points"].to_numpy()
    q = comp.qualified_population
    assert q["threshold_a"] == pa[qualified_mask(pa, share=QUALIFIED_SHARE)].min()
    assert q["threshold_b"] == pb[qualified_mask(pb, share=QUALIFIED_SHARE)].min()
    assert pb.min() != b.score(population)["points"].min()  # the stage really changes B's points here
    assert [r["value"] for r in comp.metrics_b["slices"]["stage"]] == ["stable"]
    assert {r["value"] for r in comp.metrics_a["slices"]["stage"]} == set(STAGES)


def test_b_rows_of_other_loans_are_refused(data, formulas):
    loans, population = data
    a, b = formulas
    with pytest.raises(EvaluationError, match=r"loans_b: must hold the same \d+ loans in the same order"):
        compare_formulas(a, b, loans, population, n_boot=20, test_year=TEST_YEAR, loans_b=loans.iloc[1:])


# ----------------------------------------------------------------------------- conflicts, importance


def _conflicted(a: Formula) -> Formula:
    """B scores R&D intensity against its policy direction (the literature's R&D-input risk)."""
    items = [i.model_copy(update={"direction": -1, "curve": LinearCap(zero_at=0.3, full_at=0.0)})
             if i.id == "rd_intensity" else i for i in a.indicators]
    return validated(a.model_copy(update={"indicators": items, "name": "conflicted"}))


def _importance(directions: dict[str, int]) -> pd.DataFrame:
    ids = list(directions)
    return pd.DataFrame({"mean_abs_shap": np.linspace(0.3, 0.1, len(ids)), "lo": 0.05, "hi": 0.4,
                         "rank": range(1, len(ids) + 1), "direction": list(directions.values())},
                        index=pd.Index(ids, name="feature"))


def test_sign_conflicts_from_the_formula_and_from_learned_directions():
    a = official_2024()
    b = _conflicted(a)
    imp_b = _importance({"rd_intensity": -1, "revenue": 1, "leverage": 1, "roe": 0})
    table = sign_conflicts(a, b, None, imp_b, "A", "B")
    got = sorted(zip(table["formula"], table["source"], table["id"], table["direction"], strict=True))
    # leverage's policy direction is −1, so a learned +1 conflicts; roe's 0 (unclear) never does.
    assert got == [("B", "learned", "leverage", 1), ("B", "learned", "rd_intensity", -1),
                   ("B", "scored", "rd_intensity", -1)]
    assert set(table.loc[table["id"] == "leverage", "policy_direction"]) == {-1}
    assert sign_conflicts(a, a).empty


def test_importance_side_by_side_joins_both_models():
    imp_a = _importance({"revenue": 1, "roe": 1})
    imp_b = _importance({"leverage": -1, "revenue": 1}).reset_index()  # a `feature` column works too
    table = importance_side_by_side(imp_a, imp_b)
    assert list(table.index) == ["revenue", "leverage", "roe"]  # by the larger importance of A and B
    assert table.loc["revenue", "importance_a"] == pytest.approx(0.3)
    assert table.loc["revenue", "importance_b"] == pytest.approx(0.1)
    assert np.isnan(table.loc["roe", "importance_b"])
    assert importance_side_by_side(None, None) is None


def test_importance_without_mean_abs_shap_is_refused():
    with pytest.raises(EvaluationError, match="importance table of B: column 'mean_abs_shap' is missing"):
        importance_side_by_side(None, pd.DataFrame({"shap": [0.1]}, index=["roe"]))


def test_importance_direction_outside_minus_one_to_one_is_refused():
    bad = _importance({"roe": 1}).assign(direction=[2])
    with pytest.raises(EvaluationError, match="column 'direction' must be -1, 0 or 1, e.g. 2 for 'roe'"):
        importance_side_by_side(bad, None)


def test_importance_and_conflicts_reach_the_report(data, formulas):
    loans, population = data
    a = formulas[0]
    b = _conflicted(a)
    imp = _importance({"rd_intensity": -1, "revenue": 1})
    comp = compare_formulas(a, b, loans, population, n_boot=20, test_year=TEST_YEAR,
                            importance_a=imp, importance_b=imp)
    html = render_html(comp)
    assert 'id="importance"' in html and "SHAP importance side by side" in html
    assert html.count('<td class="t">rd_intensity</td>') >= 3  # points table, importance, conflicts
    assert comp.headline["n_sign_conflicts"] == len(comp.sign_conflicts) == 3


# ------------------------------------------------------------------------------------ output hygiene


def test_as_dict_is_json_and_holds_no_firm_or_loan_id(data, comparison, report):
    loans, population = data
    text = json.dumps(comparison.as_dict(), ensure_ascii=False, allow_nan=False)
    ids = set(population["firm_id"]) | set(loans["firm_id"]) | set(loans["loan_id"])
    found = set(re.findall(r"[FL]\d{5,}", text + report))
    assert not found & ids
    assert "firm_id" not in text and "loan_id" not in text


def test_qualified_test_loans_are_cut_at_the_firms_cut_off_not_a_share_of_the_loans(data, formulas, comparison):
    # The policy qualifies the top share of the scoring year's firms; the test loans are judged at that cut-off.
    loans, population = data
    a, b = formulas
    h = comparison.headline
    for side, formula in (("a", a), ("b", b)):
        pop_points = formula.score(population)["points"].to_numpy()
        k = int(np.ceil(comparison.settings["share"] * len(pop_points)))
        cutoff = np.sort(pop_points)[::-1][k - 1]
        assert h[f"qualified_{side}"]["cutoff"] == pytest.approx(cutoff)
        test = loans[(loans["year"] == TEST_YEAR) & loans["outcome_observed"]]
        points = formula.score(test)["points"].to_numpy()
        assert h[f"qualified_{side}"]["qualified_n"] == int((points >= cutoff).sum())
        assert h[f"qualified_{side}"]["qualified_defaults"] == int(test["defaulted"].to_numpy()[points >= cutoff].sum())
    md = render_markdown(comparison)
    assert "cut-off that qualifies the top" in md and "Top-share default rate" not in md


def test_the_migration_table_adds_the_slices_up_to_the_overall_movements(comparison):
    m = comparison.migration
    q = comparison.qualified_population
    overall = m.iloc[0]
    assert (overall["slice"], overall["entering"], overall["leaving"], overall["staying"]) == (
        "all", q["entering"], q["leaving"], q["staying"])
    assert overall["entering"] > 0 and (m["net"] == m["entering"] - m["leaving"]).all()
    assert list(dict.fromkeys(m["slice"])) == ["all", "stage", "province", "is_sme"]
    for col in ("stage", "province", "is_sme"):
        part = m[m["slice"] == col]
        assert part[["firms", "entering", "leaving", "staying"]].sum().tolist() == overall[
            ["firms", "entering", "leaving", "staying"]].tolist()
    loans = comparison.qualified_loans["overall"]
    assert overall["loans_entering"] == loans["entering"]["n"]
    assert overall["default_rate_leaving"] == loans["leaving"]["default_rate"]
    assert json.loads(json.dumps(comparison.as_dict()))["migration"][0]["slice"] == "all"


@pytest.mark.slow  # about 2.5 s alone, more under load
def test_a_guideline_1_and_a_guideline_2_formula_compare_on_the_same_loans(data):
    from innopoints.models.formula.guideline import guideline_2025

    loans, population = data
    c = compare_formulas(official_2024(), guideline_2025(), loans, population, n_boot=N_BOOT, test_year=TEST_YEAR,
                         seed=3)
    overall = c.migration.iloc[0]
    # Each qualifies its own top share: the same number of firms, some of them different.
    assert overall["qualified_a"] == overall["qualified_b"] and overall["entering"] == overall["leaving"] > 0
    s = c.structure.set_index(["scheme", "group", "stage"])
    assert s.loc[("bonus", "cap", "all"), ["points_a", "points_b"]].tolist() == [0.0, 30.0]
    assert s.loc[("1.0", "technology_innovation", "startup"), "points_a"] == pytest.approx(50.0)
    assert s.loc[("2.0", "input", "startup"), "points_b"] == pytest.approx(30.0)
    for scheme in ("1.0", "2.0"):  # every point of both formulas is in one group of each scheme
        part = c.structure[c.structure["scheme"] == scheme]
        assert part.groupby("stage")[["points_a", "points_b"]].sum().to_numpy().tolist() == [[100.0, 100.0]] * 3
    html, md = render_html(c), render_markdown(c)
    assert 'id="migration"' in html and "A 100 base + 0 bonus points; B 100 base + 30 bonus points" in html
    assert "**Migration (B vs A):**" in md and "| stage | startup |" in md
