"""A tiny dataset that meets the data contract, in canonical dtypes, for any pipeline test; the one whole
`innopoints run` (through `mlflow run`) that the end-to-end tests share; and ``check_train_outputs``, what a
training must leave behind.

Four firms; eight firm-years (2020-2022) with a few nulls, because missing is not zero; four loans, each
with firm history before its origination year. Net assets equal total assets minus total liabilities, and
no column is more than 30% null, so the dataset validates with no errors and no warnings. Take a fresh
copy per test from the ``valid_tables`` fixture and break it as needed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import write_fast_config

NAN = np.nan
REPO = Path(__file__).resolve().parents[2]
RUN_FIRMS = 4000
RUN_SEED = 2


def make_valid_tables() -> dict[str, pd.DataFrame]:
    """Build the tiny valid dataset (a function, so non-fixture code can call it too)."""
    firms = pd.DataFrame(
        {
            "firm_id": ["F0000001", "F0000002", "F0000003", "F0000004"],
            "province": ["Beijing", "Jiangsu", "Guangdong", "Inner Mongolia"],
            "industry": ["C39", "I65", "C35", "M73"],
            "founded_year": [2012, 2018, 2005, 2020],
            "is_sme": [True, True, False, True],
        }
    )
    firm_years = pd.DataFrame(
        {
            "firm_id": ["F0000001"] * 3 + ["F0000002"] * 2 + ["F0000003"] * 2 + ["F0000004"],
            "year": [2020, 2021, 2022, 2021, 2022, 2021, 2022, 2021],
            "revenue": [1200.0, 1500.0, 1800.0, 300.0, 450.0, 9000.0, 9500.0, 40.0],
            "net_profit": [80.0, 110.0, 150.0, -20.0, 5.0, 600.0, 640.0, -15.0],
            "net_assets": [500.0, 610.0, 760.0, 100.0, 105.0, 4000.0, 4640.0, -5.0],
            "total_assets": [1500.0, 1700.0, 2000.0, 400.0, 420.0, 10000.0, 11000.0, 60.0],
            "total_liabilities": [1000.0, 1090.0, 1240.0, 300.0, 315.0, 6000.0, 6360.0, 65.0],
            "rd_expense": [150.0, 180.0, 210.0, 60.0, NAN, 400.0, 420.0, 12.0],
            "rd_tax_deduction": [20.0, 25.0, 30.0, 0.0, 8.0, 55.0, 60.0, 0.0],
            "employees": [80.0, 90.0, 100.0, 25.0, 30.0, 400.0, 410.0, 6.0],
            "st_staff": [30.0, 35.0, 40.0, 12.0, 14.0, 60.0, 62.0, 3.0],
            "postgrad_staff": [8.0, 9.0, 11.0, 4.0, NAN, 20.0, 21.0, 1.0],
            "new_graduates_hired": [5.0, 6.0, 7.0, 2.0, 3.0, 15.0, 12.0, 0.0],
            "invention_patent_apps": [4.0, 5.0, 6.0, 1.0, 2.0, 10.0, 9.0, 0.0],
            "invention_patents_granted": [1.0, 2.0, 3.0, 0.0, 1.0, 6.0, 5.0, 0.0],
            "pct_apps": [0.0, 1.0, 1.0, 0.0, 0.0, 2.0, 3.0, 0.0],
            "utility_models": [6.0, 8.0, 9.0, 3.0, 4.0, 20.0, 18.0, 1.0],
            "software_copyrights": [2.0, 3.0, 3.0, 5.0, 6.0, 1.0, 1.0, 2.0],
            "tech_contract_turnover": [50.0, 60.0, NAN, 0.0, 10.0, 200.0, 220.0, 0.0],
            "high_tech_revenue": [900.0, 1100.0, 1400.0, 200.0, 300.0, 5000.0, 5200.0, 20.0],
            "vc_raised": [0.0, 500.0, 0.0, 0.0, 0.0, 0.0, 0.0, NAN],
            "rd_platforms": [1.0, 1.0, 2.0, 0.0, 0.0, 3.0, 3.0, 0.0],
            "st_awards": [0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0],
        }
    )
    loans = pd.DataFrame(
        {
            "loan_id": ["L0001", "L0002", "L0003", "L0004"],
            "firm_id": ["F0000001", "F0000002", "F0000003", "F0000001"],
            "bank": ["ICBC", "Bank of Jiangsu", "China Merchants Bank", "ICBC"],
            "origination_date": pd.to_datetime(
                ["2022-03-15", "2022-06-01", "2023-01-10", "2023-05-20"]
            ).astype("datetime64[us]"),
            "amount": [300.0, 200.0, 500.0, 250.0],
            "term_months": [12, 24, 12, 12],
            "guarantee": ["credit", "guarantee_fund", "ip_pledge", "credit"],
            "defaulted": [False, True, False, False],
            "outcome_observed": [True, True, True, False],
        }
    )
    return {"firms": firms, "firm_years": firm_years, "loans": loans}


@pytest.fixture
def valid_tables() -> dict[str, pd.DataFrame]:
    """A fresh copy of the tiny valid dataset."""
    return make_valid_tables()


@pytest.fixture(scope="session")
def pipeline_run(tmp_path_factory) -> tuple[Path, str]:
    """The whole job as `mlflow run` of the MLproject's main entry point, i.e. the `innopoints run` command
    (``RUN_FIRMS`` firms, seed ``RUN_SEED``, the quick training settings of tests/conftest.py through the
    ``config`` parameter, ``timings`` to t.json) in an empty folder without ``MLFLOW_*`` variables, so MLflow's
    default store there (./mlflow.db) holds every run: the folder and the printed output. OUT and the cohort
    go to ``innopoints-out`` / ``innopoints-data`` in the folder (`mlflow run` starts the command in the
    project's folder, so they are given as paths). Made once, read by every end-to-end test (all in
    tests/pipeline/test_run_mlflow.py, so one pytest-xdist worker makes it); tests must not change the folder.
    What the training learns is checked on 50,000-firm cohorts in tests/models/learning/test_train.py."""
    root = tmp_path_factory.mktemp("run")
    config = write_fast_config(root)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    cmd = [str(Path(sys.executable).with_name("mlflow")), "run", str(REPO), "-e", "main", "--env-manager", "local",
           "--experiment-name", "innopoints", "-P", f"firms={RUN_FIRMS}", "-P", f"seed={RUN_SEED}",
           "-P", f"out={root / 'innopoints-out'}", "-P", f"cohort_dir={root / 'innopoints-data'}",
           "-P", f"config={config}", "-P", f"timings={root / 't.json'}"]
    done = subprocess.run(cmd, env=env, cwd=root, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return root, done.stdout + done.stderr  # `mlflow run` passes the command's output on to its stderr


def check_train_outputs(out: Path, timings: Path, scratch: Path, skip: int = 0) -> None:
    """What `train` must leave behind, whatever the cohort and the settings (``skip``: stages of the timings
    before `train`'s own, as in `run`)."""
    record = json.loads(timings.read_text(encoding="utf-8"))[skip:]
    labels = [t["stage"] for t in record]
    # Every stage once, the two passes' steps told apart, MLflow logging timed too (on by default).
    assert labels[:5] == ["read and validate", "loan indicators and firms", "evidence: refits with shadow indicators",
                          "selection pass (fit years → validation year)", "selection: candidate formulas"]
    assert {"final: candidate formulas", "evaluation on the test year", "points intervals", "reference models",
            "backtest", "refinement", "write", "log to MLflow", "register formulas"} <= set(labels)
    assert len(labels) == len(set(labels)) and all(t["seconds"] >= 0 for t in record)
    ev = json.loads((out / "evaluation.json").read_text(encoding="utf-8"))
    assert ev["best"] in ev["formulas"] and "baseline" in ev["formulas"]
    for name, metrics in ev["formulas"].items():
        assert (out / "formulas" / f"{name}.json").exists()
        assert {"test_auc", "test_ks", "test_brier", "test_top_default_rate"} <= set(metrics)
        if name != "baseline":
            low, mid, high = metrics["delta_auc_vs_baseline"]
            assert low <= mid <= high
    ref = json.loads((out / "refinement.json").read_text(encoding="utf-8"))["indicators"]
    # Ranked by cluster of twins first, then by importance within the cluster.
    ranks = [r["cluster_rank"] for r in ref]
    assert ranks == sorted(ranks)
    for rank in set(ranks):
        within = [r["importance"] for r in ref if r["cluster_rank"] == rank]
        assert within == sorted(within, reverse=True)
    for r in ref:
        if r["sign_conflict"]:
            assert r["learned_direction"] == -r["policy_direction"]
    assert (out / "refinement.md").read_text(encoding="utf-8").startswith("# Indicator refinement report")
    assert (out / "explain" / "importance.png").read_bytes()[:4] == b"\x89PNG"
    assert not list(scratch.glob(".train.*")), "scratch folder left behind"
