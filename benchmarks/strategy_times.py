"""Time to compute each installed strategy's masks on a CIFAR-size ResNet-18.

Model: torchvision ``resnet18(num_classes=10)`` (11.2M parameters, 11.2M prunable; ``fc`` is the classifier
and stays dense) on 3x32x32 inputs; data strategies get one seeded batch of 64. Each strategy runs once to warm
up, then ``--repeat`` times; the table shows the median and the fastest run. The machine's load average is
printed too: other processes on a 2-core machine change the numbers a lot.

    uv run python benchmarks/strategy_times.py [--compression 8] [--repeat 5] [--threads N] [STRATEGY ...]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time


def main() -> None:
    """Parse the arguments, time every selected strategy and print one row per strategy."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("strategies", nargs="*", help="strategy names (default: every installed strategy)")
    parser.add_argument("--compression", type=float, default=8.0)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args()

    import torch
    import torchvision

    from shrinkbench.plugins import get_registry
    from shrinkbench.pruning import make_context

    if args.threads:
        torch.set_num_threads(args.threads)
    registry = get_registry()
    names = args.strategies or [entry.name for entry in registry.list("strategies")]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = torchvision.models.resnet18(num_classes=10)
    gen = torch.Generator().manual_seed(0)
    batch = (torch.randn(args.batch_size, 3, 32, 32, generator=gen), torch.randint(0, 10, (args.batch_size,), generator=gen))

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, load average {os.getloadavg()[0]:.1f}; "
          f"resnet18 CIFAR-size, compression {args.compression:g}, batch {args.batch_size}, {args.repeat} runs")
    print(f"{'strategy':<20} {'plugin':<24} {'data':<5} {'median ms':>10} {'min ms':>10}")
    for name in names:
        spec = registry.strategy(name)
        if spec.structured:  # it would shrink the shared model: see benchmarks/structured_latency.py
            print(f"{spec.name:<20} skipped: a structured strategy (timed by structured_latency.py)")
            continue
        compute = spec.load()
        batches = (lambda: iter([batch])) if spec.needs_data else None
        times = []
        for run in range(args.repeat + 1):
            ctx = make_context(model, args.compression, seed=0, batches=batches)
            start = time.perf_counter()
            compute(ctx)
            if run:  # the first run warms up
                times.append(1000 * (time.perf_counter() - start))
        plugin = registry.plugin_of("strategies", spec.name)
        print(f"{spec.name:<20} {plugin:<24} {'yes' if spec.needs_data else 'no':<5} "
              f"{statistics.median(times):>10.1f} {min(times):>10.1f}")


if __name__ == "__main__":
    main()
