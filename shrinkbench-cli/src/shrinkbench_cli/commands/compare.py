"""``shrinkbench compare``: several results directories in one table and one pair of plots."""

from __future__ import annotations

import click


@click.command()
@click.argument("directories", nargs=-1, required=True, type=click.Path(file_okay=False))
@click.option("--out", type=click.Path(file_okay=False), default="shrinkbench-compare", show_default=True,
              metavar="DIR", help="Where summary.csv, accuracy_vs_compression.png and accuracy_vs_speedup.png "
              "are written (created if missing).")
@click.option("--allow-different", is_flag=True,
              help="Compare directories of different datasets anyway (refused otherwise: their accuracies do "
              "not compare). The differing configuration keys are printed as a warning and shown in the plots.")
def compare(directories: tuple[str, ...], out: str, allow_different: bool) -> None:
    """Compare the results in two or more DIRECTORIES (written by 'shrinkbench bench').

    Typical uses: the same model and dataset with different recipes, selection modes or precisions, or
    different models on one dataset. Prints which keys of the fixed configurations (sweep.json) differ, then
    one table over all directories (mean ± std over seeds), and writes one pair of plots in which each curve
    is labelled by directory and strategy: one colour per strategy, one marker per directory.

    \b
    Example:
      shrinkbench compare shrinkbench-results/mnist-5k-lenet-300-100 shrinkbench-results/mnist-5k-lenet-5
    """
    from ..progress_view import make_console
    from ..reporting.compare import print_comparison

    print_comparison(list(directories), out, allow_different, make_console())
