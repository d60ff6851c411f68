"""Core's executors: ``sequential`` (this process) and ``local`` (worker processes on this machine). The
contract every executor follows is :mod:`shrinkbench.tasks`: tasks in, events out through one callback.

The one thing a task cannot report is its worker dying (``kill -9``, a segfault, the out-of-memory killer): the
executor then emits :class:`shrinkbench.tasks.TaskLost` for it and carries on with the others. This module
does not import torch (worker processes import it when they unpickle their first task).
"""

from __future__ import annotations

import atexit
import math
import multiprocessing
import os
import queue
import signal
from collections.abc import Callable, Sequence
from typing import Any

from .. import accelerator
from ..devices import PINNED_GPU_VAR, cpu_cores
from ..tasks import Capacity, ExecutorContext, Task, TaskContext, TaskLost
from ..values import Options

__all__ = ["ProcessExecutor", "SequentialExecutor", "local", "parallel_slots", "sequential"]

Emit = Callable[[Any], None]


class SequentialExecutor:
    """Runs tasks one after another in this process."""

    def capacity(self) -> Capacity:
        """This machine's cores and visible GPUs."""
        return Capacity(cpu_cores(), accelerator.cuda_count())

    def run(self, tasks: Sequence[Task], emit: Emit) -> None:  # noqa: D102 - see shrinkbench.tasks.Executor
        for task in tasks:
            task.work(TaskContext(emit))


def parallel_slots(tasks: Sequence[Task], cpus: float, gpus: int) -> int:
    """How many of ``tasks`` fit on ``cpus`` cores and ``gpus`` GPUs at once, by their resources (at least 1)."""
    if not tasks:
        return 0
    by_cpu = math.floor(cpus / max(max(t.resources.cpus for t in tasks), 1e-9) + 1e-9)
    need_gpu = max(t.resources.gpus for t in tasks)
    by_gpu = math.floor(gpus / need_gpu + 1e-9) if need_gpu > 0 else len(tasks)
    return max(1, min(len(tasks), by_cpu, by_gpu))


class ProcessExecutor:
    """Runs tasks in spawned worker processes (each starts with a clean torch), ``jobs`` at once (``None``: as
    many as the tasks' resources allow on this machine's cores and GPUs).

    ``gpus``: this process's GPU indices to spread the workers over: worker k sees only ``gpus[k % len(gpus)]``,
    through ``CUDA_VISIBLE_DEVICES`` set before torch starts to the GPU's *physical* id (translated through this
    process's own ``CUDA_VISIBLE_DEVICES``, as Slurm or Kubernetes set it). Used as a context manager, the
    workers live until the block ends and serve every :meth:`run` inside it (a worker keeps its loaded data and
    warm imports from one task to the next, and a single CPU task that reserves every core -- a sweep's one
    dense model -- runs in this process, with the cores to itself); otherwise each :meth:`run` starts and stops
    its own. A worker that dies is replaced on the same GPU, and its task reported lost. Workers are not daemons, so a task may start
    processes of its own (DataLoader workers for image folders); they stop when the driver finishes, is
    interrupted (Ctrl-C stops every worker at once; workers ignore SIGINT themselves) or disappears.
    """

    def __init__(self, jobs: int | None = None, gpus: Sequence[int] = ()) -> None:
        self.jobs, self.gpus = jobs, tuple(gpus)
        self._ctx = multiprocessing.get_context("spawn")
        self._pool: _Pool | None = None
        self._held = False

    def capacity(self) -> Capacity:
        """This machine's cores and the GPUs the workers are spread over."""
        return Capacity(cpu_cores(), len(self.gpus))

    def __enter__(self) -> ProcessExecutor:
        """Hold the workers for every :meth:`run` in the block (started by the first that needs them)."""
        self._held = True
        return self

    def __exit__(self, *exc: object) -> None:
        self._held = False
        self._close(wait=False)  # workers exit while the driver goes on (e.g. to the report); joined at its exit

    def run(self, tasks: Sequence[Task], emit: Emit) -> None:  # noqa: D102 - see shrinkbench.tasks.Executor
        if not tasks:
            return
        if self._runs_here(tasks):
            SequentialExecutor().run(tasks, emit)
            return
        wanted = self.jobs or parallel_slots(tasks, cpu_cores(), len(self.gpus))
        if self._pool is None:
            self._pool = _Pool(self._ctx, [accelerator.physical_gpu(i) for i in self.gpus])
        try:
            self._pool.run(list(tasks), min(wanted, len(tasks)), emit)
        except BaseException:
            self._close(force=True)
            raise
        if not self._held:
            self._close()

    def _runs_here(self, tasks: Sequence[Task]) -> bool:
        """Whether ``tasks`` run in this process: a single CPU task that reserves every core (a sweep's one
        dense model) in a block that holds the workers. No worker could run beside it, and this process has
        torch, the plugins and the data loaded already (workers starting beside it would slow its threads more
        than their own start-up costs afterwards: measured in ``benchmarks/README.md``)."""
        task = tasks[0]
        return (self._held and len(tasks) == 1 and not self.gpus and task.resources.gpus == 0
                and task.resources.cpus >= cpu_cores())

    def _close(self, force: bool = False, wait: bool = True) -> None:
        if self._pool is not None:
            self._pool.close(force, wait)
            self._pool = None


class _Pool:
    """Worker processes, a task queue and an event queue, kept across :meth:`run` calls."""

    def __init__(self, ctx: Any, gpus: list[str]) -> None:
        self.ctx, self.gpus = ctx, gpus
        self.todo, self.events = ctx.Queue(), ctx.Queue()
        self.workers: dict[int, Any] = {}
        self.gpu_of: dict[int, str | None] = {}
        self.next_slot = 0
        self.generation = 0
        self.idle_deaths = 0

    def start(self, gpu: str | None = None, replacing: int | None = None) -> None:
        """Start one worker: on the given GPU, or on the next one in turn."""
        slot = self.next_slot
        self.next_slot += 1
        if replacing is None:
            gpu = self.gpus[slot % len(self.gpus)] if self.gpus else None
        process = self.ctx.Process(target=_worker, args=(slot, self.todo, self.events, gpu, os.getpid()),
                                   daemon=False)
        process.start()
        self.workers[slot], self.gpu_of[slot] = process, gpu

    def run(self, tasks: list[Task], size: int, emit: Emit) -> None:
        """Run ``tasks`` on at least ``size`` workers; every task ends reported, done or lost."""
        self.generation += 1
        generation = self.generation
        for index, task in enumerate(tasks):
            self.todo.put((generation, index, task))
        while len(self.workers) < size:
            self.start()
        running: dict[int, int | None] = dict.fromkeys(self.workers)
        finished: set[int] = set()
        self.idle_deaths = 0
        while len(finished) < len(tasks):
            try:
                kind, slot, payload = self.events.get(timeout=0.2)
            except queue.Empty:
                self._replace_dead(tasks, running, finished, emit)
                if self.idle_deaths > 2 * max(size, 1):  # workers die before they take a task: give up
                    for index in sorted(set(range(len(tasks))) - finished):
                        finished.add(index)
                        emit(TaskLost(tasks[index].key, "worker processes die before they start a task"))
                continue
            gen, index = payload[0], payload[1]
            if gen != generation:
                continue  # a late message of an earlier run
            if kind == "start":
                running[slot] = index
            elif kind == "event":
                emit(payload[2])
            elif kind == "end":
                finished.add(index)
                running[slot] = None

    def _replace_dead(self, tasks: list[Task], running: dict[int, int | None], finished: set[int],
                      emit: Emit) -> None:
        for slot, process in list(self.workers.items()):
            if process.is_alive():
                continue
            index = running.pop(slot, None)
            del self.workers[slot]
            self.idle_deaths += index is None
            if index is not None and index not in finished:
                finished.add(index)
                emit(TaskLost(tasks[index].key, f"worker process died (exit code {process.exitcode})"))
            if len(finished) < len(tasks):
                self.start(self.gpu_of[slot], replacing=slot)  # the dead worker's GPU
                running[self.next_slot - 1] = None

    def close(self, force: bool, wait: bool = True) -> None:
        """Stop every worker (at once when ``force``, else after their current task) and wait for them (with
        ``wait`` false: when this process exits)."""
        for _ in self.workers:
            self.todo.put(None)
        for process in self.workers.values():
            if force and process.is_alive():
                process.terminate()
        if wait or force:
            self.join()
        else:
            atexit.register(self.join)

    def join(self) -> None:
        """Wait for every worker to exit (5 s each at most, then kill it)."""
        for process in self.workers.values():
            process.join(timeout=5)
            if process.is_alive():  # not a daemon: it would hold the driver's exit
                process.kill()
                process.join(timeout=5)
        self.todo.cancel_join_thread()
        self.events.cancel_join_thread()


def _worker(slot: int, todo: Any, events: Any, gpu: str | None, driver: int) -> None:
    """A worker process: take tasks until the stop signal (or until the driver is gone), report each start,
    event and end; then exit at once."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the driver handles Ctrl-C and stops the workers
    if gpu is not None:  # before the first task imports torch
        os.environ[accelerator.VISIBLE_VAR] = os.environ[PINNED_GPU_VAR] = gpu
    # torch and the engine while the driver prepares the first task, and Dynamo, which a process's first
    # optimizer imports (over 1 s): before the first run, not in it
    import torch._dynamo  # noqa: F401

    import shrinkbench.engine.run  # noqa: F401
    while (item := _next_task(todo, driver)) is not None:
        generation, index, task = item
        events.put(("start", slot, (generation, index)))
        task.work(TaskContext(lambda event, g=generation, i=index: events.put(("event", slot, (g, i, event)))))
        events.put(("end", slot, (generation, index)))
    # done: everything sent reaches the driver, then the process ends without the interpreter's teardown of
    # torch (over a second of CPU time that would compete with the driver's report)
    events.close()
    events.join_thread()
    os._exit(0)


def _next_task(todo: Any, driver: int) -> Any:
    """The next item of the queue, or ``None`` once the driver process has gone (a non-daemon worker must
    not outlive a driver that was killed)."""
    while True:
        try:
            return todo.get(timeout=1.0)
        except queue.Empty:
            if os.getppid() != driver:
                return None


def sequential(options: Options, context: ExecutorContext) -> SequentialExecutor:
    """The ``sequential`` executor: every task in this process, one after another (no options)."""
    return SequentialExecutor()


def local(options: Options, context: ExecutorContext) -> ProcessExecutor:
    """The ``local`` executor: worker processes on this machine, ``workers`` at most (default: the sweep's
    jobs), spread over its GPUs."""
    return ProcessExecutor(options.integer("workers", context.jobs), context.gpus)
