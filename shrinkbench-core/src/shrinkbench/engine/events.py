"""What a sweep reports while it works: one small, picklable record per thing that happened.

Work (training a dense model, one run) executes anywhere -- in this process, a worker process, a cluster
node -- and reports through one callback, ``emit(event)``. The driver turns events into progress bars and
rows of the results store, the same way for every executor. This module imports neither torch nor any plugin.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .config import RunSpec

__all__ = ["DenseDone", "DenseFailed", "EpochDone", "EpochLog", "Event", "Emit", "RunDone", "RunFailed",
           "RunFiles", "SweepPlanned", "SweepStarted", "TaskLost", "TaskStarted"]


@dataclass
class EpochLog:
    """One epoch's record: training loss/accuracy and, when there is a validation split, its metrics."""

    epoch: int
    lr: float
    train_loss: float
    train_top1: float
    val_top1: float | None = None
    val_loss: float | None = None


@dataclass(frozen=True)
class SweepPlanned:
    """Everything was validated: ``runs`` of the sweep are to run (``skipped`` are already in the store),
    ``dense`` dense models are to be trained first, on ``device`` with ``threads`` torch threads per run."""

    runs: int
    skipped: int
    dense: int
    device: str
    threads: int
    results_dir: str


@dataclass(frozen=True)
class SweepStarted:
    """The driver is about to dispatch ``total`` runs; ``skipped`` were already in the results store."""

    total: int
    skipped: int


@dataclass(frozen=True)
class TaskStarted:
    """A unit of work (``key``: a run id, or ``dense-s<seed>``) began; it will train ``epochs`` epochs."""

    key: str
    label: str
    epochs: int


@dataclass(frozen=True)
class EpochDone:
    """The work ``key`` finished an epoch."""

    key: str
    log: EpochLog


@dataclass(frozen=True)
class DenseDone:
    """The dense model of ``seed`` is ready: its weights file and metadata (dense test accuracy, epochs)."""

    key: str
    seed: int
    path: str
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DenseFailed:
    """The dense model of ``seed`` could not be made; every run of that seed fails with ``error``."""

    key: str
    seed: int
    error: str


@dataclass(frozen=True)
class RunDone:
    """A run finished; ``row`` is its result row (status ``ok``)."""

    key: str
    run: RunSpec
    row: dict[str, Any]


@dataclass(frozen=True)
class RunFailed:
    """A run failed; ``row`` is its result row (status ``failed``, the reason in ``error``)."""

    key: str
    run: RunSpec
    row: dict[str, Any]


@dataclass(frozen=True)
class RunFiles:
    """The files of a run's directory (``config.json``, ``metrics.json``, ``log.csv``, weights), sent to the
    driver to write, for executors whose workers do not share the results directory's file system."""

    key: str
    run_id: str
    files: dict[str, bytes]


@dataclass(frozen=True)
class TaskLost:
    """The work ``key`` never reported an outcome: its worker died (killed, crashed, out of memory)."""

    key: str
    reason: str


Event = (SweepPlanned | SweepStarted | TaskStarted | EpochDone | DenseDone | DenseFailed | RunDone | RunFailed
         | RunFiles | TaskLost)
Emit = Callable[[Event], None]
