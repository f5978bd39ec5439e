"""Tests for pipeline/flow.py: the declarative step lists of `train` and `run` and their execution."""

from __future__ import annotations

from pathlib import Path

import pytest

from innopoints.models.formula.baseline import official_2024
from innopoints.models.learning.train import TRAIN_STEPS
from innopoints.pipeline import flow, steps
from innopoints.pipeline.config import RunConfig


def _state(tmp_path: Path, **kw) -> flow.RunState:
    return flow.RunState(config=RunConfig(), data=tmp_path / "data", out=tmp_path / "out", baseline=official_2024(),
                         **kw)


def test_progress_stages_come_from_the_step_lists(tmp_path):
    state = _state(tmp_path)
    assert flow.stage_names(flow.TRAIN, state) == ["read and validate", steps.INDICATOR_STEP, *TRAIN_STEPS, "write"]
    tracked = _state(tmp_path, uri="sqlite:///x.db")
    assert flow.stage_names(flow.TRAIN, tracked)[-2:] == ["log to MLflow", "register formulas"]
    run = flow.stage_names(flow.RUN, _state(tmp_path, cohort={"firms": 10, "seed": 1, "years": (2019, 2024)}))
    assert run[0] == "make the synthetic cohort"
    assert run[-5:] == ["compare", "policy simulation", "reviewer report", "score population", "export"]


def test_the_cohort_is_made_only_when_the_folder_has_none(tmp_path):
    state = _state(tmp_path, cohort={"firms": 10, "seed": 1, "years": (2019, 2024)})
    assert flow.needs_cohort(state)
    state.data.mkdir()
    (state.data / "firms.parquet").write_bytes(b"")
    assert not flow.needs_cohort(state)
    assert not flow.needs_cohort(_state(tmp_path))  # --data given: never simulated


def test_execute_runs_the_steps_that_apply_in_order_and_records_each(tmp_path):
    seen: list[str] = []

    def reporting(state, mark):
        for name in ("a1", "a2"):
            mark(name)
            seen.append(name)

    plan = (flow.Step("first", lambda s: seen.append("first")),
            flow.Step("skipped", lambda s: seen.append("skipped"), when=lambda s: False),
            flow.Step("reporting", reporting, reports=lambda: ("a1", "a2")),
            flow.Step("last", lambda s: seen.append("last")))
    record: list[dict] = []
    flow.execute(plan, _state(tmp_path), enabled=False, record=record)
    assert seen == ["first", "a1", "a2", "last"]
    assert [r["stage"] for r in record] == ["first", "a1", "a2", "last"]


def test_a_failing_step_stops_the_plan(tmp_path):
    seen: list[str] = []

    def broken(state):
        raise RuntimeError("broke")

    plan = (flow.Step("broken", broken), flow.Step("after", lambda s: seen.append("after")))
    with pytest.raises(RuntimeError, match="broke"):
        flow.execute(plan, _state(tmp_path), enabled=False)
    assert seen == []
