"""``innopoints formula``: check, seal, start and describe formula files people write by hand.

The commands read and write files and print; what a formula is, its rules, hash and schema live in
``models/formula/`` (docs/formula.md).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from innopoints.features.errors import FormulaError
from innopoints.models.formula.schema import Formula, formula_problems, json_schema
from innopoints.models.formula.template import template
from innopoints.pipeline.io import write_text_atomic
from innopoints.pipeline.progress import console
from innopoints.pipeline.refs import formula_format, load_formula

HELP = ("Check, seal and start formula files written by hand, and print their JSON Schema "
        "(docs/formula.md).")


def _read(path: Path) -> str:
    from innopoints.pipeline.io import read_text_input

    return read_text_input(path, "formula", FormulaError)  # one line for missing, folder, UTF-16, too large


def check(
    file: Annotated[Path, typer.Argument(help="Formula file (.json, .yaml or .yml).")],
) -> None:
    """Validate a formula file and list every problem in one pass (exit 2 if there is any).

    Reads FILE. Writes nothing. Types and keys are checked first, all at once; the rules between fields
    (known indicators, directions, points summing to the base, ...) on a file whose types are right; the
    content hash last. A file without a hash is fine (it loads unsealed).
    """
    text = _read(file)
    problems = formula_problems(text, formula_format(file), source=str(file))
    if problems:
        for problem in problems:
            console.print(f"{file}: {problem}", soft_wrap=True, highlight=False, markup=False)
        console.print(f"{len(problems)} problem(s) in {file}", highlight=False)
        raise typer.Exit(2)
    formula = Formula.from_text(text, formula_format(file), allow_unhashed=True, source=str(file))
    sealed = "sealed" if formula.provenance.content_hash else "unsealed (no content hash; it loads, hash computed)"
    console.print(f"ok: {file} is formula {formula.name} {formula.version}, {len(formula.indicators)} indicators, "
                  f"{len(formula.bonus)} bonus items, {formula.scale.base_points:g} + {formula.scale.bonus_points:g} "
                  f"points; {sealed}", soft_wrap=True, highlight=False, markup=False)


def seal(
    file: Annotated[Path, typer.Argument(help="Formula file to seal (.json, .yaml or .yml).")],
    out: Annotated[Path, typer.Option(help="Sealed file to write; its suffix picks JSON or YAML (may be FILE).")],
) -> None:
    """Write FILE sealed: validated, with provenance.content_hash set to the hash of its content.

    Reads FILE. Writes OUT (canonical JSON or YAML; comments are not kept). A stale hash (the file was
    edited after it was sealed) is replaced: sealing says the edit is deliberate.
    """
    data = Formula.parse_text(_read(file), formula_format(file))
    stored = ""
    if isinstance(data, dict) and isinstance(data.get("provenance"), dict):
        stored = str(data["provenance"].get("content_hash") or "")
        data["provenance"] = {**data["provenance"], "content_hash": ""}
    formula = Formula.from_dict(data, allow_unhashed=True, source=str(file)).with_hash()
    new_hash = formula.provenance.content_hash
    stale = "" if stored in ("", new_hash) else f" (replaced the stale hash {stored[:12]}…)"
    write_text_atomic(out, formula.to_text(formula_format(out)))
    console.print(f"sealed {formula.name} {formula.version} with hash {new_hash[:12]}…"
                  f"{stale}: wrote {out}", soft_wrap=True, highlight=False, markup=False)


def new(
    from_: Annotated[str, typer.Option("--from", help="Formula to start from: builtin:NAME, a file or an MLflow "
                                       "reference.")],
    out: Annotated[Path | None, typer.Option(help="YAML file to write (default: print it).")] = None,
) -> None:
    """Write a commented YAML template to edit, made from a formula.

    Reads the formula FROM. Writes OUT (or stdout): the formula's YAML with a comment on every key and item,
    provenance `hand-written` and no content hash, so it loads unsealed as it is.
    """
    text = template(load_formula(from_), from_)
    if out is None:
        typer.echo(text, nl=False)
        return
    if formula_format(out) != "yaml":
        raise FormulaError(f"--out {out}: the template is YAML (use .yaml or .yml; comments need YAML)")
    write_text_atomic(out, text)
    console.print(f"wrote a template from {from_} to {out}; check it with `innopoints formula check {out}`",
                  soft_wrap=True, highlight=False, markup=False)


def schema(
    out: Annotated[Path | None, typer.Option(help="JSON file to write (default: print it).")] = None,
) -> None:
    """Print the JSON Schema of a formula file (draft 2020-12), generated from the formula's pydantic model.

    Reads nothing. Writes OUT (or stdout). The schema checks keys, types, ranges and vocabularies; the rules
    between fields and the content hash are checked by `innopoints formula check`.
    """
    text = json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"
    if out is None:
        typer.echo(text, nl=False)
        return
    write_text_atomic(out, text)
    console.print(f"wrote the formula JSON Schema to {out}", highlight=False, markup=False)


COMMANDS = {"check": check, "seal": seal, "new": new, "schema": schema}
"""The ``innopoints formula`` subcommands, registered by ``pipeline/cli.py``."""
