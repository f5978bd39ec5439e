"""Formula references: a file, ``builtin:NAME`` (shipped with the package), or an MLflow reference —
``models:/NAME@ALIAS``, ``models:/NAME/VERSION``, ``runs:/RUN_ID`` or a bare run id."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

from innopoints.features.errors import FormulaError
from innopoints.models.formula.schema import RESEAL, Formula, read_formula

BUILTIN_PREFIX = "builtin:"
MLFLOW_REF = re.compile(r"^(models:/|runs:/)|^[0-9a-f]{32}$")


def is_mlflow_ref(ref: str) -> bool:
    """Whether ``ref`` points into the MLflow store rather than at a file or a built-in."""
    return bool(MLFLOW_REF.match(ref.strip()))


def builtin_names() -> list[str]:
    """Names of the shipped formulas (``builtin:<name>``)."""
    folder = resources.files("innopoints.pipeline") / "formulas"
    return sorted(p.name.removesuffix(".json") for p in folder.iterdir() if p.name.endswith(".json"))


def formula_format(path: Path) -> str:
    """``json`` or ``yaml`` from a file suffix; anything else is an error naming the file."""
    suffix = path.suffix.lower()
    if suffix == ".json":
        return "json"
    if suffix in (".yaml", ".yml"):
        return "yaml"
    raise FormulaError(f"formula file {path}: unknown suffix {suffix!r} (use .json, .yaml or .yml)")


def ready_store(uri: str | None = None, *, create: bool = True) -> str:
    """The MLflow store ``uri`` (default: ``MLFLOW_TRACKING_URI``, else ``./mlflow.db``), checked before any
    heavy work: what needs no MLflow first, so a read-only or (``create`` False) missing SQLite store is refused
    before MLflow is imported, then one request to the store. Returns the URI."""
    from innopoints.experiments.store import check_store_access, tracking_uri

    uri = uri or tracking_uri(Path.cwd())
    check_store_access(uri, create=create)
    import logging

    from innopoints.experiments.tracking import probe_tracking

    logging.getLogger("mlflow").setLevel(logging.WARNING)  # again: importing MLflow resets its loggers to INFO
    probe_tracking(uri)
    return uri


def load_formula(ref: str, *, uri: str | None = None) -> Formula:
    """Load a formula from any reference kind, checking its content hash.

    A file without a content hash (written by hand) is validated, its hash computed, and one line on stderr
    says it was unsealed; a file whose hash does not match its content is refused.

    ``uri`` is the MLflow store for registry and run references (default: ``MLFLOW_TRACKING_URI`` or the
    SQLite store in the working directory).
    """
    if is_mlflow_ref(ref):
        uri = ready_store(uri, create=False)  # a lookup never makes an empty store
        from innopoints.experiments.registry import resolve_formula

        return resolve_formula(ref, uri=uri)
    if ref.startswith(BUILTIN_PREFIX):
        name = ref[len(BUILTIN_PREFIX):]
        if name not in builtin_names():
            raise FormulaError(f"no built-in formula {name!r}; shipped: {', '.join(builtin_names())}")
        text = (resources.files("innopoints.pipeline") / "formulas" / f"{name}.json").read_text(encoding="utf-8")
        return Formula.from_text(text, "json")
    path = Path(ref)
    if not path.is_file():
        raise FormulaError(
            f"formula {ref!r} is not a file, builtin:NAME ({', '.join(builtin_names())}), models:/NAME@ALIAS, "
            "models:/NAME/VERSION, runs:/RUN_ID or a run id")
    from innopoints.pipeline.io import read_text_input

    text = read_text_input(path, "formula", FormulaError)
    try:
        loaded = read_formula(text, formula_format(path), source=str(path))
    except FormulaError as err:  # name the file: with two formulas on the line, which one is wrong?
        if str(path) in str(err):
            raise
        raise FormulaError(f"formula {path}: {str(err).removeprefix('formula: ')}") from None
    if not loaded.sealed:
        from innopoints.pipeline.progress import console

        console.print(f"note: {path} is unsealed (no provenance.content_hash): validated and loaded with hash "
                      f"{loaded.formula.provenance.content_hash[:12]}…; seal it with "
                      f"`{RESEAL.format(source=path)}`", soft_wrap=True, highlight=False)
    return loaded.formula
