"""The ``ray`` executor in process, on a local Ray instance (2 CPUs, no dashboard) started by the test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

from shrinkbench import ExecutorContext, Options, schema  # noqa: E402
from shrinkbench.engine import Recipe, ResultsStore, SweepConfig, run_sweep  # noqa: E402
from shrinkbench.plugins import load_registry  # noqa: E402
from shrinkbench_ray.executor import create, local_temp_dir  # noqa: E402

VARYING = schema.TIMINGS | {schema.NODE}  # ray names the Ray node, sequential the host


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, _temp_dir=local_temp_dir())
    yield
    ray.shutdown()


def config(**changes) -> SweepConfig:
    base = dict(dataset="ray-blobs", model="ray-mlp", pretrain=Recipe(epochs=2, lr=0.05),
                finetune=Recipe(epochs=1, lr=0.01, lr_schedule="constant"), strategies=("ray-magnitude",),
                compressions=(2.0, 4.0, 8.0), seeds=(0, 1), threads=1, device="cpu")
    return SweepConfig(**{**base, **changes})


def rows(directory) -> dict:
    return {r["run_id"]: {k: v for k, v in r.items() if k not in VARYING} for r in ResultsStore(directory).raw_rows()}


def test_the_plugin_registers_the_ray_executor():
    registry = load_registry()
    assert registry.executor("ray").options[0][0] == "address"
    assert registry.plugin_of("executors", "ray") == "shrinkbench-ray"


@pytest.mark.parametrize(("environment", "options", "address", "send_files"), [
    ({}, {}, None, False),  # a local instance: its workers share the driver's file system
    ({"RAY_ADDRESS": "10.0.0.1:6379"}, {}, "10.0.0.1:6379", True),  # a Ray job's driver: a cluster
    ({"RAY_ADDRESS": "10.0.0.1:6379"}, {"address": "auto", "files": "shared"}, "auto", False),
])
def test_the_address_and_the_files_default(monkeypatch, environment, options, address, send_files):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    for key, value in environment.items():
        monkeypatch.setenv(key, value)
    spec = load_registry().executor("ray")
    executor = create(Options("executor ray", options, spec.option_names), ExecutorContext(jobs=3))
    assert (executor.address, executor.send_files, executor.jobs) == (address, send_files, 3)


@pytest.mark.parametrize("files", ["shared", "driver"])
def test_ray_gives_the_rows_of_the_sequential_executor(local_ray, tmp_path, files):
    registry = load_registry()
    run_sweep(registry, config(), ResultsStore(tmp_path / "sequential"))
    events = []
    run_sweep(registry, config(executor="ray", executor_options=(("files", files),)), ResultsStore(tmp_path / "ray"),
              progress=events.append)
    assert rows(tmp_path / "ray") == rows(tmp_path / "sequential") and len(rows(tmp_path / "ray")) == 6
    for run_id in rows(tmp_path / "ray"):  # the run directories are complete whoever wrote them
        files_written = {p.name for p in (tmp_path / "ray" / "runs" / run_id).iterdir()}
        assert files_written == {"config.json", "metrics.json", "log.csv", "weights.safetensors"}
    kinds = {type(e).__name__ for e in events}
    assert {"TaskStarted", "EpochDone", "RunFinished", "SweepStarted"} <= kinds  # live progress reaches the driver


def test_a_task_that_raises_or_whose_worker_dies_is_a_failed_row(local_ray, tmp_path):
    cfg = config(strategies=("ray-magnitude", "ray-raises", "ray-dies"), compressions=(2.0,), seeds=(0,),
                 executor="ray", executor_options=(("max_retries", "0"),))
    run_sweep(load_registry(), cfg, ResultsStore(tmp_path))
    by_strategy = {r["strategy"]: r for r in ResultsStore(tmp_path).rows()}
    assert by_strategy["ray-magnitude"]["status"] == "ok"
    assert by_strategy["ray-raises"]["status"] == "failed"
    assert by_strategy["ray-raises"]["error"] == ("strategy 'ray-raises' (ray_toy_plugin) raised RuntimeError: "
                                                   "strategy blew up")
    assert by_strategy["ray-dies"]["status"] == "failed" and by_strategy["ray-dies"]["error"].startswith("lost: ")


def _warm_worker(seconds: float) -> int:
    import time

    import shrinkbench.engine  # noqa: F401 - what a run imports: the worker is then ready for one at once
    time.sleep(seconds)
    return os.getpid()


def test_runs_share_the_cpus_without_oversubscribing(local_ray, tmp_path):
    """2 CPUs, 1 per run: two runs at a time, never three (a task blocked on sending an event must keep its CPU,
    or Ray starts a third run -- and a fresh worker -- on it). Two workers are started first: a worker that a
    dying run took with it is replaced only after seconds of Python and torch imports, longer than these runs."""
    warm = ray.remote(_warm_worker).options(num_cpus=1)
    assert len(set(ray.get([warm.remote(1.0), warm.remote(1.0)]))) == 2
    log = Path(os.environ["RAY_TOY_LOG"])
    for old in log.iterdir():
        old.unlink()
    cfg = config(strategies=("ray-slow",), finetune=Recipe(epochs=20, lr=0.01, lr_schedule="constant"), executor="ray",
                 executor_options=(("num_cpus", "1"),))
    run_sweep(load_registry(), cfg, ResultsStore(tmp_path))
    intervals = [(float(f.name.split("-")[1]), float(f.read_text())) for f in log.iterdir()]  # run start, end
    assert len(intervals) == 6
    most = max(sum(start <= moment < end for start, end in intervals) for moment, _ in intervals)
    assert most == 2, sorted(f.name for f in log.iterdir())


class _FakeInbox:
    """Stands in for the inbox actor: records what ``put.remote`` was given."""

    def __init__(self) -> None:
        self.items: list = []
        inbox = self

        class _Put:
            @staticmethod
            def remote(item):
                inbox.items.append(item)

        self.put = _Put


def test_a_task_never_waits_for_its_events(monkeypatch):
    """Waiting (ray.get or ray.wait) in a task lends its CPU back to Ray, which starts another task beside it:
    the outbox sends without waiting, and returns the numbered events for the driver instead."""
    from shrinkbench_ray.executor import _Outbox

    def refuse(*args, **kwargs):
        raise AssertionError("a task waited on Ray")

    monkeypatch.setattr(ray, "get", refuse)
    monkeypatch.setattr(ray, "wait", refuse)
    inbox = _FakeInbox()
    outbox = _Outbox(inbox, hold=60)
    for event in ("epoch 1", "epoch 2", "row"):
        outbox.emit(event)
    sent, outcome = outbox.close(outcome=True)
    assert [event for _, _, event in sent] == ["epoch 1", "epoch 2"] == [event for _, _, event in inbox.items]
    assert [number for _, number, _ in sent] == [0, 1] and len({attempt for attempt, _, _ in sent}) == 1
    assert outcome == ["row"]
    failed = _Outbox(_FakeInbox(), hold=60)
    failed.emit("epoch 1")
    assert [event for _, _, event in failed.close(outcome=False)[0]] == ["epoch 1"]  # no outcome: sent like the rest


def test_events_from_the_inbox_and_the_return_value_pass_once_in_order():
    from shrinkbench_ray.executor import _deliver

    emitted: list = []
    seen: dict = {}
    _deliver([("a", 0, "a0"), ("b", 0, "b0"), ("a", 1, "a1")], emitted.append, seen)  # the inbox so far
    _deliver([("a", 0, "a0"), ("a", 1, "a1"), ("a", 2, "a2"), ("a", 3, "a3")], emitted.append, seen)  # a returns
    _deliver([("a", 2, "a2"), ("b", 1, "b1"), ("a", 3, "a3")], emitted.append, seen)  # late copies in the inbox
    assert emitted == ["a0", "b0", "a1", "a2", "a3", "b1"]


@pytest.mark.parametrize(("environment", "options", "where"), [
    ({"RAY_ADDRESS": "http://127.0.0.1:8265"}, {}, "RAY_ADDRESS=http://127.0.0.1:8265"),
    ({}, {"address": "https://head:8265"}, "executor option address=https://head:8265"),
])
def test_a_dashboard_address_is_refused_in_one_line(monkeypatch, environment, options, where):
    """What `ray job` users export was taken as a cluster address and failed with a DNS error."""
    from shrinkbench import ShrinkBenchError

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    for key, value in environment.items():
        monkeypatch.setenv(key, value)
    spec = load_registry().executor("ray")
    with pytest.raises(ShrinkBenchError, match=f"{where} is a Ray dashboard") as raised:
        create(Options("executor ray", options, spec.option_names), ExecutorContext())
    assert "\n" not in str(raised.value)


def test_one_gpu_of_this_machine_is_refused_for_a_cluster():
    """--device cuda:1 with Ray: the workers, given a GPU by Ray, refused cuda:1 in every run."""
    from shrinkbench import ShrinkBenchError
    from shrinkbench.engine.resolution import resolve

    with pytest.raises(ShrinkBenchError, match="use --device cuda"):
        resolve(load_registry(), config(executor="ray", device="cuda:1"))


def test_num_cpus_sets_the_runs_threads(local_ray, tmp_path):
    """num_cpus changed the reservation, not torch's threads, though its help said it replaces --threads."""
    registry = load_registry()
    spec = registry.executor("ray")
    executor = create(Options("executor ray", {"num_cpus": "2"}, spec.option_names), ExecutorContext())
    assert executor.capacity().cpus_per_task == 2 and executor.capacity().gpu_memory is None
    run_sweep(registry, config(executor="ray", executor_options=(("num_cpus", "2"),), threads=None,
                               compressions=(2.0,), seeds=(0,)), ResultsStore(tmp_path))
    assert [r["threads"] for r in ResultsStore(tmp_path).rows()] == [2]
