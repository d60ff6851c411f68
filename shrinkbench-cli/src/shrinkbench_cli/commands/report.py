"""``shrinkbench report``: table, plots and HTML report of a results directory."""

from __future__ import annotations

import sys

import click


@click.command()
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--to", "to", type=click.Path(file_okay=False), metavar="OTHER_DIR",
              help="Write the report files here instead of into DIRECTORY (created if missing); for a read-only "
              "results directory, or to keep several reports apart.")
@click.option("--run", "run_id", metavar="RUN_ID",
              help="Run whose per-layer sparsity is plotted (sparsity_RUN_ID.png), e.g. global-magnitude_c16_s0 "
              "(the names of DIRECTORY/runs/). Default: the highest-compression successful run of the first "
              "strategy in results.csv, lowest seed.")
def report(directory: str, to: str | None, run_id: str | None) -> None:
    """Summarise the results in DIRECTORY (written by 'shrinkbench bench').

    Prints top-1/top-5 accuracy, achieved compression, theoretical and measured speedup per method (a
    strategy, with its schedule when not one-shot, and its finetuning epochs) and target compression as
    mean ± std over seeds (sample std; a single seed shows its value alone), with the dense models' top-1 as
    mean ± std over seeds. Writes, into DIRECTORY (or --to):

    \b
      summary.csv                  the table (mean and std columns)
      accuracy_vs_compression.png  top-1 against achieved compression / theoretical
      accuracy_vs_speedup.png      speedup / measured speedup (log-2 axis): a curve
      accuracy_vs_measured_speedup.png  per method, error bars ± std over seeds,
                                   dense top-1 as reference
      sparsity_RUN_ID.png          zero weights per weight tensor of one run (--run)
      report.html                  all of the above in one self-contained page, with
                                   the fixed configuration, run counts, failed runs

    Exits with 1 when no run in DIRECTORY succeeded (nothing is written), 2 on bad input or a file that cannot
    be written (the table is still printed).
    """
    from ..progress_view import make_console
    from ..reporting.render import print_report

    if not print_report(directory, make_console(), to=to, run_id=run_id):
        sys.exit(1)
