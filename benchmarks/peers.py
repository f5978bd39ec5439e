"""Peer comparison: our fitted points formulas against optbinning's binning + logistic scorecard.

Both sides get the same point-in-time indicator table (``innopoints.features.build.loan_features``, every built-in
indicator) and the same out-of-time split as ``models.learning.train`` (test = last origination year with observed
outcomes, train = every earlier year). Ours is trained by ``models.learning.train.train_candidates`` with the default
``TrainSettings``; optbinning's ``BinningProcess`` + ``Scorecard`` (logistic regression, points min-max
scaled to 0-100) is fitted on all training years. Every method's test loans are judged by the same
functions of ``innopoints.models.evaluation.metrics`` (AUC, KS, default rate of the top 13.7 % by points).

optbinning is an optional dependency (the ``bench`` extra); keep it out of the project's environment:

    python3 -m venv /tmp/benchvenv && /tmp/benchvenv/bin/pip install -e ".[bench]"
    /tmp/benchvenv/bin/python benchmarks/peers.py                 # 520,000 firms (the 2024 national scale)
    /tmp/benchvenv/bin/python benchmarks/peers.py --firms 50000   # a quick look

Writes benchmarks/results/peers.json and peers.md (``peers-<firms>`` for other sizes).
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
from importlib import resources as package_files
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # runs from a checkout whether or not the package is installed

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from innopoints.features.build import loan_features  # noqa: E402
from innopoints.features.catalog import list_indicators  # noqa: E402
from innopoints.features.stage import STAGES, StageRule  # noqa: E402
from innopoints.models.evaluation.evaluate import temporal_split  # noqa: E402
from innopoints.models.evaluation.metrics import QUALIFIED_SHARE, auc, delong_auc_diff, ks, top_share  # noqa: E402
from innopoints.models.formula.schema import Formula  # noqa: E402
from innopoints.models.learning.candidates import (  # noqa: E402
    CURVE_KINDS,
    fitted_points,
    flavour_spec,
    learn_curves,
)
from innopoints.models.learning.directions import band_directions  # noqa: E402
from innopoints.models.learning.learners import LGBMDefaultModel  # noqa: E402
from innopoints.models.learning.train import TrainSettings, train_candidates  # noqa: E402
from innopoints.pipeline.contract import coerce_tables  # noqa: E402
from innopoints.pipeline.simulate import simulate  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
AUC_MARGIN = 0.005  # the peer budget: our test AUC >= optbinning's - 0.005 ...
TIME_RATIO = 1 / 3  # ... with fit time <= 1/3 of optbinning's
PASS_STEPS = ("LightGBM", "SHAP", "candidate formulas", "recalibration frontier")  # build_recipe's marks
# optbinning settings tried: (monotone trend, metric_missing). metric_missing=0 is its default (a missing value
# scores as WoE 0, i.e. neutral); "empirical" scores the missing bin at its own WoE. The best is the reference.
VARIANTS = (("auto_asc_desc", 0), ("auto_asc_desc", "empirical"), ("auto", 0))


def machine() -> dict:
    """What the numbers were measured on."""
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    return {"platform": platform.platform(), "python": platform.python_version(), "cpu_count": os.cpu_count(),
            "cpus_usable": len(os.sched_getaffinity(0)), "memory_gb": round(mem, 1),
            "load_average_1m_at_start": round(os.getloadavg()[0], 2)}


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # Linux reports KiB


def ranking(y: np.ndarray, points: np.ndarray) -> dict:
    """Test AUC, KS and top-share default rate of a points score (higher points = lower risk)."""
    top = top_share(y, points, QUALIFIED_SHARE)
    return {"test_auc": auc(y, -points), "test_ks": ks(y, -points),
            "test_top_default_rate": top["default_rate"], "top_n": top["n"], "top_defaults": top["defaults"]}


def loan_table(firms: int, seed: int) -> tuple[pd.DataFrame, list, dict]:
    """Simulated cohort → point-in-time indicators for every loan (all built-in indicators)."""
    t0 = time.perf_counter()
    cohort = simulate(firms, seed)
    t1 = time.perf_counter()
    tables = coerce_tables({"firms": cohort.firms, "firm_years": cohort.firm_years, "loans": cohort.loans})
    del cohort
    indicators = list_indicators()
    loans = loan_features(tables["firms"], tables["firm_years"], tables["loans"], indicators, StageRule())
    t2 = time.perf_counter()
    return loans, indicators, {"simulate": round(t1 - t0, 2), "features": round(t2 - t1, 2)}


def read_loan_table(path: Path) -> tuple[pd.DataFrame, list, dict]:
    """The loan indicator table `innopoints features` wrote (the national benchmark's own), read back."""
    t0 = time.perf_counter()
    loans = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    indicators = [ind for ind in list_indicators() if ind.id in loans.columns]
    return loans, indicators, {"read_features": round(time.perf_counter() - t0, 2)}


def baseline_formula() -> Formula:
    text = (package_files.files("innopoints.pipeline") / "formulas" / "official-2024.json").read_text(encoding="utf-8")
    return Formula.from_text(text, "json")


def run_ours(loans: pd.DataFrame, indicators: list, train: pd.DataFrame, test: pd.DataFrame,
             lgbm_threads: int | None, repeats: int, scores: dict) -> dict:
    """``train_candidates`` with default settings, timed whole and stage by stage, then the points fit alone."""
    settings = TrainSettings() if lgbm_threads is None else TrainSettings(lgbm={"n_jobs": lgbm_threads})
    marks: list[tuple[str, float]] = []
    t0 = time.perf_counter()
    result = train_candidates(loans, indicators, baseline_formula(), settings,
                              progress=lambda msg: marks.append((msg, time.perf_counter())))
    total = time.perf_counter() - t0
    ends = [t for _, t in marks[1:]] + [t0 + total]
    stages, prefix = [], ""
    for (msg, start), end in zip(marks, ends, strict=True):
        if " pass" in msg:
            prefix = msg.split(" pass")[0] + ": "  # "selection: LightGBM", "final: LightGBM", ...
        elif msg not in PASS_STEPS:
            prefix = ""
        stages.append({"stage": prefix + msg if msg in PASS_STEPS else msg, "seconds": round(end - start, 2)})
    ev = result.evaluation
    yt = test["defaulted"].to_numpy()
    out = {"train_seconds": round(total, 2), "train_stages": stages, "best": ev["best"], "split": ev["split"],
           "settings": {"evaluation_share": settings.share, "curves": settings.curves,
                        "lgbm": settings.lgbm or "LGBMDefaultModel defaults",
                        "lgbm_threads": settings.lgbm.get("n_jobs", LGBMDefaultModel().n_jobs)}, "methods": {}}
    names = [ev["best"], "fitted-policy", "fitted-data", "baseline"]
    for name in dict.fromkeys(names):
        formula = result.formulas[name]
        pts = formula.score(test[formula.required_columns + ["stage"]])["points"].to_numpy()
        row = ranking(yt, pts)
        scores[name] = pts
        e = ev["formulas"][name]
        # The same test loans and functions as the evaluation dict: AUC and KS must agree exactly.
        assert abs(row["test_auc"] - e["test_auc"]) < 1e-12 and abs(row["test_ks"] - e["test_ks"]) < 1e-12
        row["evaluation_dict"] = {k: e[k] for k in ("test_auc", "test_ks", "test_top_default_rate",
                                                    "validation_auc")}
        out["methods"][name] = row
    out["formula_fit"] = time_formula_fit(train, indicators, result, settings, repeats)
    out["diagnosis"] = diagnose(train, test, indicators, result.explain["directions"]["direction"], settings)
    final = [s for s in stages if s["stage"].startswith("final: ")]
    out["final_pass_seconds"] = {s["stage"].removeprefix("final: "): s["seconds"] for s in final}
    return out


def time_formula_fit(train: pd.DataFrame, indicators: list, result, settings: TrainSettings,
                     repeats: int) -> dict:
    """The formula-fitting step alone, re-run as in the final pass: curves, missing fills and fitted points
    (median of ``repeats`` runs).

    It starts from the directions the final pass learned (LightGBM + SHAP), exactly as ``build_recipe``
    does; that step's time is reported beside it. The refit must reproduce the shipped points.
    """
    ids = [ind.id for ind in indicators]
    groups = [ind.group for ind in indicators]
    X = train[ids].astype("float64")
    y = train["defaulted"].to_numpy(dtype="float64")
    codes = pd.Categorical(train["stage"].astype(str), categories=list(STAGES)).codes.astype(np.int64)
    out = {}
    for flavour in ("data", "policy"):
        runs = []
        for _ in range(repeats):
            with threadpool_limits(limits=1, user_api="blas"):  # as train_candidates runs it
                t0 = time.perf_counter()
                spec = flavour_spec(indicators, result.explain["directions"]["direction"], flavour)
                curves = learn_curves(X, y, codes, spec, settings.curves)
                t1 = time.perf_counter()
                pts, _fits, _notes = fitted_points(curves.fractions, y, codes, spec, groups, settings.fit)
                t2 = time.perf_counter()
            runs.append((t1 - t0, t2 - t1, t2 - t0))
        curves_s, points_s, total_s = np.median(np.array(runs), axis=0)
        shipped = result.formulas[f"fitted-{flavour}"]
        col = {i: j for j, i in enumerate(ids)}
        drift = max(abs(getattr(item.points, s) - pts[c, col[item.id]])
                    for item in shipped.indicators for c, s in enumerate(STAGES))
        out[f"fitted-{flavour}"] = {"curves_seconds": round(curves_s, 3), "points_seconds": round(points_s, 3),
                                    "seconds": round(total_s, 3), "runs_seconds": [round(r[2], 3) for r in runs],
                                    "max_points_diff_vs_shipped": round(float(drift), 4)}
    # optbinning chooses each variable's trend inside its fit; ours come from LightGBM + SHAP. The same choice
    # made the scorecard way (the band direction with the higher likelihood) shows what that step costs alone.
    runs, chosen = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        chosen = band_directions(X, y)
        runs.append(time.perf_counter() - t0)
    learned = flavour_spec(indicators, result.explain["directions"]["direction"], "data").directions
    out["band_directions"] = {"seconds": round(float(np.median(runs)), 3),
                              "agree_with_learned": int((chosen == learned).sum()), "indicators": len(ids),
                              "differ": [i for i, a, b in zip(ids, chosen, learned, strict=True) if a != b]}
    return out


def diagnose(train: pd.DataFrame, test: pd.DataFrame, indicators: list, learned: pd.Series,
             settings: TrainSettings) -> dict:
    """What the curves are worth: for each curve kind, fitted-data's formula (same directions, same rules) and
    an unconstrained logistic regression on its curve fractions (all stages pooled), both judged on test."""
    from sklearn.linear_model import LogisticRegression

    ids = [ind.id for ind in indicators]
    groups = [ind.group for ind in indicators]
    spec = flavour_spec(indicators, learned, "data")

    def codes_of(frame: pd.DataFrame) -> np.ndarray:
        return pd.Categorical(frame["stage"].astype(str), categories=list(STAGES)).codes.astype(np.int64)

    y, yt = train["defaulted"].to_numpy(dtype="float64"), test["defaulted"].to_numpy()
    codes, codes_t = codes_of(train), codes_of(test)
    out = {}
    for kind in CURVE_KINDS:
        curves = learn_curves(train[ids].astype("float64"), y, codes, spec, kind)
        ft = np.column_stack([c.fraction(test[i].to_numpy(dtype="float64")) for c, i in zip(curves.curves, ids,
                                                                                           strict=True)])
        ft = np.where(np.isnan(ft), np.column_stack([m.fill(codes_t) for m in curves.missing]), ft)
        with threadpool_limits(limits=1, user_api="blas"):
            points, _fits, _notes = fitted_points(curves.fractions, y, codes, spec, groups, settings.fit)
        model = LogisticRegression(max_iter=2000).fit(curves.fractions, y)
        out[kind] = {"fitted_formula_test_auc": auc(yt, -(ft * points[codes_t]).sum(axis=1)),
                     "unconstrained_logistic_test_auc": auc(yt, model.decision_function(ft)),
                     "missing_policy": curves.missing[0].policy}
    return out


def run_optbinning(train: pd.DataFrame, test: pd.DataFrame, ids: list[str], trend: str, missing: float | str,
                   repeats: int, scores: dict) -> dict:
    """BinningProcess + logistic Scorecard (0-100 points) on all training years (fit time: median of
    ``repeats`` fits); test loans scored."""
    from optbinning import BinningProcess, Scorecard
    from sklearn.linear_model import LogisticRegression

    X, y = train[ids].astype("float64"), train["defaulted"].to_numpy(dtype=int)
    process = BinningProcess(variable_names=ids, binning_fit_params={i: {"monotonic_trend": trend} for i in ids})
    runs = []
    for _ in range(repeats):
        card = Scorecard(binning_process=process, estimator=LogisticRegression(max_iter=1000),
                         scaling_method="min_max", scaling_method_params={"min": 0, "max": 100})
        t0 = time.perf_counter()
        card.fit(X, y, metric_missing=missing)
        runs.append((time.perf_counter() - t0, card._time_binning_process, card._time_estimator))
    seconds, binning_s, estimator_s = np.median(np.array(runs), axis=0)
    Xt = test[ids].astype("float64")
    points = card.score(Xt)
    scores[variant_key(trend, missing)] = points
    yt = test["defaulted"].to_numpy()
    row = ranking(yt, points)
    # min_max without reverse_scorecard: higher points = lower default probability. Check it on the data.
    p = card.predict_proba(Xt)[:, 1]
    row["test_auc_predict_proba"] = auc(yt, p)
    tables = [card.binning_process_.get_binned_variable(v).binning_table for v in ids]
    selected = list(card.binning_process_.get_support(names=True))
    row.update({
        "fit_seconds": round(float(seconds), 2), "runs_seconds": [round(r[0], 2) for r in runs],
        "binning_seconds": round(float(binning_s), 2), "estimator_seconds": round(float(estimator_s), 2),
        "monotonic_trend": trend, "metric_missing": missing,
        "variables_selected": len(selected),
        "bins_total": int(sum(t.build(add_totals=False).shape[0] for t in tables)),
        "points_range_test": [round(float(points.min()), 2), round(float(points.max()), 2)],
        "trends_chosen": _trends(card, ids),
    })
    return row


def _trends(card, ids: list[str]) -> dict:
    """How many variables end up with each shape of default rate over their bins (optbinning keeps no record
    of its 'auto' choice, so the shape is read off the fitted bins; special and missing bins left out)."""
    counts: dict[str, int] = {}
    for v in ids:
        table = card.binning_process_.get_binned_variable(v).binning_table.build(add_totals=False)
        rates = table.loc[~table["Bin"].astype(str).isin(["Special", "Missing"]), "Event rate"].to_numpy(float)
        steps = np.sign(np.diff(rates))
        steps = steps[steps != 0]
        if len(rates) < 2:
            shape = "one bin"
        elif (steps >= 0).all():
            shape = "ascending"
        elif (steps <= 0).all():
            shape = "descending"
        else:
            shape = "peak" if steps[0] > 0 else "valley"
            shape += "" if (np.diff(steps) != 0).sum() == 1 else " (more than one turn)"
        counts[shape] = counts.get(shape, 0) + 1
    return counts


def verdict(ours: dict, peer: dict, ours_fit: float) -> dict:
    """The peer budget: test AUC within 0.005 of optbinning's and fit time at most a third of its fit."""
    d_auc = float(ours["test_auc"] - peer["test_auc"])
    ratio = float(ours_fit / peer["fit_seconds"])
    return {"auc_diff": round(d_auc, 4), "auc_met": d_auc >= -AUC_MARGIN,
            "fit_time_ratio": round(ratio, 4), "time_met": ratio <= TIME_RATIO}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--firms", type=int, default=520_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--name", default=None, help="result file stem (default: peers or peers-<firms>)")
    parser.add_argument("--features", type=Path, default=None,
                        help="loan indicator table written by `innopoints features` (default: simulate --firms)")
    # TrainSettings() leaves LightGBM at LGBMDefaultModel's 2 threads; `innopoints train` (RunConfig) uses 1.
    # On a loaded 2-core machine 2 threads were 15x slower (50,000 firms: train 287 s vs 18 s, same results).
    parser.add_argument("--lgbm-threads", type=int, default=1,
                        help="LightGBM threads for ours (default 1, as `innopoints train`; 0 = TrainSettings' own)")
    parser.add_argument("--repeats", type=int, default=3, help="fits timed per method (the median is reported)")
    parser.add_argument("--render", type=Path, default=None, help="only rewrite the .md of a result .json")
    a = parser.parse_args()
    if a.render:
        a.render.with_suffix(".md").write_text(markdown(json.loads(a.render.read_text())))
        return 0
    try:
        import optbinning
    except ImportError:
        print("optbinning is not installed: pip install -e '.[bench]' (in a separate venv)", file=sys.stderr)
        return 2
    info = {"date": dt.date.today().isoformat(), "firms": a.firms, "seed": a.seed, "machine": machine(),
            "versions": _versions(optbinning),
            "command": f"python benchmarks/peers.py --firms {a.firms} --seed {a.seed}"
                       + (f" --lgbm-threads {a.lgbm_threads}" if a.lgbm_threads != 1 else "")
                       + (" --features FEATURES" if a.features else "")}
    if a.features:
        loans, indicators, info["data_seconds"] = read_loan_table(a.features)
    else:
        loans, indicators, info["data_seconds"] = loan_table(a.firms, a.seed)
    ids = [ind.id for ind in indicators]
    train, test = temporal_split(loans)
    info["data"] = {"loans": len(loans), "indicators": len(ids), "train_n": len(train),
                    "train_defaults": int(train["defaulted"].sum()), "test_n": len(test),
                    "test_defaults": int(test["defaulted"].sum()),
                    "train_years": sorted(int(v) for v in train["year"].unique()),
                    "test_year": int(test["year"].iloc[0])}
    print(f"loans {len(loans):,}; train {len(train):,}, test {len(test):,}", flush=True)

    info["optbinning"], scores = {}, {}
    for trend, missing in VARIANTS:
        key = variant_key(trend, missing)
        info["optbinning"][key] = r = run_optbinning(train, test, ids, trend, missing, a.repeats, scores)
        print(f"{key}: AUC {r['test_auc']:.4f}, fit {r['fit_seconds']} s", flush=True)
    info["ours"] = run_ours(loans, indicators, train, test, a.lgbm_threads or None, a.repeats, scores)
    print(f"ours: train {info['ours']['train_seconds']} s, best {info['ours']['best']}", flush=True)
    info["peak_rss_gb"] = round(peak_rss_gb(), 2)
    info["budget"] = budget(info, test["defaulted"].to_numpy(), scores)
    stem = a.name or ("peers" if a.firms == 520_000 else f"peers-{a.firms}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{stem}.json").write_text(json.dumps(info, indent=2, ensure_ascii=False, default=_plain) + "\n")
    (RESULTS / f"{stem}.md").write_text(markdown(info))
    print(f"wrote {RESULTS / stem}.json and .md")
    return 0


def variant_key(trend: str, missing: float | str) -> str:
    return f"optbinning {trend}, metric_missing={missing}"


def _plain(value):
    """numpy scalars as plain Python values for JSON."""
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _versions(optbinning) -> dict:
    import ortools
    import sklearn

    return {"optbinning": optbinning.__version__, "ortools": ortools.__version__,
            "scikit-learn": sklearn.__version__, "numpy": np.__version__, "pandas": pd.__version__}


def fit_key(name: str) -> str:
    """The timed fit behind a formula: ``fitted-data-int`` is ``fitted-data`` rounded to whole points."""
    return "-".join(name.split("-")[:2]) if name.startswith("fitted-") else name


def budget(info: dict, y: np.ndarray, scores: dict) -> dict:
    """The budget against optbinning's best setting (test AUC), for both fitted flavours and three timings.

    Also the DeLong 95 % interval of each AUC difference on the test loans (how much of it is noise).
    """
    peers = info["optbinning"]
    ref = max(peers, key=lambda t: peers[t]["test_auc"])
    peer = peers[ref]
    ours = info["ours"]
    directions = sum(ours["final_pass_seconds"].get(k, 0.0) for k in ("LightGBM", "SHAP"))
    out = {"reference": ref, "formulas": {}}
    for name in dict.fromkeys([ours["best"], "fitted-data", "fitted-policy"]):
        if fit_key(name) not in ours["formula_fit"]:
            continue  # a SHAP-points best: no points fit to time
        fit = ours["formula_fit"][fit_key(name)]["seconds"]
        out["formulas"][name] = {
            "points_fit": verdict(ours["methods"][name], peer, fit),
            "points_fit_with_directions": verdict(ours["methods"][name], peer, fit + directions),
            "points_fit_with_band_directions": verdict(ours["methods"][name], peer,
                                                       fit + ours["formula_fit"]["band_directions"]["seconds"]),
            "whole_train": verdict(ours["methods"][name], peer, ours["train_seconds"]),
            "delong_vs_optbinning": delong_auc_diff(y, -scores[ref], -scores[name]),
            "our_seconds": {"points_fit": fit, "directions": round(directions, 2),
                            "whole_train": ours["train_seconds"]},
        }
    return out


def _fmt(v, digits: int = 4) -> str:
    return f"{v:.{digits}f}" if isinstance(v, float) else str(v)


def markdown(info: dict) -> str:
    m, d, ours, peers, b = info["machine"], info["data"], info["ours"], info["optbinning"], info["budget"]
    ref = b["reference"]
    peer = peers[ref]
    lines = [
        f"# Peer comparison with optbinning ({info['firms']:,} firms, seed {info['seed']})", "",
        f"Date: {info['date']}. Command: `{info['command']}` (in a venv with the `bench` extra).", "",
        f"Machine: {m['platform']}, Python {m['python']}, {m['cpu_count']} cores ({m['cpus_usable']} usable), "
        f"{m['memory_gb']} GB; load average at start {m['load_average_1m_at_start']}. Peak RSS of the run "
        f"{info['peak_rss_gb']} GB. Versions: " + ", ".join(f"{k} {v}" for k, v in info["versions"].items()) + ".",
        "",
        f"Data: {d['loans']:,} loans, {d['indicators']} built-in indicators (point-in-time, "
        f"`loan_features`). Split as `models.learning.train`: train = {d['train_years'][0]}–{d['train_years'][-1]} "
        f"({d['train_n']:,} loans, {d['train_defaults']:,} defaults), test = {d['test_year']} "
        f"({d['test_n']:,} loans, {d['test_defaults']:,} defaults). Data: "
        + ", ".join(f"{k.replace('_', ' ')} {v} s" for k, v in info["data_seconds"].items()) + ".", "",
        f"All rows: the same test loans, `models.evaluation.metrics.auc`/`ks` on −points and `top_share` at share "
        f"{QUALIFIED_SHARE} (default rate of the top 13.7 % by points). Ours are the shipped formulas of "
        f"`train_candidates` (default `TrainSettings`, LightGBM on {ours['settings']['lgbm_threads']} thread(s); "
        f"best chosen on the validation year {ours['split']['validation_year']}: `{ours['best']}`); their AUC "
        "and KS equal the evaluation dict's (checked), whose top-share rate uses share "
        f"{ours['settings']['evaluation_share']}. optbinning: `BinningProcess(variable_names=ids, "
        "binning_fit_params={id: {'monotonic_trend': trend}})` (defaults otherwise: CART pre-binning, CP "
        "solver), `Scorecard(estimator=LogisticRegression(max_iter=1000), scaling_method='min_max', "
        "scaling_method_params={'min': 0, 'max': 100})`, `fit(..., metric_missing=m)`; test loans "
        "scored with `Scorecard.score` (higher points = lower risk: its `predict_proba` gives the same AUC).",
        "",
        "| method | test AUC | KS | top-share default rate | fit seconds | ΔAUC vs reference | time ratio |",
        "|---|---|---|---|---|---|---|",
    ]
    for key, r in peers.items():
        lines.append(f"| {key}{' (reference)' if key == ref else ''} | {r['test_auc']:.4f} | "
                     f"{r['test_ks']:.4f} | {r['test_top_default_rate']:.4f} | {r['fit_seconds']} | "
                     f"{r['test_auc'] - peer['test_auc']:+.4f} | {r['fit_seconds'] / peer['fit_seconds']:.2f} |")
    for name, r in ours["methods"].items():
        fit = ours["formula_fit"].get(fit_key(name), {}).get("seconds")
        label = f"ours `{name}`" + (" (best)" if name == ours["best"] else "")
        secs = f"{fit} (points fit)" if fit is not None else "—"
        ratio = f"{fit / peer['fit_seconds']:.3f}" if fit is not None else "—"
        lines.append(f"| {label} | {r['test_auc']:.4f} | {r['test_ks']:.4f} | "
                     f"{r['test_top_default_rate']:.4f} | {secs} | {r['test_auc'] - peer['test_auc']:+.4f} | "
                     f"{ratio} |")
    lines += ["", f"Our whole `train_candidates`: {ours['train_seconds']} s with LightGBM on "
              f"{ours['settings']['lgbm_threads']} thread(s) (two passes of LightGBM + SHAP + "
              "all candidates + recalibration frontier, evaluation with 1000-draw bootstraps, three reference "
              "models, refinement with drop-one refits).", "",
              f"## Budget, against {ref} (optbinning's best test AUC here)", "",
              "| our formula | timing compared | our seconds | ΔAUC (≥ −0.005) | DeLong 95 % of ΔAUC "
              "| time ratio (≤ 0.333) | met |",
              "|---|---|---|---|---|---|---|"]
    bd = ours["formula_fit"]["band_directions"]
    labels = {"points_fit": "points fit: curves + missing fills + fitted points",
              "points_fit_with_band_directions": "points fit + each direction chosen on the bands, as optbinning "
                                                 "does (no LightGBM)",
              "points_fit_with_directions": "points fit + direction learning (final-pass LightGBM + SHAP)",
              "whole_train": "whole train_candidates"}
    for name, v in b["formulas"].items():
        secs = {"points_fit": v["our_seconds"]["points_fit"],
                "points_fit_with_band_directions": round(v["our_seconds"]["points_fit"] + bd["seconds"], 3),
                "points_fit_with_directions": round(v["our_seconds"]["points_fit"] + v["our_seconds"]["directions"], 2),
                "whole_train": v["our_seconds"]["whole_train"]}
        dl = v["delong_vs_optbinning"]
        for key, label in labels.items():
            r = v[key]
            met = "**yes**" if r["auc_met"] and r["time_met"] else (
                "no (AUC)" if not r["auc_met"] and r["time_met"] else
                "no (time)" if r["auc_met"] else "no (AUC and time)")
            lines.append(f"| `{name}` | {label} | {secs[key]} | {r['auc_diff']:+.4f} | "
                         f"[{dl['low']:+.4f}, {dl['high']:+.4f}] | {r['fit_time_ratio']:.3f} | {met} |")
    lines += ["", "What the timings include:", "",
              "- optbinning fit: `Scorecard.fit` = `BinningProcess` (pre-binning + CP-SAT optimal binning of every "
              f"variable with its per-variable trend choice, WoE transform; {peer['binning_seconds']} s) + logistic "
              f"regression ({peer['estimator_seconds']} s) + the points table; one thread (its default n_jobs); "
              f"median of {len(peer['runs_seconds'])} fits ({peer['runs_seconds']} s).",
              "- ours, points fit: the formula-fitting step of the final pass re-run alone from the directions that "
              f"pass learned: `{ours['settings']['curves']}` curves with their missing-value fractions and the "
              "constrained per-stage points fit (preconditioned SLSQP), BLAS on one thread as in "
              "`train_candidates`; the refit reproduces the shipped points "
              "(max difference "
              + ", ".join(f"{k} {v['max_points_diff_vs_shipped']}" for k, v in ours["formula_fit"].items()
                          if "max_points_diff_vs_shipped" in v)
              + " points, i.e. rounding).",
              "- ours, direction learning: LightGBM + SHAP of the final pass (final-pass stages: "
              + ", ".join(f"{k} {v} s" for k, v in ours["final_pass_seconds"].items())
              + "); optbinning's analogue is its per-variable trend choice, inside its fit.",
              f"- ours, directions chosen on the bands: for each indicator both directions' risk bands, the one with "
              f"the higher binomial likelihood kept ({bd['seconds']} s for {bd['indicators']} indicators); it "
              f"agrees with the learned data directions on {bd['agree_with_learned']} of {bd['indicators']}"
              + (f" (differs on {', '.join(bd['differ'])})" if bd["differ"] else "") + ".",
              "- optbinning's bins: " + "; ".join(
                  f"`{t}`: {r['variables_selected']} variables, {r['bins_total']} bins incl. special/missing, "
                  "shapes " + ", ".join(f"{k} {v}" for k, v in r["trends_chosen"].items())
                  for t, r in peers.items()) + ".",
              "", "What the curves are worth (fitted-data's directions and rules, test AUC): "
              + "; ".join(f"`{k}` curves with `{v['missing_policy']}` missing values: fitted formula "
                          f"{v['fitted_formula_test_auc']:.4f}, unconstrained logistic regression on the same "
                          f"fractions {v['unconstrained_logistic_test_auc']:.4f}"
                          for k, v in ours["diagnosis"].items()) + ".",
              "", "Stage times of `train_candidates`: "
              + "; ".join(f"{s['stage']} {s['seconds']} s" for s in ours["train_stages"]) + ".", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
