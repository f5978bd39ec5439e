"""The `innopoints` command line: one subcommand per MLproject entry point.

User mistakes (bad data, formula, config) print one line and exit 2; tracebacks are for bugs only.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from innopoints.features.errors import ConfigError, InnopointsError
from innopoints.models.defaults import QUALIFIED_SHARE
from innopoints.pipeline.config import SEED_MAX, RunConfig, load_config
from innopoints.pipeline.options import (
    MODEL_NAME,
    OFFICIAL_ALIAS,
    ConfigOpt,
    ExperimentOpt,
    LangOpt,
    MlflowOpt,
    NoAliasOpt,
    QuietOpt,
    SetAliasOpt,
    TimingsOpt,
)
from innopoints.pipeline.progress import Stages, console

app = typer.Typer(
    name="innopoints",
    help="Refine the core indicators and weights of the innovation points system (创新积分制) from loan "
    "performance: build point-in-time indicators, score firms with a points formula, export formulas.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

EXIT_USER_ERROR = 2



def user_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a user mistake into one red line on stderr and exit code 2."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from innopoints.pipeline.outputs import COMMAND

        COMMAND["name"] = func.__name__.removesuffix("_command")  # named in the marker of output folders
        try:
            return func(*args, **kwargs)
        except InnopointsError as exc:
            console.print(Text("error: ", style="red") + Text(str(exc)), soft_wrap=True)
            raise typer.Exit(EXIT_USER_ERROR) from None

    return wrapper


def _config(path: str | None) -> RunConfig:
    """The run config of ``--config``: the built-in defaults when it is omitted or empty."""
    return load_config(_optional_path(path))


def _optional_path(value: str | None) -> Path | None:
    """A file option that may be omitted or empty (MLproject parameters cannot be left out): ``None`` then."""
    return Path(value) if value else None


@app.command()
@user_errors
def simulate(
    firms: Annotated[int, typer.Option(help="Number of firms (520000 = the 2024 national scale).")] = 20_000,
    seed: Annotated[int, typer.Option(min=0, max=SEED_MAX, help="Random seed; same seed and size give "
                                      "byte-identical files.")] = 1,
    out: Annotated[Path, typer.Option(help="Folder to write the tables and truth.json into.")] = Path(
        "innopoints-data/synthetic"),
    years: Annotated[str, typer.Option(help="Fiscal years of the panel, FIRST-LAST.")] = "2019-2024",
    format: Annotated[str, typer.Option("--format", help="parquet or csv.")] = "parquet",
    quiet: QuietOpt = False,
) -> None:
    """Make a synthetic cohort in the input contract.

    Writes OUT/firms, OUT/firm_years, OUT/loans (.parquet or .csv) and OUT/truth.json (the generating
    effects). Reads nothing.
    """
    first, last = _parse_years(years)
    _simulate_to(out, firms, seed, (first, last), format, quiet)
    console.print(f"wrote synthetic cohort ({firms} firms, seed {seed}, {first}-{last}) to {out}")


def _parse_years(years: str) -> tuple[int, int]:
    try:
        first, last = (int(p) for p in years.split("-"))
    except ValueError:
        raise ConfigError(f"--years must look like 2019-2024, got {years!r}") from None
    if last <= first:
        raise ConfigError(f"--years: last year {last} must be after the first {first}")
    return first, last


def _simulate_to(out: Path, firms: int, seed: int, years: tuple[int, int], fmt: str, quiet: bool) -> None:
    from innopoints.pipeline import steps

    if fmt not in ("parquet", "csv"):
        raise ConfigError(f"--format must be parquet or csv, got {fmt!r}")
    from innopoints.pipeline.io import check_out_dir

    check_out_dir(out, "--out", replace=False)
    with Stages(["simulate and write"], enabled=not quiet) as progress, progress.stage("simulate and write"):
        steps.make_cohort(out, firms, seed, years, fmt)


@app.command()
@user_errors
def validate(
    data: Annotated[Path, typer.Option(help="Folder with firms, firm_years, loans (.parquet or .csv).")],
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the report as JSON here.")] = None,
) -> None:
    """Check the data contract (README, "The data contract").

    Reads DATA/{firms,firm_years,loans}.{parquet,csv}. Prints a report naming table, column, rule, count
    and example rows; writes it as JSON with --json. Exit 0 when clean (warnings allowed), 1 otherwise.
    """
    from innopoints.pipeline.contract import validate_tables
    from innopoints.pipeline.io import check_out_file, read_tables, write_text_atomic

    if json_out is not None:
        check_out_file(json_out, "--json")
    report = validate_tables(read_tables(data))
    console.print(report.render(), soft_wrap=True, markup=False, highlight=False)
    if json_out is not None:
        write_text_atomic(json_out, json.dumps(report.as_dict(), indent=2, ensure_ascii=False) + "\n")
    if not report.ok:
        raise typer.Exit(1)


@app.command()
@user_errors
def indicators(
    json_: Annotated[bool, typer.Option("--json", help="Print the catalog as JSON.")] = False,
    config: ConfigOpt = None,
) -> None:
    """Print the indicator catalog (official 1.0 indicators, candidates and the config's local ones).

    Reads only --config. Writes the catalog to stdout.
    """
    from innopoints.features.build import raw_inputs
    from innopoints.pipeline import steps

    inds = steps.indicator_set(_config(config))
    if json_:
        rows = []
        for ind in inds:
            row = ind.as_dict()
            row["panel_inputs"] = row["inputs"]
            row["inputs"] = raw_inputs(ind)
            rows.append(row)
        typer.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    table = Table(title="innopoints indicator catalog")
    for col in ("id", "指标", "indicator", "group", "unit", "dir", "status"):
        table.add_column(col)
    for ind in inds:
        status = f"official #{ind.official_no}" if ind.official else ind.status
        table.add_row(ind.id, ind.name_zh, ind.name_en, ind.group, ind.unit, f"{ind.direction:+d}", status)
    console.print(table)


@app.command()
@user_errors
def features(
    data: Annotated[Path, typer.Option(help="Folder with the three input tables.")],
    out: Annotated[Path, typer.Option(help="Loan indicator table to write (.parquet or .csv).")],
    population_year: Annotated[int | None, typer.Option(
        help="Also write the population table for this scoring year to OUT's stem + '_population'.")] = None,
    config: ConfigOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Build the point-in-time indicator table: one row per loan, from fiscal years before origination.

    Reads DATA. Writes OUT (loans) and, with --population-year, OUT_population (one row per firm). Prints
    the coverage of every indicator (share missing, share zero) by stage.
    """
    from innopoints.features.build import coverage
    from innopoints.pipeline import steps
    from innopoints.pipeline.io import check_out_file, write_frame_atomic

    cfg = _config(config)
    check_out_file(out, "--out", (".parquet", ".csv"))
    if population_year is not None:
        check_out_file(out.with_name(f"{out.stem}_population{out.suffix}"), "--population-year output")
    with Stages(["read and validate", "loan indicators", "population", "write"], enabled=not quiet) as p:
        with p.stage("read and validate"):
            tables = steps.load_tables(data)
            if population_year is not None:
                steps.require_scoring_year(tables, population_year, "--population-year")
        with p.stage("loan indicators"):
            loans = steps.build_loan_table(tables, cfg)
        with p.stage("population"):
            pop = exclusions = None
            if population_year is not None:
                pop, exclusions = steps.build_population(tables, population_year, cfg)
        with p.stage("write"):
            write_frame_atomic(loans, out)
            if pop is not None:
                write_frame_atomic(pop, out.with_name(f"{out.stem}_population{out.suffix}"))
    inds = steps.indicator_set(cfg)
    _print_coverage(coverage(loans, inds))
    no_history = int((~loans["has_history"]).sum())
    console.print(f"wrote {len(loans)} loans x {len(inds)} indicators to {out}; {no_history} loans have no "
                  "fiscal-year row before origination (kept, indicators missing)")
    if pop is not None:
        console.print(f"population {population_year}: {len(pop)} firms; excluded: {exclusions.counts or 'none'}")


def _print_coverage(cov) -> None:
    wide = cov.pivot(index="indicator", columns="stage", values="missing_share")
    zero = cov[cov["stage"] == "all"].set_index("indicator")["zero_share"]
    table = Table(title="indicator coverage (share missing by stage; share zero overall)")
    table.add_column("indicator")
    stages = [c for c in ("all", "startup", "growth", "stable") if c in wide.columns]
    for s in stages:
        table.add_column(f"missing {s}", justify="right")
    table.add_column("zero", justify="right")
    for ind in cov["indicator"].drop_duplicates():
        table.add_row(ind, *(f"{wide.loc[ind, s]:.1%}" for s in stages), f"{zero.loc[ind]:.1%}")
    console.print(table)


@app.command()
@user_errors
def score(
    formula: Annotated[str, typer.Option(help="Formula: a .json/.yaml file or builtin:NAME.")],
    data: Annotated[Path, typer.Option(help="Folder with the three input tables.")],
    out: Annotated[Path, typer.Option(help="Points table to write (.parquet or .csv).")],
    year: Annotated[int | None, typer.Option(help="Scoring year (uses fiscal years before it); default: the "
                                             "year after the last fiscal year in the data.")] = None,
    share: Annotated[float, typer.Option(help="Qualified share: top share of firms by points (2024: 71,435 of "
                                         "520,000).")] = QUALIFIED_SHARE,
    cutoff: Annotated[float | None, typer.Option(help="Qualify by points cut-off instead of share.")] = None,
    reasons: Annotated[int, typer.Option(min=0, help="Reason codes per firm: the indicators where it missed the "
                                         "most points (0: none).")] = 3,
    config: ConfigOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Score every firm of the scoring year with a formula.

    Reads FORMULA and DATA. Writes OUT with firm_id, stage, points, qualified, points_<indicator> per
    formula item and reason_1..K / missed_1..K (the indicators where the firm missed the most points, and
    how many). Firms that cannot be scored (founded in the scoring year, no prior fiscal year) are
    counted and reported, not silently dropped.
    """
    from innopoints.pipeline import steps
    from innopoints.pipeline.io import check_out_file, write_frame_atomic
    from innopoints.pipeline.refs import load_formula

    cfg = _config(config)
    check_out_file(out, "--out", (".parquet", ".csv"))
    steps.check_qualification(share, cutoff)
    with Stages(["load formula", "read and validate", "indicators", "score", "write"], enabled=not quiet) as p:
        with p.stage("load formula"):
            f = load_formula(formula)
        with p.stage("read and validate"):
            tables = steps.load_tables(data)
        scoring_year = year or steps.default_scoring_year(tables)
        steps.require_scoring_year(tables, scoring_year, "--year")
        with p.stage("indicators"):
            pop, exclusions = steps.build_population(tables, scoring_year, cfg, f)
        with p.stage("score"):
            scored = steps.score_population(f, pop, share=None if cutoff is not None else share, cutoff=cutoff,
                                            reasons=reasons)
        with p.stage("write"):
            write_frame_atomic(scored, out)
    n_q = int(scored["qualified"].sum())
    console.print(f"scored {len(scored)} firms for {scoring_year} with {f.name} {f.version}: {n_q} qualified "
                  f"({n_q / max(len(scored), 1):.1%}); excluded {exclusions.total}: {exclusions.counts or 'none'}")
    console.print(f"wrote {out}")


@app.command()
@user_errors
def export(
    ref: Annotated[str, typer.Argument(help="Formula: a .json/.yaml file or builtin:NAME.")],
    format: Annotated[str, typer.Option("--format", help="json, yaml, csv (the weights table), points (the "
                                        "points table, CSV) or xlsx (an Excel workbook of both and the "
                                        "provenance).")] = "json",
    out: Annotated[Path | None, typer.Option(help="File to write, with the format's suffix (default: formula.json, "
                                              ".yaml, .csv, .points.csv or .xlsx).")] = None,
) -> None:
    """Export a formula: JSON/YAML are the formula file itself; CSV is the weights table for people; points is
    the points table to apply by hand (per indicator and stage, the points of every band of its curve and of
    a missing value; CSV); xlsx is a workbook with the sheets weights, points and provenance. CSV files are
    UTF-8 with a byte-order mark (Excel reads the Chinese names); tables for people are rounded for reading,
    the JSON/YAML file keeps full precision.

    Reads REF. Writes OUT.
    """
    from innopoints.experiments.formatting import readable_table
    from innopoints.models.formula.schema import points_table, weights_table
    from innopoints.pipeline.io import check_out_file, write_bytes_atomic, write_csv_atomic, write_text_atomic
    from innopoints.pipeline.refs import load_formula

    suffixes = {"json": (".json",), "yaml": (".yaml", ".yml"), "csv": (".csv",), "points": (".csv",),
                "xlsx": (".xlsx",)}
    if format not in suffixes:
        raise ConfigError(f"--format must be json, yaml, csv, points or xlsx, got {format!r}")
    out = out or Path("formula" + (".points" if format == "points" else "") + suffixes[format][0])
    check_out_file(out, "--out")
    if out.suffix.lower() not in suffixes[format]:  # a file named for another format opens wrong, or not at all
        raise ConfigError(f"--out {out}: --format {format} writes a {suffixes[format][0]} file "
                          f"(example: --out {out.with_suffix(suffixes[format][0])})")
    f = load_formula(ref)
    if format in ("json", "yaml"):
        write_text_atomic(out, f.to_text(format))
    elif format == "csv":
        write_csv_atomic(readable_table(weights_table(f)), out)
    elif format == "points":
        write_csv_atomic(readable_table(points_table(f)), out)
    else:
        from innopoints.pipeline.workbook import formula_workbook

        write_bytes_atomic(out, formula_workbook(f))
    console.print(f"wrote {f.name} {f.version} as {format} to {out}")


@app.command()
@user_errors
def train(
    data: Annotated[Path, typer.Option(help="Folder with the three input tables.")],
    baseline: Annotated[str, typer.Option(help="Formula every candidate is compared with: a file or builtin:NAME."
                                          )] = "builtin:official-2024",
    out: Annotated[Path, typer.Option(help="Folder for formulas, evaluation and explanation.")] = Path(
        "innopoints-out/train"),
    experiment: ExperimentOpt = "innopoints",
    mlflow: MlflowOpt = True,
    set_alias: SetAliasOpt = None,
    no_alias: NoAliasOpt = False,
    config: ConfigOpt = None,
    quiet: QuietOpt = False,
    timings: TimingsOpt = None,
    lang: LangOpt = "en",
) -> None:
    """Learn which indicators predict repayment, with evidence from refits, and recommend a points formula.

    Reads DATA and BASELINE. Writes OUT/formulas/<name>.json (+ .weights.csv; the baseline as
    baseline.json), OUT/evaluation.json (test metrics of every formula, the recommended one as `best`
    (chosen among policy-consistent candidates on the validation year unless train.recommend says data),
    `best_data`, the cost of policy consistency, reference models and a rolling-origin backtest),
    OUT/refinement.json and OUT/refinement.md (clusters of twins and every indicator: importance, link,
    direction and incremental value with intervals over refits, the recommended formula's points per stage
    with intervals, and keep / reweight / drop / add / leave out / uncertain with the reason; see
    docs/refinement.md), OUT/frontier.json and OUT/explain/ (tables and PNG plots). Nothing is written when a
    step fails. With MLflow on (the default): one parent run in
    EXPERIMENT and one run per formula in the store of MLFLOW_TRACKING_URI, else ./mlflow.db; every distinct
    formula registered once as a version of `innopoints-formula`. `official` is never moved; `candidate`
    moves to the recommended formula only when it passes the gate (docs/mlflow.md) and was not set by hand;
    --set-alias NAME / --no-alias choose on purpose.
    With TIMINGS: the wall time of every stage, as JSON.
    """
    from innopoints.pipeline import flow
    from innopoints.pipeline.refs import load_formula

    _check_lang(lang)
    cfg = _config(config)
    timings_file = _optional_path(timings)
    _check_out_paths(dirs={"--out": out}, files={"--timings": timings_file})
    uri, aliases = _mlflow_ready(mlflow, set_alias, no_alias, data=data)
    state = flow.RunState(config=cfg, data=data, out=out, baseline=load_formula(baseline, uri=uri), uri=uri,
                          experiment=experiment, lang=lang, kind="train", baseline_ref=baseline, aliases=aliases)
    record: list[dict] = []
    flow.execute(flow.TRAIN, state, enabled=not quiet, record=record)
    _write_timings(timings_file, record)
    _print_train_summary(state.result, out)
    if state.logged:
        _print_mlflow(uri, state.logged)


def _check_out_paths(dirs: dict[str, Path], files: dict[str, Path | None]) -> None:
    """Refuse output paths that cannot be written before any heavy work: folders replaced as a whole (train,
    policy), files (timings, reports)."""
    from innopoints.pipeline.io import check_out_dir, check_out_file

    for option, path in dirs.items():
        check_out_dir(path, option)
    for option, path in files.items():
        if path is not None:
            check_out_file(path, option)


def _check_lang(lang: str) -> None:
    """Refuse an unknown --lang before any heavy work."""
    from innopoints.experiments.i18n import check_lang

    check_lang(lang)


def _write_timings(path: Path | None, record: list[dict]) -> None:
    if path is not None:
        from innopoints.pipeline.io import write_text_atomic

        write_text_atomic(path, json.dumps(record, indent=1) + "\n")


def _tracking_ready(create: bool = True) -> str:
    """The MLflow store to use, checked before any heavy work (an unreachable server, a read-only SQLite
    store fail here, fast). With ``create`` False a missing SQLite store is an error, not a new file.
    :func:`innopoints.pipeline.refs.ready_store`, imported only when a command needs a store."""
    from innopoints.pipeline.refs import ready_store

    return ready_store(create=create)


def _require_input(path: Path, option: str, example: str) -> None:
    """A missing input is refused before the store is opened or created (which takes seconds and leaves a file);
    ``example`` ends in ``/`` for a folder."""
    from innopoints.features.errors import DataError

    folder = example.endswith("/")
    if not (path.is_dir() if folder else path.is_file()):
        raise DataError(f"{option} {path}: no such {'folder' if folder else 'file'} (example: {option} {example})")


def _mlflow_ready(mlflow: bool, set_alias: str | None, no_alias: bool,
                  data: Path | None = None) -> tuple[str | None, dict]:
    """Before any work: the alias options checked, the ``--data`` folder (when given) seen to exist, the store
    checked (:func:`_tracking_ready`), and where the aliases point now (compared again before any move).
    ``(None, plan)`` with ``--no-mlflow``."""
    from innopoints.features.errors import ConfigError

    if set_alias is not None and no_alias:
        raise ConfigError("--set-alias and --no-alias exclude each other: choose one (example: --set-alias champion)")
    if set_alias is not None and not mlflow:
        raise ConfigError(f"--set-alias {set_alias} needs MLflow: drop --no-mlflow")
    if set_alias is not None and not set_alias.strip():
        raise ConfigError("--set-alias: an alias name is needed (example: --set-alias champion)")
    if set_alias is not None and set_alias.strip() == OFFICIAL_ALIAS:
        raise ConfigError("--set-alias official: runs never move `official`; point it by hand once the formula "
                          "is adopted (example: innopoints promote models:/innopoints-formula/3 --alias official)")
    if data is not None:
        _require_input(data, "--data", "innopoints-data/synthetic/")
    plan = {"set_alias": set_alias.strip() if set_alias else None, "no_alias": no_alias, "seen": {}}
    if not mlflow:
        return None, plan
    uri = _tracking_ready()
    if not no_alias:
        from innopoints.experiments.registry import CANDIDATE, alias_snapshot

        plan["seen"] = alias_snapshot([plan["set_alias"] or CANDIDATE], name=MODEL_NAME, uri=uri)
    return uri, plan


def _print_mlflow(uri: str, logged: dict) -> None:
    versions = logged["versions"]
    listed = ", ".join(f"{name} v{v['version']}" for name, v in versions.items())
    new = [name for name, v in versions.items() if v["new"]]
    fresh = f"new: {', '.join(new)}" if new else "none new: every formula was already registered"
    console.print(f"MLflow: parent run {logged['parent_run_id']}, {len(logged['runs'])} formula runs; {MODEL_NAME} "
                  f"versions: {listed} ({fresh})", soft_wrap=True)
    best = logged["best"]
    if best in versions:
        console.print(f"recommended {best}: models:/{MODEL_NAME}/{versions[best]['version']}")
    for outcome in logged.get("aliases", []):
        console.print(outcome.line(MODEL_NAME), soft_wrap=True)
    if not logged.get("aliases"):
        version = versions.get(best, {}).get("version", "N")
        console.print(f"aliases: none moved (--no-alias); `innopoints promote {version} --alias NAME` moves one",
                      soft_wrap=True)
    console.print(f"browse:   {_browse_hint(uri, logged.get('experiment_id'))}", soft_wrap=True)


def _browse_hint(uri: str, experiment_id: str | None) -> str:
    """How to look at the runs: a server's own web page, else `mlflow ui` on the local store."""
    if uri.startswith(("http://", "https://")):
        return f"{uri.rstrip('/')}/#/experiments/{experiment_id}" if experiment_id else uri
    return f"mlflow ui --backend-store-uri {uri}"


def _print_train_summary(result, out: Path) -> None:
    ev = result.evaluation
    split = ev["split"]
    table = Table(title=f"formulas on the test year {split['test_year']} "
                        f"({split['test_n']} loans, {split['test_defaults']} defaults)")
    for col in ("formula", "valid log loss", "valid AUC", "test AUC", "KS", "qualified default rate",
                "ΔAUC vs baseline [95%]"):
        table.add_column(col, justify="left" if col == "formula" else "right")
    valid_loss = ev["selection"].get("validation_log_loss", {})
    for name, r in ev["formulas"].items():
        delta = r.get("delta_auc_vs_baseline")
        delta_s = f"{delta[1]:+.3f} [{delta[0]:+.3f}, {delta[2]:+.3f}]" if delta else "–"
        other = "data-driven" if ev["recommend"] == "policy" else "policy-consistent"
        label = (f"{name} (recommended)" if name == ev["best"] else
                 f"{name} (best {other})" if name in (ev.get("best_data"), ev.get("best_policy")) else name)
        loss = f"{valid_loss[name]:.4f}" if name in valid_loss else "–"
        pm = r.get("policy_metrics")
        qualified = (f"{pm['qualified_default_rate']:.2%} ({pm['qualified_defaults']}/{pm['qualified_n']})"
                     if pm else "–")
        table.add_row(label, loss, f"{r['validation_auc']:.3f}", f"{r['test_auc']:.3f}", f"{r['test_ks']:.3f}",
                      qualified, delta_s)
    console.print(table)
    if split.get("test_warning"):
        console.print(f"warning: {split['test_warning']}; see the backtest in refinement.md")
    cost = ev["policy_cost"]
    d = cost["delta_auc"]
    console.print(f"recommended: {ev['best']}, the lowest log loss on the validation year {split['validation_year']} "
                  f"among the {ev['recommend']} candidates (train.recommend); the test year judges it")
    console.print(f"cost of policy consistency: {cost['policy']} vs {cost['data']} test ΔAUC {d[1]:+.3f} "
                  f"[{d[0]:+.3f}, {d[2]:+.3f}] ({cost['test_defaults']} test defaults)")
    ref = result.refinement
    conflicts = ref.loc[ref["sign_conflict"], "id"].tolist()
    console.print(f"sign conflicts: {', '.join(conflicts) or 'none'}; scored: "
                  f"{int((ref['recommended_points'] > 0).sum())} of {len(ref)} indicators; uncertain: "
                  f"{', '.join(ref.loc[ref['recommendation'] == 'uncertain', 'id']) or 'none'}")
    console.print(f"wrote {out}/formulas, evaluation.json, refinement.md, explain/")


@app.command()
@user_errors
def compare(
    a: Annotated[str, typer.Argument(help="Formula A (the reference, e.g. the baseline): file, builtin:NAME, "
                                     "models:/NAME@ALIAS, models:/NAME/VERSION or a run id.")],
    b: Annotated[str, typer.Argument(help="Formula B (the candidate), same reference kinds.")],
    data: Annotated[Path, typer.Option(help="Folder with the three input tables the formulas are judged on.")],
    out: Annotated[Path, typer.Option(help="The HTML report; a Markdown summary goes beside it (.md).")] = Path(
        "report.html"),
    policy: Annotated[str | None, typer.Option(help="Also simulate lending and losses of A and B under a policy: "
                                               "a policy YAML, or 'default' (docs/policy.md).")] = None,
    config: ConfigOpt = None,
    quiet: QuietOpt = False,
    lang: LangOpt = "en",
) -> None:
    """Reviewer report: what changes from formula A to formula B, differences first.

    Reads A, B (MLflow references from MLFLOW_TRACKING_URI, else ./mlflow.db), DATA and POLICY. Writes OUT,
    one self-contained HTML file (plots embedded, no network), and OUT with suffix .md, a Markdown summary
    for review threads: metrics side by side with bootstrap intervals, points per indicator and stage, sign
    conflicts, firms entering and leaving the qualified set, calibration and PSI; with POLICY also the
    lending and losses of both (the full simulation in OUT's folder, policy/). Aggregates only.
    """
    from innopoints.pipeline import steps
    from innopoints.pipeline.policy import assess_and_write, load_policy, report_summary
    from innopoints.pipeline.refs import is_mlflow_ref, load_formula

    _check_lang(lang)
    cfg = _config(config)
    steps.check_report_path(out)
    side = {f"--out ({kind})": out.with_suffix(suffix) for suffix, kind in steps.REPORT_SIDE_FILES.items()}
    _check_out_paths(dirs={"--policy output": out.parent / "policy"} if policy else {}, files={"--out": out, **side})
    pol = None if policy is None else load_policy(None if policy == "default" else Path(policy))
    uri = _tracking_ready(create=False) if is_mlflow_ref(a) or is_mlflow_ref(b) else None
    fa, fb = load_formula(a, uri=uri), load_formula(b, uri=uri)
    names = ["read and validate", "compare"] + (["policy simulation"] if pol else []) + ["write"]
    with Stages(names, enabled=not quiet) as p:
        with p.stage("read and validate"):
            tables = steps.load_tables(data)
            rows = steps.Rows(tables)  # compare and the policy simulation score the same rows
        with p.stage("compare"):
            comparison = steps.compare(fa, fb, tables, cfg, rows=rows)
        if pol is not None:
            with p.stage("policy simulation"):
                results, _ = assess_and_write([fa, fb], tables, pol, cfg, out.parent / "policy", lang=lang,
                                              rows=rows)
                comparison = dataclasses.replace(comparison, policy=report_summary(results))
        with p.stage("write"):
            paths = steps.write_comparison(comparison, out, lang)
    _print_comparison(comparison, paths)


def _print_comparison(comparison, paths: list[Path]) -> None:
    h = comparison.headline
    console.print(f"{comparison.label_b} vs {comparison.label_a}: " + "; ".join(
        f"{k} {v}" for k, v in _headline_items(h)))
    console.print(f"wrote {', '.join(str(p) for p in paths)}")


def _headline_items(h: dict) -> list[tuple[str, str]]:
    d = h["delta_auc"]
    pop = h["population"]
    return [("test AUC", f"{h['auc_a']:.3f} -> {h['auc_b']:.3f}"),
            ("ΔAUC [95%]", f"{d[1]:+.3f} [{d[0]:+.3f}, {d[2]:+.3f}]"),
            ("firms entering / leaving the qualified set", f"{pop['entering']} / {pop['leaving']}")]


@app.command()
@user_errors
def promote(
    ref: Annotated[str, typer.Argument(help="models:/NAME@ALIAS, models:/NAME/VERSION, a version number, "
                                       "runs:/RUN_ID or a run id.")],
    alias: Annotated[str, typer.Option(help="Alias to point at REF's version (e.g. champion, official).")],
    name: Annotated[str, typer.Option(help="Registered model name.")] = MODEL_NAME,
) -> None:
    """Move a registry alias (official, candidate, champion, ...) to the formula version behind REF.

    Reads and writes the MLflow registry of MLFLOW_TRACKING_URI, else ./mlflow.db (never created here). Writes
    no file. Records who and when on the version (tags innopoints.alias.ALIAS.set_by / set_at); `train` and
    `run` never move a `candidate` set this way.
    """
    uri = _tracking_ready(create=False)
    from innopoints.experiments.registry import promote as promote_alias

    version, previous = promote_alias(ref, alias, name=name, uri=uri)
    was = f"version {previous}" if previous else "unset"
    console.print(f"models:/{name}@{alias} -> version {version} (was {was}); recorded on the version as set by "
                  "hand, so runs leave it alone")


@app.command()
@user_errors
def run(
    firms: Annotated[int, typer.Option(help="Firms in the embedded synthetic cohort (made on first use).")] = 50_000,
    seed: Annotated[int, typer.Option(min=0, max=SEED_MAX, help="Seed of the cohort and of every random step.")] = 1,
    data: Annotated[Path | None, typer.Option(help="Use this data folder instead of the synthetic cohort.")] = None,
    cohort_dir: Annotated[Path, typer.Option(help="Where the embedded synthetic cohort is made and reused.")] = Path(
        "innopoints-data"),
    baseline: Annotated[str, typer.Option(help="Baseline formula: a file or builtin:NAME.")] = "builtin:official-2024",
    out: Annotated[Path, typer.Option(help="Folder for every output of the run.")] = Path("innopoints-out"),
    experiment: ExperimentOpt = "innopoints",
    mlflow: MlflowOpt = True,
    set_alias: SetAliasOpt = None,
    no_alias: NoAliasOpt = False,
    config: ConfigOpt = None,
    quiet: QuietOpt = False,
    timings: TimingsOpt = None,
    lang: LangOpt = "en",
) -> None:
    """The main job, end to end: cohort → validate → indicators → models and SHAP → candidate formulas →
    evaluation → MLflow → reviewer report → scores → export.

    Reads DATA (default: COHORT_DIR/synthetic-<firms>-seed<seed>/, simulated on first use) and BASELINE.
    Writes OUT/train/ (as `innopoints train`), OUT/report.html + OUT/report.md (the reviewer report: best
    candidate against the baseline, with the policy simulation of both), OUT/policy/ (as `innopoints policy`
    with the default policy, its draws seeded with SEED), OUT/scores.parquet (points of every firm under the
    recommended formula) and OUT/recommended.json + OUT/recommended.csv + OUT/recommended.points.csv (the
    exported formula, its weights table and its points table); logs every
    formula to MLflow (MLFLOW_TRACKING_URI, else ./mlflow.db) and registers them, moving aliases as `train`
    does (--set-alias NAME / --no-alias). Prints a summary and where
    everything is. With TIMINGS: the wall time of every stage, as JSON.
    """
    from innopoints.pipeline import flow
    from innopoints.pipeline.refs import load_formula

    _check_lang(lang)
    cfg = _config(config)
    timings_file = _optional_path(timings)
    _check_out_paths(dirs={"--out (train)": out / "train", "--out (policy)": out / "policy"},
                     files={"--timings": timings_file, "--out (report)": out / "report.html"})
    if seed != cfg.seed:
        cfg = cfg.model_copy(update={"seed": seed})
    uri, aliases = _mlflow_ready(mlflow, set_alias, no_alias, data=data)
    cohort = None
    if data is None:
        data = cohort_dir / f"synthetic-{firms}-seed{seed}"
        cohort = {"firms": firms, "seed": seed, "years": (cfg.cohort.first_year, cfg.cohort.last_year)}
    state = flow.RunState(config=cfg, data=data, out=out, baseline=load_formula(baseline, uri=uri), uri=uri,
                          experiment=experiment, lang=lang, train_out=out / "train", cohort=cohort,
                          kind="run", baseline_ref=baseline, aliases=aliases)
    if flow.needs_cohort(state):
        console.print(f"making the synthetic cohort in {data} (first use)")
    from innopoints.pipeline.outputs import unmark_folder

    unmark_folder(out)  # a run cut short leaves no marker in OUT; the export step writes it last
    record: list[dict] = []
    flow.execute(flow.RUN, state, enabled=not quiet, record=record)
    _write_timings(timings_file, record)
    _print_run_summary(state)


def _print_run_summary(state) -> None:
    """What `run` made (``state``: its :class:`~innopoints.pipeline.flow.RunState`) and where it is."""
    out, best, scored, policy = state.out, state.best, state.scored, state.policy
    _print_train_summary(state.result, out / "train")
    headline = policy["headline"][0] if policy["headline"] else None
    if headline:
        console.print(f"policy (simulated, CNY 10k): at the baseline's expected loss "
                      f"{headline['target_expected_loss']:,.0f}, {best.name} lends {headline['expected_volume']:,.0f} "
                      f"({headline['volume_difference']:+,.0f}) to {headline['qualified_firms']:,.0f} firms; "
                      f"{out / 'policy' / 'policy.md'}")
        from innopoints.experiments.policy_report import headline_range_lines

        for line in headline_range_lines(policy):  # the range over take-up and shares, and the marginal-PD flag
            console.print(line.removeprefix("- ").replace("**", ""))
    console.print(f"recommended formula: {best.name} (chosen on the validation year); scored {len(scored)} firms "
                  f"for {state.year}, {int(scored['qualified'].sum())} qualified; excluded "
                  f"{state.exclusions.total}: {state.exclusions.counts or 'none'}")
    _print_comparison(state.comparison, state.report)
    console.print(f"report:   {out / 'report.html'} (refinement: {out / 'train' / 'refinement.md'})")
    console.print(f"formula:  {out / 'recommended.json'} (weights table: {out / 'recommended.csv'}, points "
                  f"table: {out / 'recommended.points.csv'})")
    console.print(f"scores:   {out / 'scores.parquet'}")
    if state.logged:
        _print_mlflow(state.uri, state.logged)


@app.command(name="fit")
@user_errors
def fit_command(
    table: Annotated[Path, typer.Option(help="Indicator table: one row per loan, .parquet, .csv or .xlsx.")],
    target: Annotated[str, typer.Option(help="Target column: 1 = defaulted, 0 = repaid.")],
    stage: Annotated[str | None, typer.Option(help="Lifecycle-stage column (startup/growth/stable or 初创期/成长期/"
                                              "稳定期): points per stage. Default: the same points for all.")] = None,
    time: Annotated[str | None, typer.Option(help="Year or date column: the last period is the test (out of "
                                             "time, as train).")] = None,
    split: Annotated[str | None, typer.Option(help="Column saying train or test for each row.")] = None,
    test_share: Annotated[float | None, typer.Option(help="Without --time/--split: share of rows held out, "
                                                     "stratified by the target (default 0.3).")] = None,
    seed: Annotated[int, typer.Option(min=0, max=SEED_MAX, help="Seed of the stratified split and of the evidence "
                                      "refits.")] = 1,
    indicators: Annotated[Path | None, typer.Option(help="YAML: indicators: {column: {name_zh, name_en, group, "
                                                    "unit, direction}} and optional group_bounds.")] = None,
    exclude: Annotated[list[str] | None, typer.Option(help="Column that is not an indicator (repeatable).")] = None,
    max_points: Annotated[float | None, typer.Option(help="Cap on one indicator's points (default: min(100, "
                                                     "max(25, ceil(200 / n scoring))).")] = None,
    refits: Annotated[int, typer.Option(min=2, help="Evidence refits with shadow columns.")] = 30,
    out: Annotated[Path, typer.Option(help="Folder for formulas, evaluation and the report.")] = Path(
        "innopoints-out/fit"),
    experiment: ExperimentOpt = "innopoints",
    mlflow: MlflowOpt = True,
    quiet: QuietOpt = False,
) -> None:
    """Fit a points formula to your own indicator table (docs/fit.md): only its columns are indicators.

    Reads TABLE and INDICATORS. Writes OUT/formulas/fitted-data.json (+ .weights.csv; fitted-policy too when
    INDICATORS declares directions), OUT/evaluation.json (test AUC, KS, Brier, calibration of each formula, ΔAUC
    against a logistic regression on the same columns, logistic and LightGBM references) and OUT/refinement.json
    / .md (per column: evidence from refits with shadow columns, points with intervals, verdict). Nothing is
    written when a step fails. With MLflow on: one parent run and one run per formula, registered as versions
    of `innopoints-formula` (alias `candidate` = the recommended one).
    """

    from innopoints.pipeline import fit as fit_step
    from innopoints.pipeline.fingerprint import data_fingerprint

    if max_points is not None and not 0 < max_points < float("inf"):
        raise ConfigError(f"--max-points {max_points:g}: must be a positive number of points "
                          "(example: --max-points 25)")
    options = fit_step.FitOptions(target=target, stage=stage, time=time, split=split, test_share=test_share,
                                  seed=seed, exclude=tuple(exclude or ()), max_points=max_points, refits=refits)
    meta, bounds = fit_step.load_indicator_meta(indicators)
    _check_out_paths(dirs={"--out": out}, files={})  # as every command: a bad --out fails before fitting
    _require_input(table, "--table", "indicators.csv")
    uri = _tracking_ready() if mlflow else None
    names = ["read and check", "evidence and the data-driven formula", "the policy-consistent formula",
             "points intervals", "reference models", "evaluation on the test rows", "refinement", "write"]
    with Stages(names, enabled=not quiet) as p:
        with p.stage("read and check"):
            frame = fit_step.read_indicator_table(table)
            columns = fit_step.check_table(frame, options, meta, table.name)
            test, how = fit_step.split_rows(frame, options, table.name)
        result = fit_step.fit_table(frame, columns, test, how, options, meta, bounds,
                                    fingerprint=data_fingerprint({"table": frame}), progress=p.mark)
        with p.stage("write"):
            fit_step.write_fit_outputs(result, out, table.name)
    logged = None
    if uri:
        from innopoints.experiments.registry import register_formulas
        from innopoints.experiments.tracking import log_train

        best = result.formulas[result.evaluation["best"]]
        params = {"seed": seed, "data_fingerprint": best.provenance.data_fingerprint,
                  "config_hash": best.provenance.config_hash, "fit": dataclasses.asdict(options)}
        logged = log_train(result, out, experiment=experiment, params=params, uri=uri)
        # Versions only: the registry's aliases judge formulas against a baseline, and a table has none
        # (`innopoints promote` moves one on purpose).
        logged["versions"] = register_formulas(logged, name=MODEL_NAME, uri=uri)
    ev = result.evaluation
    for name, r in ev["formulas"].items():
        d = r["delta_auc_vs_baseline"]
        console.print(f"{name}: test AUC {r['test_auc']:.4f} (vs logistic {d[1]:+.4f} [{d[0]:+.4f}, {d[2]:+.4f}]), "
                      f"KS {r['test_ks']:.4f}" + (" (recommended)" if name == ev["best"] else ""))
    console.print("references: " + ", ".join(f"{k} test AUC {v['test_auc']:.4f}" for k, v in ev["models"].items()))
    ref = result.refinement
    console.print(f"scored: {', '.join(ref.loc[ref['verdict'] == 'score', 'column'].astype(str)) or 'none'}; "
                  f"no points: {', '.join(ref.loc[ref['verdict'] != 'score', 'column'].astype(str)) or 'none'}")
    console.print(f"wrote {out}/formulas, evaluation.json, refinement.json, refinement.md")
    if logged:
        version = logged["versions"][ev["best"]]["version"]
        console.print(f"MLflow: parent run {logged['parent_run_id']}; {ev['best']} is models:/{MODEL_NAME}/{version} "
                      f"(no alias moved: `innopoints promote {version} --alias NAME` moves one)", soft_wrap=True)


@app.command()
@user_errors
def policy(
    formula: Annotated[list[str], typer.Option(
        "--formula", metavar="REF", help="Formula to assess: a .json/.yaml file, builtin:NAME or an MLflow "
        "reference. Repeat it; the first is the reference A the others are matched against.")],
    data: Annotated[Path, typer.Option(help="Folder with the three input tables (firms, firm_years, loans).")],
    policy_file: Annotated[Path | None, typer.Option(
        "--policy", help="Policy YAML (qualification, take-up, loss given default, risk sharing, funds, "
        "refinancing, Monte Carlo); default: the documented defaults of docs/policy.md.")] = None,
    out: Annotated[Path, typer.Option(help="Folder for policy.json, policy.md and the plots.")] = Path(
        "innopoints-out/policy"),
    year: Annotated[int | None, typer.Option(help="Scoring year of the population (fiscal years before it); "
                                             "default: the year after the last fiscal year.")] = None,
    config: Annotated[str | None, typer.Option(
        "--config", metavar="FILE",
        help="YAML run config (stage rule, local indicators); omitted or empty: built-in defaults.")] = None,
    experiment: ExperimentOpt = "innopoints",
    mlflow: MlflowOpt = True,
    quiet: QuietOpt = False,
    lang: LangOpt = "en",
) -> None:
    """Policy simulation: lending unlocked, defaults, and who carries the loss, for each formula.

    Reads every FORMULA, DATA and POLICY. Calibrates default probabilities per points band on the observed
    loans, estimates take-up and loan size per band, qualifies firms of the scoring year, and simulates the
    loss with a one-factor (Vasicek) model. Writes OUT/policy.json (per formula: qualified_firms,
    expected_volume, expected_default_rate, expected_loss, loss_bank, loss_guarantee, loss_funds, loss_p99,
    fund_exhaustion_probability, and the same by province; the headline: the cut-off at which each formula
    matches the first formula's expected loss and the lending it unlocks there), OUT/policy.md and PNG plots
    (frontier, loss distribution, loss split, fund exhaustion). Aggregates only. With MLflow on (the
    default): one run `policy` in EXPERIMENT (MLFLOW_TRACKING_URI, else ./mlflow.db) with the policy as
    params, each formula's totals and the matched-loss headline as metrics, and OUT's files as artifacts.
    """
    from innopoints.pipeline import steps
    from innopoints.pipeline.io import check_out_dir
    from innopoints.pipeline.policy import assess_and_write, load_policy, print_summary
    from innopoints.pipeline.refs import is_mlflow_ref, load_formula

    _check_lang(lang)
    pol = load_policy(policy_file)
    cfg = _config(config)
    check_out_dir(out, "--out")  # a file, or someone's folder (it is replaced as a whole): refused before any work
    # Logging may create the store; only looking a formula up (--no-mlflow) never does.
    _require_input(data, "--data", "innopoints-data/synthetic/")
    uri = _tracking_ready(create=mlflow) if mlflow or any(is_mlflow_ref(ref) for ref in formula) else None
    names = ["load formulas", "read and validate", "score and calibrate"]
    names += [f"simulate {i + 1}" for i in range(len(formula))] + ["write"]
    with Stages(names, enabled=not quiet) as p:
        with p.stage("load formulas"):
            formulas = [load_formula(ref, uri=uri) for ref in formula]
        with p.stage("read and validate"):
            tables = steps.load_tables(data)
        p.mark("score and calibrate")
        results, paths = assess_and_write(formulas, tables, pol, cfg, out, year=year, progress=p.mark, lang=lang)
    print_summary(results)
    console.print(f"wrote {', '.join(str(x) for x in paths[:2])} and {len(paths) - 2} plots")
    if mlflow:
        from innopoints.experiments.tracking import log_policy

        run_id = log_policy(results, out, experiment=experiment, uri=uri)
        console.print(f"MLflow: run {run_id} in experiment {experiment!r} ({uri})")

from innopoints.pipeline import formula_files  # noqa: E402  (registered after user_errors exists)

formula_app = typer.Typer(name="formula", help=formula_files.HELP, no_args_is_help=True, add_completion=False,
                          pretty_exceptions_enable=False)
for _name, _command in formula_files.COMMANDS.items():
    formula_app.command(name=_name)(user_errors(_command))
app.add_typer(formula_app, name="formula")


def main() -> None:
    """Console-script entry point."""
    # MLflow's INFO lines (creating tables, ...) are noise next to our own progress and summary.
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    app()


if __name__ == "__main__":
    main()
