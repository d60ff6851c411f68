"""The ``ray`` executor: every task (a dense model, a run) is a Ray task asking for the task's own resources.

Tasks arrive as data (:mod:`shrinkbench.tasks`): a picklable work, its :class:`~shrinkbench.Resources` (CPUs =
the run's torch threads, GPUs: a fraction shares a card), the files it reads and the directories it writes.
Ray places each task on a node that has its resources free -- the driver needs no GPU of its own: a run that
asks for a GPU resolves its device where it runs. Progress events travel to the driver through a
``ray.util.queue.Queue``; a task's final outcome is its return value. A task whose worker or node died is
retried ``max_retries`` times by Ray (on another node if its node left), then reported as
:class:`~shrinkbench.TaskLost` (a ``failed`` row). With ``files = driver`` the workers need no file system
shared with the driver: every input file goes to the object store once and is written where the task runs, and
every output directory comes back whole and is installed on the driver -- run directories into the results
directory, dense models (with their rewind checkpoints) into the driver's cache, so a resume retrains nothing.
This module imports only ``shrinkbench`` (never the engine); Ray itself is imported when the executor starts.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from shrinkbench import (
    Capacity,
    ExecutorContext,
    Options,
    ShrinkBenchError,
    Task,
    TaskContext,
    TaskLost,
    install_directory,
    read_directory,
)
from shrinkbench.devices import PINNED_GPU_VAR
from shrinkbench.errors import one_line

__all__ = ["RayExecutor", "create", "local_temp_dir"]

FILES = ("shared", "driver")
Emit = Callable[[Any], None]


def create(options: Options, context: ExecutorContext) -> RayExecutor:
    """The ``ray`` executor for the sweep's ``context`` (``jobs``: tasks in flight at most) and the user's
    ``options`` (see the plugin's README)."""
    address = options.text("address", None)
    files = options.choice("files", "shared" if address is None else "driver", *FILES)
    return RayExecutor(address=address, jobs=context.jobs, max_retries=options.integer("max_retries", 2, minimum=0),
                       send_files=files == "driver", num_cpus=options.number("num_cpus", None, strict=True),
                       num_gpus=options.number("num_gpus", None))


class RayExecutor:
    """Runs tasks on Ray (a context manager: entering connects to, or starts, the Ray instance).

    ``num_cpus`` / ``num_gpus``, when given, replace every task's own resources (for a cluster whose nodes
    need a different split than the sweep chose)."""

    def __init__(self, address: str | None = None, jobs: int | None = None, max_retries: int = 2,
                 send_files: bool = False, num_cpus: float | None = None, num_gpus: float | None = None) -> None:
        self.address, self.jobs, self.max_retries, self.send_files = address, jobs, max_retries, send_files
        self.num_cpus, self.num_gpus = num_cpus, num_gpus
        self._owns_ray = False
        self._objects: dict[str, Any] = {}

    def __enter__(self) -> RayExecutor:
        # Ray would otherwise re-create `uv run`'s environment for its workers (slow, and offline it fails)
        os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
        import ray

        if ray.is_initialized():
            return self
        _check_reachable(self.address)
        try:
            if self.address is None:
                ray.init(include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR,
                         _temp_dir=local_temp_dir())
            else:
                ray.init(address=self.address, log_to_driver=False, logging_level=logging.ERROR)
        except Exception as exc:  # noqa: BLE001 - every connection failure is the user's to fix
            where = f"the Ray cluster at {self.address!r}" if self.address else "a local Ray instance"
            raise ShrinkBenchError(f"cannot connect to {where} ({one_line(exc, 200)}); start the cluster "
                                   "with 'ray start --head', or leave out the address option for a local one") from None
        self._owns_ray = True
        return self

    def __exit__(self, *exc: object) -> None:
        if self._owns_ray:
            import ray

            ray.shutdown()
            self._owns_ray = False

    def capacity(self) -> Capacity:
        """The cluster's CPUs and GPUs (all nodes together)."""
        import ray

        total = ray.cluster_resources()
        return Capacity(float(total.get("CPU", 0.0)), float(total.get("GPU", 0.0)))

    def run(self, tasks: Sequence[Task], emit: Emit) -> None:
        """Submit the tasks (at most ``jobs`` in flight), forward their events to ``emit`` as they come,
        install what they send back, report lost ones."""
        if not tasks:
            return
        import ray
        from ray.util.queue import Queue

        events = Queue()
        waiting = list(tasks)
        pending: dict[Any, Task] = {}
        try:
            while waiting or pending:
                while waiting and (self.jobs is None or len(pending) < self.jobs):
                    task = waiting.pop(0)
                    pending[self._submit(task, events)] = task
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=0.2)
                _drain(events, emit)
                for ref in ready:
                    task = pending.pop(ref)
                    try:
                        returned = ray.get(ref)
                    except ray.exceptions.RayError as exc:
                        _drain(events, emit)
                        emit(TaskLost(task.key, one_line(exc, 200)))
                        continue
                    for target, files in (returned or {}).items():  # before the outcome reaches the driver
                        install_directory(target, files)
                    _drain(events, emit)
        except BaseException:
            for ref in pending:
                ray.cancel(ref, force=True)
            raise
        finally:
            _drain(events, emit)
            ray.kill(events.actor)

    def _submit(self, task: Task, events: Any) -> Any:
        import ray

        resources = task.resources
        remote = ray.remote(_run_remote).options(
            num_cpus=self.num_cpus if self.num_cpus is not None else resources.cpus,
            num_gpus=self.num_gpus if self.num_gpus is not None else resources.gpus,
            max_retries=self.max_retries, retry_exceptions=False)
        inputs = {path: self._object(path) for path in task.inputs} if self.send_files else {}
        return remote.remote(task, events, inputs, self.send_files)

    def _object(self, path: str) -> Any:
        """The object-store copy of a driver file, put there once for every task that reads it."""
        if path not in self._objects:
            import ray

            self._objects[path] = ray.put(Path(path).read_bytes())
        return self._objects[path]


def _check_reachable(address: str | None, timeout: float = 5.0) -> None:
    """Fail in seconds, not minutes, when ``host:port`` (or ``ray://host:port``) does not answer: Ray itself
    waits for an unreachable cluster for several minutes."""
    if address is None or address == "auto":
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise ShrinkBenchError(f"executor option address must be auto, host:port or ray://host:port, got {address!r}")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as exc:
        raise ShrinkBenchError(f"cannot connect to the Ray cluster at {address!r}: nothing answers at {host}:{port} "
                               f"({exc.strerror or exc}); start the cluster with 'ray start --head' or fix the "
                               "address") from None


def local_temp_dir() -> str | None:
    """Where a local Ray instance should keep its session files, or None for Ray's own choice.

    Ray's choice is ``$RAY_TMPDIR``, else ``$TMPDIR``, else ``/tmp`` (plus ``/ray``); its workers refuse to start
    when that lies inside the active virtualenv (``$VIRTUAL_ENV``) -- nox and tox put ``$TMPDIR`` there -- and
    ``ray.init`` then waits for them forever. Then ``/tmp`` (or ``/var/tmp``, or the home directory) is used.
    """
    venv = os.environ.get("VIRTUAL_ENV")
    base = os.environ.get("RAY_TMPDIR") or os.environ.get("TMPDIR") or tempfile.gettempdir()
    if not venv or not Path(base).resolve().is_relative_to(Path(venv).resolve()):
        return None
    for candidate in ("/tmp", "/var/tmp", str(Path.home())):
        if os.access(candidate, os.W_OK) and not Path(candidate).resolve().is_relative_to(Path(venv).resolve()):
            return os.path.join(candidate, "ray")
    raise ShrinkBenchError(f"the temporary directory {base} lies inside the virtualenv {venv}, where Ray's workers "
                           "refuse to start; set RAY_TMPDIR to a directory outside it")


def _drain(events: Any, emit: Emit) -> None:
    from ray.util.queue import Empty

    while True:
        try:
            batch = events.get_nowait_batch(max(1, events.qsize()))
        except Empty:
            return
        for event in batch:
            emit(event)
        if not batch:
            return


def _run_remote(task: Task, events: Any, inputs: dict[str, Any], ship: bool) -> dict[str, dict[str, bytes]]:
    """The body of every Ray task: with ``ship``, write the task's input files where it runs and give its outputs
    scratch directories; run the work with its events sent to the driver's queue; return the output directories'
    files for the driver to install (nothing on a shared file system)."""
    import ray

    gpus = ray.get_gpu_ids()
    if gpus:  # Ray set CUDA_VISIBLE_DEVICES: the run's device is cuda:0 here
        os.environ[PINNED_GPU_VAR] = str(gpus[0])
    scratch = Path(tempfile.mkdtemp(prefix="shrinkbench-task-")) if ship else None
    paths: dict[str, str] = {}
    puts: list[Any] = []

    def emit(event: Any) -> None:
        # Not waited for here: a task blocked in ray.get lends its CPUs back to Ray, which then starts another
        # task (and a fresh worker) on them -- with a blocking put per event, 2 CPUs ran 3 runs at once.
        puts.append(events.actor.put_nowait.remote(event))

    try:
        if scratch is not None:
            for index, (path, blob) in enumerate(inputs.items()):
                local = scratch / "in" / str(index) / Path(path).name
                local.parent.mkdir(parents=True, exist_ok=True)
                local.write_bytes(ray.get(blob))
                paths[path] = str(local)
            for index, target in enumerate(task.outputs):
                paths[target] = str(scratch / "out" / str(index) / Path(target).name)
        try:
            task.work(TaskContext(emit, paths))
        finally:  # every event is in the queue before the driver sees this task's outcome
            ray.get(puts)
        return {target: read_directory(paths[target]) for target in task.outputs
                if scratch is not None and Path(paths[target]).is_dir()}
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
