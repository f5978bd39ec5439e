"""Tests for pipeline/outputs.py: a folder written all at once, and deterministic JSON."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from innopoints.features.errors import OutputError
from innopoints.pipeline.io import MARKER, TMP_TAG
from innopoints.pipeline.outputs import dumps, staged_dir


def test_a_staged_folder_replaces_the_target_as_a_whole_with_a_marker(tmp_path):
    target = tmp_path / "out"
    with staged_dir(target) as tmp:
        (tmp / "sub").mkdir()
        (tmp / "sub" / "a.txt").write_text("old", encoding="utf-8")
        (tmp / "stale.txt").write_text("from the first run", encoding="utf-8")
    with staged_dir(target, {"config_hash": "abc"}) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".out.innopoints-tmp-")
        (tmp / "sub").mkdir()
        (tmp / "sub" / "a.txt").write_text("new", encoding="utf-8")
        (tmp / "b.txt").write_text("new", encoding="utf-8")
        assert not (target / "b.txt").exists()  # nothing shows before the block ends
    assert (target / "sub" / "a.txt").read_text(encoding="utf-8") == "new"
    assert not (target / "stale.txt").exists()  # nothing of the earlier run stays beside the new files
    marker = json.loads((target / MARKER).read_text(encoding="utf-8"))
    assert marker["config_hash"] == "abc" and sorted(marker["files"]) == ["b.txt", "sub/a.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # the scratch folder is gone


def test_a_folder_innopoints_did_not_write_is_never_replaced(tmp_path):
    target = tmp_path / "mine"
    target.mkdir()
    (target / "thesis.docx").write_text("precious", encoding="utf-8")
    with pytest.raises(OutputError, match=r"mine holds 1 entries innopoints did not write"), staged_dir(target):
        pass
    assert (target / "thesis.docx").read_text(encoding="utf-8") == "precious"


def test_a_failure_leaves_the_target_as_it_was(tmp_path):
    target = tmp_path / "out"
    with staged_dir(target) as tmp:
        (tmp / "a.txt").write_text("old", encoding="utf-8")
    with pytest.raises(RuntimeError, match="step failed"), staged_dir(target) as tmp:
        (tmp / "a.txt").write_text("half-written", encoding="utf-8")
        raise RuntimeError("step failed")
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    assert sorted(p.name for p in target.iterdir()) == ["a.txt", MARKER]
    assert (target / "a.txt").read_text(encoding="utf-8") == "old"


# A writer held at its last moment: the marker is written, the swap has not happened. Killed there, the
# previous folder must be whole and the next writer must sweep what it left.
HELD_AT_THE_SWAP = """
import sys, time
from pathlib import Path
from innopoints.pipeline import outputs

outputs.swap_in = lambda scratch, target: time.sleep(600)
with outputs.staged_dir(Path(sys.argv[1])) as tmp:
    (tmp / "a.txt").write_text("new", encoding="utf-8")
"""


def test_kill_9_between_the_marker_and_the_swap_leaves_the_previous_folder(tmp_path):
    target = tmp_path / "out"
    with staged_dir(target) as tmp:
        (tmp / "a.txt").write_text("old", encoding="utf-8")
    before = {p.name: p.read_bytes() for p in target.iterdir()}
    proc = subprocess.Popen([sys.executable, "-c", HELD_AT_THE_SWAP, str(target)])
    try:
        deadline = time.monotonic() + 60
        while not any((p / MARKER).exists() for p in tmp_path.glob(f"*{TMP_TAG}*")):
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.01)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert {p.name: p.read_bytes() for p in target.iterdir()} == before
    assert len(list(tmp_path.glob(f"*{TMP_TAG}*"))) == 1  # the killed writer's scratch, marker and all
    with staged_dir(target) as tmp:  # the next writer sweeps it
        (tmp / "a.txt").write_text("newer", encoding="utf-8")
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    assert (target / "a.txt").read_text(encoding="utf-8") == "newer"


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
