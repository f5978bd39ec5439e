"""Tests for pipeline/steps.py: which step feeds which, on the tiny literal dataset and the session's quick
training (``small_train`` in ``tests/conftest.py``)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pandas as pd
import pytest

from innopoints.features.catalog import list_indicators
from innopoints.features.errors import DataError, IndicatorError
from innopoints.models.evaluation.metrics import auc
from innopoints.models.formula.baseline import official_2024
from innopoints.pipeline import steps
from innopoints.pipeline.config import RunConfig
from innopoints.pipeline.fingerprint import data_fingerprint
from innopoints.pipeline.io import write_tables
from tests.conftest import fast_config, hand_baseline

LOCAL = {"id": "rd_per_st_staff", "name_zh": "人均科技人员研发费用", "name_en": "R&D per S&T staff",
         "group": "input", "unit": "CNY 10k", "direction": 1, "expression": "rd_expense / st_staff"}


@pytest.fixture
def tables(valid_tables, tmp_path):
    """The tiny dataset as `load_tables` returns it from a folder."""
    write_tables(valid_tables, tmp_path / "data")
    return steps.load_tables(tmp_path / "data")


def test_load_tables_returns_the_three_tables_in_canonical_dtypes(tables, valid_tables):
    assert {k: v.shape for k, v in tables.items()} == {"firms": (4, 5), "firm_years": (8, 23), "loans": (4, 9)}
    for name, table in valid_tables.items():
        pd.testing.assert_frame_equal(tables[name], table, check_dtype=False)
    assert tables["loans"]["origination_date"].dtype.kind == "M"


def test_load_tables_refuses_data_that_breaks_the_contract(valid_tables, tmp_path):
    valid_tables["firm_years"].loc[3, "revenue"] = -5.0
    write_tables(valid_tables, tmp_path / "bad")
    with pytest.raises(DataError, match=r"firm_years\.revenue: must be >= 0 \(1 row, e\.g\. firm_id=F0000002 "
                                        r"year=2021 revenue=-5\.0\)"):
        steps.load_tables(tmp_path / "bad")


def test_indicator_set_adds_local_indicators_once():
    config = RunConfig(local_indicators=[LOCAL])
    ids = [i.id for i in steps.indicator_set(config, [LOCAL])]  # declared in the config and in a formula
    assert ids == [i.id for i in list_indicators()] + ["rd_per_st_staff"]
    assert [i.id for i in steps.indicator_set(RunConfig())] == [i.id for i in list_indicators()]


def test_a_local_indicator_may_not_reuse_a_builtin_id():
    with pytest.raises(IndicatorError, match="local indicator 'revenue': id already used"):
        steps.indicator_set(RunConfig(), [{**LOCAL, "id": "revenue"}])


def test_loan_table_has_one_row_per_loan_in_loan_order(tables):
    loans = steps.build_loan_table(tables, RunConfig())
    assert list(loans["loan_id"]) == ["L0001", "L0002", "L0003", "L0004"]
    assert list(loans["as_of_year"]) == [2021, 2021, 2022, 2022]  # the fiscal year before origination
    assert {i.id for i in list_indicators()} <= set(loans.columns)


def test_population_scores_the_year_after_the_last_fiscal_year(tables):
    year = steps.default_scoring_year(tables)
    assert year == 2023
    pop, exclusions = steps.build_population(tables, year, RunConfig())
    assert list(pop["firm_id"]) == ["F0000001", "F0000002", "F0000003"]
    assert list(pop["stage"].astype(str)) == ["stable", "growth", "stable"]  # founded 2012, 2018, 2005
    assert exclusions.counts == {"no firm_years row for the as-of fiscal year 2022": 1}  # F0000004


def test_the_formulas_own_stage_rule_wins(tables):
    base = official_2024()
    formula = base.model_copy(update={"stage_rule": base.stage_rule.model_copy(update={"growth_max_age": 15})})
    pop, _ = steps.build_population(tables, 2023, RunConfig(), formula)
    assert list(pop["stage"].astype(str)) == ["growth", "growth", "stable"]  # F0000001 is 10, F0000003 17


def test_score_population_gives_points_qualification_and_reasons(tables):
    pop, _ = steps.build_population(tables, 2023, RunConfig())
    scored = steps.score_population(official_2024(), pop, share=None, cutoff=40.0)
    assert list(scored.columns[:4]) == ["firm_id", "stage", "points", "qualified"]
    # Guards the illustrative official formula on the literal dataset.
    assert list(scored["points"]) == pytest.approx([46.802422, 18.143794, 50.809236], abs=1e-6)
    assert list(scored["qualified"]) == [True, False, True]
    assert list(scored["reason_1"]) == ["revenue", "postgrad_share", "postgrad_share"]
    assert (scored["missed_1"] >= scored["missed_2"]).all() and (scored["missed_2"] >= scored["missed_3"]).all()
    top = steps.score_population(official_2024(), pop, share=0.3, cutoff=None, reasons=0)
    assert list(top["qualified"]) == [False, False, True]
    assert not [c for c in top.columns if c.startswith(("reason_", "missed_"))]


def test_train_settings_carry_the_config():
    config = fast_config()
    s = steps.train_settings(config)
    assert (s.seed, s.n_boot, s.shap_rows, s.curves) == (1, 100, 200, "risk_bins")
    assert s.lgbm == {"n_jobs": 1}
    assert (s.evidence.refits, s.evidence.max_rows, s.evidence.workers, s.evidence.seed) == (5, 1000, 1, 1)
    t = config.train
    assert (s.evidence.n_estimators, s.evidence.learning_rate, s.evidence.num_leaves) == (20, t.learning_rate,
                                                                                           t.num_leaves)
    assert s.fit.group_bounds == {g: tuple(b) for g, b in config.train.group_bounds.items()}
    assert s.change_limits == (5.0, 10.0, 20.0, 30.0, 50.0) and s.recalibrations == (10.0, 30.0)
    assert (s.backtest_years, s.backtest_refits, s.min_slice_n, s.test_year) == (1, 5, 20, None)


def test_train_stamps_every_formula_with_the_data_and_config(small_tables, small_train):
    ev = small_train.evaluation
    assert list(small_train.formulas)[0] == "baseline" and ev["best"] in small_train.formulas
    fingerprint, config_hash = data_fingerprint(small_tables), fast_config().config_hash()
    for name, formula in small_train.formulas.items():
        if name == "baseline":
            continue
        assert formula.provenance.data_fingerprint == fingerprint, name
        assert formula.provenance.config_hash == config_hash, name
        # Learned candidates carry the data and config in their version; recalibrations keep the baseline's.
        version = "2024.1" if name.startswith("recal-") else f"{fingerprint[:8]}.{config_hash[:8]}"
        assert formula.version == version, name
    assert set(small_train.refinement["id"]) == {i.id for i in list_indicators()}


def test_write_train_outputs_writes_every_file(small_train, tmp_path):
    out = tmp_path / "train"
    paths = steps.write_train_outputs(small_train, out)
    assert paths == {"formulas": out / "formulas", "evaluation": out / "evaluation.json",
                     "refinement": out / "refinement.json", "report": out / "refinement.md",
                     "explain": out / "explain"}
    for name in small_train.formulas:
        assert (out / "formulas" / f"{name}.json").is_file() and (out / "formulas" / f"{name}.weights.csv").is_file()
    ev = json.loads((out / "evaluation.json").read_text(encoding="utf-8"))
    assert ev["best"] == small_train.evaluation["best"]
    refinement = json.loads((out / "refinement.json").read_text(encoding="utf-8"))
    assert refinement["recommended"] == ev["best"] and len(refinement["indicators"]) == len(small_train.refinement)
    frontier = json.loads((out / "frontier.json").read_text(encoding="utf-8"))
    assert [row["max_change"] for row in frontier] == [row["max_change"] for row in small_train.frontier]
    for png in ("importance.png", "groups.png", "frontier.png"):
        assert (out / "explain" / png).read_bytes()[:4] == b"\x89PNG", png
    top = list(small_train.explain["importance"].index[:6])
    assert sorted(p.name for p in (out / "explain").glob("dependence_*.png")) == sorted(
        f"dependence_{i}.png" for i in top)
    assert (out / "refinement.md").read_text(encoding="utf-8").startswith("# Indicator refinement report")
    assert [p.name for p in tmp_path.iterdir()] == ["train"]  # no scratch folder left


@pytest.mark.slow  # about 3 s: every plot drawn with the CJK font
def test_write_train_outputs_in_chinese_with_csv_for_excel(small_train, tmp_path):
    out = tmp_path / "train"
    steps.write_train_outputs(small_train, out, "zh")
    assert (out / "refinement.md").read_text(encoding="utf-8").startswith("# 指标优化报告")
    csvs = sorted(out.rglob("*.csv"))
    assert len(csvs) >= len(small_train.formulas) + len(small_train.explain)
    assert all(p.read_bytes().startswith(b"\xef\xbb\xbf") for p in csvs)
    importance = pd.read_csv(out / "explain" / "importance.csv", encoding="utf-8-sig", index_col=0)
    assert importance.loc["rd_expense", "name_zh"] == "研发费用金额"


def test_write_train_outputs_leaves_nothing_when_a_step_fails(small_train, tmp_path):
    broken = SimpleNamespace(**{**vars(small_train), "explain": {}})  # no importance table to plot
    with pytest.raises(KeyError, match="importance"):
        steps.write_train_outputs(broken, tmp_path / "train")
    assert list(tmp_path.iterdir()) == []


def test_compare_then_write_the_report_and_its_summary(small_tables, tmp_path):
    a = official_2024()
    b = a.model_copy(update={"name": "renamed"}).with_hash()
    comparison = steps.compare(a, b, small_tables, fast_config())
    assert comparison.settings["population_year"] == steps.default_scoring_year(small_tables) == 2025
    assert comparison.settings["data_fingerprint"] == data_fingerprint(small_tables)
    assert comparison.headline["delta_auc"] == [0.0, 0.0, 0.0]  # the same points under another name
    paths = steps.write_comparison(comparison, tmp_path / "report.html")
    assert paths == [tmp_path / "report.html", tmp_path / "report.md", tmp_path / "report.json"]
    assert paths[0].read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert "renamed" in paths[1].read_text(encoding="utf-8")
    data = json.loads(paths[2].read_text(encoding="utf-8"))
    assert data["label_b"] == comparison.label_b and data["migration"][0]["entering"] == 0  # same points


def test_compare_scores_each_formula_on_rows_built_with_its_own_stage_rule(small_tables):
    # A formula that calls firms start-ups up to age 8 must be compared on the stages `score` gives it, not on
    # the run config's: its qualified set and cut-off in the report equal those of scoring the population.
    a = official_2024()
    b = a.model_copy(update={"name": "older-startups",
                             "stage_rule": a.stage_rule.model_copy(update={"startup_max_age": 8})}).with_hash()
    config = fast_config()
    comparison = steps.compare(a, b, small_tables, config)
    year = steps.default_scoring_year(small_tables)
    pop_b, _ = steps.build_population(small_tables, year, config, b)
    scored_b = steps.score_population(b, pop_b, share=comparison.settings["share"], cutoff=None, reasons=0)
    assert comparison.headline["population"]["qualified_b"] == int(scored_b["qualified"].sum())
    cutoff = scored_b.loc[scored_b["qualified"], "points"].min()
    assert comparison.headline["qualified_b"]["cutoff"] == pytest.approx(cutoff)
    # The config's own rule would put fewer firms in start-up: the rows differ.
    pop_config, _ = steps.build_population(small_tables, year, config)
    assert (pop_b["stage"].astype(str) == "startup").sum() > (pop_config["stage"].astype(str) == "startup").sum()


@pytest.mark.slow
def test_train_scores_the_baseline_on_its_own_stage_rule(small_tables, hand_baseline_train):
    # A hand-written baseline that calls firms start-ups up to age 7: its test metrics, and those of its
    # recalibrations (which keep its rule), must be those of scoring loans built with its own rule, not the
    # run config's; the fitted candidates keep the run's rule.
    base, config, result = hand_baseline(), fast_config(), hand_baseline_train
    assert result.formulas["baseline"].stage_rule == base.stage_rule != config.stage_rule
    own = steps.build_loan_table(small_tables, config, base)
    test = own[own["outcome_observed"] & (own["year"] == result.split["test_year"])]
    y = test["defaulted"].to_numpy()
    points = base.score(test[base.required_columns + ["stage"]])["points"].to_numpy()
    assert result.evaluation["formulas"]["baseline"]["test_auc"] == pytest.approx(auc(y, -points))
    run_rule = steps.build_loan_table(small_tables, config)
    test_run = run_rule[run_rule["outcome_observed"] & (run_rule["year"] == result.split["test_year"])]
    wrong = base.score(test_run[base.required_columns + ["stage"]])["points"].to_numpy()
    assert auc(y, -wrong) != pytest.approx(auc(y, -points))  # the rules do give different points here
    recal = next(f for n, f in result.formulas.items() if n.startswith("recal-"))
    assert recal.stage_rule == base.stage_rule
    assert result.formulas["fitted-policy"].stage_rule == config.stage_rule


@pytest.mark.slow
def test_same_data_config_and_seed_give_byte_identical_formulas_and_refinement(small_tables, small_train):
    # The session's quick training (tests/conftest.py: every step runs, with its random draws, on 3,000 firms)
    # made again; the refits' own independence of the worker count is tested in tests/models/learning.
    again = steps.train(small_tables, fast_config(), official_2024())
    assert again.formulas.keys() == small_train.formulas.keys()
    for name in again.formulas:
        assert again.formulas[name].to_text("json") == small_train.formulas[name].to_text("json"), name
    assert again.refinement.to_json() == small_train.refinement.to_json()
    assert again.evaluation == small_train.evaluation
