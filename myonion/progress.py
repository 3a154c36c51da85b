"""Showing progress events in a terminal: a rich progress bar, or plain lines when not a TTY."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

from myonion.events import Event


class TerminalReporter:
    """A Reporter for the CLI. Use as a context manager around a long operation."""

    def __init__(self, console: Console, verbose: bool = False) -> None:
        self.console = console
        self.verbose = verbose
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self._last = ""

    def __enter__(self) -> TerminalReporter:
        if self.console.is_terminal:
            self._progress = Progress(
                SpinnerColumn(), TextColumn("[bold]{task.fields[stage]:<13}"),
                BarColumn(bar_width=24), TextColumn("{task.description}"),
                TimeElapsedColumn(), console=self.console, transient=True)
            self._progress.start()
            self._task = self._progress.add_task("", total=100, stage="")
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._progress is not None:
            self._progress.stop()

    def __call__(self, event: Event) -> None:
        line = event.message if not event.detail else f"{event.message}: {event.detail}"
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, description=line[:90], stage=str(event.stage),
                                  completed=event.percent if event.percent is not None else None)
            return
        if event.detail and not self.verbose:
            line = event.message
        if line != self._last:
            self._last = line
            who = f"{event.service}: " if event.service else ""
            self.console.print(f"[{event.stage}] {who}{line}", markup=False, highlight=False)
