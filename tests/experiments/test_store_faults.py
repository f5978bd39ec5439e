"""A local SQLite store that cannot be used is refused before any work, with one line and exit 2 and nothing
left behind; two commands on one fresh store do not race; lookups never create a store (docs/mlflow.md)."""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest
from filelock import FileLock
from typer.testing import CliRunner

from innopoints.experiments.tracking import TrackingError, check_tracking
from innopoints.pipeline.cli import app

runner = CliRunner()
NOBODY = 65534


@functools.cache
def _as_nobody() -> tuple[list[str], str]:
    """The prefix that runs a command as a user file permissions apply to, or why there is none (asked once)."""
    if os.geteuid() != 0:
        return [], ""
    if not shutil.which("setpriv"):
        return [], "running as root without setpriv: file permissions cannot be tested"
    prefix = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
    probe = subprocess.run([*prefix, sys.executable, "-c", "import innopoints.pipeline.cli"], capture_output=True,
                           text=True, timeout=120, cwd="/")
    if probe.returncode != 0:  # .ci/run opens its venv's folder to other users; elsewhere it may be private
        return [], f"user {NOBODY} cannot run {sys.executable} with innopoints: {probe.stderr.strip()[-200:]}"
    return prefix, ""


def _unprivileged(cmd: list[str]) -> list[str]:
    """``cmd`` run as a user that file permissions apply to (root ignores them)."""
    prefix, why_not = _as_nobody()
    if why_not:
        pytest.skip(why_not)
    return [*prefix, *cmd]


@pytest.fixture
def open_folder():
    """A folder outside pytest's private tmp tree (the unprivileged user must reach it); removed after."""
    folder = Path(tempfile.mkdtemp(prefix="innopoints-store-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _run_unprivileged(cwd: Path, env_uri: str | None) -> subprocess.CompletedProcess:
    home = cwd.parent / f"{cwd.name}-home"
    home.mkdir(mode=0o777, exist_ok=True)
    home.chmod(0o777)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env.update(HOME=str(home), MPLCONFIGDIR=str(home))
    if env_uri:
        env["MLFLOW_TRACKING_URI"] = env_uri
    # Outputs go to a writable folder: only the store is at fault here (an unwritable --out is refused too,
    # by the output checks, tested with the other bad inputs).
    cmd = _unprivileged([sys.executable, "-m", "innopoints.pipeline.cli", "run", "--firms", "2000", "--quiet",
                         "--out", str(home / "out"), "--cohort-dir", str(home / "data")])
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.slow
def test_a_read_only_folder_is_refused_before_any_work(open_folder):
    work = open_folder / "work"
    work.mkdir(mode=0o755)  # owned by the test's user, not writable by the unprivileged one
    if os.geteuid() != 0:
        work.chmod(0o555)
    done = _run_unprivileged(work, None)
    output = " ".join((done.stdout + done.stderr).split())
    assert done.returncode == 2, output
    assert output.startswith("error: MLflow tracking store 'sqlite:///") and "is not writable" in output
    assert "Traceback" not in output and len((done.stdout + done.stderr).strip().splitlines()) <= 3
    assert list(work.iterdir()) == []  # no store, no cohort, no lock file


@pytest.mark.slow
def test_a_read_only_existing_store_is_refused_before_any_work(open_folder, mlflow_template):
    work, store = open_folder / "work", open_folder / "store"
    work.mkdir(mode=0o777)
    work.chmod(0o777)
    store.mkdir(mode=0o777)
    store.chmod(0o777)
    shutil.copy(mlflow_template, store / "mlflow.db")
    (store / "mlflow.db").chmod(0o444)
    before = sorted(p.name for p in store.iterdir())
    done = _run_unprivileged(work, f"sqlite:///{store / 'mlflow.db'}")
    output = " ".join((done.stdout + done.stderr).split())
    assert done.returncode == 2, output
    assert "cannot be written (attempt to write a readonly database)" in output
    assert "Traceback" not in output
    assert list(work.iterdir()) == [] and sorted(p.name for p in store.iterdir()) == before


def test_a_folder_in_the_way_is_named(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(TrackingError, match="is a file, so the folder .* cannot exist"):
        check_tracking(f"sqlite:///{tmp_path / 'file' / 'sub' / 'mlflow.db'}")


def test_first_use_of_a_fresh_store_waits_for_the_lock(tmp_path):
    """Another process creating the tables holds the lock file; this one waits, then finds them made."""
    db = tmp_path / "mlflow.db"
    lock = FileLock(str(tmp_path / ".mlflow.db.lock"))
    errors: list[BaseException] = []

    def first_use():
        try:
            check_tracking(f"sqlite:///{db}")
        except BaseException as err:  # reported below
            errors.append(err)

    with lock:
        worker = threading.Thread(target=first_use)
        worker.start()
        worker.join(1.0)
        assert worker.is_alive() and not db.exists()  # waiting for the lock, nothing created meanwhile
    worker.join(60)
    assert not worker.is_alive() and errors == [] and db.is_file()


@pytest.mark.slow
def test_two_commands_on_one_fresh_store_both_succeed(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    code = f"from innopoints.experiments.tracking import check_tracking; check_tracking({uri!r})"
    procs = [subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(p.wait(timeout=120), p.stderr.read()) for p in procs]
    assert [rc for rc, _ in results] == [0, 0], results


@pytest.mark.parametrize("args", [
    ["score", "--formula", "models:/innopoints-formula@candidate", "--data", "data", "--out", "s.parquet"],
    ["promote", "3", "--alias", "champion"],
    ["export", "models:/innopoints-formula/1", "--out", "f.json"],
    ["policy", "--formula", "models:/innopoints-formula@candidate", "--data", ".", "--out", "p", "--no-mlflow"],
])
def test_a_lookup_without_a_store_creates_none(tmp_path, monkeypatch, args):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, [*args])
    assert result.exit_code == 2, result.output
    [line] = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert line.startswith("error: no MLflow store at") and "nothing is registered here" in line
    assert list(tmp_path.iterdir()) == []


class _Unauthorized(http.server.BaseHTTPRequestHandler):
    """A tracking server behind basic auth, without credentials: 401 to everything."""

    def _refuse(self):
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Basic realm="mlflow"')
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST = _refuse

    def log_message(self, *args):
        pass


def test_an_auth_failure_says_so_and_not_start_the_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Unauthorized)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with pytest.raises(TrackingError) as err:
            check_tracking(f"http://127.0.0.1:{server.server_address[1]}", timeout_s=5)
    finally:
        server.shutdown()
    message = str(err.value)
    assert "refused the credentials: set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD" in message
    assert "Start the server" not in message


def test_the_summary_links_a_server_to_its_own_pages():
    from innopoints.pipeline.cli import _browse_hint

    assert _browse_hint("http://mlflow.team:5000/", "4") == "http://mlflow.team:5000/#/experiments/4"
    assert _browse_hint("sqlite:////w/mlflow.db", "1") == "mlflow ui --backend-store-uri sqlite:////w/mlflow.db"
