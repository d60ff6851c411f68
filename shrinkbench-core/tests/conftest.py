"""Core's tests use the inline toy plugin in this folder (no installed plugin needed)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture
def toy_registry():
    """A registry holding core's metrics and executors and the toy plugin only."""
    import toy_plugin

    from shrinkbench.engine import plugin as core_engine
    from shrinkbench.metrics import plugin as core_metrics
    from shrinkbench.plugins import load_registry

    return load_registry(inline=[("core-metrics", core_metrics), ("core-engine", core_engine),
                                 ("toy", toy_plugin)], entry_points=False)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SHRINKBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("SHRINKBENCH_LOCK_DIR", str(tmp_path / "locks"))  # measurements of parallel tests stay apart
    monkeypatch.delenv("SHRINKBENCH_DISABLE_PLUGINS", raising=False)
    monkeypatch.delenv("SHRINKBENCH_STRICT_PLUGINS", raising=False)
