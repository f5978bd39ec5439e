"""Tests for features/safe_yaml.py: plain YAML loads; anchors, aliases, deep nesting and huge text are refused
before anything is expanded, and a key written twice is refused instead of the last one winning."""

from __future__ import annotations

import pytest
import yaml

from innopoints.features.safe_yaml import MAX_YAML_CHARS, MAX_YAML_DEPTH, RefusedYAMLError, load_yaml


def test_plain_yaml_loads_as_safe_load_would():
    text = "seed: 3\ntrain:\n  group_bounds: {input: [0.1, 0.5]}\n  curves: risk_bins\nnote: 创新积分\n"
    assert load_yaml(text) == yaml.safe_load(text)


@pytest.mark.parametrize(("text", "message"), [
    ('a: &a ["lol", "lol"]\nb: [*a, *a]\n', "anchor &a at line 1 column 4"),
    ("a: &x 1\n", "anchor &x"),
    ("- &m {k: v}\n", "anchor &m"),
    ("a: *undefined\n", "alias *undefined"),
    ("x: " + "[" * (MAX_YAML_DEPTH + 1) + "]" * (MAX_YAML_DEPTH + 1), f"nesting deeper than {MAX_YAML_DEPTH}"),
    ("#" * (MAX_YAML_CHARS + 1), "more than the 1,000,000 accepted"),
    ("train: {refits: 1}\ntrain: {refits: 5}\n", "key 'train' appears twice, at line 1 and line 2: keep one"),
    ("a:\n  full_at: 1000.0\n  full_at: 5.0\n", "key 'full_at' appears twice, at line 2 and line 3"),
    ("{1: a, 1.0: b}\n", "key 1.0 appears twice"),  # equal as Python keys, as the loaded dict would hold them
])
def test_refused_text_is_a_yaml_error_naming_the_place(text, message):
    with pytest.raises(RefusedYAMLError, match=message.replace("[", r"\[").replace("*", r"\*")):
        load_yaml(text)
    assert issubclass(RefusedYAMLError, yaml.YAMLError)  # callers' `except yaml.YAMLError` covers it


def test_python_tags_stay_refused():
    with pytest.raises(yaml.constructor.ConstructorError):
        load_yaml("a: !!python/object/apply:os.system ['true']\n")


def test_nesting_at_the_limit_loads():
    depth = MAX_YAML_DEPTH - 1
    assert load_yaml("x: " + "[" * depth + "]" * depth) is not None
