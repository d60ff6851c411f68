"""The summary table, as text cells shared by the terminal (rich), the HTML report and ``summary.csv``. Its
quality columns and their headers are the experiment's task's (:mod:`.task_view`): ``top1 pre-ft, top1, top5``
for classification, ``ppl pre-ft, ppl, token top1`` for a language model."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence

from rich.table import Table

from .results import Results
from .summary import SPREAD, Point, mean_std
from .task_view import TaskView, default_view

LEADING = ("strategy", "target", "seeds", "ft epochs", "compression", "speedup")
"""The headers before the task's: its measured speedup -- ``measured b64`` at batch 64 (``latency_speedup_64``)
for a task that times batch 64, else ``measured b1`` (``latency_speedup``): see docs/results.md -- and its quality
columns."""
LABEL_HEADER = "results"


def headers(task: TaskView) -> tuple[str, ...]:
    """The report table's headers for an experiment of ``task``: :data:`LEADING`, then the task's."""
    return (*LEADING, *task.headers)


HEADERS = headers(default_view())
"""The headers of a classification experiment's table."""


def point_cells(point: Point, task: TaskView) -> list[str]:
    """The cells of one row of :func:`headers`: mean ± std over seeds, the value alone for one seed."""
    values = [mean_std(point.mean.get(c, math.nan), point.std.get(c, math.nan), point.seeds, task.digits(c))
              for c in task.summary_columns]
    epochs = "-" if point.epochs is None else str(point.epochs)
    return [point.strategy, f"{point.compression_target:g}", str(point.seeds), epochs, *values]


def table_rows(results: list[Results]) -> tuple[list[str], list[list[str]]]:
    """Headers and rows: one row per (strategy, target) of each directory, led by the directory's label
    when there are several (all of one task: the first's headers)."""
    labelled = len(results) > 1
    task = results[0].task if results else default_view()
    rows = [([r.label] if labelled else []) + point_cells(p, r.task) for r in results for p in r.points]
    return [LABEL_HEADER] * labelled + list(headers(task)), rows


def caption(results: list[Results]) -> str:
    """What the cells are: the task's primary metric on the test split after finetuning (accuracy, for
    top-1), the selection mode, the spread, the dense reference."""
    selections = "/".join(sorted({r.selection for r in results}))
    task = results[0].task if results else default_view()
    if len(results) == 1:
        dense = f"dense {task.named} {results[0].dense.text()}"
    else:
        dense = f"dense {task.named}: " + ", ".join(f"{r.label} {r.dense.text()}" for r in results)
    return f"{task.caption(selections)}; cells: {SPREAD}; {dense}"


def single_task(results: Sequence[Results]) -> bool:
    """Whether ``results`` share one task's columns and direction (one table can hold them)."""
    return len({(r.task.headers, r.task.primary.higher_is_better) for r in results}) <= 1


def csv_columns(results: Sequence[Results]) -> list[str]:
    """The summary columns of ``results`` (their tasks', each once, in order)."""
    return list(dict.fromkeys(c for r in results for c in r.task.summary_columns)) or list(default_view().summary_columns)


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
    columns = csv_columns(results)
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow([LABEL_HEADER] * labelled + ["strategy", "compression_target", "seeds", "finetune_epochs"]
                    + [f"{c}_{s}" for c in columns for s in ("mean", "std")])
    for r in results:
        for p in r.points:
            writer.writerow([r.label] * labelled + [p.strategy, p.compression_target, p.seeds, p.epochs]
                            + _values(p, columns))
    return text.getvalue()


GRID_HEADERS = ("dataset", "model", "variant")
"""The columns that lead a grid's table and summary.csv: which experiment a row is."""


def grid_table_rows(experiments: Sequence[Results]) -> tuple[list[str], list[list[str]]]:
    """Headers and rows of a grid's table: one row per (experiment, method, target), led by
    :data:`GRID_HEADERS`."""
    rows = [[e.dataset, e.model, e.variant, *point_cells(p, e.task)] for e in experiments for p in e.points]
    return [*GRID_HEADERS, *headers(experiments[0].task if experiments else default_view())], rows


def grid_summary_csv(experiments: Sequence[Results]) -> str:
    """A grid's ``summary.csv``: dataset, model, variant, then the columns of :func:`summary_csv`."""
    columns = csv_columns(experiments)
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow([*GRID_HEADERS, "strategy", "compression_target", "seeds", "finetune_epochs"]
                    + [f"{c}_{s}" for c in columns for s in ("mean", "std")])
    for e in experiments:
        for p in e.points:
            writer.writerow([e.dataset, e.model, e.variant, p.strategy, p.compression_target, p.seeds, p.epochs]
                            + _values(p, columns))
    return text.getvalue()


def _values(point: Point, columns: list[str]) -> list[float]:
    """Mean and std of each of ``columns`` (NaN where the point's task has no such column)."""
    return [v for c in columns for v in (point.mean.get(c, math.nan), point.std.get(c, math.nan))]
