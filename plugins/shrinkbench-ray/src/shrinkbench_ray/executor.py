"""The ``ray`` executor: every task (a dense model, a run) is a Ray task with the run's CPUs and GPUs.

Progress events travel from the tasks to the driver through a ``ray.util.queue.Queue``; a task's final
outcome is its return value. A task whose worker or node died is retried ``max_retries`` times by Ray, then
reported as :class:`shrinkbench.engine.events.TaskLost` (a ``failed`` row). With ``files = driver`` the
workers need no shared file system: dense weights go to the runs through the object store and each run's
directory comes back to the driver as its task's return value.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from shrinkbench.devices import PINNED_GPU_VAR
from shrinkbench.engine.dense import DenseTask
from shrinkbench.engine.events import DenseDone, Emit, RunFiles, TaskLost
from shrinkbench.engine.executors import ExecutorContext, int_option
from shrinkbench.engine.run import RunTask
from shrinkbench.errors import ShrinkBenchError, one_line

__all__ = ["RayExecutor", "create", "local_temp_dir"]

FILES = ("shared", "driver")


def create(options: Mapping[str, Any], context: ExecutorContext) -> RayExecutor:
    """The ``ray`` executor for the sweep's ``context`` and the user's ``options`` (see the plugin's README)."""
    address = options.get("address") or None
    files = options.get("files") or ("shared" if address is None else "driver")
    if files not in FILES:
        raise ShrinkBenchError(f"executor option files must be one of {', '.join(FILES)}, got {files!r}")
    return RayExecutor(
        address=address,
        num_cpus=_positive(options, "num_cpus", float(context.threads)),
        num_gpus=_positive(options, "num_gpus", 1.0 if context.device.startswith("cuda") else 0.0, zero=True),
        max_retries=int_option(options, "max_retries", 2, minimum=0),
        send_files=files == "driver",
    )


def _positive(options: Mapping[str, Any], key: str, default: float, zero: bool = False) -> float:
    value = options.get(key, default)
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = -1.0
    if isinstance(value, bool) or number < 0 or (number == 0 and not zero):
        raise ShrinkBenchError(f"executor option {key} must be a number {'>=' if zero else '>'} 0, got {value!r}")
    return number


class RayExecutor:
    """Runs tasks on Ray (a context manager: entering connects to, or starts, the Ray instance)."""

    def __init__(self, address: str | None = None, num_cpus: float = 1.0, num_gpus: float = 0.0,
                 max_retries: int = 2, send_files: bool = False) -> None:
        self.address, self.num_cpus, self.num_gpus = address, num_cpus, num_gpus
        self.max_retries, self.send_files = max_retries, send_files
        self._owns_ray = False
        self._dense_refs: dict[str, Any] = {}

    def __enter__(self) -> RayExecutor:
        # Ray would otherwise re-create `uv run`'s environment for its workers (slow, and offline it fails)
        os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
        import ray

        if ray.is_initialized():
            return self
        _check_reachable(self.address)
        temp_dir = local_temp_dir() if self.address is None else None
        try:
            if self.address is None:
                ray.init(include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR, _temp_dir=temp_dir)
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

    def run(self, tasks: Sequence[Any], emit: Emit) -> None:
        """Submit every task, forward their events to ``emit`` as they come, report lost ones."""
        if not tasks:
            return
        import ray
        from ray.util.queue import Queue

        events = Queue()
        remote = ray.remote(_run_remote).options(num_cpus=self.num_cpus, num_gpus=self.num_gpus,
                                                 max_retries=self.max_retries, retry_exceptions=False)
        pending = {remote.remote(self._prepare(task), events, self._dense_ref(task),
                                 self.send_files and isinstance(task, DenseTask)): task for task in tasks}
        try:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=0.2)
                _drain(events, emit)
                for ref in ready:
                    task = pending.pop(ref)
                    try:
                        result = ray.get(ref)
                    except ray.exceptions.RayError as exc:
                        _drain(events, emit)
                        emit(TaskLost(task.key, one_line(exc, 200)))
                        continue
                    _drain(events, emit)
                    self._finish(task, result, emit)
        except BaseException:
            for ref in pending:
                ray.cancel(ref, force=True)
            raise
        finally:
            _drain(events, emit)
            ray.kill(events.actor)

    def _prepare(self, task: Any) -> Any:
        """The task as a worker gets it: runs send their files back when workers share no file system."""
        return dataclasses.replace(task, send_files=True) if self.send_files and isinstance(task, RunTask) else task

    def _dense_ref(self, task: Any) -> Any:
        """For a run without a shared file system, its dense weights as an object-store reference."""
        if not (self.send_files and isinstance(task, RunTask)):
            return None
        path = task.dense.path
        if path not in self._dense_refs and Path(path).is_file():
            import ray

            self._dense_refs[path] = ray.put(Path(path).read_bytes())
        return self._dense_refs.get(path)

    def _finish(self, task: Any, result: dict[str, Any] | None, emit: Emit) -> None:
        """Hand a finished task's return value to the driver: dense weights to keep, run files to write."""
        if not result:
            return
        if "dense" in result:
            import ray

            path, blob = result["dense"]
            self._dense_refs[path] = ray.put(blob)
        if "files" in result:
            emit(result["files"])


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


def _run_remote(task: Any, events: Any, dense_blob: bytes | None, send_weights: bool) -> dict[str, Any] | None:
    """The body of every Ray task: materialise the dense weights if this node lacks them, run the task with
    its events sent to the driver's queue, and return what the driver must keep: the run's files, or (with
    ``send_weights``) the dense weights the task made."""
    import ray

    gpus = ray.get_gpu_ids()
    if gpus:  # Ray set CUDA_VISIBLE_DEVICES: the run's device is cuda:0 here
        os.environ[PINNED_GPU_VAR] = str(gpus[0])
    if isinstance(task, RunTask) and dense_blob is not None and not Path(task.dense.path).is_file():
        task = dataclasses.replace(task, dense=dataclasses.replace(task.dense, path=_materialise(task.dense, dense_blob)))
    returned: dict[str, Any] = {}
    puts: list[Any] = []

    def emit(event: Any) -> None:
        if isinstance(event, RunFiles):
            returned["files"] = event
            return
        if isinstance(event, DenseDone) and send_weights:
            returned["dense"] = (event.path, Path(event.path).read_bytes())
        # Not waited for here: a task blocked in ray.get lends its CPUs back to Ray, which then starts another
        # task (and a fresh worker) on them -- with a blocking put per event, 2 CPUs ran 3 runs at once.
        puts.append(events.actor.put_nowait.remote(event))

    try:
        task(emit)
    finally:  # every event is in the queue before the driver sees this task's outcome
        ray.get(puts)
    return returned or None


def _materialise(dense: DenseDone, blob: bytes) -> str:
    """Write the dense weights where the driver has them, or in a temporary directory; return the path."""
    for target in (Path(dense.path), Path(tempfile.gettempdir()) / "shrinkbench-dense" / Path(dense.path).name):
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_suffix(f".{os.getpid()}.{time.monotonic_ns()}.part")
            partial.write_bytes(blob)
            os.replace(partial, target)
            return str(target)
        except OSError:
            continue
    raise ShrinkBenchError(f"cannot write the dense weights {Path(dense.path).name} on this node")
