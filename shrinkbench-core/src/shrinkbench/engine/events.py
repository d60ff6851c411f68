"""What a sweep reports while it works: one small, picklable record per thing that happened.

Work (training a dense model, one run) executes anywhere -- in this process, a worker process, a cluster
node -- and reports through one callback, ``emit(event)``. The driver turns events into progress bars and
rows of the results store, the same way for every executor. This module imports neither torch nor any plugin.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..tasks import TaskLost
from .experiment import RunSpec

__all__ = ["DenseDone", "DenseFailed", "Emit", "EpochDone", "EpochLog", "Event", "RunFinished", "SweepPlanned",
           "SweepStarted", "TaskLost", "TaskStarted"]


@dataclass
class EpochLog:
    """One epoch's record: training loss and top-1 (per prediction: examples, or tokens of a language model)
    and, when there is a validation split, its top-1, loss and the task's primary metric (``val_primary``:
    top-1 for classification, perplexity for a language model)."""

    epoch: int
    lr: float
    train_loss: float
    train_top1: float
    val_top1: float | None = None
    val_loss: float | None = None
    val_primary: float | None = None


@dataclass(frozen=True)
class SweepPlanned:
    """Everything was validated: ``runs`` of the sweep are to run (``skipped`` are already in the store,
    ``retried`` of them failed before and run again), ``dense`` dense models are to be trained first; ``layout``
    says how (e.g. ``2 runs at a time x 1 thread on cpu``) and why."""

    runs: int
    skipped: int
    dense: int
    layout: str
    results_dir: str
    retried: int = 0
    experiments: int = 1


@dataclass(frozen=True)
class SweepStarted:
    """The driver is about to dispatch ``total`` runs; ``skipped`` were already in the results store."""

    total: int
    skipped: int


@dataclass(frozen=True)
class TaskStarted:
    """A unit of work (``key``: a run id, or ``dense/...``) began; it will train ``epochs`` epochs."""

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
    """The dense model ``key`` is ready: the directory holding its weights, metadata (dense test accuracy,
    epochs) and rewind checkpoints (see :mod:`shrinkbench.engine.dense`)."""

    key: str
    seed: int
    path: str
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DenseFailed:
    """The dense model ``key`` could not be made on ``node``; every run that needs it fails with ``error``."""

    key: str
    seed: int
    error: str
    node: str = ""


@dataclass(frozen=True)
class RunFinished:
    """A run finished; ``row`` is its result row, ``ok`` or ``failed`` (the reason in ``error``)."""

    key: str
    run: RunSpec
    row: dict[str, Any]

    @property
    def ok(self) -> bool:
        """Whether the run succeeded."""
        return self.row.get("status") == "ok"


Event = (SweepPlanned | SweepStarted | TaskStarted | EpochDone | DenseDone | DenseFailed | RunFinished | TaskLost)
Emit = Callable[[Event], None]
