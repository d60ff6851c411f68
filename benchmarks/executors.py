"""A 12-run sweep through each executor on this machine: wall time, parallel efficiency and Ray's overheads.

The sweep: MnistNet on the bundled mnist-5k, 3 strategies x 4 compressions, 4 finetuning epochs, 1 torch thread
per run, the dense model trained once beforehand (so every executor times the same 12 runs). Executors:
``sequential`` (this process), ``local`` (2 spawned worker processes) and, when ``shrinkbench-ray`` is installed,
``ray`` (a local Ray instance with 2 CPUs, 1 CPU per run). Parallel efficiency = sequential time / (2 x time).
Ray's start-up (``ray.init`` of a local instance) and per-task overhead (mean round trip of 100 empty tasks)
are measured separately. Run from the repository root, with nothing else running::

    uv run --with-editable plugins/shrinkbench-ray python benchmarks/executors.py
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path


def main() -> None:
    """Time the sweep through every available executor and print a table and a JSON line."""
    os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
    root = Path(tempfile.mkdtemp(prefix="sb-executors-"))
    os.environ["SHRINKBENCH_CACHE"] = str(root / "cache")

    from shrinkbench.engine import build_sweep_config, run_sweep
    from shrinkbench.plugins import get_registry

    registry = get_registry()
    base = {"model": "mnistnet", "strategy": ["global-magnitude", "layer-magnitude", "random"],
            "compression": [2, 4, 8, 16], "finetune_epochs": 4, "threads": 1, "device": "cpu"}
    run_sweep(registry, build_sweep_config(registry, None, {**base, "strategy": ["random"], "compression": [2],
                                                             "out": str(root / "warm")}))  # the dense model
    executors = [("sequential", {}), ("local", {"jobs": 2})]
    try:
        registry.executor("ray")
        executors.append(("ray", {"jobs": 2, "executor_option": ["num_cpus=1"]}))
    except KeyError:
        print("shrinkbench-ray is not installed: ray is skipped")
    ray_start = ray_task = None
    if len(executors) == 3:
        import ray

        started = time.perf_counter()
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        ray_start = time.perf_counter() - started
        noop = ray.remote(lambda: None)
        ray.get([noop.remote() for _ in range(10)])
        started = time.perf_counter()
        for _ in range(100):
            ray.get(noop.remote())
        ray_task = (time.perf_counter() - started) / 100
    seconds = {}
    for name, extra in executors:
        config = build_sweep_config(registry, None, {**base, **extra, "executor": name, "out": str(root / name)})
        started = time.perf_counter()
        outcome = run_sweep(registry, config)
        seconds[name] = time.perf_counter() - started
        assert len(outcome.new_rows) == 12 and not outcome.failed, outcome.failed
    print(f"12 runs of MnistNet on mnist-5k (4 finetuning epochs, 1 thread each), {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"{'executor':<12} {'wall s':>8} {'efficiency':>11}")
    result = {"seconds": {}, "efficiency": {}}
    for name, wall in seconds.items():
        efficiency = seconds["sequential"] / (2 * wall) if name != "sequential" else 1.0
        result["seconds"][name], result["efficiency"][name] = round(wall, 2), round(efficiency, 3)
        print(f"{name:<12} {wall:>8.1f} {efficiency if name != 'sequential' else float('nan'):>11.2f}")
    if ray_start is not None:
        result.update(ray_start_s=round(ray_start, 2), ray_task_ms=round(1000 * ray_task, 2))
        print(f"ray: local instance started in {ray_start:.1f} s; empty task round trip {1000 * ray_task:.1f} ms")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
