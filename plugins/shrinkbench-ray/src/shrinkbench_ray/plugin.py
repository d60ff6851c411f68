"""The ``ray`` executor's registration (no Ray import: the executor is named lazily)."""

from __future__ import annotations

from shrinkbench import ExecutorSpec, hookimpl


@hookimpl
def shrinkbench_executors() -> list[ExecutorSpec]:
    """``ray``: every dense model and run is a Ray task."""
    return [
        ExecutorSpec(
            "ray", "Runs as Ray tasks on this machine or a Ray cluster", "shrinkbench_ray.executor:create",
            remote=True, prepare="shrinkbench_ray.instance:prepare",
            options=(
                ("address", "Ray cluster to join: auto, host:port or ray://host:port (default: $RAY_ADDRESS if set, "
                            "else start a local instance)"),
                ("num_cpus", "CPUs of every task, replacing the sweep's --threads (default: the sweep's choice)"),
                ("num_gpus", "GPUs of every task, fractions allowed, replacing --gpus-per-run (default: the sweep's)"),
                ("max_retries", "retries of a task whose worker or node died (default 2)"),
                ("files", "shared (workers write into --out) or driver (workers send run files back); "
                          "default: shared for a local instance, driver for a cluster"),
            ),
        ),
    ]
