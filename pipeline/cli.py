"""The `innopoints` command line: one subcommand per MLproject entry point (DESIGN §5, STYLE 8).

User mistakes (bad data, formula, config) print one line and exit 2; tracebacks are for bugs only.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from features.build import coverage
from features.catalog import list_indicators
from features.errors import InnopointsError
from pipeline import steps
from pipeline.config import RunConfig, load_config
from pipeline.progress import Stages, console

app = typer.Typer(
    name="innopoints",
    help="Refine the core indicators and weights of the innovation points system (创新积分制) from loan "
    "performance: build point-in-time indicators, score firms with a points formula, export formulas.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

EXIT_USER_ERROR = 2

ConfigOpt = Annotated[Path | None, typer.Option("--config", help="YAML run config (seed, stage rule, local "
                                                 "indicators, evaluation); default: built-in defaults.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", help="No progress bars.")]


def user_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a user mistake into one red line on stderr and exit code 2."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except InnopointsError as exc:
            console.print(f"[red]error:[/red] {exc}", soft_wrap=True)
            raise typer.Exit(EXIT_USER_ERROR) from None

    return wrapper


def _config(path: Path | None) -> RunConfig:
    return load_config(path)


@app.command()
@user_errors
def simulate(
    firms: Annotated[int, typer.Option(help="Number of firms (520000 = the 2024 national scale).")] = 20_000,
    seed: Annotated[int, typer.Option(help="Random seed; same seed and size give byte-identical files.")] = 1,
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
        raise typer.BadParameter(f"--years must look like 2019-2024, got {years!r}") from None
    if last <= first:
        raise typer.BadParameter(f"--years: last year {last} must be after the first {first}")
    return first, last


def _simulate_to(out: Path, firms: int, seed: int, years: tuple[int, int], fmt: str, quiet: bool) -> None:
    from pipeline.io import write_tables, write_text_atomic
    from pipeline.simulate import simulate as make_cohort

    if fmt not in ("parquet", "csv"):
        raise typer.BadParameter(f"--format must be parquet or csv, got {fmt!r}")
    with Stages(["simulate", "write"], enabled=not quiet) as progress:
        with progress.stage("simulate"):
            cohort = make_cohort(firms, seed, years)
        with progress.stage("write"):
            tables = {"firms": cohort.firms, "firm_years": cohort.firm_years, "loans": cohort.loans}
            write_tables(tables, out, fmt)
            write_text_atomic(out / "truth.json",
                              json.dumps(cohort.truth, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


@app.command()
@user_errors
def validate(
    data: Annotated[Path, typer.Option(help="Folder with firms, firm_years, loans (.parquet or .csv).")],
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the report as JSON here.")] = None,
) -> None:
    """Check the data contract (DESIGN §2).

    Reads DATA/{firms,firm_years,loans}.{parquet,csv}. Prints a report naming table, column, rule, count
    and example rows; writes it as JSON with --json. Exit 0 when clean (warnings allowed), 1 otherwise.
    """
    from pipeline.contract import validate_tables
    from pipeline.io import read_tables, write_text_atomic

    report = validate_tables(read_tables(data))
    console.print(report.render(), soft_wrap=True)
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
    from features.build import raw_inputs

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
    from pipeline.io import write_frame_atomic

    cfg = _config(config)
    with Stages(["read and validate", "loan indicators", "population", "write"], enabled=not quiet) as p:
        with p.stage("read and validate"):
            tables = steps.load_tables(data)
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
    share: Annotated[float, typer.Option(help="Qualified share: top share of firms by points (2024: 0.137)."
                                         )] = round(71_435 / 520_000, 4),
    cutoff: Annotated[float | None, typer.Option(help="Qualify by points cut-off instead of share.")] = None,
    config: ConfigOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Score every firm of the scoring year with a formula.

    Reads FORMULA and DATA. Writes OUT with firm_id, stage, points, qualified and points_<indicator> per
    formula item. Firms that cannot be scored (founded in the scoring year, no prior fiscal year) are
    counted and reported, not silently dropped.
    """
    from pipeline.io import write_frame_atomic
    from pipeline.refs import load_formula

    cfg = _config(config)
    with Stages(["load formula", "read and validate", "indicators", "score", "write"], enabled=not quiet) as p:
        with p.stage("load formula"):
            f = load_formula(formula)
        with p.stage("read and validate"):
            tables = steps.load_tables(data)
        scoring_year = year or steps.default_scoring_year(tables)
        with p.stage("indicators"):
            pop, exclusions = steps.build_population(tables, scoring_year, cfg, f)
        with p.stage("score"):
            scored = steps.score_population(f, pop, share=None if cutoff is not None else share, cutoff=cutoff)
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
    format: Annotated[str, typer.Option("--format", help="json, yaml or csv (the human weights table).")] = "json",
    out: Annotated[Path, typer.Option(help="File to write.")] = Path("formula.json"),
) -> None:
    """Export a formula: JSON/YAML are the formula file itself; CSV is the weights table for people.

    Reads REF. Writes OUT.
    """
    from models.formula import weights_table
    from pipeline.io import write_text_atomic
    from pipeline.refs import load_formula

    f = load_formula(ref)
    if format in ("json", "yaml"):
        write_text_atomic(out, f.to_text(format))
    elif format == "csv":
        write_text_atomic(out, weights_table(f).to_csv(index=False))
    else:
        raise typer.BadParameter(f"--format must be json, yaml or csv, got {format!r}")
    console.print(f"wrote {f.name} {f.version} as {format} to {out}")


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
