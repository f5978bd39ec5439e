"""Tests for pipeline/progress.py: stages of a long command, their labels and their record."""

from __future__ import annotations

import pytest

from innopoints.pipeline.progress import Stages

NAMES = ["read", "selection pass (fit years)", "LightGBM", "final pass (all years)", "LightGBM", "write"]


def _labels(record: list[dict]) -> list[str]:
    return [r["stage"] for r in record]


def test_each_finished_stage_is_recorded_once_in_order_and_repeats_name_their_pass():
    record: list[dict] = []
    with Stages(NAMES, enabled=False, record=record) as p:
        with p.stage("read"):
            pass
        for name in NAMES[1:5]:  # steps the work reports itself
            p.mark(name)
        with p.stage("write"):
            pass
    assert _labels(record) == ["read", "selection pass (fit years)", "selection: LightGBM",
                               "final pass (all years)", "final: LightGBM", "write"]
    assert all(isinstance(r["seconds"], float) and r["seconds"] >= 0 for r in record)
    # Per name, the wall times of both passes add up.
    assert set(p.timings) == set(NAMES)
    assert p.timings["LightGBM"] == pytest.approx(sum(r["seconds"] for r in record if "LightGBM" in r["stage"]),
                                                  abs=2e-3)


def test_the_last_reported_step_ends_with_the_work():
    record: list[dict] = []
    with Stages(["a", "b"], enabled=False, record=record) as p:
        p.mark("a")
        p.mark("b")
    assert _labels(record) == ["a", "b"]


def test_a_step_that_failed_is_not_recorded_as_done():
    record: list[dict] = []
    with pytest.raises(RuntimeError, match="broke"), Stages(["a", "b"], enabled=False, record=record) as p:
        p.mark("a")
        p.mark("b")
        raise RuntimeError("broke")
    assert _labels(record) == ["a"]


def test_stages_of_one_command_share_one_record():
    record: list[dict] = []
    for names in (["simulate"], ["train", "write"]):
        with Stages(names, enabled=False, record=record) as p:
            for name in names:
                with p.stage(name):
                    pass
    assert _labels(record) == ["simulate", "train", "write"]
    assert Stages(["x"], enabled=False).record == []  # without a shared record, each keeps its own
