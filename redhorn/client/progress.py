"""What a pull shows while it runs: a rich progress bar per resource on a terminal, else one line per resource.

Summary lines go to stdout (a script's log keeps them), failures to stderr; both are one line each.
"""

from __future__ import annotations

import sys
from typing import IO, Protocol

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text


class Reporter(Protocol):
    """Told about each resource's progress; says what it was told in its own way."""

    def start(self, resource: str, total: int | None, done: int) -> None: ...

    def advance(self, resource: str, rows: int, total: int | None) -> None: ...

    def note(self, resource: str, message: str) -> None: ...

    def finish(self, resource: str, message: str) -> None: ...

    def fail(self, resource: str, message: str) -> None: ...

    def close(self) -> None: ...


class QuietReporter:
    """No bar: a line for each note, each resource's summary and each failure."""

    def __init__(self, out: IO[str] | None = None, err: IO[str] | None = None) -> None:
        self.out = out or sys.stdout
        self.err = err or sys.stderr

    def start(self, resource: str, total: int | None, done: int) -> None:
        pass

    def advance(self, resource: str, rows: int, total: int | None) -> None:
        pass

    def note(self, resource: str, message: str) -> None:
        print(f"{resource}: {message}", file=self.out, flush=True)

    def finish(self, resource: str, message: str) -> None:
        print(f"{resource}: {message}", file=self.out, flush=True)

    def fail(self, resource: str, message: str) -> None:
        print(f"redhorn pull: {resource}: {message}", file=self.err, flush=True)

    def close(self) -> None:
        pass


class _RowsPerSecond(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f} rows/s" if speed else "- rows/s", style="progress.data.speed")


class BarReporter:
    """A bar per resource: rows done of `@odata.count`, rows per second, and the time left."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console()
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            _RowsPerSecond(),
            TimeRemainingColumn(),
            console=self.console,
        )
        self._tasks: dict[str, TaskID] = {}
        self._progress.start()

    def start(self, resource: str, total: int | None, done: int) -> None:
        if resource in self._tasks:
            self._progress.reset(self._tasks[resource], total=total, completed=done)
        else:
            self._tasks[resource] = self._progress.add_task(resource, total=total, completed=done)

    def advance(self, resource: str, rows: int, total: int | None) -> None:
        task = self._tasks[resource]
        if total is not None:
            self._progress.update(task, total=total)
        self._progress.advance(task, rows)

    def note(self, resource: str, message: str) -> None:
        self._progress.console.print(f"{resource}: {message}", markup=False, highlight=False)

    def finish(self, resource: str, message: str) -> None:
        if resource in self._tasks:
            task = self._tasks[resource]
            completed = self._progress.tasks[self._task_index(task)].completed
            self._progress.update(task, total=completed)
        self.note(resource, message)

    def fail(self, resource: str, message: str) -> None:
        Console(stderr=True).print(f"redhorn pull: {resource}: {message}", markup=False, highlight=False)

    def close(self) -> None:
        self._progress.stop()

    def _task_index(self, task: TaskID) -> int:
        return next(i for i, each in enumerate(self._progress.tasks) if each.id == task)


def reporter_for(*, quiet: bool) -> Reporter:
    """Bars when stdout is a terminal and quiet was not asked for; lines otherwise."""
    if quiet or not sys.stdout.isatty():
        return QuietReporter()
    return BarReporter()
