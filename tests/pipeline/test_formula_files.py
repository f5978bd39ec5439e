"""Formulas as people use them on the command line: hand-written files, the tamper check and re-sealing, the
`innopoints formula` commands, the JSON Schema, and guideline 2.0 against 1.0."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pandas as pd
import pytest
from typer.testing import CliRunner

from innopoints.features.stage import STAGES
from innopoints.models.formula.baseline import official_2024
from innopoints.pipeline.cli import app
from innopoints.pipeline.io import write_tables
from tests.conftest import write_fast_config
from tests.models.formula.test_hand_written import doc_example

runner = CliRunner()
FORMULAS = Path(__file__).resolve().parents[2] / "pipeline" / "formulas"


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def one_line(output: str) -> str:
    return " ".join(output.split())


@pytest.fixture(scope="module")
def data(small_tables, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("formula-cli") / "data"
    write_tables(small_tables, out)
    return out


@pytest.fixture
def hand(tmp_path) -> Path:
    path = tmp_path / "hand.yaml"
    path.write_text(doc_example(), encoding="utf-8")
    return path


def test_a_hand_typed_formula_scores_and_says_it_was_unsealed(data, hand, tmp_path):
    out = tmp_path / "scores.csv"
    result = invoke("score", "--formula", hand, "--data", data, "--out", out, "--quiet")
    assert result.exit_code == 0, result.output
    said = one_line(result.output)
    assert said.count("is unsealed") == 1
    assert f"seal it with `innopoints formula seal {hand} --out {hand}`" in said
    scores = pd.read_csv(out)
    assert len(scores) > 1000 and scores["points"].between(0, 110).all()
    assert scores["points_bonus_award"].max() > 0 and scores["qualified"].any()


def test_an_edited_weight_is_refused_until_the_file_is_resealed(data, tmp_path):
    path = tmp_path / "edited.yaml"
    text = official_2024().to_text("yaml")
    path.write_text(text.replace("startup: 7.15", "startup: 8.15", 1).replace("startup: 7.15", "startup: 6.15", 1),
                    encoding="utf-8")
    out = tmp_path / "scores.csv"
    refused = invoke("score", "--formula", path, "--data", data, "--out", out, "--quiet")
    assert refused.exit_code == 2 and not out.exists()
    assert f"re-seal the file with `innopoints formula seal {path} --out {path}`" in one_line(refused.output)
    checked = invoke("formula", "check", path)
    assert checked.exit_code == 2 and "1 problem(s)" in checked.output
    sealed = invoke("formula", "seal", path, "--out", path)
    assert sealed.exit_code == 0 and "replaced the stale hash" in one_line(sealed.output)
    scored = invoke("score", "--formula", path, "--data", data, "--out", out, "--quiet")
    assert scored.exit_code == 0, scored.output
    assert "unsealed" not in scored.output and out.exists()
    assert invoke("formula", "check", path).exit_code == 0


def test_check_lists_every_problem_and_exits_2(hand):
    text = hand.read_text(encoding="utf-8")
    hand.write_text(text.replace("id: rd_expense", "id: rd_spend").replace("stable: 30}", "stable: 31}"),
                    encoding="utf-8")
    result = invoke("formula", "check", hand)
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.startswith(str(hand))]
    assert len(lines) == 2 and "unknown indicator 'rd_spend'" in lines[0] and "stable points sum" in lines[1]


def test_new_writes_a_template_that_checks_and_seals(tmp_path):
    path = tmp_path / "draft.yaml"
    assert invoke("formula", "new", "--from", "builtin:guideline-2025", "--out", path).exit_code == 0
    text = path.read_text(encoding="utf-8")
    assert text.count("# ") > 20 and "content_hash: ''" in text
    checked = invoke("formula", "check", path)
    assert checked.exit_code == 0 and "unsealed" in checked.output
    assert invoke("formula", "seal", path, "--out", tmp_path / "sealed.json").exit_code == 0
    assert json.loads((tmp_path / "sealed.json").read_text(encoding="utf-8"))["provenance"]["content_hash"]
    assert invoke("formula", "new", "--from", "builtin:official-2024", "--out", tmp_path / "x.json").exit_code == 2


def test_the_printed_schema_validates_every_shipped_and_trained_formula(small_train, hand):
    result = invoke("formula", "schema")
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    validator = jsonschema.Draft202012Validator(schema)
    shipped = sorted(FORMULAS.glob("*.json"))
    assert [p.name for p in shipped] == ["guideline-2025.json", "official-2024.json"]
    for path in shipped:
        validator.validate(json.loads(path.read_text(encoding="utf-8")))
    assert len(small_train.formulas) > 5
    for formula in small_train.formulas.values():  # what `train` writes to OUT/formulas/<name>.json
        validator.validate(json.loads(formula.to_text("json")))
    assert list(validator.iter_errors({**json.loads(shipped[0].read_text(encoding="utf-8")), "scale": {}}))


def test_guideline_2025_exports_with_both_structures(tmp_path):
    for fmt, name in (("json", "g.json"), ("yaml", "g.yaml"), ("csv", "g.csv"), ("points", "p.csv")):
        assert invoke("export", "builtin:guideline-2025", "--format", fmt, "--out", tmp_path / name).exit_code == 0
    weights = pd.read_csv(tmp_path / "g.csv")
    assert set(weights["category_zh"]) == {"投入", "产出", "发展", "影响"}
    assert set(weights["official_group_zh"]) == {"技术创新", "成长经营", "辅助"}
    assert weights.loc[weights["kind"] == "bonus", "max_points"].sum() == 30.0 * len(STAGES)


@pytest.mark.slow
def test_guideline_2025_scores_within_130_and_compares_with_official_2024(data, tmp_path):
    out = tmp_path / "scores.csv"
    assert invoke("score", "--formula", "builtin:guideline-2025", "--data", data, "--out", out,
                  "--quiet").exit_code == 0
    scores = pd.read_csv(out)
    bonus = scores[[c for c in scores.columns if c.startswith("points_bonus_")]].sum(axis=1).clip(upper=30.0)
    base = scores["points"] - bonus
    assert scores["points"].max() <= 130.0 and bonus.max() <= 30.0 and base.max() <= 100.0 + 1e-9
    assert bonus.max() > 0
    write_fast_config(tmp_path)
    report = tmp_path / "report.html"
    result = invoke("compare", "builtin:official-2024", "builtin:guideline-2025", "--data", data, "--out", report,
                    "--config", tmp_path / "fast.yaml", "--quiet")
    assert result.exit_code == 0, result.output
    comparison = json.loads(report.with_suffix(".json").read_text(encoding="utf-8"))
    migration = pd.DataFrame(comparison["migration"])
    overall = migration.iloc[0]
    assert (overall["slice"], overall["firms"]) == ("all", len(scores))
    for col in ("stage", "province", "is_sme"):  # each slice adds up to the overall movements
        part = migration[migration["slice"] == col]
        assert part[["firms", "entering", "leaving", "staying"]].sum().tolist() == overall[
            ["firms", "entering", "leaving", "staying"]].tolist()
    assert overall["entering"] > 0 and overall["entering"] - overall["leaving"] == overall["net"]
    structure = pd.DataFrame(comparison["structure"])
    bonus_row = structure[structure["scheme"] == "bonus"].iloc[0]
    assert (bonus_row["points_a"], bonus_row["points_b"]) == (0.0, 30.0)
    assert "Migration (B vs A)" in report.with_suffix(".md").read_text(encoding="utf-8")
    assert 'id="migration"' in report.read_text(encoding="utf-8")


@pytest.mark.slow
def test_a_hand_typed_formula_is_a_baseline_for_train(data, hand, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_fast_config(tmp_path)
    out = tmp_path / "train"
    result = invoke("train", "--data", data, "--baseline", hand, "--out", out, "--config", tmp_path / "fast.yaml",
                    "--no-mlflow", "--quiet")
    assert result.exit_code == 0, result.output
    assert one_line(result.output).count("is unsealed") == 1
    baseline = json.loads((out / "formulas" / "baseline.json").read_text(encoding="utf-8"))
    assert baseline["name"] == "hand-example" and baseline["provenance"]["content_hash"]
    schema = json.loads(invoke("formula", "schema").stdout)
    written = sorted((out / "formulas").glob("*.json"))
    assert len(written) > 5
    for path in written:
        formula = json.loads(path.read_text(encoding="utf-8"))
        jsonschema.validate(formula, schema)
        if path.name != "baseline.json":  # candidates move the hand-written bonus within its cap of 10
            assert sum(b["points"] for b in formula["bonus"]) <= 10.0 + 1e-9
            assert formula["scale"]["bonus_points"] == 10.0
