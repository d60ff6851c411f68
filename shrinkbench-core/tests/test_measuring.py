"""Measuring alone: the file locks, the measuring gate against a real busy sibling process, the measured
speedup of masks under that load, the mask band, and the dense reference's cache key."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from torch import nn

from shrinkbench import measuring
from shrinkbench.devices import cpu_cores
from shrinkbench.errors import MetricNote
from shrinkbench.filelock import FileLock, locked
from shrinkbench.metrics import MetricContext, latency
from shrinkbench.threads import torch_threads

SIBLING = Path(__file__).with_name("busy_sibling.py")


@pytest.fixture
def lock_dir(tmp_path, monkeypatch) -> Path:
    directory = tmp_path / "locks"
    monkeypatch.setenv(measuring.LOCK_DIR_VAR, str(directory))
    return directory


class Sibling:
    """A busy sibling process (``busy_sibling.py``) and its log of work chunks ``(start, end)``."""

    def __init__(self, tmp: Path, lock_dir: Path, threads: int) -> None:
        self.log, self.stop = tmp / "sibling.log", tmp / "sibling.stop"
        self.log.touch()
        self.process = subprocess.Popen([sys.executable, str(SIBLING), str(lock_dir), str(self.log), str(self.stop),
                                         str(threads)])

    def chunks(self) -> list[tuple[float, float]]:
        lines = self.log.read_text().splitlines()
        return [(float(a), float(b)) for a, b in (line.split() for line in lines if len(line.split()) == 2)]

    def wait_busy(self, count: int = 5, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.chunks()) < count:
            assert self.process.poll() is None, "the sibling process died"
            assert time.monotonic() < deadline, "the sibling never got to work"
            time.sleep(0.05)

    def close(self) -> None:
        self.stop.touch()
        try:
            self.process.wait(timeout=30)
        finally:
            if self.process.poll() is None:
                self.process.kill()


@pytest.fixture
def sibling(tmp_path, lock_dir):
    made: list[Sibling] = []

    def start(threads: int) -> Sibling:
        made.append(Sibling(tmp_path, lock_dir, threads))
        made[-1].wait_busy()
        return made[-1]

    yield start
    for s in made:
        s.close()


def test_shared_locks_coexist_and_an_exclusive_one_excludes_every_other(tmp_path):
    path = tmp_path / "sub" / "x.lock"
    a, b = FileLock(path), FileLock(path)  # two handles conflict like two processes
    assert a.acquire(shared=True) and b.acquire(shared=True, blocking=False)
    b.release()
    assert not b.acquire(blocking=False)  # a holds it shared
    a.release()
    assert b.acquire(blocking=False) and not a.acquire(shared=True, blocking=False)
    b.close()
    with locked(path):
        assert not a.acquire(shared=True, blocking=False)
    assert a.acquire(shared=True, blocking=False)
    a.close()


def test_a_measurement_runs_while_a_busy_sibling_is_paused_and_the_sibling_resumes(sibling):
    busy = sibling(threads=1)
    with measuring.alone(wait_s=30) as quiet:
        start = time.monotonic()
        time.sleep(0.5)
        end = time.monotonic()
    assert quiet.alone
    chunks = busy.chunks()
    overlapping = [c for c in chunks if c[0] < end and c[1] > start]
    assert overlapping == [], f"the sibling worked during the measurement: {overlapping}"
    busy.wait_busy(len(chunks) + 3)  # and works again afterwards


def test_a_measurement_inside_working_lets_go_of_its_own_hold_and_takes_it_back(lock_dir):
    other = FileLock(lock_dir / "busy.lock")
    with measuring.working():
        assert not other.acquire(blocking=False)  # held shared by this process
        with measuring.alone(wait_s=5) as quiet:
            assert quiet.alone
            assert not other.acquire(shared=True, blocking=False)  # held exclusive now
        assert other.acquire(shared=True, blocking=False) and (other.release() or True)
        assert not other.acquire(blocking=False)  # shared again
    assert other.acquire(blocking=False)
    other.close()


def test_tasks_run_as_threads_of_one_process_pause_for_each_others_measurements(lock_dir):
    """An executor plugin that runs tasks as threads (the plugin guide's ``threads`` example): the state was per
    process, so a measurement released the other thread's hold and then waited for itself until the limit
    (120 s), and every row said the latency was timed while other work may have run."""
    import threading

    stop, log = threading.Event(), []

    def sibling() -> None:
        with measuring.working():
            while not stop.is_set():
                log.append(time.monotonic())  # a training step
                time.sleep(0.005)
                measuring.safe_point()

    thread = threading.Thread(target=sibling)
    thread.start()
    try:
        while len(log) < 5:
            time.sleep(0.01)
        with measuring.working(), measuring.alone(wait_s=10) as quiet:
            began = time.monotonic()
            time.sleep(0.3)
            ended = time.monotonic()
        deadline = time.monotonic() + 10
        while log[-1] < ended and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        stop.set()
        thread.join(timeout=30)
    assert quiet.alone and quiet.waited_s < 5
    assert not [t for t in log if began < t < ended]  # the sibling thread paused while this one measured
    assert log[-1] > ended  # and went on afterwards


def test_a_sibling_outside_a_safe_point_delays_a_measurement_only_until_the_wait_runs_out(lock_dir):
    stuck = FileLock(lock_dir / "busy.lock")
    stuck.acquire(shared=True)  # a task that never reaches a safe point
    try:
        with measuring.alone(wait_s=0.2) as quiet:
            pass
        assert not quiet.alone and quiet.waited_s >= 0.2
    finally:
        stuck.close()


def _lenet(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 300), nn.ReLU(), nn.Linear(300, 100), nn.ReLU(),
                         nn.Linear(100, 10))


def _masked(dense: nn.Module, keep: float) -> nn.Module:
    """A copy of ``dense`` whose weights keep the ``keep`` fraction of largest magnitudes, the rest exact zeros."""
    pruned = _lenet(0)
    pruned.load_state_dict(dense.state_dict())
    with torch.no_grad():
        for module in pruned.modules():
            if isinstance(module, nn.Linear):
                w = module.weight
                threshold = w.abs().flatten().kthvalue(int(w.numel() * (1 - keep))).values
                w.mul_(w.abs() > threshold)
    return pruned


def test_a_masked_model_measures_about_1x_against_its_dense_model_while_a_sibling_is_busy(sibling, one_thread):
    dense = _lenet(0)
    pruned = _masked(dense, 1 / 16)
    example = torch.randn(1, 1, 28, 28)
    busy = sibling(threads=cpu_cores())
    start = time.monotonic()
    values = latency.measure(MetricContext(pruned, example, dense=dense))
    end = time.monotonic()
    for suffix in ("", "_64"):
        speedup, spread = values[f"latency_speedup{suffix}"], values[f"latency_speedup{suffix}_spread"]
        assert not latency.outside_mask_band(speedup, spread), (suffix, speedup, spread)
    # the sibling worked on every core up to the measurement and after it (that it paused meanwhile is the gate
    # test's): without the gate, its load would have reached one side of the pairs more than the other
    busy.wait_busy(len(busy.chunks()) + 1)
    chunks = busy.chunks()
    assert any(c[1] <= start for c in chunks) and any(c[0] >= end for c in chunks)


@pytest.mark.parametrize(("speedup", "spread", "outside"), [
    (2.91, 0.09, True), (0.5, 0.2, True), (1.1, 0.05, False), (0.7, 0.3, False), (1.4, 0.05, True),
    (1.4, 0.2, False), (float("nan"), 0.0, False), (2.0, float("nan"), True),
])
def test_the_mask_band_allows_a_speedup_as_far_as_its_spread_reaches(speedup, spread, outside):
    assert latency.outside_mask_band(speedup, spread) is outside


def test_a_run_notes_a_measured_speedup_outside_the_mask_band():
    from shrinkbench.engine.run import mask_band_notes

    assert mask_band_notes({"latency_speedup": 1.02, "latency_speedup_spread": 0.04, "latency_speedup_64": 0.97,
                            "latency_speedup_64_spread": 0.02}) == []
    notes = mask_band_notes({"latency_speedup": 2.91, "latency_speedup_spread": 0.09, "latency_speedup_64": 1.0,
                             "latency_speedup_64_spread": 0.02})
    assert len(notes) == 1 and notes[0].startswith(latency.BAND_NOTE) and "2.91x ±9%" in notes[0]


def test_the_dense_reference_is_measured_again_when_threads_or_batch_change(toy_registry, monkeypatch):
    from shrinkbench.engine import run as run_module
    from shrinkbench.engine.runtime import Runtime

    calls: list[int] = []
    real = run_module.measure_all

    def spy(*args, **kwargs):
        calls.append(torch.get_num_threads())
        return real(*args, **kwargs)

    monkeypatch.setattr(run_module, "measure_all", spy)
    monkeypatch.setattr(run_module, "_references", {})
    model, example, notes = _lenet(0), torch.randn(1, 1, 28, 28), []
    for threads, batch in ((1, 256), (1, 256), (2, 256), (2, 512), (1, 256)):
        with torch_threads(threads):
            run_module.dense_reference(toy_registry, "dense/x", model, example, Runtime(eval_batch=batch), notes)
    assert calls == [1, 2, 2]  # the repeats come from the cache
    run_module.dense_reference(toy_registry, "dense/x", model, example, Runtime(channels_last=True), notes)
    assert len(calls) == 4


def test_a_run_times_its_pruned_model_beside_the_dense_weights_it_started_from(toy_registry, tmp_path, monkeypatch):
    from shrinkbench.engine import Recipe, ResultsStore, SweepConfig, run_sweep
    from shrinkbench.engine import run as run_module

    before: list[dict[str, torch.Tensor]] = []
    beside: list[tuple[nn.Module, nn.Module]] = []
    real = run_module.measure_all

    def spy(registry, model, *args, **kwargs):
        if kwargs.get("skip_data"):  # the dense reference, taken before pruning
            before.append({k: v.clone() for k, v in model.state_dict().items()})
        elif kwargs.get("dense") is not None:
            beside.append((model, kwargs["dense"]))
        return real(registry, model, *args, **kwargs)

    monkeypatch.setattr(run_module, "measure_all", spy)
    config = SweepConfig(dataset="toy-blobs", model="toy-mlp", pretrain=Recipe(epochs=2, lr=0.05),
                         finetune=Recipe(epochs=1, lr=0.01, batch_size=32), strategies=("toy-magnitude",),
                         compressions=(16.0,), seeds=(0,), threads=1, device="cpu")
    run_sweep(toy_registry, config, ResultsStore(tmp_path))
    row = ResultsStore(tmp_path).rows()[0]
    assert row["status"] == "ok", row["error"]
    assert len(before) == 1 and len(beside) == 1
    pruned, dense = beside[0]
    assert pruned is not dense
    state = dense.state_dict()
    assert state.keys() == before[0].keys() and all(torch.equal(state[k], before[0][k]) for k in state)
    assert any(not torch.equal(p, before[0][n]) for n, p in pruned.state_dict().items())
    assert all(row[c] == row[c] and row[c] > 0 for c in ("latency_speedup", "latency_speedup_64"))


def test_without_a_usable_lock_directory_work_goes_on_and_the_latency_says_so(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv(measuring.LOCK_DIR_VAR, str(blocker / "locks"))
    model = _lenet(0)
    example = torch.randn(1, 1, 28, 28)
    with measuring.working():
        measuring.safe_point()
        with pytest.warns(MetricNote, match="measuring locks unusable in .*file/locks"):
            values = latency.measure(MetricContext(_masked(model, 0.25), example, dense=model))
    assert values["latency_speedup"] > 0
