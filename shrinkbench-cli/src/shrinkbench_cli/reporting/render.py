"""The report of a results directory: a rich table in the terminal; summary.csv, the accuracy plots, the
per-layer sparsity plot of one run and the self-contained report.html in the output directory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console

from shrinkbench import schema

from ..versions import cli_version
from .html_report import Figure, render_html
from .output import OutputDir
from .plots import accuracy_plots
from .results import Results, load_results
from .sparsity import layer_sparsity, run_weights, sparsity_plot, weights_path
from .summary import SPREAD
from .table import caption, rich_table, summary_csv

ACCURACY_CAPTION = (f"top-1 on the test split after finetuning, {SPREAD}: points are means, error bars ± one sample "
                    "std (none for a single seed: dashed curve, hollow markers); grey line and band: the dense "
                    "models, mean ± std over seeds")


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


def _figures(results: Results, run: tuple[dict[str, Any], Path] | None) -> list[Figure]:
    plots = accuracy_plots([results], [f"{results.title()}: top-1 after finetuning", results.recipe_line()])
    figures = [Figure(name, png, ACCURACY_CAPTION) for name, png in plots.items()]
    if run is not None:
        row, path = run
        figures.append(Figure(f"sparsity_{row[schema.RUN_ID].replace('/', '_')}.png", sparsity_plot(layer_sparsity(path), results, row),
                              "fraction of zero entries of each weight tensor (2-d and up, in file order) of this run"))
    return figures


def print_report(directory: str | Path, console: Console | None = None, to: str | Path | None = None,
                 run_id: str | None = None) -> list[Path]:
    """Print the summary table of ``directory`` and write summary.csv, the accuracy plots, the sparsity plot
    of one run (see :func:`chosen_run`) and report.html into ``to`` (default: ``directory``); return the
    files written.

    A directory without a successful run prints so and writes nothing (returns ``[]``). Bad input (no
    results.csv, an unknown ``run_id``) and a file that cannot be written (read-only directory) raise a
    one-line :class:`~shrinkbench.errors.ShrinkBenchError`; the table is printed before anything is written.
    """
    console = console or Console()
    results = load_results(directory)
    run = chosen_run(results, run_id)
    failed = len(results.failed)
    if not results.points:
        first = f" (first error: {results.failed[0].get(schema.ERROR, '')})" if failed else ""
        console.print(f"no successful run in {directory}: {len(results.rows)} runs, {failed} failed{first}",
                      markup=False)
        return []
    console.print(caption([results]), markup=False)
    console.print(rich_table([results]))
    out = OutputDir(Path(to or directory), f"write the report elsewhere with 'shrinkbench report {directory} "
                                           "--to OTHER_DIR'")
    figures = _figures(results, run)
    files = [out.write("summary.csv", summary_csv([results])), *(out.write(f.name, f.png) for f in figures),
             out.write("report.html", render_html(results, figures, f"shrinkbench-cli {cli_version()}"))]
    console.print(f"{len(results.rows)} runs ({failed} failed). Wrote {', '.join(f.name for f in files)} "
                  f"in {out.directory}", markup=False)
    return files
