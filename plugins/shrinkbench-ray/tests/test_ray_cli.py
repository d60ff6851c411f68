"""``shrinkbench bench --executor ray`` as users run it: its own local Ray instance, a driver killed with
``kill -9`` and resumed, a bad cluster address."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("ray")

from shrinkbench import schema  # noqa: E402
from shrinkbench.engine.store import ResultsStore  # noqa: E402

CLI = "from shrinkbench_cli.main import cli; cli()"
SWEEP = ("bench", "-d", "ray-blobs", "-m", "ray-mlp", "-s", "ray-magnitude", "-c", "2,4,8", "--seeds", "0,1",
         "--pretrain-epochs", "2", "--finetune-epochs", "3", "--threads", "1", "--device", "cpu", "--no-report")


def shrinkbench(*args: str, ray_dir: Path | None, env: dict[str, str] | None = None, **popen) -> subprocess.Popen:
    """The CLI in a subprocess; Ray keeps its files in ``ray_dir`` (None: Ray's own choice); ``env`` adds to the
    environment."""
    environment = {k: v for k, v in os.environ.items() if k != "RAY_TMPDIR"} | {"COLUMNS": "200"} | (env or {})
    if ray_dir is not None:
        environment["RAY_TMPDIR"] = str(ray_dir)
    return subprocess.Popen([sys.executable, "-c", CLI, *args], env=environment, text=True, **popen)


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (the Ray processes a driver started), from /proc."""
    parents: dict[int, int] = {}
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                parents[int(proc.name)] = int((proc / "stat").read_text().rpartition(")")[2].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    found, frontier = [], [pid]
    while frontier:
        children = [child for child, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found


def kill_tree(process: subprocess.Popen) -> None:
    """Kill a driver and every process it started (Ray does not clean up after a ``kill -9``)."""
    tree = descendants(process.pid)
    process.kill()
    process.wait()
    for pid in tree:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def finish(process: subprocess.Popen, timeout: float) -> tuple[str, str]:
    """Wait for ``process`` and return its stdout and stderr; kill it and whatever it started in any case."""
    try:
        return process.communicate(timeout=timeout)
    finally:
        kill_tree(process)


def table(directory: Path) -> dict:
    varying = schema.TIMINGS | {schema.NODE}  # ray names the Ray node, sequential the host
    found = {r["run_id"]: {k: v for k, v in r.items() if k not in varying} for r in ResultsStore(directory).raw_rows()}
    assert len(found) == len(ResultsStore(directory).raw_rows()), "duplicate rows"
    return found


def test_killed_driver_resumes_with_no_lost_or_duplicated_row(tmp_path):
    ray_dir = Path("/tmp") / f"sbray-{os.getpid()}"  # short: Ray's socket paths must stay under 107 bytes
    sequential = shrinkbench(*SWEEP, "--out", str(tmp_path / "sequential"), ray_dir=ray_dir,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert sequential.wait(timeout=600) == 0, sequential.stderr.read()
    out = tmp_path / "ray"
    driver = shrinkbench(*SWEEP, "--executor", "ray", "--out", str(out), ray_dir=ray_dir,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and not (out / "results.csv").exists():
            time.sleep(0.05)
    finally:
        kill_tree(driver)  # kill -9 the driver (and the Ray instance it started, which would outlive it)
    assert 1 <= len(table(out)) < 6
    resumed = shrinkbench(*SWEEP, "--executor", "ray", "--out", str(out), ray_dir=ray_dir,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    stdout, stderr = finish(resumed, timeout=600)
    assert resumed.returncode == 0, stderr
    assert "already complete" in stdout
    assert table(out) == table(tmp_path / "sequential")


def test_a_bad_address_is_one_line_exit_2_and_writes_nothing(tmp_path):
    process = shrinkbench(*SWEEP, "--executor", "ray", "--executor-option", "address=127.0.0.1:1",
                          "--out", str(tmp_path / "out"), ray_dir=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, stderr = process.communicate(timeout=120)
    lines = stderr.strip().splitlines()
    assert process.returncode == 2 and len(lines) == 1, stderr
    assert "cannot connect to the Ray cluster at '127.0.0.1:1'" in lines[0]
    assert not (tmp_path / "out").exists()


def test_a_temporary_directory_inside_the_virtualenv_still_runs(tmp_path):
    """nox and tox set TMPDIR inside the virtualenv, where Ray's workers refuse to start (and ray.init waits
    forever): the executor moves the local instance's files out of it."""
    venv = tmp_path / "venv"
    (venv / "tmp").mkdir(parents=True)
    process = shrinkbench(*SWEEP[:8], "2", "--seeds", "0", *SWEEP[11:], "--executor", "ray", "--out",
                          str(tmp_path / "out"), ray_dir=None, env={"VIRTUAL_ENV": str(venv), "TMPDIR": str(venv / "tmp")},
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, stderr = finish(process, timeout=300)
    assert process.returncode == 0, stderr
    assert [r["status"] for r in ResultsStore(tmp_path / "out").rows()] == ["ok"]

