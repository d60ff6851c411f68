"""CLI tests run the real ``shrinkbench`` command in a subprocess, with core's toy plugin loaded through
``SHRINKBENCH_PLUGINS`` (so they need no installed plugin)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TOY_DIR = Path(__file__).parents[2] / "shrinkbench-core" / "tests"


@pytest.fixture
def run_cli(tmp_path):
    """Run ``shrinkbench ARGS`` with the toy plugin; returns the CompletedProcess."""

    def run(*args: str, toy: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
        environment = {**os.environ, "SHRINKBENCH_CACHE": str(tmp_path / "cache"), "COLUMNS": "200", **(env or {})}
        environment.pop("SHRINKBENCH_DISABLE_PLUGINS", None)
        if toy:
            environment["SHRINKBENCH_PLUGINS"] = "toy_plugin"
            environment["PYTHONPATH"] = os.pathsep.join([str(TOY_DIR), environment.get("PYTHONPATH", "")])
        code = "from shrinkbench_cli.main import cli; cli()"
        return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=environment,
                              cwd=tmp_path, timeout=600)

    return run
