"""Peak memory of one prune-and-finetune run against the size of its dense model: does a run hold one model?

A run used to keep a deep copy of the dense model on its device for its whole duration (the reference its
metrics compared against), doubling the model's share of memory; now it measures the dense model before pruning
and holds one model. This script runs the same single run -- ``torchvision:vit_b_16`` (86M parameters) by
default, on CIFAR-10-shaped synthetic images at 32 px, global magnitude 4x, one finetuning epoch on a few
batches -- in a fresh process per code version and reports the process's peak resident memory (the device is
the CPU, so that is the run's memory) next to the dense model's parameter bytes. Give ``--baseline DIR``, a
checkout of an earlier version (e.g. ``git worktree add /tmp/round2 37ba545``), to measure it side by side
with the same virtualenv: its sources shadow this checkout's through ``PYTHONPATH``.

    uv run python benchmarks/run_memory.py --baseline /tmp/round2      # ~5 min on 2 CPU cores
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
PACKAGES = ("shrinkbench-core", "shrinkbench-cli", *(f"plugins/shrinkbench-{p}" for p in
                                                   ("vision", "magnitude", "gradient", "random", "timm")))

RUN = """
import resource, sys, time
from pathlib import Path
from shrinkbench.plugins import get_registry
from shrinkbench.engine import build_sweep_config, run_sweep
registry = get_registry()
overrides = {{"dataset": {dataset}, "model": {model}, "strategy": ["global-magnitude"], "compression": [4.0],
             "pretrain_epochs": 0, "finetune_epochs": 1, "batch_size": 16, "data_root": {root!r},
             "out": {out!r}, "jobs": 1, "threads": 2, "device": "cpu"}}
config = build_sweep_config(registry, None, overrides)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
started = time.perf_counter()
outcome = run_sweep(registry, config)
row = outcome.new_rows[0]
print("RESULT", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, before * 1024, row["status"],
      row.get("error", ""), row.get("params"), round(time.perf_counter() - started, 1))
"""


def measure(checkout: Path, model: str, root: Path, workdir: Path, old_api: bool) -> dict:
    """Peak RSS of the run in a fresh process using ``checkout``'s sources."""
    env = {**os.environ, "SHRINKBENCH_CACHE": str(workdir / "cache"), "HF_HUB_OFFLINE": "1",
           "PYTHONPATH": os.pathsep.join(str(checkout / p / "src") for p in PACKAGES)}
    dataset, models = ('"cifar10"', f'"{model}"') if old_api else ('["cifar10"]', f'["{model}"]')
    code = RUN.format(dataset=dataset, model=models, root=str(root), out=str(workdir / "out"))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=3600)
    line = next((x for x in result.stdout.splitlines() if x.startswith("RESULT")), None)
    if line is None:
        raise SystemExit(f"error: the run with {checkout} failed: {' '.join(result.stderr.split())[-500:]}")
    peak, before, status, *rest = line.split()[1:]
    return {"checkout": str(checkout), "peak_bytes": int(peak), "before_run_bytes": int(before), "status": status,
            "seconds": float(rest[-1])}


def main() -> None:
    """Measure this checkout (and ``--baseline``) and print a table and a JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="torchvision:vit_b_16")
    parser.add_argument("--baseline", type=Path, help="a checkout of an earlier version to measure beside this one")
    parser.add_argument("--baseline-old-api", action="store_true", default=True,
                        help="the baseline takes one dataset/model as a string (versions before grids)")
    args = parser.parse_args()
    sys.path[:0] = [str(HERE / p / "src") for p in PACKAGES]
    from shrinkbench.plugins import get_registry
    from shrinkbench_vision.datasets.synthetic import write_cifar

    model = get_registry().model(args.model).load()(10, (3, 32, 32), None)
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    del model
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "data"
        write_cifar(root, train_per_batch=64, test_size=64)
        versions = [(HERE, False)] + ([(args.baseline.resolve(), args.baseline_old_api)] if args.baseline else [])
        for index, (checkout, old) in enumerate(versions):
            workdir = Path(tmp) / f"v{index}"
            workdir.mkdir()
            results.append(measure(checkout, args.model, root, workdir, old))
    print(f"{args.model}: dense parameters {weights / 2**20:.0f} MiB (float32), peak resident memory of one run:")
    for r in results:
        extra = (r["peak_bytes"] - r["before_run_bytes"]) / 2**20
        print(f"  {r['checkout']}: peak {r['peak_bytes'] / 2**20:.0f} MiB ({extra:.0f} MiB above the process before "
              f"the sweep = {extra * 2**20 / weights:.2f}x the weights), {r['status']}, {r['seconds']} s")
    print(json.dumps({"model": args.model, "weight_bytes": weights, "runs": results}))


if __name__ == "__main__":
    main()
