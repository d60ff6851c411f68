"""``shrinkbench compare``: several results directories (single pairs or grids) in one table and one set of
plots, or as JSON."""

from __future__ import annotations

import click


@click.command()
@click.argument("directories", nargs=-1, required=True, type=click.Path(file_okay=False))
@click.option("--out", type=click.Path(file_okay=False), default="shrinkbench-compare", show_default=True,
              metavar="DIR", help="Where summary.csv, accuracy_vs_compression.png, accuracy_vs_speedup.png and "
              "accuracy_vs_measured_speedup.png are written (created if missing).")
@click.option("--allow-different/--no-allow-different", default=False,
              help="Compare directories of different datasets, or results of one dataset measured under "
              "different protocols (a language model's evaluation window or tokenizer), anyway (refused otherwise: "
              "their values do not compare). What differs is printed as a warning and shown in the plots.")
@click.option("--json/--no-json", "as_json", default=False,
              help="Print the comparison as one JSON document on stdout (nothing else) and write no file; its "
              "schema is described below.")
def compare(directories: tuple[str, ...], out: str, allow_different: bool, as_json: bool) -> None:
    """Compare the results in two or more DIRECTORIES (written by 'shrinkbench bench').

    Typical uses: the same model and dataset with different recipes, selection modes or precisions, or
    different models on one dataset, or grids made by different people. Every experiment of every directory
    takes part, labelled DIR (the only experiment of its directory) or DIR:EXPERIMENT (a grid's). Prints
    which keys of the experiments' fixed configurations (sweep.json) differ and which results.csv columns only
    some directories have, a WARNING line for every (dataset, model) pair whose dense models fall short of the
    published top-1, then one table over all experiments (mean ± std over seeds; one table per experiment
    for grids or experiments of different tasks), and writes summary.csv and the three plots of the primary
    metric (top-1; perplexity, lower is better, for a language model) against compression, theoretical and
    measured speedup, in which each curve is labelled by experiment and strategy: one colour per strategy,
    one marker per experiment; one panel per dataset when there are several, each with its own metric.

    Directories of different datasets (their sets of datasets differ) are refused unless --allow-different,
    and so are results of one dataset measured under different protocols (eval_context, eval_windows or
    tokenizer of a language model's perplexity: rows measured differently do not compare).
    Exit 2 with one line on stderr on bad input: fewer than two directories, a missing or foreign directory,
    a damaged results.csv or sweep.json, a directory without a successful run.

    \b
    --json prints {"schema": "shrinkbench-compare/1", ...} with the keys:
      directories         [{label, directory, columns, experiments [slugs]}]
      experiments         [{label, slug, dataset, model, variant, task {name,
                           primary, metrics, note}, fingerprint, runs,
                           succeeded, failed, strategies,
                           compression_targets, seeds, dense_<primary> {mean,
                           std, seeds}, reference {top1, source, below} | null,
                           comparable, fixed {dotted keys}, changes {}}]
      differences         {key: {label: value}}  (fixed keys that differ)
      column_differences  {column: [labels of the directories that have it]}
      warnings            [lines]
      summary             [{results, dataset, model, variant, strategy,
                           compression_target, seeds, finetune_epochs,
                           <column> {mean, std}}]
      figures             [{name, panels [{dataset}]}]
    Accuracies are fractions, perplexities exp(mean token NLL); a missing number is null.

    \b
    Example:
      shrinkbench compare shrinkbench-results/mnist-5k-lenet-300-100 shrinkbench-results/mnist-5k-lenet-5
    """
    if as_json:
        from ..reporting.compare import comparison_document
        from ..reporting.json_report import dumps

        click.echo(dumps(comparison_document(list(directories), allow_different)))
        return
    from ..progress_view import make_console
    from ..reporting.compare import print_comparison

    print_comparison(list(directories), out, allow_different, make_console())
