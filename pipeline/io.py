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
import csv
import ctypes
import errno
import os
import secrets
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path

import pandas as pd
import pyarrow
import pyarrow.parquet as pq

from innopoints.experiments.formatting import CSV_DATE_FORMAT, CSV_ENCODING, csv_text
from innopoints.features.errors import ConfigError, DataError, InnopointsError, OutputError
from innopoints.pipeline.contract import STRING_COLUMNS, TABLES

FORMATS: tuple[str, ...] = ("parquet", "csv")
CSV_ENCODING_IN = "utf-8-sig"  # reads UTF-8 with or without the BOM that Excel writes


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
    _check_header(path)
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


def _check_header(path: Path) -> None:
    """Refuse a CSV header naming a column twice: pandas would rename the second (``revenue.1``) and one of
    the two would silently win."""
    with open(path, encoding=CSV_ENCODING_IN, newline="") as fh:
        header = next(csv.reader(fh), [])
    seen: dict[str, int] = {}
    for name in header:
        seen[name] = seen.get(name, 0) + 1
    doubled = [n for n, k in seen.items() if k > 1]
    if doubled:
        raise DataError(f"{path.stem}.{doubled[0]}: column name appears {seen[doubled[0]]} times in the header of "
                        f"{path}; keep one (every column name must be unique)")


# ---------------------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------------------


TMP_TAG = ".innopoints-tmp-"
"""Part of the name of every temporary file or folder a writer makes beside its target:
``.<target name>.innopoints-tmp-<pid>-<random>``. Hidden, never a final name, and swept by the next writer
into the same folder once the process that made it is gone (killed)."""

OLD_TAG = ".innopoints-old-"
"""Part of the name a replaced output folder carries between the swap and its removal."""


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
        OutputError: the folder is a file, cannot be written, or the disk is full.
    """
    fmt = _check_format(fmt)
    out_dir = Path(out_dir)
    check_out_dir(out_dir, "--out", replace=False)
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
    with output_errors(out_dir):
        out_dir.mkdir(parents=True, exist_ok=True)
        sweep_leftovers(out_dir)
        staging = out_dir / temp_name(out_dir)
        staging.mkdir()
        try:
            for name, frame in tables.items():
                _write_frame(frame, staging / targets[name].name, fmt)
                _follow_umask(staging / targets[name].name)
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


def write_bytes_atomic(path: Path, data: bytes) -> Path:
    """Write bytes (a workbook) to ``path`` atomically."""
    path = Path(path)
    with _atomic_target(path) as tmp:
        tmp.write_bytes(data)
    return path


def write_csv_atomic(df: pd.DataFrame, path: Path, *, index: bool = False) -> Path:
    """Write a table for people (weights, points, SHAP tables) as CSV atomically: UTF-8 with BOM."""
    return write_text_atomic(path, csv_text(df, index=index))


def _check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise ConfigError(f"unknown table format {fmt!r}; expected one of {', '.join(FORMATS)}")
    return fmt


@contextlib.contextmanager
def _atomic_target(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` on success, delete it on failure.

    The file gets the permissions of a newly created file under the process umask (not 0600), and a
    temporary file left by a killed earlier writer in the same folder is removed first.
    """
    check_out_file(path, "output")
    with output_errors(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        sweep_leftovers(path.parent)
        tmp = path.parent / temp_name(path)
        try:
            tmp.touch(exist_ok=False)
            yield tmp
            _follow_umask(tmp)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)


def _write_frame(df: pd.DataFrame, path: Path, fmt: str) -> None:
    if fmt == "parquet":
        # No index, no timestamps in the file: identical frames give identical bytes.
        df.to_parquet(path, index=False)
    else:
        df.to_csv(path, index=False, encoding=CSV_ENCODING, date_format=CSV_DATE_FORMAT, lineterminator="\n")


# ---------------------------------------------------------------------------------------------------------
# Output paths, temporary names, whole-folder swaps, the umask and write errors
# ---------------------------------------------------------------------------------------------------------


def check_out_file(path: Path, option: str = "--out", suffixes: tuple[str, ...] = ()) -> Path:
    """Refuse, before any work, an output file path that cannot be written: an existing folder, a parent
    that is a file, or (with ``suffixes``) an unknown suffix.

    Raises:
        OutputError: naming the option, the path and what to give instead.
    """
    path = Path(path)
    if path.is_dir():
        example = path / (f"out{suffixes[0]}" if suffixes else "out.json")
        raise OutputError(f"{option} {path} is an existing folder; give a file name, e.g. {example}")
    if suffixes and path.suffix.lower() not in suffixes:
        raise OutputError(f"{option} {path}: the file name must end in {' or '.join(suffixes)}, e.g. "
                          f"{path.with_suffix(suffixes[0]).name}")
    _check_parent(path, option)
    return path


def check_out_dir(path: Path, option: str = "--out", *, replace: bool = True) -> Path:
    """Refuse, before any work, an output folder that cannot be written: an existing file, a parent that is a
    file, or (with ``replace``, for folders replaced as a whole) a non-empty folder innopoints did not write
    (no :data:`MARKER` in it): replacing it would delete someone's files.

    Raises:
        OutputError: naming the option, the path and what to give instead.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputError(f"{option} {path} is an existing file; give a folder, e.g. {path.with_suffix('')}-out")
    if replace and path.is_dir():
        if Path.cwd().resolve().is_relative_to(path.resolve()):
            raise OutputError(f"{option} {path} is the working folder or holds it; give a sub-folder, e.g. "
                              f"{path / 'out'}")
        visible = [p for p in path.iterdir() if TMP_TAG not in p.name]
        if visible and not (path / MARKER).is_file():
            raise OutputError(f"{option} {path} holds {len(visible)} entries innopoints did not write (no {MARKER}); "
                              f"it is replaced as a whole, so give a new or empty folder, e.g. {path}-new")
    _check_parent(path, option)
    return path


def _check_parent(path: Path, option: str) -> None:
    """The nearest existing folder above ``path`` must be a writable folder; what a killed earlier writer left
    beside ``path`` is swept now, at the start, not only when the new output is written."""
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise OutputError(f"{option} {path}: {parent} is a file, not a folder")
            if not os.access(parent, os.W_OK | os.X_OK):
                raise OutputError(f"{option} {path}: the folder {parent} is not writable; write elsewhere")
            if parent == path.parent:
                with contextlib.suppress(OSError):
                    sweep_leftovers(parent)
            return


MARKER = "innopoints-output.json"
"""The file in every output folder replaced as a whole, naming the command that wrote it and every file it
wrote (with its sha256), so a reader can tell which files belong together."""


def temp_name(target: Path) -> str:
    return f".{target.name}{TMP_TAG}{os.getpid()}-{secrets.token_hex(4)}"


def _owner_alive(name: str, tag: str) -> bool:
    """Whether the process whose id is in a temporary ``name`` (after ``tag``) still runs."""
    try:
        pid = int(name.split(tag, 1)[1].split("-", 1)[0])
    except (IndexError, ValueError):
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_leftovers(folder: Path) -> list[str]:
    """Remove what a killed writer left in ``folder``: temporary files and folders (:data:`TMP_TAG`) of
    processes that are gone; a replaced output folder (:data:`OLD_TAG`) goes back under its name if the
    swap was cut between its two renames, else it is removed. Returns the names handled."""
    handled = []
    if not folder.is_dir():
        return handled
    for entry in sorted(folder.iterdir()):
        name = entry.name
        tag = TMP_TAG if TMP_TAG in name else OLD_TAG if OLD_TAG in name else None
        if tag is None or not name.startswith(".") or _owner_alive(name, tag):
            continue
        final = folder / name[1:].split(tag, 1)[0]
        with contextlib.suppress(OSError):
            if tag == OLD_TAG and not final.exists():
                os.replace(entry, final)
            elif entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
            handled.append(name)
    return handled


def swap_in(scratch: Path, target: Path) -> Path:
    """Put the folder ``scratch`` in place of ``target`` in one step; returns where the previous ``target``
    now is (to remove), or ``scratch`` (gone) when there was none.

    Uses the atomic exchange of Linux (``renameat2`` with ``RENAME_EXCHANGE``) where available; elsewhere two
    renames, and a cut between them is repaired by :func:`sweep_leftovers` on the next start.
    """
    if not target.exists():
        os.replace(scratch, target)
        return scratch
    if _exchange(scratch, target):
        return scratch
    old = target.parent / f".{target.name}{OLD_TAG}{os.getpid()}-{secrets.token_hex(4)}"
    os.replace(target, old)
    os.replace(scratch, target)
    return old


def _exchange(a: Path, b: Path) -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    return renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0


def current_umask() -> int:
    """The process umask (read by setting and restoring it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def follow_umask_tree(root: Path) -> None:
    """Give a folder made by ``tempfile`` (0700) and everything in it the permissions of new files."""
    mask = current_umask()
    for p in [root, *root.rglob("*")]:
        if not p.is_symlink():
            p.chmod((0o777 if p.is_dir() else 0o666) & ~mask)


def _follow_umask(path: Path) -> None:
    path.chmod(0o666 & ~current_umask())


@contextlib.contextmanager
def output_errors(where: Path) -> Iterator[None]:
    """Turn a failed write (full disk, read-only folder, ...) into one :class:`OutputError` line."""
    try:
        yield
    except OSError as exc:
        if isinstance(exc, InnopointsError):
            raise
        raise OutputError(write_error_message(where, exc)) from None


def write_error_message(where: Path, exc: OSError) -> str:
    """One line for a failed write, naming the path and what to do."""
    reason = exc.strerror or str(exc)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"cannot write {where}: no space left on the device ({reason}); free space or write elsewhere"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"cannot write {where}: the folder is not writable ({reason}); write elsewhere"
    return f"cannot write {where}: {reason}"
