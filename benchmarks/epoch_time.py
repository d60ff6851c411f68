"""Seconds per finetuning epoch of ResNet-56 on CIFAR-10-shaped data: this project's engine against a lean
PyTorch reference loop, side by side in one run, on the device present.

The data is synthetic, written in the CIFAR python layout to a temporary directory and read by the real
``cifar10`` loader (``shrinkbench_vision.datasets.synthetic``). An epoch is 45,000 training images (CIFAR-10's
50,000 minus the 10% validation split) plus the evaluation of the 10,000 test images, batch 128.

- **project**: the engine's own pieces -- ``make_loader`` (uint8 images on the device, batched crop + flip,
  normalisation), a ResNet-56 pruned to 4x by global magnitude with its masks enforced, ``train`` for one epoch
  (SGD + Nesterov, fused on CUDA), then ``evaluate`` on the test split.
- **lean**: the same model (dense), a bare loop written here: data and augmentation on the device, SGD, no
  masks, no logging, then a bare ``inference_mode`` evaluation.

Repetitions are interleaved (project, lean, project, ...) and each reported figure is a median. With fewer
images than an epoch (``--images``, the default on a CPU), the seconds are scaled to a 45,000-image epoch and
10,000 test images. Run from the repository root::

    uv run python benchmarks/epoch_time.py                       # CPU: all cores, 2,560 images, 3 repetitions
    uv run python benchmarks/epoch_time.py --loader-only         # data only: on-device batches vs per-image
    python benchmarks/epoch_time.py --device cuda --images 45000 # one GPU, full epochs
    python benchmarks/epoch_time.py --device cuda --compile      # with torch.compile (CUDA graphs)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

EPOCH, TEST = 45_000, 10_000


def lean_epoch(model, images, targets, mean, std, batch, device, generator, optimizer):
    """A bare training epoch: random order, crop (padding 4) + flip, normalise, SGD step."""
    import torch
    import torch.nn.functional as F

    model.train()
    n = len(images)
    order = torch.randperm(n, device=device, generator=generator)
    ar = torch.arange(32, device=device)
    for start in range(0, n - n % batch, batch):
        idx = order[start:start + batch]
        x = F.pad(images[idx], (4, 4, 4, 4))
        dy = torch.randint(0, 9, (batch,), device=device, generator=generator)
        dx = torch.randint(0, 9, (batch,), device=device, generator=generator)
        rows = (dy[:, None] + ar)[:, None, :, None]
        cols = (dx[:, None] + ar)[:, None, None, :]
        x = x[torch.arange(batch, device=device)[:, None, None, None], torch.arange(3, device=device)[None, :, None, None], rows, cols]
        flip = torch.rand(batch, device=device, generator=generator) < 0.5
        x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        x = (x.float() / 255 - mean) / std
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), targets[idx]).backward()
        optimizer.step()


def lean_eval(model, images, targets, mean, std, batch):
    """A bare evaluation: top-1 correct count."""
    import torch

    model.eval()
    correct = torch.zeros((), dtype=torch.int64, device=images.device)
    with torch.inference_mode():
        for start in range(0, len(images), batch):
            x = (images[start:start + batch].float() / 255 - mean) / std
            correct += (model(x).argmax(1) == targets[start:start + batch]).sum()
    return int(correct)


def main() -> None:
    """Parse the arguments, time both loops and print a table and a JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N, mps")
    parser.add_argument("--images", type=int, default=None, help="training images per timed epoch (default: 45,000 on a GPU, 2,560 on a CPU)")
    parser.add_argument("--test-images", type=int, default=None, help="test images evaluated (default: as many, up to 10,000)")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    parser.add_argument("--compile", action="store_true", help="torch.compile both loops' models (CUDA graphs on CUDA)")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"], help="the project's precision")
    parser.add_argument("--loader-only", action="store_true",
                        help="time only the data: the engine's on-device batches vs per-image torchvision transforms")
    args = parser.parse_args()
    if args.loader_only:
        loader_only(args)
        return

    import torch

    from shrinkbench.devices import cpu_cores, device_name, resolve_device
    from shrinkbench.engine.config import Recipe
    from shrinkbench.engine.data import cached_splits, make_loader
    from shrinkbench.engine.runtime import Runtime
    from shrinkbench.engine.train import make_optimizer, train
    from shrinkbench.masking import apply_masks
    from shrinkbench.metrics.accuracy import evaluate
    from shrinkbench.plugins import get_registry
    from shrinkbench.pruning import make_context
    from shrinkbench_vision.datasets.synthetic import write_cifar

    device = resolve_device(args.device)
    on_gpu = device.startswith("cuda") or device == "mps"
    torch.set_num_threads(args.threads or cpu_cores())
    images_per_epoch = args.images or (EPOCH if on_gpu else 2560)
    test_images = args.test_images or min(TEST, images_per_epoch if not on_gpu else TEST)
    batch = args.batch_size
    runtime = Runtime(device, args.precision, compile=args.compile)
    runtime.setup()
    registry = get_registry()
    recipe = Recipe(epochs=1, lr=0.01, batch_size=batch, weight_decay=1e-4)

    with tempfile.TemporaryDirectory() as root:
        per_batch = -(-images_per_epoch * 10 // 9 // 5)  # 5 batch files; 10% of them become the validation split
        write_cifar(Path(root), train_per_batch=per_batch, test_size=test_images)
        splits = cached_splits(registry.dataset("cifar10"), root, 0.1)
        torch.manual_seed(0)
        build = registry.model("resnet56").load()
        project_model = runtime.place(build(10, (3, 32, 32), None))
        masked = apply_masks(project_model, registry.strategy("global-magnitude").load()(make_context(project_model, 4.0)))
        train_loader = make_loader(splits.train, batch, True, 0, runtime.torch_device, True, drop_last=True)
        test_loader = make_loader(splits.test, 1024 if on_gpu else 256, False, 0, runtime.torch_device, False)

        torch.manual_seed(0)
        lean_model = build(10, (3, 32, 32), None).to(runtime.torch_device)
        lean_forward = torch.compile(lean_model, mode="reduce-overhead" if device.startswith("cuda") else None) if args.compile else lean_model
        lean_optimizer = make_optimizer(lean_model, recipe, fused=runtime.fused_optimizer or args.compile)
        data = splits.train.dataset.tensors().to(runtime.torch_device)
        train_idx = torch.as_tensor(splits.train.indices, device=runtime.torch_device)
        lean_images, lean_targets = data.images[train_idx], data.targets[train_idx]
        test_data = splits.test.tensors().to(runtime.torch_device)
        mean = torch.tensor(data.mean, device=runtime.torch_device).view(1, 3, 1, 1)
        std = torch.tensor(data.std, device=runtime.torch_device).view(1, 3, 1, 1)
        generator = torch.Generator(device=runtime.torch_device).manual_seed(0)
        n_train = len(lean_images)

        def project() -> tuple[float, float]:
            start = time.perf_counter()
            train(project_model, recipe, train_loader, masked=masked, runtime=runtime)
            runtime.synchronize()
            middle = time.perf_counter()
            evaluate(project_model, test_loader)
            runtime.synchronize()
            return middle - start, time.perf_counter() - middle

        def lean() -> tuple[float, float]:
            start = time.perf_counter()
            lean_epoch(lean_forward, lean_images, lean_targets, mean, std, batch, runtime.torch_device, generator,
                       lean_optimizer)
            runtime.synchronize()
            middle = time.perf_counter()
            lean_eval(lean_model, test_data.images, test_data.targets, mean, std, 1024 if on_gpu else 256)
            runtime.synchronize()
            return middle - start, time.perf_counter() - middle

        warm = {"project": project(), "lean": lean()}  # first epoch: compilation, cuDNN autotuning, caches
        times: dict[str, list[tuple[float, float]]] = {"project": [], "lean": []}
        for _ in range(args.reps):
            times["project"].append(project())
            times["lean"].append(lean())

    scale_train = EPOCH / (n_train - n_train % batch)
    scale_test = TEST / test_images
    result = {"device": device_name(device), "torch": torch.__version__, "threads": torch.get_num_threads(),
              "images_timed": n_train - n_train % batch, "test_images_timed": test_images, "compile": args.compile,
              "precision": args.precision, "load_average": round(os.getloadavg()[0], 2)}
    print(f"ResNet-56, CIFAR-10-shaped data, batch {batch}, {result['device']}, torch {torch.__version__}, "
          f"{result['threads']} threads, load average {result['load_average']}; {result['images_timed']} training and "
          f"{test_images} test images timed, scaled to {EPOCH:,} + {TEST:,}; median of {args.reps}")
    print(f"{'loop':<10} {'train s/epoch':>14} {'eval s':>8} {'total s/epoch':>14} {'first epoch s':>14}")
    for name, runs in times.items():
        train_s = statistics.median(t for t, _ in runs) * scale_train
        eval_s = statistics.median(e for _, e in runs) * scale_test
        first = warm[name][0] * scale_train + warm[name][1] * scale_test
        result[name] = {"train_s": round(train_s, 3), "eval_s": round(eval_s, 3), "total_s": round(train_s + eval_s, 3),
                        "first_epoch_s": round(first, 3)}
        print(f"{name:<10} {train_s:>14.2f} {eval_s:>8.2f} {train_s + eval_s:>14.2f} {first:>14.2f}")
    result["ratio"] = round(result["project"]["total_s"] / result["lean"]["total_s"], 3)
    print(f"project / lean: {result['ratio']:.3f}x (target on a CPU with all cores: <= 1.1x)")
    print(json.dumps(result))


def loader_only(args: argparse.Namespace) -> None:
    """Seconds per 45,000-image augmented epoch of batches: on the device vs a per-image DataLoader."""
    import torch

    from shrinkbench.devices import cpu_cores, device_name, resolve_device
    from shrinkbench.engine.data import DeviceDataLoader, cached_splits, make_loader
    from shrinkbench.plugins import get_registry
    from shrinkbench_vision.datasets.synthetic import write_cifar

    device = resolve_device(args.device)
    torch.set_num_threads(args.threads or cpu_cores())
    with tempfile.TemporaryDirectory() as root:
        write_cifar(Path(root), train_per_batch=10_000, test_size=100)
        splits = cached_splits(get_registry().dataset("cifar10"), root, 0.1)
        loaders = {"on device (engine)": make_loader(splits.train, args.batch_size, True, 0, device, True),
                   "per image, DataLoader, 0 workers": DeviceDataLoader(splits.train, args.batch_size, True, 0,
                                                                      torch.device(device), 0)}
        print(f"one augmented CIFAR-10 epoch (45,000 images, batch {args.batch_size}) on {device_name(device)}, "
              f"{torch.get_num_threads()} threads; median of {args.reps}")
        for name, loader in loaders.items():
            runs = []
            for _ in range(args.reps):
                start = time.perf_counter()
                for _batch in loader:
                    pass
                if device.startswith("cuda"):
                    torch.cuda.synchronize()
                runs.append(time.perf_counter() - start)
            print(f"{name:<34} {statistics.median(runs):8.2f} s")


if __name__ == "__main__":
    main()
