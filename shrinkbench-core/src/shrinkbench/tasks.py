"""What an executor receives: :class:`Task` s as data, and what it reports: every event a task emits, plus
:class:`TaskLost` for a task whose worker died.

A task names its work (a picklable callable), the :class:`Resources` it needs, the files it reads
(``inputs``) and the directories it writes (``outputs``), as paths on the driver's machine. An executor whose
workers share the driver's file system runs ``task.work(TaskContext(emit))`` and is done. One whose workers
do not (a cluster without shared storage) ships the inputs to the worker, tells the work where they landed
through :attr:`TaskContext.paths`, lets it write its outputs into scratch directories (also through
``paths``), sends them back, and installs them on the driver with :func:`install_directory`. Executors import
nothing from the engine: everything here is in ``shrinkbench``. This module imports neither torch nor any plugin.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any, Protocol

from .atomic import atomic_dir
from .errors import ShrinkBenchError

__all__ = ["NODE_VAR", "Capacity", "Executor", "ExecutorContext", "Resources", "Task", "TaskContext", "TaskLost",
           "install_directory", "read_directory", "this_node"]

NODE_VAR = "SHRINKBENCH_NODE"
"""Where a task executes, for its rows' ``node`` column: an executor may set it in a worker (a cluster node's
name and id); the default is the machine's host name."""


def this_node() -> str:
    """The node this process runs on, as rows name it: ``$SHRINKBENCH_NODE``, else the host name."""
    import platform

    return os.environ.get(NODE_VAR) or platform.node()


@dataclass(frozen=True)
class Resources:
    """What one task occupies while it runs: ``cpus`` cores (its torch threads) and ``gpus`` GPUs (a fraction
    lets several tasks share one GPU)."""

    cpus: float = 1.0
    gpus: float = 0.0


@dataclass(frozen=True)
class TaskContext:
    """What a task's work receives: ``emit(event)`` reports progress and outcomes to the driver; ``paths`` maps
    driver paths (of the task's inputs and outputs) to where they are on this worker, when they differ."""

    emit: Callable[[Any], None]
    paths: Mapping[str, str] = field(default_factory=dict)

    def local(self, path: str | os.PathLike[str]) -> Path:
        """Where the driver's ``path`` is on this worker (the same path on a shared file system)."""
        return Path(self.paths.get(str(path), path))


@dataclass(frozen=True)
class Task:
    """A unit of work: ``work(ctx)`` does it and reports through ``ctx.emit`` (its own failures included);
    ``key`` names it in events and ``label`` in progress bars. ``inputs``: files the work reads; ``outputs``:
    directories it writes, each of which must appear whole on the driver (or not at all)."""

    key: str
    label: str
    work: Callable[[TaskContext], Any]
    resources: Resources = field(default_factory=Resources)
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()


@dataclass(frozen=True)
class TaskLost:
    """The task ``key`` never reported an outcome: its worker died (killed, crashed, out of memory) or its
    node left the cluster."""

    key: str
    reason: str


@dataclass(frozen=True)
class Capacity:
    """What an executor can run at once: total ``cpus`` and ``gpus`` over its workers or nodes, the memory
    of its smallest GPU (bytes; ``None`` without GPUs or when unknown: the layout then cannot pack runs by
    memory), and ``cpus_per_task`` when the executor gives every task a fixed number of CPUs whatever the task
    asks (e.g. the ``ray`` executor's ``num_cpus`` option): a run's torch threads follow it."""

    cpus: float
    gpus: float = 0.0
    gpu_memory: int | None = None
    cpus_per_task: float | None = None


@dataclass(frozen=True)
class ExecutorContext:
    """What an executor factory knows of the sweep: run at most ``jobs`` tasks at once (``None``: as many as
    the tasks' resources allow), the GPUs of this machine to spread local workers over (machine ids:
    :func:`shrinkbench.devices.gpu_ids`) and the memory of the smallest of them (bytes)."""

    jobs: int | None = None
    gpus: tuple[str, ...] = ()
    gpu_memory: int | None = None


class Executor(Protocol):
    """Runs tasks and delivers their events to ``emit`` in the calling process.

    An executor that needs set-up (connecting to a cluster) may also be a context manager: the sweep enters it
    after validating the configuration and before writing anything, so a failure to start (a bad cluster
    address) is a one-line error with nothing written, and exits it at the end. It may report its
    :class:`Capacity` (``capacity()``); without it the sweep assumes this machine's cores and GPUs.
    """

    def run(self, tasks: list[Task], emit: Callable[[Any], None]) -> None:
        """Run every task; return when all have finished or were lost (:class:`TaskLost`)."""
        ...


def read_directory(directory: str | os.PathLike[str]) -> dict[str, bytes]:
    """Every file under ``directory`` by its relative path (to send it to the machine that keeps it)."""
    root = Path(directory)
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def install_directory(target: str | os.PathLike[str], files: Mapping[str, bytes]) -> Path:
    """Write ``files`` (relative path -> content) as the directory ``target``, atomically: a reader sees the
    old directory or the complete new one, never a part. Returns ``target``. A name that is absolute or climbs
    out of the directory (``..``) -- files come from another machine -- is a one-line
    :class:`~shrinkbench.errors.ShrinkBenchError` and nothing is written."""
    target = Path(target)
    for name in files:
        parts = PurePosixPath(name).parts
        if not parts or PurePosixPath(name).is_absolute() or PureWindowsPath(name).is_absolute() or ".." in parts:
            raise ShrinkBenchError(f"refusing to install {name!r} into {target}: a file sent back by a worker must "
                                   "have a relative path inside its directory")
    with atomic_dir(target) as tmp:
        for name, content in files.items():
            path = tmp / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
    return target
