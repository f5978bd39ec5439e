"""Time the refusal of a YAML alias bomb in each of the four YAML inputs, through the command line.

    python benchmarks/yaml_bombs.py      # writes results/yaml-bombs.md

Each case runs in process (typer's CliRunner, imports already warm) and in a fresh process (`innopoints ...`,
imports included); the bomb would expand to 9^8 strings if it were expanded.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from typer.testing import CliRunner

from innopoints.pipeline.cli import app

LEVELS = "abcdefgh"
BOMB = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{b}: &{b} [{','.join([f'*{a}'] * 9)}]\n" for a, b in zip(LEVELS, LEVELS[1:], strict=False))
CASES = {
    "formula (score --formula f.yaml)": ("f.yaml", "description: x\n" + BOMB,
                                         ["score", "--formula", "f.yaml", "--data", ".", "--out", "s.parquet"]),
    "run config (indicators --config)": ("c.yaml", "seed: 1\n" + BOMB, ["indicators", "--config", "c.yaml"]),
    "policy (compare --policy)": ("p.yaml", BOMB, ["compare", "builtin:official-2024", "builtin:official-2024",
                                                   "--data", ".", "--policy", "p.yaml"]),
    "local indicators (config local_indicators)": ("l.yaml", BOMB.replace("h:", "local_indicators:"),
                                                   ["indicators", "--config", "l.yaml"]),
}


def main() -> None:
    runner = CliRunner()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, (file, text, args) in CASES.items():
            (Path(tmp) / file).write_text(text, encoding="utf-8")
            args = [str(Path(tmp) / a) if a == file else a for a in args]
            t0 = time.perf_counter()
            result = runner.invoke(app, args)
            inproc = time.perf_counter() - t0
            t0 = time.perf_counter()
            proc = subprocess.run([sys.executable, "-m", "innopoints.pipeline.cli", *args], capture_output=True,
                                  text=True, cwd=tmp)
            fresh = time.perf_counter() - t0
            line = (result.output.strip().splitlines() or [""])[-1]
            rows.append(f"| {name} | {result.exit_code} / {proc.returncode} | {inproc * 1000:.0f} ms | {fresh:.2f} s "
                        f"| `{line[:90]}` |")
    text = (f"# YAML alias bombs refused\n\nDate: {dt.date.today()}. Command: `python benchmarks/yaml_bombs.py`.\n\n"
            "| input | exit (in process / fresh) | in process | fresh process (imports included) | line |\n"
            "|---|---|---|---|---|\n" + "\n".join(rows) + "\n")
    out = Path(__file__).parent / "results" / "yaml-bombs.md"
    out.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
