"""The Ray executor's tests: a toy plugin importable by the Ray workers, and a private cache."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

HERE = Path(__file__).parent
# Under `uv run`, Ray would rebuild uv's environment for its workers (offline, that fails); it reads this when
# ray is first imported, which the test modules do at collection time.
os.environ["RAY_ENABLE_UV_RUN_RUNTIME_ENV"] = "0"


@pytest.fixture(scope="session", autouse=True)
def toy_plugin_environment(tmp_path_factory):
    """SHRINKBENCH_PLUGINS names the toy plugin, PYTHONPATH finds it -- set before any Ray instance starts, so
    its workers inherit both."""
    saved = {k: os.environ.get(k) for k in ("SHRINKBENCH_PLUGINS", "PYTHONPATH", "SHRINKBENCH_CACHE", "RAY_TOY_LOG")}
    os.environ["SHRINKBENCH_PLUGINS"] = "ray_toy_plugin"
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(HERE), saved["PYTHONPATH"]) if p)
    os.environ["SHRINKBENCH_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    os.environ["RAY_TOY_LOG"] = str(tmp_path_factory.mktemp("strategy-calls"))
    import sys

    sys.path.insert(0, str(HERE))
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
