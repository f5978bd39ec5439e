"""Progress for long commands: a bar over named stages, on stderr so stdout stays clean for data."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

# Wide enough for the summary tables when stderr is a file or a pipe (rich would assume 80 columns).
console = Console(stderr=True, highlight=False, width=None if sys.stderr.isatty() else 140)


class Stages:
    """A progress bar that advances once per finished stage and says which stage runs now."""

    def __init__(self, names: list[str], *, enabled: bool = True, record: list[dict] | None = None) -> None:
        """``record``: a list shared by the stages of one command; each finished stage appends
        ``{"stage": label, "seconds": wall}``, where a name that comes up more than once in ``names`` is
        labelled with the pass it belongs to (``selection: LightGBM``, ``final: LightGBM``)."""
        self.names = names
        self.enabled = enabled
        self.timings: dict[str, float] = {}
        self.record = record if record is not None else []
        self._repeated = {n for n in names if names.count(n) > 1}
        self._pass = ""
        self._progress = Progress(
            TextColumn("[bold]{task.description:<28}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(), console=console, transient=False, disable=not enabled,
        )
        self._task = None
        self._current: str | None = None
        self._started = 0.0

    def __enter__(self) -> Stages:
        self._progress.start()
        self._task = self._progress.add_task("starting", total=len(self.names))
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is None and self._current is not None:  # the work's last reported step has ended too
            self._done(self._current, time.perf_counter() - self._started)
            self._current = None
        self._progress.stop()

    def _done(self, name: str, seconds: float) -> None:
        self.timings[name] = self.timings.get(name, 0.0) + seconds
        label = f"{self._pass}: {name}" if name in self._repeated and self._pass else name
        self.record.append({"stage": label, "seconds": round(seconds, 3)})
        self._progress.advance(self._task)

    def mark(self, name: str) -> None:
        """A step reported by the work itself: the previous one is done, ``name`` runs now."""
        if self._current is not None:
            self._done(self._current, time.perf_counter() - self._started)
        if " pass" in name:  # "final pass (all training years)": the repeated steps that follow belong to it
            self._pass = name.split(" pass")[0]
        self._current, self._started = name, time.perf_counter()
        self._progress.update(self._task, description=name)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Run one stage: shows its name while it runs, records its wall time, advances the bar."""
        self.mark(name)
        self._current = None
        start = time.perf_counter()
        yield
        self._done(name, time.perf_counter() - start)
