"""Rich progress bars for a sweep, drawn from its events: one bar for all runs, one per piece of work in
progress (a dense model, or a run: several at once with --jobs). A bar shows its work's task's primary metric
(``top1``; ``ppl`` for a language model), given per work key by the caller."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from shrinkbench.engine.events import (
    DenseDone,
    DenseFailed,
    EpochDone,
    Event,
    RunFinished,
    SweepPlanned,
    SweepStarted,
    TaskLost,
    TaskStarted,
)

if TYPE_CHECKING:
    from .reporting.task_view import TaskView


def make_console() -> Console:
    """A console for reports: terminal width on a terminal, 140 columns when writing to a file or pipe (rich's
    own default there is 80, or ``$COLUMNS``). Tables fit that width; every other line is printed whole
    (``soft_wrap``: never broken into several lines, whatever its length), so a script can parse it and a
    terminal wraps it only on screen."""
    probe = Console(soft_wrap=True)
    return probe if probe.is_terminal else Console(width=140, soft_wrap=True)


class RichProgress:
    """A sweep's ``progress`` callback drawing rich progress bars (use as a context manager). ``header`` is
    printed, with the device and thread count, once the sweep is validated (bad input prints nothing).
    ``tasks``: the task of each piece of work, by event key (a dense model's) or experiment slug (a run's key
    starts with it); work without one shows top-1."""

    def __init__(self, console: Console, header: str = "", tasks: Mapping[str, TaskView] | None = None) -> None:
        self.console, self.header, self.tasks = console, header, dict(tasks or {})
        self.bars = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            TimeRemainingColumn(), TextColumn("{task.fields[info]}"), console=console, transient=False,
        )
        self.overall: TaskID | None = None
        self.active: dict[str, TaskID] = {}
        self.started = False

    def __enter__(self) -> RichProgress:
        return self

    def __exit__(self, *exc) -> None:
        if self.started:
            self.bars.__exit__(*exc)

    def _task(self, key: str) -> TaskView | None:
        """The task of the work ``key`` (``None``: not given)."""
        return self.tasks.get(key) or self.tasks.get(key.partition("/")[0])

    def __call__(self, event: Event) -> None:
        """Update the bars for one sweep event."""
        if isinstance(event, SweepPlanned):
            self.console.print(f"{self.header}: {event.layout}", soft_wrap=True)
            self.bars.__enter__()
            self.started = True
        elif isinstance(event, SweepStarted):
            info = f"{event.skipped} already done" if event.skipped else ""
            self.overall = self.bars.add_task("runs", total=event.total, info=info)
        elif isinstance(event, TaskStarted) and event.epochs > 0:
            self.active[event.key] = self.bars.add_task(event.label, total=event.epochs, info="")
        elif isinstance(event, EpochDone) and event.key in self.active:
            task = self._task(event.key)
            if task is None or task.plain:
                val = f" val {event.log.val_top1:.3f}" if event.log.val_top1 is not None else ""
            else:
                val = f" val {task.short} {event.log.val_primary:.3f}" if event.log.val_primary is not None else ""
            self.bars.update(self.active[event.key], advance=1, info=f"loss {event.log.train_loss:.3f}{val}")
        elif isinstance(event, (DenseDone, DenseFailed, RunFinished, TaskLost)):
            bar = self.active.pop(event.key, None)
            if bar is not None:
                self.bars.remove_task(bar)
            if isinstance(event, RunFinished) and self.overall is not None:
                task = self._task(event.key)
                column, short = (task.column, task.short) if task else ("top1", "top1")
                value = event.row.get(column)
                info = f"last: {event.key} {short} {value:.3f}" if isinstance(value, float) else f"last: {event.key} failed"
                self.bars.update(self.overall, advance=1, info=info)
