"""Where the MLflow store is, and whether this process may write it: the checks that need no MLflow.

A command checks its store before any heavy work (:func:`innopoints.experiments.tracking.check_tracking`).
What can be known without MLflow is checked here, with the standard library alone, so a read-only folder, a
write-protected store or a missing one is refused within a blink instead of after MLflow's few seconds of
imports. The store is ``MLFLOW_TRACKING_URI`` when set, else a SQLite file ``mlflow.db`` in the working
directory.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import tempfile
from pathlib import Path
from urllib.parse import unquote

from innopoints.features.errors import TrackingError

DB_FILE = "mlflow.db"


def tracking_uri(workdir: Path) -> str:
    """``MLFLOW_TRACKING_URI`` when set, else ``sqlite:///<workdir>/mlflow.db`` (absolute)."""
    uri = os.environ.get("MLFLOW_TRACKING_URI", "").strip()
    if uri:
        return uri
    return f"sqlite:///{(Path(workdir).absolute() / DB_FILE).as_posix()}"


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI (None for other stores)."""
    if not uri.startswith("sqlite:///"):
        return None
    return Path(unquote(uri[len("sqlite:///"):]))


def check_store_access(uri: str, *, create: bool = True) -> None:
    """Refuse, with one :class:`TrackingError`, a SQLite store this process cannot use (other stores pass).

    With ``create`` False a missing file is an error (a lookup or ``promote`` never makes an empty store).
    The store must be writable, its folder too (SQLite writes a journal beside it), checked before anything
    is created so a refused store leaves nothing behind: the folder that will hold it is tried with a
    scratch file, an existing store with a write lock that is rolled back at once."""
    db = sqlite_path(uri)
    if db is None:
        return
    db = db.absolute()
    if not db.exists() and not create:
        raise TrackingError(
            f"no MLflow store at {db}: nothing is registered here. Run `innopoints run` or `innopoints train` "
            "in this folder first, or set MLFLOW_TRACKING_URI to the store that holds the formula")
    folder = db.parent
    if db.is_dir():
        raise TrackingError(unusable(uri, f"{db} is a folder, not a SQLite file"))
    existing = next((p for p in [folder, *folder.parents] if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise TrackingError(unusable(uri, f"{existing} is a file, so the folder {folder} cannot exist"))
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".innopoints-write-check-"):
            pass
    except OSError as err:
        _remove_new_folders(folder, existing)
        raise TrackingError(unusable(uri, f"the folder {folder} is not writable ({err.strerror or err})")) from None
    if db.exists():
        # SQLite quietly opens a write-protected file read-only, so only a write tells: one inside a
        # transaction that is rolled back at once.
        try:
            with contextlib.closing(sqlite3.connect(f"{db.as_uri()}?mode=rw", uri=True, timeout=30,
                                                    isolation_level=None)) as con:
                con.execute("BEGIN IMMEDIATE")
                try:
                    con.execute("CREATE TABLE innopoints_write_check (x)")
                finally:
                    con.execute("ROLLBACK")
        except sqlite3.Error as err:
            raise TrackingError(unusable(uri, f"{db} cannot be written ({err})")) from None


MAX_REASON_CHARS = 400
"""Longest reason quoted from MLflow or the server; a longer one ends at its last whole sentence (or word)."""


def shorten(reason: str, limit: int = MAX_REASON_CHARS) -> str:
    """``reason`` on one line, at most ``limit`` characters, cut after a whole sentence (else a word) with "…"."""
    text = " ".join(str(reason).split())
    if len(text) <= limit:
        return text
    head = text[:limit]
    end = head.rfind(". ")
    return (head[:end + 1] if end > 0 else head[:head.rfind(" ")].rstrip(",;:")) + " …"


def unusable(uri: str, reason: str, error: BaseException | None = None) -> str:
    """The message of a store that cannot be used: the store, the reason, and what to do about it."""
    code = getattr(error, "error_code", "")
    status = str(getattr(error, "get_http_status_code", lambda: "")())
    if sqlite_path(uri) is not None:
        fix = "Check the path and its permissions"
    elif code in ("UNAUTHENTICATED", "PERMISSION_DENIED") or status in ("401", "403") or \
            re.search(r"\b40[13]\b|unauthori[sz]ed|forbidden", reason, re.I):
        fix = ("The server refused the credentials: set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD "
               "(or MLFLOW_TRACKING_TOKEN) to an account it knows")
    else:
        fix = "Start the server or correct MLFLOW_TRACKING_URI"
    reason = reason if reason.endswith((".", "…")) else reason + "."
    return (f"MLflow tracking store {uri!r} is not usable: {reason} {fix} (without MLFLOW_TRACKING_URI "
            "the store is a local SQLite file in the working directory)")


def _remove_new_folders(folder: Path, existing: Path | None) -> None:
    """Remove the folders :func:`check_store_access` made up to ``existing`` (no output left behind)."""
    for path in [folder, *folder.parents]:
        if existing is None or path == existing:
            return
        try:
            path.rmdir()
        except OSError:
            return
