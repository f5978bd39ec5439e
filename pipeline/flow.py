"""The order of `train` and `run`: one declarative list of named steps each, run over one state.

Each step is a function of a :class:`RunState` that reads what earlier steps left there and adds its own
result; the command line only builds the state from its options, hands :func:`execute` a list, and prints
from the state afterwards. Progress bars and ``--timings`` take their stage names from the same lists
(:func:`stage_names`), including the steps the training workflow reports itself, so a renamed step cannot
fall out of the progress bar.

========================  =================================================================================
step                      leaves in the state
========================  =================================================================================
make the synthetic cohort ``data`` (COHORT_DIR/synthetic-<firms>-seed<seed>/, only when it does not exist)
read and validate         ``tables`` (contract-checked), ``rows`` (loan tables and populations built once)
train                     ``result`` (formulas, evaluation, refinement, explanation); reports its own steps
write                     OUT/train/ (formulas, evaluation, refinement, explain)
log to MLflow             ``logged`` (parent and formula runs), only with a tracking store
register formulas         ``logged["versions"]``
compare                   ``comparison`` (baseline against the recommended formula)
policy simulation         ``policy``, ``policy_files`` (OUT/policy/)
reviewer report           ``report`` (OUT/report.html, OUT/report.md)
score population          ``scored``, ``year``, ``exclusions`` (OUT/scores.parquet)
export                    OUT/recommended.json, .csv, .points.csv
========================  =================================================================================
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from innopoints.pipeline import steps
from innopoints.pipeline.config import RunConfig
from innopoints.pipeline.options import MODEL_NAME
from innopoints.pipeline.progress import Stages


@dataclass
class RunState:
    """What a `train` or `run` command was asked to do, and what its steps have made so far."""

    config: RunConfig
    data: Path
    out: Path
    baseline: Any
    """The baseline formula (already loaded: a bad reference fails before any step runs)."""
    uri: str | None = None
    """The MLflow store, or None without MLflow."""
    experiment: str = "innopoints"
    lang: str = "en"
    """The language of the reports and plots (en or zh), checked by the command line."""
    train_out: Path | None = None
    """Where the training outputs go: OUT for `train`, OUT/train for `run`."""
    cohort: dict | None = None
    """For `run` on the embedded synthetic cohort: firms, seed and years to simulate when ``data`` is empty."""
    kind: str = "train"
    """`train` or `run`: names the MLflow runs."""
    baseline_ref: str = ""
    """The baseline as the user named it (builtin:NAME, a file, a models:/ reference), for lineage."""
    aliases: dict = field(default_factory=lambda: {"set_alias": None, "no_alias": False, "seen": {}})
    """How the registry's aliases may move: ``--set-alias`` / ``--no-alias`` and where they pointed before any
    work (compared again before a move)."""
    tables: dict | None = None
    rows: steps.Rows | None = None
    result: Any = None
    logged: dict | None = None
    comparison: Any = None
    policy: dict | None = None
    policy_files: list[Path] = field(default_factory=list)
    report: list[Path] = field(default_factory=list)
    scored: Any = None
    year: int | None = None
    exclusions: Any = None

    @property
    def best(self):
        """The recommended formula of the training result."""
        return self.result.formulas[self.result.evaluation["best"]]


Work = Callable[..., None]


@dataclass(frozen=True)
class Step:
    """One named step: ``work(state)``, or ``work(state, mark)`` when it reports ``reports`` itself."""

    name: str
    work: Work
    reports: Callable[[], tuple[str, ...]] | None = None
    """The names of the steps ``work`` reports itself, in order (a function: the training workflow's list is
    read when a plan runs, so that importing the command line does not load the learning stack)."""
    when: Callable[[RunState], bool] = lambda _state: True

    def stage_names(self) -> list[str]:
        return list(self.reports()) if self.reports else [self.name]


def needs_cohort(state: RunState) -> bool:
    """`run` without --data makes the synthetic cohort on first use."""
    return state.cohort is not None and not any(Path(state.data).glob("firms.*"))


def _make_cohort(state: RunState) -> None:
    c = state.cohort
    steps.make_cohort(Path(state.data), c["firms"], c["seed"], c["years"], "parquet")


def _read(state: RunState) -> None:
    state.tables = steps.load_tables(state.data)
    state.rows = steps.Rows(state.tables)


def _train(state: RunState, mark: Callable[[str], None]) -> None:
    state.result = steps.train(state.tables, state.config, state.baseline, progress=mark, rows=state.rows)


def _write_train(state: RunState) -> None:
    steps.write_train_outputs(state.result, state.train_out or state.out, state.lang)


def lineage(state: RunState) -> dict:
    """Where a train or run comes from, for the MLflow runs and versions (aggregates only)."""
    best, tables = state.best, state.tables
    return {"innopoints.data_path": str(Path(state.data).absolute()),
            "innopoints.data_fingerprint": best.provenance.data_fingerprint,
            "innopoints.firms": len(tables["firms"]), "innopoints.loans": len(tables["loans"]),
            "innopoints.config_hash": state.config.config_hash(),
            "innopoints.baseline": f"{state.baseline_ref} ({state.baseline.provenance.content_hash[:12]})"}


def _log(state: RunState) -> None:
    """One parent run and one run per formula; a formula already registered logs no second copy of its model."""
    from innopoints.experiments.registry import registered_hashes
    from innopoints.experiments.tracking import describe_run, log_train

    cfg, best = state.config, state.best
    params = {"seed": cfg.seed, "data_fingerprint": best.provenance.data_fingerprint,
              "config_hash": best.provenance.config_hash, "train": cfg.train.model_dump(mode="json"),
              "evaluation": cfg.evaluation.model_dump(mode="json"),
              "stage_rule": cfg.stage_rule.model_dump(mode="json")}
    lines = lineage(state)
    known = registered_hashes(name=MODEL_NAME, uri=state.uri)
    state.logged = log_train(state.result, state.train_out or state.out, experiment=state.experiment,
                             params=params, uri=state.uri, lineage=lines,
                             run_name=describe_run(state.kind, lines["innopoints.data_path"]), registered=known)


def _register(state: RunState) -> None:
    """Every distinct formula registered once; aliases moved only as ``state.aliases`` allows."""
    from innopoints.experiments.registry import decide_aliases, register_formulas

    logged, plan = state.logged, state.aliases
    logged["versions"] = register_formulas(logged, name=MODEL_NAME, uri=state.uri)
    logged["aliases"] = decide_aliases(state.result.evaluation, logged["versions"], set_alias=plan["set_alias"],
                                       no_alias=plan["no_alias"], seen=plan["seen"],
                                       run_id=logged["parent_run_id"], name=MODEL_NAME, uri=state.uri)


def _compare(state: RunState) -> None:
    state.comparison = steps.compare(state.result.formulas["baseline"], state.best, state.tables, state.config,
                                     importance_b=state.result.explain["importance"], rows=state.rows)


def _policy(state: RunState) -> None:
    from innopoints.pipeline.policy import assess_and_write, report_summary, run_policy

    state.policy, state.policy_files = assess_and_write(
        [state.result.formulas["baseline"], state.best], state.tables, run_policy(state.config), state.config,
        state.out / "policy", lang=state.lang, rows=state.rows)
    state.comparison = dataclasses.replace(state.comparison, policy=report_summary(state.policy))


def _report(state: RunState) -> None:
    state.report = steps.write_comparison(state.comparison, state.out / "report.html", state.lang)
    if state.logged:
        from innopoints.experiments.tracking import log_files

        log_files([state.logged["parent_run_id"], state.logged["runs"][state.best.name]], state.report,
                  folder="report", uri=state.uri)
        log_files([state.logged["parent_run_id"]], state.policy_files, folder="policy", uri=state.uri)


def _score(state: RunState) -> None:
    from innopoints.pipeline.io import write_frame_atomic

    state.year = steps.default_scoring_year(state.tables)
    pop, state.exclusions = steps.build_population(state.tables, state.year, state.config, state.best, state.rows)
    state.scored = steps.score_population(state.best, pop, share=state.config.evaluation.qualified_share,
                                          cutoff=None)
    write_frame_atomic(state.scored, state.out / "scores.parquet")


def _export(state: RunState) -> None:
    from innopoints.experiments.formatting import readable_table
    from innopoints.models.formula.schema import points_table, weights_table
    from innopoints.pipeline.io import write_csv_atomic, write_text_atomic
    from innopoints.pipeline.outputs import mark_folder

    best = state.best
    write_text_atomic(state.out / "recommended.json", best.to_text("json"))
    write_csv_atomic(readable_table(weights_table(best)), state.out / "recommended.csv")
    write_csv_atomic(readable_table(points_table(best)), state.out / "recommended.points.csv")
    # Last: the marker names the run that wrote OUT, with every file's checksum.
    mark_folder(state.out, {"recommended": best.name, "data_fingerprint": best.provenance.data_fingerprint,
                            "config_hash": best.provenance.config_hash})


def _tracked(state: RunState) -> bool:
    return state.uri is not None


def _train_reports() -> tuple[str, ...]:
    from innopoints.models.learning.train import TRAIN_STEPS

    return (steps.INDICATOR_STEP, *TRAIN_STEPS)


TRAIN: tuple[Step, ...] = (
    Step("read and validate", _read),
    Step("train", _train, reports=_train_reports),
    Step("write", _write_train),
    Step("log to MLflow", _log, when=_tracked),
    Step("register formulas", _register, when=_tracked),
)
"""`innopoints train`: read, learn, write OUT, log and register."""

RUN: tuple[Step, ...] = (
    Step("make the synthetic cohort", _make_cohort, when=needs_cohort),
    *TRAIN,
    Step("compare", _compare),
    Step("policy simulation", _policy),
    Step("reviewer report", _report),
    Step("score population", _score),
    Step("export", _export),
)
"""`innopoints run`: the cohort on first use, `train` into OUT/train, then the reviewer report with the policy
simulation, the population's scores and the exported recommended formula."""


def stage_names(plan: Sequence[Step], state: RunState) -> list[str]:
    """The progress stages of ``plan`` for ``state``, in order (steps that will not run left out)."""
    return [name for step in plan if step.when(state) for name in step.stage_names()]


def execute(plan: Sequence[Step], state: RunState, *, enabled: bool = True,
            record: list[dict] | None = None) -> RunState:
    """Run the steps of ``plan`` that apply to ``state`` in order, with one progress bar over their stages."""
    todo = [step for step in plan if step.when(state)]
    with Stages(stage_names(todo, state), enabled=enabled, record=record) as progress:
        for step in todo:
            if step.reports:
                step.work(state, progress.mark)
            else:
                with progress.stage(step.name):
                    step.work(state)
    return state
