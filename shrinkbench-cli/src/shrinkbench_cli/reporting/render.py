"""The report of a results directory: a rich table in the terminal; summary.csv, the accuracy plots, the
per-layer sparsity plot of one run and the self-contained report.html in the output directory; or all of it
as one JSON document (:func:`report_document`).

A directory of one experiment is reported as it always was (one table, one plot per metric); a directory of
several (a grid: pairs and variants) by :mod:`.grid_report`. Either way a ``WARNING:`` line names every (dataset,
model) pair whose dense models fall short of their published top-1, a ``NOTE:`` line names a task the installed
plugins do not know (:func:`.results.task_notes`), and one counts the runs whose measured speedup left the mask
band (:func:`.results.latency_band_warning`). Tables, plots and captions speak of each experiment's task's
primary metric (:mod:`.task_view`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console

from shrinkbench import schema

from ..versions import cli_version
from .confounders import base_variant, confounders
from .grid_html import grid_subject
from .grid_report import grid_figures, print_grid
from .grid_tables import changes
from .html_report import Figure, render_html
from .json_report import REPORT_SCHEMA, confounders_dict, experiment_dict, summary_dicts
from .output import OutputDir
from .plots import AXES, accuracy_plots
from .results import Directory, Results, load_directory, report_warnings
from .sparsity import layer_sparsity, run_weights, sparsity_plot, weights_path
from .summary import SPREAD
from .table import caption, rich_table, summary_csv
from .task_view import TaskView

ACCURACY_CAPTION = (f"top-1 on the test split after finetuning, {SPREAD}: points are means, error bars ± one sample "
                    "std (none for a single seed: dashed curve, hollow markers); grey line and band: the dense "
                    "models, mean ± std over seeds")
"""The caption of a classification experiment's plots (:func:`plot_caption`)."""


def plot_caption(task: TaskView) -> str:
    """The caption of the plots of an experiment of ``task``: :data:`ACCURACY_CAPTION` with its primary metric
    (``perplexity (lower is better) on the test split ...``)."""
    return ACCURACY_CAPTION.replace("top-1", task.phrase, 1)
SPARSITY_CAPTION = "fraction of zero entries of each weight tensor (2-d and up, in file order) of this run"


def chosen_run(results: Results, run_id: str | None) -> tuple[dict[str, Any], Path] | None:
    """The row and weights file of the run whose per-layer sparsity is plotted: ``run_id``, or by default the
    highest-compression successful run of the first strategy (in file order), lowest seed. ``None`` when
    there is no default run with saved weights; an explicit ``run_id`` without weights is a one-line
    :class:`~shrinkbench.errors.ShrinkBenchError`."""
    if run_id is not None:
        return weights_path(results, run_id)
    row = results.highest_compression_run()
    if row is None:
        return None
    path = run_weights(results, row[schema.RUN_ID])
    return (row, path) if path.is_file() else None


def _experiment_of(directory: Directory, row: dict[str, Any]) -> Results:
    slug = row[schema.RUN_ID].partition("/")[0]
    return next((e for e in directory.experiments if e.slug == slug), directory.merged())


def sparsity_figure(directory: Directory, run: tuple[dict[str, Any], Path] | None) -> Figure | None:
    """The sparsity plot of the chosen run (``None`` without one)."""
    if run is None:
        return None
    row, path = run
    return Figure(f"sparsity_{row[schema.RUN_ID].replace('/', '_')}.png",
                  sparsity_plot(layer_sparsity(path), _experiment_of(directory, row), row), SPARSITY_CAPTION)


def _figures(results: Results, sparsity: Figure | None) -> list[Figure]:
    task = results.task
    plots = accuracy_plots([results], [f"{results.title()}: {task.phrase} after finetuning", results.recipe_line()])
    return [Figure(name, png, plot_caption(task)) for name, png in plots.items()] + ([sparsity] if sparsity else [])


def print_report(directory: str | Path, console: Console | None = None, to: str | Path | None = None,
                 run_id: str | None = None, registry: Any = None) -> list[Path]:
    """Print the report of ``directory`` and write summary.csv, the accuracy plots (small multiples for a grid),
    the sparsity plot of one run (see :func:`chosen_run`) and report.html into ``to`` (default: ``directory``);
    return the files written.

    A directory without a successful run prints so and writes nothing (returns ``[]``). Bad input (see
    :mod:`.inputs`; an unknown ``run_id``) and a file that cannot be written (read-only directory) raise a
    one-line :class:`~shrinkbench.errors.ShrinkBenchError`; the table is printed before anything is written.
    Tasks are looked up in ``registry`` (default: the installed plugins').
    """
    console = console or Console()
    loaded = load_directory(directory, registry=registry)
    merged = loaded.merged()
    run = chosen_run(merged, run_id)
    failed = len(merged.failed)
    if not merged.points:
        first = f" (first error: {merged.failed[0].get(schema.ERROR, '')})" if failed else ""
        console.print(f"no successful run in {directory}: {len(merged.rows)} runs, {failed} failed{first}",
                      markup=False)
        return []
    out = OutputDir(Path(to or directory), f"write the report elsewhere with 'shrinkbench report {directory} "
                                           "--to OTHER_DIR'")
    versions = f"shrinkbench-cli {cli_version()}"
    if loaded.is_grid:
        return print_grid(loaded, console, out, sparsity_figure(loaded, run), versions)
    for line in report_warnings([merged]):
        console.print(line, style="bold red", markup=False, soft_wrap=True)
    console.print(caption([merged]), markup=False)
    console.print(rich_table([merged]))
    figures = _figures(merged, sparsity_figure(loaded, run))
    files = [out.write("summary.csv", summary_csv([merged])), *(out.write(f.name, f.png) for f in figures),
             out.write("report.html", render_html(merged, figures, versions))]
    console.print(f"{len(merged.rows)} runs ({failed} failed). Wrote {', '.join(f.name for f in files)} "
                  f"in {out.directory}", markup=False)
    return files


def report_document(directory: str | Path, run_id: str | None = None, registry: Any = None) -> dict[str, Any]:
    """Everything :func:`print_report` shows and writes, as one JSON-ready document (schema
    :data:`~.json_report.REPORT_SCHEMA`, keys :data:`~.json_report.REPORT_KEYS`); nothing is written. Bad
    input raises like :func:`print_report`."""
    loaded = load_directory(directory, registry=registry)
    merged = loaded.merged()
    run = chosen_run(merged, run_id)
    diff = changes(loaded) if loaded.is_grid else {e.slug: {} for e in loaded.experiments}
    if loaded.is_grid:
        figures = [{"name": f.name, "caption": f.caption, "panels": list(f.panels)}
                   for f in grid_figures(loaded, render=False)]
        title = f"ShrinkBench report: {grid_subject(loaded)}"
    else:
        panel = [{"dataset": merged.dataset, "model": merged.model, "variant": merged.variant}]
        figures = [{"name": name, "caption": plot_caption(merged.task), "panels": panel} for _, _, name in AXES]
        title = f"ShrinkBench report: {merged.title()}"
    sparsity = None
    if run is not None:
        row, path = run
        figures.append({"name": f"sparsity_{row[schema.RUN_ID].replace('/', '_')}.png", "caption": SPARSITY_CAPTION,
                        "panels": []})
        sparsity = {"run_id": row[schema.RUN_ID], "layers": [
            {"name": layer.name, "shape": list(layer.shape), "zeros": layer.zeros, "size": layer.size}
            for layer in layer_sparsity(path)]}
    reports = confounders(loaded) if loaded.is_grid else []
    return {
        "schema": REPORT_SCHEMA,
        "directory": str(directory),
        "versions": f"shrinkbench-cli {cli_version()}",
        "grid": loaded.is_grid,
        "title": title,
        "spread": SPREAD,
        "warnings": report_warnings(loaded.experiments),
        "experiments": [experiment_dict(e, diff.get(e.slug, {})) for e in loaded.experiments],
        "summary": [row for e in loaded.experiments
                    for row in summary_dicts(e, {"dataset": e.dataset, "model": e.model, "variant": e.variant})],
        "figures": figures if merged.points else [],
        "sparsity": sparsity,
        "confounders": confounders_dict(reports, base_variant(loaded) if loaded.is_grid else None),
        "failed_runs": [{"run_id": r[schema.RUN_ID], "error": r.get(schema.ERROR, "")} for r in merged.failed],
    }
