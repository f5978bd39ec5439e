"""Policy simulation at national scale: 100,000 one-factor Monte Carlo draws over ~71k qualified firms.

Simulates the national cohort in memory (``simulate(520000, 1)``), scores loans and firms with each formula,
then times the policy steps separately: calibration and estimation, and the assessment of each formula
(qualification, expected cells and the Monte Carlo). Writes benchmarks/results/policy.md (and .json).

    python benchmarks/policy.py                            # 520,000 firms, the illustrative baseline
    python benchmarks/policy.py --firms 50000 --name policy-50k
    python benchmarks/policy.py --formula path/to/candidate.json   # adds a formula (repeatable)
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from innopoints.pipeline.config import RunConfig  # noqa: E402
from innopoints.pipeline.contract import coerce_tables  # noqa: E402
from innopoints.pipeline.policy import PolicyFile, prepare, simulate_policy  # noqa: E402
from innopoints.pipeline.refs import load_formula  # noqa: E402
from innopoints.pipeline.simulate import simulate  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
BUDGET_SECONDS = 60.0  # the policy budget: 100,000 draws over the national cohort in at most 60 s


def peak_rss_gb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2, 3)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--firms", type=int, default=520_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--draws", type=int, default=100_000)
    parser.add_argument("--formula", action="append", default=None, help="formula reference (repeatable)")
    parser.add_argument("--name", default="policy", help="result file stem")
    a = parser.parse_args()
    refs = a.formula or ["builtin:official-2024"]
    timings: dict[str, float] = {}

    start = time.perf_counter()
    cohort = simulate(a.firms, a.seed)
    tables = coerce_tables({"firms": cohort.firms, "firm_years": cohort.firm_years, "loans": cohort.loans})
    del cohort
    timings["simulate cohort (not part of the policy step)"] = time.perf_counter() - start

    policy = PolicyFile(monte_carlo={"draws": a.draws, "seed": a.seed})
    formulas = [load_formula(r) for r in refs]
    start = time.perf_counter()
    runs, info = prepare(formulas, tables, policy, RunConfig())
    timings["score loans and firms, calibrate bands"] = time.perf_counter() - start
    terms = policy.terms(info["guaranteed_share_used"])

    marks: list[tuple[str, float]] = []
    start = time.perf_counter()
    sim = simulate_policy(runs, policy, terms, progress=lambda msg: marks.append((msg, time.perf_counter())))
    end = time.perf_counter()
    timings["assess all formulas (qualify, cells, Monte Carlo)"] = end - start
    bounds = [t for _, t in marks] + [end]
    per_formula = {msg.removeprefix("simulate "): bounds[i + 1] - t for i, (msg, t) in enumerate(marks)}

    rows = []
    for run in runs:
        total = run.assessment.total
        rows.append({"formula": run.label, "seconds": round(per_formula[run.label], 2),
                     "qualified_firms": int(total["qualified_firms"]), "cells": len(run.assessment.cells),
                     "expected_volume": round(total["expected_volume"], 1),
                     "expected_loss": round(total["expected_loss"], 1),
                     "simulated_loss_mean": round(total["simulated_loss_mean"], 1),
                     "loss_p99": round(total["loss_p99"], 1),
                     "fund_exhaustion_probability": round(total["fund_exhaustion_probability"], 4)})
    worst = max(r["seconds"] for r in rows)
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    result = {
        "date": dt.date.today().isoformat(), "firms": a.firms, "seed": a.seed, "draws": a.draws,
        "command": "python benchmarks/policy.py " + " ".join(sys.argv[1:]),
        "machine": {"platform": platform.platform(), "python": platform.python_version(),
                    "cpu_count": os.cpu_count(), "memory_gb": round(mem, 1)},
        "timings_seconds": {k: round(v, 2) for k, v in timings.items()},
        "formulas": rows, "headline": sim["headline"], "peak_rss_gb": peak_rss_gb(),
        "budget_seconds": BUDGET_SECONDS, "met": worst <= BUDGET_SECONDS,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{a.name}.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    (RESULTS / f"{a.name}.md").write_text(markdown(result), encoding="utf-8")
    print(markdown(result))
    return 0 if result["met"] else 1


def markdown(r: dict) -> str:
    m = r["machine"]
    lines = [
        f"# Policy simulation benchmark ({r['firms']:,} firms, seed {r['seed']}, {r['draws']:,} draws)", "",
        f"Date: {r['date']}. Command: `{r['command']}`.", "",
        f"Machine: {m['platform']}, Python {m['python']}, {m['cpu_count']} cores, {m['memory_gb']} GB. "
        f"Peak RSS of the whole run: {r['peak_rss_gb']} GB.", "",
        "| step | seconds |", "|---|---|",
        *(f"| {k} | {v} |" for k, v in r["timings_seconds"].items()), "",
        f"Per formula (qualification, expected cells and {r['draws']:,} Monte Carlo draws; budget "
        f"≤ {r['budget_seconds']:.0f} s, met: {'yes' if r['met'] else 'no'}):", "",
        "| formula | seconds | qualified firms | cells | expected volume | expected loss | simulated mean loss "
        "| p99 loss | P(any fund exhausted) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for f in r["formulas"]:
        lines.append(f"| `{f['formula']}` | {f['seconds']} | {f['qualified_firms']:,} | {f['cells']} | "
                     f"{f['expected_volume']:,.0f} | {f['expected_loss']:,.0f} | {f['simulated_loss_mean']:,.0f} | "
                     f"{f['loss_p99']:,.0f} | {f['fund_exhaustion_probability']:.2%} |")
    for h in r["headline"]:
        lines += ["", f"Headline: at the expected loss of `{h['reference']}` ({h['target_expected_loss']:,.0f}), "
                      f"`{h['formula']}` lends {h['expected_volume']:,.0f} against "
                      f"{h['reference_expected_volume']:,.0f} ({h['volume_difference']:+,.0f})."]
    lines += ["", "Money in CNY 10k. The Monte Carlo draws binomial default counts per (province, points band) cell "
                  "given the common factor, in chunks of 10,000 draws, so memory does not grow with firms."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
