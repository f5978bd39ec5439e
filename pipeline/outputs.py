"""Writing a folder of outputs all at once: nothing partial is left behind when a step fails or the process
is killed, and nothing stale from an earlier run stays beside the new files."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from innopoints.pipeline.io import (
    MARKER,
    check_out_dir,
    follow_umask_tree,
    output_errors,
    swap_in,
    sweep_leftovers,
    temp_name,
)

COMMAND: dict[str, str | None] = {"name": None}
"""The command being run (set by the command line), named in every output folder's marker."""


@contextmanager
def staged_dir(target: Path, about: Mapping[str, Any] | None = None) -> Iterator[Path]:
    """Yield a scratch folder beside ``target``; on success it replaces ``target`` as a whole.

    The scratch folder is a hidden sibling (``.<name>.innopoints-tmp-<pid>-<random>``); when the body
    returns, :data:`~innopoints.pipeline.io.MARKER` is written into it (the command, ``about`` and the
    sha256 of every file), its permissions follow the umask, and it is swapped in for ``target`` in one
    step, so a reader sees the old folder or the new one, never a mix and never a stale file. On any
    exception the scratch folder is removed and ``target`` is left exactly as it was; what a killed run
    left is swept by the next writer into the same folder.

    Raises:
        OutputError: ``target`` is a file, or a non-empty folder innopoints did not write, or the disk is
            full / the folder read-only.
    """
    target = Path(target)
    check_out_dir(target, "output folder")
    with output_errors(target):
        target.parent.mkdir(parents=True, exist_ok=True)
        sweep_leftovers(target.parent)
        scratch = target.parent / temp_name(target)
        scratch.mkdir()
        try:
            yield scratch
            write_marker(scratch, about)
            follow_umask_tree(scratch)
            leftover = swap_in(scratch, target)
            shutil.rmtree(leftover, ignore_errors=True)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)


def _marker_text(folder: Path, about: Mapping[str, Any] | None, *, skip_hidden: bool) -> str:
    """Who wrote ``folder`` and the sha256 of every file (no time: same inputs, same bytes); ``skip_hidden``
    leaves out hidden entries (another writer's temporary files in a folder written file by file)."""
    files = {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
             for p in sorted(folder.rglob("*"))
             if p.is_file() and p.name != MARKER
             and not (skip_hidden and any(q.startswith(".") for q in p.relative_to(folder).parts))}
    command = COMMAND["name"]
    record = {"written_by": f"innopoints {command}" if command else "innopoints", **dict(about or {}),
              "files": files}
    return dumps(record)


def write_marker(folder: Path, about: Mapping[str, Any] | None = None) -> Path:
    """The marker of a scratch output folder, written into it before it is swapped in."""
    path = folder / MARKER
    path.write_text(_marker_text(folder, about, skip_hidden=False), encoding="utf-8")
    return path


def mark_folder(folder: Path, about: Mapping[str, Any] | None = None) -> Path:
    """Write the marker of a folder whose files were each written atomically (``run --out``), once all are
    written; remove it with :func:`unmark_folder` before the first, so a run cut short leaves no marker."""
    from innopoints.pipeline.io import write_text_atomic

    return write_text_atomic(folder / MARKER, _marker_text(folder, about, skip_hidden=True))


def unmark_folder(folder: Path) -> None:
    """Remove a folder's marker: its files are about to change."""
    with output_errors(folder):
        (Path(folder) / MARKER).unlink(missing_ok=True)


def dumps(value: Any) -> str:
    """Deterministic, human-readable JSON (UTF-8 kept, NaN → null)."""
    from innopoints.models.evaluation.evaluate import jsonable  # here: checking an output path stays cheap

    return json.dumps(jsonable(value), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def write_formula_files(folder: Path, formulas) -> None:
    """``<name>.json`` (the formula file) and ``<name>.weights.csv`` (its weights table, rounded for reading,
    UTF-8 with BOM) for every formula of ``formulas`` (name → formula), into an existing ``folder``."""
    from innopoints.experiments.formatting import csv_text, readable_table
    from innopoints.models.formula.schema import weights_table

    for name, formula in formulas.items():
        (folder / f"{name}.json").write_text(formula.to_text("json"), encoding="utf-8")
        (folder / f"{name}.weights.csv").write_text(csv_text(readable_table(weights_table(formula))),
                                                    encoding="utf-8")
