"""Rich progress bars for a sweep, drawn from its events: one bar for all runs, one per piece of work in
progress (a dense model, or a run: several at once with --jobs)."""

from __future__ import annotations

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


def make_console() -> Console:
    """A console for reports: terminal width on a terminal, 140 columns when writing to a file or pipe (rich's
    own default there is 80, or ``$COLUMNS``). Tables fit that width; every other line is printed whole
    (``soft_wrap``: never broken into several lines, whatever its length), so a script can parse it and a
    terminal wraps it only on screen."""
    probe = Console(soft_wrap=True)
    return probe if probe.is_terminal else Console(width=140, soft_wrap=True)


class RichProgress:
    """A sweep's ``progress`` callback drawing rich progress bars (use as a context manager). ``header`` is
    printed, with the device and thread count, once the sweep is validated (bad input prints nothing)."""

    def __init__(self, console: Console, header: str = "") -> None:
        self.console, self.header = console, header
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
            val = f" val {event.log.val_top1:.3f}" if event.log.val_top1 is not None else ""
            self.bars.update(self.active[event.key], advance=1, info=f"loss {event.log.train_loss:.3f}{val}")
        elif isinstance(event, (DenseDone, DenseFailed, RunFinished, TaskLost)):
            bar = self.active.pop(event.key, None)
            if bar is not None:
                self.bars.remove_task(bar)
            if isinstance(event, RunFinished) and self.overall is not None:
                top1 = event.row.get("top1")
                info = f"last: {event.key} top1 {top1:.3f}" if isinstance(top1, float) else f"last: {event.key} failed"
                self.bars.update(self.overall, advance=1, info=info)
