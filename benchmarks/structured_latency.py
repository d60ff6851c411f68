"""Theoretical and measured speedup of structured pruning (channels removed) against unstructured masks.

Models: torchvision ``resnet18(num_classes=10)`` and shrinkbench-vision's ``resnet56``, 3x32x32 inputs, seeded
random weights whose BatchNorm scales are drawn from U(0.1, 1) (a fresh BatchNorm has every scale 1, which
would leave ``bn-scale`` nothing to rank); ``taylor-channel`` gets one seeded random batch of 64. For every
structured strategy at each compression (default 2x and 4x), plus ``global-magnitude`` (masks, from
shrinkbench-magnitude) at the highest one:

- **compression**: dense parameters / parameters after pruning (nonzero parameters for masks);
- **theoretical speedup**: dense MACs / MACs after pruning, counted by ``shrinkbench.metrics.flops.count`` on
  one image (nonzero MACs for masks: what an ideal sparse kernel would do);
- **measured speedup** at batch 1 and 64: dense ms / pruned ms, from ``--reps`` calls of
  ``shrinkbench.metrics.latency.time_pair`` (the latency metric's calibrated timer: eval mode, inference mode,
  dense and pruned samples interleaved; each inside ``shrinkbench.measuring.alone``, as the metric times, so a
  sweep running beside it pauses meanwhile), their samples pooled: the speedup is the median of every per-pair
  ratio dense / pruned, the times the medians of each model's samples (ms per pass). Every number is printed
  with its relative spread, the interquartile range over the median (``1.23 ±4%``).

Run from the repository root (about 5 minutes on 2 CPU cores)::

    uv run --with-editable plugins/shrinkbench-structured python benchmarks/structured_latency.py [--reps 5] [--threads N] [--compressions 2,4]

The load average is printed first: other processes on the cores change the measured figures a lot.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import time

BATCHES = (1, 64)
STRUCTURED = ("l1-filter", "bn-scale", "taylor-channel")
UNSTRUCTURED = "global-magnitude"


def build_models(registry) -> dict:
    """The dense models by display name, with seeded weights and BatchNorm scales drawn from U(0.1, 1)."""
    import torch
    import torchvision

    models = {}
    for name, build in (("resnet18", lambda: torchvision.models.resnet18(num_classes=10)),
                        ("resnet56", lambda: registry.model("resnet56").load()(10, (3, 32, 32), None))):
        torch.manual_seed(0)
        model = build().eval()
        with torch.no_grad():
            for module in model.modules():
                if isinstance(module, torch.nn.BatchNorm2d):
                    module.weight.uniform_(0.1, 1.0)
        models[name] = model
    return models


def prune(registry, name: str, dense, compression: float, batch):
    """A pruned deep copy of ``dense``: channels removed by a structured strategy, or masked weights
    zeroed."""
    from shrinkbench.masking import apply_masks
    from shrinkbench.pruning import make_context

    spec = registry.strategy(name)
    model = copy.deepcopy(dense)
    ctx = make_context(model, compression, seed=0, batches=lambda: iter([batch]))
    result = spec.load()(ctx)
    return model if spec.structured else apply_masks(model, result).remove()


def measure(dense, pruned, reps: int) -> dict[str, float]:
    """Dense and pruned forward time (ms per pass) and speedup at each batch size, each with its relative
    spread (``<key>_spread``: IQR / median), over the pooled samples of ``reps`` interleaved measurements."""
    import torch

    from shrinkbench import measuring
    from shrinkbench.metrics.latency import relative_spread, time_pair

    out = {}
    for size in BATCHES:
        inputs = torch.randn(size, 3, 32, 32, generator=torch.Generator().manual_seed(size))
        samples: dict[str, list[float]] = {"dense": [], "pruned": [], "speedup": []}
        for _ in range(reps):
            with measuring.alone():  # as the latency metric: sweeps running beside it pause meanwhile
                pair = time_pair(dense, pruned, inputs)
            samples["dense"] += [1000 * t for t in pair.dense.times]
            samples["pruned"] += [1000 * t for t in pair.model.times]
            samples["speedup"] += [d / p for d, p in zip(pair.dense.times, pair.model.times, strict=True)]
        for name, key in (("dense", f"dense_ms_{size}"), ("pruned", f"pruned_ms_{size}"),
                          ("speedup", f"speedup_{size}")):
            out[key] = round(statistics.median(samples[name]), 3)
            out[f"{key}_spread"] = round(relative_spread(samples[name]), 3)
    return out


def spread_text(row: dict, key: str, width: int) -> str:
    """``value ±spread%`` of ``row[key]``, right-aligned in ``width`` characters."""
    return f"{row[key]:.2f} ±{100 * row[f'{key}_spread']:.0f}%".rjust(width)


def main() -> None:
    """Parse the arguments, prune and time every (model, strategy, compression), print a table and a JSON
    line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compressions", default="2,4", help="comma-separated targets (default 2,4)")
    parser.add_argument("--reps", type=int, default=5, help="interleaved dense/pruned measurements per row")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    args = parser.parse_args()
    compressions = [float(c) for c in args.compressions.split(",")]

    import torch

    from shrinkbench.devices import cpu_cores
    from shrinkbench.metrics.flops import count
    from shrinkbench.plugins import get_registry
    from shrinkbench.pruning import count_parameters

    torch.set_num_threads(args.threads or cpu_cores())
    registry = get_registry()
    gen = torch.Generator().manual_seed(0)
    batch = (torch.randn(64, 3, 32, 32, generator=gen), torch.randint(0, 10, (64,), generator=gen))
    example = batch[0][:1]
    runs = [(s, c) for s in STRUCTURED for c in compressions] + [(UNSTRUCTURED, max(compressions))]
    result = {"torch": torch.__version__, "threads": torch.get_num_threads(),
              "load_average_start": round(os.getloadavg()[0], 2), "reps": args.reps, "rows": []}
    print(f"torch {torch.__version__}, CPU, {result['threads']} threads, load average "
          f"{result['load_average_start']}; 3x32x32 inputs; {args.reps} interleaved dense/pruned measurements "
          "per row, samples pooled: median ±spread (IQR / median)")
    header = (f"{'model':<9} {'strategy':<17} {'target':>6} {'compr.':>7} {'MACs M':>8} {'theory':>7} "
              f"{'b1 dense ms':>12} {'b1 ms':>12} {'b1 x':>11} {'b64 dense ms':>13} {'b64 ms':>13} "
              f"{'b64 x':>11} {'prune s':>7}")
    print(header)
    for model_name, dense in build_models(registry).items():
        dense_macs = count(dense, example)["macs"]
        for strategy, compression in runs:
            start = time.perf_counter()
            pruned = prune(registry, strategy, dense, compression, batch)
            seconds = time.perf_counter() - start
            macs = count(pruned, example)["nonzero_macs"]
            nonzero = sum(int(p.count_nonzero()) for p in pruned.parameters())
            row = {"model": model_name, "strategy": strategy, "target": compression,
                   "compression": round(count_parameters(dense) / nonzero, 3), "macs": macs,
                   "theoretical_speedup": round(dense_macs / macs, 3), "prune_s": round(seconds, 2),
                   **measure(dense, pruned, args.reps)}
            result["rows"].append(row)
            print(f"{model_name:<9} {strategy:<17} {compression:>6g} {row['compression']:>7.2f} "
                  f"{macs / 1e6:>8.1f} {row['theoretical_speedup']:>7.2f} {spread_text(row, 'dense_ms_1', 12)} "
                  f"{spread_text(row, 'pruned_ms_1', 12)} {spread_text(row, 'speedup_1', 11)} "
                  f"{spread_text(row, 'dense_ms_64', 13)} {spread_text(row, 'pruned_ms_64', 13)} "
                  f"{spread_text(row, 'speedup_64', 11)} {seconds:>7.1f}")
    result["load_average_end"] = round(os.getloadavg()[0], 2)
    print(f"load average at the end: {result['load_average_end']}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
