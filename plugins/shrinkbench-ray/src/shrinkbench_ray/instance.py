"""The Ray instance a sweep runs on: joined, or started on this machine -- early, while the command still imports
torch and resolves the sweep, when the command says so (:func:`prepare`) -- and stopped without Ray's idle waits.

Measured on a 2-core machine (``benchmarks/README.md``): a local instance costs ~3 s of CPU in eight processes
to start, and ``ray.shutdown()`` then spends a second waiting for the autoscaler's monitor, which answers
SIGTERM by reporting to the already stopped GCS until Ray gives up and kills it.
"""

from __future__ import annotations

import atexit
import logging
import os
import socket
import tempfile
import threading
from pathlib import Path

from shrinkbench import Options, ShrinkBenchError
from shrinkbench.errors import one_line

__all__ = ["GPU_MEMORY", "address_of", "connect", "local_temp_dir", "prepare", "stop"]

MONITOR = "monitor"
"""Ray's name for the autoscaler monitor among a local instance's processes (``ray_constants.PROCESS_TYPE_MONITOR``):
it scales clusters up and down, which a local instance never does."""


GPU_MEMORY = "gpu_memory_gib"
"""The custom node resource that says the memory of each of a node's GPUs, in GiB (``ray start --resources
'{"gpu_memory_gib": 80}'``); a local instance started here advertises it itself."""


def address_of(options: Options) -> str | None:
    """The cluster a sweep's executor joins: the ``address`` option, else ``$RAY_ADDRESS`` (set in a Ray job's
    driver, and Ray itself would connect there), else ``None`` (start a local instance). An ``http(s)://``
    address -- the dashboard's, which ``ray job submit`` users export as ``RAY_ADDRESS`` -- is not one a driver
    can join: a one-line error says which to use instead."""
    option = options.text("address", None)
    address = option or os.environ.get("RAY_ADDRESS") or None
    if address is not None and address.lower().startswith(("http://", "https://")):
        where = "executor option address" if option else "RAY_ADDRESS"
        raise ShrinkBenchError(f"{where}={address} is a Ray dashboard (job submission) address, not a cluster a "
                               "driver can join; use the cluster's host:port (6379 by default), 'auto' on one of "
                               "its nodes, or ray://host:10001" + ("" if option else ", or unset RAY_ADDRESS"))
    return address


class _EarlyStart:
    """``ray.init`` of a local instance on its own thread, which then waits until the instance has stopped:
    Ray ties the processes it starts to the *thread* that started them (Linux's parent-death signal), so the
    thread must outlive them."""

    def __init__(self) -> None:
        self.error: BaseException | None = None
        self.ready = threading.Event()
        self.stopped = threading.Event()
        self.used = False
        threading.Thread(target=self._start, name="shrinkbench-ray-start", daemon=True).start()

    def _start(self) -> None:
        try:
            _init_local(quiet=True)
            atexit.register(self._stop_unused)  # after Ray's own handler (import ray), so it runs before it
        except BaseException as exc:  # noqa: BLE001 - reported by connect(), in the main thread
            self.error = exc
        finally:
            self.ready.set()
        self.stopped.wait()

    def _stop_unused(self) -> None:
        """At exit, when no executor took the instance (the command stopped before the sweep ran)."""
        if not self.used:
            self.used = True
            stop()
        self.stopped.set()


_early: _EarlyStart | None = None


def prepare(options: Options) -> None:
    """Start the local instance in the background when ``options`` ask for one (no address): the executor's
    ``create`` then finds it starting or started. Joining a cluster is left to :func:`connect` (it is quick).
    Never raises: a bad option or a failed start is reported when the executor is entered."""
    global _early
    try:
        if address_of(options) is not None or _early is not None:
            return
    except ShrinkBenchError:
        return
    _early = _EarlyStart()


def connect(address: str | None) -> bool:
    """Join the cluster at ``address``, or (``None``) take the instance :func:`prepare` started or start one
    here. True when this process started the instance (then :func:`stop` it). A failure is one line naming
    the fix."""
    import ray

    try:
        if address is None and _early is not None and not _early.used:
            _early.used = True
            _early.ready.wait()
            if _early.error is not None:
                raise _early.error
            return True
        if ray.is_initialized():
            return False
        _check_reachable(address)
        if address is None:
            _init_local(quiet=False)
        else:
            ray.init(address=address, log_to_driver=False, logging_level=logging.ERROR)
        return True
    except ShrinkBenchError:
        raise
    except Exception as exc:  # noqa: BLE001 - every connection failure is the user's to fix
        where = f"the Ray cluster at {address!r}" if address else "a local Ray instance"
        raise ShrinkBenchError(f"cannot connect to {where} ({one_line(exc, 200)}); start the cluster "
                               "with 'ray start --head', or leave out the address option for a local one") from None


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


def _init_local(quiet: bool) -> None:
    # Ray would otherwise re-create `uv run`'s environment for its workers (slow, and offline it fails)
    os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
    import ray

    if quiet:  # off the main thread Ray warns that it cannot install its SIGTERM handler (not needed here)
        logging.getLogger("ray").setLevel(logging.ERROR)
    memory = _local_gpu_memory_gib()
    ray.init(include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR, _temp_dir=local_temp_dir(),
             resources={GPU_MEMORY: memory} if memory else None)


def _local_gpu_memory_gib() -> float | None:
    """The memory of this machine's smallest visible GPU in GiB (``None`` without one), for a local instance's
    :data:`GPU_MEMORY` resource."""
    from shrinkbench import accelerator

    if not accelerator.cuda_available():
        return None
    return min(accelerator.total_memory(i) for i in range(accelerator.cuda_count())) / 2**30


def stop() -> None:
    """``ray.shutdown()`` of an instance this process started, after killing its autoscaler monitor (idle in a
    local instance; left to Ray, it holds the shutdown for a second). Stops the thread of an early start."""
    global _early
    import ray

    try:  # Ray's private API, so every step is guarded: Ray's own shutdown always follows
        from ray._private import worker

        for info in worker._global_node.all_processes.get(MONITOR, ()):
            info.process.kill()
            info.process.wait(timeout=10)
    except Exception:  # noqa: BLE001 - a monitor that will not die (or a changed private API): Ray's shutdown copes
        pass
    finally:
        ray.shutdown()
        if _early is not None and _early.used:
            _early.stopped.set()
            _early = None


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
