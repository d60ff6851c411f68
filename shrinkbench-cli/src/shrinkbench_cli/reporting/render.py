"""The report of a results directory: a rich table in the terminal, summary.csv and two PNG plots."""

from __future__ import annotations

import csv
import math
from pathlib import Path

from rich.console import Console
from rich.table import Table

from shrinkbench import schema
from shrinkbench.engine.store import ResultsStore

from .plots import plot_curves
from .summary import SUMMARY_COLUMNS, Point, dense_reference, summarize


def _fmt(mean: float, std: float, seeds: int, digits: int) -> str:
    if math.isnan(mean):
        return "-"
    return f"{mean:.{digits}f} ± {std:.{digits}f}" if seeds > 1 else f"{mean:.{digits}f}"


def table(points: list[Point], dense_top1: float) -> Table:
    """A rich table: one row per (strategy, target compression), mean ± std over seeds."""
    title = f"accuracy after finetuning (test split); dense top-1 {dense_top1:.4f}" if not math.isnan(dense_top1) else None
    t = Table(title=title, title_justify="left")
    for col in ("strategy", "target", "seeds", "compression", "speedup", "top1 pre-ft", "top1", "top5"):
        t.add_column(col, justify="left" if col == "strategy" else "right")
    for p in points:
        t.add_row(p.strategy, f"{p.compression_target:g}", str(p.seeds),
                  *(_fmt(p.mean[c], p.std[c], p.seeds, 2) for c in SUMMARY_COLUMNS[:2]),
                  *(_fmt(p.mean[c], p.std[c], p.seeds, 4) for c in SUMMARY_COLUMNS[2:]))
    return t


def write_summary(points: list[Point], path: Path) -> None:
    """``summary.csv``: strategy, target, seeds, then mean and std of each summary column."""
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["strategy", "compression_target", "seeds"]
                        + [f"{c}_{s}" for c in SUMMARY_COLUMNS for s in ("mean", "std")])
        for p in points:
            writer.writerow([p.strategy, p.compression_target, p.seeds]
                            + [v for c in SUMMARY_COLUMNS for v in (p.mean[c], p.std[c])])


def print_report(directory: str | Path, console: Console | None = None) -> list[Path]:
    """Print the summary table of ``directory`` and write summary.csv and the plots there; return the files."""
    console = console or Console()
    directory = Path(directory)
    rows = ResultsStore.existing(directory).rows()
    points = summarize(rows)
    dense = dense_reference(rows)
    console.print(table(points, dense))
    write_summary(points, directory / "summary.csv")
    files = [directory / "summary.csv", *plot_curves(points, dense, directory)]
    failed = sum(r.get(schema.STATUS) != schema.STATUS_OK for r in rows)
    console.print(f"{len(rows)} runs ({failed} failed). Wrote " + ", ".join(str(f) for f in files))
    return files
