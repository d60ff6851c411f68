"""The summary table, as text cells shared by the terminal (rich), the HTML report and ``summary.csv``."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from rich.table import Table

from .results import Results
from .summary import SPREAD, SUMMARY_COLUMNS, Point, mean_std

HEADERS = ("strategy", "target", "seeds", "ft epochs", "compression", "speedup", "measured b64", "top1 pre-ft",
           "top1", "top5")
"""The report table's headers; ``measured b64`` is the measured speedup at batch 64 (``latency_speedup_64``;
results.csv's ``latency_speedup`` is batch 1): see docs/results.md."""
LABEL_HEADER = "results"
_DIGITS = (2, 2, 2, 4, 4, 4)  # decimals of each SUMMARY_COLUMNS entry


def point_cells(point: Point) -> list[str]:
    """The cells of one row of :data:`HEADERS`: mean ± std over seeds, the value alone for one seed."""
    values = [mean_std(point.mean[c], point.std[c], point.seeds, d) for c, d in zip(SUMMARY_COLUMNS, _DIGITS, strict=True)]
    epochs = "-" if point.epochs is None else str(point.epochs)
    return [point.strategy, f"{point.compression_target:g}", str(point.seeds), epochs, *values]


def table_rows(results: list[Results]) -> tuple[list[str], list[list[str]]]:
    """Headers and rows: one row per (strategy, target) of each directory, led by the directory's label
    when there are several."""
    labelled = len(results) > 1
    headers = [LABEL_HEADER, *HEADERS] if labelled else list(HEADERS)
    rows = [([r.label] if labelled else []) + point_cells(p) for r in results for p in r.points]
    return headers, rows


def caption(results: list[Results]) -> str:
    """What the cells are: test top-1 after finetuning, the selection mode, the spread, the dense reference."""
    selections = "/".join(sorted({r.selection for r in results}))
    if len(results) == 1:
        dense = f"dense top-1 {results[0].dense.text()}"
    else:
        dense = "dense top-1: " + ", ".join(f"{r.label} {r.dense.text()}" for r in results)
    return f"accuracy after finetuning (test split, select: {selections}); cells: {SPREAD}; {dense}"


def rich_table(results: list[Results]) -> Table:
    """The terminal table (print :func:`caption` above it: a title would wrap to the table's width)."""
    headers, rows = table_rows(results)
    table = Table()
    for header in headers:
        text = header in (LABEL_HEADER, "strategy")  # names fold onto a second line rather than lose their end
        table.add_column(header, justify="left" if text else "right", overflow="fold" if text else "ellipsis")
    for row in rows:
        table.add_row(*row)
    return table


def summary_csv(results: list[Results]) -> str:
    """``summary.csv``: [results,] strategy, compression_target, seeds, finetune_epochs, then mean and std (sample, over seeds)
    of each summary column; one row per point."""
    labelled = len(results) > 1
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow([LABEL_HEADER] * labelled + ["strategy", "compression_target", "seeds", "finetune_epochs"]
                    + [f"{c}_{s}" for c in SUMMARY_COLUMNS for s in ("mean", "std")])
    for r in results:
        for p in r.points:
            writer.writerow([r.label] * labelled + [p.strategy, p.compression_target, p.seeds, p.epochs]
                            + [v for c in SUMMARY_COLUMNS for v in (p.mean[c], p.std[c])])
    return text.getvalue()


GRID_HEADERS = ("dataset", "model", "variant")
"""The columns that lead a grid's table and summary.csv: which experiment a row is."""


def grid_table_rows(experiments: Sequence[Results]) -> tuple[list[str], list[list[str]]]:
    """Headers and rows of a grid's table: one row per (experiment, method, target), led by
    :data:`GRID_HEADERS`."""
    rows = [[e.dataset, e.model, e.variant, *point_cells(p)] for e in experiments for p in e.points]
    return [*GRID_HEADERS, *HEADERS], rows


def grid_summary_csv(experiments: Sequence[Results]) -> str:
    """A grid's ``summary.csv``: dataset, model, variant, then the columns of :func:`summary_csv`."""
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow([*GRID_HEADERS, "strategy", "compression_target", "seeds", "finetune_epochs"]
                    + [f"{c}_{s}" for c in SUMMARY_COLUMNS for s in ("mean", "std")])
    for e in experiments:
        for p in e.points:
            writer.writerow([e.dataset, e.model, e.variant, p.strategy, p.compression_target, p.seeds, p.epochs]
                            + [v for c in SUMMARY_COLUMNS for v in (p.mean[c], p.std[c])])
    return text.getvalue()
