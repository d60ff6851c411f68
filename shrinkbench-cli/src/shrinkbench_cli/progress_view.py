"""Rich progress bars for a sweep: one for all runs, one for the epochs of the current training."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


def make_console() -> Console:
    """A console for reports: terminal width on a terminal, 140 columns when writing to a file or pipe."""
    probe = Console()
    return probe if probe.is_terminal else Console(width=140)


class RichProgress:
    """A :class:`shrinkbench.engine.Progress` drawing rich progress bars (a context manager)."""

    def __init__(self, console: Console) -> None:
        self.bars = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            TimeRemainingColumn(), TextColumn("{task.fields[info]}"), console=console, transient=False,
        )
        self.overall = None
        self.epochs = None

    def __enter__(self) -> RichProgress:
        self.bars.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.bars.__exit__(*exc)

    def _epoch_bar(self, description: str, total: int) -> None:
        if self.epochs is None:
            self.epochs = self.bars.add_task(description, total=total, info="")
        else:
            self.bars.reset(self.epochs, total=total, description=description, info="")

    def phase(self, text: str, total_epochs: int) -> None:  # noqa: D102
        self._epoch_bar(text, total_epochs)

    def epoch(self, log) -> None:  # noqa: D102
        if self.epochs is not None:
            val = f" val {log.val_top1:.3f}" if log.val_top1 is not None else ""
            self.bars.update(self.epochs, advance=1, info=f"loss {log.train_loss:.3f}{val}")

    def sweep_started(self, total: int, skipped: int) -> None:  # noqa: D102
        info = f"{skipped} already done" if skipped else ""
        self.overall = self.bars.add_task("runs", total=total, info=info)

    def run_started(self, run, total_epochs: int) -> None:  # noqa: D102
        self._epoch_bar(f"{run.strategy} x{run.compression:g} seed {run.seed}", total_epochs)

    def run_finished(self, run, row: dict[str, Any]) -> None:  # noqa: D102
        if self.overall is not None:
            top1 = row.get("top1")
            info = f"last: {run.run_id} top1 {top1:.3f}" if isinstance(top1, float) else f"last: {run.run_id} {row['status']}"
            self.bars.update(self.overall, advance=1, info=info)
