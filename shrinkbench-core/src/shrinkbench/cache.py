"""ShrinkBench's cache directory and a small on-disk cache for lists that are slow to compute.

Model families (``timm:*``, ``torchvision:*``) list their names through :func:`cached_names`: importing timm
takes ~7 s, the list only changes with its version, so it is computed once per version and read back from
``$SHRINKBENCH_CACHE/names/<key>-<version>.json``. This module imports neither torch nor any plugin.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

from .atomic import atomic_write_text


def cache_dir() -> Path:
    """ShrinkBench's cache directory: ``$SHRINKBENCH_CACHE`` or the platform's user cache dir."""
    env = os.environ.get("SHRINKBENCH_CACHE")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("shrinkbench"))


def cache_file(key: str, version: str) -> Path:
    """Where the name list of ``key`` at ``version`` is stored."""
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in f"{key}-{version}")
    return cache_dir() / "names" / f"{safe}.json"


def cached_names(key: str, version: str, compute: Callable[[], list[str]]) -> list[str]:
    """The cached name list for (``key``, ``version``), computing and storing it on a miss.

    A cache that cannot be read is recomputed; one that cannot be written (read-only home) is skipped.
    """
    path = cache_file(key, version)
    try:
        names = json.loads(path.read_text())
        if isinstance(names, list) and all(isinstance(n, str) for n in names):
            return names
    except (OSError, ValueError):
        pass
    names = sorted(compute())
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps(names))
    except OSError:
        pass
    return names
