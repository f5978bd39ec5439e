"""Tests for pipeline/config.py: the one typed run config, its defaults, its hash and its YAML loading."""

from __future__ import annotations

import re

import pytest
from pydantic import BaseModel, ValidationError

from innopoints.features.errors import ConfigError, IndicatorError
from innopoints.models.evaluation.metrics import QUALIFIED_SHARE
from innopoints.pipeline.config import RunConfig, TrainConfig, load_config, read_yaml_model


def _write(tmp_path, text: str, name: str = "config.yaml", encoding: str = "utf-8"):
    path = tmp_path / name
    path.write_text(text, encoding=encoding)
    return path


def test_defaults_are_the_documented_ones():
    config = RunConfig()
    assert (config.seed, config.cohort.firms, config.cohort.first_year, config.cohort.last_year) == (1, 20_000,
                                                                                                   2019, 2024)
    # 2024: 71,435 of 520,000 evaluated firms qualified.
    assert config.evaluation.qualified_share == QUALIFIED_SHARE == pytest.approx(0.1374, abs=1e-4)
    assert config.evaluation.n_boot == 1000 and config.train.recommend == "policy"
    assert config.local_indicators == []


def test_the_config_is_frozen():
    with pytest.raises(ValidationError, match="frozen"):
        RunConfig().seed = 2


def test_config_hash_is_short_stable_and_follows_every_setting():
    h = RunConfig().config_hash()
    assert re.fullmatch(r"[0-9a-f]{16}", h)
    assert RunConfig().config_hash() == h
    assert RunConfig(seed=2).config_hash() != h
    assert RunConfig(train=TrainConfig(refits=31)).config_hash() != h


def test_no_file_gives_the_defaults_and_an_empty_file_too(tmp_path):
    assert load_config(None) == RunConfig()
    assert load_config(_write(tmp_path, "")) == RunConfig()


def test_a_file_overrides_only_what_it_names(tmp_path):
    # A byte-order mark (as Windows editors write) is not part of the YAML.
    path = _write(tmp_path, "seed: 7\ntrain:\n  refits: 12\nevaluation:\n  n_boot: 200\n", encoding="utf-8-sig")
    config = load_config(path)
    assert (config.seed, config.train.refits, config.evaluation.n_boot) == (7, 12, 200)
    assert config.train.n_estimators == TrainConfig().n_estimators and config.cohort == RunConfig().cohort


@pytest.mark.parametrize(("text", "message"), [
    ("train:\n  refitz: 3\n", "train.refitz: Extra inputs are not permitted (got 3)"),
    ("train:\n  refits: 2\n", "train.refits: Input should be greater than or equal to 5 (got 2)"),
    ("seed: -1\n", "seed: Input should be greater than or equal to 0 (got -1)"),
    ("train:\n  curves: splines\n", "train.curves: Input should be 'risk_bins' or 'percentile' (got 'splines')"),
    ("- just a list\n", "the top level must be a mapping of sections"),
    ("train: [unclosed\n", "is not valid YAML"),
])
def test_a_bad_config_is_one_error_naming_the_file_and_field(tmp_path, text, message):
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError, match=re.escape(f"config file {path}")) as err:
        load_config(path)
    assert message in str(err.value)
    assert "\n" not in str(err.value)  # one line for the command line


def test_a_missing_config_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match=re.escape(f"config file {tmp_path / 'nope.yaml'} does not exist")):
        load_config(tmp_path / "nope.yaml")


def test_a_bad_local_indicator_fails_when_the_config_is_loaded(tmp_path):
    path = _write(tmp_path, "local_indicators:\n  - {id: bad_one, name_zh: 坏, name_en: Bad, group: input, "
                            "unit: ratio, direction: 1, expression: \"__import__('os').getcwd()\"}\n")
    with pytest.raises(IndicatorError, match="local indicator 'bad_one': .* which is not allowed"):
        load_config(path)


def test_read_yaml_model_names_what_it_reads(tmp_path):
    class Tiny(BaseModel):
        size: int = 1

    assert read_yaml_model(_write(tmp_path, "size: 3\n"), Tiny, "tiny").size == 3
    with pytest.raises(ConfigError, match=r"tiny file .*: size: Input should be a valid integer"):
        read_yaml_model(_write(tmp_path, "size: big\n"), Tiny, "tiny")


def test_selection_and_sign_conflict_settings_reach_the_training_settings(tmp_path):
    from innopoints.pipeline.steps import train_settings

    path = tmp_path / "c.yaml"
    path.write_text("selection:\n  max_weight: 5\nsign_conflicts:\n  rd_intensity: {mode: plateau, plateau: 0.15}\n",
                    encoding="utf-8")
    settings = train_settings(load_config(path))
    assert settings.selection.max_weight == 5 and settings.selection.enabled
    assert settings.sign_conflicts["rd_intensity"].mode == "plateau"
    assert settings.sign_conflicts["rd_intensity"].plateau == 0.15
    path.write_text("sign_conflicts:\n  rd_intensity: {mode: reverse}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="sign_conflicts.rd_intensity.mode"):
        load_config(path)
