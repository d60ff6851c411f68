"""NCHW against channels-last (NHWC) training on the CPU: why ``--channels-last`` defaults to on for CPU runs.

For each model, training steps (SGD + Nesterov momentum, batch 128, random data of the model's usual input
shape) in the default NCHW memory format and in channels-last, interleaved (NCHW, NHWC, NCHW, ...) so that both
see the same machine; each figure is the median over ``--reps`` of the seconds per training image, and the
ratio is taken within each repetition (NHWC / NCHW; below 1 is faster). The first pass of each format is a
warm-up and is not counted. Run from the repository root::

    uv run python benchmarks/channels_last.py                      # 1 thread (as each of 2 local workers)
    uv run python benchmarks/channels_last.py --threads 2 --reps 5 -m resnet20
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch
from torch import nn

from shrinkbench.plugins import load_registry

MODELS = {"mnistnet": (1, 28, 28), "lenet-5": (1, 28, 28), "resnet20": (3, 32, 32), "resnet56": (3, 32, 32),
          "vgg-bn-drop": (3, 32, 32), "torchvision:resnet18": (3, 32, 32)}
IMAGES = {"vgg-bn-drop": 512, "torchvision:resnet18": 512, "resnet56": 512}


def seconds_per_image(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, channels_last: bool) -> float:
    """One pass of training steps over ``images`` in batches of 128; seconds per image."""
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9, nesterov=True)
    started = time.perf_counter()
    for start in range(0, len(images), 128):
        optimizer.zero_grad(set_to_none=True)
        batch = images[start:start + 128].contiguous(memory_format=fmt)
        nn.functional.cross_entropy(model(batch), labels[start:start + 128]).backward()
        optimizer.step()
    return (time.perf_counter() - started) / len(images)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-m", "--model", action="append", choices=sorted(MODELS), help="default: all")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    registry = load_registry()
    print(f"{args.threads} torch thread(s), torch {torch.__version__}, {args.reps} interleaved repetitions")
    print("| model | NCHW ms/image | NHWC ms/image | NHWC / NCHW (median, min-max) |")
    print("|---|---:|---:|---:|")
    for name in args.model or MODELS:
        shape, count = MODELS[name], IMAGES.get(name, 2048)
        torch.manual_seed(0)
        base = registry.model(name).load()(10, shape, None)
        nets = {False: base, True: copy.deepcopy(base).to(memory_format=torch.channels_last)}
        images, labels = torch.randn(count, *shape), torch.randint(0, 10, (count,))
        times: dict[bool, list[float]] = {False: [], True: []}
        for rep in range(args.reps + 1):
            for channels_last in (False, True):
                took = seconds_per_image(nets[channels_last], images, labels, channels_last)
                if rep:
                    times[channels_last].append(took)
        ratios = [c / n for n, c in zip(times[False], times[True], strict=True)]
        print(f"| {name} | {1e3 * statistics.median(times[False]):.3f} | {1e3 * statistics.median(times[True]):.3f} | "
              f"{statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f}) |", flush=True)


if __name__ == "__main__":
    main()
