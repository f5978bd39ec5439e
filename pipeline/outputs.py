"""Writing a folder of outputs all at once: nothing partial is left behind when a step fails."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from innopoints.models.evaluation.evaluate import jsonable


@contextmanager
def staged_dir(target: Path) -> Iterator[Path]:
    """Yield a scratch folder beside ``target``; on success its files replace those in ``target``.

    On any exception the scratch folder is removed and ``target`` is left exactly as it was.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        yield scratch
        target.mkdir(parents=True, exist_ok=True)
        for src in sorted(scratch.rglob("*")):
            if src.is_file():
                dst = target / src.relative_to(scratch)
                dst.parent.mkdir(parents=True, exist_ok=True)
                os.replace(src, dst)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def dumps(value: Any) -> str:
    """Deterministic, human-readable JSON (UTF-8 kept, NaN → null)."""
    return json.dumps(jsonable(value), indent=2, ensure_ascii=False, allow_nan=False) + "\n"
