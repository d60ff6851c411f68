"""Seconds and page faults per finetuning epoch with glibc's default allocator settings against the ones CPU
runs use (``shrinkbench.allocator.keep_freed_memory``), side by side in one run.

Each measurement is a fresh process (the setting is process-wide) that finetunes MnistNet pruned 4x by global
magnitude on the bundled 4,000 training digits, batch 128, channels-last, one torch thread (a sweep worker's
layout: what ``--channels-last auto`` and ``--jobs auto`` give a CPU run), the engine's own ``train``; it times ``--epochs`` epochs after one warm-up epoch. ``default`` sets
``SHRINKBENCH_KEEP_MALLOC=1`` (the allocator as the process found it). Processes alternate (kept, default, ...),
``--parallel`` of them at a time; figures are medians over processes. Run from the repository root::

    uv run python benchmarks/allocator.py              # 4 processes each, 3 epochs per process
    uv run python benchmarks/allocator.py --parallel 2 # two at a time, as a 2-core sweep's workers run
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

CHILD = """
import json, resource, sys, time, torch
from shrinkbench.engine.config import Recipe
from shrinkbench.engine.data import cached_splits, make_loader
from shrinkbench.engine.runtime import Runtime
from shrinkbench.engine.train import train
from shrinkbench.masking import apply_masks
from shrinkbench.plugins import get_registry
from shrinkbench.pruning import make_context

registry = get_registry()
runtime = Runtime("cpu", channels_last=True)  # what --channels-last auto gives a CPU run
runtime.setup()
torch.set_num_threads(1)
splits = cached_splits(registry.dataset("mnist-5k"), None, 0.0)
torch.manual_seed(0)
model = runtime.place(registry.model("mnistnet").load()(10, (1, 28, 28), None))
masked = apply_masks(model, registry.strategy("global-magnitude").load()(make_context(model, 4.0)))
recipe = Recipe(epochs=1, lr=0.001, momentum=0.9, nesterov=True, weight_decay=0.0, batch_size=128)
loader = make_loader(splits.train, 128, True, 0, runtime.torch_device, True)
train(model, recipe, loader, masked=masked, runtime=runtime)  # warm-up: first-step costs
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
start = time.perf_counter()
train(model, recipe, loader, masked=masked, runtime=runtime, epochs=int(sys.argv[1]))
seconds = time.perf_counter() - start
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
import shrinkbench.allocator as allocator
print(json.dumps({"seconds": seconds, "faults": faults, "applied": allocator._applied}))
"""


def measure(epochs: int, keep: bool, parallel: int) -> list[dict]:
    """Seconds and minor page faults per epoch of ``parallel`` processes running side by side."""
    env = {k: v for k, v in os.environ.items() if k != "SHRINKBENCH_KEEP_MALLOC"}
    if not keep:
        env["SHRINKBENCH_KEEP_MALLOC"] = "1"
    procs = [subprocess.Popen([sys.executable, "-c", CHILD, str(epochs)], stdout=subprocess.PIPE, text=True, env=env)
             for _ in range(parallel)]
    results = []
    for proc in procs:
        out, _ = proc.communicate()
        if proc.returncode:
            raise SystemExit(f"allocator: a measuring process failed (exit {proc.returncode})")
        result = json.loads(out.strip().splitlines()[-1])
        results.append({"seconds": result["seconds"] / epochs, "faults": result["faults"] / epochs,
                        "applied": result["applied"]})
    return results


def main() -> None:
    """Alternate the two settings' processes and print medians and a JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=4, help="processes per setting")
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs per process")
    parser.add_argument("--parallel", type=int, default=1,
                        help="processes side by side (2: a 2-core sweep's two workers; default 1)")
    args = parser.parse_args()
    runs: dict[str, list[dict]] = {"kept": [], "default": []}
    for _ in range(args.processes):
        runs["kept"] += measure(args.epochs, True, args.parallel)
        runs["default"] += measure(args.epochs, False, args.parallel)
    result = {"load_average": round(os.getloadavg()[0], 2), "processes": args.processes, "epochs": args.epochs,
              "parallel": args.parallel}
    print(f"MnistNet 4x, 4,000 digits, batch 128, channels-last, 1 thread, {args.parallel} side by side; medians of "
          f"{args.processes * args.parallel} processes x {args.epochs} epochs")
    print(f"{'allocator':<10} {'s/epoch':>8} {'faults/epoch':>13} {'applied':>8}")
    for name, values in runs.items():
        seconds = statistics.median(v["seconds"] for v in values)
        faults = statistics.median(v["faults"] for v in values)
        result[name] = {"s_per_epoch": round(seconds, 3), "faults_per_epoch": round(faults),
                        "applied": [v["applied"] for v in values]}
        print(f"{name:<10} {seconds:>8.3f} {faults:>13,.0f} {str(values[0]['applied']):>8}")
    result["ratio"] = round(result["kept"]["s_per_epoch"] / result["default"]["s_per_epoch"], 3)
    print(f"kept / default: {result['ratio']:.3f}x")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
