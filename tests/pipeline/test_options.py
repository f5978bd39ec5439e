"""Tests for pipeline/options.py: the options several commands share, each defined once."""

from __future__ import annotations

from typing import get_args

import pytest
import typer.main
from typer.testing import CliRunner

from innopoints.pipeline.cli import app
from innopoints.pipeline.options import (
    ConfigOpt,
    ExperimentOpt,
    MlflowOpt,
    NoAliasOpt,
    QuietOpt,
    SetAliasOpt,
    TimingsOpt,
)

SHARED = {"config": ConfigOpt, "quiet": QuietOpt, "experiment": ExperimentOpt, "timings": TimingsOpt,
          "mlflow": MlflowOpt, "set_alias": SetAliasOpt, "no_alias": NoAliasOpt}

runner = CliRunner()


@pytest.mark.parametrize(("name", "option"), SHARED.items())
def test_every_command_with_the_option_has_the_shared_flags_and_help(name, option):
    info = get_args(option)[1]
    # `policy` reads only the stage rule and local indicators of a run config, and its own help says so.
    users = [cmd for cmd in typer.main.get_command(app).commands.values()
             if any(p.name == name for p in cmd.params) and not (cmd.name == "policy" and name == "config")]
    assert users, name
    for command in users:
        param = next(p for p in command.params if p.name == name)
        assert param.help == info.help, command.name
        if info.param_decls:
            assert set(info.param_decls[0].split("/")) == {*param.opts, *param.secondary_opts}, command.name


def test_train_and_run_share_every_option():
    commands = typer.main.get_command(app).commands
    for command in ("train", "run"):
        assert set(SHARED) <= {p.name for p in commands[command].params}, command
    mlflow = next(p for p in commands["run"].params if p.name == "mlflow")
    assert mlflow.default is True and mlflow.opts == ["--mlflow"] and mlflow.secondary_opts == ["--no-mlflow"]


def test_the_model_name_and_the_official_alias_are_the_registrys():
    from innopoints.experiments.registry import DEFAULT_MODEL, OFFICIAL
    from innopoints.pipeline.options import MODEL_NAME, OFFICIAL_ALIAS

    assert (MODEL_NAME, OFFICIAL_ALIAS) == (DEFAULT_MODEL, OFFICIAL)


@pytest.mark.parametrize("args", [["simulate", "--seed", "-1"], ["run", "--seed", "4294967296"],
                                  ["fit", "--table", "t.csv", "--target", "y", "--seed", "-1"]])
def test_a_seed_out_of_range_is_a_usage_error_before_any_work(args, tmp_path, monkeypatch):
    # scikit-learn takes seeds in [0, 2**32): outside it the command stops at the option, exit 2, nothing made.
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and "Invalid value for '--seed'" in result.output, result.output
    assert list(tmp_path.iterdir()) == []


def test_an_empty_config_means_the_defaults_and_a_missing_one_is_refused(tmp_path):
    # The MLproject passes `--config ''` when no config is given.
    default = runner.invoke(app, ["indicators", "--json"])
    empty = runner.invoke(app, ["indicators", "--json", "--config", ""])
    assert empty.exit_code == 0 and empty.output == default.output
    missing = runner.invoke(app, ["indicators", "--config", str(tmp_path / "nope.yaml")])
    assert missing.exit_code == 2 and "nope.yaml does not exist" in missing.output


def test_an_empty_timings_file_means_none_and_a_folder_is_refused(tmp_path):
    # The MLproject passes `--timings ''` when no file is given: no timings, and no complaint about it.
    empty = runner.invoke(app, ["train", "--data", str(tmp_path / "nope"), "--timings", "", "--no-mlflow"])
    assert empty.exit_code == 2 and "--timings" not in empty.output and "nope" in empty.output
    folder = runner.invoke(app, ["train", "--data", str(tmp_path / "nope"), "--timings", str(tmp_path),
                                 "--no-mlflow"])
    assert folder.exit_code == 2 and "--timings" in folder.output
