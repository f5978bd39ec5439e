"""Reading the input tables and writing any output file, atomically.

Input: one folder with ``firms``, ``firm_years`` and ``loans``, each as ``<table>.parquet`` or
``<table>.csv`` (UTF-8, with or without a byte-order mark). Reading only parses: id and code columns
(:data:`innopoints.pipeline.contract.STRING_COLUMNS`) are read from CSV as text so that "000123" stays "000123";
every other column keeps the type the file gives it, and :func:`innopoints.pipeline.contract.validate_tables` judges
it. Output: every file is written to a temporary name beside its target and renamed into place, so a
failure leaves the previous file (or nothing), never half a file.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

import pandas as pd
import pyarrow
import pyarrow.parquet as pq

from innopoints.features.errors import ConfigError, DataError, InnopointsError
from innopoints.pipeline.contract import STRING_COLUMNS, TABLES

FORMATS: tuple[str, ...] = ("parquet", "csv")
CSV_ENCODING_IN = "utf-8-sig"  # reads UTF-8 with or without the BOM that Excel writes
CSV_DATE_FORMAT = "%Y-%m-%d"


# ---------------------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------------------


def read_tables(data_dir: Path, columns: Mapping[str, list[str]] | None = None) -> dict[str, pd.DataFrame]:
    """Read the three input tables from one folder.

    Args:
        data_dir: folder holding ``<table>.parquet`` or ``<table>.csv`` for each of firms, firm_years,
            loans.
        columns: optional columns to read per table; columns the file lacks are skipped (the validator
            reports them), so pruning never hides a missing column behind a read error.

    Returns:
        ``{"firms": ..., "firm_years": ..., "loans": ...}`` as parsed, unchanged otherwise.

    Raises:
        DataError: the folder or a table is missing, a table exists in both formats, or a file cannot be
            read.
    """
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DataError(f"data folder not found: {data_dir}")
    columns = columns or {}
    return {table: read_table(data_dir, table, columns.get(table)) for table in TABLES}


def read_table(data_dir: Path, table: str, columns: list[str] | None = None) -> pd.DataFrame:
    """Read one table from ``<data_dir>/<table>.parquet`` or ``.csv``; see :func:`read_tables`."""
    path = _table_path(Path(data_dir), table)
    try:
        if path.suffix == ".parquet":
            return _read_parquet(path, columns)
        return _read_csv(path, columns)
    except (OSError, ValueError, pyarrow.ArrowException) as exc:
        # ValueError covers pandas' parser errors, empty files and bad encodings (UnicodeDecodeError).
        raise DataError(f"{table}: cannot read {path}: {type(exc).__name__}: {exc}") from exc


def _table_path(data_dir: Path, table: str) -> Path:
    candidates = [data_dir / f"{table}.{fmt}" for fmt in FORMATS]
    present = [p for p in candidates if p.is_file()]
    if not present:
        tried = ", ".join(str(p) for p in candidates)
        raise DataError(f"{table}: table not found; tried {tried}")
    if len(present) > 1:
        both = " and ".join(str(p) for p in present)
        raise DataError(f"{table}: ambiguous input, both {both} exist; keep one")
    return present[0]


def _read_parquet(path: Path, columns: list[str] | None) -> pd.DataFrame:
    if columns is None:
        return pd.read_parquet(path)
    available = set(pq.read_schema(path).names)
    return pd.read_parquet(path, columns=[c for c in dict.fromkeys(columns) if c in available])


def _read_csv(path: Path, columns: list[str] | None) -> pd.DataFrame:
    wanted = None if columns is None else set(columns)
    return pd.read_csv(
        path,
        encoding=CSV_ENCODING_IN,
        dtype={c: "str" for c in STRING_COLUMNS},
        usecols=None if wanted is None else (lambda c: c in wanted),
        # One pass over the whole file, so a column gets one type, not one per chunk.
        low_memory=False,
    )


MAX_TEXT_INPUT_BYTES = 4_000_000
"""Largest formula, config or policy file read (bytes); YAML is further capped at
:data:`innopoints.features.safe_yaml.MAX_YAML_CHARS` characters."""

_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def read_text_input(path: Path, what: str, error: type[InnopointsError] = ConfigError) -> str:
    """The text of a small input file (formula, run config, policy), UTF-8 with or without a BOM.

    Every problem is one ``error`` naming the file: missing, a folder, unreadable, larger than
    :data:`MAX_TEXT_INPUT_BYTES`, UTF-16 (as some Windows editors save) or not UTF-8.
    """
    path = Path(path)
    if path.is_dir():
        raise error(f"{what} file {path} is a folder; give the file itself")
    if not path.is_file():
        raise error(f"{what} file {path} does not exist")
    try:
        size = path.stat().st_size
        if size > MAX_TEXT_INPUT_BYTES:
            raise error(f"{what} file {path}: {size:,} bytes, more than the {MAX_TEXT_INPUT_BYTES:,} accepted")
        raw = path.read_bytes()
    except OSError as exc:
        raise error(f"{what} file {path} cannot be read: {exc.strerror or exc}") from None
    if raw.startswith(_UTF16_BOMS):
        raise error(f"{what} file {path} is UTF-16; save it as UTF-8 (e.g. in Notepad: Save as, Encoding UTF-8)")
    try:
        return raw.decode(CSV_ENCODING_IN)
    except UnicodeDecodeError as exc:
        raise error(f"{what} file {path} is not UTF-8 text (byte {exc.start}: {raw[exc.start:exc.start + 1]!r}); "
                    "save it as UTF-8") from None


# ---------------------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------------------


def write_tables(tables: Mapping[str, pd.DataFrame], out_dir: Path, fmt: str = "parquet") -> list[Path]:
    """Write each table to ``<out_dir>/<name>.<fmt>``, all or nothing.

    The files are written into a temporary folder inside ``out_dir`` and renamed into place only when all
    of them were written; on any error the temporary folder is removed (and ``out_dir`` too, if this call
    created it and it is empty). Writing never leaves a table in both formats: a ``<name>.csv`` beside a
    new ``<name>.parquet`` (or the reverse) would make the folder ambiguous for :func:`read_tables`.

    Args:
        tables: name -> frame; names become file names.
        out_dir: folder to write into (created if needed).
        fmt: ``parquet`` (default) or ``csv``.

    Returns:
        The paths written, in the order of ``tables``.

    Raises:
        ConfigError: unknown format.
        DataError: the folder already holds one of the tables in the other format.
    """
    fmt = _check_format(fmt)
    out_dir = Path(out_dir)
    targets = {name: out_dir / f"{name}.{fmt}" for name in tables}
    for name in tables:
        for other in FORMATS:
            clash = out_dir / f"{name}.{other}"
            if other != fmt and clash.exists():
                raise DataError(
                    f"{clash} exists; writing {targets[name].name} beside it would make {out_dir} "
                    "ambiguous; remove it or write elsewhere"
                )
    created = not out_dir.exists()
    out_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".writing-", dir=out_dir))
    try:
        for name, frame in tables.items():
            _write_frame(frame, staging / targets[name].name, fmt)
        for name in tables:
            os.replace(staging / targets[name].name, targets[name])
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if created:
            with contextlib.suppress(OSError):  # only if still empty: never remove what others put there
                out_dir.rmdir()
        raise
    shutil.rmtree(staging, ignore_errors=True)
    return list(targets.values())


def write_frame_atomic(df: pd.DataFrame, path: Path) -> Path:
    """Write one frame to ``path`` atomically; the format follows the suffix (.parquet or .csv)."""
    path = Path(path)
    fmt = _check_format(path.suffix.lstrip("."))
    with _atomic_target(path) as tmp:
        _write_frame(df, tmp, fmt)
    return path


def write_text_atomic(path: Path, text: str) -> Path:
    """Write UTF-8 text to ``path`` atomically, exactly as given (no newline translation)."""
    path = Path(path)
    with _atomic_target(path) as tmp:
        tmp.write_text(text, encoding="utf-8", newline="")
    return path


def _check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise ConfigError(f"unknown table format {fmt!r}; expected one of {', '.join(FORMATS)}")
    return fmt


@contextlib.contextmanager
def _atomic_target(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` on success, delete it on failure."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _write_frame(df: pd.DataFrame, path: Path, fmt: str) -> None:
    if fmt == "parquet":
        # No index, no timestamps in the file: identical frames give identical bytes.
        df.to_parquet(path, index=False)
    else:
        df.to_csv(path, index=False, encoding="utf-8", date_format=CSV_DATE_FORMAT, lineterminator="\n")
