"""A formula as an Excel workbook (`innopoints export --format xlsx`): the tables officials and banks open.

Three sheets: ``weights`` (the weights table), ``points`` (the points table to apply by hand) and
``provenance`` (where the formula comes from and its content hash), with the Chinese names beside the ids.
The tables are rounded for reading as the CSV exports are; the JSON/YAML formula file keeps full precision.
The same formula gives the same bytes: the workbook's timestamps and the zip entries' dates are fixed.
"""

from __future__ import annotations

import datetime as dt
import io
import zipfile

import pandas as pd
from openpyxl import Workbook
from openpyxl.utils import get_column_letter
from openpyxl.writer.excel import ExcelWriter

from innopoints.experiments.formatting import readable_table
from innopoints.models.formula.schema import Formula, points_table, weights_table

SHEETS: tuple[str, ...] = ("weights", "points", "provenance")
FIXED_TIME = dt.datetime(2000, 1, 1)
"""Stamped as the workbook's created/modified time and every zip entry's date, so bytes depend on content only."""
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


def provenance_table(formula: Formula) -> pd.DataFrame:
    """The formula's identity and provenance as ``key, 说明, value`` rows (text values; empty when not set)."""
    p = formula.provenance
    rows = [
        ("name", "名称", formula.name), ("version", "版本", formula.version), ("title", "标题", formula.title),
        ("base_points", "基础分", formula.scale.base_points), ("bonus_points", "加分上限", formula.scale.bonus_points),
        ("method", "方法", p.method), ("illustrative", "示意(非官方权重)", formula.illustrative),
        ("seed", "随机种子", p.seed),
        ("data_fingerprint", "数据指纹", p.data_fingerprint), ("config_hash", "配置哈希", p.config_hash),
        ("content_hash", "内容哈希", p.content_hash),
    ]
    values = [(k, zh, None if v in (None, "") else str(v)) for k, zh, v in rows]
    return pd.DataFrame(values, columns=["key", "说明", "value"])


def formula_sheets(formula: Formula) -> dict[str, pd.DataFrame]:
    """The frames of the workbook, by sheet name, exactly as written."""
    return {"weights": readable_table(weights_table(formula)), "points": readable_table(points_table(formula)),
            "provenance": provenance_table(formula)}


def formula_workbook(formula: Formula) -> bytes:
    """The workbook of ``formula`` as xlsx bytes (openpyxl), deterministic."""
    wb = Workbook()
    wb.remove(wb.active)
    for name, frame in formula_sheets(formula).items():
        ws = wb.create_sheet(name)
        ws.append([str(c) for c in frame.columns])
        for row in frame.itertuples(index=False):
            ws.append([_cell(v) for v in row])
        ws.freeze_panes = "A2"
        for i, col in enumerate(frame.columns, start=1):
            width = max([len(str(col))] + [len(str(v)) for v in frame[col].head(200)])
            ws.column_dimensions[get_column_letter(i)].width = min(max(width + 2, 8), 60)
    wb.properties.created = wb.properties.modified = FIXED_TIME
    wb.properties.creator = "innopoints"
    raw = io.BytesIO()
    ExcelWriter(wb, zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED)).save()
    return _fixed_dates(raw.getvalue())


def _cell(value):
    """A cell value openpyxl writes as is: NA/NaN as an empty cell, numpy scalars as Python numbers."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return value.item() if hasattr(value, "item") else value


def _fixed_dates(data: bytes) -> bytes:
    """The same zip with every entry dated :data:`_ZIP_DATE` (zipfile stamps the current time)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(zipfile.ZipInfo(info.filename, date_time=_ZIP_DATE), src.read(info.filename),
                         compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()
