"""Executors: how tasks (dense training, runs) are dispatched. One interface for all of them: tasks in, events
out through one callback, so progress, the results store and resume behave the same whatever runs the work.

A task is a picklable callable ``task(emit)`` with a ``key``; it reports everything, its own failures
included, through ``emit``. An executor runs every task and hands every event to the driver's ``emit`` in the
driver's process. The one thing a task cannot report is its worker dying (``kill -9``, a segfault, the
out-of-memory killer): the executor then emits :class:`TaskLost` for it and carries on with the others.
This module does not import torch (worker processes import it when they unpickle their first task).
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import signal
from collections.abc import Sequence
from typing import Any, Protocol

from ..devices import PINNED_GPU_VAR
from .events import Emit, TaskLost

__all__ = ["Executor", "ProcessExecutor", "SequentialExecutor", "Task", "make_executor"]


class Task(Protocol):
    """A unit of work: ``task(emit)`` does it and reports through ``emit``; ``key`` names it in events."""

    key: str

    def __call__(self, emit: Emit) -> Any: ...


class Executor(Protocol):
    """Runs tasks and delivers their events to ``emit`` in the calling process."""

    def run(self, tasks: Sequence[Task], emit: Emit) -> None:
        """Run every task; return when all have finished or were lost (:class:`TaskLost`)."""
        ...


class SequentialExecutor:
    """Runs tasks one after another in this process."""

    def run(self, tasks: Sequence[Task], emit: Emit) -> None:  # noqa: D102 - see Executor
        for task in tasks:
            task(emit)


class ProcessExecutor:
    """Runs tasks in ``jobs`` spawned worker processes (each starts with a clean torch).

    ``gpus``: GPU indices to spread the workers over (worker k sees only ``gpus[k % len(gpus)]``, through
    ``CUDA_VISIBLE_DEVICES`` set before torch starts). A worker that dies is replaced, and its task reported
    lost. Ctrl-C in the driver stops every worker at once (workers ignore SIGINT themselves).
    """

    def __init__(self, jobs: int, gpus: Sequence[int] = ()) -> None:
        self.jobs, self.gpus = jobs, tuple(gpus)

    def run(self, tasks: Sequence[Task], emit: Emit) -> None:  # noqa: D102 - see Executor
        if not tasks:
            return
        ctx = multiprocessing.get_context("spawn")
        todo, events = ctx.Queue(), ctx.Queue()
        for index, task in enumerate(tasks):
            todo.put((index, task))
        workers: dict[int, Any] = {}
        running: dict[int, int | None] = {}
        finished: set[int] = set()

        def start(slot: int) -> None:
            gpu = self.gpus[slot % len(self.gpus)] if self.gpus else None
            process = ctx.Process(target=_worker, args=(slot, todo, events, gpu), daemon=True)
            process.start()
            workers[slot], running[slot] = process, None
            todo.put(None)  # this worker's stop signal, queued after every task

        try:
            for slot in range(min(self.jobs, len(tasks))):
                start(slot)
            next_slot = len(workers)
            while len(finished) < len(tasks):
                try:
                    kind, slot, payload = events.get(timeout=0.2)
                except queue.Empty:
                    for slot, process in list(workers.items()):
                        if process.is_alive() or slot not in running:
                            continue
                        index = running.pop(slot)
                        del workers[slot]
                        if index is not None and index not in finished:
                            finished.add(index)
                            emit(TaskLost(tasks[index].key, f"worker process died (exit code {process.exitcode})"))
                        if len(finished) + sum(i is not None for i in running.values()) < len(tasks):
                            start(next_slot)
                            next_slot += 1
                    if not workers:  # every worker is gone: whatever did not report is lost
                        for index in sorted(set(range(len(tasks))) - finished):
                            finished.add(index)
                            emit(TaskLost(tasks[index].key, "no worker process reported this task"))
                    continue
                if kind == "start":
                    running[slot] = payload
                elif kind == "event":
                    emit(payload)
                elif kind == "end":
                    finished.add(payload)
                    running[slot] = None
        finally:
            for process in workers.values():
                if process.is_alive() and len(finished) < len(tasks):
                    process.terminate()
            for process in workers.values():
                process.join(timeout=5)
            todo.cancel_join_thread()
            events.cancel_join_thread()


def _worker(slot: int, todo: Any, events: Any, gpu: int | None) -> None:
    """A worker process: take tasks until the stop signal, report each start, event and end."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the driver handles Ctrl-C and stops the workers
    if gpu is not None:  # before the first task imports torch
        os.environ["CUDA_VISIBLE_DEVICES"] = os.environ[PINNED_GPU_VAR] = str(gpu)
    while (item := todo.get()) is not None:
        index, task = item
        events.put(("start", slot, index))
        task(lambda event: events.put(("event", slot, event)))
        events.put(("end", slot, index))


def make_executor(jobs: int, gpus: Sequence[int] = ()) -> SequentialExecutor | ProcessExecutor:
    """The sequential executor for ``jobs <= 1``, else ``jobs`` local worker processes."""
    return SequentialExecutor() if jobs <= 1 else ProcessExecutor(jobs, gpus)

