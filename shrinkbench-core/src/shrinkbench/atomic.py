"""Atomic file writes: a reader (or a process killed mid-write) sees the old file or the new one, never a torn one.

Every file ShrinkBench writes that another run or a resumed sweep reads back goes through this module: the
results table, the sweep configuration, the dense-model cache, cached name lists and per-run directories.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

from .errors import ShrinkBenchError

__all__ = ["atomic_dir", "atomic_path", "atomic_write_text", "check_writable_dir", "publish_dir"]


@contextlib.contextmanager
def atomic_path(path: str | Path, fsync: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; when the block succeeds it replaces ``path`` in one rename.

    The block writes the whole file to the yielded path (any writer: text, ``safetensors``, ``csv``). On an
    exception the temporary file is removed and ``path`` is left as it was. ``fsync`` flushes the file to disk
    before the rename (for files that must survive a power cut, like ``results.csv``).
    """
    path = Path(path)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; results are meant to be shared like any file
    try:
        yield tmp
        if fsync:
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | Path, text: str, fsync: bool = False) -> None:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_path`)."""
    with atomic_path(path, fsync=fsync) as tmp:
        tmp.write_text(text)


@contextlib.contextmanager
def atomic_dir(path: str | Path, *, keep_existing: bool = False) -> Iterator[Path]:
    """Yield an empty temporary directory beside ``path``; when the block succeeds it is published as ``path``
    by :func:`publish_dir` (``keep_existing``: a ``path`` that appeared meanwhile wins and the new one is
    dropped). On an exception the temporary directory is removed, so no half-written directory survives."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    os.chmod(tmp, 0o777 & ~_umask())
    try:
        yield tmp
        publish_dir(tmp, path, keep_existing=keep_existing)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def publish_dir(tmp: Path, path: Path, *, keep_existing: bool = False) -> bool:
    """Make the complete directory ``tmp`` appear as ``path`` in one rename; return whether it did.

    Never remove-then-rename: with no ``path`` the rename is the publication. An existing ``path`` is, with
    ``keep_existing``, left as it is and ``tmp`` not published (for units written once and never rewritten,
    where a concurrent writer got there first with the same content); otherwise it is first renamed aside to a
    fresh name, the new directory renamed into place, and the old one removed after: a reader sees the old
    directory, the new one, or for an instant none, never a mixture or a half-removed one."""
    asides: list[Path] = []
    try:
        for _ in range(100):  # another process may publish or move the same path between two of our steps
            try:
                os.rename(tmp, path)
                return True
            except OSError as exc:
                if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR):
                    raise
            if keep_existing:
                return False
            asides.append(path.with_name(f".{path.name}.old-{uuid.uuid4().hex[:12]}"))
            with contextlib.suppress(FileNotFoundError):  # someone else moved it: the name is free all the same
                os.rename(path, asides[-1])
    finally:
        for aside in asides:
            shutil.rmtree(aside, ignore_errors=True)
    raise OSError(errno.EBUSY, f"cannot publish {path}: it keeps being replaced by another process")


def check_writable_dir(path: str | Path, what: str, fix: str) -> None:
    """Raise a one-line :class:`ShrinkBenchError` unless ``path`` is, or can be created as, a directory this
    process can write to (``what`` names it, ``fix`` says what to do). Nothing is left behind: a directory that
    does not exist yet is not created, a probe file in its nearest existing ancestor is removed at once."""
    path = Path(path).expanduser()
    probe_in = path.absolute()
    while not probe_in.exists():
        probe_in = probe_in.parent
    if not probe_in.is_dir():
        where = "is a file" if probe_in == path.absolute() else f"cannot be created: {probe_in} is a file"
        raise ShrinkBenchError(f"{what} {path} {where}; {fix}")
    try:
        fd, name = tempfile.mkstemp(dir=probe_in, prefix=".shrinkbench-probe-")
        os.close(fd)
        os.unlink(name)
    except OSError as exc:
        where = "is not writable" if probe_in == path.absolute() else f"cannot be created in {probe_in}"
        raise ShrinkBenchError(f"{what} {path} {where} ({exc.strerror or exc}); {fix}") from None
