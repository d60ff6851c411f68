"""Device resolution, thread counts and GPU placement, on a machine whose torch sees no GPU."""

from __future__ import annotations

import pytest
import torch

from shrinkbench.devices import cpu_cores, gpu_ids, local_device, resolve_device
from shrinkbench.errors import ShrinkBenchError

no_gpu = pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a CUDA GPU")


@no_gpu
def test_auto_is_the_cpu_here_and_cpu_is_cpu():
    mps = getattr(torch.backends, "mps", None)
    assert resolve_device("auto") == ("mps" if mps and mps.is_available() else "cpu")
    assert resolve_device(" CPU ") == "cpu"


@no_gpu
@pytest.mark.parametrize(("name", "message"), [
    ("cuda", "device 'cuda' is not available"),
    ("cuda:1", "device 'cuda:1' is not available"),
    ("cuda:x", "use cuda or cuda:N"),
    ("tpu", "unknown device 'tpu'"),
])
def test_unavailable_devices_are_one_line_errors(name, message):
    with pytest.raises(ShrinkBenchError, match=message) as info:
        resolve_device(name)
    assert "\n" not in str(info.value)


def test_mps_unavailable_or_resolved():
    mps = getattr(torch.backends, "mps", None)
    if mps and mps.is_available():
        assert resolve_device("mps") == "mps"
    else:
        with pytest.raises(ShrinkBenchError, match="device 'mps' is not available"):
            resolve_device("mps")


def test_threads_auto_shares_the_cores_between_jobs():
    from shrinkbench.engine.layout import ModelProfile, choose_layout
    from shrinkbench.tasks import Capacity

    cores = cpu_cores()
    small = ModelProfile(parameters=1000, activation_bytes=1e3, batch_size=8, macs=1e9, train_examples=10_000, epochs=5)
    two = choose_layout(Capacity(cores), small, runs=10, dense=1, gpu=False, remote=False, memory=None, jobs=2)
    assert (two.jobs, two.threads) == (2, max(1, cores // 2))
    explicit = choose_layout(Capacity(cores), small, runs=10, dense=1, gpu=False, remote=False, memory=None,
                             jobs=2, threads=3)
    assert (explicit.jobs, explicit.threads, explicit.dense_threads) == (2, 3, 3)


def test_gpu_placement_of_workers(fake_cuda, monkeypatch):
    assert gpu_ids("cpu") == ()
    fake_cuda(4)
    assert gpu_ids("cuda") == ("0", "1", "2", "3") and gpu_ids("cuda:3") == ("3",)
    monkeypatch.setenv("SHRINKBENCH_PINNED_GPU", "2")
    assert local_device("cuda:2") == "cuda:0" and local_device("cpu") == "cpu"
