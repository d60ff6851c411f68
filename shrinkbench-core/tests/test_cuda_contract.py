"""The GPU path on a machine without a GPU: a fake CUDA layer (``fake_cuda``) that enforces torch's argument
contracts stands in for a machine with N GPUs. Real CUDA work still fails here (no driver); these tests are
about which error comes first and which GPU each process is given."""

from __future__ import annotations

import tomllib
from pathlib import Path

import probe_tasks
import pytest
import torch

from shrinkbench import accelerator
from shrinkbench.devices import device_name, gpu_ids, local_device, resolve_device
from shrinkbench.engine import Recipe, ResultsStore, SweepConfig, run_sweep
from shrinkbench.engine.executors import ProcessExecutor
from shrinkbench.engine.runtime import Runtime
from shrinkbench.errors import ShrinkBenchError


def test_the_fake_enforces_torchs_set_device_contract(fake_cuda):
    fake_cuda(2)
    with pytest.raises(ValueError, match="specified index"):
        torch.cuda.set_device(torch.device("cuda"))  # what torch 2.15 itself raises
    with pytest.raises(RuntimeError, match="invalid device ordinal"):
        torch.cuda.set_device(2)
    with pytest.raises(ValueError, match="cuda device"):
        torch.cuda.synchronize(torch.device("cpu"))
    torch.cuda.set_device(torch.device("cuda:1"))
    assert torch.cuda.current_device() == 1


def test_runtime_setup_on_a_bare_cuda_device_passes_an_index(fake_cuda):
    """--device auto/cuda with one job: torch.cuda.set_device(torch.device("cuda")) raised ValueError."""
    gpus = fake_cuda(1, names=["NVIDIA H200"])
    for requested in ("auto", "cuda", "cuda:0"):
        runtime = Runtime(resolve_device(requested))
        runtime.setup()
        assert runtime.torch_device == torch.device("cuda:0")
        runtime.synchronize()
    assert gpus.called("set_device") == [(0,)] * 3
    assert all(isinstance(args[0], int) for args in gpus.called("synchronize"))
    assert device_name("cuda") == "cuda:0 NVIDIA H200"


def test_device_resolution_follows_the_visible_gpus(fake_cuda, monkeypatch):
    fake_cuda(4, names=[f"GPU {i}" for i in range(4)])
    assert resolve_device("auto") == "cuda" and gpu_ids("cuda") == ("0", "1", "2", "3")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")  # a new process (CUDA reads the variable once)
    fake_cuda(4, names=[f"GPU {i}" for i in range(4)])
    assert gpu_ids("cuda") == ("2", "3")
    assert resolve_device("cuda:1") == "cuda:1"
    with pytest.raises(ShrinkBenchError, match="2 CUDA GPU"):
        resolve_device("cuda:2")
    assert [accelerator.physical_gpu(i) for i in (0, 1)] == ["2", "3"]
    assert device_name("cuda:1") == "cuda:3 GPU 3"  # the row names the card nvidia-smi shows


def test_a_sweep_on_a_gpu_machine_gets_as_far_as_real_cuda_work(fake_cuda, toy_registry, tmp_path):
    """Default flags on a 1-GPU machine: the first error must be the missing driver, not a contract error."""
    fake_cuda(1)
    config = SweepConfig(dataset="toy-blobs", model="toy-mlp", pretrain=Recipe(1, 0.05), finetune=Recipe(1, 0.01),
                         strategies=("toy-magnitude",), compressions=(2.0,), jobs=1)
    outcome = run_sweep(toy_registry, config, ResultsStore(tmp_path))
    row = outcome.new_rows[0]
    assert row["status"] == "failed" and row["device"] == "cuda"
    assert "NVIDIA driver" in row["error"] and "specified index" not in row["error"]


def _probe(executor: ProcessExecutor, tasks) -> list[tuple]:
    events: list[tuple] = []
    executor.run(tasks, lambda event: events.append(event) if isinstance(event, tuple) else None)
    return events


def test_local_workers_get_the_parents_physical_gpus(fake_cuda, monkeypatch):
    """A job given GPUs 2,3 (CUDA_VISIBLE_DEVICES, as Slurm sets it) must run on 2 and 3, not on 0 and 1."""
    fake_cuda(4)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    events = _probe(ProcessExecutor(2, gpu_ids("cuda")),
                    [probe_tasks.task(probe_tasks.Probe(f"p{i}", 0.3)) for i in range(4)])
    by_pid = {pid: (visible, pinned) for _, pid, visible, pinned in events}
    assert sorted(by_pid.values()) == [("2", "2"), ("3", "3")]


def test_a_replacement_worker_takes_the_dead_workers_gpu(fake_cuda, monkeypatch):
    fake_cuda(4)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    lost: list = []
    events: list = []
    executor = ProcessExecutor(1, gpu_ids("cuda"))  # one worker: GPU 2; its replacement must be on GPU 2 too
    executor.run([probe_tasks.task(probe_tasks.Die("dies")), probe_tasks.task(probe_tasks.Probe("after"))],
                 lambda e: (events if isinstance(e, tuple) else lost).append(e))
    assert [type(e).__name__ for e in lost] == ["TaskLost"]
    (dead, dead_pid, dead_gpu, _), (_, new_pid, new_gpu, _) = events
    assert dead_pid != new_pid and dead_gpu == new_gpu == "2"


def test_local_workers_may_start_dataloader_processes():
    """Image folders with --jobs N: a daemon worker may not have children, so the DataLoader failed."""
    events = _probe(ProcessExecutor(2), [probe_tasks.task(probe_tasks.LoaderWithWorkers(f"l{i}")) for i in range(2)])
    assert sorted(events) == [("l0", 28.0), ("l1", 28.0)]


def test_every_cuda_call_goes_through_the_accelerator_module():
    """So the fake covers all of them: no torch.cuda / torch.mps / torch.backends.cud* outside it."""
    import ast

    roots = [Path(__file__).parents[2] / "shrinkbench-core" / "src", Path(__file__).parents[2] / "shrinkbench-cli" / "src",
             *(p / "src" for p in (Path(__file__).parents[2] / "plugins").iterdir() if (p / "src").is_dir())]
    offenders = []
    for root in roots:
        for path in root.rglob("*.py"):
            if path.name == "accelerator.py":
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute):
                    base = node.value
                    if isinstance(base.value, ast.Name) and base.value.id == "torch" and base.attr in ("cuda", "mps"):
                        offenders.append(f"{path.relative_to(root)}:{node.lineno} torch.{base.attr}.{node.attr}")
                    if (isinstance(base.value, ast.Attribute) and base.value.attr == "backends"
                            and base.attr in ("cuda", "cudnn", "mps")):
                        offenders.append(f"{path.relative_to(root)}:{node.lineno} torch.backends.{base.attr}")
    assert offenders == []


def test_mps_work_is_synchronised(monkeypatch):
    """On MPS neither the latency metric nor Runtime.synchronize waited for the device: timings of dispatch."""
    calls = []
    monkeypatch.setattr(torch.mps, "synchronize", lambda: calls.append("mps"))
    Runtime("mps").synchronize()
    accelerator.synchronize(torch.device("cpu"))
    assert calls == ["mps"]


def test_the_latency_metric_synchronises_every_timed_pass(monkeypatch):
    from shrinkbench.metrics import latency

    devices = []
    monkeypatch.setattr(accelerator, "synchronize", lambda device: devices.append(device.type))
    latency.forward_ms(torch.nn.Linear(4, 4), torch.zeros(2, 4))
    assert len(devices) >= latency.MIN_REPEATS + 1 and set(devices) == {"cpu"}


def test_local_device_always_has_an_index(fake_cuda, monkeypatch):
    fake_cuda(2)
    torch.cuda.set_device(1)
    assert local_device("cuda") == "cuda:1" and local_device("cuda:0") == "cuda:0" and local_device("cpu") == "cpu"
    monkeypatch.setenv("SHRINKBENCH_PINNED_GPU", "3")
    assert local_device("cuda:1") == "cuda:0"


def test_the_declared_torch_floor_has_every_api_the_engine_uses():
    """torch.amp.GradScaler(device) (2.3) and the CPU autocast/GradScaler for fp16 the tests use (2.4)."""
    project = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    torch_req = next(d for d in project["project"]["dependencies"] if d.startswith("torch"))
    floor = tuple(int(x) for x in torch_req.partition(">=")[2].split(",")[0].split(".")[:2])
    assert floor >= accelerator.MIN_TORCH
