"""Finding and checking a dataset's files on disk, shared by the dataset plugins (vision, text): the search path
(``--data-root`` / ``$DATAPATH``, several directories separated by ``os.pathsep``), the one-line "not found"
error, file checksums and sizes. Standard library only (no torch), so ``shrinkbench data list`` stays quick."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from .errors import DataNotFoundError

__all__ = ["DATAPATH_VAR", "FIX_HINT", "file_digest", "find_first", "md5_of", "not_found", "search_dirs",
           "sha256_of", "tree_size"]

DATAPATH_VAR = "DATAPATH"
FIX_HINT = "set DATAPATH=/path/to/datasets or pass --data-root (or: shrinkbench data download NAME --root DIR)"


def search_dirs(root: Path | str | None) -> list[Path]:
    """The directories a loader searches, in order: ``root`` when given, else ``$DATAPATH``.

    Either may name several directories separated by ``os.pathsep`` (``:`` on Linux), as in ShrinkBench;
    empty entries are skipped and ``~`` is expanded.
    """
    value = os.environ.get(DATAPATH_VAR, "") if root is None else os.fspath(root)
    return [Path(p).expanduser() for p in value.split(os.pathsep) if p.strip()]


def not_found(dataset: str, looked_in: Iterable[Path], layout: str) -> DataNotFoundError:
    """A one-line :class:`DataNotFoundError`: which directories were searched, the layout expected, the fix."""
    places = [str(p) for p in looked_in]
    if not places:
        where = f"no data directory given ({DATAPATH_VAR} is not set and no --data-root)"
    else:
        where = "looked in " + ", ".join(places)
    return DataNotFoundError(f"{dataset} data not found: {where}; expected {layout}; {FIX_HINT}")


def find_first(
    dataset: str, root: Path | str | None, candidates: Sequence[str], exists: Callable[[Path], bool], layout: str
) -> Path:
    """The first ``base / candidate`` (over the search dirs, then candidates) for which ``exists`` holds.

    Raises the one-line :class:`DataNotFoundError` naming every directory tried when none matches.
    """
    tried: list[Path] = []
    for base in search_dirs(root):
        for rel in candidates:
            path = base / rel if rel else base
            tried.append(path)
            if exists(path):
                return path
    raise not_found(dataset, tried, layout)


def file_digest(path: Path, algorithm: str = "sha256", opener: Callable = open) -> str:
    """The hex digest (``algorithm``: a :mod:`hashlib` name) of a file, read in 1 MiB chunks; ``opener=gzip.open``
    digests its unzipped content."""
    digest = hashlib.new(algorithm, usedforsecurity=False)
    with opener(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def md5_of(path: Path, opener: Callable = open) -> str:
    """The hex MD5 of a file (``opener=gzip.open``: of its unzipped content)."""
    return file_digest(path, "md5", opener)


def sha256_of(path: Path, opener: Callable = open) -> str:
    """The hex SHA-256 of a file (``opener=gzip.open``: of its unzipped content)."""
    return file_digest(path, "sha256", opener)


def tree_size(path: Path) -> int:
    """Bytes of the regular files under ``path`` (a file: its size), symlinks not followed."""
    if path.is_file():
        return path.stat().st_size
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
            except OSError:
                pass
    return total
