"""``shrinkbench report``: table and plots of a results directory."""

from __future__ import annotations

import click


@click.command()
@click.argument("directory", type=click.Path(file_okay=False))
def report(directory: str) -> None:
    """Summarise the results in DIRECTORY (written by 'shrinkbench bench').

    Prints top-1/top-5 accuracy, achieved compression and theoretical speedup per strategy and target
    compression (mean ± std over seeds), and writes DIRECTORY/summary.csv, accuracy_vs_compression.png and
    accuracy_vs_speedup.png (log-2 x axis, dense accuracy as reference).
    """
    from ..progress_view import make_console
    from ..reporting.render import print_report

    print_report(directory, make_console())
