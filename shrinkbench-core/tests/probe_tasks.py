"""Picklable executor tasks for the contract tests: they report what their worker process was given."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import torch

from shrinkbench import Task


@dataclass(frozen=True)
class Probe:
    """Emits ``(key, pid, CUDA_VISIBLE_DEVICES, SHRINKBENCH_PINNED_GPU)``."""

    key: str
    pause: float = 0.0

    def __call__(self, ctx) -> None:
        time.sleep(self.pause)
        ctx.emit((self.key, os.getpid(), os.environ.get("CUDA_VISIBLE_DEVICES"), os.environ.get("SHRINKBENCH_PINNED_GPU")))


@dataclass(frozen=True)
class Die:
    """Reports like :class:`Probe`, then ends its worker process as the out-of-memory killer would."""

    key: str

    def __call__(self, ctx) -> None:
        Probe(self.key)(ctx)
        time.sleep(0.2)  # let the queue's feeder thread deliver the event
        os._exit(9)


@dataclass(frozen=True)
class LoaderWithWorkers:
    """Iterates a DataLoader with worker processes (what an image-folder dataset needs) and emits the sum."""

    key: str

    def __call__(self, ctx) -> None:
        from torch.utils.data import DataLoader, TensorDataset

        loader = DataLoader(TensorDataset(torch.arange(8.0)), batch_size=4, num_workers=1)
        ctx.emit((self.key, float(sum(batch[0].sum() for batch in loader))))


def task(work) -> Task:
    """``work`` as an executor task."""
    return Task(work.key, work.key, work)


@dataclass(frozen=True)
class Linger:
    """Reports like :class:`Probe` at once, then works (sleeps) for ``seconds``: a run in progress."""

    key: str
    seconds: float = 60.0

    def __call__(self, ctx) -> None:
        Probe(self.key)(ctx)
        time.sleep(self.seconds)
