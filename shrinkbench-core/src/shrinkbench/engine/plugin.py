"""Core's own executors, registered through the public ``shrinkbench_executors`` hook like any plugin's."""

from __future__ import annotations

from .. import hookimpl
from ..specs import ExecutorSpec


@hookimpl
def shrinkbench_executors() -> list[ExecutorSpec]:
    """``sequential`` (this process) and ``local`` (worker processes on this machine)."""
    return [
        ExecutorSpec("sequential", "Every run in this process, one after another (the default for --jobs 1)",
                     "shrinkbench.engine.executors:sequential"),
        ExecutorSpec("local", "Runs in spawned worker processes on this machine, one GPU each on CUDA (--jobs N)",
                     "shrinkbench.engine.executors:local",
                     options=(("workers", "worker processes (default: --jobs)"),)),
    ]
