"""The local Ray instance's life: started early on its own thread while the command imports torch, taken by the
executor, stopped with the autoscaler's monitor killed first -- and stopped at exit when no sweep took it. Each
test runs in a fresh Python process (one Ray instance per process)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

pytest.importorskip("ray")

from shrinkbench import Options  # noqa: E402
from shrinkbench_ray import instance  # noqa: E402

PRELUDE = """
import json, os, sys, threading
import ray
from shrinkbench import Options
from shrinkbench_ray import instance
from shrinkbench_ray.instance import connect, prepare, stop

def instance_pids():
    from ray._private import worker
    return {kind: [info.process.pid for info in infos] for kind, infos in worker._global_node.all_processes.items()}
"""


@pytest.fixture
def ray_dir():
    """A short directory for the instance's files (Ray's socket paths must stay under 108 bytes)."""
    path = Path(tempfile.mkdtemp(prefix="sbray-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def python(code: str, ray_dir: Path, timeout: float = 180) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"} | {"RAY_TMPDIR": str(ray_dir)}
    return subprocess.run([sys.executable, "-c", PRELUDE + textwrap.dedent(code)], capture_output=True, text=True,
                          env=env, timeout=timeout)


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


def gone(pids: list[int], within: float = 20.0) -> list[int]:
    """Those of ``pids`` still alive after ``within`` seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.2)
    return [p for p in pids if alive(p)]


def test_stop_kills_the_monitor_before_ray_shutdown_and_leaves_no_process(ray_dir):
    result = python("""
        assert connect(None) is True
        pids = instance_pids()
        monitor = ray._private.worker._global_node.all_processes["monitor"][0].process
        real_shutdown = ray.shutdown
        seen = {}
        def shutdown(*args, **kwargs):
            seen["monitor_exit"] = monitor.poll()
            real_shutdown(*args, **kwargs)
        ray.shutdown = shutdown
        stop()
        print(json.dumps({"pids": pids, **seen, "initialized": ray.is_initialized()}))
    """, ray_dir)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.splitlines()[-1])
    assert out["monitor_exit"] == -9 and out["initialized"] is False  # killed before Ray's shutdown began
    assert {"gcs_server", "raylet", "monitor"} <= set(out["pids"])
    assert gone([p for pids in out["pids"].values() for p in pids]) == []


def test_a_monitor_that_will_not_stop_still_ends_in_ray_shutdown(ray_dir):
    """A stop whose wait for the monitor timed out skipped ray.shutdown(), leaving the instance running."""
    result = python("""
        import subprocess
        assert connect(None) is True
        monitor = ray._private.worker._global_node.all_processes["monitor"][0].process
        def wait(timeout=None):
            raise subprocess.TimeoutExpired("monitor", timeout)
        monitor.wait = wait
        stop()
        print(json.dumps({"initialized": ray.is_initialized()}))
    """, ray_dir)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == {"initialized": False}


def test_prepare_starts_the_instance_on_its_thread_and_the_executor_takes_it(ray_dir):
    result = python("""
        started_on = []
        real_init = ray.init
        def init(*args, **kwargs):
            started_on.append(threading.current_thread().name)
            return real_init(*args, **kwargs)
        ray.init = init
        prepare(Options("executor ray", {}))
        keeper = [t for t in threading.enumerate() if t.name == "shrinkbench-ray-start"]
        owns = connect(None)
        initialized = ray.is_initialized()
        stop()
        keeper[0].join(timeout=10)
        print(json.dumps({"started_on": started_on, "owns": owns, "initialized": initialized,
                          "keeper_alive": keeper[0].is_alive(), "after_stop": ray.is_initialized()}))
    """, ray_dir)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == {
        "started_on": ["shrinkbench-ray-start"], "owns": True, "initialized": True, "keeper_alive": False,
        "after_stop": False}
    assert "SIGTERM handler" not in result.stderr, result.stderr  # Ray's warning off the main thread is silenced


def test_an_instance_no_sweep_took_is_stopped_at_exit(ray_dir):
    """A command that stops at a bad flag after the early start (exit 2) leaves no Ray process behind."""
    result = python("""
        prepare(Options("executor ray", {}))
        instance._early.ready.wait()
        print(json.dumps(instance_pids()), flush=True)
        sys.exit(2)
    """, ray_dir)
    assert result.returncode == 2, result.stderr
    pids = json.loads(result.stdout.splitlines()[-1])
    assert gone([p for group in pids.values() for p in group]) == []


@pytest.mark.parametrize(("options", "environment"), [({"address": "auto"}, {}), ({}, {"RAY_ADDRESS": "10.0.0.1:1"}),
                                                      ({"address": 3}, {})])
def test_prepare_starts_nothing_for_a_cluster_or_a_bad_option(monkeypatch, options, environment):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    for key, value in environment.items():
        monkeypatch.setenv(key, value)
    instance.prepare(Options("executor ray", options))
    assert instance._early is None
