"""Tests for pipeline/outputs.py: a folder written all at once, and deterministic JSON."""

from __future__ import annotations

import json

import numpy as np
import pytest

from innopoints.pipeline.outputs import dumps, staged_dir


def test_staged_files_replace_the_targets_and_leave_the_rest(tmp_path):
    target = tmp_path / "out"
    (target / "sub").mkdir(parents=True)
    (target / "keep.txt").write_text("old, untouched", encoding="utf-8")
    (target / "sub" / "a.txt").write_text("old", encoding="utf-8")
    with staged_dir(target) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".out.")
        (tmp / "sub").mkdir()
        (tmp / "sub" / "a.txt").write_text("new", encoding="utf-8")
        (tmp / "b.txt").write_text("new", encoding="utf-8")
        assert not (target / "b.txt").exists()  # nothing shows before the block ends
    assert (target / "sub" / "a.txt").read_text(encoding="utf-8") == "new"
    assert (target / "b.txt").read_text(encoding="utf-8") == "new"
    assert (target / "keep.txt").read_text(encoding="utf-8") == "old, untouched"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # the scratch folder is gone


def test_a_failure_leaves_the_target_as_it_was(tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    (target / "a.txt").write_text("old", encoding="utf-8")
    with pytest.raises(RuntimeError, match="step failed"), staged_dir(target) as tmp:
        (tmp / "a.txt").write_text("half-written", encoding="utf-8")
        raise RuntimeError("step failed")
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    assert [p.name for p in target.iterdir()] == ["a.txt"]
    assert (target / "a.txt").read_text(encoding="utf-8") == "old"


def test_a_failure_creates_no_target(tmp_path):
    with pytest.raises(ValueError), staged_dir(tmp_path / "new" / "out"):
        raise ValueError
    assert [p.name for p in (tmp_path / "new").iterdir()] == []


def test_dumps_is_plain_readable_json():
    value = {"n": np.int64(3), "rate": np.float64(0.25), "flag": np.bool_(True), "pair": (1, 2),
             "points": np.array([1.5, np.nan]), "nan": float("nan"), "名": "创新积分"}
    text = dumps(value)
    assert text.endswith("}\n") and "创新积分" in text  # UTF-8 kept, not \u escapes
    assert json.loads(text) == {"n": 3, "rate": 0.25, "flag": True, "pair": [1, 2], "points": [1.5, None],
                                "nan": None, "名": "创新积分"}
    assert text == dumps(value)
    assert text.splitlines()[1] == '  "n": 3,'  # indented by two spaces
