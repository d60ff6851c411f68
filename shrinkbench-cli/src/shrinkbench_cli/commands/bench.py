"""``shrinkbench bench``: a controlled prune-and-finetune sweep (one dataset and model, or a grid)."""

from __future__ import annotations

import click

from ..options import NumberList, switch


@click.command()
@click.option("--strategy", "-s", multiple=True, metavar="NAME",
              help="Strategy to run (repeatable; aliases like GlobalMagWeight work). Default: every installed one "
              "the model allows (e.g. bn-scale needs BatchNorm; those left out are named).")
@click.option("--schedule", multiple=True, metavar="NAME",
              help="Pruning schedule (repeatable: every strategy runs under each): oneshot (default), iterative "
              "(rounds of prune + finetune, optional lottery-ticket rewinding), gradual (cubic sparsity ramp "
              "during finetuning). 'shrinkbench list schedules' shows their options.")
@click.option("--schedule-option", multiple=True, metavar="[NAME.]KEY=VALUE",
              help="A schedule option (repeatable), e.g. iterative.rounds=3, iterative.rewind_epoch=1, gradual.end=0.6; "
              "a bare KEY=VALUE goes to every chosen schedule that takes it.")
@click.option("--model", "-m", multiple=True, metavar="NAME",
              help="Model (default lenet-300-100; 'timm:resnet18' style for families). Repeatable: with several "
              "models or datasets every fitting (dataset, model) pair runs into one results directory.")
@click.option("--dataset", "-d", multiple=True, metavar="NAME",
              help="Dataset (default mnist-5k, bundled). Repeatable, like --model.")
@click.option("--variant", multiple=True, metavar="NAME:KEY=VALUE,...",
              help="A recipe variant run beside the others (repeatable), e.g. lr-high:finetune_lr=0.05 or "
              "other-dense:dense_seed_offset=100; keys: finetune_<field>, pretrain_<field>, pretrained, "
              "dense_seed_offset. The variant is a column of every row.")
@click.option("--compression", "-c", type=NumberList(), metavar="LIST",
              help="Target compressions (total params / nonzero params), comma separated, each >= 1; real numbers "
              "allowed. Default 1,2,4,8,16,32.")
@click.option("--sparsity", type=NumberList(), metavar="LIST",
              help="Targets as fractions of the prunable weights to remove, instead of --compression (the language-"
              "model papers' axis: 0.5 = half of every prunable layer's weights on average, what 2:4 keeps); each "
              "becomes the compression it means for the model (compression_target in rows).")
@click.option("--seeds", type=NumberList(integers=True), metavar="LIST",
              help="Seeds, comma separated (default 0). Each seed trains its own dense model (unless --checkpoint "
              "or --pretrained with --pretrain-epochs 0 fix the dense weights).")
@click.option("--finetune-epochs", type=int, metavar="N", help="Override the finetune recipe's epochs.")
@click.option("--finetune-lr", type=float, metavar="LR", help="Override the finetune learning rate.")
@click.option("--pretrain-epochs", type=int, metavar="N", help="Override the dense pretraining epochs.")
@click.option("--pretrain-lr", type=float, metavar="LR", help="Override the pretraining learning rate.")
@click.option("--batch-size", type=int, metavar="N", help="Batch size of pretraining and finetuning.")
@click.option("--eval-batch-size", metavar="N|auto", help="Batch size of evaluation (default auto: 1024 on CUDA, else 256).")
@click.option("--val-fraction", type=float, metavar="F",
              help="Fraction of the training data held out for validation (default 0.1, seeded, per class).")
@click.option("--select", type=click.Choice(["final", "best-val"]),
              help="Report the final finetuned model (default) or the epoch best on the validation split, among "
              "those after the last pruning step. Never the test split.")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), metavar="FILE",
              help="TOML file: the same settings as these flags (key = flag without '--'), plus [pretrain] and "
              "[finetune] recipe tables, [schedules.NAME], [variants.NAME] and [executor] tables; flags override it.")
@click.option("--pretrained", metavar="TAG|PATH",
              help="Start dense pretraining from these weights: a local state dict, or a tag of the model's source "
              "(torchvision: DEFAULT, IMAGENET1K_V1; timm: a pretrained tag) already in the local cache. A "
              "classifier for another number of classes is replaced. --pretrain-epochs 0 uses them as they are.")
@click.option("--checkpoint", type=click.Path(dir_okay=False), metavar="PATH",
              help="Your own dense weights for this dataset (safetensors or torch.save state dict), used as they "
              "are instead of pretraining.")
@click.option("--data-root", type=click.Path(file_okay=False), metavar="DIR",
              help="Directory holding the dataset files (default $DATAPATH).")
@switch("include-classifier", "Prune the classifier layer too (off, as in ShrinkBench); for a language model, its "
        "output head.")
@click.option("--calibration-samples", type=click.IntRange(min=1), metavar="N",
              help="Post-training strategies (wanda, sparsegpt): calibration inputs drawn, seeded by the run's seed, "
              "from the training split (default 128, as the papers; text: windows of --context-length).")
@click.option("--calibration-source", metavar="DATASET",
              help="Draw the calibration inputs from this dataset's training split (same task; default: the "
              "dataset itself), e.g. c4 to prune a model evaluated on wikitext2.")
@click.option("--eval-windows", metavar="N|all",
              help="Text datasets: evaluate perplexity on the first N windows of the test stream only, or all "
              "(default: as many as the dataset declares -- shakespeare 256, as the papers' C4 evaluation -- else "
              "all). Recorded in every row (eval_windows).")
@click.option("--context-length", type=click.IntRange(min=2), metavar="L",
              help="Text datasets: the token window of training and of the perplexity evaluation (non-overlapping "
              "windows of the test stream, as SparseGPT and Wanda evaluate). Default: each language model's own "
              "context; at most that.")
@click.option("--out", type=click.Path(file_okay=False), metavar="DIR",
              help="Results directory (default ./shrinkbench-results/<dataset>-<model>). Re-running resumes it.")
@click.option("--device", metavar="NAME",
              help="Where runs execute: auto (default: CUDA if available, else MPS, else CPU), cpu, cuda, cuda:N or "
              "mps; resolved where each run executes. Recorded in every row; weights are saved as CPU tensors.")
@click.option("--precision", type=click.Choice(["fp32", "bf16", "fp16"]),
              help="fp32 (default), or autocast to bf16/fp16 for training and evaluation (fp16 with a gradient "
              "scaler). Part of the configuration.")
@click.option("--jobs", "-j", metavar="N|auto",
              help="Runs at once, for every executor (default auto: as many as cores, or GPUs x runs per GPU, "
              "fewer when memory or short runs say so; the header line says what was chosen and why).")
@click.option("--threads", metavar="N|auto",
              help="torch threads (= CPUs) of each run (default auto: cores / jobs). An explicit value makes "
              "--jobs 2 reproduce --jobs 1 bit for bit.")
@click.option("--gpus-per-run", metavar="F|auto",
              help="GPUs of each run; a fraction shares a GPU (0.25: four runs per GPU). Default auto: 1, or 1/4 "
              "for small models.")
@click.option("--executor", metavar="NAME",
              help="How runs are dispatched: sequential, local (worker processes), or an installed plugin's (e.g. "
              "ray). Default: local when more than one run at a time, else sequential.")
@click.option("--executor-option", multiple=True, metavar="KEY=VALUE",
              help="An option of the executor (repeatable), e.g. --executor-option address=auto for ray. In a "
              "config file: an [executor] table with name = ... and the options.")
@click.option("--workers", metavar="N|auto",
              help="DataLoader worker processes for folder datasets like ImageNet (default auto: min(8, the run's "
              "threads)). In-memory datasets (MNIST, CIFAR) are batched on the device and need none.")
@switch("deterministic", "Deterministic algorithms (rows say whether an operation without a deterministic "
        "version ran).")
@switch("compile", "torch.compile the model (CUDA graphs on CUDA, full batches only). A model that fails to "
        "compile trains eagerly, with a note in its row.")
@switch("channels-last", "NHWC memory format for convolutional models (default auto: on for runs on the CPU, "
        "where it trains faster; off on GPUs).")
@switch("tf32", "On CUDA, let float32 matmuls and convolutions use TensorFloat-32 (default on).")
@switch("retry", "Run failed and lost runs of an earlier sweep again (default on).")
@switch("report", "Print the table and write the report at the end (default on).")
@click.option("--dry-run/--no-dry-run", default=False,
              help="Print the plan and exit without running or writing anything: the experiments, the runs to do, "
              "already complete and to retry, the dense models to train, the parallel layout, and an estimated "
              "time from a short calibration (a few training steps and an evaluation of each model on its data).")
@click.option("--print-config/--no-print-config", default=False,
              help="Print the request as a TOML file that --config reads back to the same sweep (every setting "
              "explicit, defaults resolved) and exit.")
@click.option("--json/--no-json", "as_json", default=False,
              help="No progress bars; at the end print one JSON object: results_dir, results_csv, executor, "
              "layout, notes, runs {total, done, skipped, retried: [run ids], failed: [{run_id, error}]}, "
              "report (files written), report_error, exit_code. With --dry-run: the plan as JSON.")
def bench(config_file: str | None, report: bool | None, dry_run: bool, print_config: bool, as_json: bool,
          **overrides) -> None:
    """Prune and finetune under identical conditions, then report accuracy against compression and speedup.

    Runs every combination of --strategy x --schedule x --compression x --seeds on each (--dataset, --model)
    pair and --variant. The dense model is trained once per seed and cached ($SHRINKBENCH_CACHE); every strategy
    starts from the same weights and is finetuned with the same recipe. Rows go to DIR/results.csv as each run
    finishes; interrupt at any time and re-run the same command to resume (failed runs run again).

    \b
    Examples:
      shrinkbench bench                                      # bundled default: 54 runs, ~30 s on 2 CPUs
      shrinkbench bench -s global-magnitude -s random -c 2,8,32 --seeds 0,1,2
      shrinkbench bench -m lenet-300-100 -m lenet-5 --variant lr-high:finetune_lr=0.05 --seeds 0,1,2
      shrinkbench bench -d cifar10 -m resnet56 --data-root ~/data --device cuda --compile
      shrinkbench bench -d imagenet -m torchvision:resnet18 --pretrained IMAGENET1K_V1 --pretrain-epochs 0
      shrinkbench bench --seeds 0,1,2 --dry-run                 # what would run, and for how long
      shrinkbench bench -s random --print-config > sweep.toml  # then: shrinkbench bench --config sweep.toml

    Exit codes: 0 every run ok; 1 some runs failed (each is listed with its reason, the table is still
    printed); 2 bad input (one line per problem on stderr, nothing written); 130 interrupted (completed runs
    are kept).
    """
    from ..bench_runner import run_bench

    run_bench(config_file, overrides, report=report is not False, dry_run=dry_run, print_config=print_config,
              as_json=as_json)
