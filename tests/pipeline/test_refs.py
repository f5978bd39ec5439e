"""Tests for pipeline/refs.py: what a formula reference names and how each kind loads."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from innopoints.features.errors import FormulaError, TrackingError
from innopoints.models.formula.baseline import official_2024
from innopoints.pipeline.refs import builtin_names, formula_format, is_mlflow_ref, load_formula

RUN_ID = "0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize(("ref", "mlflow"), [
    ("models:/innopoints-formula@candidate", True),
    ("models:/innopoints-formula/3", True),
    (f"runs:/{RUN_ID}", True),
    (RUN_ID, True),
    (f"  {RUN_ID}\n", True),  # pasted with blanks around
    (RUN_ID[:-1], False),  # 31 hex digits: a file name
    (RUN_ID.upper(), False),  # MLflow run ids are lower case
    ("builtin:official-2024", False),
    ("formulas/best.json", False),
])
def test_mlflow_references_are_told_from_files_and_builtins(ref, mlflow):
    assert is_mlflow_ref(ref) is mlflow


def test_the_shipped_formulas_are_listed_by_name():
    assert builtin_names() == ["guideline-2025", "official-2024"]


@pytest.mark.parametrize(("name", "fmt"), [("f.json", "json"), ("f.JSON", "json"), ("f.yaml", "yaml"),
                                           ("f.yml", "yaml")])
def test_formula_format_follows_the_suffix(name, fmt):
    assert formula_format(Path(name)) == fmt


def test_an_unknown_suffix_is_refused_naming_the_file():
    with pytest.raises(FormulaError, match=re.escape("formula file f.txt: unknown suffix '.txt' (use .json, "
                                                     ".yaml or .yml)")):
        formula_format(Path("f.txt"))


def test_a_builtin_loads_byte_identical_to_the_baseline():
    assert load_formula("builtin:official-2024").to_text() == official_2024().to_text()


def test_an_unknown_builtin_lists_the_shipped_ones():
    with pytest.raises(FormulaError, match="no built-in formula 'nope'; shipped: guideline-2025, official-2024"):
        load_formula("builtin:nope")


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_a_formula_file_loads_in_either_format(tmp_path, fmt):
    path = tmp_path / f"f.{fmt}"
    path.write_text(official_2024().to_text(fmt), encoding="utf-8-sig")  # a byte-order mark is tolerated
    assert load_formula(str(path)).provenance.content_hash == official_2024().provenance.content_hash


def test_a_missing_file_says_which_references_exist(tmp_path):
    with pytest.raises(FormulaError, match=re.escape(f"formula '{tmp_path / 'x.json'}' is not a file, builtin:NAME "
                                                     "(guideline-2025, official-2024), models:/NAME@ALIAS")):
        load_formula(str(tmp_path / "x.json"))


def test_an_mlflow_reference_checks_the_store_first():
    with pytest.raises(TrackingError, match=r"'http://127.0.0.1:9' is not usable: cannot connect"):
        load_formula("models:/innopoints-formula@candidate", uri="http://127.0.0.1:9")
