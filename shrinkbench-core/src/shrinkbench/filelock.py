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

__all__ = ["locked"]

_THREAD_LOCKS: dict[str, threading.Lock] = {}
_GUARD = threading.Lock()


def _thread_lock(path: Path) -> threading.Lock:
    with _GUARD:
        return _THREAD_LOCKS.setdefault(str(path.absolute()), threading.Lock())


@contextlib.contextmanager
def locked(path: str | os.PathLike[str], *, shared: bool = False,
           on_wait: Callable[[], None] | None = None) -> Iterator[None]:
    """Hold an advisory lock on the file ``path`` for the block (exclusive; ``shared``: shared with other
    shared holders). ``on_wait`` is called once if the lock is held elsewhere, before waiting for it (to say
    why the process waits). Its directory must exist."""
    path = Path(path)
    with _thread_lock(path):
        if fcntl is None:
            yield
            return
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            mode = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
            try:
                fcntl.flock(fd, mode | fcntl.LOCK_NB)
            except BlockingIOError:
                if on_wait is not None:
                    on_wait()
                _wait(fd, mode)
            yield
        finally:
            os.close(fd)  # releases the lock


def _wait(fd: int, mode: int) -> None:
    """Block until the lock is ours (interruptible: Ctrl-C reaches Python within a tenth of a second)."""
    while True:
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            time.sleep(0.1)
