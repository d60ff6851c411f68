"""How many runs the sweep layout puts on one GPU, for a few (model, dataset) pairs, against each run's estimated
peak GPU memory.

For each pair the model is built from its plugin on the dataset's input shape and profiled by the engine's own
rule (``shrinkbench.engine.resolution._profile``: parameters, activation bytes of one example's forward pass,
the larger of the two standard recipes' batch sizes, the in-memory dataset), so the numbers are the ones a sweep
would use. Printed: the least need of a run (``ModelProfile.least_run_bytes``: activations counted once, what
the refusal compares with the GPU's memory), the estimate runs are packed by (``ModelProfile.run_bytes`` on the
GPU: activations x3), and the layout's decision (runs per GPU, or refused, by
:func:`~shrinkbench.engine.layout.choose_layout`) on GPUs of 80, 24 and 16 GiB, with 16 CPU cores and 1 GPU.
No GPU is needed: the decision is made on the driver before anything runs.

Run from the repository root (about a minute on 2 CPU cores: it builds the models)::

    uv run python benchmarks/gpu_packing.py
"""

from __future__ import annotations

from types import SimpleNamespace

PAIRS = (  # (model, dataset, input shape, train examples, in memory)
    ("lenet-300-100", "mnist", (1, 28, 28), 60_000, True),
    ("resnet20", "cifar10", (3, 32, 32), 50_000, True),
    ("resnet56", "cifar10", (3, 32, 32), 50_000, True),
    ("vgg-bn-drop", "cifar10", (3, 32, 32), 50_000, True),
    ("torchvision:mobilenet_v2", "imagenet", (3, 224, 224), 1_281_167, False),
    ("torchvision:resnet50", "imagenet", (3, 224, 224), 1_281_167, False),
    ("torchvision:vit_b_16", "imagenet", (3, 224, 224), 1_281_167, False),
)
GPUS_GIB = (80, 24, 16)
CLASSES = {"mnist": 10, "cifar10": 10, "imagenet": 1000}


def main() -> None:
    """Print the markdown table of ``benchmarks/README.md``."""
    import torch

    from shrinkbench.engine.layout import choose_layout, gpu_share, profile_of
    from shrinkbench.errors import ShrinkBenchError
    from shrinkbench.plugins import get_registry
    from shrinkbench.tasks import Capacity

    torch.set_num_threads(2)
    registry = get_registry()
    print("| model | dataset | parameters | batch | activations / example | least need per run | packed as | "
          + " | ".join(f"runs per {g} GiB GPU" for g in GPUS_GIB) + " |")
    print("|---|---|---|---|---|---|---|" + "---|" * len(GPUS_GIB))
    for model, dataset, shape, examples, in_memory in PAIRS:
        pretrain, finetune = registry.dataset(dataset).recipes
        built = registry.model(model).load()(CLASSES[dataset], shape, None)
        experiment = SimpleNamespace(pretrain=pretrain, finetune=finetune)
        # image folders (ImageNet) are read from disk by DataLoader workers: no dataset held on the GPU
        splits = SimpleNamespace(input_shape=shape, train=range(examples if in_memory else 0),
                                 example_input=lambda shape=shape: torch.zeros(1, *shape))
        profile = profile_of(built, experiment, splits)
        need = profile.run_bytes(on_gpu=True)
        decisions = []
        for gib in GPUS_GIB:
            try:
                layout = choose_layout(Capacity(16, 1, gib * 2**30), profile, runs=20, dense=1, gpu=True,
                                       remote=False, memory=None)
                decisions.append(str(round(1 / layout.gpus_per_run)))
                assert round(1 / layout.gpus_per_run) == gpu_share(profile, gib * 2**30)
            except ShrinkBenchError:
                decisions.append("refused")
        print(f"| {model} | {dataset} | {profile.parameters / 1e6:.2f}M | {profile.batch_size} | "
              f"{profile.activation_bytes / 2**20:.1f} MiB | {profile.least_run_bytes() / 2**30:.1f} GiB | "
              f"{need / 2**30:.1f} GiB | " + " | ".join(decisions) + " |")


if __name__ == "__main__":
    main()
