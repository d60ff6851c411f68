"""``shrinkbench report``: table, plots and HTML report of a results directory (one experiment or a grid), or
all of it as JSON."""

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
@click.option("--json/--no-json", "as_json", default=False,
              help="Print the whole report as one JSON document on stdout (nothing else) and write no file; its "
              "schema is described below.")
def report(directory: str, to: str | None, run_id: str | None, as_json: bool) -> None:
    """Summarise the results in DIRECTORY (written by 'shrinkbench bench').

    Prints the task's metrics -- top-1/top-5 accuracy for classification; perplexity (lower is better) and
    next-token top-1 for a language model -- with achieved compression, theoretical and measured speedup per
    method (a strategy, with its schedule when not one-shot, and its finetuning epochs) and target
    compression as mean ± std over seeds (sample std; a single seed shows its value alone), with the dense
    models' primary metric (top-1, perplexity) as mean ± std over seeds. A WARNING line names every (dataset,
    model) pair whose dense models fall short of the published top-1: its results are not comparable; a NOTE
    line names a task no installed plugin registers (its rows are ranked by the metric they record for the
    dense model). Writes, into DIRECTORY (or --to):

    \b
      summary.csv                  the table (mean and std columns)
      accuracy_vs_compression.png  the primary metric (top-1, perplexity) against
      accuracy_vs_speedup.png      achieved compression / theoretical speedup /
      accuracy_vs_measured_speedup.png  measured speedup (log-2 axis): a curve
                                   per method, error bars ± std over seeds,
                                   the dense models as reference
      sparsity_RUN_ID.png          zero weights per weight tensor of one run (--run)
      report.html                  all of the above in one self-contained page, with
                                   the fixed configuration, run counts, failed runs

    A grid (several datasets, models or --variant in one directory) reports every experiment: the table and
    summary.csv gain dataset, model and variant columns; each plot becomes small multiples, one panel per
    (dataset, model) pair (columns) and variant (rows), the same colour per strategy in every panel, each pair
    with its own task's metric (a text pair beside a vision pair: perplexity beside top-1); and a
    confounders section shows, for each variant axis (the keys a variant changes from the default variant,
    e.g. finetune.lr), the ranking of the strategies (best first by the pair's primary metric: lowest
    perplexity first) at each compression under each variant, Kendall's tau-b
    between the rankings (of the means, and per seed: mean ± std over seeds), and the rank flips that exceed
    the seeds' noise: a beats b under one variant and b beats a under another, each mean difference larger
    than its standard error sqrt(sa²/na + sb²/nb), 2 seeds or more per cell.

    \b
    --json prints {"schema": "shrinkbench-report/1", ...} with the keys:
      directory, versions, title, grid (bool), spread, warnings [lines],
      experiments   [{slug, dataset, model, variant, task {name, primary,
                     metrics [{column, higher_is_better, unit}], note},
                     fingerprint, changes, runs, succeeded, failed,
                     strategies, compression_targets, seeds, dense_<primary>
                     (dense_top1, dense_perplexity) {mean, std, seeds},
                     reference {top1, source, below} | null, comparable,
                     fixed {dotted keys}}]
      summary       [{dataset, model, variant, strategy, compression_target,
                     seeds, finetune_epochs, <column> {mean, std}}]  columns:
                     compression, speedup, latency_speedup_64 (+ xerr), then
                     the task's: top1_pre, top1, top5 (classification);
                     perplexity_pre, perplexity, token_top1 (causal-lm)
      figures       [{name, caption, panels [{dataset, model, variant}]}]
      sparsity      {run_id, layers [{name, shape, zeros, size}]} | null
      confounders   {base, tau_rule, flip_rule, axes [{keys, name, base,
                     variants, rankings [{dataset, model, compression_target,
                     metric, higher_is_better, by_variant {variant: [{strategy, rank, mean, std, seeds,
                     by_seed}]}, tau [{variant, means, per_seed_mean,
                     per_seed_std, seeds}]}], flips [{dataset, model,
                     compression_target, winner, loser, under, difference, se,
                     reversed_under, reversed_difference, reversed_se}],
                     within_noise}]}
      failed_runs   [{run_id, error}]
    Accuracies are fractions, perplexities exp(mean token NLL); a missing number is null.

    Exits with 1 when no run in DIRECTORY succeeded (nothing is written; --json still prints), 2 on bad input
    (a missing or foreign directory, a damaged results.csv or sweep.json: one line on stderr, nothing written)
    or a file that cannot be written (the table is still printed).
    """
    if as_json:
        from ..reporting.json_report import dumps
        from ..reporting.render import report_document

        document = report_document(directory, run_id)
        click.echo(dumps(document))
        if not document["summary"]:
            sys.exit(1)
        return
    from ..progress_view import make_console
    from ..reporting.render import print_report

    if not print_report(directory, make_console(), to=to, run_id=run_id):
        sys.exit(1)
