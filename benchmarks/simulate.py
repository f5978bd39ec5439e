"""Benchmark the synthetic national cohort: wall time and peak memory of `simulate`, then of writing Parquet.

Usage: ``python benchmarks/simulate.py --firms 520000 --seed 1`` (from the repository root). Prints a
Markdown report and writes it to ``benchmarks/results/simulate.md`` (``--out`` to change). Targets at the
2024 national scale: at most 60 s and 4 GB peak RSS on 2 cores.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the package is not installed; run from a checkout

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pyarrow  # noqa: E402

from innopoints.pipeline.simulate import simulate  # noqa: E402

TIME_TARGET_S = 60.0
RSS_TARGET_GB = 4.0


def peak_rss_gb() -> float:
    """Peak resident set size of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def machine() -> dict[str, str]:
    """What the numbers were measured on."""
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": str(os.cpu_count()),
        "cpus_usable": str(len(os.sched_getaffinity(0))) if hasattr(os, "sched_getaffinity") else "?",
        "memory_gb": f"{memory:.1f}",
        "load_average_1m_at_start": f"{os.getloadavg()[0]:.2f}",
        "numpy / pandas / pyarrow": f"{np.__version__} / {pd.__version__} / {pyarrow.__version__}",
    }


def run(n_firms: int, seed: int) -> dict:
    """Time `simulate` (with per-stage times) and writing its tables to Parquet in a temp folder."""
    stages: list[tuple[str, float]] = []
    start = time.perf_counter()
    rss_before = peak_rss_gb()
    cohort = simulate(n_firms, seed, progress=lambda msg: stages.append((msg, time.perf_counter())))
    sim_s = time.perf_counter() - start
    rss_sim = peak_rss_gb()
    stage_s = {
        name: round((stages[i + 1][1] if i + 1 < len(stages) else start + sim_s) - t, 2)
        for i, (name, t) in enumerate(stages)
    }
    tables = {"firms": cohort.firms, "firm_years": cohort.firm_years, "loans": cohort.loans}
    sizes = {}
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        for name, df in tables.items():
            path = Path(tmp) / f"{name}.parquet"
            df.to_parquet(path, index=False)
            sizes[name] = path.stat().st_size
        truth = Path(tmp) / "truth.json"
        truth.write_text(json.dumps(cohort.truth, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
        sizes["truth.json"] = truth.stat().st_size
        write_s = time.perf_counter() - start
    loans = cohort.loans
    return {
        "simulate_s": sim_s, "stage_s": stage_s, "write_s": write_s,
        "rss_before_gb": rss_before, "rss_simulate_gb": rss_sim, "rss_total_gb": peak_rss_gb(),
        "rows": {name: len(df) for name, df in tables.items()}, "sizes": sizes,
        "observed_loans": int(loans["outcome_observed"].sum()),
        "observed_default_rate": cohort.truth["observed_default_rate"],
        "strongest": cohort.truth["strongest"],
    }


def report(n_firms: int, seed: int, res: dict, info: dict[str, str]) -> str:
    """The Markdown result."""
    ok_time = "yes" if res["simulate_s"] <= TIME_TARGET_S else "**no**"
    ok_rss = "yes" if res["rss_total_gb"] <= RSS_TARGET_GB else "**no**"
    lines = [
        "# Benchmark: synthetic national cohort (`innopoints.pipeline.simulate.simulate`)",
        "",
        f"Date: {dt.date.today().isoformat()}. Command: `python benchmarks/simulate.py --firms {n_firms} "
        f"--seed {seed}`.",
        "",
        "## Machine",
        "",
        *(f"- {k}: {v}" for k, v in info.items()),
        "",
        "## Results",
        "",
        "| measure | value | target | met |",
        "|---|---|---|---|",
        f"| `simulate({n_firms}, {seed})` wall time | {res['simulate_s']:.1f} s | ≤ {TIME_TARGET_S:.0f} s "
        f"| {ok_time} |",
        f"| peak RSS after simulate | {res['rss_simulate_gb']:.2f} GB | | |",
        f"| write Parquet (pyarrow, 3 tables) + truth.json | {res['write_s']:.1f} s | | |",
        f"| peak RSS, whole run | {res['rss_total_gb']:.2f} GB | ≤ {RSS_TARGET_GB:.0f} GB | {ok_rss} |",
        f"| peak RSS after imports (baseline) | {res['rss_before_gb']:.2f} GB | | |",
        "",
        "Stage times inside `simulate` (s): "
        + ", ".join(f"{k} {v:.1f}" for k, v in res["stage_s"].items()) + ".",
        "",
        "| table | rows | Parquet size |",
        "|---|---|---|",
        *(f"| {name} | {res['rows'][name]:,} | {res['sizes'][name] / 1024**2:.1f} MB |"
          for name in ("firms", "firm_years", "loans")),
        f"| truth.json | | {res['sizes']['truth.json'] / 1024:.1f} KB |",
        "",
        f"Observed loans: {res['observed_loans']:,}; observed default rate: "
        f"{res['observed_default_rate']:.4f} (target 0.02). Strongest planted effects: "
        f"{', '.join(res['strongest'])}.",
        "",
        "Peak RSS is `resource.getrusage(RUSAGE_SELF).ru_maxrss` (a high-water mark, so it includes the "
        "interpreter and imports). The machine is shared: other processes may have been running (see the "
        "load average), so wall times are an upper bound.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--firms", type=int, default=520_000, help="number of firms (520000 = national)")
    parser.add_argument("--seed", type=int, default=1, help="random seed")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "simulate.md",
                        help="where to write the Markdown result")
    args = parser.parse_args()
    info = machine()
    text = report(args.firms, args.seed, run(args.firms, args.seed), info)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
