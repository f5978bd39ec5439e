"""The README's run-config example is a valid config and shows the real defaults (the docs cannot drift)."""

from __future__ import annotations

from pathlib import Path

import yaml

from innopoints.pipeline.config import RunConfig

README = Path(__file__).resolve().parents[2] / "README.md"


def _example() -> dict:
    text = README.read_text(encoding="utf-8").split("### The run config", 1)[1]
    return yaml.safe_load(text.split("```yaml", 1)[1].split("```", 1)[0])


def test_the_readme_config_example_shows_the_defaults():
    example = _example()
    defaults = RunConfig().model_dump(mode="json")
    assert RunConfig.model_validate(example) == RunConfig()
    for section, values in example.items():
        if not isinstance(values, dict):
            assert defaults[section] == values, section
            continue
        for key, value in values.items():
            assert defaults[section][key] == value, f"{section}.{key}"
