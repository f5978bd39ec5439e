"""Command-line options shared by several commands (one definition, one help text)."""

from __future__ import annotations

from typing import Annotated

import typer

MODEL_NAME = "innopoints-formula"
"""The registered model every formula is a version of (the registry's own default, read without loading MLflow)."""
OFFICIAL_ALIAS = "official"
"""The alias of the formula in force: moved only by hand with `promote` (the registry's ``OFFICIAL``, read
without loading MLflow)."""

# A string, not a Path: an empty value (what the MLproject passes when no config is given) means the defaults.
ConfigOpt = Annotated[str | None, typer.Option(
    "--config", metavar="FILE",
    help="YAML run config (seed, stage rule, local indicators, evaluation); omitted or empty: built-in defaults.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", help="No progress bars.")]
ExperimentOpt = Annotated[str, typer.Option(envvar="MLFLOW_EXPERIMENT_NAME", help="MLflow experiment name "
                                            "(else MLFLOW_EXPERIMENT_NAME, else innopoints).")]
TimingsOpt = Annotated[str | None, typer.Option(
    "--timings", metavar="FILE",
    help="Also write the wall time of every stage (JSON list of {stage, seconds}) to this file; empty: none.")]
LangOpt = Annotated[str, typer.Option("--lang", help="Language of the reports (HTML, Markdown) and plot labels: en "
                                      "or zh (Chinese headings, labels and the catalog's Chinese indicator names).")]
MlflowOpt = Annotated[bool, typer.Option("--mlflow/--no-mlflow", help="Log to MLflow (MLFLOW_TRACKING_URI, else "
                                         "./mlflow.db); train and run also register the formulas.")]
SetAliasOpt = Annotated[str | None, typer.Option("--set-alias", metavar="NAME", help="Point registry alias NAME "
                                                 "at the recommended formula's version on purpose (no gate).")]
NoAliasOpt = Annotated[bool, typer.Option("--no-alias", help="Register the formulas but move no registry alias.")]
