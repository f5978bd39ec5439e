"""`--set-alias NAME` / `--no-alias` on train and run: contradictions are refused before any work."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from innopoints.pipeline.cli import app

runner = CliRunner()


@pytest.mark.parametrize(("args", "message"), [
    (["--set-alias", "champion", "--no-alias"], "--set-alias and --no-alias exclude each other"),
    (["--set-alias", "champion", "--no-mlflow"], "--set-alias champion needs MLflow: drop --no-mlflow"),
    (["--set-alias", " "], "--set-alias: an alias name is needed (example: --set-alias champion)"),
])
@pytest.mark.parametrize("command", ["run", "train"])
def test_contradictory_alias_options_stop_before_any_work(tmp_path, monkeypatch, command, args, message):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    extra = ["--data", "no-such-folder"] if command == "train" else ["--firms", "2000"]
    result = runner.invoke(app, [command, *extra, "--quiet", *args])
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: ") and message in result.output
    assert {p.name for p in tmp_path.iterdir()} <= {"mlflow.db", ".mlflow.db.lock", "mlartifacts"}
    assert not (tmp_path / "innopoints-data").exists()
