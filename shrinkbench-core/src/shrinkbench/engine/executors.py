"""Executors: how tasks (dense training, runs) are dispatched. One interface for all of them: tasks in, events
out through one callback, so progress, the results store and resume behave the same whatever runs the work.

A task is a picklable callable ``task(emit)`` with a ``key``; it reports everything, its own failures
included, through ``emit``. An executor runs every task and hands every event to the driver's ``emit`` in the
driver's process. The one thing a task cannot report is its worker dying (``kill -9``, a segfault, the
out-of-memory killer): the executor then emits :class:`TaskLost` for it and carries on with the others.
This module does not import torch (worker processes import it when they unpickle their first task).
"""

from __future__ import annotations

import difflib
import multiprocessing
import os
import queue
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from .. import accelerator
from ..devices import PINNED_GPU_VAR
from ..errors import ShrinkBenchError
from .events import Emit, TaskLost

__all__ = ["Executor", "ExecutorContext", "ProcessExecutor", "SequentialExecutor", "Task", "create_executor",
           "int_option", "make_executor"]


class Task(Protocol):
    """A unit of work: ``task(emit)`` does it and reports through ``emit``; ``key`` names it in events."""

    key: str

    def __call__(self, emit: Emit) -> Any: ...


class Executor(Protocol):
    """Runs tasks and delivers their events to ``emit`` in the calling process.

    An executor that needs set-up (connecting to a cluster) may also be a context manager: the sweep enters
    it after validating the configuration and before writing anything, so a failure to start (a bad cluster
    address) is a one-line :class:`ShrinkBenchError` with nothing written, and exits it at the end.
    """

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

    ``gpus``: this process's GPU indices to spread the workers over: worker k sees only ``gpus[k % len(gpus)]``,
    through ``CUDA_VISIBLE_DEVICES`` set before torch starts to the GPU's *physical* id (translated through this
    process's own ``CUDA_VISIBLE_DEVICES``, as Slurm or Kubernetes set it). A worker that dies is replaced on
    the same GPU, and its task reported lost. Workers are not daemons, so a task may start processes of its own
    (DataLoader workers for image folders); they stop when the driver finishes, is interrupted (Ctrl-C stops
    every worker at once; workers ignore SIGINT themselves) or disappears.
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
        physical = [accelerator.physical_gpu(index) for index in self.gpus]
        gpu_of: dict[int, str | None] = {}

        def start(slot: int, gpu: str | None) -> None:
            process = ctx.Process(target=_worker, args=(slot, todo, events, gpu, os.getpid()), daemon=False)
            process.start()
            workers[slot], running[slot], gpu_of[slot] = process, None, gpu
            todo.put(None)  # this worker's stop signal, queued after every task

        try:
            for slot in range(min(self.jobs, len(tasks))):
                start(slot, physical[slot % len(physical)] if physical else None)
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
                            start(next_slot, gpu_of[slot])  # the dead worker's GPU
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
                if process.is_alive():  # not a daemon: it would hold the driver's exit
                    process.kill()
                    process.join(timeout=5)
            todo.cancel_join_thread()
            events.cancel_join_thread()


def _worker(slot: int, todo: Any, events: Any, gpu: str | None, driver: int) -> None:
    """A worker process: take tasks until the stop signal (or until the driver is gone), report each start,
    event and end."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the driver handles Ctrl-C and stops the workers
    if gpu is not None:  # before the first task imports torch
        os.environ[accelerator.VISIBLE_VAR] = os.environ[PINNED_GPU_VAR] = gpu
    while (item := _next_task(todo, driver)) is not None:
        index, task = item
        events.put(("start", slot, index))
        task(lambda event: events.put(("event", slot, event)))
        events.put(("end", slot, index))


def _next_task(todo: Any, driver: int) -> Any:
    """The next item of the queue, or ``None`` once the driver process has gone (a non-daemon worker must
    not outlive a driver that was killed)."""
    while True:
        try:
            return todo.get(timeout=1.0)
        except queue.Empty:
            if os.getppid() != driver:
                return None


def make_executor(jobs: int, gpus: Sequence[int] = ()) -> SequentialExecutor | ProcessExecutor:
    """The sequential executor for ``jobs <= 1``, else ``jobs`` local worker processes."""
    return SequentialExecutor() if jobs <= 1 else ProcessExecutor(jobs, gpus)


@dataclass(frozen=True)
class ExecutorContext:
    """What an executor factory knows of the sweep: ``jobs`` runs at a time were asked for, spread over
    ``gpus`` (machine GPU indices; empty off CUDA), each run with ``threads`` torch threads on ``device``."""

    jobs: int = 1
    gpus: tuple[int, ...] = ()
    threads: int = 1
    device: str = "cpu"


def create_executor(spec: Any, options: Mapping[str, Any], context: ExecutorContext) -> Executor:
    """The executor ``spec`` (an :class:`shrinkbench.specs.ExecutorSpec`) makes for ``options``; an option the
    spec does not declare is a one-line :class:`ShrinkBenchError` with the closest known one."""
    known = [name for name, _ in spec.options]
    for key in options:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}?" if close else (f"known: {', '.join(known)}" if known else "it takes none")
            raise ShrinkBenchError(f"executor {spec.name!r} has no option {key!r}; {hint}")
    return spec.load()(dict(options), context)


def int_option(options: Mapping[str, Any], key: str, default: int, minimum: int = 1) -> int:
    """The integer option ``key`` (from a string or a number), or ``default``; a one-line error otherwise."""
    value = options.get(key, default)
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = None
    if number is None or isinstance(value, bool) or number < minimum or (isinstance(value, float) and value != number):
        raise ShrinkBenchError(f"executor option {key} must be an integer >= {minimum}, got {value!r}")
    return number


def sequential(options: Mapping[str, Any], context: ExecutorContext) -> SequentialExecutor:
    """The ``sequential`` executor: every task in this process, one after another (no options)."""
    return SequentialExecutor()


def local(options: Mapping[str, Any], context: ExecutorContext) -> ProcessExecutor:
    """The ``local`` executor: ``workers`` spawned processes (default: the sweep's jobs), spread over its GPUs."""
    return ProcessExecutor(int_option(options, "workers", context.jobs), context.gpus)

