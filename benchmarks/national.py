"""National-scale benchmark: every pipeline stage on 520,000 firms, timed, with peak memory per stage.

Each stage runs as its own `innopoints` command in a child process, so its peak RSS (from `os.wait4`) is
the stage's own, as a user would see it. Writes benchmarks/results/national.json and national.md.

    python benchmarks/national.py                 # 520,000 firms (the 2024 national scale)
    python benchmarks/national.py --firms 50000   # a quick look
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
BUDGETS = {  # seconds, GB (issues: simulate ≤60 s/4 GB, features ≤60 s/4 GB, score ≤30 s, train ≤5 min/6 GB)
    "simulate": (60, 4), "features": (60, 4), "score": (30, None), "train": (300, 6),
}


def run_stage(name: str, args: list[str], log: Path) -> dict:
    """Run one `innopoints` command; wall time and the child's own peak RSS."""
    exe = shutil.which("innopoints") or sys.executable
    cmd = [exe, *args] if exe.endswith("innopoints") else [exe, "-m", "pipeline.cli", *args]
    start = time.perf_counter()
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    row = {"stage": name, "command": "innopoints " + " ".join(args), "seconds": round(wall, 2),
           "peak_rss_gb": round(usage.ru_maxrss / 1024**2, 3), "exit_code": code}
    budget = BUDGETS.get(name)
    if budget:
        secs, gb = budget
        row["budget"] = f"≤ {secs} s" + (f", ≤ {gb} GB" if gb else "")
        row["met"] = code == 0 and wall <= secs and (gb is None or row["peak_rss_gb"] <= gb)
    print(f"{name:10s} {wall:7.1f} s  {row['peak_rss_gb']:6.2f} GB  exit {code}", flush=True)
    if code != 0:
        print(log.read_text()[-3000:], file=sys.stderr)
    return row


def machine() -> dict:
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    return {"platform": platform.platform(), "python": platform.python_version(), "cpu_count": os.cpu_count(),
            "memory_gb": round(mem, 1), "load_average_1m_at_start": round(os.getloadavg()[0], 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--firms", type=int, default=520_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temp dir)")
    parser.add_argument("--name", default=None, help="result file stem (default: national or national-<firms>)")
    a = parser.parse_args()
    work = a.work or Path(tempfile.mkdtemp(prefix="innopoints-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    data, logs = work / "data", work / "logs"
    logs.mkdir(exist_ok=True)
    info = {"date": dt.date.today().isoformat(), "firms": a.firms, "seed": a.seed, "machine": machine(), "stages": []}
    stages = [
        ("simulate", ["simulate", "--firms", str(a.firms), "--seed", str(a.seed), "--out", str(data), "--quiet"]),
        ("validate", ["validate", "--data", str(data)]),
        ("features", ["features", "--data", str(data), "--out", str(work / "features.parquet"),
                      "--population-year", "2025", "--quiet"]),
        ("train", ["train", "--data", str(data), "--out", str(work / "train"), "--quiet"]),
    ]
    for name, args in stages:
        info["stages"].append(run_stage(name, args, logs / f"{name}.log"))
        if info["stages"][-1]["exit_code"] != 0:
            break
    else:
        best = json.loads((work / "train" / "evaluation.json").read_text())["best"]
        formula = str(work / "train" / "formulas" / f"{best}.json")
        for name, args in [
            ("score", ["score", "--formula", formula, "--data", str(data), "--out", str(work / "scores.parquet"),
                       "--quiet"]),
            ("export", ["export", formula, "--format", "csv", "--out", str(work / "weights.csv")]),
        ]:
            info["stages"].append(run_stage(name, args, logs / f"{name}.log"))
        ev = json.loads((work / "train" / "evaluation.json").read_text())
        info["train_result"] = {
            "best": best, "split": ev["split"],
            "test_auc": {k: round(v["test_auc"], 4) for k, v in ev["formulas"].items()},
            "models_test_auc": {k: round(v["test_auc"], 4) for k, v in ev["models"].items()},
        }
    info["total_seconds"] = round(sum(s["seconds"] for s in info["stages"]), 1)
    stem = a.name or ("national" if a.firms == 520_000 else f"national-{a.firms}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{stem}.json").write_text(json.dumps(info, indent=2, ensure_ascii=False) + "\n")
    (RESULTS / f"{stem}.md").write_text(markdown(info))
    print(f"wrote {RESULTS / stem}.json and .md")
    return 0 if all(s["exit_code"] == 0 for s in info["stages"]) else 1


def markdown(info: dict) -> str:
    m = info["machine"]
    lines = [f"# National-scale benchmark ({info['firms']:,} firms, seed {info['seed']})", "",
             f"Date: {info['date']}. Command: `python benchmarks/national.py --firms {info['firms']}`.", "",
             f"Machine: {m['platform']}, Python {m['python']}, {m['cpu_count']} cores, {m['memory_gb']} GB; "
             f"load average at start {m['load_average_1m_at_start']}.", "",
             "| stage | seconds | peak RSS (GB) | budget | met |", "|---|---|---|---|---|"]
    for s in info["stages"]:
        met = {True: "yes", False: "**no**"}.get(s.get("met"), "")
        lines.append(f"| {s['stage']} | {s['seconds']} | {s['peak_rss_gb']} | {s.get('budget', '')} | {met} |")
    lines += ["", f"Total: {info['total_seconds']} s.", ""]
    if "train_result" in info:
        tr = info["train_result"]
        lines += [f"Best formula: `{tr['best']}`. Test AUC: "
                  + ", ".join(f"{k} {v}" for k, v in tr["test_auc"].items()) + ". Models: "
                  + ", ".join(f"{k} {v}" for k, v in tr["models_test_auc"].items()) + ".", "",
                  f"Split: {json.dumps(tr['split'])}", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
