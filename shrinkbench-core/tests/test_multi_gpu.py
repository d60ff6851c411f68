"""Many GPUs on the CUDA stand-in: one identity per GPU, decided by the driver and used as it is by the worker
pinned to it (``CUDA_VISIBLE_DEVICES`` read once and renumbered, as CUDA does), workers spread evenly, runs
packed by their memory."""

from __future__ import annotations

import os
from collections import Counter

import probe_tasks
import pytest
import torch

from shrinkbench import accelerator
from shrinkbench.devices import device_name, gpu_ids, gpu_memory, local_device, pin_gpu, resolve_device
from shrinkbench.engine import Recipe, ResultsStore, SweepConfig, run_sweep
from shrinkbench.engine.executors import ProcessExecutor
from shrinkbench.engine.layout import ModelProfile, choose_layout, gpu_share
from shrinkbench.errors import ShrinkBenchError
from shrinkbench.tasks import Capacity
from shrinkbench.testing.fake_cuda import FAKE_VAR, write_sitecustomize

GIB = 2**30


def test_the_stand_in_reads_cuda_visible_devices_once_and_knows_uuids_and_mig_ids(fake_cuda, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "MIG-00000003-fake,GPU-00000001,7")
    gpus = fake_cuda(4, names=[f"GPU {i}" for i in range(4)])
    assert accelerator.cuda_count() == 2  # the MIG instance of GPU 3, GPU 1 by a UUID prefix; 7 ends the list
    assert [torch.cuda.get_device_name(i) for i in (0, 1)] == ["GPU 3", "GPU 1"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")  # too late: CUDA has initialised
    assert accelerator.cuda_count() == 2 and gpus.visible() == [3, 1]
    assert gpu_ids("cuda") == ("MIG-00000003-fake", "GPU-00000001") and gpu_ids("cuda:1") == ("GPU-00000001",)


def test_a_pinned_worker_takes_the_sweeps_device_as_its_one_gpu(fake_cuda, monkeypatch):
    """The worker of cuda:1 sees one GPU and refused: "device 'cuda:1' is not available: 1 CUDA GPU(s)"."""
    for name in ("CUDA_VISIBLE_DEVICES", "SHRINKBENCH_PINNED_GPU"):
        monkeypatch.setenv(name, "")  # restored after the test, whatever pin_gpu writes
    pin_gpu("GPU-00000001")
    fake_cuda(2, names=["A", "B"], memory=40 * GIB)
    assert resolve_device("cuda:1") == "cuda:1" and local_device("cuda:1") == "cuda:0"
    assert device_name("cuda:1") == "cuda:GPU-00000001 B" and gpu_memory("cuda:1") == 40 * GIB
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "GPU-00000001"


def _workers_see_the_stand_in(tmp_path, monkeypatch, count: int) -> None:
    monkeypatch.setenv(FAKE_VAR, str(count))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([write_sitecustomize(tmp_path), os.environ.get("PYTHONPATH", "")]))


def test_cuda_1_with_two_parallel_workers_reaches_the_run(fake_cuda, toy_registry, tmp_path, monkeypatch):
    """The real run path inside pinned workers: every run fails at its first real CUDA call (no driver
    here), not at device resolution."""
    config = dict(dataset="toy-blobs", model="toy-mlp", pretrain=Recipe(1, 0.05), finetune=Recipe(1, 0.01),
                  strategies=("toy-magnitude", "toy-random"), compressions=(2.0,))
    run_sweep(toy_registry, SweepConfig(**config, device="cpu"), ResultsStore(tmp_path / "cpu"))  # the dense model
    fake_cuda(2)
    _workers_see_the_stand_in(tmp_path, monkeypatch, 2)
    outcome = run_sweep(toy_registry, SweepConfig(**config, device="cuda:1", jobs=2), ResultsStore(tmp_path / "gpu"))
    assert outcome.layout.startswith("2 runs at a time") and len(outcome.new_rows) == 2
    for row in outcome.new_rows:
        assert row["status"] == "failed" and row["device"] == "cuda:1 Fake GPU 1", row  # the physical GPU 1, seen as cuda:0
        assert "NVIDIA driver" in row["error"] and "not available" not in row["error"], row["error"]


def test_replacing_a_dead_worker_does_not_shift_the_others_gpus(fake_cuda, monkeypatch):
    """The round-robin slot advanced on replacement: 2 GPUs, a worker replaced, then 4 workers -> 3 + 1."""
    fake_cuda(2)
    seen: list = []
    with ProcessExecutor(4, gpu_ids("cuda")) as executor:
        executor.run([probe_tasks.task(probe_tasks.Die("dies"))], seen.append)
        executor.run([probe_tasks.task(probe_tasks.Probe(f"p{i}", 1.5)) for i in range(4)], seen.append)
    by_pid = {pid: visible for key, pid, visible, _ in (e for e in seen if isinstance(e, tuple)) if key != "dies"}
    assert len(by_pid) == 4 and Counter(by_pid.values()) == {"0": 2, "1": 2}


def _profile(parameters: int, activation_mb: float, batch: int = 256) -> ModelProfile:
    return ModelProfile(parameters, activation_mb * 2**20, batch, macs=3e8, train_examples=50_000, epochs=10)


def test_runs_are_packed_by_their_estimated_gpu_memory():
    """Capacity.gpu_memory was set by nothing: every model under 5M parameters got 4 runs per GPU."""
    cifar_resnet = _profile(270_000, 2.0, 128)  # ~1 GiB a run: 4 fit
    imagenet_mobilenet = _profile(3_500_000, 60.0)  # ~45 GiB a run at batch 256: one per 80 GiB GPU
    for profile, share in ((cifar_resnet, 4), (imagenet_mobilenet, 1)):
        assert gpu_share(profile, 80 * GIB) == share
        layout = choose_layout(Capacity(16, 2, 80 * GIB), profile, runs=20, dense=2, gpu=True, remote=False,
                               memory=None)
        assert layout.gpus_per_run == 1 / share and f"{share} run" in layout.reason
    assert gpu_share(imagenet_mobilenet, 40 * GIB) == 1
    with pytest.raises(ShrinkBenchError, match=r"needs at least 1[0-9]\.\d GiB of GPU memory.*8\.0 GiB"):
        choose_layout(Capacity(16, 1, 8 * GIB), imagenet_mobilenet, runs=2, dense=1, gpu=True, remote=False,
                      memory=None)


def test_local_executors_report_their_gpus_memory(fake_cuda):
    fake_cuda(2, memory=24 * GIB)
    assert gpu_memory("cuda") == 24 * GIB and gpu_memory("cpu") is None
    assert ProcessExecutor(2, gpu_ids("cuda"), gpu_memory("cuda")).capacity() == Capacity(
        ProcessExecutor().capacity().cpus, 2, 24 * GIB)


def test_an_executor_that_fixes_each_tasks_cpus_sets_the_runs_threads():
    """ray's num_cpus changed the reservation, not torch's threads, though its help said it replaces --threads."""
    small = _profile(1000, 0.01, 8)
    layout = choose_layout(Capacity(32, cpus_per_task=4), small, runs=8, dense=1, gpu=False, remote=True, memory=None)
    assert (layout.threads, layout.dense_threads) == (4, 4)


def test_the_layout_counts_only_the_runs_that_execute(toy_registry, monkeypatch):
    """-c 1 with 3 strategies is one run that executes (the others copy its row): one job with every core, not
    one job per strategy with a core each."""
    from shrinkbench.engine import layout
    from shrinkbench.engine.estimate import plan_sweep
    from shrinkbench.engine.resolution import resolve

    monkeypatch.setattr(layout, "MACS_PER_SECOND", 1.0)  # runs long enough to be worth parallel workers
    config = SweepConfig(dataset="toy-blobs", model="toy-conv", pretrain=Recipe(1, 0.05), finetune=Recipe(1, 0.01),
                         strategies=("toy-magnitude", "toy-random", "toy-layer"), compressions=(1.0,), device="cpu")
    chosen = plan_sweep(toy_registry, resolve(toy_registry, config), estimate=False).layout
    assert (chosen.jobs, chosen.threads) == (1, ProcessExecutor().capacity().cpus)
