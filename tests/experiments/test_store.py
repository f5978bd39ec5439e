"""Where the MLflow store is and the checks that need no MLflow (innopoints.experiments.store).

Refusals of a store the process may not write, as an unprivileged user, are in test_store_faults.py.
"""

from __future__ import annotations

import sys

import pytest
from typer.testing import CliRunner

from innopoints.experiments.store import (
    MAX_REASON_CHARS,
    check_store_access,
    shorten,
    sqlite_path,
    tracking_uri,
    unusable,
)
from innopoints.features.errors import TrackingError
from innopoints.pipeline.cli import app

runner = CliRunner()


def test_the_uri_is_the_environment_or_a_sqlite_file_in_the_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    uri = tracking_uri(tmp_path)
    assert uri == f"sqlite:///{tmp_path.absolute()}/mlflow.db" and sqlite_path(uri) == tmp_path / "mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", " http://mlflow.team:5000 ")
    assert tracking_uri(tmp_path) == "http://mlflow.team:5000" and sqlite_path("http://mlflow.team:5000") is None
    assert sqlite_path("sqlite:////data/my%20store/mlflow.db").as_posix() == "/data/my store/mlflow.db"


def test_a_server_is_left_to_the_mlflow_probe(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    check_store_access("http://127.0.0.1:9", create=False)  # nothing to check without a request
    assert list(tmp_path.iterdir()) == []


def test_a_missing_store_is_made_only_when_asked(tmp_path):
    uri = f"sqlite:///{tmp_path / 'new' / 'mlflow.db'}"
    with pytest.raises(TrackingError, match=r"no MLflow store at .*mlflow.db: nothing is registered here"):
        check_store_access(uri, create=False)
    assert list(tmp_path.iterdir()) == []
    check_store_access(uri)
    assert [p.name for p in tmp_path.iterdir()] == ["new"] and list((tmp_path / "new").iterdir()) == []


@pytest.mark.parametrize(("in_the_way", "message"), [
    ("mlflow.db/", "mlflow.db is a folder, not a SQLite file. Check the path and its permissions"),
    ("sub", "sub is a file, so the folder .*sub/deeper cannot exist"),
])
def test_something_in_the_way_is_named_and_nothing_is_made(tmp_path, in_the_way, message):
    if in_the_way.endswith("/"):
        (tmp_path / in_the_way).mkdir()
        db = tmp_path / "mlflow.db"
    else:
        (tmp_path / in_the_way).write_text("not a folder", encoding="utf-8")
        db = tmp_path / "sub" / "deeper" / "mlflow.db"
    before = sorted(tmp_path.rglob("*"))
    with pytest.raises(TrackingError, match=message):
        check_store_access(f"sqlite:///{db}")
    assert sorted(tmp_path.rglob("*")) == before


@pytest.mark.parametrize("args", [
    ["promote", "3", "--alias", "champion"],
    ["export", "models:/innopoints-formula/1", "--out", "f.json"],
    ["score", "--formula", "models:/innopoints-formula@candidate", "--data", "data", "--out", "s.parquet"],
    ["run", "--quiet"],
])
def test_a_refused_store_is_told_before_mlflow_is_loaded(tmp_path, monkeypatch, args):
    # Importing MLflow takes seconds: the commands refuse a store they cannot use before importing it. The
    # modules that import MLflow are made unimportable, so reaching one would crash instead of exiting 2.
    for module in ("mlflow", "innopoints.experiments.tracking", "innopoints.experiments.registry"):
        monkeypatch.setitem(sys.modules, module, None)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    if args[0] == "run":
        (tmp_path / "mlflow.db").mkdir()  # run creates a missing store; a folder in its place is refused
    result = runner.invoke(app, args)
    assert result.exit_code == 2, (result.output, result.exception)
    [line] = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert ("is a folder, not a SQLite file" if args[0] == "run" else "no MLflow store at") in line


def test_a_long_reason_ends_at_a_whole_sentence_and_the_fix_follows():
    reason = "The filesystem backend is in maintenance mode. " * 10 + "If the file store is"
    line = unusable("file:///x", shorten(reason))
    quoted = line.split("is not usable: ", 1)[1].split(" Start the server", 1)[0]
    assert quoted.endswith("maintenance mode. …") and len(quoted) <= MAX_REASON_CHARS + 2
    assert "If the file" not in line and ". Start the server or correct MLFLOW_TRACKING_URI" not in line
    assert unusable("http://h:1", "cannot connect to h:1").count("cannot connect to h:1. Start the server") == 1
    assert shorten("a  short\n reason") == "a short reason"
