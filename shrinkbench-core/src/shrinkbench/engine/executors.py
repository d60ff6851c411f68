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
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..devices import cpu_cores, pin_gpu
from ..tasks import Capacity, ExecutorContext, Task, TaskContext, TaskLost
from ..values import Options

__all__ = ["ProcessExecutor", "SequentialExecutor", "local", "parallel_slots", "sequential"]

Emit = Callable[[Any], None]


class SequentialExecutor:
    """Runs tasks one after another in this process, whose GPUs are ``gpus`` (machine ids) of ``gpu_memory``
    bytes each (the smallest)."""

    def __init__(self, gpus: Sequence[str] = (), gpu_memory: int | None = None) -> None:
        self.gpus, self.gpu_memory = tuple(gpus), gpu_memory

    def capacity(self) -> Capacity:
        """This machine's cores and the sweep's GPUs, with their memory."""
        return Capacity(cpu_cores(), len(self.gpus), self.gpu_memory)

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

    ``gpus``: the machine ids (:func:`shrinkbench.devices.gpu_ids`) of the GPUs to spread the workers over, as
    evenly as possible (a replacement worker takes its dead predecessor's GPU); a worker is pinned to its GPU
    (:func:`shrinkbench.devices.pin_gpu`) before torch starts. ``gpu_memory``: bytes of the smallest of them. Used as a context manager, the
    workers live until the block ends and serve every :meth:`run` inside it (a worker keeps its loaded data and
    warm imports from one task to the next, and a single CPU task that reserves every core -- a sweep's one
    dense model -- runs in this process, with the cores to itself); otherwise each :meth:`run` starts and stops
    its own. A worker that dies is replaced on the same GPU, and its task reported lost. Workers are not daemons, so a task may start
    processes of its own (DataLoader workers for image folders); they stop when the driver finishes, is
    interrupted (Ctrl-C stops every worker at once; workers ignore SIGINT themselves) or disappears.
    """

    def __init__(self, jobs: int | None = None, gpus: Sequence[str] = (), gpu_memory: int | None = None) -> None:
        self.jobs, self.gpus, self.gpu_memory = jobs, tuple(str(g) for g in gpus), gpu_memory
        self._ctx = multiprocessing.get_context("spawn")
        self._pool: _Pool | None = None
        self._held = False

    def capacity(self) -> Capacity:
        """This machine's cores and the GPUs the workers are spread over, with their memory."""
        return Capacity(cpu_cores(), len(self.gpus), self.gpu_memory)

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
            self._pool = _Pool(self._ctx, list(self.gpus))
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


@dataclass
class _Worker:
    """One worker process, its own inbox (the driver sends it one task at a time) and its GPU's machine id."""

    process: Any
    inbox: Any
    gpu: str | None


class _Pool:
    """Worker processes and the queue of their events, kept across :meth:`run` calls.

    The driver hands each task to one idle worker through that worker's own inbox and records the hand-over
    before sending it, so it always knows which task a worker holds. A worker announces a task before it
    starts the work: one that dies holding a task it never announced did none of it, and the task is handed to
    another worker; one that dies after announcing it gets it reported lost (its last events still count); a
    task never handed over is never run by anyone once the driver has given up on it (no shared queue keeps
    it). Every task ends reported exactly once."""

    def __init__(self, ctx: Any, gpus: list[str]) -> None:
        self.ctx, self.gpus = ctx, gpus
        self.events = ctx.Queue()
        self.workers: dict[int, _Worker] = {}
        self.next_slot = 0
        self.generation = 0

    def start(self, gpu: str | None = None) -> int:
        """Start one worker (slot numbers are never reused): on ``gpu``, else on the GPU with the fewest
        workers (the first such in order), so that replacing a dead worker never shifts the others' GPUs."""
        slot = self.next_slot
        self.next_slot += 1
        if gpu is None and self.gpus:
            load = Counter(w.gpu for w in self.workers.values())
            gpu = min(self.gpus, key=lambda g: (load[g], self.gpus.index(g)))
        inbox = self.ctx.Queue()  # its feeder thread: a put never blocks the driver
        process = self.ctx.Process(target=_worker, args=(slot, inbox, self.events, gpu, os.getpid()), daemon=False)
        process.start()
        self.workers[slot] = _Worker(process, inbox, gpu)
        return slot

    def run(self, tasks: list[Task], size: int, emit: Emit) -> None:
        """Run ``tasks`` on at least ``size`` workers; every task ends reported once: done or lost."""
        self.generation += 1
        state = _RunState(self.generation, tasks, emit)
        while len(self.workers) < size:
            self.start()
        idle_deaths = 0
        while len(state.finished) < len(tasks):
            for slot, worker in self.workers.items():
                if slot not in state.holding and state.pending:
                    index = state.pending.popleft()
                    state.holding[slot] = index  # recorded before it is sent: a death from now on loses it
                    worker.inbox.put((state.generation, index, tasks[index]))
            try:
                state.receive(*self.events.get(timeout=0.2))
                continue
            except queue.Empty:
                pass
            dead = [slot for slot, worker in self.workers.items() if not worker.process.is_alive()]
            if dead:
                self._drain(state)  # what a dead worker sent before it died counts before its death
            for slot in dead:
                worker = self.workers.pop(slot)
                index = state.holding.pop(slot, None)
                if index is not None and index not in state.started:
                    state.pending.appendleft(index)  # it never began: another worker takes it
                    index = None
                idle_deaths += index is None
                state.lose(index, f"worker process died (exit code {worker.process.exitcode})")
                if state.pending or state.holding:
                    self.start(worker.gpu)  # the dead worker's GPU
            if idle_deaths > 2 * max(size, 1):  # workers die before they take a task: give up on the rest
                while state.pending:
                    state.lose(state.pending.popleft(), "worker processes die before they start a task")

    def _drain(self, state: _RunState) -> None:
        while True:
            try:
                state.receive(*self.events.get(timeout=0.05))
            except queue.Empty:
                return

    def close(self, force: bool, wait: bool = True) -> None:
        """Stop every worker (at once when ``force``, else after their current task) and wait for them (with
        ``wait`` false: when this process exits)."""
        for worker in self.workers.values():
            if worker.process.is_alive():
                worker.inbox.put(None)
            if force and worker.process.is_alive():
                worker.process.terminate()
        if wait or force:
            self.join()
        else:
            atexit.register(self.join)

    def join(self) -> None:
        """Wait for every worker to exit (5 s each at most, then kill it)."""
        for worker in self.workers.values():
            worker.process.join(timeout=5)
            if worker.process.is_alive():  # not a daemon: it would hold the driver's exit
                worker.process.kill()
                worker.process.join(timeout=5)
            worker.inbox.cancel_join_thread()
        self.events.cancel_join_thread()


class _RunState:
    """One :meth:`_Pool.run`: tasks not yet handed over (``pending``), the task each worker holds
    (``holding``), those a worker announced (``started``) and those reported (``finished``, each once)."""

    def __init__(self, generation: int, tasks: list[Task], emit: Emit) -> None:
        self.generation, self.tasks, self.emit = generation, tasks, emit
        self.pending: deque[int] = deque(range(len(tasks)))
        self.holding: dict[int, int] = {}
        self.started: set[int] = set()
        self.finished: set[int] = set()

    def receive(self, kind: str, slot: int, payload: tuple) -> None:
        """A worker's message: the start of a task, an event of one, or its end."""
        generation, index = payload[0], payload[1]
        if generation != self.generation or index in self.finished:
            return  # a late message of an earlier run, or of a task already reported lost
        if kind == "start":
            self.started.add(index)
        elif kind == "event":
            self.emit(payload[2])
        elif kind == "end":
            self.finished.add(index)
            if self.holding.get(slot) == index:
                del self.holding[slot]

    def lose(self, index: int | None, reason: str) -> None:
        """Report task ``index`` lost (nothing when ``None`` or already reported)."""
        if index is not None and index not in self.finished:
            self.finished.add(index)
            self.emit(TaskLost(self.tasks[index].key, reason))


FAULT_VAR = "SHRINKBENCH_WORKER_FAULT"
"""Tests only: ``idle``, ``taken``, ``started`` or ``ended`` makes the first worker of a pool (slot 0) die at
that point of its first task, as ``kill -9`` would (``shrinkbench-core/tests/test_concurrency.py``)."""


def _worker(slot: int, inbox: Any, events: Any, gpu: str | None, driver: int) -> None:
    """A worker process: pinned to ``gpu`` before anything imports torch, it runs the tasks its inbox brings
    until the stop signal, reporting each one's events and its end, and dies with its driver (checked twice a
    second, also in the middle of a run: a killed driver leaves no worker computing for nobody)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the driver handles Ctrl-C and stops the workers
    if gpu is not None:
        pin_gpu(gpu)
    threading.Thread(target=_exit_without, args=(driver,), name="shrinkbench-driver-watch", daemon=True).start()
    fault = os.environ.get(FAULT_VAR) if slot == 0 else None
    _fault(fault, "idle")
    # torch and the engine while the driver prepares the first task, and Dynamo, which a process's first
    # optimizer imports (over 1 s): before the first run, not in it
    import torch._dynamo  # noqa: F401

    import shrinkbench.engine.run  # noqa: F401
    while (item := inbox.get()) is not None:
        generation, index, task = item
        _fault(fault, "taken")
        events.put(("start", slot, (generation, index)))
        _fault(fault, "started", flush=events)
        task.work(TaskContext(lambda event, g=generation, i=index: events.put(("event", slot, (g, i, event)))))
        events.put(("end", slot, (generation, index)))
        _fault(fault, "ended", flush=events)
    # done: everything sent reaches the driver, then the process ends without the interpreter's teardown of
    # torch (over a second of CPU time that would compete with the driver's report)
    events.close()
    events.join_thread()
    os._exit(0)


def _exit_without(driver: int, every: float = 0.5) -> None:
    """End this process as soon as its parent ``driver`` is gone (the worker's own children, DataLoader
    workers, notice their parent's end themselves)."""
    while os.getppid() == driver:
        time.sleep(every)
    os._exit(3)


def _fault(fault: str | None, point: str, flush: Any = None) -> None:
    if fault == point:
        if flush is not None:
            time.sleep(0.3)  # the queue's feeder thread delivers what was sent
        os._exit(9)


def sequential(options: Options, context: ExecutorContext) -> SequentialExecutor:
    """The ``sequential`` executor: every task in this process, one after another (no options)."""
    return SequentialExecutor(context.gpus, context.gpu_memory)


def local(options: Options, context: ExecutorContext) -> ProcessExecutor:
    """The ``local`` executor: worker processes on this machine, ``workers`` at most (default: the sweep's
    jobs), spread over its GPUs."""
    return ProcessExecutor(options.integer("workers", context.jobs), context.gpus, context.gpu_memory)
