"""The report of a grid (a results directory of several experiments: pairs and/or variants).

Terminal, in this order: what the grid holds; a ``WARNING:`` line per (dataset, model) pair whose dense models
fall short of the published top-1; the experiments with their dense models; one summary table per experiment
(one row per method and target); the confounders section (per variant axis: the rankings, Kendall's tau, the
rank flips beyond seed noise); the files written. Files: summary.csv (led by dataset, model, variant), the
three small-multiples figures (:mod:`.grid_plots`), the sparsity plot of one run, report.html
(:mod:`.grid_html`). Each pair speaks of its own task's primary metric (top-1; perplexity, lower is better, for a
language model): its table's headers, its panels' y axis, its rankings.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from .confounders import FLIP_RULE, AxisReport, confounders, tau_rule
from .grid_html import grid_subject, render_grid_html
from .grid_plots import grid_panels, panel_key, small_multiples
from .grid_tables import (
    axis_title,
    changes,
    changes_text,
    dense_models_title,
    experiment_rows,
    flip_line,
    flips_summary,
    ranking_rows,
)
from .html_report import Figure
from .output import OutputDir
from .plots import AXES
from .results import Directory, report_warnings
from .table import caption, grid_summary_csv, rich_table
from .task_view import metrics_phrase

PANEL_CAPTION = ("one panel per (dataset, model) pair (columns) and recipe variant (rows); the same colour is the "
                 "same strategy in every panel; points: mean over seeds, error bars ± one sample std (none for a "
                 "single seed: dashed curve, hollow markers); grey line and band: the panel's dense models, mean ± "
                 "std over seeds; black dotted line: the published dense top-1; a red panel title: its dense model "
                 "falls short of it, its results are not comparable")


def grid_title(directory: Directory) -> list[str]:
    """The figures' title lines: what the grid holds, and each variant's changes from the base."""
    diff = changes(directory)
    variants: dict[str, str] = {}
    for e in directory.experiments:
        variants.setdefault(e.variant, changes_text(diff[e.slug]))
    selections = "/".join(sorted({e.selection for e in directory.experiments}))
    described = "; ".join(f"{v}: {c}" if c != "-" else v for v, c in variants.items())
    return [f"{grid_subject(directory)}: {metrics_phrase(directory.tasks())} after finetuning (select: {selections})",
            f"rows: variants ({described})"]


def grid_figures(directory: Directory, render: bool = True) -> list[Figure]:
    """The three small-multiples figures of the grid (PNG bytes empty unless ``render``); their panels are listed
    row by row."""
    panels = grid_panels(directory)
    keys = tuple(panel_key(p.members[0]) for p in sorted(panels, key=lambda p: (p.row, p.column)))
    pngs = small_multiples(panels, grid_title(directory), directory.strategies()) if render else {}
    metrics = metrics_phrase(directory.tasks())
    return [Figure(name, pngs.get(name, b""), f"{metrics} against {label}; {PANEL_CAPTION}", keys)
            for _, label, name in AXES]


def _table(headers: list[str], rows: list[list[str]], left: int) -> Table:
    table = Table()
    for i, header in enumerate(headers):
        table.add_column(header, justify="left" if i < left else "right")
    for row in rows:
        table.add_row(*row)
    return table


def print_confounders(console: Console, reports: list[AxisReport]) -> None:
    """The confounders section in the terminal."""
    console.print("Confounders: does a variant change which strategy wins?", style="bold", markup=False)
    if not reports:
        console.print("one variant only: no confounder to examine (run variants with --variant)", markup=False)
        return
    rule = tau_rule([r.task for report in reports for r in report.rankings])
    console.print(f"{rule}; {FLIP_RULE}.", markup=False, soft_wrap=True)
    for report in reports:
        console.print(f"axis {axis_title(report)}", style="bold", markup=False, soft_wrap=True)
        headers, rows = ranking_rows(report)
        console.print(_table(headers, rows, len(headers) - 2 * (len(report.axis.variants) - 1)))
        console.print(flips_summary(report), markup=False, soft_wrap=True)
        for flip in report.flips:
            console.print(f"  flip: {flip_line(flip)}", markup=False, soft_wrap=True)


def print_grid(directory: Directory, console: Console, out: OutputDir, sparsity: Figure | None,
               versions: str) -> list[Path]:
    """Print the grid's report and write its files into ``out``; return the files written."""
    console.print(grid_subject(directory) + ": " + ", ".join(f"{e.dataset} · {e.model} · {e.variant}"
                                                             for e in directory.experiments),
                  markup=False, soft_wrap=True)
    for line in report_warnings(directory.experiments):
        console.print(line, style="bold red", markup=False, soft_wrap=True)
    headers, rows = experiment_rows(directory)
    console.print(dense_models_title(directory), markup=False)
    console.print(_table(headers, rows, 4))
    for e in directory.experiments:  # one table per experiment: a grid's columns would not fit a terminal
        console.print(f"{e.dataset} · {e.model} · variant {e.variant}: {caption([e])}", style="bold", markup=False,
                      soft_wrap=True)
        console.print(rich_table([e]))
    reports = confounders(directory)
    print_confounders(console, reports)
    figures = grid_figures(directory) + ([sparsity] if sparsity else [])
    files = [out.write("summary.csv", grid_summary_csv(directory.experiments)),
             *(out.write(f.name, f.png) for f in figures),
             out.write("report.html", render_grid_html(directory, figures, reports, versions))]
    failed = sum(len(e.failed) for e in directory.experiments)
    console.print(f"{len(directory.rows)} runs ({failed} failed). Wrote {', '.join(f.name for f in files)} "
                  f"in {out.directory}", markup=False)
    return files

