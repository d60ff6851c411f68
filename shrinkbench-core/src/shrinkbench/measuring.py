"""Measuring alone: a latency is timed while no other ShrinkBench work runs on this machine.

Parallel runs share the machine's cores (and its GPUs' host threads), so a forward pass timed while a sibling
trains is slower by an amount nobody sees in the timing's own spread. The protocol, with two lock files
(:mod:`shrinkbench.filelock`) in :func:`lock_dir`:

- every task that works (a run, a dense model) holds ``busy.lock`` **shared** for its whole duration
  (:func:`working`), and calls :func:`safe_point` where it can pause: between training steps and evaluation
  batches. There, when a measurement is under way (``gate.lock`` is held), it lets go of ``busy.lock``, waits
  until the gate opens and takes ``busy.lock`` back. When nobody measures a safe point costs one non-blocking
  ``flock`` call and its release (microseconds).
- a measurement (:func:`alone`) lets go of its own ``busy.lock``, takes ``gate.lock`` **exclusive** (one
  measurement at a time; new safe points now pause), then ``busy.lock`` exclusive: it gets it once every other
  task has reached a safe point and paused, or finished. It measures, releases both, and takes its shared hold
  back. The gate in front of ``busy.lock`` is what lets a measurement in: ``flock`` alone would let tasks that
  keep re-taking a shared lock starve it.

Cost: every measurement pauses the machine's other tasks for its duration plus the wait for the slowest of them
to reach a safe point (one training step or evaluation batch; longer for work without safe points in between:
loading data, building a model, a strategy scoring its weights). A measurement never waits longer than
``wait_s``: past that it measures anyway and says so (:attr:`Quiet.alone` is false), so a task stuck outside a
safe point delays a sweep's measurements but never stops them. Task start-up before :func:`working` (a worker
importing torch) is not covered.

Scope: one machine -- the lock files live on local disk, so local worker processes and Ray workers of one node
order each other, several sweeps of one user too; Ray workers on other nodes do not wait (their load does not
reach this machine). Other users' processes and anything that does not take the locks are not paused. The lock
directory is ``$SHRINKBENCH_LOCK_DIR`` when set, else ``shrinkbench-<uid>`` in the system's temporary directory.
State is per thread: tasks run as threads of one process order each other as processes do.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .filelock import FileLock

__all__ = ["LOCK_DIR_VAR", "WAIT_S", "Quiet", "alone", "lock_dir", "safe_point", "working"]

LOCK_DIR_VAR = "SHRINKBENCH_LOCK_DIR"
"""Environment variable naming the directory of the measuring locks (inherited by worker processes)."""

WAIT_S = 120.0
"""Longest a measurement waits for the gate and for the other tasks to pause, in seconds."""

_POLL_S = (0.001, 0.05)  # first and longest pause between two tries of a lock while waiting with a deadline


def lock_dir() -> Path:
    """Where the measuring locks of this machine live: ``$SHRINKBENCH_LOCK_DIR``, else
    ``<temporary directory>/shrinkbench-<uid>``."""
    given = os.environ.get(LOCK_DIR_VAR)
    if given:
        return Path(given)
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return Path(tempfile.gettempdir()) / f"shrinkbench-{uid}"


@dataclass(frozen=True)
class Quiet:
    """How a measurement went: ``alone`` whether every other task had paused, ``waited_s`` the seconds spent
    waiting for that, ``problem`` why the locks could not be used at all (``""`` when they could)."""

    alone: bool
    waited_s: float
    problem: str = ""


class _State:
    """This process's handles on the two locks of one directory, and how deep it is in :func:`working` and
    :func:`alone`."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.busy = FileLock(directory / "busy.lock")
        self.gate = FileLock(directory / "gate.lock")
        self.working = 0
        self.measuring: Quiet | None = None


_local = threading.local()
"""Each thread's :class:`_State`: its own open lock files, so that tasks run as threads of one process (an
executor plugin may run them so) order each other as processes do (``flock`` locks belong to an open file)."""


def _current() -> _State:
    directory = lock_dir()
    state: _State | None = getattr(_local, "state", None)
    if state is None or state.directory != directory:
        if state is not None:
            if state.working or state.measuring:
                raise RuntimeError(f"${LOCK_DIR_VAR} changed while its locks were held")
            state.busy.close()
            state.gate.close()
        state = _local.state = _State(directory)
    return state


@contextlib.contextmanager
def working() -> Iterator[None]:
    """Hold this machine's ``busy`` lock shared for the block (a task's work; nested blocks share the hold), so
    that a measurement elsewhere waits until this process pauses at a :func:`safe_point` or leaves the block."""
    state = _current()
    if state.working == 0 and state.measuring is None:  # inside alone() the exclusive hold stays
        _try(lambda: state.busy.acquire(shared=True))  # without the lock the work goes on, unordered
    state.working += 1
    try:
        yield
    finally:
        state.working -= 1
        if state.working == 0 and state.measuring is None:
            state.busy.release()


def safe_point() -> None:
    """A point where this task may pause: when another process measures, wait until it is done. A no-op outside
    :func:`working` and inside :func:`alone`."""
    state: _State | None = getattr(_local, "state", None)
    if state is None or state.working == 0 or state.measuring is not None or state.busy.mode is None:
        return  # not working, measuring itself, or without usable locks
    if state.gate.acquire(shared=True, blocking=False):
        state.gate.release()
        return
    state.busy.release()
    state.gate.acquire(shared=True)  # waits while the measurement holds it exclusive
    state.gate.release()
    state.busy.acquire(shared=True)


def _take(lock: FileLock, deadline: float) -> bool:
    """Take ``lock`` exclusive, trying until ``deadline`` (``time.monotonic()``); whether it is held."""
    pause = _POLL_S[0]
    while not lock.acquire(blocking=False):
        if time.monotonic() >= deadline:
            return False
        time.sleep(pause)
        pause = min(2 * pause, _POLL_S[1])
    return True


def _try(action: Callable[[], object]) -> str | None:
    """Do ``action``; ``None``, or the one-line reason it failed with an ``OSError`` (a lock directory that cannot
    be created or written: measurements then go on unordered, and say so)."""
    try:
        action()
    except OSError as exc:
        return f"measuring locks unusable in {lock_dir()}: {exc.strerror or exc}"
    return None


@contextlib.contextmanager
def alone(wait_s: float = WAIT_S) -> Iterator[Quiet]:
    """Run the block (a measurement) while every other ShrinkBench task of this machine is paused at a safe point
    or idle; yields a :class:`Quiet` saying whether that was achieved within ``wait_s`` seconds (past them the
    block runs anyway). Nested blocks run inside the outer one's quiet. Safe points of this process do nothing
    inside the block."""
    state = _current()
    if state.measuring is not None:
        yield state.measuring
        return
    held = state.working > 0
    started = time.monotonic()
    deadline = started + wait_s
    if held:
        state.busy.release()
    problem = _try(lambda: _take(state.gate, deadline) and _take(state.busy, deadline))
    quiet = problem is None and state.busy.mode == "exclusive"
    state.measuring = Quiet(quiet, time.monotonic() - started, problem or "")
    try:
        yield state.measuring
    finally:
        state.measuring = None
        state.busy.release()
        state.gate.release()
        if held:
            _try(lambda: state.busy.acquire(shared=True))
