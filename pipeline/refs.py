"""Formula references: a file path or ``builtin:NAME`` for the formulas shipped with the package."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from models.errors import FormulaError
from models.formula import Formula

BUILTIN_PREFIX = "builtin:"


def builtin_names() -> list[str]:
    """Names of the shipped formulas (``builtin:<name>``)."""
    folder = resources.files("pipeline") / "formulas"
    return sorted(p.name.removesuffix(".json") for p in folder.iterdir() if p.name.endswith(".json"))


def formula_format(path: Path) -> str:
    """``json`` or ``yaml`` from a file suffix; anything else is an error naming the file."""
    suffix = path.suffix.lower()
    if suffix == ".json":
        return "json"
    if suffix in (".yaml", ".yml"):
        return "yaml"
    raise FormulaError(f"formula file {path}: unknown suffix {suffix!r} (use .json, .yaml or .yml)")


def load_formula(ref: str) -> Formula:
    """Load a formula from ``builtin:NAME`` or a JSON/YAML file, checking its content hash."""
    if ref.startswith(BUILTIN_PREFIX):
        name = ref[len(BUILTIN_PREFIX):]
        if name not in builtin_names():
            raise FormulaError(f"no built-in formula {name!r}; shipped: {', '.join(builtin_names())}")
        text = (resources.files("pipeline") / "formulas" / f"{name}.json").read_text(encoding="utf-8")
        return Formula.from_text(text, "json")
    path = Path(ref)
    if not path.is_file():
        raise FormulaError(f"formula {ref!r} is neither a file nor builtin:NAME ({', '.join(builtin_names())})")
    return Formula.from_text(path.read_text(encoding="utf-8-sig"), formula_format(path))
