"""``shrinkbench bench``: a controlled prune-and-finetune sweep."""

from __future__ import annotations

import click

from ..options import FloatList, IntList

DEFAULT_DATASET = "mnist-5k"
DEFAULT_MODEL = "lenet-300-100"
DEFAULT_COMPRESSIONS = "1,2,4,8,16,32"


@click.command()
@click.option("--strategy", "-s", "strategies", multiple=True, metavar="NAME",
              help="Strategy to run (repeatable; aliases like GlobalMagWeight work). Default: every installed one.")
@click.option("--model", "-m", default=None, metavar="NAME", help=f"Model name (default {DEFAULT_MODEL}; 'timm:resnet18' style for families).")
@click.option("--dataset", "-d", default=None, metavar="NAME", help=f"Dataset name (default {DEFAULT_DATASET}, bundled).")
@click.option("--compression", "-c", "compressions", type=FloatList(1, "compression"), default=None,
              help=f"Target compressions (total params / nonzero params), comma separated; real numbers allowed. Default {DEFAULT_COMPRESSIONS}.")
@click.option("--seeds", type=IntList(), default=None, help="Seeds, comma separated (default 0). Each seed has its own dense model.")
@click.option("--finetune-epochs", type=click.IntRange(0), default=None, help="Override the finetune recipe's epochs.")
@click.option("--finetune-lr", type=click.FloatRange(0, min_open=True), default=None, help="Override the finetune learning rate.")
@click.option("--pretrain-epochs", type=click.IntRange(0), default=None, help="Override the dense pretraining epochs.")
@click.option("--pretrain-lr", type=click.FloatRange(0, min_open=True), default=None, help="Override the pretraining learning rate.")
@click.option("--batch-size", type=click.IntRange(1), default=None, help="Batch size for pretraining and finetuning.")
@click.option("--val-fraction", type=click.FloatRange(0, 1, max_open=True), default=None,
              help="Fraction of the training data held out for validation (default 0.1, seeded, per class).")
@click.option("--select", "selection", type=click.Choice(["final", "best-val"]), default=None,
              help="Report the final finetuned model (default) or the epoch best on the validation split. Never the test split.")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), default=None,
              help="TOML file with sweep keys and [pretrain]/[finetune] recipe tables; flags override it.")
@click.option("--checkpoint", type=click.Path(dir_okay=False), default=None,
              help="Your own dense weights (safetensors or torch.save state dict) instead of pretraining.")
@click.option("--data-root", type=click.Path(file_okay=False), default=None,
              help="Directory holding the dataset files (default $DATAPATH).")
@click.option("--include-classifier", is_flag=True, default=None, help="Prune the classifier layer too (off, as in ShrinkBench).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Results directory (default ./shrinkbench-results/<dataset>-<model>). Re-running resumes it.")
@click.option("--jobs", "-j", type=click.IntRange(1), default=1, show_default=True,
              help="Runs in parallel worker processes (each run uses --threads torch threads; results are identical "
              "to --jobs 1).")
@click.option("--threads", type=click.IntRange(1), default=None,
              help="torch threads inside each run (default 1: fastest for small models, and identical results "
              "for any --jobs).")
@click.option("--no-report", is_flag=True, help="Skip the table and plots at the end.")
def bench(**opts) -> None:
    """Prune and finetune under identical conditions, then report accuracy against compression and speedup.

    Runs every combination of --strategy x --compression x --seeds on one --model/--dataset. The dense model
    is trained once per seed and cached ($SHRINKBENCH_CACHE); every strategy starts from the same weights and
    is finetuned with the same recipe. Rows go to DIR/results.csv as each run finishes; interrupt at any time
    and re-run the same command to resume.

    \b
    Examples:
      shrinkbench bench                                      # bundled default, under a minute on 2 CPUs
      shrinkbench bench -s global-magnitude -s random -c 2,8,32 --seeds 0,1,2
      shrinkbench bench -d cifar10 -m resnet56 --data-root ~/data --jobs 2
    """
    from ..bench_runner import run_bench

    run_bench(opts)
