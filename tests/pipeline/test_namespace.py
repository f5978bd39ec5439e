"""The installed package is one namespace, ``innopoints``: nothing else lands in site-packages.

Run in a subprocess from an empty folder, so the checkout's own folders are not on ``sys.path`` (inside the
test process they are, which would hide a bare ``import pipeline`` or a resource looked up by the folder name).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FOLDERS = ("pipeline", "features", "models", "experiments")


def _python(code: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=120,
                          env={"PATH": str(Path(sys.executable).parent), "HOME": str(cwd)})


def test_only_the_innopoints_namespace_is_importable_outside_the_checkout(tmp_path):
    for name in FOLDERS:
        bare = _python(f"import {name}", tmp_path)
        assert bare.returncode != 0 and "ModuleNotFoundError" in bare.stderr, name
        ok = _python(f"import innopoints.{name}", tmp_path)
        assert ok.returncode == 0, ok.stderr


def test_the_builtin_formula_loads_from_the_installed_package(tmp_path):
    # The shipped baseline is package data of innopoints.pipeline; looked up by the bare folder name it loads
    # only from inside the checkout.
    done = _python("from innopoints.pipeline.refs import load_formula; "
                   "print(load_formula('builtin:official-2024').name)", tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "official-2024"


def test_no_module_imports_a_bare_top_level_folder():
    offenders = []
    for path in REPO.rglob("*.py"):
        if ".venv" in path.parts or "build" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            offenders += [f"{path.relative_to(REPO)}: {n}" for n in names if n.split(".")[0] in FOLDERS]
    assert offenders == []


def test_every_package_folder_is_listed_for_the_wheel():
    # The wheel holds only the packages pyproject.toml lists: a sub-package missing there imports in an editable
    # install and fails with ModuleNotFoundError in an installed one.
    import tomllib

    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]["packages"])
    on_disk = {"innopoints." + ".".join(p.parent.relative_to(REPO).parts)
               for folder in FOLDERS for p in (REPO / folder).rglob("__init__.py")}
    assert listed == on_disk
