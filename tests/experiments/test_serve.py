"""`mlflow models serve -m models:/innopoints-formula@candidate` with the default environment manager (uv: a
fresh environment from the model's own requirements, where innopoints is not installed) answers the model's
serving input example, and serves the same points as scoring the firms with the formula (docs/mlflow.md).

Slow: the first time, the environment is built from the package index (about 3 minutes); MLflow keeps it in
``~/.mlflow/envs`` for later runs.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import mlflow
import numpy as np
import pytest

from innopoints.experiments.pyfunc import input_columns, model_input
from innopoints.experiments.registry import promote, register_formulas
from innopoints.experiments.tracking import log_train
from innopoints.pipeline import steps
from innopoints.pipeline.config import RunConfig
from tests.experiments.conftest import BEST, PARAMS

pytestmark = pytest.mark.slow


def _post(port: int, payload: dict) -> dict:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", data=json.dumps(payload).encode(),
                                     headers={"Content-Type": "application/json"})
    return json.loads(urllib.request.urlopen(request, timeout=120).read())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_served_candidate_answers_its_example_and_scores_like_the_formula(mlflow_uri, train_result, train_out,
                                                                              small_tables, tmp_path):
    if shutil.which("uv", path=f"{Path(sys.executable).parent}:{os.environ['PATH']}") is None:
        pytest.skip("uv, MLflow's default environment manager, is not installed (pip install -e '.[test]')")
    logged = log_train(train_result, train_out, params=PARAMS, uri=mlflow_uri)
    version = register_formulas(logged, uri=mlflow_uri)[BEST]["version"]
    promote(version, "candidate", uri=mlflow_uri)
    port = _free_port()
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    log = (tmp_path / "serve.log").open("w")
    server = subprocess.Popen([str(Path(sys.executable).with_name("mlflow")), "models", "serve", "-m",
                               "models:/innopoints-formula@candidate", "--host", "127.0.0.1", "--port", str(port)],
                              env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        local = Path(mlflow.artifacts.download_artifacts("models:/innopoints-formula@candidate"))
        example = json.loads((local / "serving_input_example.json").read_text(encoding="utf-8"))
        deadline = time.monotonic() + 900
        while True:
            try:
                answer = _post(port, example)
                break
            except (urllib.error.URLError, ConnectionError):
                assert server.poll() is None, (tmp_path / "serve.log").read_text()[-3000:]
                assert time.monotonic() < deadline, "the model server did not start in 15 minutes"
                time.sleep(0.5)
        assert [row["error"] for row in answer["predictions"]] == [None, None, None]
        # The same firms through the server and through the formula.
        formula = train_result.formulas[BEST]
        population, _ = steps.build_population(small_tables, steps.default_scoring_year(small_tables), RunConfig(),
                                               formula)
        frame = model_input(population, ["stage", *input_columns(formula)])
        # Python's JSON writes doubles exactly (pandas' to_json would round them to 10 digits).
        split = frame.astype(object).where(frame.notna(), None).to_dict(orient="split", index=False)
        served = np.array([row["points"] for row in _post(port, {"dataframe_split": split})["predictions"]])
        scored = steps.score_population(formula, population, share=0.1374, cutoff=None)["points"].to_numpy()
        assert len(served) == len(population) > 1000
        np.testing.assert_array_equal(served, scored)
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=60)
        log.close()
