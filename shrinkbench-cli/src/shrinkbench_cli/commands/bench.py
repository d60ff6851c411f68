"""``shrinkbench bench``: a controlled prune-and-finetune sweep."""

from __future__ import annotations

import click

from ..options import NumberList


@click.command()
@click.option("--strategy", "-s", multiple=True, metavar="NAME",
              help="Strategy to run (repeatable; aliases like GlobalMagWeight work). Default: every installed one.")
@click.option("--schedule", multiple=True, metavar="NAME",
              help="Pruning schedule (repeatable: every strategy runs under each): oneshot (default), iterative "
              "(rounds of prune + finetune), gradual (cubic sparsity ramp during finetuning). 'shrinkbench list "
              "schedules' shows their options.")
@click.option("--schedule-option", multiple=True, metavar="KEY=VALUE",
              help="A schedule option (repeatable), e.g. rounds=3, rewind_epoch=1, start=0, end=0.75, frequency=10.")
@click.option("--model", "-m", metavar="NAME", help="Model name (default lenet-300-100; 'timm:resnet18' style for families).")
@click.option("--dataset", "-d", metavar="NAME", help="Dataset name (default mnist-5k, bundled).")
@click.option("--compression", "-c", type=NumberList(), metavar="LIST",
              help="Target compressions (total params / nonzero params), comma separated, each >= 1; real numbers "
              "allowed. Default 1,2,4,8,16,32.")
@click.option("--seeds", type=NumberList(integers=True), metavar="LIST",
              help="Seeds, comma separated (default 0). Each seed has its own dense model.")
@click.option("--finetune-epochs", type=int, metavar="N", help="Override the finetune recipe's epochs.")
@click.option("--finetune-lr", type=float, metavar="LR", help="Override the finetune learning rate.")
@click.option("--pretrain-epochs", type=int, metavar="N", help="Override the dense pretraining epochs.")
@click.option("--pretrain-lr", type=float, metavar="LR", help="Override the pretraining learning rate.")
@click.option("--batch-size", type=int, metavar="N", help="Batch size of pretraining and finetuning.")
@click.option("--eval-batch-size", type=int, metavar="N", help="Batch size of evaluation (default 256).")
@click.option("--val-fraction", type=float, metavar="F",
              help="Fraction of the training data held out for validation (default 0.1, seeded, per class).")
@click.option("--select", type=click.Choice(["final", "best-val"]),
              help="Report the final finetuned model (default) or the epoch best on the validation split. "
              "Never the test split.")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), metavar="FILE",
              help="TOML file: the same settings as these flags (key = flag without '--'), plus [pretrain] and "
              "[finetune] recipe tables; flags override it.")
@click.option("--pretrained", metavar="TAG|PATH",
              help="Start dense pretraining from these weights: a local state dict, or a tag of the model's source "
              "(torchvision: DEFAULT, IMAGENET1K_V1; timm: a pretrained tag) already in the local cache. A "
              "classifier for another number of classes is replaced. --pretrain-epochs 0 uses them as they are.")
@click.option("--checkpoint", type=click.Path(dir_okay=False), metavar="PATH",
              help="Your own dense weights for this dataset (safetensors or torch.save state dict), used as they "
              "are instead of pretraining.")
@click.option("--data-root", type=click.Path(file_okay=False), metavar="DIR",
              help="Directory holding the dataset files (default $DATAPATH).")
@click.option("--include-classifier", is_flag=True, default=None, help="Prune the classifier layer too (off, as in ShrinkBench).")
@click.option("--out", type=click.Path(file_okay=False), metavar="DIR",
              help="Results directory (default ./shrinkbench-results/<dataset>-<model>). Re-running resumes it.")
@click.option("--device", metavar="NAME",
              help="Where runs execute: auto (default: CUDA if available, else MPS, else CPU), cpu, cuda, cuda:N or "
              "mps. Recorded in every row; weights are always saved as CPU tensors.")
@click.option("--precision", type=click.Choice(["fp32", "bf16", "fp16"]),
              help="fp32 (default), or autocast to bf16/fp16 (fp16 with a gradient scaler). Part of the configuration.")
@click.option("--jobs", "-j", type=int, metavar="N",
              help="Runs in N parallel worker processes (default 1). On CUDA, worker k uses GPU k mod (GPUs).")
@click.option("--executor", metavar="NAME",
              help="How runs are dispatched: sequential (default for --jobs 1), local (worker processes, default "
              "for --jobs N), or an installed plugin's (e.g. ray). See 'shrinkbench list executors'.")
@click.option("--executor-option", multiple=True, metavar="KEY=VALUE",
              help="An option of the executor (repeatable), e.g. --executor-option address=auto for ray. In a "
              "config file: an [executor] table with name = ... and the options.")
@click.option("--threads", metavar="N|auto",
              help="torch threads inside each run (default auto: CPU cores / jobs). An explicit value makes "
              "--jobs 2 reproduce --jobs 1 bit for bit.")
@click.option("--workers", metavar="N|auto",
              help="DataLoader worker processes for folder datasets like ImageNet (default auto: min(8, cores / "
              "jobs)). In-memory datasets (MNIST, CIFAR) are batched on the device and need none.")
@click.option("--deterministic", is_flag=True, default=None,
              help="Deterministic algorithms and cuDNN settings on CUDA (slower; see the README for what is "
              "bit-reproducible).")
@click.option("--compile", is_flag=True, default=None,
              help="torch.compile the model (CUDA graphs on CUDA, fused optimizer, full batches only). A model "
              "that fails to compile trains eagerly, with a note in its row.")
@click.option("--channels-last", is_flag=True, default=None, help="NHWC memory format for convolutional models.")
@click.option("--no-report", is_flag=True, help="Skip the table and plots at the end.")
def bench(config_file: str | None, no_report: bool, **overrides) -> None:
    """Prune and finetune under identical conditions, then report accuracy against compression and speedup.

    Runs every combination of --strategy x --compression x --seeds on one --model/--dataset. The dense model
    is trained once per seed and cached ($SHRINKBENCH_CACHE); every strategy starts from the same weights and
    is finetuned with the same recipe. Rows go to DIR/results.csv as each run finishes; interrupt at any time
    and re-run the same command to resume.

    \b
    Examples:
      shrinkbench bench                                      # bundled default: 54 runs, ~30 s on 2 CPUs
      shrinkbench bench -s global-magnitude -s random -c 2,8,32 --seeds 0,1,2
      shrinkbench bench -d cifar10 -m resnet56 --data-root ~/data --device cuda --compile
      shrinkbench bench -d imagenet -m torchvision:resnet18 --pretrained IMAGENET1K_V1 --pretrain-epochs 0

    Exit codes: 0 every run ok; 1 some runs failed (each is listed with its reason, the table is still
    printed); 2 bad input (one line on stderr, nothing written); 130 interrupted (completed runs are kept).
    """
    from ..bench_runner import run_bench

    run_bench(config_file, overrides, report=not no_report)
