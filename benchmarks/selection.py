"""Selection bias on the synthetic cohort, whose selection rule and effects are known (`truth.json`): the support
behind the baseline and the recommended formula, whether inverse-propensity weights and reject inference move
the recommended weights toward the truth, the policy headline over its sensitivity grid, and what the
selection analysis adds to `innopoints run`.

    innopoints run --cohort-dir DATA --out RUN --no-mlflow --timings RUN/timings.json
    innopoints run --cohort-dir DATA --out RUN0 --no-mlflow --config off.yaml --timings RUN0/timings.json
    python benchmarks/selection.py --run RUN --data DATA/synthetic-50000-seed1 --without RUN0/timings.json

(`off.yaml` holds `selection: {enabled: false}`.) Reads the files `run` wrote, as a user would, and writes
benchmarks/results/selection.md and .json.

**Distance to the truth.** The truth's importance of an effect is |coef| × sd (logit per standard deviation). A
policy-consistent formula may not reward a sign conflict, so the target is the importance share of every other
true effect; a formula's share is its mean points over the three stages ÷ 100, where the points of an
indicator with no true effect go to the twin in its cluster that has one (refinement.json), and points on
neither count as misplaced. Distance = total variation = ½ Σ |formula share − target share| over the true
effects, + ½ × the misplaced share: 0 is the truth's proportions exactly, 1 nothing in common.
"""

from __future__ import annotations

import argparse
import json
import platform
from datetime import date
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def target_shares(truth: dict) -> dict[str, float]:
    """Importance shares of the true effects a policy-consistent formula may reward (sign conflicts left out)."""
    conflicts = set(truth["sign_conflicts"])
    imp = {e["indicator"]: e["importance"] for e in truth["effects"] if e["coef"] != 0 and e["indicator"] not in
           conflicts}
    total = sum(imp.values())
    return {k: v / total for k, v in imp.items()}


def distance(points: dict[str, dict], target: dict[str, float], clusters: dict[str, list[str]]) -> dict:
    """Total-variation distance between a formula's mean points shares and the target (see the docstring)."""
    shares: dict[str, float] = {}
    misplaced = 0.0
    for ind, p in points.items():
        share = p["mean"] / 100.0
        if share <= 0:
            continue
        to = ind if ind in target else next((m for m in clusters.get(ind, []) if m in target), None)
        if to is None:
            misplaced += share
        else:
            shares[to] = shares.get(to, 0.0) + share
    tv = 0.5 * sum(abs(shares.get(k, 0.0) - v) for k, v in target.items()) + 0.5 * misplaced
    return {"distance": tv, "shares": shares, "misplaced": misplaced}


def stage_seconds(path: Path | None) -> dict[str, float]:
    if path is None or not path.exists():
        return {}
    rows = json.loads(path.read_text(encoding="utf-8"))
    out: dict[str, float] = {}
    for r in rows:
        out[r["stage"]] = out.get(r["stage"], 0.0) + float(r["seconds"])
    return out


def extra_population_seconds(data: Path, fit_years: list[int], backtest_years: int = 3) -> dict[int, float]:
    """Seconds to build each population the selection analysis needs beyond the backtest's last years, timed
    alone in this process (the stage timings of two whole runs differ by more than this on a shared machine)."""
    import time

    from innopoints.pipeline import steps
    from innopoints.pipeline.config import RunConfig

    cfg = RunConfig()
    rows = steps.Rows(steps.load_tables(data))
    indicators = steps.indicator_set(cfg)
    years = sorted(fit_years)[:-max(backtest_years - 1, 0)] if backtest_years > 1 else sorted(fit_years)
    out = {}
    for year in years:
        start = time.perf_counter()
        rows.population(year, indicators, cfg.stage_rule)
        out[year] = round(time.perf_counter() - start, 2)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, required=True, help="output folder of `innopoints run`")
    parser.add_argument("--data", type=Path, required=True, help="the cohort folder (with truth.json)")
    parser.add_argument("--timings", type=Path, help="timings JSON of the run (default RUN/timings.json)")
    parser.add_argument("--without", type=Path, help="timings JSON of the same run with selection disabled")
    parser.add_argument("--out", type=Path, default=RESULTS / "selection.md")
    args = parser.parse_args()

    truth = json.loads((args.data / "truth.json").read_text(encoding="utf-8"))
    sel = json.loads((args.run / "train" / "selection.json").read_text(encoding="utf-8"))
    refinement = json.loads((args.run / "train" / "refinement.json").read_text(encoding="utf-8"))
    policy = json.loads((args.run / "policy" / "policy.json").read_text(encoding="utf-8"))
    clusters = {r["id"]: list(r["cluster_members"]) for r in refinement["indicators"]}
    target = target_shares(truth)
    weights = sel["weights"]
    dist = {name: distance(pts, target, clusters) for name, pts in weights["points"].items()}
    after = stage_seconds(args.timings or args.run / "timings.json")
    before = stage_seconds(args.without)
    sel_step = after.get("who was lent: support and corrections")
    added = {"selection step": sel_step,
             "loan indicators and firms (populations of every year)":
                 after.get("loan indicators and firms", 0.0) - before.get("loan indicators and firms", 0.0)
                 if before else None,
             "run total": sum(after.values()) - sum(before.values()) if before else None}

    s = truth["selection"]
    lines = [
        f"# Selection bias on the synthetic cohort ({truth['params']['n_firms']:,} firms, seed "
        f"{truth['params']['seed']})",
        "",
        f"Date: {date.today().isoformat()}. Machine: {platform.platform()}, 2 cores shared with other jobs. "
        "Commands:",
        "",
        "```",
        f"innopoints run --cohort-dir {args.data.parent} --out {args.run} --no-mlflow --timings "
        f"{args.timings or args.run / 'timings.json'}",
        f"innopoints run --cohort-dir {args.data.parent} --out RUN0 --no-mlflow --config off.yaml --timings "
        f"{args.without}   # off.yaml: selection: {{enabled: false}}",
        f"python benchmarks/selection.py --run {args.run} --data {args.data} --timings "
        f"{args.timings or args.run / 'timings.json'} --without {args.without}",
        "```",
        "",
        f"The truth's selection rule: each year the top {s['qualified_share']:.1%} of firms by a points proxy get "
        f"{s['loans_to_qualified']:.0%} of the loans. Recommended formula: `{weights['formula']}`.",
        "",
        "## Support behind each formula",
        "",
        f"Propensity model fitted on {sel['propensity']['fit_years']}, out-of-time AUC "
        f"{sel['propensity']['test_auc']:.3f} on {sel['propensity']['test_year']}. Low support: propensity below "
        f"{sel['settings']['low_support']:.0%}.",
        "",
        "| formula | qualified firms | in low support | share | share of qualified points | share of points mass |"
        " newly qualified (vs formula in force) | of those in low support |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, r in sel["support"]["formulas"].items():
        lines.append(f"| `{name}` | {r['qualified_firms']:,} | {r['qualified_low_support']:,} | "
                     f"{r['qualified_share_low_support']:.1%} | {r['qualified_points_share_low_support']:.1%} | "
                     f"{r['points_mass_share_low_support']:.1%} | {r['qualified_new_vs_in_force']:,} | "
                     f"{r['qualified_new_low_support']:,} |")
    names = list(sel["support"]["formulas"])
    lines += ["", "| propensity | firms | observed loans | defaults | " + " | ".join(f"qualified `{n}`" for n in names)
              + " |", "|---|---|---|---|" + "---|" * len(names)]
    for b in sel["support"]["bins"]:
        lines.append(f"| {b['propensity_from']:.1%}–{b['propensity_to']:.1%}{' (low)' if b['low_support'] else ''} | "
                     f"{b['firms']:,} | {b['observed_loans']:,} | {b['observed_defaults']:,} | "
                     + " | ".join(f"{b[f'qualified_{n}']:,}" for n in names) + " |")
    labels = {"shipped": "as shipped", "refit_unweighted": "refit, unweighted", "refit_ipw": "refit, IPW",
              "refit_parcelled": "refit, parcelled rejects"}
    lines += ["", "## Weighted and unweighted weights against the truth", "",
              "Mean points over the stages (share of 100) per true effect; twins credited to their cluster's true "
              "effect. Target: the truth's importance shares without the sign conflict "
              f"({', '.join(truth['sign_conflicts'])}).", "",
              "| indicator | truth target | " + " | ".join(labels[k] for k in dist) + " |",
              "|---|---|" + "---|" * len(dist)]
    for ind, t in sorted(target.items(), key=lambda kv: -kv[1]):
        lines.append(f"| `{ind}` | {t:.1%} | " + " | ".join(f"{d['shares'].get(ind, 0.0):.1%}" for d in dist.values())
                     + " |")
    lines.append("| (no true effect) | 0.0% | " + " | ".join(f"{d['misplaced']:.1%}" for d in dist.values()) + " |")
    lines.append("| **distance to truth** | 0 | " + " | ".join(f"**{d['distance']:.3f}**" for d in dist.values())
                 + " |")
    ev = weights["evaluation"]
    lines.append("| test AUC (weighted) | | " + " | ".join(
        f"{ev[k]['test_auc']:.3f} ({ev[k]['test_auc_ipw']:.3f})" for k in dist) + " |")
    lines += ["", f"IPW: weights {sel['weights_ipw']['min']:.2f}–{sel['weights_ipw']['max']:.2f}, "
              f"{sel['weights_ipw']['clipped_share']:.1%} clipped, {sel['weights_ipw']['effective_loans']:,.0f} "
              f"effective of {sel['weights_ipw']['training_loans']:,} loans. Parcelling: {weights['rejects']:,} "
              f"rejects, mean inferred default rate {weights['mean_reject_pd']:.2%} against "
              f"{weights['approved_default_rate']:.2%} observed.", ""]
    base_d = dist["refit_unweighted"]["distance"]
    lines += ["Reading: the refit without weights reproduces the shipped points when the recommended formula is a "
              "fitted one (the same fit). On this one cohort, inverse-propensity weights move the distance to the "
              f"truth from {base_d:.3f} to {dist['refit_ipw']['distance']:.3f} and parcelling to "
              f"{dist['refit_parcelled']['distance']:.3f}. One cohort and one seed, no interval: a direction, not "
              "an effect size. The distance compares points shares with standardised logit effects, which are not "
              "the same scale (a curve's shape carries part of an effect), so only its change between columns "
              "is read here.", ""]
    costs = sel.get("sign_conflicts")
    if costs:
        lines += ["## Sign conflicts: the AUC cost of each handling", "",
                  "| indicator | handling | share | curve | test AUC | ΔAUC vs zero [95%] |",
                  "|---|---|---|---|---|---|"]
        for r in costs["modes"]:
            d = r["delta_auc_vs_zero"]
            lines.append(f"| `{r['indicator']}` | {r['mode']} | {r['share']:.0%} | {r['curve']} | "
                         f"{r['test_auc']:.3f} | {d[1]:+.3f} [{d[0]:+.3f}, {d[2]:+.3f}] |")
        lines += ["", f"({costs['test_defaults']} test defaults: the intervals are wide.)", ""]
    lines += ["## The policy headline grid", ""]
    for label, rows in policy.get("sensitivity", {}).items():
        lines += [f"`{label}` against `{policy['reference']}`:", "",
                  "| take-up | share | reference qualified | equal firms: lending, loss | equal loss: firms, "
                  "lending, marginal PD |", "|---|---|---|---|---|"]
        for r in rows:
            f, m = r["equal_firms"], r["equal_loss"]
            take = "estimated" if r["take_up"] is None else f"{r['take_up']:g}"
            pd_ = "–" if m["marginal_pd"] is None else f"{m['marginal_pd']:.2%}"
            lines.append(f"| {take} | {r['share']:.2%} | {r['reference']['qualified_firms']:,} | "
                         f"{f['volume_ratio']:+.1%}, {f['loss_ratio']:+.1%} | {m['qualified_firms']:,}, "
                         f"{m['volume_ratio']:+.1%}, {pd_} |")
        lines.append("")
    churn = policy.get("churn", {}).get("formulas", {})
    for label, c in churn.items():
        if "flagged" in c:
            lines += [f"Churn `{label}`: {c['changed_share']:.0%} of the firms qualified under either change; "
                      f"flagged: {', '.join(c['flagged']) or 'none'}.", ""]
    extra = extra_population_seconds(args.data, sel["propensity"]["fit_years"])
    added["extra_populations"] = extra
    lines += ["## What it costs `innopoints run`", "",
              f"- the populations of {', '.join(map(str, extra))} (the backtest builds the last three years "
              f"anyway), timed alone: {sum(extra.values()):.1f} s"]
    if before:
        lines += [f"- selection step inside `train`: {sel_step:.1f} s",
                  f"- stage `loan indicators and firms`, with against without: "
                  f"{added['loan indicators and firms (populations of every year)']:+.1f} s",
                  f"- whole run, with against without (stage timings summed): {added['run total']:+.1f} s "
                  f"({sum(after.values()):.1f} s against {sum(before.values()):.1f} s; run-to-run noise on this "
                  "shared machine is large, see speedups.md)", ""]
    elif sel_step is not None:
        lines += [f"- selection step inside `train`: {sel_step:.1f} s", ""]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines), encoding="utf-8")
    args.out.with_suffix(".json").write_text(json.dumps(
        {"distance": {k: v["distance"] for k, v in dist.items()}, "target": target, "added_seconds": added,
         "support": sel["support"]["formulas"]}, indent=1), encoding="utf-8")
    print(args.out.read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
