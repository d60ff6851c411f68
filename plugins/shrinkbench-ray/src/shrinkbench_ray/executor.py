"""The ``ray`` executor: every task (a dense model, a run) is a Ray task asking for the task's own resources.

Tasks arrive as data (:mod:`shrinkbench.tasks`): a picklable work, its :class:`~shrinkbench.Resources` (CPUs =
the run's torch threads, GPUs: a fraction shares a card), the files it reads and the directories it writes.
Ray places each task on a node that has its resources free -- the driver needs no GPU of its own: a run that
asks for a GPU resolves its device where it runs. Every task names its node in ``$SHRINKBENCH_NODE`` (host
name and Ray node id) for its row. Progress events travel to an inbox actor on the driver's node; a task's last
event (its outcome) travels with its return value, and reaches ``emit`` after the task's output directories are
installed -- once, even when Ray ran the task again. A task whose worker or node died is retried
``max_retries`` times by Ray (on another node if its node left), then reported as
:class:`~shrinkbench.TaskLost` (a ``failed`` row). With ``files = driver`` the workers need no file system
shared with the driver: every input file goes to the object store once and is written where the task runs, and
every output directory comes back whole and is installed on the driver -- run directories into the results
directory, dense models (with their rewind checkpoints) into the driver's cache, so a resume retrains nothing.
This module imports only ``shrinkbench`` (never the engine); Ray itself is imported when the executor starts.
"""

from __future__ import annotations

import os
import platform
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from shrinkbench import (
    Capacity,
    ExecutorContext,
    Options,
    Task,
    TaskContext,
    TaskLost,
    install_directory,
    read_directory,
)
from shrinkbench.devices import pin_gpu
from shrinkbench.errors import ShrinkBenchError, one_line

from .instance import GPU_MEMORY, address_of, connect, local_temp_dir, stop

__all__ = ["RayExecutor", "create", "local_temp_dir"]

FILES = ("shared", "driver")
NODE_VAR = "SHRINKBENCH_NODE"
"""Read by the engine for a row's ``node`` column (``shrinkbench.engine.run.NODE_VAR``): set in every Ray task to
the host name and the Ray node's id, which tells apart nodes that share a machine."""
Emit = Callable[[Any], None]


def create(options: Options, context: ExecutorContext) -> RayExecutor:
    """The ``ray`` executor for the sweep's ``context`` (``jobs``: tasks in flight at most) and the user's
    ``options`` (see the plugin's README). Without an ``address`` option, ``$RAY_ADDRESS`` (set in a Ray job's
    driver) is the address, as Ray itself would connect there; without either, a local instance starts."""
    address = address_of(options)
    files = options.choice("files", "shared" if address is None else "driver", *FILES)
    return RayExecutor(address=address, jobs=context.jobs, max_retries=options.integer("max_retries", 2, minimum=0),
                       send_files=files == "driver", num_cpus=options.number("num_cpus", None, strict=True),
                       num_gpus=options.number("num_gpus", None))


class RayExecutor:
    """Runs tasks on Ray (a context manager: entering connects to, or starts, the Ray instance).

    ``num_cpus`` / ``num_gpus``, when given, replace every task's own resources (for a cluster whose nodes
    need a different split than the sweep chose); the runs' torch threads follow ``num_cpus`` (through
    :attr:`~shrinkbench.Capacity.cpus_per_task`)."""

    def __init__(self, address: str | None = None, jobs: int | None = None, max_retries: int = 2,
                 send_files: bool = False, num_cpus: float | None = None, num_gpus: float | None = None) -> None:
        self.address, self.jobs, self.max_retries, self.send_files = address, jobs, max_retries, send_files
        self.num_cpus, self.num_gpus = num_cpus, num_gpus
        self._owns_ray = self._entered = False
        self._objects: dict[str, Any] = {}
        self._inbox: Any = None

    def __enter__(self) -> RayExecutor:
        self._entered = True
        self._owns_ray = connect(self.address)
        return self

    def __exit__(self, *exc: object) -> None:
        self._entered = False
        self._close_inbox()
        self._objects.clear()
        if self._owns_ray:
            stop()
            self._owns_ray = False

    def _close_inbox(self) -> None:
        if self._inbox is not None:
            import ray

            ray.kill(self._inbox)
            self._inbox = None

    def capacity(self) -> Capacity:
        """The cluster's CPUs and GPUs (all nodes together), the memory of its smallest GPU (from the nodes'
        ``gpu_memory_gib`` resource; unknown when a GPU node does not advertise it) and the CPUs every task
        gets when ``num_cpus`` is set."""
        import ray

        total = ray.cluster_resources()
        memory = [node["Resources"].get(GPU_MEMORY) for node in ray.nodes()
                  if node.get("Alive") and node["Resources"].get("GPU", 0) > 0]
        known = memory and all(m is not None for m in memory)
        return Capacity(float(total.get("CPU", 0.0)), float(total.get("GPU", 0.0)),
                        int(min(memory) * 2**30) if known else None, self.num_cpus)

    def run(self, tasks: Sequence[Task], emit: Emit) -> None:
        """Submit the tasks (at most ``jobs`` in flight), forward their events to ``emit`` as they come,
        install what they send back, then deliver each one's outcome; report lost ones."""
        if not tasks:
            return
        import ray

        if self._inbox is None:
            self._inbox = _start_inbox()
        inbox = self._inbox
        waiting = list(tasks)
        pending: dict[Any, Task] = {}
        seen: dict[str, int] = {}  # per task attempt: the last event passed to emit
        try:
            while waiting or pending:
                while waiting and (self.jobs is None or len(pending) < self.jobs):
                    task = waiting.pop(0)
                    pending[self._submit(task, inbox)] = task
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=0.2)
                _drain(inbox, emit, seen)
                for ref in ready:
                    task = pending.pop(ref)
                    try:
                        outputs, sent, outcome = ray.get(ref)
                    except ray.exceptions.RayError as exc:
                        _drain(inbox, emit, seen)
                        emit(TaskLost(task.key, one_line(exc, 200)))
                        continue
                    _deliver(sent, emit, seen)  # its events still on their way to the inbox, in order
                    try:
                        for target, files in outputs.items():
                            install_directory(target, files)
                    except ShrinkBenchError as exc:  # a file name that would land outside its directory
                        emit(TaskLost(task.key, one_line(exc, 200)))
                        continue
                    for event in outcome:  # after its files: a row never names a run directory not yet there
                        emit(event)
        except BaseException:
            for ref in pending:
                ray.cancel(ref, force=True)
            raise
        finally:
            _drain(inbox, emit, seen)
            if not self._entered:
                self._close_inbox()

    def _submit(self, task: Task, inbox: Any) -> Any:
        import ray

        resources = task.resources
        remote = ray.remote(_run_remote).options(
            num_cpus=self.num_cpus if self.num_cpus is not None else resources.cpus,
            num_gpus=self.num_gpus if self.num_gpus is not None else resources.gpus,
            max_retries=self.max_retries, retry_exceptions=False)
        inputs = {path: self._object(path) for path in task.inputs} if self.send_files else {}
        return remote.remote(task, inbox, inputs, self.send_files)

    def _object(self, path: str) -> Any:
        """The object-store copy of a driver file, put there once for every task that reads it."""
        if path not in self._objects:
            import ray

            self._objects[path] = ray.put(Path(path).read_bytes())
        return self._objects[path]


class _Inbox:
    """The driver's mailbox, a Ray actor on the driver's node: tasks put their events in, the driver takes them
    out in the order they arrived. A plain (not async) actor, so one caller's puts keep their order."""

    def __init__(self) -> None:
        self._items: list[Any] = []

    def put(self, item: Any) -> None:
        self._items.append(item)

    def take(self) -> list[Any]:
        items, self._items = self._items, []
        return items


def _start_inbox() -> Any:
    """An :class:`_Inbox` on the driver's node, and only there (a softer placement let Ray put it on a worker
    node when the driver's node was slow to start it, and that node's loss then took every event with it). It
    asks for no CPU: it must not take a run's place, and the driver's node may offer none."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
    return ray.remote(_Inbox).options(num_cpus=0, scheduling_strategy=here).remote()


def _drain(inbox: Any, emit: Emit, seen: dict[str, int]) -> None:
    import ray

    _deliver(ray.get(inbox.take.remote()), emit, seen)


def _deliver(items: list[tuple[str, int, Any]], emit: Emit, seen: dict[str, int]) -> None:
    """Pass on each ``(attempt, number, event)`` not passed on before (the inbox and a task's return value
    both carry its events: whichever arrives first delivers them, in the order they were sent)."""
    for attempt, number, event in items:
        if number > seen.get(attempt, -1):
            seen[attempt] = number
            emit(event)


class _Outbox:
    """A task's events on their way to the driver's inbox, sent without ever waiting: a Ray task blocked in
    ``ray.get`` or ``ray.wait`` lends its CPUs back to Ray, which then starts another task (and a fresh worker)
    on them -- waiting per event, or only for the last ones at the end, 2 CPUs ran 3 runs at once.

    Every event is numbered within this attempt of the task, and the numbered events also travel with the task's
    return value (:meth:`close`): the driver passes each on once, from whichever copy comes first, in order.
    The latest event is held back until the next one comes, or for ``hold`` seconds while the work still runs:
    the last one a work emits before it returns is its outcome (a run's row, a dense model), and it travels only
    with the task's return value -- after the task's output files, and only for the attempt whose return reached
    the driver. An outcome sent live instead could reach the driver before the files, or twice when a node died
    after sending it and Ray ran the task again."""

    def __init__(self, inbox: Any, hold: float = 0.5) -> None:
        self._inbox, self._hold = inbox, hold
        self._attempt = uuid.uuid4().hex
        self._sent: list[tuple[str, int, Any]] = []
        self._held: tuple[Any, float] | None = None
        self._closed = False
        self._changed = threading.Condition()
        threading.Thread(target=self._flush_late, name="shrinkbench-outbox", daemon=True).start()

    def emit(self, event: Any) -> None:
        """Send the event held so far and hold ``event``."""
        with self._changed:
            if self._held is not None:
                self._send(self._held[0])
            self._held = (event, time.monotonic())
            self._changed.notify()

    def close(self, outcome: bool) -> tuple[list[tuple[str, int, Any]], list[Any]]:
        """Stop; return every numbered event sent, and the held event when it is the work's ``outcome`` (else it
        is sent too)."""
        with self._changed:
            self._closed = True
            held, self._held = self._held, None
            self._changed.notify()
            if held is not None and not outcome:
                self._send(held[0])
            return list(self._sent), [held[0]] if held is not None and outcome else []

    def _send(self, event: Any) -> None:
        item = (self._attempt, len(self._sent), event)
        self._sent.append(item)
        self._inbox.put.remote(item)  # never waited for: the copy in the return value covers a late one

    def _flush_late(self) -> None:
        with self._changed:
            while not self._closed:
                if self._held is None:
                    self._changed.wait()
                    continue
                left = self._held[1] + self._hold - time.monotonic()
                if left > 0:
                    self._changed.wait(left)
                else:
                    self._send(self._held[0])
                    self._held = None


def _run_remote(task: Task, inbox: Any, inputs: dict[str, Any],
                ship: bool) -> tuple[dict[str, dict[str, bytes]], list[tuple[str, int, Any]], list[Any]]:
    """The body of every Ray task: name the node for the run's row, and with ``ship`` write the task's input
    files where it runs and give its outputs scratch directories; run the work with its events sent to the
    driver's inbox; return the output directories' files for the driver to install (none on a shared file
    system), the numbered events sent, and the work's outcome (its last event)."""
    import ray

    os.environ[NODE_VAR] = f"{platform.node()}/{ray.get_runtime_context().get_node_id()[:8]}"
    gpus = ray.get_gpu_ids()
    if gpus:  # the GPU Ray gave this task (a fresh worker process for each GPU task): cuda:0 here
        pin_gpu(str(gpus[0]))
    scratch = Path(tempfile.mkdtemp(prefix="shrinkbench-task-")) if ship else None
    paths: dict[str, str] = {}
    try:
        if scratch is not None:
            for index, (path, blob) in enumerate(inputs.items()):
                local = scratch / "in" / str(index) / Path(path).name
                local.parent.mkdir(parents=True, exist_ok=True)
                local.write_bytes(ray.get(blob))
                paths[path] = str(local)
            for index, target in enumerate(task.outputs):
                paths[target] = str(scratch / "out" / str(index) / Path(target).name)
        outbox = _Outbox(inbox)
        returned = False
        try:
            task.work(TaskContext(outbox.emit, paths))
            returned = True
        finally:
            sent, outcome = outbox.close(outcome=returned)
        outputs = {target: read_directory(paths[target]) for target in task.outputs
                   if scratch is not None and Path(paths[target]).is_dir()}
        return outputs, sent, outcome
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
