"""Progress for long commands: a bar over named stages, on stderr so stdout stays clean for data."""

from __future__ import annotations

import time
from contextlib import contextmanager
from collections.abc import Iterator

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

console = Console(stderr=True, highlight=False)


class Stages:
    """A progress bar that advances once per finished stage and says which stage runs now."""

    def __init__(self, names: list[str], *, enabled: bool = True) -> None:
        self.names = names
        self.enabled = enabled
        self.timings: dict[str, float] = {}
        self._progress = Progress(
            TextColumn("[bold]{task.description:<28}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(), console=console, transient=False, disable=not enabled,
        )
        self._task = None

    def __enter__(self) -> Stages:
        self._progress.start()
        self._task = self._progress.add_task("starting", total=len(self.names))
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Run one stage: shows its name while it runs, records its wall time, advances the bar."""
        self._progress.update(self._task, description=name)
        start = time.perf_counter()
        yield
        self.timings[name] = time.perf_counter() - start
        self._progress.advance(self._task)
