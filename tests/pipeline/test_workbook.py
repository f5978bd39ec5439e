"""Tests for pipeline/workbook.py: a formula as an Excel workbook that pandas and openpyxl read back exactly."""

from __future__ import annotations

import io

import openpyxl
import pandas as pd
import pytest

from innopoints.experiments.formatting import readable_table
from innopoints.models.formula.baseline import official_2024
from innopoints.models.formula.schema import points_table, weights_table
from innopoints.pipeline.workbook import SHEETS, formula_sheets, formula_workbook


@pytest.fixture(scope="module")
def formula():
    return official_2024()


@pytest.fixture(scope="module")
def workbook(formula) -> bytes:
    return formula_workbook(formula)


def test_pandas_reads_every_sheet_back_exactly(formula, workbook):
    back = pd.read_excel(io.BytesIO(workbook), sheet_name=None, engine="openpyxl")
    assert list(back) == list(SHEETS)
    for name, frame in formula_sheets(formula).items():
        # Excel has no integer-with-NA type: only the dtypes may differ (Int64 read as int64/float64).
        pd.testing.assert_frame_equal(back[name], frame, check_dtype=False)
    assert back["weights"]["name_zh"].iloc[0] == "研发费用金额" and "初创期" in set(back["points"]["stage_zh"])
    assert len(back["weights"]) == len(weights_table(formula)) and len(back["points"]) == len(points_table(formula))


def test_openpyxl_reads_the_cells_as_written(formula, workbook):
    wb = openpyxl.load_workbook(io.BytesIO(workbook))
    assert wb.sheetnames == list(SHEETS)
    for name, frame in formula_sheets(formula).items():
        rows = list(wb[name].iter_rows(values_only=True))
        assert list(rows[0]) == list(frame.columns)
        expected = [[None if not isinstance(v, str) and pd.isna(v) else v for v in row]
                    for row in frame.itertuples(index=False)]
        assert [list(r) for r in rows[1:]] == expected
    provenance = dict((k, v) for k, _, v in wb["provenance"].iter_rows(min_row=2, values_only=True))
    assert provenance["content_hash"] == formula.provenance.content_hash and provenance["name"] == formula.name


def test_the_same_formula_gives_the_same_bytes(formula, workbook):
    assert formula_workbook(formula) == workbook
    other = formula.model_copy(update={"version": "2"}).with_hash()
    assert formula_workbook(other) != workbook


def test_points_are_rounded_for_reading_and_the_json_keeps_full_precision(formula):
    curve = formula.indicators[0].curve
    edge = 1234.567891234
    precise = formula.model_copy(update={"indicators": [
        formula.indicators[0].model_copy(update={"curve": curve.model_copy(update={"full_at": edge})}),
        *formula.indicators[1:]]}).with_hash()
    points = formula_sheets(precise)["points"]
    assert edge not in set(points["from"]) and 1234.57 in set(points["from"])
    assert str(edge) in precise.to_text("json")
    table = readable_table(pd.DataFrame({"from": [0.1234567891, None], "to": [12345678.9, 3.0],
                                         "fraction": [0.123456, 1.0], "points": [1.23456, 7.0],
                                         "max_points": [7.149999, 7.0]}))
    assert table["from"].iloc[0] == 0.123457 and pd.isna(table["from"].iloc[1])
    assert table.drop(columns="from").to_dict("list") == {"to": [12345700.0, 3.0], "fraction": [0.1235, 1.0],
                                                          "points": [1.23, 7.0], "max_points": [7.15, 7.0]}
