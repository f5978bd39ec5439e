"""Tests for pipeline/io.py: reading the input tables, writing files atomically."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from innopoints.features.errors import ConfigError, DataError
from innopoints.pipeline.contract import TABLES, coerce_tables, validate_tables
from innopoints.pipeline.io import (
    read_tables,
    write_bytes_atomic,
    write_csv_atomic,
    write_frame_atomic,
    write_tables,
    write_text_atomic,
)

YEAR = 2025


def _leftovers(folder: Path) -> list[str]:
    """Temporary files or folders a write may have left behind (their names start with a dot)."""
    return sorted(p.name for p in folder.rglob(".*"))


def _with_leading_zeros(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Numeric-looking ids with leading zeros, as many registries issue them."""
    ids = {"F0000001": "000123", "F0000002": "000456", "F0000003": "007", "F0000004": "0400"}
    return {t: df.assign(firm_id=df["firm_id"].map(ids)) for t, df in tables.items()}


# ---------------------------------------------------------------------------------------------------------
# Round trips
# ---------------------------------------------------------------------------------------------------------


def test_parquet_round_trip_is_exact(valid_tables, tmp_path):
    paths = write_tables(valid_tables, tmp_path)
    assert [p.name for p in paths] == ["firms.parquet", "firm_years.parquet", "loans.parquet"]
    back = read_tables(tmp_path)
    for table in TABLES:
        pd.testing.assert_frame_equal(back[table], valid_tables[table])
    assert _leftovers(tmp_path) == []


def test_csv_round_trip_keeps_leading_zeros_and_validates_clean(valid_tables, tmp_path):
    tables = _with_leading_zeros(valid_tables)
    write_tables(tables, tmp_path, fmt="csv")
    # Dates are written as plain ISO dates, not timestamps.
    assert "000123,ICBC,2022-03-15," in (tmp_path / "loans.csv").read_text(encoding="utf-8")
    back = read_tables(tmp_path)
    assert back["firms"]["firm_id"].tolist() == ["000123", "000456", "007", "0400"]
    report = validate_tables(back, current_year=YEAR)
    assert report.ok and report.warnings == [], report.render()
    coerced = coerce_tables(back)
    for table in TABLES:
        pd.testing.assert_frame_equal(coerced[table], tables[table])


def test_csv_with_byte_order_mark_reads_like_without(valid_tables, tmp_path):
    plain, bom = tmp_path / "plain", tmp_path / "bom"
    write_tables(_with_leading_zeros(valid_tables), plain, fmt="csv")
    bom.mkdir()
    for table in TABLES:
        text = (plain / f"{table}.csv").read_text(encoding="utf-8")
        (bom / f"{table}.csv").write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))  # as Excel saves it
    from_bom, from_plain = read_tables(bom), read_tables(plain)
    for table in TABLES:
        pd.testing.assert_frame_equal(from_bom[table], from_plain[table])
    assert from_bom["firms"].columns[0] == "firm_id"  # not "\ufefffirm_id"
    assert validate_tables(from_bom, current_year=YEAR).ok


def test_csv_bad_values_reach_the_validator_unchanged(tmp_path, valid_tables):
    write_tables(valid_tables, tmp_path, fmt="csv")
    path = tmp_path / "loans.csv"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace(",False,True\n", ",maybe,True\n", 1), encoding="utf-8")
    report = validate_tables(read_tables(tmp_path), current_year=YEAR)
    assert [f.render() for f in report.errors] == [
        "loans.defaulted: must be a boolean (true/false or 0/1) — 1 row, "
        "e.g. {loan_id: L0001, defaulted: maybe}"
    ]


def test_csv_blank_flag_is_a_null_not_a_type_error(tmp_path, valid_tables):
    write_tables(valid_tables, tmp_path, fmt="csv")
    path = tmp_path / "loans.csv"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace(",12,credit,False,True\n", ",12,credit,,True\n", 1), encoding="utf-8")
    back = read_tables(tmp_path)
    assert back["loans"]["defaulted"].dtype == object  # pandas: booleans with a gap
    report = validate_tables(back, current_year=YEAR)
    assert [f.render() for f in report.errors] == [
        "loans.defaulted: must not be null — 1 row, e.g. {loan_id: L0001, defaulted: null}"
    ]


def test_parquet_is_byte_deterministic(valid_tables, tmp_path):
    first = write_tables(valid_tables, tmp_path / "a")
    second = write_tables({t: df.copy() for t, df in valid_tables.items()}, tmp_path / "b")
    for a, b in zip(first, second, strict=True):
        assert a.read_bytes() == b.read_bytes()


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_column_pruning_skips_columns_the_file_lacks(valid_tables, tmp_path, fmt):
    write_tables(valid_tables, tmp_path, fmt=fmt)
    back = read_tables(tmp_path, columns={"firm_years": ["firm_id", "year", "revenue", "no_such_column"]})
    assert list(back["firm_years"].columns) == ["firm_id", "year", "revenue"]
    assert list(back["firms"].columns) == list(valid_tables["firms"].columns)  # not listed: read whole


# ---------------------------------------------------------------------------------------------------------
# Reading errors
# ---------------------------------------------------------------------------------------------------------


def test_missing_folder(tmp_path):
    with pytest.raises(DataError, match=r"data folder not found: .*nowhere"):
        read_tables(tmp_path / "nowhere")


def test_missing_table_names_the_paths_tried(valid_tables, tmp_path):
    write_tables({"firms": valid_tables["firms"], "loans": valid_tables["loans"]}, tmp_path)
    with pytest.raises(DataError) as caught:
        read_tables(tmp_path)
    assert str(caught.value) == (
        f"firm_years: table not found; tried {tmp_path / 'firm_years.parquet'}, {tmp_path / 'firm_years.csv'}"
    )


def test_both_formats_are_ambiguous(valid_tables, tmp_path):
    write_tables(valid_tables, tmp_path)
    valid_tables["loans"].to_csv(tmp_path / "loans.csv", index=False)
    expected = r"loans: ambiguous input, both .*loans\.parquet and .*loans\.csv exist; keep one"
    with pytest.raises(DataError, match=expected):
        read_tables(tmp_path)


def test_unreadable_parquet(valid_tables, tmp_path):
    write_tables(valid_tables, tmp_path)
    (tmp_path / "firms.parquet").write_bytes(b"not a parquet file")
    with pytest.raises(DataError, match=r"firms: cannot read .*firms\.parquet: Arrow"):
        read_tables(tmp_path)


def test_csv_that_is_not_utf8(valid_tables, tmp_path):
    write_tables(valid_tables, tmp_path, fmt="csv")
    (tmp_path / "firms.csv").write_bytes("firm_id,province\nF1,北京\n".encode("gb18030"))
    with pytest.raises(DataError, match=r"firms: cannot read .*firms\.csv: UnicodeDecodeError"):
        read_tables(tmp_path)


def test_empty_csv(valid_tables, tmp_path):
    write_tables(valid_tables, tmp_path, fmt="csv")
    (tmp_path / "loans.csv").write_text("", encoding="utf-8")
    with pytest.raises(DataError, match=r"loans: cannot read .*loans\.csv: EmptyDataError"):
        read_tables(tmp_path)


# ---------------------------------------------------------------------------------------------------------
# Atomic writes
# ---------------------------------------------------------------------------------------------------------


def _unserialisable() -> pd.DataFrame:
    return pd.DataFrame({"a": [1, "x"]})  # Arrow cannot store a column of ints and text


def test_failed_write_into_new_folder_leaves_nothing(valid_tables, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(ValueError, match="Conversion failed"):
        write_tables({"firms": valid_tables["firms"], "broken": _unserialisable()}, out)
    assert not out.exists()


def test_failed_write_keeps_the_previous_files(valid_tables, tmp_path):
    write_tables(valid_tables, tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    changed = {t: df.iloc[:1] for t, df in valid_tables.items()}
    with pytest.raises(ValueError):
        write_tables({**changed, "broken": _unserialisable()}, tmp_path)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # all or nothing
    assert _leftovers(tmp_path) == []


def test_write_refuses_to_make_a_folder_ambiguous(valid_tables, tmp_path):
    write_tables(valid_tables, tmp_path, fmt="csv")
    with pytest.raises(DataError, match=r"firms\.csv exists; writing firms\.parquet beside it"):
        write_tables(valid_tables, tmp_path, fmt="parquet")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["firm_years.csv", "firms.csv", "loans.csv"]


def test_unknown_format(valid_tables, tmp_path):
    with pytest.raises(ConfigError, match="unknown table format 'xlsx'; expected one of parquet, csv"):
        write_tables(valid_tables, tmp_path, fmt="xlsx")
    with pytest.raises(ConfigError, match="unknown table format 'txt'"):
        write_frame_atomic(valid_tables["firms"], tmp_path / "firms.txt")


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_write_frame_atomic_round_trips_and_survives_failure(valid_tables, tmp_path, suffix):
    path = tmp_path / "deep" / f"features{suffix}"
    assert write_frame_atomic(valid_tables["firms"], path) == path
    reader = pd.read_parquet if suffix == ".parquet" else pd.read_csv
    pd.testing.assert_frame_equal(reader(path), valid_tables["firms"])
    before = path.read_bytes()
    if suffix == ".parquet":
        with pytest.raises(ValueError):
            write_frame_atomic(_unserialisable(), path)
        assert path.read_bytes() == before
    assert _leftovers(tmp_path) == []


def test_write_text_atomic(tmp_path):
    path = tmp_path / "sub" / "truth.json"
    write_text_atomic(path, '{"a": 1}\r\n')
    write_text_atomic(path, '{"b": "北京"}\n')  # overwrite in place
    assert path.read_bytes() == '{"b": "北京"}\n'.encode()
    assert _leftovers(tmp_path) == []


BOM = b"\xef\xbb\xbf"


def test_every_csv_written_starts_with_the_utf8_bom_and_reads_back(valid_tables, tmp_path):
    """Excel on Chinese Windows reads UTF-8 only with the BOM; without it the Chinese names are garbled."""
    write_tables(valid_tables, tmp_path / "tables", fmt="csv")
    write_frame_atomic(valid_tables["firms"], tmp_path / "frame.csv")
    names = pd.DataFrame({"id": ["rd_expense"], "name_zh": ["研发费用金额"], "max_points": [7.15]})
    write_csv_atomic(names, tmp_path / "names.csv")
    written = [*(tmp_path / "tables").glob("*.csv"), tmp_path / "frame.csv", tmp_path / "names.csv"]
    assert len(written) == 5
    for path in written:
        data = path.read_bytes()
        assert data.startswith(BOM) and not data.startswith(BOM * 2), path.name
    expected = "id,name_zh,max_points\nrd_expense,研发费用金额,7.15\n"
    assert (tmp_path / "names.csv").read_bytes() == BOM + expected.encode()
    back = read_tables(tmp_path / "tables")
    assert back["firms"].columns[0] == "firm_id"
    assert validate_tables(back, current_year=YEAR).ok
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "names.csv", encoding="utf-8-sig"), names)


def test_write_bytes_atomic(tmp_path):
    path = write_bytes_atomic(tmp_path / "sub" / "x.bin", b"\x00\x01")
    assert path.read_bytes() == b"\x00\x01" and list(path.parent.iterdir()) == [path]


def test_outputs_follow_the_umask_and_leave_no_temporary_file(tmp_path):
    import os

    old = os.umask(0o027)
    try:
        paths = [write_text_atomic(tmp_path / "a.txt", "x\n"),
                 write_csv_atomic(pd.DataFrame({"a": [1]}), tmp_path / "b.csv"),
                 write_bytes_atomic(tmp_path / "c.xlsx", b"\x00")]
    finally:
        os.umask(old)
    assert [path.stat().st_mode & 0o777 for path in paths] == [0o640] * 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.csv", "c.xlsx"]


def test_the_next_writer_sweeps_what_a_killed_one_left(tmp_path):
    import os

    from innopoints.pipeline.io import OLD_TAG, TMP_TAG

    dead = tmp_path / f".a.txt{TMP_TAG}999999999-abcd"  # no such process
    dead.write_text("half", encoding="utf-8")
    alive = tmp_path / f".b.txt{TMP_TAG}{os.getppid()}-abcd"  # a running process: its file stays
    alive.write_text("busy", encoding="utf-8")
    cut = tmp_path / f".out{OLD_TAG}999999999-abcd"  # a swap cut between its renames: the old folder returns
    cut.mkdir()
    (cut / "kept.txt").write_text("previous", encoding="utf-8")
    write_text_atomic(tmp_path / "c.txt", "new\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([alive.name, "c.txt", "out"])
    assert (tmp_path / "out" / "kept.txt").read_text(encoding="utf-8") == "previous"
