"""The command line end to end on a small synthetic cohort: exit codes, messages, files written."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from innopoints.features.catalog import list_indicators
from innopoints.features.stage import STAGES
from innopoints.pipeline.cli import app
from innopoints.pipeline.contract import COLUMNS
from innopoints.pipeline.io import write_tables
from tests.conftest import write_fast_config
from tests.pipeline.conftest import check_train_outputs

runner = CliRunner()
COMMANDS = ("simulate", "validate", "indicators", "features", "score", "export", "train", "run")


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def _simulated(tmp_path_factory, firms: int) -> Path:
    out = tmp_path_factory.mktemp("cli") / "d"
    result = invoke("simulate", "--firms", firms, "--seed", "1", "--out", out, "--quiet")
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> Path:
    return _simulated(tmp_path_factory, 8000)


def test_simulate_then_validate_exits_zero_with_the_contract_columns(cohort):
    assert invoke("validate", "--data", cohort).exit_code == 0
    for table, columns in COLUMNS.items():
        assert list(pd.read_parquet(cohort / f"{table}.parquet").columns) == list(columns)
    truth = json.loads((cohort / "truth.json").read_text(encoding="utf-8"))
    assert truth["sign_conflicts"] == ["rd_intensity"]


def test_same_seed_gives_byte_identical_files_and_another_seed_does_not(tmp_path):
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        assert invoke("simulate", "--firms", "2000", "--seed", seed, "--out", tmp_path / name, "--quiet").exit_code == 0
    for f in ("firms.parquet", "firm_years.parquet", "loans.parquet", "truth.json"):
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f
        assert (tmp_path / "a" / f).read_bytes() != (tmp_path / "c" / f).read_bytes(), f


def test_validate_names_table_column_rule_and_example_and_exits_one(tmp_path):
    assert invoke("simulate", "--firms", "2000", "--seed", "2", "--out", tmp_path, "--format", "csv",
                  "--quiet").exit_code == 0
    fy = pd.read_csv(tmp_path / "firm_years.csv", dtype={"firm_id": str})
    fy.loc[3, "revenue"] = -5.0
    fy.to_csv(tmp_path / "firm_years.csv", index=False)
    result = invoke("validate", "--data", tmp_path, "--json", tmp_path / "report.json")
    assert result.exit_code == 1
    assert "firm_years.revenue: must be >= 0" in result.output
    assert f"firm_id: {fy.loc[3, 'firm_id']}" in result.output
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert report["errors"][0]["table"] == "firm_years"


def test_user_mistakes_give_one_line_and_exit_two(tmp_path):
    result = invoke("validate", "--data", tmp_path / "nowhere")
    assert result.exit_code == 2
    assert result.output.strip().startswith("error:")
    assert "Traceback" not in result.output
    result = invoke("export", "builtin:no-such-formula", "--out", tmp_path / "x.json")
    assert result.exit_code == 2 and "official-2024" in result.output
    assert not (tmp_path / "x.json").exists()


def test_every_command_help_says_what_it_reads_and_writes():
    for command in COMMANDS:
        result = invoke(command, "--help")
        assert result.exit_code == 0
        text = " ".join(result.output.split())
        assert "Reads" in text or "reads" in text, command
        assert "Writes" in text or "writes" in text, command


def test_indicators_json_lists_the_catalog():
    rows = json.loads(invoke("indicators", "--json").output)
    assert len(rows) == len(list_indicators())
    assert sum(r["official"] for r in rows) == 17
    by_id = {r["id"]: r for r in rows}
    assert by_id["rd_intensity"]["inputs"] == ["rd_expense", "revenue"]
    assert by_id["revenue_growth"]["inputs"] == ["revenue"]
    assert {"id", "name_zh", "name_en", "group", "unit", "direction", "official", "inputs"} <= set(rows[0])


def test_features_writes_one_row_per_loan_and_the_population(cohort, tmp_path):
    out = tmp_path / "feat.parquet"
    result = invoke("features", "--data", cohort, "--out", out, "--population-year", "2025", "--quiet")
    assert result.exit_code == 0, result.output
    loans = pd.read_parquet(out)
    assert len(loans) == len(pd.read_parquet(cohort / "loans.parquet"))
    pop = pd.read_parquet(tmp_path / "feat_population.parquet")
    assert pop["firm_id"].is_unique and (pop["as_of_year"] == 2024).all()
    assert "missing" in result.output and "rd_intensity" in result.output


def test_score_and_export_round_trip(cohort, tmp_path):
    scores = tmp_path / "scores.parquet"
    assert invoke("score", "--formula", "builtin:official-2024", "--data", cohort, "--out", scores,
                  "--quiet").exit_code == 0
    table = pd.read_parquet(scores)
    assert list(table.columns[:4]) == ["firm_id", "stage", "points", "qualified"]
    assert table["qualified"].mean() == pytest.approx(0.1374, abs=0.01)
    # Every qualified firm has at least the points of every firm left out.
    assert table.loc[table["qualified"], "points"].min() >= table.loc[~table["qualified"], "points"].max()
    # Reason codes: the three indicators with the most points missed, and how many, largest first.
    assert {"reason_1", "missed_1", "reason_3", "missed_3"} <= set(table.columns)
    assert (table["missed_1"] >= table["missed_2"]).all() and (table["missed_2"] >= table["missed_3"]).all()
    ids = {c.removeprefix("points_") for c in table.columns if c.startswith("points_")}
    assert set(table["reason_1"].dropna()) <= ids
    assert invoke("export", "builtin:official-2024", "--format", "json", "--out", tmp_path / "a.json").exit_code == 0
    assert invoke("export", tmp_path / "a.json", "--format", "yaml", "--out", tmp_path / "a.yaml").exit_code == 0
    assert invoke("export", tmp_path / "a.yaml", "--format", "json", "--out", tmp_path / "b.json").exit_code == 0
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
    again = tmp_path / "again.parquet"
    assert invoke("score", "--formula", tmp_path / "a.yaml", "--data", cohort, "--out", again,
                  "--quiet").exit_code == 0
    pd.testing.assert_frame_equal(pd.read_parquet(again), table)
    assert invoke("export", "builtin:official-2024", "--format", "points", "--out", tmp_path / "p.csv").exit_code == 0
    points = pd.read_csv(tmp_path / "p.csv")
    assert list(points.columns[:9]) == ["id", "name_zh", "name_en", "unit", "direction", "policy_direction", "stage",
                                        "stage_zh", "max_points"]
    assert set(points["id"]) == set(table.columns.str.removeprefix("points_")) - set(table.columns)
    assert invoke("export", "builtin:official-2024", "--format", "csv", "--out", tmp_path / "w.csv").exit_code == 0
    weights = pd.read_csv(tmp_path / "w.csv")
    assert len(weights) == 17 * len(STAGES)
    assert weights.groupby("stage")["max_points"].sum().round(6).eq(100).all()


def test_export_for_excel_csv_with_bom_rounded_points_and_a_workbook(tmp_path):
    for fmt in ("csv", "points"):
        result = invoke("export", "builtin:official-2024", "--format", fmt, "--out", tmp_path / f"{fmt}.csv")
        assert result.exit_code == 0, result.output
        data = (tmp_path / f"{fmt}.csv").read_bytes()
        assert data.startswith(b"\xef\xbb\xbf") and "研发费用金额".encode() in data
        # Rounded for reading: no number with more than 6 significant digits (band edges, fractions, points).
        assert not re.search(rb"\d\.\d{7,}", data)
    result = invoke("export", "builtin:official-2024", "--format", "xlsx", "--out", tmp_path / "f.xlsx")
    assert result.exit_code == 0, result.output
    sheets = pd.read_excel(tmp_path / "f.xlsx", sheet_name=None)
    assert list(sheets) == ["weights", "points", "provenance"]
    pd.testing.assert_frame_equal(sheets["points"], pd.read_csv(tmp_path / "points.csv"), check_dtype=False)
    result = invoke("export", "builtin:official-2024", "--format", "xls", "--out", tmp_path / "f.xls")
    assert result.exit_code == 2 and "json, yaml, csv, points or xlsx" in result.output


@pytest.mark.parametrize("command", ["run", "train", "compare", "policy"])
def test_an_unknown_report_language_is_refused_before_any_work(command, tmp_path):
    args = {"run": ["run", "--no-mlflow", "--cohort-dir", tmp_path],
            "train": ["train", "--data", tmp_path, "--no-mlflow"],
            "compare": ["compare", "builtin:official-2024", "builtin:official-2024", "--data", tmp_path],
            "policy": ["policy", "--formula", "builtin:official-2024", "--data", tmp_path, "--no-mlflow"]}[command]
    result = invoke(*args, "--lang", "fr")
    assert result.exit_code == 2
    assert "--lang: 'fr' is not a report language; use one of en, zh" in result.output
    assert list(tmp_path.iterdir()) == []


def test_a_tampered_formula_is_refused(tmp_path):
    invoke("export", "builtin:official-2024", "--out", tmp_path / "f.json")
    text = (tmp_path / "f.json").read_text(encoding="utf-8").replace('"full_at": 1000.0', '"full_at": 999.0', 1)
    (tmp_path / "f.json").write_text(text, encoding="utf-8")
    result = invoke("export", tmp_path / "f.json", "--format", "csv", "--out", tmp_path / "w.csv")
    assert result.exit_code == 2 and "content_hash" in result.output


@pytest.mark.slow
def test_train_writes_formulas_evaluation_and_refinement(small_tables, mlflow_uri, tmp_path):
    # The quickest settings the config allows on a small cohort: every step runs, none for long.
    data = tmp_path / "data"
    write_tables(small_tables, data)
    config = write_fast_config(tmp_path)
    out = tmp_path / "train"
    result = invoke("train", "--data", data, "--out", out, "--config", config, "--quiet",
                    "--timings", tmp_path / "timings.json")
    assert result.exit_code == 0, result.output
    check_train_outputs(out, tmp_path / "timings.json", tmp_path)
    output = " ".join(result.output.split())
    assert "innopoints-formula versions: baseline v1" in output and "Warning" not in output


def test_a_local_indicator_declared_in_yaml_appears_in_the_features(cohort, tmp_path):
    config = tmp_path / "local.yaml"
    config.write_text(
        "local_indicators:\n"
        "  - id: rd_per_st_staff\n"
        "    name_zh: 人均科技人员研发费用\n"
        "    name_en: R&D per S&T staff\n"
        "    group: input\n"
        "    unit: CNY 10k\n"
        "    direction: 1\n"
        "    expression: rd_expense / st_staff\n", encoding="utf-8")
    out = tmp_path / "feat.parquet"
    result = invoke("features", "--data", cohort, "--out", out, "--config", config, "--quiet")
    assert result.exit_code == 0, result.output
    table = pd.read_parquet(out)
    fy = pd.read_parquet(cohort / "firm_years.parquet").set_index(["firm_id", "year"])
    row = table[table["has_history"]].iloc[0]
    raw = fy.loc[(row["firm_id"], row["year"] - 1)]
    expected = raw["rd_expense"] / raw["st_staff"] if raw["st_staff"] else float("nan")
    assert row["rd_per_st_staff"] == pytest.approx(expected, nan_ok=True)
    listed = json.loads(invoke("indicators", "--json", "--config", config).output)
    assert listed[-1]["id"] == "rd_per_st_staff" and listed[-1]["inputs"] == ["rd_expense", "st_staff"]


def test_a_malformed_local_indicator_gets_one_clear_error(cohort, tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text(
        "local_indicators:\n"
        "  - {id: bad_one, name_zh: 坏, name_en: Bad, group: input, unit: ratio, direction: 1,\n"
        "     expression: \"__import__('os').getcwd()\"}\n", encoding="utf-8")
    result = invoke("features", "--data", cohort, "--out", tmp_path / "f.parquet", "--config", config, "--quiet")
    assert result.exit_code == 2
    assert "local indicator 'bad_one'" in result.output and "not allowed" in result.output
    assert not (tmp_path / "f.parquet").exists()


def test_score_by_points_cutoff(cohort, tmp_path):
    out = tmp_path / "s.parquet"
    assert invoke("score", "--formula", "builtin:official-2024", "--data", cohort, "--out", out, "--cutoff", "40",
                  "--quiet").exit_code == 0
    table = pd.read_parquet(out)
    assert (table["qualified"] == (table["points"] >= 40)).all()
    assert invoke("score", "--formula", "builtin:official-2024", "--data", cohort, "--out", out, "--reasons", "0",
                  "--quiet").exit_code == 0
    assert not [c for c in pd.read_parquet(out).columns if c.startswith(("reason_", "missed_"))]


def test_every_subcommand_is_an_mlproject_entry_point_of_the_same_name():
    import string

    import typer.main
    import yaml

    project = yaml.safe_load((Path(__file__).resolve().parents[2] / "MLproject").read_text(encoding="utf-8"))
    names = set(typer.main.get_command(app).commands)
    entries = project["entry_points"]
    assert names <= set(entries), names - set(entries)
    for name in names:
        assert entries[name]["command"].startswith(f"innopoints {name} "), name
        # every {placeholder} of the command is a declared parameter
        fields = {f for _, f, _, _ in string.Formatter().parse(entries[name]["command"]) if f}
        assert fields <= set(entries[name].get("parameters", {})), (name, fields)


@pytest.mark.slow
def test_compare_writes_the_reviewer_report_and_with_a_policy_its_simulation(cohort, tmp_path):
    from innopoints.models.formula.baseline import official_2024
    from innopoints.models.formula.schema import StagePoints

    base = official_2024()
    weights = {"revenue_growth": 30.0, "roe": 30.0, "tech_contract_turnover": 25.0, "revenue": 15.0}
    items = [item.model_copy(update={"points": StagePoints(**dict.fromkeys(STAGES, weights.get(item.id, 0.0)))})
             for item in base.indicators]
    candidate = base.model_copy(update={"name": "hand-candidate", "indicators": items}).with_hash()
    (tmp_path / "b.json").write_text(candidate.to_text("json"), encoding="utf-8")
    plain = invoke("compare", "builtin:official-2024", tmp_path / "b.json", "--data", cohort, "--out",
                   tmp_path / "plain" / "report.html", "--quiet")
    assert plain.exit_code == 0, plain.output
    assert "Lending and losses" not in (tmp_path / "plain" / "report.html").read_text(encoding="utf-8")
    assert not (tmp_path / "plain" / "policy").exists()
    (tmp_path / "p.yaml").write_text("monte_carlo:\n  draws: 2000\n", encoding="utf-8")
    with_policy = invoke("compare", "builtin:official-2024", tmp_path / "b.json", "--data", cohort, "--out",
                         tmp_path / "pol" / "report.html", "--policy", tmp_path / "p.yaml", "--quiet")
    assert with_policy.exit_code == 0, with_policy.output
    html = (tmp_path / "pol" / "report.html").read_text(encoding="utf-8")
    policy = json.loads((tmp_path / "pol" / "policy" / "policy.json").read_text(encoding="utf-8"))
    assert "Lending and losses under the policy" in html and "2,000 one-factor Monte Carlo draws" in html
    assert f"{policy['formulas']['hand-candidate']['expected_volume']:,.0f}" in html
    bad = invoke("compare", "builtin:official-2024", tmp_path / "b.json", "--data", cohort, "--out",
                 tmp_path / "bad" / "report.html", "--policy", tmp_path / "missing.yaml", "--quiet")
    assert bad.exit_code == 2 and not (tmp_path / "bad").exists()
