"""Bad inputs and faults against every command, each through the command line (docs/outputs.md).

Every case must end with exit code 2 and one line naming the table, file, column, key or option, no
traceback, and leave the folder exactly as it was: the previous good output untouched, no new file, no
temporary or partial file. The whole working folder of a case is hashed before and after to check that.

The cases run in process (typer's CliRunner) on one tiny CSV cohort made once per session; the kill tests at
the end run real processes and are marked slow.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from innopoints.models.formula.baseline import official_2024
from innopoints.pipeline.cli import app
from innopoints.pipeline.io import MARKER, TMP_TAG, write_tables
from innopoints.pipeline.simulate import simulate
from tests.conftest import SMALL_DEFAULT_RATE, SMALL_FIRMS, write_fast_config

runner = CliRunner()

BOMB = ('a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
        "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
        "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
        "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n")
PREVIOUS = b"previous good output\n"
SOON = (pd.Timestamp.today() + pd.Timedelta(days=40)).strftime("%Y-%m-%d")  # after today, within the year range


@pytest.fixture(scope="session")
def cohort(tmp_path_factory) -> Path:
    """A 1,000-firm cohort as CSV (so headers and cells can be broken as text), made once."""
    folder = tmp_path_factory.mktemp("bad-inputs") / "cohort"
    c = simulate(1000, 3, default_rate=0.1)
    write_tables({"firms": c.firms, "firm_years": c.firm_years, "loans": c.loans}, folder, "csv")
    return folder


@dataclass
class Case:
    """One bad input: the arguments (``{data}``, ``{formula}`` filled in), what to prepare, what the line must
    name."""

    id: str
    args: list[str]
    expect: str
    setup: Callable[[Path], None] | None = None
    patch: Callable[[pytest.MonkeyPatch], None] | None = None
    marks: list = field(default_factory=list)


def _write(rel: str, text: str | bytes) -> Callable[[Path], None]:
    def setup(tmp: Path) -> None:
        path = tmp / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")
    return setup


def _mkdir(rel: str, with_file: bool = True) -> Callable[[Path], None]:
    def setup(tmp: Path) -> None:
        (tmp / rel).mkdir(parents=True, exist_ok=True)
        if with_file:
            (tmp / rel / "notes.txt").write_text("someone's file\n", encoding="utf-8")
    return setup


def _both(*setups: Callable[[Path], None]) -> Callable[[Path], None]:
    def setup(tmp: Path) -> None:
        for s in setups:
            s(tmp)
    return setup


def _data(edit: Callable[[dict[str, str]], None]) -> Callable[[Path], None]:
    """A copy of the cohort in ``tmp/data`` whose CSV texts (table -> text) ``edit`` changes in place."""
    def setup(tmp: Path) -> None:
        texts = {t: (COHORT / f"{t}.csv").read_text(encoding="utf-8") for t in ("firms", "firm_years", "loans")}
        edit(texts)
        (tmp / "data").mkdir()
        for t, text in texts.items():
            (tmp / "data" / f"{t}.csv").write_text(text, encoding="utf-8")
    return setup


def _frame_edit(table: str, fn: Callable[[pd.DataFrame], pd.DataFrame]) -> Callable[[dict[str, str]], None]:
    def edit(texts: dict[str, str]) -> None:
        import io

        df = pd.read_csv(io.StringIO(texts[table]), dtype=str, keep_default_na=False)
        texts[table] = fn(df).to_csv(index=False, lineterminator="\n")
    return edit


def _set(column: str, value: str, rows: int = 1) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def fn(df: pd.DataFrame) -> pd.DataFrame:
        df.loc[df.index[:rows], column] = value
        return df
    return fn


def _header_twice(texts: dict[str, str]) -> None:
    """``revenue`` twice in the header of firm_years, each row with a second revenue value."""
    rows = [line.split(",") for line in texts["firm_years"].splitlines()]
    i = rows[0].index("revenue")
    texts["firm_years"] = "".join(",".join([*r[:i + 1], r[i], *r[i + 1:]]) + "\n" for r in rows)


def _one_year(df: pd.DataFrame) -> pd.DataFrame:
    df["origination_date"] = "2022-05-01"
    return df


def _no_defaults(df: pd.DataFrame) -> pd.DataFrame:
    df["defaulted"] = "False"
    return df


def _refuse(err: int, *targets: str) -> Callable[[pytest.MonkeyPatch], None]:
    """Make every call of ``targets`` (dotted names) fail with ``OSError(err)``."""
    def patch(mp: pytest.MonkeyPatch) -> None:
        def refuse(*_a, **_k):
            raise OSError(err, os.strerror(err))
        for target in targets:
            mp.setattr(target, refuse)
    return patch


def _fail_writes(err: int) -> Callable[[pytest.MonkeyPatch], None]:
    """Make every table write fail as a full disk or a read-only folder would (root ignores permissions)."""
    return _refuse(err, "innopoints.pipeline.io._write_frame", "pathlib.Path.write_text")


def _fail_reads(err: int) -> Callable[[pytest.MonkeyPatch], None]:
    """Make reading a small input file fail as an unreadable file would (root reads any file)."""
    return _refuse(err, "pathlib.Path.read_bytes")


def _store(uri: str) -> Callable[[pytest.MonkeyPatch], None]:
    """An MLflow tracking store that cannot be reached (nothing listens on port 9)."""
    def patch(mp: pytest.MonkeyPatch) -> None:
        mp.setenv("MLFLOW_TRACKING_URI", uri)
    return patch


def _config(rel: str, yaml_text: str) -> Callable[[Path], None]:
    return _write(rel, yaml_text)


def _utf16(rel: str, text: str) -> Callable[[Path], None]:
    return _write(rel, text.encode("utf-16"))


def _negative_points() -> str:
    """The 2024 baseline with negative points for its first indicator in start-up (a hand edit gone wrong)."""
    data = official_2024().to_dict()
    data["indicators"][0]["points"]["startup"] = -1.0
    return json.dumps(data)


D, F, NOML = "{data}", "{formula}", "--no-mlflow"
Q = "--quiet"
CASES: list[Case] = [
    # ---- YAML bombs, one per YAML input
    Case("config-bomb-indicators", ["indicators", "--config", "bomb.yaml"], "bomb.yaml is refused: anchor &a",
         _config("bomb.yaml", BOMB.replace("d:", "seed:"))),
    Case("config-bomb-train", ["train", "--data", D, "--out", "t", NOML, Q, "--config", "bomb.yaml"],
         "config file bomb.yaml is refused", _config("bomb.yaml", "seed: 1\n" + BOMB.replace("d:", "x:"))),
    Case("formula-yaml-bomb", ["score", "--formula", "f.yaml", "--data", D, "--out", "s.parquet", Q],
         "formula f.yaml: not valid YAML: anchor &a", _write("f.yaml", "description: x\n" + BOMB)),
    Case("policy-bomb", ["policy", "--formula", F, "--data", D, "--out", "p", "--policy", "pol.yaml", NOML, Q],
         "policy file pol.yaml is refused", _write("pol.yaml", BOMB.replace("d:", "qualification:"))),
    Case("local-indicator-bomb", ["indicators", "--config", "c.yaml"], "c.yaml is refused",
         _write("c.yaml", "local_indicators:\n  - &x {id: a}\n  - *x\n")),
    Case("yaml-too-deep", ["indicators", "--config", "c.yaml"], "nesting deeper than 50",
         _write("c.yaml", "seed: " + "[" * 60 + "]" * 60 + "\n")),
    Case("yaml-too-large", ["indicators", "--config", "c.yaml"], "more than the 1,000,000 accepted",
         _write("c.yaml", "# " + "x" * 1_100_000 + "\nseed: 1\n")),
    # ---- input files: encodings, folders, missing
    Case("config-utf16", ["indicators", "--config", "c.yaml"], "c.yaml is UTF-16; save it as UTF-8",
         _utf16("c.yaml", "seed: 1\n")),
    Case("config-latin1", ["indicators", "--config", "c.yaml"], "c.yaml is not UTF-8 text",
         _write("c.yaml", "seed: 1 # caf\xe9\n".encode("latin-1"))),
    Case("config-is-folder", ["indicators", "--config", "cfg"], "config file cfg is a folder", _mkdir("cfg")),
    Case("config-missing", ["indicators", "--config", "nope.yaml"], "config file nope.yaml does not exist"),
    Case("config-not-mapping", ["indicators", "--config", "c.yaml"], "top level must be a mapping",
         _write("c.yaml", "- 1\n- 2\n")),
    Case("config-unknown-key", ["indicators", "--config", "c.yaml"], "train.refitz: Extra inputs",
         _write("c.yaml", "train:\n  refitz: 3\n")),
    Case("config-key-twice", ["indicators", "--config", "c.yaml"], "key 'train' appears twice, at line 1 and line 2",
         _write("c.yaml", "train: {refits: 5}\ntrain: {refits: 30}\n")),
    Case("formula-yaml-key-twice", ["export", "f.yaml", "--out", "x.json"], "key 'name' appears twice",
         _write("f.yaml", "name: a\nname: b\n")),
    Case("formula-utf16", ["score", "--formula", "f.json", "--data", D, "--out", "s.parquet", Q],
         "formula file f.json is UTF-16", _utf16("f.json", "{}")),
    Case("formula-folder", ["export", "f.json", "--out", "x.json"], "formula 'f.json' is not a file",
         _mkdir("f.json")),
    Case("formula-missing", ["export", "nope.json", "--out", "x.json"], "formula 'nope.json' is not a file"),
    Case("formula-suffix", ["export", "f.txt", "--out", "x.json"], "unknown suffix '.txt'", _write("f.txt", "{}")),
    Case("formula-bad-json", ["export", "f.json", "--out", "x.json"], "not valid JSON", _write("f.json", "{")),
    Case("formula-named-of-two", ["compare", F, "neg.json", "--data", D, "--out", "r.html", Q],
         "formula neg.json: indicators[0].points.startup: Input should be greater than or equal to 0",
         _write("neg.json", _negative_points())),
    Case("policy-utf16", ["compare", F, F, "--data", D, "--out", "r.html", "--policy", "p.yaml", Q],
         "policy file p.yaml is UTF-16", _utf16("p.yaml", "qualification: {}\n")),
    Case("policy-missing", ["compare", F, F, "--data", D, "--out", "r.html", "--policy", "p.yaml", Q],
         "policy file p.yaml does not exist"),
    # ---- run config: infeasible training rules, refused before data is read
    Case("bounds-lower-above-upper", ["train", "--data", D, "--out", "t", NOML, Q, "--config", "c.yaml"],
         "group_bounds.input: [0.6, 0.4] must be [min, max]",
         _write("c.yaml", "train:\n  group_bounds: {input: [0.6, 0.4]}\n")),
    Case("bounds-lows-sum", ["train", "--data", D, "--out", "t", NOML, Q, "--config", "c.yaml"],
         "minimum shares sum to 1.1 > 1",
         _write("c.yaml", "train:\n  group_bounds: {input: [0.5, 1], output: [0.6, 1]}\n")),
    Case("bounds-highs-sum", ["train", "--data", D, "--out", "t", NOML, Q, "--config", "c.yaml"],
         "maximum shares sum to 0.4 < 1", _write("c.yaml", "train:\n  group_bounds: {input: [0, 0.1], output: "
                                                 "[0, 0.1], growth: [0, 0.1], financial: [0, 0.1]}\n")),
    Case("bounds-unknown-group", ["train", "--data", D, "--out", "t", NOML, Q, "--config", "c.yaml"],
         "unknown group 'inptu'", _write("c.yaml", "train:\n  group_bounds: {inptu: [0, 0.5]}\n")),
    Case("bounds-one-number", ["train", "--data", D, "--out", "t", NOML, Q, "--config", "c.yaml"],
         "train.group_bounds.input", _write("c.yaml", "train:\n  group_bounds: {input: [0.2]}\n")),
    Case("max-points-infeasible", ["train", "--data", D, "--out", "t", NOML, Q, "--config", "c.yaml"],
         "train.max_points: 2 points x 33 indicators", _write("c.yaml", "train:\n  max_points: 2\n")),
    Case("change-limits-negative", ["train", "--data", D, "--out", "t", NOML, Q, "--config", "c.yaml"],
         "change_limits: -5 must be > 0", _write("c.yaml", "train:\n  change_limits: [-5]\n")),
    Case("recalibration-not-a-limit", ["train", "--data", D, "--out", "t", NOML, Q, "--config", "c.yaml"],
         "recalibrations: 15 is not one of change_limits", _write("c.yaml", "train:\n  recalibrations: [15]\n")),
    Case("seed-nan", ["train", "--data", D, "--out", "t", NOML, Q, "--config", "c.yaml"],
         "seed: Input should be", _write("c.yaml", "seed: .nan\n")),
    Case("share-nan", ["train", "--data", D, "--out", "t", NOML, Q, "--config", "c.yaml"],
         "evaluation.qualified_share: Input should be a finite number",
         _write("c.yaml", "evaluation: {qualified_share: .nan}\n")),
    Case("curves-unknown", ["train", "--data", D, "--out", "t", NOML, Q, "--config", "c.yaml"],
         "train.curves", _write("c.yaml", "train: {curves: splines}\n")),
    Case("run-config-bounds", ["run", "--data", D, "--out", "r", NOML, Q, "--config", "c.yaml"],
         "unknown group 'inptu'", _write("c.yaml", "train:\n  group_bounds: {inptu: [0, 0.5]}\n")),
    # ---- output paths: files where folders go and the reverse, reports, read-only and full disks
    Case("simulate-out-is-file", ["simulate", "--firms", "1000", "--out", "o", Q], "--out o is an existing file",
         _write("o", PREVIOUS)),
    Case("simulate-out-under-file", ["simulate", "--firms", "1000", "--out", "o/sub", Q], "o is a file, not a folder",
         _write("o", PREVIOUS)),
    Case("train-out-is-file", ["train", "--data", D, "--out", "t", NOML, Q], "--out t is an existing file",
         _write("t", PREVIOUS)),
    Case("train-out-not-ours", ["train", "--data", D, "--out", "t", NOML, Q], "innopoints did not write", _mkdir("t")),
    Case("train-timings-is-folder", ["train", "--data", D, "--out", "t", NOML, Q, "--timings", "tm"],
         "--timings tm is an existing folder", _mkdir("tm")),
    Case("export-out-is-folder", ["export", "builtin:official-2024", "--out", "x"], "--out x is an existing folder",
         _mkdir("x")),
    Case("export-format", ["export", "builtin:official-2024", "--format", "xml", "--out", "x.json"],
         "--format must be json, yaml, csv, points or xlsx"),
    Case("features-out-is-folder", ["features", "--data", D, "--out", "x", Q], "--out x is an existing folder",
         _mkdir("x")),
    Case("features-out-suffix", ["features", "--data", D, "--out", "x.xlsx", Q], "must end in .parquet or .csv"),
    Case("features-population-out-folder", ["features", "--data", D, "--out", "f.parquet", "--population-year",
                                            "2025", Q], "f_population.parquet is an existing folder",
         _mkdir("f_population.parquet")),
    Case("features-population-1800", ["features", "--data", D, "--out", "f.parquet", "--population-year", "1800", Q],
         "--population-year 1800: no firm can be scored", _write("f.parquet", PREVIOUS)),
    Case("validate-json-is-folder", ["validate", "--data", D, "--json", "j"], "--json j is an existing folder",
         _mkdir("j")),
    Case("score-out-is-folder", ["score", "--formula", F, "--data", D, "--out", "s", Q],
         "--out s is an existing folder", _mkdir("s")),
    Case("score-out-suffix", ["score", "--formula", F, "--data", D, "--out", "s.txt", Q], "must end in .parquet"),
    Case("score-cutoff-nan", ["score", "--formula", F, "--data", D, "--out", "s.parquet", "--cutoff", "nan", Q],
         "--cutoff nan: must be a finite number", _write("s.parquet", PREVIOUS)),
    Case("score-share-above-one", ["score", "--formula", F, "--data", D, "--out", "s.parquet", "--share", "1.5", Q],
         "--share 1.5: must be a share between 0 and 1"),
    Case("score-year-1800", ["score", "--formula", F, "--data", D, "--out", "s.parquet", "--year", "1800", Q],
         "--year 1800: no firm can be scored", _write("s.parquet", PREVIOUS)),
    Case("score-disk-full", ["score", "--formula", F, "--data", D, "--out", "s.parquet", Q],
         "no space left on the device", _write("s.parquet", PREVIOUS), _fail_writes(errno.ENOSPC)),
    Case("score-read-only", ["score", "--formula", F, "--data", D, "--out", "s.parquet", Q],
         "the folder is not writable", _write("s.parquet", PREVIOUS), _fail_writes(errno.EACCES)),
    Case("export-disk-full", ["export", "builtin:official-2024", "--out", "x.json"], "no space left on the device",
         _write("x.json", PREVIOUS), _fail_writes(errno.ENOSPC)),
    Case("compare-out-md", ["compare", F, F, "--data", D, "--out", "report.md", Q],
         "--out report.md: the Markdown summary is written to OUT with .md", _write("report.md", PREVIOUS)),
    Case("compare-out-is-folder", ["compare", F, F, "--data", D, "--out", "r", Q], "--out r is an existing folder",
         _mkdir("r")),
    Case("compare-policy-folder-collides", ["compare", F, F, "--data", D, "--out", "r.html", "--policy", "default", Q],
         "--policy output policy is an existing file", _write("policy", PREVIOUS)),
    Case("run-out-train-is-file", ["run", "--data", D, "--out", "r", NOML, Q],
         "--out (train) r/train is an existing file",
         _write("r/train", PREVIOUS)),
    Case("run-timings-is-folder", ["run", "--data", D, "--out", "r", NOML, Q, "--timings", "tm"],
         "--timings tm is an existing folder", _mkdir("tm")),
    Case("simulate-huge", ["simulate", "--firms", "2000000000", "--out", "o", Q], "would need about"),
    Case("simulate-tiny", ["simulate", "--firms", "10", "--out", "o", Q],
         "n_firms must be an integer of at least 1000"),
    Case("simulate-years", ["simulate", "--years", "2019", "--out", "o", Q], "--years must look like 2019-2024"),
    Case("simulate-format", ["simulate", "--format", "xml", "--out", "o", Q], "--format must be parquet or csv"),
    Case("policy-out-is-file", ["policy", "--formula", F, "--data", D, "--out", "p", NOML, Q],
         "--out p is an existing file", _write("p", PREVIOUS)),
    Case("policy-out-not-ours", ["policy", "--formula", F, "--data", D, "--out", "p", NOML, Q],
         "--out p holds 1 entries innopoints did not write", _mkdir("p")),
    Case("formula-unreadable", ["export", "f.json", "--out", "x.json"], "formula file f.json cannot be read",
         _write("f.json", "{}"), _fail_reads(errno.EACCES)),
    Case("config-unreadable", ["indicators", "--config", "c.yaml"], "config file c.yaml cannot be read",
         _write("c.yaml", "seed: 1\n"), _fail_reads(errno.EACCES)),
    # The whole-output folder (train, run and policy write through the same staged folder; the kill test below
    # trains): policy fills the disk in seconds, where a training would take ten.
    Case("policy-disk-full", ["policy", "--formula", F, "--data", D, "--out", "p", NOML, Q],
         "no space left on the device", patch=_fail_writes(errno.ENOSPC)),
    Case("promote-store-unreachable", ["promote", "1", "--alias", "champion"], "MLflow tracking store "
         "'http://127.0.0.1:9/' is not usable", patch=_store("http://127.0.0.1:9/")),
    Case("compare-store-unreachable", ["compare", "models:/innopoints-formula@candidate", F, "--data", D, "--out",
                                       "r.html", Q], "is not usable", patch=_store("http://127.0.0.1:9/")),
    # ---- data: the contract and the sanity a credit analyst expects
    Case("data-folder-missing", ["validate", "--data", "nope"], "data folder not found: nope"),
    Case("data-table-missing", ["features", "--data", "data", "--out", "f.parquet", Q], "firms: table not found",
         _mkdir("data", with_file=False)),
    Case("data-header-twice", ["score", "--formula", F, "--data", "data", "--out", "s.parquet", Q],
         "firm_years.revenue: column name appears 2 times", _both(_data(_header_twice), _write("s.parquet", PREVIOUS))),
    Case("data-future-loan", ["features", "--data", "data", "--out", "f.parquet", Q],
         "loans.origination_date: is after today", _data(_frame_edit("loans", _set("origination_date", SOON)))),
    Case("data-early-outcome", ["features", "--data", "data", "--out", "f.parquet", Q],
         "outcome_observed is true but the 12-month window closes after today",
         _data(_frame_edit("loans", lambda df: _set("outcome_observed", "True")(_set(
             "origination_date", pd.Timestamp.today().strftime("%Y-%m-%d"))(df))))),
    Case("data-money-overflow", ["score", "--formula", F, "--data", "data", "--out", "s.parquet", Q],
         "firm_years.revenue: must be within +-1e+12", _data(_frame_edit("firm_years", _set("revenue", "1.7e308", 5)))),
    Case("data-money-inf", ["features", "--data", "data", "--out", "f.parquet", Q],
         "firm_years.revenue: must be a number", _data(_frame_edit("firm_years", _set("revenue", "inf")))),
    Case("data-empty-loans", ["features", "--data", "data", "--out", "f.parquet", Q], "loans: table has no rows",
         _data(lambda t: t.update(loans=t["loans"].partition("\n")[0] + "\n"))),
    Case("data-empty-firms", ["score", "--formula", F, "--data", "data", "--out", "s.parquet", Q],
         "firms: table has no rows", _data(lambda t: t.update(firms=t["firms"].partition("\n")[0] + "\n"))),
    Case("data-bad-province", ["features", "--data", "data", "--out", "f.parquet", Q],
         "firms.province: must be one of", _data(_frame_edit("firms", _set("province", "Atlantis")))),
    Case("data-not-utf8", ["features", "--data", "data", "--out", "f.parquet", Q], "firms: cannot read",
         _both(_data(lambda t: None), lambda tmp: (tmp / "data" / "firms.csv").write_bytes(
             "firm_id,province\nF1,Zürich\n".encode("utf-16")))),
    Case("train-one-year", ["train", "--data", "data", "--out", "t", NOML, Q, "--config", "fast.yaml"],
         "outcomes are observed for origination year(s) 2022 only",
         _both(_data(_frame_edit("loans", _one_year)), write_fast_config)),
    Case("train-no-defaults", ["train", "--data", "data", "--out", "t", NOML, Q, "--config", "fast.yaml"],
         "observed loans but no defaults", _both(_data(_frame_edit("loans", _no_defaults)), write_fast_config)),
    # ---- a missing input with MLflow on: refused before the store is made (no mlflow.db left behind)
    Case("train-data-missing", ["train", "--data", "nope", "--out", "t", Q], "--data nope: no such folder"),
    Case("run-data-missing", ["run", "--data", "nope", "--out", "r", Q], "--data nope: no such folder"),
    Case("policy-data-missing", ["policy", "--formula", F, "--data", "nope", "--out", "p", Q],
         "--data nope: no such folder"),
    Case("fit-table-missing", ["fit", "--table", "nope.csv", "--target", "y", "--out", "f", Q],
         "--table nope.csv: no such file"),
    # ---- outputs that would overwrite one another or open wrong
    Case("compare-out-json", ["compare", F, F, "--data", D, "--out", "r.json", Q],
         "--out r.json: the JSON report is written to OUT with .json"),
    Case("compare-side-file-folder", ["compare", F, F, "--data", D, "--out", "r.html", Q],
         "r.json is an existing folder", _mkdir("r.json")),
    Case("export-format-suffix", ["export", "builtin:official-2024", "--format", "yaml", "--out", "f.json"],
         "--out f.json: --format yaml writes a .yaml file"),
    # ---- a local indicator reading a column the data does not have
    Case("local-indicator-misspelt-column", ["features", "--data", D, "--out", "f.parquet", "--config", "c.yaml", Q],
         "indicator 'x1' (local) reads 'rd_expens', but firm_years has no column 'rd_expens'",
         _write("c.yaml", "local_indicators:\n  - {id: x1, name_zh: 测试, name_en: Test, group: input, unit: ratio, "
                          "direction: 1, expression: rd_expens / revenue}\n")),
    Case("local-indicator-lag5", ["features", "--data", D, "--out", "f.parquet", "--config", "c.yaml", Q],
         "only _lag1 and _lag2 exist (the two fiscal years before), e.g. revenue_lag1",
         _write("c.yaml", "local_indicators:\n  - {id: x1, name_zh: 测试, name_en: Test, group: input, unit: ratio, "
                          "direction: 1, expression: revenue_lag5 / revenue}\n")),
    # ---- years without a firm to score
    Case("policy-year-no-firms", ["policy", "--formula", F, "--data", D, "--out", "p", "--year", "2040", NOML, Q],
         "--year 2040: no firm can be scored"),
    Case("policy-estimate-year-no-firms", ["policy", "--formula", F, "--data", D, "--out", "p", "--policy",
                                           "pol.yaml", NOML, Q], "policy take_up.estimate_year 2030: no firm can be",
         _write("pol.yaml", "take_up: {estimate_year: 2030}\n")),
    # ---- numbers and aliases the libraries would trip over later
    Case("fit-max-points-zero", ["fit", "--table", "nope.csv", "--target", "y", "--max-points", "0", NOML, Q],
         "--max-points 0: must be a positive number of points"),
    Case("config-seed-too-large", ["indicators", "--config", "c.yaml"],
         "seed: Input should be less than or equal to 4294967295", _write("c.yaml", "seed: 4294967296\n")),
    Case("train-sets-official", ["train", "--data", D, "--out", "t", Q, "--set-alias", "official"],
         "--set-alias official: runs never move `official`"),
]


COHORT: Path = Path()


def _snapshot(root: Path) -> dict[str, str]:
    """Every file and folder under ``root`` with a hash of its bytes (folders: ``dir``)."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        out[rel] = "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
    return out


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id, marks=c.marks) for c in CASES])
def test_a_bad_input_is_one_line_exit_2_and_nothing_written(case, cohort, tmp_path, monkeypatch):
    global COHORT
    COHORT = cohort
    formula = tmp_path / "formula.json"
    formula.write_text(official_2024().to_text("json"), encoding="utf-8")
    if case.setup:
        case.setup(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    before = _snapshot(tmp_path)
    args = [a.replace("{data}", str(cohort)).replace("{formula}", str(formula)) for a in case.args]
    if case.patch:
        case.patch(monkeypatch)
    result = runner.invoke(app, args)
    monkeypatch.undo()
    text = result.output
    lines = [line for line in text.splitlines() if line.strip()]
    assert result.exit_code == 2, text
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), text
    assert "Traceback" not in text
    assert len(lines) == 1 and lines[0].startswith("error: "), text
    assert case.expect in lines[0], lines[0]
    assert _snapshot(tmp_path) == before  # previous output untouched, nothing new, no temporary file


def test_there_are_at_least_60_distinct_cases_over_every_command():
    assert len({c.id for c in CASES}) == len(CASES) >= 60
    commands = {c.args[0] for c in CASES}
    assert {"simulate", "validate", "indicators", "features", "score", "export", "train", "compare", "policy",
            "run"} <= commands


# ---------------------------------------------------------------------------------------------------------
# Kills: kill -9 at several points of score and train
# ---------------------------------------------------------------------------------------------------------


def _leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.rglob("*") if TMP_TAG in p.name or ".innopoints-old-" in p.name]


def _kill_when(args: list[str], cwd: Path, ready: Callable[[], bool], timeout: float = 240) -> bool:
    """Start the command, kill -9 it as soon as ``ready()``; returns whether it was killed (not finished)."""
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{cwd / 'mlflow.db'}"}
    proc = subprocess.Popen([sys.executable, "-m", "innopoints.pipeline.cli", *args], cwd=cwd, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    end = time.monotonic() + timeout
    try:
        while time.monotonic() < end and proc.poll() is None:
            if ready():
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
                return True
            time.sleep(0.002)
        return False
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _score(cohort: Path, out: Path) -> list[str]:
    return ["score", "--formula", "builtin:official-2024", "--data", str(cohort), "--out", str(out), "--quiet"]


@pytest.mark.slow
@pytest.mark.parametrize("when", ["temp file appears", "after 0.5 s", "after 1.5 s"])
def test_kill_9_of_score_leaves_the_previous_output_and_the_next_start_sweeps(when, cohort, tmp_path):
    out = tmp_path / "s.parquet"
    out.write_bytes(PREVIOUS)
    start = time.monotonic()
    delay = 0.0 if when == "temp file appears" else float(when.split()[1])

    def ready() -> bool:
        return bool(_leftovers(tmp_path)) if delay == 0.0 else time.monotonic() - start > delay

    _kill_when(_score(cohort, out), tmp_path, ready)
    # Never half a file under the final name: the previous bytes, or a whole new table (the swap can happen
    # before the kill lands, while the process is still alive, or the command may finish first).
    if out.read_bytes() != PREVIOUS:
        assert pd.read_parquet(out).shape[0] > 0
    done = runner.invoke(app, _score(cohort, out))  # the next start, in this process
    assert done.exit_code == 0, done.output
    assert _leftovers(tmp_path) == [] and pd.read_parquet(out).shape[0] > 0


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A cohort that trains, a config that trains fast and one finished train output to protect."""
    root = tmp_path_factory.mktemp("kill-train")
    c = simulate(SMALL_FIRMS, 1, default_rate=SMALL_DEFAULT_RATE)
    write_tables({"firms": c.firms, "firm_years": c.firm_years, "loans": c.loans}, root / "data")
    write_fast_config(root)
    args = ["train", "--data", str(root / "data"), "--out", str(root / "prev"), "--no-mlflow", "--quiet",
            "--config", str(root / "fast.yaml")]
    # A process of its own (its own hash seed): the clean start after the kill runs in the test's process, so
    # "the same bytes" below holds across interpreters, not only within one.
    done = subprocess.run([sys.executable, "-m", "innopoints.pipeline.cli", *args], cwd=root, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return root


@pytest.mark.slow
def test_kill_9_of_train_while_writing_leaves_the_previous_output(trained, tmp_path):
    # Killed once its scratch folder appears (the whole write stage, plots included): the previous output stays
    # whole, and the next start sweeps the scratch and writes the same bytes as before. The last moment of a
    # write (marker written, swap not yet made) is held and killed in tests/pipeline/test_outputs.py.
    out = tmp_path / "train"
    shutil.copytree(trained / "prev", out)
    before = _snapshot(out)
    args = ["train", "--data", str(trained / "data"), "--out", str(out), "--no-mlflow", "--quiet", "--config",
            str(trained / "fast.yaml")]
    assert _kill_when(args, tmp_path, lambda: any(TMP_TAG in p.name for p in tmp_path.iterdir()))
    assert _snapshot(out) == before  # the previous output, whole
    assert _leftovers(tmp_path)  # the killed run's scratch
    done = runner.invoke(app, args)  # the clean start needs no process of its own
    assert done.exit_code == 0, done.output
    assert _leftovers(tmp_path) == []
    # Same data, config and seed: the same bytes as the earlier process wrote.
    assert (out / MARKER).is_file() and _snapshot(out) == before
