"""`innopoints train` against a real team server: PostgreSQL behind `mlflow server` (docs/mlflow.md, team mode).

`train` logs and registers exactly as `run` does (the same steps of pipeline/flow.py); `run` only adds the
comparison, policy and scoring steps, which never touch the registry.

`.ci/run` starts the server (`.ci/team-server`) and exports ``INNOPOINTS_TEST_TRACKING_URI``. Outside CI,
without that variable, the module starts its own when PostgreSQL's programs are installed, else it is
skipped with the reason. The test owns the server's registry: it starts by deleting the model.

The cohort: 5,000 firms with a 15 % default rate, judged on the test year 2024 (about 270 loans, 46
defaults), so the gate can pass; the quick training settings of tests/conftest.py.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from innopoints.experiments.registry import CANDIDATE, DEFAULT_MODEL, TAG_HASH, alias_tag
from innopoints.pipeline.cli import app
from innopoints.pipeline.io import write_tables
from innopoints.pipeline.simulate import simulate
from tests.conftest import fast_config_yaml

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def team_uri():
    uri = os.environ.get("INNOPOINTS_TEST_TRACKING_URI")
    if uri:
        yield uri
        return
    if os.environ.get("CI"):
        pytest.fail("CI must run the team-server tests: .ci/run exports INNOPOINTS_TEST_TRACKING_URI")
    if not (shutil.which("pg_ctl") or list(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))):
        pytest.skip("no team server: set INNOPOINTS_TEST_TRACKING_URI or install PostgreSQL (Debian package "
                    "postgresql) so .ci/team-server can start one")
    started = subprocess.run([str(REPO / ".ci" / "team-server"), "start"], capture_output=True, text=True,
                             timeout=600, env={**os.environ, "PATH": f"{Path(sys.executable).parent}:"
                                                                    f"{os.environ['PATH']}"})
    if started.returncode != 0:
        pytest.skip(f"could not start a team server: {started.stderr[-500:]}")
    values = dict(re.findall(r"export (\w+)=(\S+)", started.stdout))
    yield values["INNOPOINTS_TEST_TRACKING_URI"]
    subprocess.run([str(REPO / ".ci" / "team-server"), "stop", values["INNOPOINTS_TEAM_SERVER_DIR"]], timeout=120)


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> tuple[Path, Path]:
    """The data folder and the run config (quick training, test year 2024)."""
    root = tmp_path_factory.mktemp("team")
    made = simulate(5000, 1, default_rate=0.15)
    write_tables({"firms": made.firms, "firm_years": made.firm_years, "loans": made.loans}, root / "data", "parquet")
    config = root / "fast.yaml"
    config.write_text(fast_config_yaml().replace("evaluation:\n", "evaluation:\n  test_year: 2024\n"),
                      encoding="utf-8")
    return root / "data", config


@pytest.fixture
def registry(team_uri) -> MlflowClient:
    """The server's registry without the innopoints model (each test starts from none)."""
    client = MlflowClient(tracking_uri=team_uri)
    if client.search_registered_models(f"name = '{DEFAULT_MODEL}'"):
        client.delete_registered_model(DEFAULT_MODEL)
    return client


def _args(cohort, workdir: Path, seed: int) -> list[str]:
    """`innopoints train` on the team cohort with the quick settings and this person's training seed."""
    data, config = cohort
    workdir.mkdir(parents=True, exist_ok=True)
    seeded = workdir / "config.yaml"
    seeded.write_text(f"seed: {seed}\n" + config.read_text(encoding="utf-8"), encoding="utf-8")
    return ["train", "--data", str(data), "--config", str(seeded), "--out", str(workdir / "out"), "--quiet"]


def _start(team_uri: str, cohort, workdir: Path, seed: int) -> subprocess.Popen:
    """One person's `train` in a process of its own, so two can run at the same moment."""
    env = {**os.environ, "MLFLOW_TRACKING_URI": team_uri}
    env.pop("MLFLOW_RUN_ID", None)
    cmd = [sys.executable, "-m", "innopoints.pipeline.cli", *_args(cohort, workdir, seed)]
    return subprocess.Popen(cmd, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _finish(proc: subprocess.Popen) -> str:
    output, _ = proc.communicate(timeout=900)
    assert proc.returncode == 0, output[-3000:]
    assert not (Path(proc.args[proc.args.index("--out") + 1]).parent / "mlruns").exists()
    return " ".join(output.split())


def _hung(*_):
    raise TimeoutError("the command did not finish in 900 s: is the team server answering?")


def _here(team_uri: str, monkeypatch, workdir: Path, *args: str, user: str | None = None) -> str:
    """A command in this process (no interpreter start-up), against the server, from ``workdir``."""
    workdir.mkdir(parents=True, exist_ok=True)
    with monkeypatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", team_uri)
        mp.delenv("MLFLOW_RUN_ID", raising=False)
        if user:
            mp.setenv("MLFLOW_TRACKING_USERNAME", user)
        mp.chdir(workdir)
        # The bound a subprocess had (a hung server must fail the test, not stall the worker).
        previous = signal.signal(signal.SIGALRM, _hung)
        signal.alarm(900)
        try:
            done = CliRunner().invoke(app, list(args), catch_exceptions=False)
        finally:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, previous)
    assert done.exit_code == 0, done.output[-3000:]
    assert not (workdir / "mlruns").exists()
    return " ".join(done.output.split())


def _versions(output: str) -> dict[str, str]:
    listed = re.search(r"innopoints-formula versions: (.*?) \((?:new|none new)", output)
    assert listed, output[-2000:]
    return dict((name, v) for name, v in re.findall(r"([\w-]+) v(\d+)", listed.group(1)))


def _candidate_line(output: str) -> str:
    found = re.search(r"models:/innopoints-formula@candidate (moved to|left at|left unset)(.*?)(?= browse:)", output)
    assert found, output[-2000:]
    return found.group(0)


def test_a_team_day_concurrent_runs_a_hand_promote_and_a_rerun(team_uri, cohort, registry, tmp_path,
                                                               monkeypatch):
    # One scenario, so the server sees three trainings rather than four: two people train at once on an empty
    # registry (two processes), a reviewer moves `candidate` by hand, and the first person trains again on the
    # same data (both in this process: what they check is the registry, not the interpreter's start).
    runs = [_start(team_uri, cohort, tmp_path / f"person{seed}", seed) for seed in (1, 2)]
    outputs = [_finish(proc) for proc in runs]
    versions = registry.search_model_versions(f"name = '{DEFAULT_MODEL}'")
    hashes = [v.tags[TAG_HASH] for v in versions]
    assert len(hashes) == len(set(hashes))  # one version per distinct formula, whoever registered it first
    assert any("(new:" in o for o in outputs)
    by_hash = {v.tags[TAG_HASH]: str(v.version) for v in versions}
    for output in outputs:  # each run's summary names the versions that hold its formulas
        printed = _versions(output)
        names = {v.tags["innopoints.formula"]: str(v.version) for v in versions}
        assert set(printed.values()) <= set(by_hash.values()) and printed
        assert all(names.get(name) is not None for name in printed)
    moved = [o for o in outputs if "@candidate moved to" in _candidate_line(o)]
    assert len(moved) <= 1
    model = registry.get_registered_model(DEFAULT_MODEL)
    assert "official" not in model.aliases
    if moved:
        assert "gate passed" in _candidate_line(moved[0])
        version = str(model.aliases[CANDIDATE])
        assert f"moved to version {version}" in _candidate_line(moved[0])
        set_by = registry.get_model_version(DEFAULT_MODEL, version).tags[alias_tag(CANDIDATE, "set_by")]
        assert set_by.startswith("run:")
        other = outputs[1 - outputs.index(moved[0])]
        assert "@candidate left at" in _candidate_line(other)
    else:
        assert CANDIDATE not in model.aliases
        assert all("@candidate left" in _candidate_line(o) for o in outputs)

    # A reviewer promotes by hand a version that is not the first person's recommendation.
    first = outputs[0]
    mine = _versions(first)
    recommended = re.search(r"recommended ([\w-]+): models:/innopoints-formula/(\d+)", first).group(2)
    chosen = next(v for v in mine.values() if v != recommended)
    _here(team_uri, monkeypatch, tmp_path, "promote", chosen, "--alias", CANDIDATE, user="reviewer")
    count = len(registry.search_model_versions(f"name = '{DEFAULT_MODEL}'"))

    # The same data and seed again: nothing new is registered and the hand-set alias stays.
    again = _here(team_uri, monkeypatch, tmp_path / "again", *_args(cohort, tmp_path / "again", 1))
    assert "(none new: every formula was already registered)" in again
    assert _versions(again) == mine
    assert len(registry.search_model_versions(f"name = '{DEFAULT_MODEL}'")) == count
    assert str(registry.get_registered_model(DEFAULT_MODEL).aliases[CANDIDATE]) == chosen
    line = _candidate_line(again)
    assert f"left at version {chosen}" in line and ("set by hand (promote:reviewer" in line or "gate not" in line)
