"""Core's own executors and schedules, registered through the public hooks like any plugin's."""

from __future__ import annotations

from .. import hookimpl
from ..specs import ExecutorSpec, ScheduleSpec


@hookimpl
def shrinkbench_executors() -> list[ExecutorSpec]:
    """``sequential`` (this process) and ``local`` (worker processes on this machine)."""
    return [
        ExecutorSpec("sequential", "Every run in this process, one after another (one run at a time)",
                     "shrinkbench.engine.executors:sequential"),
        ExecutorSpec("local", "Runs in spawned worker processes on this machine, spread over its GPUs on CUDA",
                     "shrinkbench.engine.executors:local",
                     options=(("workers", "worker processes at most (default: --jobs, else as the runs' CPUs and "
                                          "GPUs allow)"),)),
    ]


@hookimpl
def shrinkbench_schedules() -> list[ScheduleSpec]:
    """``oneshot`` (the default), ``iterative`` and ``gradual``."""
    return [
        ScheduleSpec("oneshot", "Prune once to the target, then finetune (the original ShrinkBench protocol)",
                     "shrinkbench.engine.schedules:oneshot"),
        ScheduleSpec("iterative", "Rounds of prune + finetune along a geometric path, optional rewinding",
                     "shrinkbench.engine.schedules:iterative",
                     options=(("rounds", "rounds (default 3); total finetuning = rounds x epochs"),
                              ("rewind_epoch", "lottery-ticket rewinding: after each pruning, reset kept weights to this "
                                               "pretraining epoch (0: init) and train the rest of the pretraining"))),
        ScheduleSpec("gradual", "Sparsity rises during finetuning on Zhu & Gupta's cubic schedule",
                     "shrinkbench.engine.schedules:gradual", structured=False,
                     options=(("start", "first pruning step, as a fraction of the finetuning (default 0)"),
                              ("end", "last pruning step, as a fraction (default 0.75)"),
                              ("frequency", "steps between pruning steps (default: a quarter epoch)"))),
    ]
