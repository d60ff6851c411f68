"""Cross-plugin tests: the real ``shrinkbench`` command with every workspace package installed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from shrinkbench import schema
from shrinkbench.engine.store import ResultsStore

CLI = "from shrinkbench_cli.main import main; main()"
SMALL = ("bench", "-d", "mnist-5k", "-m", "lenet-300-100", "-s", "global-magnitude", "-s", "random", "-s", "GlobalMagGrad",
         "-c", "1,4,16", "--pretrain-epochs", "2", "--finetune-epochs", "1", "--threads", "1", "--no-report")
"""A small sweep (9 runs) that every way of running the same work must reproduce row for row."""


def cli_env(cache: Path, **extra: str) -> dict[str, str]:
    """The environment for a CLI subprocess: private cache, wide output, no inherited plugin switches."""
    env = {**os.environ, "SHRINKBENCH_CACHE": str(cache), "COLUMNS": "200", "HF_HUB_OFFLINE": "1", **extra}
    for name in ("SHRINKBENCH_DISABLE_PLUGINS", "SHRINKBENCH_PLUGINS", "SHRINKBENCH_STRICT_PLUGINS"):
        if name not in extra:
            env.pop(name, None)
    return env


@pytest.fixture(autouse=True)
def _private_locks(tmp_path, monkeypatch):
    """Measuring locks of this test only (CLI subprocesses inherit them): parallel test sessions do not pause each
    other's runs."""
    monkeypatch.setenv("SHRINKBENCH_LOCK_DIR", str(tmp_path / "locks"))


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory) -> Path:
    """One dense-model cache for the whole session (dense models are trained once, as in real use)."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture
def shrinkbench(shared_cache, tmp_path):
    """Run ``shrinkbench ARGS`` in a subprocess; returns the CompletedProcess."""

    def run(*args: str, **env: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", CLI, *args], capture_output=True, text=True,
                              env=cli_env(shared_cache, **env), cwd=tmp_path, timeout=900)

    return run


@pytest.fixture(scope="session")
def reference(tmp_path_factory, shared_cache):
    """An uninterrupted sequential run of :data:`SMALL`: the rows every other executor must reproduce."""
    out = tmp_path_factory.mktemp("reference")
    result = subprocess.run([sys.executable, "-c", CLI, *SMALL, "--out", str(out)], capture_output=True, text=True,
                            env=cli_env(shared_cache), timeout=900)
    assert result.returncode == 0, result.stderr
    return out


def read_rows(directory: Path) -> dict[str, dict[str, str]]:
    """results.csv as written (text), keyed by run id, without the wall-time column."""
    rows = ResultsStore(directory).raw_rows()
    assert len(rows) == len({r["run_id"] for r in rows}), "duplicate rows"
    return {r["run_id"]: {k: v for k, v in r.items() if k not in schema.TIMINGS} for r in rows}
