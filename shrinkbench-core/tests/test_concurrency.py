"""Several sweeps at once and processes that die: two sweeps writing into one results directory, two sweeps
sharing one dense cache, a driver killed with ``kill -9``, workers killed at every step of a task."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import probe_tasks
import pytest

from shrinkbench.atomic import publish_dir
from shrinkbench.engine import ResultsStore
from shrinkbench.engine.executors import FAULT_VAR, ProcessExecutor
from shrinkbench.errors import ShrinkBenchError
from shrinkbench.filelock import locked
from shrinkbench.tasks import TaskLost, install_directory

HERE = Path(__file__).parent


def _sweep(out: Path, strategy: str, compressions: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(HERE / "sweep_process.py"), str(out), strategy, compressions],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(process: subprocess.Popen) -> dict[str, int]:
    stdout, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, stderr[-3000:]
    return {line.split()[0]: int(line.split()[1]) for line in stdout.splitlines() if line.split()}


def test_two_sweeps_into_one_directory_keep_every_row(tmp_path):
    """results.csv and sweep.json were read-modify-written without a lock: 35 of 36 rows survived."""
    out = tmp_path / "out"
    compressions = ",".join(str(c) for c in range(2, 18))
    first = _sweep(out, "toy-magnitude", compressions)
    second = _sweep(out, "toy-random", compressions)
    assert _finish(first)["rows"] == 16 and _finish(second)["rows"] == 16
    rows = ResultsStore(out).rows()
    assert sorted(r["strategy"] for r in rows) == ["toy-magnitude"] * 16 + ["toy-random"] * 16
    assert all(r["status"] == "ok" for r in rows), [r.get("error") for r in rows]
    assert list(json.loads((out / "sweep.json").read_text())["experiments"]) == ["toy-blobs-toy-slow"]
    report = subprocess.run([sys.executable, "-m", "shrinkbench_cli", "report", str(out), "--to", str(tmp_path / "report")],
                            capture_output=True, text=True, timeout=300)
    assert report.returncode == 0 and "toy-random" in report.stdout, report.stderr[-2000:]


def test_two_sweeps_sharing_an_empty_cache_train_the_dense_model_once(tmp_path):
    """Both trained it (and each replaced the other's unit with rmtree-then-rename)."""
    first = _sweep(tmp_path / "a", "toy-magnitude", "2,4")
    second = _sweep(tmp_path / "b", "toy-magnitude", "2,4")
    trained = [_finish(first)["dense-epochs"], _finish(second)["dense-epochs"]]
    assert sorted(trained) == [0, 2]  # one sweep trained its 2 epochs, the other waited and took the unit
    units = [p for p in (Path(os.environ["SHRINKBENCH_CACHE"]) / "dense").iterdir() if p.is_dir()]
    assert len(units) == 1  # and no temporary directory left beside it
    assert [p.name for p in units[0].parent.iterdir() if p.name.startswith(".")] == [f".{units[0].name}.lock"]
    numbers = ("top1", "top5", "loss", "nonzero_params", "dense_top1")
    a, b = ({r["run_id"]: tuple(r[k] for k in numbers) for r in ResultsStore(tmp_path / d).rows()} for d in "ab")
    assert a == b and len(a) == 2


def test_concurrent_appends_under_the_lock_lose_nothing(tmp_path):
    code = ("import sys, time; from pathlib import Path; from shrinkbench.engine import ResultsStore\n"
            "out, name = Path(sys.argv[1]), sys.argv[2]; store = ResultsStore(out)\n"
            "(out / f'ready-{name}').touch()\n"
            "while len(list(out.glob('ready-*'))) < 2: time.sleep(0.01)\n"  # both start appending together
            "for i in range(100): store.append({'run_id': f'{name}{i}', 'status': 'ok'})\n")
    writers = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path), name]) for name in "ab"]
    assert [w.wait(timeout=300) for w in writers] == [0, 0]
    assert len(ResultsStore(tmp_path).raw_rows()) == 200


def test_a_waiting_locker_is_told_and_gets_the_lock_when_it_is_released(tmp_path):
    path = tmp_path / "unit.lock"
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from shrinkbench.filelock import locked\n"
                               "with locked(sys.argv[1]):\n    print('held', flush=True); time.sleep(1.5)\n",
                               str(path)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    told, started = [], time.monotonic()
    with locked(path, on_wait=lambda: told.append(time.monotonic() - started)):
        waited = time.monotonic() - started
    holder.wait(timeout=30)
    assert len(told) == 1 and told[0] < 0.5 and waited > 0.5


def test_publishing_a_directory_never_removes_before_it_renames(tmp_path):
    target = tmp_path / "unit"
    for content in ("first", "second"):
        tmp = tmp_path / f".{content}"
        tmp.mkdir()
        (tmp / "f").write_text(content)
        assert publish_dir(tmp, target, keep_existing=True) == (content == "first")
    assert (target / "f").read_text() == "first"  # a unit written once is never replaced
    tmp = tmp_path / ".third"
    tmp.mkdir()
    (tmp / "f").write_text("third")
    assert publish_dir(tmp, target) and (target / "f").read_text() == "third"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".second", "unit"]  # the caller removes what it kept


@pytest.mark.parametrize("name", ["../escape", "/etc/passwd", "a/../../b", ""])
def test_files_sent_back_by_a_worker_stay_inside_their_directory(tmp_path, name):
    with pytest.raises(ShrinkBenchError, match="relative path inside its directory"):
        install_directory(tmp_path / "run", {"ok.txt": b"1", name: b"2"})
    assert not (tmp_path / "run").exists() and not (tmp_path / "escape").exists()


def test_no_worker_outlives_a_driver_killed_mid_run(tmp_path):
    """Non-daemon workers finished their current run (hours, holding a GPU) after the driver was killed."""
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import probe_tasks\n"
            "from shrinkbench.engine.executors import ProcessExecutor\n"
            "tasks = [probe_tasks.task(probe_tasks.Linger(f'l{i}', 120)) for i in range(2)]\n"
            "ProcessExecutor(2).run(tasks, lambda e: print(e[1], flush=True) if isinstance(e, tuple) else None)\n")
    driver = subprocess.Popen([sys.executable, "-c", code, str(HERE)], stdout=subprocess.PIPE, text=True)
    workers = [int(driver.stdout.readline()) for _ in range(2)]
    os.kill(driver.pid, signal.SIGKILL)
    driver.wait(timeout=10)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(pid) for pid in workers):
        time.sleep(0.2)
    assert not [pid for pid in workers if _alive(pid)]


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for a reaper does not)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


@pytest.mark.parametrize("point", ["idle", "taken", "started", "during", "ended"])
def test_a_worker_killed_at_any_point_of_a_task_leaves_every_task_reported_once(monkeypatch, point):
    """A worker that died between taking a task and announcing it left the pool waiting forever. Now a task
    never begun goes to another worker, one begun is reported lost, and none is reported twice."""
    monkeypatch.setenv(FAULT_VAR, point)
    first = probe_tasks.Die("t0") if point == "during" else probe_tasks.Probe("t0")
    tasks = [probe_tasks.task(first), *(probe_tasks.task(probe_tasks.Probe(f"t{i}")) for i in (1, 2))]
    reported: list[str] = []
    lost: list[str] = []

    def emit(event) -> None:
        if isinstance(event, TaskLost):
            lost.append(event.key)
        elif event[0] not in lost:
            reported.append(event[0])

    ProcessExecutor(1).run(tasks, emit)
    if point in ("started", "during"):
        assert lost == ["t0"] and sorted(reported) == sorted(["t1", "t2"] + (["t0"] if point == "during" else []))
    else:
        assert lost == [] and sorted(reported) == ["t0", "t1", "t2"]


def test_tasks_given_up_on_are_never_run_later(monkeypatch):
    """Lost tasks stayed queued and ran at the next run of the same pool."""
    monkeypatch.setenv(FAULT_VAR, "idle")
    seen: list = []
    with ProcessExecutor(1) as executor:
        executor.run([probe_tasks.task(probe_tasks.Probe("first"))], seen.append)
        monkeypatch.delenv(FAULT_VAR)
        executor.run([probe_tasks.task(probe_tasks.Probe("second"))], seen.append)
    keys = [e[0] if isinstance(e, tuple) else ("lost", e.key) for e in seen]
    assert keys == ["first", "second"]
