"""The refinement against the truth of cohorts no test was tuned on: does it find the strongest effects, give
points only to real effects (or their twins), report the planted sign conflict, keep start-ups off points
they cannot earn, and state what policy consistency costs?

    python benchmarks/refinement_seeds.py --firms 50000 --seeds 7 8 9

Each cohort is made by `innopoints simulate`, trained as `innopoints train` trains it (default config, no
MLflow) and checked against its `truth.json`. Writes benchmarks/results/refinement-seeds.md and .json.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"


def check(out: Path, truth: dict) -> dict:
    """The issue's checks, read off the files `train` wrote (as a user would read them)."""
    ev = json.loads((out / "evaluation.json").read_text(encoding="utf-8"))
    ref = {r["id"]: r for r in json.loads((out / "refinement.json").read_text(encoding="utf-8"))["indicators"]}
    best = json.loads((out / "formulas" / f"{ev['best']}.json").read_text(encoding="utf-8"))
    effects = {e["indicator"] for e in truth["effects"] if e["coef"] != 0}
    top5 = {i for i, r in ref.items() if r["cluster_rank"] <= 5}
    strongest = truth["strongest"]
    points = {item["id"]: item["points"] for item in best["indicators"]}
    unearned = [i for i, p in points.items() if max(p.values()) >= 1
                and i not in effects and not effects & set(ref[i]["cluster_members"])]
    (planted,) = truth["sign_conflicts"]
    planted_item = next((item for item in best["indicators"] if item["id"] == planted), None)
    startup_unavailable = [i for i, r in ref.items() if "startup" in r["unavailable_stages"]]
    startup_points_on_unavailable = [i for i in startup_unavailable if points.get(i, {}).get("startup", 0) > 0]
    cost = ev["policy_cost"]
    back = ev.get("backtest", {}).get("recommended", [])
    return {
        "recommended": ev["best"], "best_data": ev["best_data"],
        "strongest": strongest, "strongest_in_top5_clusters": [i for i in strongest if i in top5],
        "scored": sorted(points), "points_without_true_effect_or_twin": unearned,
        "sign_conflict_reported": bool(ref[planted]["sign_conflict"]),
        "sign_conflict_scored_in_reverse": bool(planted_item and planted_item.get("direction") == -1),
        "startup_unavailable": startup_unavailable,
        "startup_points_on_unavailable": startup_points_on_unavailable,
        "policy_cost_delta_auc": cost["delta_auc"], "test_defaults": cost["test_defaults"],
        "test_auc": {k: ev["formulas"][k]["test_auc"] for k in ("baseline", ev["best"], ev["best_data"])},
        "references": {k: v["test_auc"] for k, v in ev["models"].items()},
        "backtest_pooled": back[-1] if back else None,
        "uncertain": sorted(i for i, r in ref.items() if r["recommendation"] == "uncertain"),
    }


def run_seed(firms: int, seed: int, work: Path) -> dict:
    data, out = work / f"cohort-{seed}", work / f"train-{seed}"
    exe = [sys.executable, "-m", "innopoints.pipeline.cli"]
    subprocess.run([*exe, "simulate", "--firms", str(firms), "--seed", str(seed), "--out", str(data), "--quiet"],
                   check=True, capture_output=True)
    start = time.perf_counter()
    subprocess.run([*exe, "train", "--data", str(data), "--out", str(out), "--no-mlflow", "--quiet"], check=True,
                   capture_output=True)
    seconds = time.perf_counter() - start
    result = check(out, json.loads((data / "truth.json").read_text(encoding="utf-8")))
    for name in ("refinement.json", "evaluation.json"):  # the same seed twice gives the same bytes
        result.setdefault("files", {})[name] = (out / name).read_bytes()
    return {"seed": seed, "train_seconds": round(seconds, 1), **result}


def markdown(rows: list[dict], firms: int) -> str:
    lines = [f"# The refinement against the cohorts' truth ({firms:,} firms, seeds "
             f"{', '.join(str(r['seed']) for r in rows)})", "",
             f"Date: {date.today().isoformat()}. Command: `python benchmarks/refinement_seeds.py --firms {firms} "
             f"--seeds {' '.join(str(r['seed']) for r in rows)}`. Machine: {platform.platform()}, 2 cores.", "",
             "| seed | recommended | strongest true effects in the top 5 clusters | points without a true effect "
             "or twin | sign conflict reported / scored in reverse | start-up points on indicators start-ups "
             "cannot have | cost of policy consistency (ΔAUC, 95%) | test defaults | test AUC baseline → "
             "recommended (best data-driven) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        d = r["policy_cost_delta_auc"]
        auc = r["test_auc"]
        unearned = ", ".join(r["points_without_true_effect_or_twin"]) or "none"
        conflict = (f"{'yes' if r['sign_conflict_reported'] else 'NO'} / "
                    f"{'YES' if r['sign_conflict_scored_in_reverse'] else 'no'}")
        startup = ", ".join(r["startup_points_on_unavailable"]) or "none"
        lines.append(
            f"| {r['seed']} | `{r['recommended']}` | {len(r['strongest_in_top5_clusters'])} of 5 "
            f"({', '.join(r['strongest_in_top5_clusters'])}) | {unearned} | {conflict} | {startup} "
            f"| {d[1]:+.3f} [{d[0]:+.3f}, {d[2]:+.3f}] | {r['test_defaults']} "
            f"| {auc['baseline']:.3f} → {auc[r['recommended']]:.3f} ({auc[r['best_data']]:.3f}) |")
    lines += ["", "Scored indicators, uncertain ones and reference models per seed:", ""]
    for r in rows:
        lines.append(f"- seed {r['seed']}: scored {', '.join(r['scored'])}; uncertain: "
                     f"{', '.join(r['uncertain']) or 'none'}; start-ups cannot have: "
                     f"{', '.join(r['startup_unavailable']) or 'none'}; references "
                     + ", ".join(f"{k} {v:.3f}" for k, v in r["references"].items())
                     + f"; train {r['train_seconds']} s; same seed twice, byte-identical files: "
                     f"{r['byte_identical']}")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--firms", type=int, default=50_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[7, 8, 9])
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            row = run_seed(args.firms, seed, Path(tmp))
            again = run_seed(args.firms, seed, Path(tmp) / "again")
            row["byte_identical"] = row.pop("files") == again.pop("files")
            rows.append(row)
            print(json.dumps({k: v for k, v in row.items()}, default=str)[:400], flush=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "refinement-seeds.json").write_text(json.dumps(rows, indent=1, default=float) + "\n", encoding="utf-8")
    (RESULTS / "refinement-seeds.md").write_text(markdown(rows, args.firms), encoding="utf-8")
    print(f"wrote {RESULTS / 'refinement-seeds.md'}")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
