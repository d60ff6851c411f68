"""Advisory file locks between processes: concurrent sweeps sharing a results directory or a cache.

``locked(path)`` holds an exclusive :func:`fcntl.flock` lock on ``path`` (created if missing, never removed:
removing a lock file while another process waits on it would let a third lock a new file beside it) for the
block; ``shared=True`` takes a shared lock. The lock is released when the block ends or the process dies
(``kill -9`` included: the kernel drops it), so a crashed sweep never leaves a stale lock.

Where it holds: between processes on one machine, on any local file system. On NFS, Linux clients (2.6.12+)
emulate ``flock`` with POSIX byte-range locks, which NFSv4 (and NFSv3 with ``lockd``) honour across clients; a
mount with ``nolock`` or ``local_lock=all`` makes locks local to each client, and two machines writing one
results directory through it can then lose rows. Windows has no ``fcntl``: the lock is then a no-op there (the
sweep still works, one process per directory). Within one process the lock is also a :class:`threading.Lock`
per path, since ``flock`` does not exclude two threads sharing an open file.

:class:`FileLock` is a handle kept across calls, for protocols that take and drop a lock many times (the
measuring gate of :mod:`shrinkbench.measuring`): ``acquire(shared=..., blocking=...)`` and ``release()``. Two
handles of one process on one file conflict like two processes. ``flock`` is not fair: a process waiting for
an exclusive lock can wait as long as others keep re-taking a shared one; a protocol that needs a writer to get
in puts a gate in front (as the measuring gate does).
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["FileLock", "locked"]

_THREAD_LOCKS: dict[str, threading.Lock] = {}
_GUARD = threading.Lock()


def _thread_lock(path: Path) -> threading.Lock:
    with _GUARD:
        return _THREAD_LOCKS.setdefault(str(path.absolute()), threading.Lock())


@contextlib.contextmanager
def locked(path: str | os.PathLike[str], *, shared: bool = False,
           on_wait: Callable[[], None] | None = None) -> Iterator[None]:
    """Hold an advisory lock on the file ``path`` for the block (exclusive; ``shared``: shared with other
    shared holders), through a :class:`FileLock` of its own. ``on_wait`` is called once if the lock is held
    elsewhere, before waiting for it (to say why the process waits)."""
    path = Path(path)
    with _thread_lock(path):
        lock = FileLock(path)
        try:
            if not lock.acquire(shared=shared, blocking=False):
                if on_wait is not None:
                    on_wait()
                lock.acquire(shared=shared)
            yield
        finally:
            lock.close()  # releases the lock


def _wait(fd: int, mode: int) -> None:
    """Block until the lock is ours (interruptible: Ctrl-C reaches Python within a tenth of a second)."""
    while True:
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            time.sleep(0.1)


class FileLock:
    """One handle on the lock file ``path`` (created with its parent directories on first use, never removed):
    :meth:`acquire` takes it shared or exclusive, :meth:`release` lets go, :meth:`close` closes the file
    (releasing the lock). Not thread-safe: one handle serves one thread of control. Without ``fcntl``
    (Windows) every call succeeds and orders nothing."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._fd: int | None = None
        self.mode: str | None = None
        """``"shared"``, ``"exclusive"``, or ``None`` while not held."""

    def _open(self) -> int:
        if self._fd is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        return self._fd

    def acquire(self, *, shared: bool = False, blocking: bool = True) -> bool:
        """Take the lock (shared or exclusive), waiting for it unless ``blocking`` is false; return whether it is
        held. A handle that holds it in the other mode lets go first (``flock`` converts non-atomically). Raises
        ``OSError`` when the lock file cannot be created."""
        fd = self._open()
        wanted = "shared" if shared else "exclusive"
        if self.mode == wanted:
            return True
        if self.mode is not None:
            self.release()
        if fcntl is not None:
            mode = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
            try:
                fcntl.flock(fd, mode | fcntl.LOCK_NB)
            except BlockingIOError:
                if not blocking:
                    return False
                _wait(fd, mode)
        self.mode = wanted
        return True

    def release(self) -> None:
        """Let go of the lock (nothing happens when it is not held); the file stays open for the next use."""
        if self._fd is not None and self.mode is not None and fcntl is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        self.mode = None

    def close(self) -> None:
        """Release the lock and close the file."""
        self.release()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
