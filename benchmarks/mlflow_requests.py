"""Count the HTTP requests one `innopoints run` makes to a tracking server, and time its MLflow stages.

    python benchmarks/mlflow_requests.py --data DIR --config FILE --out DIR [--uri http://127.0.0.1:5000]

Every request MLflow's client sends goes through ``requests.Session.request``; it is wrapped here to count
requests by method and endpoint (run and model ids folded). The MLflow stages' wall times come from the
run's ``--timings``. Without ``--uri`` the store is ``MLFLOW_TRACKING_URI`` (a SQLite store makes no HTTP
request; only the times mean something there). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import sys
import tempfile
from pathlib import Path

import requests
from typer.testing import CliRunner

MLFLOW_STAGES = ("log to MLflow", "register formulas")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--config", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--seed", default="1")
    parser.add_argument("--uri")
    args = parser.parse_args()
    if args.uri:
        os.environ["MLFLOW_TRACKING_URI"] = args.uri
    counts: collections.Counter[str] = collections.Counter()
    real = requests.Session.request

    def counted(self, method, url, *a, **kw):
        path = re.sub(r"[0-9a-f]{32}|m-[0-9a-f]{32}", "<id>", url.split("?", 1)[0].split("/", 3)[-1])
        counts[f"{method} /{path}"] += 1
        return real(self, method, url, *a, **kw)

    requests.Session.request = counted
    from innopoints.pipeline.cli import app

    with tempfile.TemporaryDirectory() as tmp:
        timings = Path(tmp) / "timings.json"
        result = CliRunner().invoke(app, ["run", "--data", args.data, "--config", args.config, "--out", args.out,
                                          "--seed", args.seed, "--quiet", "--timings", str(timings)])
        if result.exit_code != 0:
            sys.exit(f"run failed ({result.exit_code}): {result.output[-2000:]}")
        stages = {r["stage"]: r["seconds"] for r in json.loads(timings.read_text())}
    artifacts = sum(n for k, n in counts.items() if "/mlflow-artifacts/" in k)
    history = sum(n for k, n in counts.items() if "metrics/get-history" in k)
    print(json.dumps({
        "uri": os.environ.get("MLFLOW_TRACKING_URI", "sqlite (./mlflow.db)"),
        "requests": sum(counts.values()), "artifact_requests": artifacts, "get_history_requests": history,
        "mlflow_seconds": round(sum(stages.get(s, 0.0) for s in MLFLOW_STAGES), 1),
        "stages": {s: stages.get(s) for s in MLFLOW_STAGES},
        "top_endpoints": dict(counts.most_common(12)),
    }, indent=1))


if __name__ == "__main__":
    main()
